//! The registry management API `/api/v1` (protocol.md §5): minting and revoking tokens.
//!
//! Requests carry `Authorization: Bearer <UAA access token>` and `Organization: <org GUID>`.
//! Minted tokens are returned as [`SecretString`]s; only their id (the JWT `jti`) is ever shown.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret as _, SecretString};

use crate::http::{RemoteError, classify};

/// Failures of the registry API.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Transport failure.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The registry refused the request.
    #[error("registry {host} refused to {action} (HTTP {status}{code}): {message}{hint}")]
    Refused {
        /// Registry host.
        host: String,
        /// What was attempted, e.g. `mint a token`.
        action: String,
        /// HTTP status.
        status: u16,
        /// ` CRG0009E` or empty.
        code: String,
        /// The registry's message (or raw body).
        message: String,
        /// `; <what to do>` or empty.
        hint: String,
    },
    /// The answer was not the documented shape.
    #[error("unexpected answer from registry {host} when trying to {action}: {detail}")]
    Protocol {
        /// Registry host.
        host: String,
        /// What was attempted.
        action: String,
        /// What was wrong.
        detail: String,
    },
}

/// A freshly minted registry token.
pub struct MintedToken {
    /// The token (the pull secret's password).
    pub token: SecretString,
    /// Its id, the JWT `jti`; safe to show and store.
    pub id: String,
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedToken")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// A token as listed by the registry, without the token itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenEntry {
    /// The id (JWT `jti`).
    pub id: String,
    /// The description (`secondary_owner`).
    pub description: String,
    /// Read-only, when the registry says.
    pub readonly: Option<bool>,
    /// Revoked.
    pub revoked: bool,
    /// Expiry in epoch seconds; `None` for non-expiring tokens.
    pub expiry: Option<i64>,
}

/// Decodes a JWT's payload without verifying it (the client has no key; claims are informative).
pub fn jwt_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A client of one registry, authenticated as one user in one org.
pub struct RegistryApi<'a> {
    http: &'a reqwest::Client,
    host: String,
    access: &'a SecretString,
    org_guid: String,
}

impl<'a> RegistryApi<'a> {
    /// `host` is `host[:port]`; requests go to `https://<host>/api/v1/...`.
    pub fn new(
        http: &'a reqwest::Client,
        host: &str,
        access: &'a SecretString,
        org_guid: &str,
    ) -> Self {
        RegistryApi {
            http,
            host: host.to_string(),
            access,
            org_guid: org_guid.to_string(),
        }
    }

    /// Sends an authenticated request (`Authorization: Bearer`, `Organization`) and returns the
    /// body of a 2xx answer, or the registry's refusal.
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        action: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let response = self
            .http
            .request(method, url)
            .bearer_auth(self.access.expose_secret())
            .header("Organization", &self.org_guid)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| classify(url, &e))?;
        if !response.status().is_success() {
            return Err(self.refused(action, response).await);
        }
        Ok(response
            .bytes()
            .await
            .map_err(|e| classify(url, &e))?
            .to_vec())
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{}", self.host, path)
    }

    async fn refused(&self, action: &str, response: reqwest::Response) -> RegistryError {
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let (code, message) = match serde_json::from_str::<serde_json::Value>(&body) {
            Ok(v) if v.get("code").is_some() || v.get("message").is_some() => (
                v["code"]
                    .as_str()
                    .map(|c| format!(" {c}"))
                    .unwrap_or_default(),
                v["message"].as_str().unwrap_or_default().to_string(),
            ),
            _ => (
                String::new(),
                body.chars()
                    .take(200)
                    .collect::<String>()
                    .trim()
                    .to_string(),
            ),
        };
        let hint = match status {
            401 => "; your login may have expired or your user cannot use this org's registry: run `kubectl dedicated-registry login` again".to_string(),
            403 => "; your user lacks the registry permission for this org: ask an org manager".to_string(),
            404 | 405 | 501 if action.starts_with("mint") => {
                "; this environment may no longer issue registry tokens".to_string()
            }
            s if s >= 500 => "; the registry is failing: try again later".to_string(),
            _ => String::new(),
        };
        RegistryError::Refused {
            host: self.host.clone(),
            action: action.to_string(),
            status,
            code,
            message: crate::redact::scrub(&message),
            hint,
        }
    }

    /// `POST /api/v1/tokens?permanent=<p>&write=<w>&description=<d>`.
    pub async fn mint(
        &self,
        permanent: bool,
        write: bool,
        description: &str,
    ) -> Result<MintedToken, RegistryError> {
        let action = "mint a token";
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("permanent", if permanent { "true" } else { "false" });
        if write {
            query.append_pair("write", "true");
        }
        if !description.is_empty() {
            query.append_pair("description", description);
        }
        let url = format!("{}?{}", self.url("/api/v1/tokens"), query.finish());
        let body = self.send(reqwest::Method::POST, &url, action).await?;
        let protocol = |detail: &str| RegistryError::Protocol {
            host: self.host.clone(),
            action: action.to_string(),
            detail: format!(
                "{detail}; a token described `{description}` may have been created: check with `kubectl dedicated-registry token list --all`"
            ),
        };
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| protocol("the body is not JSON"))?;
        let token = value["token"]
            .as_str()
            .ok_or_else(|| protocol("no `token` in the answer"))?
            .to_string();
        let id = jwt_claims(&token)
            .and_then(|c| c.get("jti").and_then(|j| j.as_str()).map(str::to_string))
            .ok_or_else(|| protocol("the token has no `jti` claim"))?;
        Ok(MintedToken {
            token: crate::redact::keep(token),
            id,
        })
    }

    /// `GET /api/v1/tokens`. The list items carry the tokens themselves; they are dropped here
    /// and never leave this function.
    pub async fn list(&self) -> Result<Vec<TokenEntry>, RegistryError> {
        let action = "list tokens";
        let url = self.url("/api/v1/tokens");
        let body = self.send(reqwest::Method::GET, &url, action).await?;
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| RegistryError::Protocol {
                host: self.host.clone(),
                action: action.to_string(),
                detail: "the body is not JSON".into(),
            })?;
        let items = value["tokens"].as_array().cloned().unwrap_or_default();
        Ok(items
            .iter()
            .filter_map(|item| {
                let id = item["_id"].as_str().map(str::to_string).or_else(|| {
                    item["token"]
                        .as_str()
                        .and_then(jwt_claims)
                        .and_then(|c| c.get("jti")?.as_str().map(str::to_string))
                })?;
                Some(TokenEntry {
                    id,
                    description: item["secondary_owner"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    readonly: item["readonly"].as_bool(),
                    revoked: item["revoked"].as_bool().unwrap_or(false),
                    expiry: item["expiry"].as_i64().filter(|e| *e > 0),
                })
            })
            .collect())
    }

    /// `DELETE /api/v1/tokens/<id>`.
    pub async fn revoke(&self, id: &str) -> Result<(), RegistryError> {
        let url = self.url(&format!(
            "/api/v1/tokens/{}",
            url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
        ));
        self.send(reqwest::Method::DELETE, &url, &format!("revoke token {id}"))
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_jti_from_ibm_sample_shape() {
        // Header and payload of the shape IBM documents; signature irrelevant.
        let payload = URL_SAFE_NO_PAD
            .encode(r#"{"jti":"637b3d8c-a087-5af9-a636-16e7efc70967","iss":"registry.x"}"#);
        let token = format!("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{payload}.sig");
        let claims = jwt_claims(&token).unwrap();
        assert_eq!(claims["jti"], "637b3d8c-a087-5af9-a636-16e7efc70967");
        assert!(jwt_claims("not-a-jwt").is_none());
    }

    #[test]
    fn minted_token_debug_is_redacted() {
        let t = MintedToken {
            token: SecretString::from("super-secret"),
            id: "id-1".into(),
        };
        let s = format!("{t:?}");
        assert!(s.contains("id-1") && !s.contains("super-secret"));
    }
}

//! The registry management API `/api/v1` (protocol.md §5): minting, listing and revoking tokens.
//!
//! Requests carry `Authorization: Bearer <UAA access token>` and `Organization: <org GUID>`.
//! Minted tokens are returned as [`SecretString`]s; only their id (the JWT `jti`) is ever shown.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use crate::http::{BODY_LIMIT, LIST_BODY_LIMIT, read_body};
use crate::registry::{Access, MintedToken, Ownership, RegistryError, TokenEntry};

/// A client of one registry, authenticated as one user in one org. Cheap to clone.
#[derive(Clone)]
pub struct RegistryApi {
    http: reqwest::Client,
    host: String,
    access: SecretString,
    org_guid: String,
    /// Whether list and revoke send the `Organization` header (see [`OrgHeader`]).
    manage_header: OrgHeader,
}

/// Whether the token list and revoke send the `Organization` header. Only the mint is
/// documented with it; a registry may answer 400/401 to it on the other calls (or need it).
/// The form that worked after a fallback is shared with the caller, to be remembered.
#[derive(Clone, Debug, Default)]
pub struct OrgHeader(Arc<AtomicU8>);

const HEADER_UNKNOWN: u8 = 0;
const HEADER_WITHOUT: u8 = 1;
const HEADER_WITH: u8 = 2;

impl OrgHeader {
    /// Starts from what was learnt before (`None`: send it, the documented form).
    pub fn new(learnt: Option<bool>) -> Self {
        let value = match learnt {
            None => HEADER_UNKNOWN,
            Some(false) => HEADER_WITHOUT,
            Some(true) => HEADER_WITH,
        };
        OrgHeader(Arc::new(AtomicU8::new(value)))
    }

    /// The form known to work, if one was learnt.
    pub fn learnt(&self) -> Option<bool> {
        match self.0.load(Ordering::Relaxed) {
            HEADER_WITHOUT => Some(false),
            HEADER_WITH => Some(true),
            _ => None,
        }
    }

    fn send_first(&self) -> bool {
        self.0.load(Ordering::Relaxed) != HEADER_WITHOUT
    }

    fn worked(&self, with: bool) {
        let value = if with { HEADER_WITH } else { HEADER_WITHOUT };
        self.0.store(value, Ordering::Relaxed);
    }
}

/// A CRG error body, e.g. `{"code":"CRG0009E","message":"..."}`.
#[derive(Deserialize)]
struct RefusalBody {
    code: Option<String>,
    message: Option<String>,
}

/// The answer to a mint.
#[derive(Deserialize)]
struct MintAnswer {
    token: Option<String>,
}

/// The answer to a list.
#[derive(Deserialize)]
struct ListAnswer {
    #[serde(default)]
    tokens: Vec<serde_json::Value>,
}

/// One listed token. Its `token` field is only read for the `jti` when `_id` is missing.
#[derive(Deserialize)]
struct ListedToken {
    #[serde(rename = "_id")]
    id: Option<String>,
    token: Option<String>,
    secondary_owner: Option<String>,
    readonly: Option<bool>,
    revoked: Option<bool>,
    expiry: Option<i64>,
}

impl ListedToken {
    /// The entry without the token; `None` when no id can be found.
    fn entry(self) -> Option<TokenEntry> {
        let id = self.id.or_else(|| {
            self.token
                .as_deref()
                .and_then(|t| crate::jwt::string_claim(t, "jti"))
        })?;
        Some(TokenEntry {
            id,
            description: self.secondary_owner.unwrap_or_default(),
            readonly: self.readonly,
            revoked: self.revoked.unwrap_or(false),
            expiry: self.expiry.filter(|e| *e > 0),
        })
    }
}

impl std::fmt::Debug for RegistryApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryApi")
            .field("host", &self.host)
            .field("org_guid", &self.org_guid)
            .finish_non_exhaustive()
    }
}

impl RegistryApi {
    /// `host` is `host[:port]`; requests go to `https://<host>/api/v1/...`.
    pub fn new(http: reqwest::Client, host: &str, access: SecretString, org_guid: &str) -> Self {
        RegistryApi {
            http,
            host: host.to_string(),
            access,
            org_guid: org_guid.to_string(),
            manage_header: OrgHeader::default(),
        }
    }

    /// Uses (and updates) `header` for list and revoke.
    pub fn with_manage_header(mut self, header: OrgHeader) -> Self {
        self.manage_header = header;
        self
    }

    /// Sends an authenticated request (`Authorization: Bearer`, `Organization`) and returns the
    /// body of a 2xx answer, or the registry's refusal.
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        action: &str,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        self.send_as(method, url, action, limit, true).await
    }

    /// [`Self::send`] for list and revoke: on 400/401, once more with the other form of the
    /// `Organization` header (without it when it was sent, and the reverse); the form that
    /// worked is kept. When both fail, the first refusal is reported.
    async fn send_managed(
        &self,
        method: reqwest::Method,
        url: &str,
        action: &str,
        limit: usize,
    ) -> Result<Vec<u8>, RegistryError> {
        let with = self.manage_header.send_first();
        match self.send_as(method.clone(), url, action, limit, with).await {
            Err(
                first @ RegistryError::Refused {
                    status: 400 | 401, ..
                },
            ) => match self.send_as(method, url, action, limit, !with).await {
                Ok(body) => {
                    crate::trace::log(
                        1,
                        format!(
                            "The registry wants {} Organization header to {action}; remembered",
                            if with { "no" } else { "the" }
                        ),
                    );
                    self.manage_header.worked(!with);
                    Ok(body)
                }
                Err(_) => Err(first),
            },
            other => other,
        }
    }

    async fn send_as(
        &self,
        method: reqwest::Method,
        url: &str,
        action: &str,
        limit: usize,
        with_org: bool,
    ) -> Result<Vec<u8>, RegistryError> {
        let method_name = method.to_string();
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(self.access.expose_secret())
            .header("Accept", "application/json");
        if with_org {
            request = request.header("Organization", &self.org_guid);
        }
        let response = crate::http::send(request, &method_name, url).await?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let body = read_body(response, url, BODY_LIMIT)
                .await
                .unwrap_or_default();
            return Err(self.refused(action, status, &String::from_utf8_lossy(&body)));
        }
        Ok(read_body(response, url, limit).await?)
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{}", self.host, path)
    }

    fn refused(&self, action: &str, status: u16, body: &str) -> RegistryError {
        let (code, message) = match serde_json::from_str::<RefusalBody>(body) {
            Ok(RefusalBody { code, message }) if code.is_some() || message.is_some() => (
                code.map(|c| format!(" {c}")).unwrap_or_default(),
                message.unwrap_or_default(),
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
        RegistryError::Refused {
            host: self.host.clone(),
            action: action.to_string(),
            status,
            code,
            message: crate::redact::scrub(&message),
            hint: refusal_hint(action, status).to_string(),
        }
    }

    fn protocol(&self, action: &str, detail: String) -> RegistryError {
        RegistryError::Protocol {
            host: self.host.clone(),
            action: action.to_string(),
            detail,
        }
    }

    /// `POST /api/v1/tokens?permanent=<p>&write=<w>&description=<d>`.
    pub async fn mint(
        &self,
        permanent: bool,
        access: Access,
        description: &str,
    ) -> Result<MintedToken, RegistryError> {
        let action = "mint a token";
        // The serializer is not `Send`: it must not live across an await.
        let url = {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("permanent", if permanent { "true" } else { "false" });
            if access == Access::ReadWrite {
                query.append_pair("write", "true");
            }
            if !description.is_empty() {
                query.append_pair("description", description);
            }
            format!("{}?{}", self.url("/api/v1/tokens"), query.finish())
        };
        let body = self
            .send(reqwest::Method::POST, &url, action, BODY_LIMIT)
            .await?;
        let protocol = |detail: &str| {
            self.protocol(action, format!(
                "{detail}; a token described `{description}` may have been created: check with `kubectl dedicated-registry token list --all`"
            ))
        };
        let answer: MintAnswer =
            serde_json::from_slice(&body).map_err(|_| protocol("the body is not JSON"))?;
        let token = answer
            .token
            .ok_or_else(|| protocol("no `token` in the answer"))?;
        let id = crate::jwt::string_claim(&token, "jti")
            .ok_or_else(|| protocol("the token has no `jti` claim"))?;
        Ok(MintedToken {
            token: crate::redact::keep(token),
            id,
            username: super::USERNAME,
        })
    }

    /// `GET /api/v1/tokens`. The list items carry the tokens themselves; they are dropped here
    /// and never leave this function.
    pub async fn list(&self) -> Result<Vec<TokenEntry>, RegistryError> {
        let action = "list tokens";
        let url = self.url("/api/v1/tokens");
        let body = self
            .send_managed(reqwest::Method::GET, &url, action, LIST_BODY_LIMIT)
            .await?;
        let answer: ListAnswer = serde_json::from_slice(&body)
            .map_err(|_| self.protocol(action, "the body is not JSON".into()))?;
        Ok(answer
            .tokens
            .into_iter()
            .filter_map(|item| serde_json::from_value::<ListedToken>(item).ok()?.entry())
            .collect())
    }

    /// Whether the org's token `id` is the one of a cluster object: its value is `credential`,
    /// or its description is `description`. Reads the token list; token values are compared
    /// here and never leave this function.
    pub async fn ownership(
        &self,
        id: &str,
        credential: Option<&SecretString>,
        description: &str,
    ) -> Result<Ownership, RegistryError> {
        let action = "list tokens";
        let url = self.url("/api/v1/tokens");
        let body = self
            .send_managed(reqwest::Method::GET, &url, action, LIST_BODY_LIMIT)
            .await?;
        let answer: ListAnswer = serde_json::from_slice(&body)
            .map_err(|_| self.protocol(action, "the body is not JSON".into()))?;
        for item in answer.tokens {
            let Ok(listed) = serde_json::from_value::<ListedToken>(item) else {
                continue;
            };
            let value = listed.token.clone();
            let Some(entry) = listed.entry() else {
                continue;
            };
            if entry.id != id || entry.revoked {
                continue;
            }
            let same_value = matches!((&value, credential), (Some(v), Some(c)) if v.as_str() == c.expose_secret());
            return Ok(if same_value || entry.description == description {
                Ownership::Owned
            } else {
                Ownership::Foreign(entry.description)
            });
        }
        Ok(Ownership::Missing)
    }

    /// `DELETE /api/v1/tokens/<id>`.
    pub async fn revoke(&self, id: &str) -> Result<(), RegistryError> {
        let url = self.url(&format!(
            "/api/v1/tokens/{}",
            url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
        ));
        self.send_managed(
            reqwest::Method::DELETE,
            &url,
            &format!("revoke token {id}"),
            BODY_LIMIT,
        )
        .await
        .map(drop)
    }
}

impl RegistryApi {
    /// `GET /api/v1/namespaces`: the org's registry namespaces.
    pub async fn namespaces(&self) -> Result<Vec<String>, RegistryError> {
        let action = "list namespaces";
        let url = self.url("/api/v1/namespaces");
        let body = self
            .send(reqwest::Method::GET, &url, action, LIST_BODY_LIMIT)
            .await?;
        let mut names: Vec<String> = serde_json::from_slice(&body)
            .map_err(|_| self.protocol(action, "the body is not a JSON list of names".into()))?;
        names.sort();
        Ok(names)
    }

    /// `GET /api/v1/images?includeIBM=false&includePrivate=true[&namespace=<ns>]`: one row per
    /// tag (see [`super::images`]).
    pub async fn images(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<super::images::ImageRow>, RegistryError> {
        let action = "list images";
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("includeIBM", "false");
        query.append_pair("includePrivate", "true");
        if let Some(namespace) = namespace {
            query.append_pair("namespace", namespace);
        }
        let url = format!("{}?{}", self.url("/api/v1/images"), query.finish());
        let body = self
            .send(reqwest::Method::GET, &url, action, LIST_BODY_LIMIT)
            .await?;
        super::images::rows(&body)
            .ok_or_else(|| self.protocol(action, "the body is not a JSON list of images".into()))
    }
}

/// What to do about a refusal.
fn refusal_hint(action: &str, status: u16) -> &'static str {
    match status {
        401 => {
            "; your login may have expired or your user cannot use this org's registry: run `kubectl dedicated-registry login` again"
        }
        403 => "; your user lacks the registry permission for this org: ask an org manager",
        404 | 405 | 501 if action.starts_with("mint") => {
            "; this environment may no longer issue registry tokens"
        }
        404 | 405 | 501 if action == "list images" || action == "list namespaces" => {
            "; this registry has no IBM Cloud Container Registry management API (`/api/v1`)"
        }
        s if s >= 500 => "; the registry is failing: try again later",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> RegistryApi {
        let _ = rustls::crypto::ring::default_provider().install_default();
        RegistryApi::new(
            reqwest::Client::new(),
            "registry.x",
            SecretString::from("access"),
            "org",
        )
    }

    #[test]
    fn refusals_read_crg_bodies_and_raw_text() {
        match api().refused(
            "mint a token",
            403,
            r#"{"code":"CRG0009E","message":"You are not authorized"}"#,
        ) {
            RegistryError::Refused {
                code,
                message,
                hint,
                ..
            } => {
                assert_eq!(code, " CRG0009E");
                assert_eq!(message, "You are not authorized");
                assert!(hint.contains("org manager"), "{hint}");
            }
            other => panic!("{other:?}"),
        }
        match api().refused("list tokens", 502, "  <html>Bad Gateway</html> ") {
            RegistryError::Refused {
                code,
                message,
                hint,
                ..
            } => {
                assert_eq!(code, "");
                assert_eq!(message, "<html>Bad Gateway</html>");
                assert!(hint.contains("try again later"), "{hint}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(refusal_hint("list tokens", 404), "");
        assert!(refusal_hint("mint a token", 404).contains("no longer"));
    }

    #[test]
    fn listed_tokens_drop_the_token_and_find_an_id() {
        let with_id: ListedToken = serde_json::from_value(serde_json::json!({
            "_id": "a", "token": "eyJ.x.y", "secondary_owner": "d", "readonly": true, "expiry": 0
        }))
        .unwrap();
        let entry = with_id.entry().unwrap();
        assert_eq!(
            entry,
            TokenEntry {
                id: "a".into(),
                description: "d".into(),
                readonly: Some(true),
                revoked: false,
                expiry: None
            }
        );
        let none: ListedToken = serde_json::from_value(serde_json::json!({"token": "x"})).unwrap();
        assert!(none.entry().is_none());
    }
}

//! IBM Cloud IAM as the icr.io provider talks to it (icr-protocol.md §1-§3): the token
//! endpoint (API-key grant, refresh grant as client `bx`), the JSON calls of the Identity and
//! Policy APIs with a bearer token, and IAM's two error shapes rendered as one line with the
//! IBM message code.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::http::{self, RemoteError};

/// IBM Cloud IAM, where `--iam-url` points by default.
pub const DEFAULT_IAM_URL: &str = "https://iam.cloud.ibm.com";

/// The API-key grant type.
const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";

/// Failures of IAM.
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// Transport failure.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// IAM refused: its status, IBM message code and message.
    #[error("IAM at {host} refused to {action} (HTTP {status}{code}): {message}{hint}")]
    Refused {
        /// IAM host.
        host: String,
        /// What was attempted, e.g. `create a service ID`.
        action: String,
        /// HTTP status.
        status: u16,
        /// ` BXNIM0415E` (or another code), or empty.
        code: String,
        /// IAM's message.
        message: String,
        /// `; <what to do>` or empty.
        hint: String,
    },
    /// The answer was not the documented shape.
    #[error("unexpected answer from IAM at {host} when trying to {action}: {detail}")]
    Protocol {
        /// IAM host.
        host: String,
        /// What was attempted.
        action: String,
        /// What was wrong.
        detail: String,
    },
}

impl IamError {
    /// The HTTP status IAM answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            IamError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying again may succeed (transport, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            IamError::Remote(RemoteError::TooLarge { .. }) | IamError::Protocol { .. } => false,
            IamError::Remote(_) => true,
            IamError::Refused { status, .. } => *status >= 500 || *status == 429,
        }
    }
}

/// `(code, message)` of either IAM error shape: the token endpoint's
/// `{errorCode, errorMessage, errorDetails}` or the APIs' `{errors:[{code, message_code,
/// message, details}]}`.
pub fn error_of(body: &[u8]) -> Option<(String, String)> {
    let json: Value = serde_json::from_slice(body).ok()?;
    if let Some(code) = json.get("errorCode").and_then(Value::as_str) {
        let message = json
            .get("errorMessage")
            .or_else(|| json.get("errorDetails"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        return Some((code.to_string(), message.to_string()));
    }
    let first = json.get("errors")?.as_array()?.first()?;
    let code = first
        .get("message_code")
        .and_then(Value::as_str)
        .or_else(|| first.get("code").and_then(Value::as_str))
        .unwrap_or_default();
    let message = first
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let details = first.get("details").and_then(Value::as_str);
    let message = match details.filter(|d| !d.is_empty() && *d != message) {
        Some(d) => format!("{message} ({d})"),
        None => message.to_string(),
    };
    Some((code.to_string(), message))
}

/// What to do about a refusal, from its status and code.
fn hint_for(status: u16, code: &str, message: &str) -> String {
    let hint = match (status, code) {
        (400 | 401, "BXNIM0415E" | "BXNIM0416E" | "BXNIM0417E") => {
            "check the API key (deleted, disabled or expired?) and run `kubectl dedicated-registry login` again"
        }
        (401, _) => {
            "the IAM login is no longer valid; run `kubectl dedicated-registry login` again"
        }
        (403, _) if message.to_ascii_lowercase().contains("service id creator") => {
            "ask an account administrator for the \"Service ID creator\" role on IAM Identity (iam-identity)"
        }
        (403, _) if message.contains("container-registry") || message.contains("polic") => {
            "ask an account administrator for the Administrator role on Container Registry (container-registry)"
        }
        (403, _) => {
            "this needs the \"Service ID creator\" role on iam-identity and Administrator on container-registry; ask an account administrator"
        }
        (400, "BXNIM0509E" | "limit_exceeded") => {
            "delete unused API keys or service IDs (`kubectl dedicated-registry token prune`)"
        }
        (s, _) if s >= 500 => "IAM is failing; try again later",
        _ => "",
    };
    if hint.is_empty() {
        String::new()
    } else {
        format!("; {hint}")
    }
}

/// The host of `url`, for messages.
fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            })
        })
        .unwrap_or_else(|| url.to_string())
}

/// A refusal built from IAM's answer.
fn refused(url: &str, action: &str, status: u16, body: &[u8]) -> IamError {
    let (code, message) = error_of(body).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let short: String = text.chars().take(200).collect();
        (String::new(), short)
    });
    let message = crate::redact::one_line(&message);
    IamError::Refused {
        host: host_of(url),
        action: action.to_string(),
        status,
        hint: hint_for(status, &code, &message),
        code: if code.is_empty() {
            String::new()
        } else {
            format!(" {}", crate::text::printable(&code))
        },
        message: if message.is_empty() {
            "no message".to_string()
        } else {
            message
        },
    }
}

/// An IAM answer read: status and body (at most [`http::LIST_BODY_LIMIT`]).
async fn answer(
    request: reqwest::RequestBuilder,
    method: &str,
    url: &str,
) -> Result<(u16, Vec<u8>), IamError> {
    let response = http::send(request, method, url).await?;
    let status = response.status().as_u16();
    let body = http::read_body(response, url, http::LIST_BODY_LIMIT).await?;
    Ok((status, body))
}

/// The tokens of a grant.
pub struct IamTokens {
    /// The access token (`Authorization: Bearer`).
    pub access: SecretString,
    /// The refresh token, usable with client `bx` only.
    pub refresh: Option<SecretString>,
    /// Expiry of the access token, epoch seconds.
    pub expiration: Option<i64>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expiration: Option<i64>,
}

/// `POST <iam>/identity/token` as client `bx:bx` with `form` (the grant), `response_type`
/// `cloud_iam`.
async fn token(
    http: &reqwest::Client,
    iam_url: &str,
    form: &[(&str, &str)],
    action: &str,
) -> Result<IamTokens, IamError> {
    let url = format!("{iam_url}/identity/token");
    let mut fields = form.to_vec();
    fields.push(("response_type", "cloud_iam"));
    let request = http
        .post(&url)
        .basic_auth("bx", Some("bx"))
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&fields);
    let (status, body) = answer(request, "POST", &url).await?;
    if !(200..300).contains(&status) {
        return Err(refused(&url, action, status, &body));
    }
    let parsed: TokenAnswer = serde_json::from_slice(&body).map_err(|e| IamError::Protocol {
        host: host_of(&url),
        action: action.to_string(),
        detail: format!("the token answer is not JSON ({e})"),
    })?;
    let access = parsed.access_token.ok_or_else(|| IamError::Protocol {
        host: host_of(&url),
        action: action.to_string(),
        detail: "no access_token".to_string(),
    })?;
    Ok(IamTokens {
        access: crate::redact::keep(access),
        refresh: parsed.refresh_token.map(crate::redact::keep),
        expiration: parsed.expiration,
    })
}

/// The API-key grant.
pub async fn api_key_grant(
    http: &reqwest::Client,
    iam_url: &str,
    key: &SecretString,
) -> Result<IamTokens, IamError> {
    crate::trace::log(1, format!("Authenticating at {iam_url}/identity/token"));
    token(
        http,
        iam_url,
        &[
            ("grant_type", APIKEY_GRANT),
            ("apikey", key.expose_secret()),
        ],
        "accept the API key",
    )
    .await
}

/// The refresh grant, as client `bx` (the client of [`api_key_grant`]; IAM refuses a refresh
/// by another client, `BXNIM0137E`).
pub async fn refresh_grant(
    http: &reqwest::Client,
    iam_url: &str,
    refresh: &SecretString,
) -> Result<IamTokens, IamError> {
    crate::trace::log(1, format!("Refreshing the IAM login at {iam_url}"));
    token(
        http,
        iam_url,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose_secret()),
        ],
        "refresh the IAM token",
    )
    .await
}

/// The BSS account id of an access token (`account.bss`), and who it is (`email`, else
/// `iam_id`).
pub fn token_identity(access: &SecretString) -> (Option<String>, Option<String>) {
    let Some(claims) = crate::jwt::claims(access.expose_secret()) else {
        return (None, None);
    };
    let account = claims
        .get("account")
        .and_then(|a| a.get("bss"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let who = ["email", "iam_id", "sub"]
        .iter()
        .find_map(|k| claims.get(*k).and_then(Value::as_str))
        .map(str::to_string);
    (account, who)
}

/// A JSON call of the Identity or Policy API with a bearer token.
pub struct Call<'a> {
    /// The client.
    pub http: &'a reqwest::Client,
    /// The access token.
    pub access: &'a SecretString,
}

impl Call<'_> {
    /// Sends `method url` (with `body`); a 2xx answer's JSON (`Null` for an empty body), or
    /// IAM's refusal.
    pub async fn json(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
        action: &str,
    ) -> Result<Value, IamError> {
        let mut request = self
            .http
            .request(method.clone(), url)
            .bearer_auth(self.access.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let (status, bytes) = answer(request, method.as_str(), url).await?;
        if !(200..300).contains(&status) {
            return Err(refused(url, action, status, &bytes));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| IamError::Protocol {
            host: host_of(url),
            action: action.to_string(),
            detail: format!("the answer is not JSON ({e})"),
        })
    }

    /// Every item of a paged Identity API list (`pagesize`, then the `pagetoken` of each
    /// `next` link until there is none).
    pub async fn all_pages(
        &self,
        url: &str,
        query: &[(&str, &str)],
        key: &str,
        action: &str,
    ) -> Result<Vec<Value>, IamError> {
        let size = page_size().to_string();
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..10_000 {
            let mut q: Vec<(&str, &str)> = query.to_vec();
            q.push(("pagesize", &size));
            if let Some(t) = &token {
                q.push(("pagetoken", t));
            }
            let full = format!(
                "{url}?{}",
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(q)
                    .finish()
            );
            let page = self.json(reqwest::Method::GET, &full, None, action).await?;
            let list =
                page.get(key)
                    .and_then(Value::as_array)
                    .ok_or_else(|| IamError::Protocol {
                        host: host_of(url),
                        action: action.to_string(),
                        detail: format!("no `{key}` list"),
                    })?;
            items.extend(list.iter().cloned());
            token = page
                .get("next")
                .and_then(Value::as_str)
                .and_then(|next| url::Url::parse(next).ok())
                .and_then(|next| {
                    next.query_pairs()
                        .find(|(k, _)| k == "pagetoken")
                        .map(|(_, v)| v.into_owned())
                });
            if token.is_none() {
                return Ok(items);
            }
        }
        Err(IamError::Protocol {
            host: host_of(url),
            action: action.to_string(),
            detail: "the list never ends".to_string(),
        })
    }
}

/// The page size of Identity API lists: 100 (IAM's maximum), or
/// `KUBECTL_DEDICATED_REGISTRY_IAM_PAGE_SIZE` (1-100) for diagnostics and tests.
fn page_size() -> u32 {
    std::env::var("KUBECTL_DEDICATED_REGISTRY_IAM_PAGE_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| (1..=100).contains(n))
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_error_shapes_give_the_ibm_message_code() {
        let token = br#"{"context":{"requestId":"x"},"errorCode":"BXNIM0415E","errorMessage":"Provided API key could not be found"}"#;
        let e = refused(
            "https://iam.x/identity/token",
            "accept the API key",
            400,
            token,
        );
        let line = e.to_string();
        assert!(line.contains("HTTP 400 BXNIM0415E"), "{line}");
        assert!(
            line.contains("Provided API key could not be found"),
            "{line}"
        );
        assert!(line.contains("check the API key"), "{line}");
        let api = br#"{"errors":[{"code":"forbidden","message_code":"BXNIM0513E","message":"You need the Service ID creator role","details":"x"}],"status_code":403,"trace":"t"}"#;
        let line = refused(
            "https://iam.x/v1/serviceids/",
            "create a service ID",
            403,
            api,
        )
        .to_string();
        assert!(line.contains("HTTP 403 BXNIM0513E"), "{line}");
        assert!(line.contains("Service ID creator"), "{line}");
        assert!(!line.contains('\n'));
        let policy = br#"{"errors":[{"code":"insufficent_permissions","message":"Administrator on container-registry is needed"}],"status_code":403}"#;
        let line = refused("https://iam.x/v2/policies", "create a policy", 403, policy).to_string();
        assert!(line.contains("403 insufficent_permissions"), "{line}");
        assert!(
            line.contains("Administrator role on Container Registry"),
            "{line}"
        );
        let html = refused("https://iam.x/v1/apikeys", "list", 502, b"<html>bad</html>");
        assert!(html.to_string().contains("<html>bad</html>"));
        assert!(html.is_transient());
    }
}

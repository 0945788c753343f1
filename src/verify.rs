//! Checking a registry credential the way a container runtime uses it: Docker Registry v2
//! authentication against `GET /v2/` (protocol.md §6).
//!
//! `GET /v2/` without credentials answers 401 with a challenge. A `Basic` challenge is answered
//! with the credential directly; a `Bearer` challenge by fetching a token from its `realm` with the
//! credential as Basic auth, then retrying with that token. A 200 at the end means a kubelet with
//! this pull secret can authenticate.

use secrecy::{ExposeSecret as _, SecretString};

use crate::http::{RemoteError, classify};

/// Why a credential could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Transport failure.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The registry (or its token service) rejected the credential.
    #[error(
        "registry {host} rejected the credential of user `{username}` (HTTP {status} from {url})"
    )]
    Rejected {
        /// Registry host.
        host: String,
        /// The user name in the credential.
        username: String,
        /// Where it was rejected.
        url: String,
        /// HTTP status.
        status: u16,
    },
    /// The registry did not follow the v2 protocol.
    #[error("registry {host} does not speak the Docker Registry v2 protocol as expected: {detail}")]
    Protocol {
        /// Registry host.
        host: String,
        /// What was wrong.
        detail: String,
    },
}

/// The outcome of a successful check.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    /// The credential was accepted.
    Accepted,
    /// The registry needs no credential at all, so nothing could be checked.
    Anonymous,
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, PartialEq, Eq)]
pub struct Challenge {
    /// `basic` or `bearer` (lower case).
    pub scheme: String,
    /// Parameters (`realm`, `service`, `scope`, ...), names lower case.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a challenge: any scheme case, quoted or unquoted values, commas with optional spaces
/// (IBM's icr.io sends unquoted values, distribution sends quoted ones).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    if scheme.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    let mut chars = rest.trim().chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ','))
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if name.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            return None;
        }
        let value = if chars.peek() == Some(&'"') {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => return None,
                }
            }
            value
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_string()
        };
        params.push((name, value));
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

/// Checks that `username`/`password` can authenticate to `https://<host>/v2/`.
///
/// With `realm_on_host`, a Bearer realm elsewhere than `host` is refused, so a token the plugin
/// just minted is never sent to a third party named by a challenge. (Generic registries such as
/// Docker Hub use a separate auth host, so `secret verify` of arbitrary secrets allows it.)
pub async fn check(
    http: &reqwest::Client,
    host: &str,
    username: &str,
    password: &SecretString,
    realm_on_host: bool,
) -> Result<Verified, VerifyError> {
    let base = format!("https://{host}/v2/");
    let protocol = |detail: String| VerifyError::Protocol {
        host: host.to_string(),
        detail,
    };
    let rejected = |url: &str, status: u16| VerifyError::Rejected {
        host: host.to_string(),
        username: username.to_string(),
        url: url.to_string(),
        status,
    };
    let first = http
        .get(&base)
        .send()
        .await
        .map_err(|e| classify(&base, &e))?;
    match first.status().as_u16() {
        200 => return Ok(Verified::Anonymous),
        401 => {}
        other => {
            return Err(protocol(format!(
                "GET {base} answered HTTP {other}, expected 401"
            )));
        }
    }
    let header = first
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| protocol("401 without a WWW-Authenticate challenge".into()))?;
    let challenge = parse_challenge(header)
        .ok_or_else(|| protocol(format!("unreadable challenge `{header}`")))?;
    let authenticated = match challenge.scheme.as_str() {
        "basic" => http
            .get(&base)
            .basic_auth(username, Some(password.expose_secret())),
        "bearer" => {
            let realm = challenge
                .param("realm")
                .ok_or_else(|| protocol("Bearer challenge without realm".into()))?;
            let mut realm_url =
                url::Url::parse(realm).map_err(|_| protocol(format!("invalid realm `{realm}`")))?;
            let realm_authority = match (realm_url.host_str(), realm_url.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_string(),
                _ => String::new(),
            };
            if realm_on_host && realm_authority != host {
                return Err(protocol(format!(
                    "the token realm `{realm}` is not on {host}; refusing to send the new token there"
                )));
            }
            if realm_url.scheme() != "https" {
                return Err(protocol(format!(
                    "realm `{realm}` is not https; refusing to send the credential there"
                )));
            }
            {
                let mut query = realm_url.query_pairs_mut();
                if let Some(service) = challenge.param("service") {
                    query.append_pair("service", service);
                }
                if let Some(scope) = challenge.param("scope") {
                    query.append_pair("scope", scope);
                }
            }
            let realm_text = realm_url.to_string();
            let response = http
                .get(realm_url)
                .basic_auth(username, Some(password.expose_secret()))
                .send()
                .await
                .map_err(|e| classify(&realm_text, &e))?;
            let status = response.status().as_u16();
            if status == 401 || status == 403 {
                return Err(rejected(&realm_text, status));
            }
            if status != 200 {
                return Err(protocol(format!("token realm answered HTTP {status}")));
            }
            let body: serde_json::Value = response
                .json()
                .await
                .map_err(|_| protocol("token realm answered something that is not JSON".into()))?;
            let token = body
                .get("token")
                .or_else(|| body.get("access_token"))
                .and_then(|t| t.as_str())
                .ok_or_else(|| protocol("token realm answered without a token".into()))?
                .to_string();
            http.get(&base).bearer_auth(token)
        }
        other => return Err(protocol(format!("unsupported challenge scheme `{other}`"))),
    };
    let response = authenticated
        .send()
        .await
        .map_err(|e| classify(&base, &e))?;
    match response.status().as_u16() {
        200 => Ok(Verified::Accepted),
        status @ (401 | 403) => Err(rejected(&base, status)),
        status => Err(protocol(format!(
            "GET {base} with credentials answered HTTP {status}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_distribution_challenges() {
        let c = parse_challenge(
            r#"Bearer realm="https://r.example/oauth/token",service="r.example",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://r.example/oauth/token"));
        assert_eq!(c.param("service"), Some("r.example"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull"));
    }

    #[test]
    fn parses_unquoted_icr_style_challenges() {
        let c =
            parse_challenge("bearer realm=https://icr.io/oauth/token, service=registry").unwrap();
        assert_eq!(c.param("realm"), Some("https://icr.io/oauth/token"));
        assert_eq!(c.param("service"), Some("registry"));
    }

    #[test]
    fn parses_basic_and_rejects_garbage() {
        let c = parse_challenge(r#"Basic realm="ci-realm""#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.param("realm"), Some("ci-realm"));
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_none());
        assert!(parse_challenge("").is_none());
    }
}

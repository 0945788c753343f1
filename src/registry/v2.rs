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

/// The answer of a token realm (distribution's `token`, or OAuth's `access_token`).
#[derive(serde::Deserialize)]
struct RealmAnswer {
    token: Option<String>,
    access_token: Option<String>,
}

/// One credential checked against one registry.
struct Check<'a> {
    http: &'a reqwest::Client,
    host: &'a str,
    username: &'a str,
    password: &'a SecretString,
    base: String,
}

impl Check<'_> {
    fn protocol(&self, detail: String) -> VerifyError {
        VerifyError::Protocol {
            host: self.host.to_string(),
            detail,
        }
    }

    fn rejected(&self, url: &str, status: u16) -> VerifyError {
        VerifyError::Rejected {
            host: self.host.to_string(),
            username: self.username.to_string(),
            url: url.to_string(),
            status,
        }
    }

    /// Fetches a bearer token from the challenge's realm with the credential as Basic auth.
    async fn bearer_token(
        &self,
        challenge: &Challenge,
        realm_on_host: bool,
    ) -> Result<String, VerifyError> {
        let realm = challenge
            .param("realm")
            .ok_or_else(|| self.protocol("Bearer challenge without realm".into()))?;
        let mut realm_url = url::Url::parse(realm)
            .map_err(|_| self.protocol(format!("invalid realm `{realm}`")))?;
        let realm_authority = match (realm_url.host_str(), realm_url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        };
        if realm_on_host && realm_authority != self.host {
            return Err(self.protocol(format!(
                "the token realm `{realm}` is not on {}; refusing to send the new token there",
                self.host
            )));
        }
        if realm_url.scheme() != "https" {
            return Err(self.protocol(format!(
                "realm `{realm}` is not https; refusing to send the credential there"
            )));
        }
        {
            let mut query = realm_url.query_pairs_mut();
            for name in ["service", "scope"] {
                if let Some(value) = challenge.param(name) {
                    query.append_pair(name, value);
                }
            }
        }
        let realm_text = realm_url.to_string();
        let response = self
            .http
            .get(realm_url)
            .basic_auth(self.username, Some(self.password.expose_secret()))
            .send()
            .await
            .map_err(|e| classify(&realm_text, &e))?;
        match response.status().as_u16() {
            200 => {}
            status @ (401 | 403) => return Err(self.rejected(&realm_text, status)),
            status => return Err(self.protocol(format!("token realm answered HTTP {status}"))),
        }
        let answer: RealmAnswer = response
            .json()
            .await
            .map_err(|_| self.protocol("token realm answered something that is not JSON".into()))?;
        answer
            .token
            .or(answer.access_token)
            .ok_or_else(|| self.protocol("token realm answered without a token".into()))
    }
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
    let check = Check {
        http,
        host,
        username,
        password,
        base: format!("https://{host}/v2/"),
    };
    let base = check.base.as_str();
    let first = http
        .get(base)
        .send()
        .await
        .map_err(|e| classify(base, &e))?;
    match first.status().as_u16() {
        200 => return Ok(Verified::Anonymous),
        401 => {}
        other => {
            return Err(check.protocol(format!("GET {base} answered HTTP {other}, expected 401")));
        }
    }
    let header = first
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| check.protocol("401 without a WWW-Authenticate challenge".into()))?;
    let challenge = parse_challenge(header)
        .ok_or_else(|| check.protocol(format!("unreadable challenge `{header}`")))?;
    let authenticated = match challenge.scheme.as_str() {
        "basic" => http
            .get(base)
            .basic_auth(username, Some(password.expose_secret())),
        "bearer" => http
            .get(base)
            .bearer_auth(check.bearer_token(&challenge, realm_on_host).await?),
        other => {
            return Err(check.protocol(format!("unsupported challenge scheme `{other}`")));
        }
    };
    let response = authenticated.send().await.map_err(|e| classify(base, &e))?;
    match response.status().as_u16() {
        200 => Ok(Verified::Accepted),
        status @ (401 | 403) => Err(check.rejected(base, status)),
        status => Err(check.protocol(format!(
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

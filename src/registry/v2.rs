//! Checking a registry credential the way a container runtime uses it: Docker Registry v2
//! authentication against `GET /v2/` (protocol.md §6).
//!
//! `GET /v2/` without credentials answers 401 with one or more challenges. A `Basic` challenge
//! is answered with the credential directly; a `Bearer` challenge by fetching a token from its
//! `realm` with the credential as Basic auth, then retrying with that token. A 200 at the end
//! means a kubelet with this pull secret can authenticate.
//!
//! Only a 401 or 403 to the credential itself is a definite refusal ([`VerifyError::Rejected`]).
//! Everything else a real registry may do differently (no `/v2/`, an HTML page, an unknown
//! scheme, a realm on another host, a timeout) leaves the credential unverified, not wrong
//! ([`VerifyError::is_definite`]).

use secrecy::{ExposeSecret as _, SecretString};

use crate::http::RemoteError;

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
    /// The registry did not answer the v2 protocol as expected, so nothing was proven.
    #[error("registry {host} did not answer the Docker Registry v2 check as expected: {detail}")]
    Protocol {
        /// Registry host.
        host: String,
        /// What was wrong.
        detail: String,
    },
}

impl VerifyError {
    /// Whether the registry definitively refused the credential (401/403 to it). Any other
    /// failure means the check could not be carried out.
    pub fn is_definite(&self) -> bool {
        matches!(self, VerifyError::Rejected { .. })
    }
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
    /// The scheme in lower case, e.g. `basic` or `bearer`.
    pub scheme: String,
    /// Parameters (`realm`, `service`, `scope`, ...), names lower case; a token68 credential
    /// is kept under the name `token68`.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name` (lower case).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A short description without values, e.g. `Bearer(realm,service)`, for messages.
    pub fn shape(&self) -> String {
        let names: Vec<&str> = self.params.iter().map(|(k, _)| k.as_str()).collect();
        format!("{}({})", self.scheme, names.join(","))
    }
}

/// RFC 7230 `tchar`: the characters of a token (scheme or parameter name).
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A cursor over a header value.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip(&mut self, chars: &[char]) {
        self.rest = self.rest.trim_start_matches(chars);
    }

    fn token(&mut self) -> &'a str {
        let end = self.rest.find(|c| !is_tchar(c)).unwrap_or(self.rest.len());
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        token
    }

    /// Whether an `=` follows (after optional whitespace), i.e. the token was a parameter name.
    fn equals_follows(&self) -> bool {
        self.rest.trim_start_matches([' ', '\t']).starts_with('=')
    }

    /// A quoted string (with `\` escapes) or a token-ish value up to `,` or whitespace.
    fn value(&mut self) -> Option<String> {
        self.skip(&[' ', '\t']);
        if let Some(quoted) = self.rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        self.rest = &quoted[i + 1..];
                        return Some(value);
                    }
                    c => value.push(c),
                }
            }
            return None;
        }
        let end = self
            .rest
            .find(|c: char| c == ',' || c.is_whitespace())
            .unwrap_or(self.rest.len());
        let (value, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(value.to_string())
    }
}

/// Parses a `WWW-Authenticate` value per RFC 7235: one or more challenges, each a scheme
/// followed by a token68 or comma-separated parameters; values quoted (commas and escapes
/// inside quotes) or not, any scheme case, optional whitespace around commas (IBM's icr.io
/// sends unquoted values with `, `, distribution quoted ones without spaces). `None` when the
/// value is malformed (e.g. an unterminated quote).
pub fn parse_challenges(header: &str) -> Option<Vec<Challenge>> {
    let mut cursor = Cursor { rest: header };
    let mut challenges: Vec<Challenge> = Vec::new();
    loop {
        cursor.skip(&[' ', '\t', ',']);
        if cursor.rest.is_empty() {
            break;
        }
        let token = cursor.token();
        if token.is_empty() {
            return None;
        }
        match challenges.last_mut() {
            Some(current) if cursor.equals_follows() => {
                cursor.skip(&[' ', '\t']);
                cursor.rest = &cursor.rest[1..];
                if cursor.rest.starts_with('=') || cursor.rest.trim_start().is_empty() {
                    // token68 (`abc==`): the name was its start.
                    let pads = cursor.rest.len() - cursor.rest.trim_start_matches('=').len();
                    cursor.rest = &cursor.rest[pads..];
                    let value = format!("{token}={}", "=".repeat(pads));
                    current.params.push(("token68".into(), value));
                    continue;
                }
                let value = cursor.value()?;
                current.params.push((token.to_ascii_lowercase(), value));
            }
            _ => challenges.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: Vec::new(),
            }),
        }
    }
    (!challenges.is_empty()).then_some(challenges)
}

/// The first challenge of a header value (see [`parse_challenges`]).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    parse_challenges(header)?.into_iter().next()
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

/// What `GET /v2/` without credentials said.
enum FirstAnswer {
    /// 200 from the registry API: no credential needed.
    Open,
    /// 401 with these challenges.
    Challenged(Vec<Challenge>),
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

    /// `GET /v2/` without credentials: the challenges, or why there are none.
    async fn first(&self) -> Result<FirstAnswer, VerifyError> {
        let base = self.base.as_str();
        let first = crate::http::send(self.http.get(base), "GET", base).await?;
        let status = first.status().as_u16();
        let content_type = first
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("no content type")
            .to_string();
        match status {
            200 if content_type.contains("html") => {
                return Err(self.protocol(format!(
                    "GET {base} answered 200 with {content_type}, not the registry API"
                )));
            }
            200 => return Ok(FirstAnswer::Open),
            401 => {}
            other => {
                return Err(self.protocol(format!(
                    "GET {base} answered HTTP {other} ({content_type}), expected 401 with a challenge"
                )));
            }
        }
        let values: Vec<&str> = first
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(self.protocol("401 without a WWW-Authenticate challenge".into()));
        }
        let mut challenges = Vec::new();
        for value in values {
            challenges.extend(parse_challenges(value).ok_or_else(|| {
                self.protocol(format!(
                    "unreadable challenge `{}`",
                    crate::output::printable(value)
                ))
            })?);
        }
        Ok(FirstAnswer::Challenged(challenges))
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
                "the token realm `{realm}` is not on {}; the new token was not sent there",
                self.host
            )));
        }
        if realm_url.scheme() != "https" {
            return Err(self.protocol(format!(
                "realm `{realm}` is not https; the credential was not sent there"
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
        let request = self
            .http
            .get(realm_url)
            .basic_auth(self.username, Some(self.password.expose_secret()));
        let response = crate::http::send(request, "GET", &realm_text).await?;
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
/// With `realm_on_host`, a Bearer realm elsewhere than `host` is not contacted, so a token the
/// plugin just minted is never sent to a third party named by a challenge (the check is then
/// inconclusive). Generic registries such as Docker Hub use a separate auth host, so
/// `secret verify` of arbitrary secrets allows it.
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
    let challenges = match check.first().await? {
        FirstAnswer::Open => return Ok(Verified::Anonymous),
        FirstAnswer::Challenged(challenges) => challenges,
    };
    let base = check.base.as_str();
    // Bearer is what distribution and IBM use; Basic is the fallback of simple registries.
    let pick = |scheme: &str| challenges.iter().find(|c| c.scheme == scheme);
    let authenticated = if let Some(bearer) = pick("bearer") {
        http.get(base)
            .bearer_auth(check.bearer_token(bearer, realm_on_host).await?)
    } else if pick("basic").is_some() {
        http.get(base)
            .basic_auth(username, Some(password.expose_secret()))
    } else {
        let shapes: Vec<String> = challenges.iter().map(Challenge::shape).collect();
        return Err(check.protocol(format!(
            "unsupported challenge scheme {}",
            crate::output::printable(&shapes.join(", "))
        )));
    };
    let response = crate::http::send(authenticated, "GET", base).await?;
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
        assert!(parse_challenge("=x").is_none());
    }

    /// RFC 7235 §4.1: several challenges in one header, commas inside quoted values, escapes.
    #[test]
    fn parses_several_challenges_and_commas_in_quotes() {
        let all = parse_challenges(
            r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple, really", Bearer realm="https://r.x/token",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        let schemes: Vec<&str> = all.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["newauth", "basic", "bearer"]);
        assert_eq!(all[0].param("title"), Some(r#"Login to "apps""#));
        assert_eq!(all[0].param("type"), Some("1"));
        assert_eq!(all[1].param("realm"), Some("simple, really"));
        assert_eq!(all[2].param("scope"), Some("repository:a/b:pull,push"));
        assert_eq!(all[2].shape(), "bearer(realm,scope)");
        let token68 = parse_challenges("Negotiate abc==, Bearer realm = \"x\"").unwrap();
        assert_eq!(token68[0].param("token68"), Some("abc=="));
        assert_eq!(token68[1].param("realm"), Some("x"));
        let bare = parse_challenges("Bearer").unwrap();
        assert!(bare[0].params.is_empty());
    }
}

//! Checking a registry credential the way a container runtime uses it: Docker Registry v2
//! authentication against `GET /v2/` (protocol.md §6).
//!
//! `GET /v2/` without credentials answers 401 with one or more challenges. A `Basic` challenge
//! is answered with the credential directly; a `Bearer` challenge by fetching a token from its
//! `realm` with the credential as Basic auth, then retrying with that token. A 200 at the end
//! means a kubelet with this pull secret can authenticate.
//!
//! Only a 401 or 403 to the credential itself is a definite refusal ([`VerifyError::Rejected`]),
//! and icr.io's 400 to an IAM user name (`iamapikey`, ...).
//! Everything else a real registry may do differently (no `/v2/`, an HTML page, an unknown
//! scheme, a realm on another host, a timeout) leaves the credential unverified, not wrong
//! ([`VerifyError::is_definite`]).
//!
//! [`resolve`] goes one step further for `pod apply`: with the same handshake (scoped to the
//! repository), `HEAD /v2/<name>/manifests/<reference>` with the media types a kubelet accepts,
//! the digest from `Docker-Content-Digest` (or the sha256 of the manifest a `GET` returns when a
//! registry sends no such header), and the repository's tags when the tag is unknown (every
//! page of a paginated tag list, [`next_link`]).

use secrecy::{ExposeSecret as _, SecretString};

use crate::http::RemoteError;

/// The user names of IAM credentials at icr.io, whose realm refuses a bad one with 400.
const ICR_USERS: &[&str] = &["iamapikey", "iambearer", "iamrefresh"];

/// Why a credential could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Transport failure.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The registry (or its token service) rejected the credential.
    #[error(
        "registry {host} rejected the credential of user `{username}` (HTTP {status} from {url}){}",
        said(.reason)
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
        /// What the registry said (its error body's `message`, printable and bounded), if
        /// anything: `registry token revoked`, `authentication required`, ...
        reason: Option<String>,
    },
    /// The credential was accepted, but may not pull this repository (or the registry hides
    /// whether it exists).
    #[error(
        "registry {host} accepted the credential of user `{username}` but refused to let it pull `{name}` (HTTP {status})"
    )]
    Denied {
        /// Registry host.
        host: String,
        /// The user name in the credential.
        username: String,
        /// The repository.
        name: String,
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

/// `: the registry said "<reason>"` for a [`VerifyError::Rejected`] message.
fn said(reason: &Option<String>) -> String {
    reason
        .as_deref()
        .map(|r| format!(": the registry said \"{r}\""))
        .unwrap_or_default()
}

/// The longest reason kept from an error body.
const REASON_LIMIT: usize = 200;

/// What a registry's (or realm's) error body says: distribution's `{"errors": [{"code",
/// "message"}]}`, OAuth's `{"error", "error_description"}`, else nothing. Printable, bounded.
pub fn error_reason(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    fn text(v: &serde_json::Value) -> Option<&str> {
        v.as_str().map(str::trim).filter(|s| !s.is_empty())
    }
    let reason = value
        .get("errors")
        .and_then(|e| e.as_array())
        .and_then(|errors| {
            let messages: Vec<&str> = errors
                .iter()
                .filter_map(|e| text(&e["message"]).or_else(|| text(&e["code"])))
                .collect();
            (!messages.is_empty()).then(|| messages.join("; "))
        })
        .or_else(|| {
            text(&value["error_description"])
                .or_else(|| text(&value["error"]))
                .or_else(|| text(&value["message"]))
                .map(str::to_string)
        })?;
    let reason = crate::text::printable(&reason);
    Some(reason.chars().take(REASON_LIMIT).collect())
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

impl<'a> Check<'a> {
    /// The check of `username`/`password` at `https://<host>/v2/`.
    fn new(
        http: &'a reqwest::Client,
        host: &'a str,
        username: &'a str,
        password: &'a SecretString,
    ) -> Self {
        Check {
            http,
            host,
            username,
            password,
            base: format!("https://{host}/v2/"),
        }
    }

    fn protocol(&self, detail: String) -> VerifyError {
        VerifyError::Protocol {
            host: self.host.to_string(),
            detail,
        }
    }

    fn rejected(&self, url: &str, status: u16, reason: Option<String>) -> VerifyError {
        VerifyError::Rejected {
            host: self.host.to_string(),
            username: self.username.to_string(),
            url: url.to_string(),
            status,
            reason,
        }
    }

    /// [`Check::rejected`] with the reason `response`'s body gives.
    async fn refused(&self, url: &str, response: reqwest::Response) -> VerifyError {
        let status = response.status().as_u16();
        let body = crate::http::read_body(response, url, crate::http::BODY_LIMIT).await;
        self.rejected(url, status, body.ok().as_deref().and_then(error_reason))
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
                    crate::text::printable(value)
                ))
            })?);
        }
        Ok(FirstAnswer::Challenged(challenges))
    }

    /// Fetches a bearer token from the challenge's realm with the credential as Basic auth.
    async fn bearer_token(
        &self,
        challenge: &Challenge,
        scope: Option<&str>,
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
                "the token realm `{realm}` is not on {}; the credential was not sent there",
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
            if let Some(service) = challenge.param("service") {
                query.append_pair("service", service);
            }
            if let Some(scope) = scope.or_else(|| challenge.param("scope")) {
                query.append_pair("scope", scope);
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
            401 | 403 => return Err(self.refused(&realm_text, response).await),
            // icr.io answers a wrong IAM user/key combination with 400 (its registry_access
            // docs: "If you get a 400 Bad Request message, the username and password
            // combination is not valid").
            400 if ICR_USERS.contains(&self.username) => {
                return Err(self.refused(&realm_text, response).await);
            }
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

/// How requests are authenticated once the `/v2/` challenge was answered.
enum Auth {
    /// The registry needs no credential.
    Anonymous,
    /// Basic auth with the credential itself.
    Basic,
    /// A bearer token from the realm.
    Bearer(String),
}

impl Check<'_> {
    /// Answers the `/v2/` challenge: how to authenticate requests for `scope` (`None`: the
    /// challenge's own scope, if any).
    async fn authenticate(
        &self,
        scope: Option<&str>,
        realm_on_host: bool,
    ) -> Result<Auth, VerifyError> {
        let challenges = match self.first().await? {
            FirstAnswer::Open => return Ok(Auth::Anonymous),
            FirstAnswer::Challenged(challenges) => challenges,
        };
        // Bearer is what distribution and IBM use; Basic is the fallback of simple registries.
        let pick = |scheme: &str| challenges.iter().find(|c| c.scheme == scheme);
        if let Some(bearer) = pick("bearer") {
            Ok(Auth::Bearer(
                self.bearer_token(bearer, scope, realm_on_host).await?,
            ))
        } else if pick("basic").is_some() {
            Ok(Auth::Basic)
        } else {
            let shapes: Vec<String> = challenges.iter().map(Challenge::shape).collect();
            Err(self.protocol(format!(
                "unsupported challenge scheme {}",
                crate::text::printable(&shapes.join(", "))
            )))
        }
    }

    /// `request` with the credential `auth` calls for.
    fn authorized(&self, request: reqwest::RequestBuilder, auth: &Auth) -> reqwest::RequestBuilder {
        match auth {
            Auth::Anonymous => request,
            Auth::Basic => request.basic_auth(self.username, Some(self.password.expose_secret())),
            Auth::Bearer(token) => request.bearer_auth(token),
        }
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
    let check = Check::new(http, host, username, password);
    let auth = check.authenticate(None, realm_on_host).await?;
    if matches!(auth, Auth::Anonymous) {
        return Ok(Verified::Anonymous);
    }
    let base = check.base.as_str();
    let authenticated = check.authorized(http.get(base), &auth);
    let response = crate::http::send(authenticated, "GET", base).await?;
    match response.status().as_u16() {
        200 => Ok(Verified::Accepted),
        401 | 403 => Err(check.refused(base, response).await),
        status => Err(check.protocol(format!(
            "GET {base} with credentials answered HTTP {status}"
        ))),
    }
}

/// Whether the registry at `host` answers at all (`GET /v2/` without credentials: any HTTP
/// status is an answer). The error is what stood in the way (DNS, refused connection, TLS).
pub async fn reachable(http: &reqwest::Client, host: &str) -> Result<(), RemoteError> {
    let base = format!("https://{host}/v2/");
    crate::http::send(http.get(&base), "GET", &base)
        .await
        .map(drop)
}

/// The `Accept` list of a kubelet's manifest request (containerd's resolver): Docker v2
/// manifest and manifest list, OCI manifest and index, then anything. distribution answers a
/// bare `*/*` with 400 for schema 2 manifests and hides OCI ones from clients that do not
/// name them, so the list is explicit.
pub const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, */*";

/// What a registry said about an image reference.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The manifest exists; its digest (`sha256:<hex>`).
    Found {
        /// The manifest digest.
        digest: String,
    },
    /// The repository exists but has no such tag (or digest); these tags it has.
    TagUnknown {
        /// The repository's tags.
        tags: Vec<String>,
    },
    /// No such repository.
    RepositoryUnknown,
}

/// One image to resolve: repository `name` (e.g. `demo/hello`) and a tag or digest.
pub struct ImageName<'a> {
    /// The repository path in the registry.
    pub name: &'a str,
    /// A tag, or a digest `sha256:<hex>`.
    pub reference: &'a str,
}

/// Whether `digest` is a well-formed `algorithm:hex` content digest.
fn is_digest(digest: &str) -> bool {
    digest.split_once(':').is_some_and(|(algorithm, hex)| {
        !algorithm.is_empty()
            && algorithm
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && hex.len() >= 32
            && hex.chars().all(|c| c.is_ascii_hexdigit())
    })
}

/// The sha256 content digest of `bytes`, as the registry and the kubelet compute it.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// What one manifest request answered.
enum ManifestAnswer {
    Found(String),
    Missing,
    Refused(u16),
    /// Anything else: the status, and whether a GET could still tell.
    Other(u16),
}

impl Check<'_> {
    /// `HEAD` (or `GET`) of a manifest with the kubelet's `Accept` list. A `GET` computes the
    /// digest from the body when the registry sends no `Docker-Content-Digest`.
    async fn manifest(
        &self,
        url: &str,
        auth: &Auth,
        method: reqwest::Method,
    ) -> Result<ManifestAnswer, VerifyError> {
        let head = method == reqwest::Method::HEAD;
        let name = method.to_string();
        let request = self.authorized(self.http.request(method, url), auth);
        let response =
            crate::http::send(request.header("Accept", MANIFEST_ACCEPT), &name, url).await?;
        let status = response.status().as_u16();
        match status {
            200 => {}
            404 => return Ok(ManifestAnswer::Missing),
            401 | 403 => return Ok(ManifestAnswer::Refused(status)),
            other => return Ok(ManifestAnswer::Other(other)),
        }
        let header = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|d| is_digest(d))
            .map(str::to_string);
        if head {
            return Ok(header.map_or(ManifestAnswer::Other(200), ManifestAnswer::Found));
        }
        let body = crate::http::read_body(response, url, crate::http::LIST_BODY_LIMIT).await?;
        Ok(ManifestAnswer::Found(
            header.unwrap_or_else(|| sha256_digest(&body)),
        ))
    }

    /// One page of `GET /v2/<name>/tags/list`: its tags and the `rel="next"` link, or `None`
    /// when the repository is unknown.
    async fn tags_page(
        &self,
        url: &url::Url,
        auth: &Auth,
    ) -> Result<Option<(Vec<String>, Option<String>)>, VerifyError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            tags: Option<Vec<String>>,
        }
        let text = url.to_string();
        let request = self.authorized(self.http.get(url.clone()), auth);
        let response = crate::http::send(request, "GET", &text).await?;
        match response.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            status => {
                return Err(self.protocol(format!("GET {text} answered HTTP {status}")));
            }
        }
        let next = response
            .headers()
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link);
        let body = crate::http::read_body(response, &text, crate::http::LIST_BODY_LIMIT).await?;
        let list: TagList = serde_json::from_slice(&body).map_err(|_| {
            self.protocol(format!(
                "GET {text} answered something that is not a tag list"
            ))
        })?;
        Ok(Some((list.tags.unwrap_or_default(), next)))
    }

    /// `GET /v2/<name>/tags/list?n=`[`TAGS_PAGE`], following `Link: <...>; rel="next"` (the
    /// distribution spec's pagination, `n` and `last`) on the same host for at most
    /// [`TAGS_MAX_PAGES`] pages: the tags, or `None` when the repository is unknown.
    async fn tags(&self, name: &str, auth: &Auth) -> Result<Option<Vec<String>>, VerifyError> {
        let first = format!("{}{name}/tags/list?n={TAGS_PAGE}", self.base);
        let mut url = url::Url::parse(&first)
            .map_err(|_| self.protocol(format!("`{first}` is not a URL")))?;
        let mut tags = Vec::new();
        for page in 0..TAGS_MAX_PAGES {
            let Some((page_tags, next)) = self.tags_page(&url, auth).await? else {
                if page == 0 {
                    return Ok(None);
                }
                return Err(self.protocol(format!("GET {url} answered HTTP 404")));
            };
            tags.extend(page_tags);
            let Some(next) = next else { break };
            let next = url
                .join(&next)
                .map_err(|_| self.protocol(format!("unreadable next link `{next}`")))?;
            // The bearer token is for this registry only.
            if next.origin() != url.origin() {
                return Err(self.protocol(format!(
                    "the next page of the tag list is on another host ({next}); not followed"
                )));
            }
            url = next;
        }
        Ok(Some(tags))
    }
}

/// Tags asked for per `tags/list` page.
pub const TAGS_PAGE: usize = 100;
/// Pages of a tag list followed at most (a registry whose links never end is cut off there).
pub const TAGS_MAX_PAGES: usize = 50;

/// The target of the `rel="next"` link of a `Link` header value (RFC 8288: `<uri>` then
/// `;`-separated parameters, several links separated by `,`; `rel` may list several types).
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let target = &rest[start + 1..end];
        let after = &rest[end + 1..];
        let params_end = after.find('<').unwrap_or(after.len());
        let is_next = after[..params_end].split([';', ',']).any(|param| {
            param.split_once('=').is_some_and(|(key, value)| {
                key.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(target.to_string());
        }
        rest = &after[params_end..];
    }
}

/// Resolves `image` in `https://<host>` with `username`/`password`, the way a kubelet pulls:
/// the `/v2/` challenge, a token for `repository:<name>:pull` (Bearer) or the credential itself
/// (Basic), then `HEAD /v2/<name>/manifests/<reference>`; a `GET` when the `HEAD` carries no
/// digest or is not understood; on 404 the repository's tags. `realm_on_host` as in [`check`].
///
/// A refused credential is [`VerifyError::Rejected`], a credential that may not pull this
/// repository [`VerifyError::Denied`]; anything else unexpected is [`VerifyError::Protocol`]
/// or a transport error (nothing was proven either way).
pub async fn resolve(
    http: &reqwest::Client,
    host: &str,
    username: &str,
    password: &SecretString,
    realm_on_host: bool,
    image: &ImageName<'_>,
) -> Result<Resolution, VerifyError> {
    let check = Check::new(http, host, username, password);
    let scope = format!("repository:{}:pull", image.name);
    let auth = check.authenticate(Some(&scope), realm_on_host).await?;
    let url = format!("{}{}/manifests/{}", check.base, image.name, image.reference);
    let mut answer = check.manifest(&url, &auth, reqwest::Method::HEAD).await?;
    if matches!(answer, ManifestAnswer::Other(_)) {
        // No digest header, or a HEAD the registry does not serve: the body tells.
        answer = check.manifest(&url, &auth, reqwest::Method::GET).await?;
    }
    match answer {
        ManifestAnswer::Found(digest) => Ok(Resolution::Found { digest }),
        ManifestAnswer::Missing => Ok(match check.tags(image.name, &auth).await? {
            Some(tags) => Resolution::TagUnknown { tags },
            None => Resolution::RepositoryUnknown,
        }),
        // Basic sends the credential itself: a 401 refuses it. A bearer token was already
        // granted, so a refusal is about this repository.
        ManifestAnswer::Refused(401) if matches!(auth, Auth::Basic) => {
            Err(check.rejected(&url, 401, None))
        }
        ManifestAnswer::Refused(status) => Err(VerifyError::Denied {
            host: host.to_string(),
            username: username.to_string(),
            name: image.name.to_string(),
            status,
        }),
        ManifestAnswer::Other(status) => Err(check.protocol(format!(
            "GET {url} answered HTTP {status}, expected 200 or 404"
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

    #[test]
    fn next_links_are_found_in_link_headers() {
        assert_eq!(
            next_link(r#"</v2/demo/hello/tags/list?last=v1&n=2>; rel="next""#).as_deref(),
            Some("/v2/demo/hello/tags/list?last=v1&n=2")
        );
        assert_eq!(
            next_link(r#"<https://r.x/a?x=1,2>; rel="prev", <https://r.x/b>;title="x";REL=next"#)
                .as_deref(),
            Some("https://r.x/b")
        );
        assert_eq!(
            next_link(r#"<https://r.x/c>; rel="prev next""#).as_deref(),
            Some("https://r.x/c")
        );
        assert_eq!(next_link(r#"<https://r.x/a>; rel="prev""#), None);
        assert_eq!(next_link(r#"<https://r.x/a>; rel="nextpage""#), None);
        assert_eq!(next_link("garbage"), None);
        assert_eq!(next_link("<unterminated; rel=next"), None);
    }

    #[test]
    fn digests_are_checked_and_computed() {
        assert!(is_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_digest("sha256:"));
        assert!(!is_digest("latest"));
        assert!(!is_digest(&format!("SHA256:{}", "a".repeat(64))));
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}

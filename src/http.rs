//! The HTTPS client for the environment's endpoints (Cloud Controller, UAA, registry), and the
//! classification of transport failures into actionable errors.

use std::path::Path;
use std::time::Duration;

/// Transport-level failures, each naming the host and what to do.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// TLS verification failed.
    #[error(
        "TLS certificate of {url} is not trusted ({detail}); if the environment uses a private CA, \
         pass its certificate with `--ca-file <pem>` at login"
    )]
    Tls {
        /// Where.
        url: String,
        /// The TLS library's message.
        detail: String,
    },
    /// The host could not be reached.
    #[error("cannot reach {url} ({detail}); check the URL, your network and proxy settings")]
    Unreachable {
        /// Where.
        url: String,
        /// The cause.
        detail: String,
    },
    /// The request timed out.
    #[error("request to {url} timed out; the server may be overloaded, try again")]
    Timeout {
        /// Where.
        url: String,
    },
    /// Anything else (e.g. the connection broke mid-response).
    #[error("request to {url} failed ({detail}); try again")]
    Other {
        /// Where.
        url: String,
        /// The cause.
        detail: String,
    },
    /// The answer is larger than any legitimate answer of that endpoint.
    #[error(
        "the answer of {url} is larger than {limit} bytes, more than this endpoint ever sends; check that the URL points at the environment"
    )]
    TooLarge {
        /// Where.
        url: String,
        /// The limit.
        limit: usize,
    },
}

impl RemoteError {
    /// Whether the request certainly never reached the server: the connection was refused or
    /// could not be made, or TLS failed before anything was sent (a mint cannot have happened).
    pub fn never_sent(&self) -> bool {
        matches!(
            self,
            RemoteError::Unreachable { .. } | RemoteError::Tls { .. }
        )
    }
}

/// The most a single answer may hold: every answer the plugin reads is small JSON; token and
/// org lists are the largest (a few hundred entries).
pub const BODY_LIMIT: usize = 1 << 20;
/// The limit for lists, which can legitimately be larger.
pub const LIST_BODY_LIMIT: usize = 16 << 20;

/// Sends a request to the environment: transport failures classified, and logged as
/// [`RequestLog`] says. `url` must not contain a secret (none of the plugin's URLs do;
/// credentials travel in headers and bodies).
pub async fn send(
    request: reqwest::RequestBuilder,
    method: &str,
    url: &str,
) -> Result<reqwest::Response, RemoteError> {
    let log = RequestLog::start(method, url);
    let outcome = if crate::trace::enabled(8) {
        // Built first so its headers and body can be shown, masked.
        let (client, built) = request.build_split();
        match built {
            Ok(built) => {
                log.request(
                    built.headers(),
                    built.body().and_then(reqwest::Body::as_bytes),
                );
                client.execute(built).await
            }
            Err(e) => Err(e),
        }
    } else {
        request.send().await
    };
    match &outcome {
        Ok(response) => log.answered(response.status(), response.headers()),
        Err(e) => log.failed(root_cause(e)),
    }
    outcome.map_err(|e| classify(url, &e))
}

/// One request in the `-v` log, as kubectl prints it, for every client of the plugin (the
/// environment's endpoints through [`send`], the Kubernetes API through `cluster::log`): at
/// `-v 6` one line per request (method, URL, status, time), at `-v 8` also the request headers
/// and body and the response headers, credentials masked ([`masked_header`], [`masked_body`]).
#[derive(Debug)]
pub struct RequestLog {
    method: String,
    url: String,
    started: std::time::Instant,
}

impl RequestLog {
    /// Starts the clock for `method url`.
    pub fn start(method: &str, url: &str) -> Self {
        Self {
            method: method.to_string(),
            url: url.to_string(),
            started: std::time::Instant::now(),
        }
    }

    /// At `-v 8`: the request's headers, and its body when there is one to show.
    pub fn request(&self, headers: &reqwest::header::HeaderMap, body: Option<&[u8]>) {
        if !crate::trace::enabled(8) {
            return;
        }
        log_headers("Request Headers", headers);
        if let Some(body) = body {
            crate::trace::log(8, format!("Request Body: {}", masked_body(body)));
        }
    }

    /// The answer: its status and time, at `-v 8` its headers.
    pub fn answered(&self, status: reqwest::StatusCode, headers: &reqwest::header::HeaderMap) {
        let (method, url, millis) = (&self.method, &self.url, self.millis());
        crate::trace::log(
            6,
            format!("{method} {url} {status} in {millis} milliseconds"),
        );
        if crate::trace::enabled(8) {
            log_headers("Response Headers", headers);
        }
    }

    /// No answer: why, and after how long.
    pub fn failed(&self, cause: impl std::fmt::Display) {
        let (method, url, millis) = (&self.method, &self.url, self.millis());
        crate::trace::log(
            6,
            format!("{method} {url} failed in {millis} milliseconds: {cause}"),
        );
    }

    fn millis(&self) -> u128 {
        self.started.elapsed().as_millis()
    }
}

/// Header names whose values are credentials (compared without case); `X-Registry-*` and
/// `X-Auth-*` headers are masked too.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-csrf-token",
    "x-xsrf-token",
];

/// JSON fields and form keys whose values are credentials (compared without case).
const SECRET_FIELDS: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "identitytoken",
    "registrytoken",
    "password",
    "passcode",
    "apikey",
    "api_key",
    "client_secret",
    "assertion",
    "auth",
    ".dockerconfigjson",
    ".dockercfg",
    "data",
    "stringdata",
];

/// At `-v 8`: one line per header, credentials masked (kubectl's `-v 8` shows headers too).
fn log_headers(title: &str, headers: &reqwest::header::HeaderMap) {
    crate::trace::log(8, format!("{title}:"));
    for (name, value) in headers {
        crate::trace::log(
            8,
            format!(
                "    {name}: {}",
                masked_header(name.as_str(), value.as_bytes())
            ),
        );
    }
}

/// A header value for the log: `<masked>` for credentials, the value otherwise.
pub fn masked_header(name: &str, value: &[u8]) -> String {
    let name = name.to_ascii_lowercase();
    if SECRET_HEADERS.contains(&name.as_str())
        || name.starts_with("x-registry-")
        || name.starts_with("x-auth-")
    {
        return "<masked>".to_string();
    }
    crate::redact::scrub(&String::from_utf8_lossy(value))
}

/// A request or response body for the log: JSON and form bodies with every credential field
/// masked, anything else only by its size (it could hold anything).
pub fn masked_body(body: &[u8]) -> String {
    if let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(body) {
        mask_json(&mut json);
        return crate::redact::scrub(&json.to_string());
    }
    let text = String::from_utf8_lossy(body);
    let form = !text.is_empty()
        && text.split('&').all(|pair| {
            pair.split_once('=').is_some_and(|(key, _)| {
                !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
            })
        });
    if form {
        let pairs: Vec<String> = text
            .split('&')
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                if is_secret_field(key) {
                    format!("{key}=<masked>")
                } else {
                    format!("{key}={value}")
                }
            })
            .collect();
        return crate::redact::scrub(&pairs.join("&"));
    }
    format!("<{} bytes, not shown>", body.len())
}

fn is_secret_field(key: &str) -> bool {
    SECRET_FIELDS.contains(&key.to_ascii_lowercase().as_str())
}

fn mask_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if is_secret_field(key) && !value.is_null() {
                    *value = serde_json::Value::String("<masked>".to_string());
                } else {
                    mask_json(value);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_json),
        _ => {}
    }
}

/// Reads a response body, refusing more than `limit` bytes (checked against `Content-Length`
/// first, then while reading), so a misbehaving server cannot exhaust memory.
pub async fn read_body(
    mut response: reqwest::Response,
    url: &str,
    limit: usize,
) -> Result<Vec<u8>, RemoteError> {
    let too_large = || RemoteError::TooLarge {
        url: url.to_string(),
        limit,
    };
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| classify(url, &e))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    if crate::trace::enabled(8) {
        crate::trace::log(8, format!("Response Body: {}", masked_body(&body)));
    }
    Ok(body)
}

/// The innermost useful message of an error chain.
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        last = s.to_string();
        cur = s.source();
    }
    last
}

/// Classifies a reqwest error. `url` must not contain secrets (ours never do).
pub fn classify(url: &str, e: &reqwest::Error) -> RemoteError {
    let url = url.to_string();
    let detail = root_cause(e);
    let chain = {
        let mut all = e.to_string();
        let mut cur = std::error::Error::source(e);
        while let Some(s) = cur {
            all.push_str(": ");
            all.push_str(&s.to_string());
            cur = s.source();
        }
        all.to_lowercase()
    };
    if e.is_timeout() {
        RemoteError::Timeout { url }
    } else if chain.contains("certificate") || chain.contains("tls") && chain.contains("handshake")
    {
        RemoteError::Tls { url, detail }
    } else if e.is_connect() {
        RemoteError::Unreachable { url, detail }
    } else {
        RemoteError::Other { url, detail }
    }
}

/// Errors building the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The CA file cannot be read.
    #[error("cannot read CA file `{path}`")]
    ReadCa {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The CA file holds no usable certificate.
    #[error("CA file `{path}` holds no PEM certificate ({detail}); pass a PEM bundle")]
    BadCa {
        /// The file.
        path: String,
        /// The parser's message.
        detail: String,
    },
    /// reqwest could not build a client.
    #[error("cannot set up HTTPS: {0}")]
    Build(String),
}

/// Builds the client: OS trust store plus `ca_file`, 30 s timeout, no redirects (credentials
/// must never follow a redirect to another host).
pub fn client(ca_file: Option<&Path>, insecure: bool) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!(
            "kubectl-dedicated-registry/",
            env!("CARGO_PKG_VERSION")
        ))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        // Passwords and tokens never travel over plain HTTP, whatever a server advertises.
        .https_only(true);
    if let Some(path) = ca_file {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| ClientError::ReadCa {
            path: shown.clone(),
            source,
        })?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ClientError::BadCa {
                path: shown.clone(),
                detail: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(ClientError::BadCa {
                path: shown,
                detail: "no certificate found".into(),
            });
        }
        builder = builder.tls_certs_merge(certs);
    }
    for (host, address) in pinned_addresses() {
        builder = builder.resolve(&host, address);
    }
    if insecure {
        crate::trace::warning(
            "TLS certificate verification is disabled for this profile (--insecure-skip-tls-verify): passwords and tokens can be intercepted; use --ca-file instead",
        );
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder
        .build()
        .map_err(|e| ClientError::Build(root_cause(&e)))
}

/// The host names pinned to addresses by [`crate::env::RESOLVE`] (`host=ip:port,...`); an
/// entry that does not parse is ignored with a warning.
fn pinned_addresses() -> Vec<(String, std::net::SocketAddr)> {
    let Ok(value) = std::env::var(crate::env::RESOLVE) else {
        return Vec::new();
    };
    value
        .split(',')
        .filter(|entry| !entry.trim().is_empty())
        .filter_map(|entry| {
            let parsed = entry
                .split_once('=')
                .and_then(|(host, address)| Some((host.trim(), address.trim().parse().ok()?)));
            if parsed.is_none() {
                crate::trace::warning(format!(
                    "{}: `{}` is not `host=ip:port`; ignored",
                    crate::env::RESOLVE,
                    crate::text::printable(entry)
                ));
            }
            parsed.map(|(host, address)| (host.to_ascii_lowercase(), address))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_masked() {
        assert_eq!(masked_header("Authorization", b"Bearer abc"), "<masked>");
        assert_eq!(masked_header("set-cookie", b"s=1"), "<masked>");
        assert_eq!(masked_header("X-Registry-Token", b"abc"), "<masked>");
        assert_eq!(masked_header("Organization", b"guid-1"), "guid-1");
        assert_eq!(
            masked_header("content-type", b"application/json"),
            "application/json"
        );
    }

    #[test]
    fn credential_fields_of_json_and_form_bodies_are_masked() {
        let json = br#"{"access_token":"a1","refresh_token":"r1","user":"alice","tokens":[{"token":"t1","id":"i1"}],"data":{".dockerconfigjson":"e30="}}"#;
        let shown = masked_body(json);
        for secret in ["a1", "r1", "t1", "e30="] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("alice") && shown.contains("i1"), "{shown}");
        let form = masked_body(b"grant_type=password&username=alice&password=p%40ss&passcode=123");
        assert_eq!(
            form,
            "grant_type=password&username=alice&password=<masked>&passcode=<masked>"
        );
        assert_eq!(
            masked_body(b"<html>secret page</html>"),
            "<24 bytes, not shown>"
        );
    }
}

//! The request journal: what each emulated server received, with secrets redacted.
//!
//! Tests use it to check the wire protocol (headers, grants, query parameters) and to prove
//! that a secret never reached a server it should not reach. Redacted entries are safe to print;
//! the raw bytes are kept apart and only searched, never exposed.

use std::sync::Mutex;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Service;

/// A short, stable fingerprint of a secret: `sha256:` and the first 12 hex digits.
///
/// Tests compare fingerprints instead of secrets, so a journal dump never holds a credential.
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Header names that are recorded (lowercase). Others are not interesting to the protocol.
const RECORDED_HEADERS: &[&str] = &[
    "authorization",
    "organization",
    "account",
    "accept",
    "content-type",
    "user-agent",
    "impersonate-user",
    "impersonate-group",
    "host",
    "if-match",
    "entity-lock",
    "iam-apikey",
];

/// Form fields whose values are secrets and are fingerprinted in the journal.
const SECRET_FIELDS: &[&str] = &[
    "password",
    "passcode",
    "refresh_token",
    "apikey",
    "iam_token",
    "client_secret",
    "access_token",
    "token",
];

/// One request as the server saw it, safe to print.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    /// Which emulated server received it.
    pub service: Service,
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path without the query, e.g. `/api/v1/tokens`.
    pub path: String,
    /// Query parameters in order, values of secret parameters fingerprinted.
    pub query: Vec<(String, String)>,
    /// Selected headers (lowercase names); credentials replaced by scheme plus fingerprint, e.g.
    /// `Bearer sha256:0123456789ab` or `Basic cf: sha256:...` (the user name stays visible).
    pub headers: Vec<(String, String)>,
    /// Fields of an `application/x-www-form-urlencoded` body, secret values fingerprinted.
    pub form: Vec<(String, String)>,
    /// The response status, filled in after the handler ran.
    pub status: u16,
    /// The HTTP version the request came with (`HTTP/1.1`, `HTTP/2.0`).
    pub version: String,
    /// The indices of the requests (to any service) received before this one and not yet
    /// answered when it arrived: timing-free evidence of which requests a client had in
    /// flight at once.
    pub in_flight: Vec<usize>,
}

impl Entry {
    /// The first recorded value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of form field `name`.
    pub fn form_field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Redacts one credential header value: keeps the scheme (and a Basic user name), fingerprints
/// the secret part.
pub fn redact_authorization(value: &str) -> String {
    let (scheme, rest) = value.split_once(' ').unwrap_or(("", value));
    if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine as _;
        if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest.trim())
            && let Ok(text) = String::from_utf8(decoded)
        {
            let (user, secret) = text.split_once(':').unwrap_or((&text, ""));
            let secret = if secret.is_empty() {
                "(empty)".to_string()
            } else {
                fingerprint(secret)
            };
            return format!("{scheme} {user}: {secret}");
        }
    }
    if scheme.is_empty() {
        return fingerprint(value);
    }
    format!("{scheme} {}", fingerprint(rest.trim()))
}

fn redact_pairs(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .map(|(k, v)| {
            if SECRET_FIELDS.contains(&k.as_str()) && !v.is_empty() {
                let fp = fingerprint(&v);
                (k, fp)
            } else {
                (k, v)
            }
        })
        .collect()
}

/// Builds an entry from the parts of a request.
pub(crate) fn entry_for(
    service: Service,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Entry {
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| RECORDED_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            let value = match name.as_str() {
                "authorization" => redact_authorization(&value),
                "iam-apikey" => fingerprint(&value),
                _ => value,
            };
            (name.as_str().to_string(), value)
        })
        .collect::<Vec<_>>();
    let mut headers = headers;
    // HTTP/2 has no `Host` header: record the authority under that name.
    if !headers.iter().any(|(k, _)| k == "host")
        && let Some(authority) = parts.uri.authority()
    {
        headers.push(("host".into(), authority.to_string()));
    }
    let is_form = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let form = if is_form {
        redact_pairs(url::form_urlencoded::parse(body).into_owned().collect())
    } else {
        Vec::new()
    };
    Entry {
        service,
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: redact_pairs(query),
        headers,
        form,
        status: 0,
        version: format!("{:?}", parts.version),
        in_flight: Vec::new(),
    }
}

/// All requests received, in order.
#[derive(Default)]
pub struct Journal {
    entries: Mutex<Vec<(Entry, Vec<u8>)>>,
    /// Indices of the requests not answered yet.
    open: Mutex<std::collections::BTreeSet<usize>>,
}

impl Journal {
    /// Records a request; returns its index so the status can be filled in later.
    pub(crate) fn record(&self, mut entry: Entry, raw: Vec<u8>) -> usize {
        let mut entries = self.entries.lock().expect("journal lock");
        let mut open = self.open.lock().expect("journal lock");
        entry.in_flight = open.iter().copied().collect();
        entries.push((entry, raw));
        open.insert(entries.len() - 1);
        entries.len() - 1
    }

    pub(crate) fn set_status(&self, index: usize, status: u16) {
        if let Some((entry, _)) = self.entries.lock().expect("journal lock").get_mut(index) {
            entry.status = status;
            self.open.lock().expect("journal lock").remove(&index);
        }
    }

    /// A snapshot of all (redacted) entries.
    pub fn entries(&self) -> Vec<Entry> {
        let entries = self.entries.lock().expect("journal lock");
        entries.iter().map(|(e, _)| e.clone()).collect()
    }

    /// Entries for one service.
    pub fn for_service(&self, service: Service) -> Vec<Entry> {
        self.entries()
            .into_iter()
            .filter(|e| e.service == service)
            .collect()
    }

    /// The entries whose raw request (request line, all headers, body) holds `secret` in any
    /// form [`holds_secret`] knows: clear, percent-decoded, base64, inside a base64 blob such as
    /// a `.dockerconfigjson` or a Basic `token:<jwt>` credential, or as a part of a JWT. Used to
    /// prove where a secret was, and was not, sent.
    pub fn containing(&self, secret: &str) -> Vec<Entry> {
        let entries = self.entries.lock().expect("journal lock");
        entries
            .iter()
            .filter(|(_, raw)| holds_secret(raw, secret))
            .map(|(e, _)| e.clone())
            .collect()
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        let mut entries = self.entries.lock().expect("journal lock");
        entries.clear();
        self.open.lock().expect("journal lock").clear();
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The forms in which `secret` is searched for directly: the secret, its standard and URL-safe
/// base64, and, for a JWT, its payload and signature parts (a token printed without its
/// signature, or with its header cut off, still leaks it). Parts shorter than 16 characters
/// and the JWT header (the same for every token) are left out: they identify nothing.
pub fn secret_forms(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    if secret.is_empty() {
        return Vec::new();
    }
    let mut forms = vec![
        secret.to_string(),
        base64::engine::general_purpose::STANDARD.encode(secret),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
    ];
    let parts: Vec<&str> = secret.split('.').collect();
    if parts.len() == 3 && parts[0].starts_with("eyJ") {
        forms.extend(
            parts[1..]
                .iter()
                .filter(|p| p.len() >= 16)
                .map(|p| p.to_string()),
        );
    }
    forms
}

/// Whether `haystack` holds `secret` in any form: one of [`secret_forms`], or inside any base64
/// run of the text once decoded (nested up to three levels), which covers a `.dockerconfigjson`
/// blob, the `auth` field (`base64("token:<jwt>")`) inside it, and Basic credentials.
pub fn holds_secret(haystack: &[u8], secret: &str) -> bool {
    let forms = secret_forms(secret);
    !forms.is_empty() && holds_any(haystack, &forms, 3)
}

fn holds_any(haystack: &[u8], forms: &[String], depth: usize) -> bool {
    if forms.iter().any(|f| contains(haystack, f.as_bytes())) {
        return true;
    }
    depth > 0
        && base64_runs(haystack)
            .into_iter()
            .any(|decoded| holds_any(&decoded, forms, depth - 1))
}

/// Decodes every run of at least 12 base64 characters (standard alphabet, optional padding).
fn base64_runs(text: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let is_b64 = |b: &u8| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/';
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if !is_b64(&text[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < text.len() && is_b64(&text[i]) {
            i += 1;
        }
        let run = &text[start..i];
        if run.len() >= 12 {
            // A run may start inside a word (e.g. `Basic` before a space is its own run);
            // trying the run and its 1..3-character suffixes covers misaligned starts.
            for skip in 0..4.min(run.len()) {
                if let Ok(decoded) = engine.decode(&run[skip..]) {
                    out.push(decoded);
                    break;
                }
            }
        }
    }
    out
}

/// The raw text of a request, for [`Journal::containing`].
pub(crate) fn raw_request(parts: &axum::http::request::Parts, body: &[u8]) -> Vec<u8> {
    let mut raw = format!("{} {}\n", parts.method, parts.uri).into_bytes();
    for (name, value) in &parts.headers {
        raw.extend_from_slice(name.as_str().as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(value.as_bytes());
        raw.push(b'\n');
    }
    raw.push(b'\n');
    raw.extend_from_slice(body);
    // Form and query values are percent-encoded on the wire; search the decoded text as well.
    let decoded: Vec<u8> = url::form_urlencoded::parse(body)
        .chain(
            parts
                .uri
                .query()
                .map(|q| url::form_urlencoded::parse(q.as_bytes()))
                .into_iter()
                .flatten(),
        )
        .flat_map(|(k, v)| format!("\n{k}={v}").into_bytes())
        .collect();
    raw.extend_from_slice(&decoded);
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_but_keeps_scheme_and_user() {
        assert_eq!(redact_authorization("Basic Y2Y6"), "Basic cf: (empty)");
        let bearer = redact_authorization("Bearer abc.def.ghi");
        assert!(bearer.starts_with("Bearer sha256:"));
        assert!(!bearer.contains("abc.def"));
        let basic = redact_authorization("Basic dG9rZW46c2VjcmV0"); // token:secret
        assert_eq!(basic, format!("Basic token: {}", fingerprint("secret")));
    }

    #[test]
    fn secrets_are_found_in_every_form_and_only_there() {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJqdGkiOiIxMjM0NTY3OC1hYmNkIn0.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLWp3dA";
        let config = format!(
            r#"{{"auths":{{"r.example":{{"username":"token","password":"{jwt}","auth":"{}"}}}}}}"#,
            b64(&format!("token:{jwt}"))
        );
        let auth_only = format!(
            r#"{{"auths":{{"r.example":{{"username":"token","password":"redacted","auth":"{}"}}}}}}"#,
            b64(&format!("token:{jwt}"))
        );
        let (header, payload, signature) = {
            let p: Vec<&str> = jwt.split('.').collect();
            (p[0], p[1], p[2])
        };
        for (what, text) in [
            ("raw", jwt.to_string()),
            ("base64", b64(jwt)),
            (
                "Basic",
                format!("authorization: Basic {}", b64(&format!("token:{jwt}"))),
            ),
            (
                "dockerconfigjson",
                format!(r#"{{"data":{{".dockerconfigjson":"{}"}}}}"#, b64(&config)),
            ),
            (
                "auth field only",
                format!(".dockerconfigjson: {}\n", b64(&auth_only)),
            ),
            ("no signature", format!("{header}.{payload}")),
            ("signature only", format!("sig={signature}")),
        ] {
            assert!(holds_secret(text.as_bytes(), jwt), "{what}: {text}");
        }
        let redacted = r#"{"auths":{"r.example":{"username":"token","password":"redacted","auth":"dG9rZW46cmVkYWN0ZWQ="}}}"#;
        for (what, text) in [
            ("redacted", format!(".dockerconfigjson: {}", b64(redacted))),
            ("header only", format!("{header}.")),
            (
                "another token",
                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJqdGkiOiJvdGhlciJ9.b3RoZXItc2lnbmF0dXJl"
                    .to_string(),
            ),
        ] {
            assert!(!holds_secret(text.as_bytes(), jwt), "{what}: {text}");
        }
        assert!(!holds_secret(b"anything", ""));
    }
}

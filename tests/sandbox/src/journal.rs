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
            let value = if name == "authorization" {
                redact_authorization(&value)
            } else {
                value
            };
            (name.as_str().to_string(), value)
        })
        .collect();
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
    }
}

/// All requests received, in order.
#[derive(Default)]
pub struct Journal {
    entries: Mutex<Vec<(Entry, Vec<u8>)>>,
}

impl Journal {
    /// Records a request; returns its index so the status can be filled in later.
    pub(crate) fn record(&self, entry: Entry, raw: Vec<u8>) -> usize {
        let mut entries = self.entries.lock().expect("journal lock");
        entries.push((entry, raw));
        entries.len() - 1
    }

    pub(crate) fn set_status(&self, index: usize, status: u16) {
        if let Some((entry, _)) = self.entries.lock().expect("journal lock").get_mut(index) {
            entry.status = status;
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

    /// The entries whose raw request (request line, all headers, body) contains `needle`,
    /// in clear or base64-encoded. Used to prove where a secret was, and was not, sent.
    pub fn containing(&self, needle: &str) -> Vec<Entry> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(needle);
        let entries = self.entries.lock().expect("journal lock");
        entries
            .iter()
            .filter(|(_, raw)| contains(raw, needle.as_bytes()) || contains(raw, b64.as_bytes()))
            .map(|(e, _)| e.clone())
            .collect()
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        self.entries.lock().expect("journal lock").clear();
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
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
}

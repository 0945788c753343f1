//! A process-wide scrubber: every secret the process handles is registered here, and every line
//! written to stderr (errors, warnings, logs) passes through [`scrub`].
//!
//! The typed paths already keep secrets out of messages ([`secrecy::SecretString`], redacting
//! `Debug` impls); this is the backstop for text the plugin does not control, such as a server
//! echoing a credential inside an error description.

use std::sync::{LazyLock, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use regex::Regex;

static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Anything shaped like a JWT (base64url header starting `eyJ`, three segments).
static JWT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*").expect("valid regex")
});

/// Registers a secret (and its common encodings) for scrubbing. Short values are ignored, since
/// scrubbing them would mangle ordinary text.
pub fn register(secret: &str) {
    if secret.len() < 6 {
        return;
    }
    let mut secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    for form in [
        secret.to_string(),
        STANDARD.encode(secret),
        URL_SAFE_NO_PAD.encode(secret),
        STANDARD.encode(format!("token:{secret}")),
    ] {
        if !secrets.contains(&form) {
            secrets.push(form);
        }
    }
}

/// Replaces every registered secret and anything JWT-shaped with `<redacted>`.
pub fn scrub(text: &str) -> String {
    let mut out = text.to_string();
    let secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    // Longest first, so an encoding is not half-replaced by a shorter form.
    let mut sorted: Vec<&String> = secrets.iter().collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in sorted {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "<redacted>");
        }
    }
    JWT.replace_all(&out, "<redacted>").into_owned()
}

/// A message scrubbed and collapsed onto one line, for error output.
pub fn one_line(message: &str) -> String {
    scrub(message)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Wraps a secret for the typed paths and registers it for scrubbing.
pub fn keep(secret: String) -> secrecy::SecretString {
    register(&secret);
    secrecy::SecretString::from(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_and_jwts_are_scrubbed() {
        register("hunter2-password");
        let msg = format!(
            "bad: hunter2-password / {} / (eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJ4In0.c2ln) ok",
            STANDARD.encode("hunter2-password")
        );
        let out = scrub(&msg);
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("eyJ"), "{out}");
        assert!(
            out.starts_with("bad: <redacted>") && out.ends_with("ok"),
            "{out}"
        );
        // UAA's invalid_token description quotes the refresh token back.
        let uaa = "Invalid auth token: Invalid refresh token (expired): eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJ4In0.abc_def-123";
        let out = scrub(uaa);
        assert!(!out.contains("eyJ"), "{out}");
        assert!(out.starts_with("Invalid auth token"));
        register("abc"); // too short: ignored
        assert_eq!(scrub("abc"), "abc");
    }
}

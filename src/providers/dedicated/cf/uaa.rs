//! UAA grants as the `cf` client: password, SSO passcode, API key and refresh (protocol.md §2),
//! and the SSO passcode prompt (§3).

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::{AuthError, Endpoints, append_path, get_json, oauth};

/// How to obtain tokens.
pub enum Grant {
    /// UAA password grant.
    Password {
        /// User name.
        username: String,
        /// Password.
        password: SecretString,
    },
    /// SSO one-time passcode.
    Passcode(SecretString),
    /// Platform API key (password grant with `username=apikey`).
    ApiKey(SecretString),
    /// Refresh grant.
    Refresh(SecretString),
    /// An IAM access token exchanged at the UAA (`grant_type=iam_token`).
    IamToken(SecretString),
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grant::Password { username, .. } => write!(f, "Password({username}, <redacted>)"),
            Grant::Passcode(_) => f.write_str("Passcode(<redacted>)"),
            Grant::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Grant::Refresh(_) => f.write_str("Refresh(<redacted>)"),
            Grant::IamToken(_) => f.write_str("IamToken(<redacted>)"),
        }
    }
}

impl Grant {
    /// What to do when this grant's credential is refused: a hint that fits the route taken.
    pub fn refusal_hint(&self) -> &'static str {
        match self {
            Grant::Password { .. } => {
                "check the user name and password (federated users log in with `--sso`)"
            }
            Grant::Passcode(_) => {
                "get a new one-time passcode from the login page (each works once, for a few minutes)"
            }
            Grant::ApiKey(_) => "check the API key (an IBMid key may need `--auth=iam`)",
            Grant::IamToken(_) => "check the API key; the UAA did not accept the IAM token",
            Grant::Refresh(_) => "run `kubectl dedicated-registry login` again",
        }
    }

    /// The form fields of this grant (without the common `scope`).
    fn form(&self) -> Vec<(&'static str, &str)> {
        match self {
            Grant::Password { username, password } => vec![
                ("grant_type", "password"),
                ("username", username),
                ("password", password.expose_secret()),
            ],
            Grant::Passcode(code) => vec![
                ("grant_type", "password"),
                ("passcode", code.expose_secret()),
            ],
            Grant::ApiKey(key) => vec![
                ("grant_type", "password"),
                ("username", "apikey"),
                ("password", key.expose_secret()),
            ],
            Grant::Refresh(rt) => vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.expose_secret()),
            ],
            Grant::IamToken(iam) => vec![
                ("grant_type", "iam_token"),
                ("iam_token", iam.expose_secret()),
                ("response_type", "uaa"),
            ],
        }
    }
}

/// The result of a grant.
#[derive(Debug)]
pub struct Tokens {
    /// Bearer token for the Cloud Controller and the registry.
    pub access_token: SecretString,
    /// Refresh token, if issued (possibly rotated).
    pub refresh_token: Option<SecretString>,
}

/// A token endpoint answer: success fields, or an OAuth error (flat, or nested by some login
/// server proxies).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    refresh_token: Option<String>,
    error: Option<OAuthError>,
    error_description: Option<String>,
}

/// The `error` member: a string, or an object with its own `error` and `error_description`.
#[derive(Deserialize)]
#[serde(untagged)]
enum OAuthError {
    Flat(String),
    Nested {
        error: Option<String>,
        error_description: Option<String>,
    },
    /// Any other shape still means failure (its content is not read).
    Other(#[allow(dead_code)] serde::de::IgnoredAny),
}

/// Runs a grant against `<authorization_endpoint>/oauth/token` as client `cf` (empty secret);
/// the IAM token exchange goes to the UAA itself (`<token_endpoint>/oauth/token`), as IBM's
/// CLI does it.
pub async fn token(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    api: &str,
    grant: &Grant,
) -> Result<Tokens, AuthError> {
    let base = match grant {
        Grant::IamToken(_) => &endpoints.token_endpoint,
        _ => &endpoints.authorization_endpoint,
    };
    let url = append_path(base, "/oauth/token");
    let mut form = grant.form();
    form.push(("scope", ""));
    let (status, body) = oauth::post_form(http, &url, ("cf", ""), &form).await?;
    read_token_answer(&url, api, grant, status, &body)
}

/// Interprets the token endpoint's answer. A body with an `error` member is a failure even with
/// status 200 (a login-server proxy quirk).
fn read_token_answer(
    url: &str,
    api: &str,
    grant: &Grant,
    status: u16,
    body: &[u8],
) -> Result<Tokens, AuthError> {
    let reported = |answer: &mut TokenAnswer| match answer.error.take() {
        Some(error) => Some(oauth_error(
            url,
            api,
            grant,
            status,
            error,
            answer.error_description.take(),
        )),
        None => (status >= 500).then(|| AuthError::Unavailable {
            url: url.to_string(),
            status,
        }),
    };
    let tokens = |answer: TokenAnswer| {
        Ok(Tokens {
            access_token: oauth::access_token(
                url,
                answer.access_token,
                "token response without access_token",
            )?,
            refresh_token: answer.refresh_token.map(crate::redact::keep),
        })
    };
    oauth::read_answer(url, status, body, "", reported, tokens)
}

/// What an OAuth `error` in the answer to `grant` means.
fn oauth_error(
    url: &str,
    api: &str,
    grant: &Grant,
    status: u16,
    error: OAuthError,
    flat_description: Option<String>,
) -> AuthError {
    let (error, description) = match error {
        OAuthError::Flat(error) => (error, flat_description.unwrap_or_default()),
        OAuthError::Nested {
            error,
            error_description,
        } => (
            error.unwrap_or_else(|| "error".into()),
            error_description.unwrap_or_default(),
        ),
        OAuthError::Other(_) => ("error".into(), String::new()),
    };
    // Never echo a description that quotes the token back (UAA's invalid_token does).
    let description = crate::redact::scrub(&description);
    let url = url.to_string();
    match (error.as_str(), grant) {
        ("invalid_token" | "invalid-token" | "invalid_grant", Grant::Refresh(_)) => {
            AuthError::LoginExpired {
                api: api.to_string(),
            }
        }
        ("unauthorized" | "invalid_grant", _) => AuthError::BadCredentials {
            url,
            description,
            hint: grant.refusal_hint(),
        },
        _ => AuthError::Uaa {
            url,
            status,
            error,
            description,
        },
    }
}

/// `GET <login>/login`: the prompts the login server shows.
#[derive(Deserialize)]
struct LoginInfo {
    prompts: std::collections::HashMap<String, Vec<String>>,
}

/// The SSO passcode prompt, e.g. `One Time Code (Get one at https://login.<d>/passcode)`.
/// A login server that gives no JSON prompts (a redirect, an HTML page, an error) gets a
/// default prompt naming `<login>/passcode` and a warning: the prompt text is cosmetic, so it
/// never fails the login.
pub async fn passcode_prompt(http: &reqwest::Client, endpoints: &Endpoints) -> String {
    let url = append_path(&endpoints.authorization_endpoint, "/login");
    let default = format!(
        "One Time Code (Get one at {})",
        append_path(&endpoints.authorization_endpoint, "/passcode")
    );
    let why = match get_json::<LoginInfo>(http, &url, None).await {
        // The prompt is shown on the terminal: no control characters from the server.
        Ok((200, Ok(login))) => {
            return login
                .prompts
                .get("passcode")
                .and_then(|p| p.get(1))
                .map(|p| crate::text::printable(p).replace(['\n', '\t'], " "))
                .unwrap_or(default);
        }
        Ok((status, Ok(_))) => format!("HTTP {status}"),
        Ok((status, Err(_))) => format!("HTTP {status} without JSON prompts"),
        Err(e) => crate::redact::one_line(&format!("{e:#}")),
    };
    crate::trace::warning(format!(
        "the login server gave no passcode prompt at {url} ({why}); using the default"
    ));
    default
}

/// The `user_name` claim of a UAA access token (no signature check: it is only displayed).
pub fn user_name(access: &SecretString) -> Option<String> {
    crate::jwt::string_claim(access.expose_secret(), "user_name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_debug_hides_secrets() {
        let g = Grant::Password {
            username: "u".into(),
            password: SecretString::from("hunter2"),
        };
        assert!(!format!("{g:?}").contains("hunter2"));
    }

    fn answer(grant: &Grant, status: u16, body: &str) -> Result<Tokens, AuthError> {
        read_token_answer(
            "https://uaa.x/oauth/token",
            "https://api.x",
            grant,
            status,
            body.as_bytes(),
        )
    }

    #[test]
    fn token_answers_map_to_errors() {
        let password = Grant::Password {
            username: "u".into(),
            password: SecretString::from("pw"),
        };
        let refresh = Grant::Refresh(SecretString::from("rt"));
        let ok = answer(
            &password,
            200,
            r#"{"access_token":"a","refresh_token":"r"}"#,
        )
        .unwrap();
        assert_eq!(ok.access_token.expose_secret(), "a");
        assert!(matches!(
            answer(&password, 401, r#"{"error":"unauthorized","error_description":"Bad credentials"}"#),
            Err(AuthError::BadCredentials { description, .. }) if description == "Bad credentials"
        ));
        assert!(matches!(
            answer(
                &refresh,
                401,
                r#"{"error":"invalid_token","error_description":"expired"}"#
            ),
            Err(AuthError::LoginExpired { .. })
        ));
        // An error inside a 200, nested by a proxy.
        assert!(matches!(
            answer(
                &password,
                200,
                r#"{"error":{"error":"invalid_grant","error_description":"no"}}"#
            ),
            Err(AuthError::BadCredentials { .. })
        ));
        assert!(matches!(
            answer(&password, 502, "<html>bad gateway</html>"),
            Err(AuthError::Unavailable { status: 502, .. })
        ));
        assert!(matches!(
            answer(&password, 200, "<html>"),
            Err(AuthError::Protocol { .. })
        ));
        assert!(matches!(
            answer(&password, 403, r#"{"error":"insufficient_scope"}"#),
            Err(AuthError::Uaa { status: 403, .. })
        ));
        assert!(matches!(
            answer(&password, 404, "{}"),
            Err(AuthError::Uaa { status: 404, .. })
        ));
        assert!(matches!(
            answer(&password, 200, "{}"),
            Err(AuthError::Protocol { .. })
        ));
    }

    #[test]
    fn token_answers_keep_their_details() {
        let password = Grant::Password {
            username: "u".into(),
            password: SecretString::from("pw"),
        };
        assert!(matches!(
            answer(&password, 404, "<html>"),
            Err(AuthError::Protocol { detail, .. }) if detail == "HTTP 404 with a body that is not JSON"
        ));
        assert!(matches!(
            answer(&password, 200, "{}"),
            Err(AuthError::Protocol { detail, .. }) if detail == "token response without access_token"
        ));
        // Unlike IAM's, a 5xx JSON answer without `error` means the login server is failing.
        assert!(matches!(
            answer(&password, 503, "{}"),
            Err(AuthError::Unavailable { status: 503, .. })
        ));
        assert!(matches!(
            answer(&password, 200, r#"{"error":[1]}"#),
            Err(AuthError::Uaa { status: 200, error, .. }) if error == "error"
        ));
        let refused = answer(
            &password,
            401,
            r#"{"error":"unauthorized","error_description":"Bad credentials"}"#,
        );
        assert_eq!(
            refused.err().unwrap().to_string(),
            "login refused by https://uaa.x/oauth/token: Bad credentials; check the user name and password (federated users log in with `--sso`)"
        );
    }
}

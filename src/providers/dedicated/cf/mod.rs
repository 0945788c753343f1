//! Cloud Foundry: endpoint discovery ([`discovery`]), UAA grants ([`uaa`]), API keys through
//! IBM Cloud IAM ([`iam`]) and the Cloud Controller's org lookup ([`orgs`]) (protocol.md §1-§4).
//!
//! Every request goes to URLs derived from `/v2/info`: the login server's
//! `authorization_endpoint` may carry a path (`.../UAALoginServerWAR`), so paths are appended to
//! it, never substituted. Tokens are held in [`secrecy::SecretString`]s and never formatted.

pub mod discovery;
pub mod iam;
mod oauth;
pub mod orgs;
pub mod uaa;

pub use discovery::{Endpoints, discover};
pub use orgs::{Org, org_by_guid, orgs};
pub use uaa::{Grant, Tokens, passcode_prompt, token, user_name};

use secrecy::{ExposeSecret as _, SecretString};
use serde::de::DeserializeOwned;

use crate::http::RemoteError;

/// Failures talking to the Cloud Controller or UAA.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Transport failure.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The password, passcode or API key was refused.
    #[error("login refused by {url}: {description}; {hint}")]
    BadCredentials {
        /// The token endpoint.
        url: String,
        /// UAA's `error_description`.
        description: String,
        /// What to do, for the route taken.
        hint: &'static str,
    },
    /// The stored refresh token expired or was revoked.
    #[error(
        "the stored login for {api} has expired or was revoked; run `kubectl dedicated-registry login` again"
    )]
    LoginExpired {
        /// The environment.
        api: String,
    },
    /// The login server failed (5xx or an error page).
    #[error("the login server at {url} is failing (HTTP {status}); try again later")]
    Unavailable {
        /// The token endpoint.
        url: String,
        /// HTTP status.
        status: u16,
    },
    /// Any other UAA error.
    #[error("UAA at {url} answered {status} `{error}`: {description}")]
    Uaa {
        /// The token endpoint.
        url: String,
        /// HTTP status.
        status: u16,
        /// OAuth `error`.
        error: String,
        /// OAuth `error_description`.
        description: String,
    },
    /// The Cloud Controller refused the token.
    #[error(
        "Cloud Controller at {url} answered {status} {code}: {description}; run `kubectl dedicated-registry login` again"
    )]
    CloudController {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// `error_code`, e.g. `CF-InvalidAuthToken`.
        code: String,
        /// The description.
        description: String,
    },
    /// The server answered something that is not the documented protocol.
    #[error("unexpected answer from {url}: {detail}; is this a Cloud Foundry API endpoint?")]
    Protocol {
        /// The URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
}

/// Joins `path` onto `base`, keeping any path `base` has.
pub fn append_path(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// A GET answer: the status, and the body read as `T` (or why it could not be).
pub(crate) type JsonAnswer<T> = (u16, Result<T, String>);

/// GETs `url` (with a bearer token if given) and reads the body as `T`.
pub(crate) async fn get_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&SecretString>,
) -> Result<JsonAnswer<T>, AuthError> {
    let mut request = http.get(url).header("Accept", "application/json");
    if let Some(token) = bearer {
        request = request.bearer_auth(token.expose_secret());
    }
    let response = crate::http::send(request, "GET", url).await?;
    let status = response.status().as_u16();
    let body = crate::http::read_body(response, url, crate::http::LIST_BODY_LIMIT).await?;
    Ok((
        status,
        serde_json::from_slice(&body).map_err(|e| {
            let text = String::from_utf8_lossy(&body);
            format!(
                "{e} (body starts with {:?})",
                text.chars().take(80).collect::<String>()
            )
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_keeps_base_path() {
        assert_eq!(
            append_path(
                "https://login.ng.bluemix.net/UAALoginServerWAR",
                "/oauth/token"
            ),
            "https://login.ng.bluemix.net/UAALoginServerWAR/oauth/token"
        );
        assert_eq!(
            append_path("https://uaa.x/", "/login"),
            "https://uaa.x/login"
        );
    }
}

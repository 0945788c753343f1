//! The skeleton every token endpoint shares (the UAA's `/oauth/token`, IAM's `/identity/token`):
//! a form POST as an HTTP basic client ([`post_form`]), then its JSON answer read in one order
//! ([`read_answer`]): not JSON, the error the answer reports (which the caller maps, since each
//! endpoint's errors mean different things), any other unsuccessful status, the tokens.

use secrecy::SecretString;
use serde::de::DeserializeOwned;

use super::AuthError;

/// POSTs `form` to the token endpoint `url` as the HTTP basic client `(id, secret)`, asking
/// for JSON; returns the status and the body (at most [`crate::http::BODY_LIMIT`] bytes).
pub(super) async fn post_form(
    http: &reqwest::Client,
    url: &str,
    (id, secret): (&str, &str),
    form: &[(&str, &str)],
) -> Result<(u16, Vec<u8>), AuthError> {
    let request = http
        .post(url)
        .basic_auth(id, Some(secret))
        .header("Accept", "application/json")
        .form(form);
    let response = crate::http::send(request, "POST", url).await?;
    let status = response.status().as_u16();
    let body = crate::http::read_body(response, url, crate::http::BODY_LIMIT).await?;
    Ok((status, body))
}

/// Reads a token endpoint's answer as `A`. A body that is not JSON is
/// [`AuthError::Unavailable`] for a 5xx status, else [`AuthError::Protocol`] (its detail ending
/// in `not_json_hint`). Then `reported` gives the failure the answer itself reports, if any
/// (taking what it reads out of the answer); then a status that is not success fails
/// ([`unsuccessful`]); what is left of the answer goes to `tokens`.
pub(super) fn read_answer<A: DeserializeOwned, T>(
    url: &str,
    status: u16,
    body: &[u8],
    not_json_hint: &str,
    reported: impl FnOnce(&mut A) -> Option<AuthError>,
    tokens: impl FnOnce(A) -> Result<T, AuthError>,
) -> Result<T, AuthError> {
    let mut answer: A = match serde_json::from_slice(body) {
        Ok(answer) => answer,
        Err(_) if status >= 500 => {
            return Err(AuthError::Unavailable {
                url: url.to_string(),
                status,
            });
        }
        Err(_) => {
            return Err(AuthError::Protocol {
                url: url.to_string(),
                detail: format!("HTTP {status} with a body that is not JSON{not_json_hint}"),
            });
        }
    };
    if let Some(error) = reported(&mut answer) {
        return Err(error);
    }
    if let Some(error) = unsuccessful(url, status) {
        return Err(error);
    }
    tokens(answer)
}

/// The access token of a successful answer, kept for redaction; [`AuthError::Protocol`] with
/// `missing` when the answer has none.
pub(super) fn access_token(
    url: &str,
    token: Option<String>,
    missing: &str,
) -> Result<SecretString, AuthError> {
    let token = token.ok_or_else(|| AuthError::Protocol {
        url: url.to_string(),
        detail: missing.into(),
    })?;
    Ok(crate::redact::keep(token))
}

/// A token endpoint's status that is not success, when its body said nothing more.
fn unsuccessful(url: &str, status: u16) -> Option<AuthError> {
    (!(200..300).contains(&status)).then(|| AuthError::Uaa {
        url: url.to_string(),
        status,
        error: "http_error".into(),
        description: format!("HTTP {status}"),
    })
}

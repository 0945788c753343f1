//! API keys through IBM Cloud IAM (protocol.md §2.3): `POST <iam>/identity/token` with the
//! API key, then either the UAA token pair IAM returned itself, or the IAM access token
//! exchanged at the environment's UAA (`grant_type=iam_token`). [`api_key_login`] also tries
//! the UAA's own `username=apikey` grant first, as `--auth=auto` asks.
//!
//! Only the resulting UAA tokens leave this module; the API key and the IAM tokens are never
//! stored, logged or returned.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::{AuthError, Endpoints, Grant, Tokens, append_path, oauth, token};

/// IBM Cloud IAM, where `--iam-url` points by default.
pub const DEFAULT_IAM_URL: &str = "https://iam.cloud.ibm.com";

/// Which route `--auth` allows for an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Only the UAA password grant with `username=apikey`.
    Uaa,
    /// Only IAM.
    Iam,
    /// The UAA first; IAM when the UAA refuses the key as bad credentials.
    Auto,
}

/// The route that produced the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The UAA accepted `username=apikey`.
    Uaa,
    /// IAM, with its own UAA tokens or the exchange at the UAA.
    Iam,
}

/// IAM's token answer; only the fields used are read.
#[derive(Deserialize)]
struct IamAnswer {
    access_token: Option<String>,
    uaa_token: Option<String>,
    uaa_refresh_token: Option<String>,
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
    #[serde(rename = "errorMessage")]
    error_message: Option<String>,
    #[serde(rename = "errorDetails")]
    error_details: Option<String>,
}

/// What IAM gave for an API key: its access token, and a UAA pair when it issued one.
struct IamTokens {
    access: SecretString,
    uaa: Option<Tokens>,
}

/// `POST <iam>/identity/token` as client `bx:bx`, asking for both IAM and UAA tokens.
async fn iam_token(
    http: &reqwest::Client,
    iam_url: &str,
    key: &SecretString,
) -> Result<IamTokens, AuthError> {
    let url = append_path(iam_url, "/identity/token");
    let form = [
        ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
        ("apikey", key.expose_secret()),
        ("response_type", "cloud_iam,uaa"),
        ("uaa_client_id", "cf"),
        ("uaa_client_secret", ""),
    ];
    let (status, body) = oauth::post_form(http, &url, ("bx", "bx"), &form).await?;
    read_iam_answer(&url, status, &body)
}

/// Interprets IAM's answer: its `errorCode` on a failed status, mapped to what it means.
fn read_iam_answer(url: &str, status: u16, body: &[u8]) -> Result<IamTokens, AuthError> {
    let reported = |answer: &mut IamAnswer| {
        let code = answer
            .error_code
            .take()
            .filter(|_| !(200..300).contains(&status))?;
        let description = crate::redact::scrub(
            &answer
                .error_details
                .take()
                .or(answer.error_message.take())
                .unwrap_or_default(),
        );
        let url = url.to_string();
        Some(match (status, code.as_str()) {
            (400 | 401, "BXNIM0415E" | "BXNIM0407E" | "BXNIM0400E") => AuthError::BadCredentials {
                url,
                description,
                hint: "check the API key; IAM did not accept it",
            },
            (s, _) if s >= 500 => AuthError::Unavailable { url, status },
            _ => AuthError::Uaa {
                url,
                status,
                error: code,
                description,
            },
        })
    };
    let tokens = |answer: IamAnswer| {
        Ok(IamTokens {
            access: oauth::access_token(
                url,
                answer.access_token,
                "IAM answered without access_token",
            )?,
            uaa: answer.uaa_token.map(|uaa| Tokens {
                access_token: crate::redact::keep(uaa),
                refresh_token: answer.uaa_refresh_token.map(crate::redact::keep),
            }),
        })
    };
    oauth::read_answer(url, status, body, "; check --iam-url", reported, tokens)
}

/// The IAM route: IAM's own UAA tokens if it returned them, else its access token exchanged
/// at the UAA.
async fn through_iam(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    api: &str,
    key: &SecretString,
    iam_url: &str,
) -> Result<Tokens, AuthError> {
    crate::trace::log(1, format!("Authenticating the API key at {iam_url}"));
    let iam = iam_token(http, iam_url, key).await?;
    if let Some(tokens) = iam.uaa {
        crate::trace::log(1, "IAM issued UAA tokens itself");
        return Ok(tokens);
    }
    crate::trace::log(
        1,
        format!("Exchanging the IAM token at {}", endpoints.token_endpoint),
    );
    token(http, endpoints, api, &Grant::IamToken(iam.access)).await
}

/// Exchanges an API key for UAA tokens by the route `auth` allows; with [`Auth::Auto`], the
/// UAA's `username=apikey` grant first and IAM when the UAA refuses it as bad credentials
/// (said on stderr).
pub async fn api_key_login(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    api: &str,
    key: &SecretString,
    auth: Auth,
    iam_url: &str,
) -> Result<(Tokens, Route), AuthError> {
    if auth != Auth::Iam {
        match token(http, endpoints, api, &Grant::ApiKey(key.clone())).await {
            Ok(tokens) => return Ok((tokens, Route::Uaa)),
            Err(AuthError::BadCredentials { .. }) if auth == Auth::Auto => {
                crate::trace::note(format!(
                    "The UAA refused the API key; trying IBM Cloud IAM at {iam_url} (--auth=iam skips the UAA attempt)"
                ));
            }
            Err(e) => return Err(e),
        }
    }
    let tokens = through_iam(http, endpoints, api, key, iam_url).await?;
    Ok((tokens, Route::Iam))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://iam.x/identity/token";

    fn answer(status: u16, body: &str) -> Result<IamTokens, AuthError> {
        read_iam_answer(URL, status, body.as_bytes())
    }

    #[test]
    fn iam_answers_give_its_tokens() {
        let both = answer(
            200,
            r#"{"access_token":"iam-a","uaa_token":"uaa-a","uaa_refresh_token":"uaa-r"}"#,
        )
        .unwrap();
        assert_eq!(both.access.expose_secret(), "iam-a");
        let uaa = both.uaa.unwrap();
        assert_eq!(uaa.access_token.expose_secret(), "uaa-a");
        assert_eq!(uaa.refresh_token.unwrap().expose_secret(), "uaa-r");
        let own = answer(200, r#"{"access_token":"iam-a","errorCode":"BXNIM0415E"}"#).unwrap();
        assert!(
            own.uaa.is_none(),
            "an errorCode in a 2xx answer is not read"
        );
    }

    #[test]
    fn iam_answers_map_to_errors() {
        let refused = answer(
            400,
            r#"{"errorCode":"BXNIM0415E","errorMessage":"not found","errorDetails":"Provided API key could not be found"}"#,
        );
        assert!(matches!(&refused, Err(AuthError::BadCredentials { .. })));
        assert_eq!(
            refused.err().unwrap().to_string(),
            format!(
                "login refused by {URL}: Provided API key could not be found; check the API key; IAM did not accept it"
            )
        );
        assert!(matches!(
            answer(401, r#"{"errorCode":"BXNIM0407E","errorMessage":"m"}"#),
            Err(AuthError::BadCredentials { description, .. }) if description == "m"
        ));
        assert!(matches!(
            answer(503, r#"{"errorCode":"BXNIM0415E"}"#),
            Err(AuthError::Unavailable { status: 503, .. })
        ));
        assert!(matches!(
            answer(403, r#"{"errorCode":"BXNIM0513E","errorMessage":"m"}"#),
            Err(AuthError::Uaa { status: 403, error, description, .. })
                if error == "BXNIM0513E" && description == "m"
        ));
        // A 5xx JSON answer without errorCode is a bare unsuccessful status, not "unavailable".
        assert!(matches!(
            answer(503, "{}"),
            Err(AuthError::Uaa { status: 503, error, .. }) if error == "http_error"
        ));
        assert!(matches!(
            answer(502, "<html>bad gateway</html>"),
            Err(AuthError::Unavailable { status: 502, .. })
        ));
        assert!(matches!(
            answer(404, "<html>"),
            Err(AuthError::Protocol { detail, .. })
                if detail == "HTTP 404 with a body that is not JSON; check --iam-url"
        ));
        assert!(matches!(
            answer(200, "{}"),
            Err(AuthError::Protocol { detail, .. }) if detail == "IAM answered without access_token"
        ));
    }
}

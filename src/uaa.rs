//! Cloud Foundry discovery, UAA grants and refresh, and org lookup (protocol.md §1-§4).
//!
//! Every request goes to URLs derived from `/v2/info`: the login server's
//! `authorization_endpoint` may carry a path (`.../UAALoginServerWAR`), so paths are appended to
//! it, never substituted. Tokens are held in [`SecretString`]s and never formatted.

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use crate::http::{RemoteError, classify};

/// Failures talking to the Cloud Controller or UAA.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Transport failure.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The password, passcode or API key was refused.
    #[error(
        "login refused by {url}: {description}; check your credentials (federated users log in with `--sso`)"
    )]
    BadCredentials {
        /// The token endpoint.
        url: String,
        /// UAA's `error_description`.
        description: String,
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

/// Endpoints discovered from the Cloud Controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Login server URL (may carry a path).
    pub authorization_endpoint: String,
    /// UAA URL.
    pub token_endpoint: String,
}

/// Joins `path` onto `base`, keeping any path `base` has.
pub fn append_path(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

async fn get_json<T: for<'de> Deserialize<'de>>(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&SecretString>,
) -> Result<(u16, Result<T, String>), AuthError> {
    let mut request = http.get(url).header("Accept", "application/json");
    if let Some(token) = bearer {
        request = request.bearer_auth(token.expose_secret());
    }
    let response = request.send().await.map_err(|e| classify(url, &e))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| classify(url, &e))?;
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

/// Reads `/v2/info`, falling back to the v3 root document `/`. Endpoints that are not https are
/// refused: credentials are sent to them.
pub async fn discover(http: &reqwest::Client, api: &str) -> Result<Endpoints, AuthError> {
    let endpoints = discover_any(http, api).await?;
    for endpoint in [&endpoints.authorization_endpoint, &endpoints.token_endpoint] {
        let https = url::Url::parse(endpoint).is_ok_and(|u| u.scheme() == "https");
        if !https {
            return Err(AuthError::Protocol {
                url: append_path(api, "/v2/info"),
                detail: format!(
                    "it advertises the login endpoint `{endpoint}`, which is not https; credentials are never sent there"
                ),
            });
        }
    }
    Ok(endpoints)
}

async fn discover_any(http: &reqwest::Client, api: &str) -> Result<Endpoints, AuthError> {
    #[derive(Deserialize)]
    struct Info {
        authorization_endpoint: Option<String>,
        token_endpoint: Option<String>,
    }
    let url = append_path(api, "/v2/info");
    let (status, info) = get_json::<Info>(http, &url, None).await?;
    if status == 200
        && let Ok(Info {
            authorization_endpoint: Some(auth),
            token_endpoint,
        }) = info
    {
        return Ok(Endpoints {
            token_endpoint: token_endpoint.unwrap_or_else(|| auth.clone()),
            authorization_endpoint: auth,
        });
    }
    // Newer Cloud Controllers: `GET /` with links.login and links.uaa.
    #[derive(Deserialize)]
    struct Href {
        href: String,
    }
    #[derive(Deserialize)]
    struct Links {
        login: Option<Href>,
        uaa: Option<Href>,
    }
    #[derive(Deserialize)]
    struct Root {
        links: Links,
    }
    let root_url = append_path(api, "/");
    let (root_status, root) = get_json::<Root>(http, &root_url, None).await?;
    match root {
        Ok(Root { links })
            if root_status == 200 && (links.login.is_some() || links.uaa.is_some()) =>
        {
            let uaa = links.uaa.map(|h| h.href);
            let login = links.login.map(|h| h.href);
            let auth = login.clone().or_else(|| uaa.clone()).expect("one is set");
            Ok(Endpoints {
                authorization_endpoint: auth.clone(),
                token_endpoint: uaa.unwrap_or(auth),
            })
        }
        _ => Err(AuthError::Protocol {
            url,
            detail: format!("no authorization_endpoint (HTTP {status})"),
        }),
    }
}

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
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grant::Password { username, .. } => write!(f, "Password({username}, <redacted>)"),
            Grant::Passcode(_) => f.write_str("Passcode(<redacted>)"),
            Grant::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Grant::Refresh(_) => f.write_str("Refresh(<redacted>)"),
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

/// Runs a grant against `<authorization_endpoint>/oauth/token` as client `cf` (empty secret).
pub async fn token(
    http: &reqwest::Client,
    endpoints: &Endpoints,
    api: &str,
    grant: &Grant,
) -> Result<Tokens, AuthError> {
    let url = append_path(&endpoints.authorization_endpoint, "/oauth/token");
    let form: Vec<(&str, &str)> = match grant {
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
    };
    let mut form = form;
    form.push(("scope", ""));
    let response = http
        .post(&url)
        .basic_auth("cf", Some(""))
        .header("Accept", "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| classify(&url, &e))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|e| classify(&url, &e))?;

    #[derive(Deserialize)]
    struct Success {
        access_token: String,
        refresh_token: Option<String>,
    }
    // A body with an `error` key is a failure even with status 200 (login-server proxy quirk).
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) if status >= 500 => return Err(AuthError::Unavailable { url, status }),
        Err(_) => {
            return Err(AuthError::Protocol {
                url,
                detail: format!("HTTP {status} with a body that is not JSON"),
            });
        }
    };
    if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
        let (error, description) = match error {
            serde_json::Value::String(s) => (
                s.clone(),
                value
                    .get("error_description")
                    .and_then(|d| d.as_str())
                    .unwrap_or_default()
                    .to_string(),
            ),
            nested => (
                nested
                    .get("error")
                    .and_then(|e| e.as_str())
                    .unwrap_or("error")
                    .to_string(),
                nested
                    .get("error_description")
                    .and_then(|d| d.as_str())
                    .unwrap_or_default()
                    .to_string(),
            ),
        };
        // Never echo a description that quotes the token back (UAA's invalid_token does).
        let description = crate::redact::scrub(&description);
        return Err(match (error.as_str(), grant) {
            ("invalid_token" | "invalid-token" | "invalid_grant", Grant::Refresh(_)) => {
                AuthError::LoginExpired {
                    api: api.to_string(),
                }
            }
            ("unauthorized" | "invalid_grant", _) => AuthError::BadCredentials { url, description },
            _ => AuthError::Uaa {
                url,
                status,
                error,
                description,
            },
        });
    }
    if status >= 500 {
        return Err(AuthError::Unavailable { url, status });
    }
    if !(200..300).contains(&status) {
        return Err(AuthError::Uaa {
            url,
            status,
            error: "http_error".into(),
            description: format!("HTTP {status}"),
        });
    }
    let success: Success = serde_json::from_value(value).map_err(|e| AuthError::Protocol {
        url: url.clone(),
        detail: format!("token response without access_token ({e})"),
    })?;
    Ok(Tokens {
        access_token: crate::redact::keep(success.access_token),
        refresh_token: success.refresh_token.map(crate::redact::keep),
    })
}

/// The SSO passcode prompt, e.g. `One Time Code (Get one at https://login.<d>/passcode)`.
pub async fn passcode_prompt(
    http: &reqwest::Client,
    endpoints: &Endpoints,
) -> Result<String, AuthError> {
    #[derive(Deserialize)]
    struct Login {
        prompts: std::collections::HashMap<String, Vec<String>>,
    }
    let url = append_path(&endpoints.authorization_endpoint, "/login");
    let (status, login) = get_json::<Login>(http, &url, None).await?;
    match login {
        Ok(login) if status == 200 => Ok(login
            .prompts
            .get("passcode")
            .and_then(|p| p.get(1))
            .cloned()
            .unwrap_or_else(|| {
                format!(
                    "One Time Code (Get one at {})",
                    append_path(&endpoints.authorization_endpoint, "/passcode")
                )
            })),
        Ok(_) | Err(_) => Err(AuthError::Protocol {
            url,
            detail: format!("no login prompts (HTTP {status})"),
        }),
    }
}

/// A Cloud Foundry org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// GUID.
    pub guid: String,
    /// Name.
    pub name: String,
}

fn cc_error(url: &str, status: u16, body: &serde_json::Value) -> AuthError {
    if status >= 500 {
        return AuthError::Unavailable {
            url: url.to_string(),
            status,
        };
    }
    // v2: {"code","description","error_code"}; v3: {"errors":[{"code","title","detail"}]}
    let (code, description) = if let Some(first) = body.get("errors").and_then(|e| e.get(0)) {
        (
            first["title"].as_str().unwrap_or_default().to_string(),
            first["detail"].as_str().unwrap_or_default().to_string(),
        )
    } else {
        (
            body["error_code"].as_str().unwrap_or_default().to_string(),
            body["description"].as_str().unwrap_or_default().to_string(),
        )
    };
    AuthError::CloudController {
        url: url.to_string(),
        status,
        code,
        description,
    }
}

/// Lists the user's orgs, or those named `name`: CC v2 first, v3 when v2 is absent.
pub async fn orgs(
    http: &reqwest::Client,
    api: &str,
    access: &SecretString,
    name: Option<&str>,
) -> Result<Vec<Org>, AuthError> {
    let mut url = append_path(api, "/v2/organizations");
    if let Some(name) = name {
        url = format!(
            "{url}?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("q", &format!("name:{name}"))
                .finish()
        );
    }
    let mut found = Vec::new();
    let mut next = Some(url);
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        let (status, body) = get_json::<serde_json::Value>(http, &url, Some(access)).await?;
        let body = body.unwrap_or(serde_json::Value::Null);
        if status == 404 && found.is_empty() {
            return orgs_v3(http, api, access, name).await;
        }
        if status != 200 {
            return Err(cc_error(&url, status, &body));
        }
        for resource in body["resources"].as_array().into_iter().flatten() {
            if let (Some(guid), Some(n)) = (
                resource["metadata"]["guid"].as_str(),
                resource["entity"]["name"].as_str(),
            ) {
                found.push(Org {
                    guid: guid.to_string(),
                    name: n.to_string(),
                });
            }
        }
        if let Some(next_url) = body["next_url"].as_str()
            && pages < 100
        {
            next = Some(append_path(api, next_url));
        }
    }
    Ok(found)
}

/// One org by GUID (`GET /v2/organizations/<guid>`, v3 when v2 is absent); `None` when it does
/// not exist or the user cannot see it.
pub async fn org_by_guid(
    http: &reqwest::Client,
    api: &str,
    access: &SecretString,
    guid: &str,
) -> Result<Option<Org>, AuthError> {
    let encoded: String = url::form_urlencoded::byte_serialize(guid.as_bytes()).collect();
    for (path, name_at) in [
        (format!("/v2/organizations/{encoded}"), "/entity/name"),
        (format!("/v3/organizations/{encoded}"), "/name"),
    ] {
        let url = append_path(api, &path);
        let (status, body) = get_json::<serde_json::Value>(http, &url, Some(access)).await?;
        let body = body.unwrap_or(serde_json::Value::Null);
        match status {
            200 => {
                let Some(name) = body.pointer(name_at).and_then(|n| n.as_str()) else {
                    return Err(AuthError::Protocol {
                        url,
                        detail: "the org has no name".into(),
                    });
                };
                return Ok(Some(Org {
                    guid: guid.to_string(),
                    name: name.to_string(),
                }));
            }
            // A v2 404 with a v2 error body means "no such org" (v3's errors shape on a v2
            // path means v2 is missing); on the v3 path any 404 means no such org.
            404 if body.get("error_code").is_some() || path.starts_with("/v3/") => {
                return Ok(None);
            }
            404 => continue,
            _ => return Err(cc_error(&url, status, &body)),
        }
    }
    Ok(None)
}

async fn orgs_v3(
    http: &reqwest::Client,
    api: &str,
    access: &SecretString,
    name: Option<&str>,
) -> Result<Vec<Org>, AuthError> {
    let mut url = append_path(api, "/v3/organizations");
    if let Some(name) = name {
        url = format!(
            "{url}?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("names", name)
                .finish()
        );
    }
    let (status, body) = get_json::<serde_json::Value>(http, &url, Some(access)).await?;
    let body = body.unwrap_or(serde_json::Value::Null);
    if status != 200 {
        return Err(cc_error(&url, status, &body));
    }
    Ok(body["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some(Org {
                guid: r["guid"].as_str()?.to_string(),
                name: r["name"].as_str()?.to_string(),
            })
        })
        .collect())
}

/// The `user_name` claim of a UAA access token (no signature check: it is only displayed).
pub fn user_name(access: &SecretString) -> Option<String> {
    crate::registry::jwt_claims(access.expose_secret())?
        .get("user_name")?
        .as_str()
        .map(str::to_string)
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

    #[test]
    fn grant_debug_hides_secrets() {
        let g = Grant::Password {
            username: "u".into(),
            password: SecretString::from("hunter2"),
        };
        assert!(!format!("{g:?}").contains("hunter2"));
    }
}

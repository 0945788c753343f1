//! Endpoint discovery: `GET /v2/info`, falling back to the v3 root document `/` (protocol.md §1).

use serde::Deserialize;

use super::{AuthError, append_path, get_json};

/// Endpoints discovered from the Cloud Controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Login server URL (may carry a path).
    pub authorization_endpoint: String,
    /// UAA URL.
    pub token_endpoint: String,
}

/// `GET /v2/info`.
#[derive(Deserialize)]
struct Info {
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
}

/// A link of the v3 root document.
#[derive(Deserialize)]
struct Href {
    href: String,
}

/// The links of the v3 root document that matter here.
#[derive(Deserialize)]
struct Links {
    login: Option<Href>,
    uaa: Option<Href>,
}

/// `GET /` on newer Cloud Controllers.
#[derive(Deserialize)]
struct Root {
    links: Links,
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
    let root_url = append_path(api, "/");
    let (root_status, root) = get_json::<Root>(http, &root_url, None).await?;
    match root {
        Ok(Root { links }) if root_status == 200 => from_links(links).ok_or(()),
        _ => Err(()),
    }
    .map_err(|()| AuthError::Protocol {
        url,
        detail: format!("no authorization_endpoint (HTTP {status})"),
    })
}

/// The endpoints named by the v3 root's links: `login` for the login server and `uaa` for the
/// token endpoint, each standing in for the other when alone.
fn from_links(links: Links) -> Option<Endpoints> {
    let uaa = links.uaa.map(|h| h.href);
    let login = links.login.map(|h| h.href);
    let auth = login.or_else(|| uaa.clone())?;
    Some(Endpoints {
        token_endpoint: uaa.unwrap_or_else(|| auth.clone()),
        authorization_endpoint: auth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(login: Option<&str>, uaa: Option<&str>) -> Links {
        let href = |h: &str| Href { href: h.into() };
        Links {
            login: login.map(href),
            uaa: uaa.map(href),
        }
    }

    #[test]
    fn v3_links_stand_in_for_each_other() {
        let both = from_links(links(Some("https://login.x"), Some("https://uaa.x"))).unwrap();
        assert_eq!(both.authorization_endpoint, "https://login.x");
        assert_eq!(both.token_endpoint, "https://uaa.x");
        let uaa_only = from_links(links(None, Some("https://uaa.x"))).unwrap();
        assert_eq!(uaa_only.authorization_endpoint, "https://uaa.x");
        let login_only = from_links(links(Some("https://login.x"), None)).unwrap();
        assert_eq!(login_only.token_endpoint, "https://login.x");
        assert!(from_links(links(None, None)).is_none());
    }
}

//! The Cloud Controller's org lookup: CC v2 first, v3 where v2 is absent (protocol.md §4).

use secrecy::SecretString;
use serde::Deserialize;

use super::{AuthError, append_path, get_json};

/// A Cloud Foundry org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    /// GUID.
    pub guid: String,
    /// Name.
    pub name: String,
}

/// A list item that is skipped, not fatal, when it has an unexpected shape.
struct Lenient<T>(Option<T>);

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(Lenient(serde_json::from_value(value).ok()))
    }
}

/// A CC v2 list page.
#[derive(Deserialize, Default)]
struct V2Page {
    #[serde(default)]
    resources: Vec<Lenient<V2Org>>,
    next_url: Option<String>,
}

/// A CC v2 org resource.
#[derive(Deserialize)]
struct V2Org {
    metadata: V2Metadata,
    entity: V2Entity,
}

#[derive(Deserialize)]
struct V2Metadata {
    guid: String,
}

#[derive(Deserialize)]
struct V2Entity {
    name: String,
}

/// A CC v3 list page.
#[derive(Deserialize, Default)]
struct V3Page {
    #[serde(default)]
    resources: Vec<Lenient<V3Org>>,
}

/// A CC v3 org resource.
#[derive(Deserialize)]
struct V3Org {
    guid: String,
    name: String,
}

/// A CC error body: v2 `{"code","description","error_code"}` or v3 `{"errors":[{"title","detail"}]}`.
#[derive(Deserialize, Default)]
struct CcError {
    error_code: Option<String>,
    description: Option<String>,
    #[serde(default)]
    errors: Vec<V3Error>,
}

#[derive(Deserialize)]
struct V3Error {
    #[serde(default)]
    title: String,
    #[serde(default)]
    detail: String,
}

impl CcError {
    /// Whether this is a v2 error body (a v2 path answering with one exists in v2).
    fn is_v2(&self) -> bool {
        self.error_code.is_some()
    }
}

fn cc_error(url: &str, status: u16, body: Result<CcError, String>) -> AuthError {
    if status >= 500 {
        return AuthError::Unavailable {
            url: url.to_string(),
            status,
        };
    }
    let body = body.unwrap_or_default();
    let (code, description) = match body.errors.into_iter().next() {
        Some(first) => (first.title, first.detail),
        None => (
            body.error_code.unwrap_or_default(),
            body.description.unwrap_or_default(),
        ),
    };
    AuthError::CloudController {
        url: url.to_string(),
        status,
        code,
        description,
    }
}

/// Reads an answer that is either the wanted body or a CC error body.
fn split<T: serde::de::DeserializeOwned>(
    body: Result<serde_json::Value, String>,
) -> (Option<T>, Result<CcError, String>) {
    match body {
        Ok(value) => (
            serde_json::from_value(value.clone()).ok(),
            serde_json::from_value(value).map_err(|e| e.to_string()),
        ),
        Err(e) => (None, Err(e)),
    }
}

fn with_query(url: String, key: &str, value: &str) -> String {
    format!(
        "{url}?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair(key, value)
            .finish()
    )
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
        url = with_query(url, "q", &format!("name:{name}"));
    }
    let mut found = Vec::new();
    let mut next = Some(url);
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        let (status, body) = get_json::<serde_json::Value>(http, &url, Some(access)).await?;
        if status == 404 && found.is_empty() {
            return orgs_v3(http, api, access, name).await;
        }
        let (page, error) = split::<V2Page>(body);
        if status != 200 {
            return Err(cc_error(&url, status, error));
        }
        let page = page.unwrap_or_default();
        found.extend(page.resources.into_iter().filter_map(|r| {
            let r = r.0?;
            Some(Org {
                guid: r.metadata.guid,
                name: r.entity.name,
            })
        }));
        if let Some(next_url) = page.next_url
            && pages < 100
        {
            next = Some(append_path(api, &next_url));
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
    let v2_url = append_path(api, &format!("/v2/organizations/{encoded}"));
    let (status, body) = get_json::<serde_json::Value>(http, &v2_url, Some(access)).await?;
    let (org, error) = split::<V2Org>(body);
    match status {
        200 => return named(&v2_url, guid, org.map(|o| o.entity.name)),
        // A v2 404 with a v2 error body means "no such org"; any other 404 means v2 is missing.
        404 if error.as_ref().is_ok_and(CcError::is_v2) => return Ok(None),
        404 => {}
        _ => return Err(cc_error(&v2_url, status, error)),
    }
    let v3_url = append_path(api, &format!("/v3/organizations/{encoded}"));
    let (status, body) = get_json::<serde_json::Value>(http, &v3_url, Some(access)).await?;
    let (org, error) = split::<V3Org>(body);
    match status {
        200 => named(&v3_url, guid, org.map(|o| o.name)),
        404 => Ok(None),
        _ => Err(cc_error(&v3_url, status, error)),
    }
}

fn named(url: &str, guid: &str, name: Option<String>) -> Result<Option<Org>, AuthError> {
    match name {
        Some(name) => Ok(Some(Org {
            guid: guid.to_string(),
            name,
        })),
        None => Err(AuthError::Protocol {
            url: url.to_string(),
            detail: "the org has no name".into(),
        }),
    }
}

async fn orgs_v3(
    http: &reqwest::Client,
    api: &str,
    access: &SecretString,
    name: Option<&str>,
) -> Result<Vec<Org>, AuthError> {
    let mut url = append_path(api, "/v3/organizations");
    if let Some(name) = name {
        url = with_query(url, "names", name);
    }
    let (status, body) = get_json::<serde_json::Value>(http, &url, Some(access)).await?;
    let (page, error) = split::<V3Page>(body);
    if status != 200 {
        return Err(cc_error(&url, status, error));
    }
    Ok(page
        .unwrap_or_default()
        .resources
        .into_iter()
        .filter_map(|r| {
            let r = r.0?;
            Some(Org {
                guid: r.guid,
                name: r.name,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cc_errors_read_v2_and_v3_bodies() {
        let v2 = serde_json::json!({"code": 1000, "description": "Invalid Auth Token", "error_code": "CF-InvalidAuthToken"});
        let (_, body) = split::<V2Page>(Ok(v2));
        assert!(body.as_ref().unwrap().is_v2());
        match cc_error("u", 401, body) {
            AuthError::CloudController {
                code, description, ..
            } => {
                assert_eq!(code, "CF-InvalidAuthToken");
                assert_eq!(description, "Invalid Auth Token");
            }
            other => panic!("{other:?}"),
        }
        let v3 = serde_json::json!({"errors": [{"code": 10002, "title": "CF-NotAuthenticated", "detail": "Authentication error"}]});
        let (_, body) = split::<V3Page>(Ok(v3));
        assert!(!body.as_ref().unwrap().is_v2());
        match cc_error("u", 401, body) {
            AuthError::CloudController {
                code, description, ..
            } => {
                assert_eq!(code, "CF-NotAuthenticated");
                assert_eq!(description, "Authentication error");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            cc_error("u", 503, Err("not json".into())),
            AuthError::Unavailable { status: 503, .. }
        ));
    }

    #[test]
    fn v2_pages_read_resources_and_next_url() {
        let page = serde_json::json!({"resources": [{"metadata": {"guid": "g1"}, "entity": {"name": "dev"}}, {"metadata": {}}], "next_url": "/v2/organizations?page=2"});
        let (page, _) = split::<V2Page>(Ok(page));
        let page = page.unwrap();
        let first = page.resources[0].0.as_ref().unwrap();
        assert_eq!(first.metadata.guid, "g1");
        assert_eq!(first.entity.name, "dev");
        assert!(page.resources[1].0.is_none(), "a malformed item is skipped");
        assert_eq!(page.next_url.as_deref(), Some("/v2/organizations?page=2"));
    }
}

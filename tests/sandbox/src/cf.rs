//! Cloud Foundry Cloud Controller: `GET /v2/info`, `GET /`, org lookup (protocol.md §1.2, §4).
//!
//! Discovery is unauthenticated and points at the emulated login server (with its path) and
//! UAA. Org endpoints need a UAA bearer token ([`crate::uaa::authenticate`]) and show only the
//! orgs the user belongs to, in the v2 and v3 shapes and with the CF error bodies.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::uaa::BearerError;
use crate::{SeedOrg, SeedUser, World};

/// The CC API versions advertised.
const V2_VERSION: &str = "2.92.0";
const V3_VERSION: &str = "3.27.0";
/// Timestamps of the seeded orgs.
const CREATED_AT: &str = "2018-03-01T12:00:00Z";

/// The Cloud Controller's routes.
pub fn router(world: Arc<World>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/v2/info", get(info))
        .route("/v2/organizations", get(v2_organizations))
        .route("/v2/organizations/{guid}", get(v2_organization))
        .route("/v3/organizations", get(v3_organizations))
        .route("/v3/organizations/{guid}", get(v3_organization))
        .with_state(world)
}

/// `GET /v2/info`, as the public Bluemix sample.
async fn info(State(world): State<Arc<World>>) -> Response {
    let domain = &world.config.domain;
    axum::Json(json!({
        "name": "Bluemix",
        "build": "270019",
        "support": "http://ibm.biz/bluemix-supportinfo",
        "version": 0,
        "description": "IBM Bluemix Dedicated (sandbox)",
        "authorization_endpoint": world.urls.login,
        "token_endpoint": world.urls.uaa,
        "min_cli_version": null,
        "min_recommended_cli_version": null,
        "api_version": V2_VERSION,
        "app_ssh_endpoint": format!("ssh.{domain}:2222"),
        "app_ssh_host_key_fingerprint": "c7:5b:2e:4a:60:e2:1f:1b:1a:0d:3b:98:7e:26:91:c4",
        "app_ssh_oauth_client": "ssh-proxy",
        "doppler_logging_endpoint": format!("wss://doppler.{domain}:443"),
    }))
    .into_response()
}

/// `GET /`: the root links document of newer CC releases.
async fn root(State(world): State<Arc<World>>) -> Response {
    let api = &world.urls.api;
    let domain = &world.config.domain;
    axum::Json(json!({
        "links": {
            "self": {"href": api},
            "bits_service": null,
            "cloud_controller_v2": {"href": format!("{api}/v2"), "meta": {"version": V2_VERSION}},
            "cloud_controller_v3": {"href": format!("{api}/v3"), "meta": {"version": V3_VERSION}},
            "network_policy_v0": {"href": format!("{api}/networking/v0/external")},
            "network_policy_v1": {"href": format!("{api}/networking/v1/external")},
            "login": {"href": world.urls.login},
            "uaa": {"href": world.urls.uaa},
            "credhub": null,
            "routing": {"href": format!("{api}/routing")},
            "logging": {"href": format!("wss://doppler.{domain}:443")},
            "app_ssh": {
                "href": format!("ssh.{domain}:2222"),
                "meta": {
                    "host_key_fingerprint": "c7:5b:2e:4a:60:e2:1f:1b:1a:0d:3b:98:7e:26:91:c4",
                    "oauth_client": "ssh-proxy"
                }
            }
        }
    }))
    .into_response()
}

/// CC API generation, for the error shape.
#[derive(Clone, Copy)]
enum Version {
    V2,
    V3,
}

fn cf_error(
    version: Version,
    status: StatusCode,
    code: u32,
    title: &str,
    detail: &str,
) -> Response {
    let body = match version {
        Version::V2 => json!({"code": code, "description": detail, "error_code": title}),
        Version::V3 => json!({"errors": [{"detail": detail, "title": title, "code": code}]}),
    };
    (status, axum::Json(body)).into_response()
}

#[allow(
    clippy::result_large_err,
    reason = "the error is the HTTP response itself, built once per request"
)]
fn authenticate(
    world: &World,
    headers: &HeaderMap,
    version: Version,
) -> Result<SeedUser, Response> {
    crate::uaa::authenticate(world, headers).map_err(|e| match e {
        BearerError::Missing => cf_error(
            version,
            StatusCode::UNAUTHORIZED,
            10002,
            "CF-NotAuthenticated",
            "Authentication error",
        ),
        BearerError::Invalid | BearerError::Expired => cf_error(
            version,
            StatusCode::UNAUTHORIZED,
            1000,
            "CF-InvalidAuthToken",
            "Invalid Auth Token",
        ),
    })
}

fn visible_orgs<'a>(world: &'a World, user: &SeedUser) -> Vec<&'a SeedOrg> {
    world
        .config
        .orgs
        .iter()
        .filter(|o| user.orgs.contains(&o.name))
        .collect()
}

/// A stable quota definition GUID per org.
fn quota_guid(org: &SeedOrg) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("quota:{}", org.guid).as_bytes(),
    )
    .to_string()
}

fn v2_org(org: &SeedOrg) -> Value {
    let url = format!("/v2/organizations/{}", org.guid);
    let quota = quota_guid(org);
    json!({
        "metadata": {
            "guid": org.guid,
            "url": url,
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
        },
        "entity": {
            "name": org.name,
            "billing_enabled": false,
            "quota_definition_guid": quota,
            "status": "active",
            "default_isolation_segment_guid": null,
            "quota_definition_url": format!("/v2/quota_definitions/{quota}"),
            "spaces_url": format!("{url}/spaces"),
            "domains_url": format!("{url}/domains"),
            "private_domains_url": format!("{url}/private_domains"),
            "users_url": format!("{url}/users"),
            "managers_url": format!("{url}/managers"),
            "billing_managers_url": format!("{url}/billing_managers"),
            "auditors_url": format!("{url}/auditors"),
            "app_events_url": format!("{url}/app_events"),
            "space_quota_definitions_url": format!("{url}/space_quota_definitions"),
        }
    })
}

fn v3_org(world: &World, org: &SeedOrg) -> Value {
    let href = format!("{}/v3/organizations/{}", world.urls.api, org.guid);
    let quota = quota_guid(org);
    json!({
        "guid": org.guid,
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
        "name": org.name,
        "suspended": false,
        "relationships": {"quota": {"data": {"guid": quota}}},
        "metadata": {"labels": {}, "annotations": {}},
        "links": {
            "self": {"href": href},
            "domains": {"href": format!("{href}/domains")},
            "default_domain": {"href": format!("{href}/domains/default")},
            "quota": {"href": format!("{}/v3/organization_quotas/{quota}", world.urls.api)},
        }
    })
}

fn query_pairs(query: &Option<String>) -> Vec<(String, String)> {
    query
        .as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /v2/organizations[?q=name:X][&page=N][&results-per-page=M]`.
async fn v2_organizations(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let user = match authenticate(&world, &headers, Version::V2) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let pairs = query_pairs(&query);
    let mut orgs = visible_orgs(&world, &user);
    let mut q_values = Vec::new();
    let mut page = 1usize;
    let mut per_page = 50usize;
    for (key, value) in &pairs {
        match key.as_str() {
            "q" => {
                let Some(name) = value.strip_prefix("name:") else {
                    return cf_error(
                        Version::V2,
                        StatusCode::BAD_REQUEST,
                        1001,
                        "CF-BadQueryParameter",
                        &format!("The query parameter is invalid: {value}"),
                    );
                };
                orgs.retain(|o| o.name == name);
                q_values.push(value.clone());
            }
            "page" | "results-per-page" => {
                let Some(n) = value.parse::<usize>().ok().filter(|n| *n > 0) else {
                    return cf_error(
                        Version::V2,
                        StatusCode::BAD_REQUEST,
                        1001,
                        "CF-BadQueryParameter",
                        &format!(
                            "The query parameter is invalid: {key} must be a positive integer"
                        ),
                    );
                };
                if key == "page" {
                    page = n;
                } else {
                    per_page = n;
                }
            }
            _ => {}
        }
    }
    let total = orgs.len();
    let total_pages = total.div_ceil(per_page);
    let page_url = |p: usize| {
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        serializer.append_pair("order-direction", "asc");
        serializer.append_pair("page", &p.to_string());
        for q in &q_values {
            serializer.append_pair("q", q);
        }
        serializer.append_pair("results-per-page", &per_page.to_string());
        format!("/v2/organizations?{}", serializer.finish())
    };
    let resources: Vec<Value> = orgs
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|o| v2_org(o))
        .collect();
    axum::Json(json!({
        "total_results": total,
        "total_pages": total_pages,
        "prev_url": if page > 1 { Value::String(page_url(page - 1)) } else { Value::Null },
        "next_url": if page < total_pages { Value::String(page_url(page + 1)) } else { Value::Null },
        "resources": resources,
    }))
    .into_response()
}

/// `GET /v2/organizations/<guid>`: 404 `CF-OrganizationNotFound` unless the user is a member.
async fn v2_organization(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    Path(guid): Path<String>,
) -> Response {
    let user = match authenticate(&world, &headers, Version::V2) {
        Ok(u) => u,
        Err(r) => return r,
    };
    match visible_orgs(&world, &user)
        .into_iter()
        .find(|o| o.guid == guid)
    {
        Some(org) => axum::Json(v2_org(org)).into_response(),
        None => cf_error(
            Version::V2,
            StatusCode::NOT_FOUND,
            30003,
            "CF-OrganizationNotFound",
            &format!("The Organization could not be found: {guid}"),
        ),
    }
}

/// `GET /v3/organizations[?names=a,b][&guids=…]`.
async fn v3_organizations(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let user = match authenticate(&world, &headers, Version::V3) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mut orgs = visible_orgs(&world, &user);
    for (key, value) in query_pairs(&query) {
        let wanted: Vec<&str> = value.split(',').collect();
        match key.as_str() {
            "names" => orgs.retain(|o| wanted.contains(&o.name.as_str())),
            "guids" => orgs.retain(|o| wanted.contains(&o.guid.as_str())),
            _ => {}
        }
    }
    let self_href = match &query {
        Some(q) => format!("{}/v3/organizations?{q}", world.urls.api),
        None => format!("{}/v3/organizations", world.urls.api),
    };
    let resources: Vec<Value> = orgs.iter().map(|o| v3_org(&world, o)).collect();
    axum::Json(json!({
        "pagination": {
            "total_results": resources.len(),
            "total_pages": 1,
            "first": {"href": self_href},
            "last": {"href": self_href},
            "next": null,
            "previous": null,
        },
        "resources": resources,
    }))
    .into_response()
}

/// `GET /v3/organizations/<guid>`: 404 `CF-ResourceNotFound` unless the user is a member.
async fn v3_organization(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    Path(guid): Path<String>,
) -> Response {
    let user = match authenticate(&world, &headers, Version::V3) {
        Ok(u) => u,
        Err(r) => return r,
    };
    match visible_orgs(&world, &user)
        .into_iter()
        .find(|o| o.guid == guid)
    {
        Some(org) => axum::Json(v3_org(&world, org)).into_response(),
        None => cf_error(
            Version::V3,
            StatusCode::NOT_FOUND,
            10010,
            "CF-ResourceNotFound",
            "Organization not found",
        ),
    }
}

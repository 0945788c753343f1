//! Switches for behaviours where a real Dedicated environment may differ from the sandbox's
//! defaults: the items of the README's "Inferred behaviours" and what issue 8 found in IBM's
//! clients. Each is a [`Variant`] in [`crate::SandboxConfig::variants`] (`up --variant NAME`).
//!
//! Most are applied by [`apply`], a layer around each server that rewrites requests and
//! answers, so the handlers keep the documented behaviour; the UAA and IAM handlers read
//! [`Variant::ApikeyIamOnly`] and [`Variant::IamExchangeOnly`] themselves.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::{Service, World};

/// One way a real environment may differ.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// The UAA refuses `username=apikey` as bad credentials (an IBMid environment): API keys
    /// work only through IAM.
    ApikeyIamOnly,
    /// IAM issues no `uaa_token`; its access token must be exchanged at the UAA
    /// (`grant_type=iam_token`).
    IamExchangeOnly,
    /// `GET /v2/` answers 404 with an HTML page (no Docker Registry v2 API at the root).
    NoV2,
    /// `GET /v2/` answers 200 with an HTML page.
    V2Html,
    /// The v2 challenge has unquoted values separated by `, ` (as icr.io).
    RealmUnquoted,
    /// The v2 challenge's realm is on another host (`localhost` instead of `127.0.0.1`).
    RealmOtherHost,
    /// The v2 answer carries a Basic challenge (with a comma in its quoted realm) before the
    /// Bearer one, in one header.
    MultiChallenge,
    /// The v2 challenge uses a scheme the plugin does not know (`Negotiate`).
    UnknownChallenge,
    /// Token list, get and revoke answer 400 when the `Organization` header is sent, and scope
    /// by the token (revoke) or the user's first org (list) without it.
    OrgHeaderListRejected,
    /// `GET /login` answers with an HTML page whatever the `Accept` header.
    LoginHtml,
    /// The Cloud Controller shows org names in upper case and filters `q=name:` case-sensitively.
    OrgCase,
    /// No `/v3` on the Cloud Controller (a 2018 Dedicated CC).
    NoV3,
    /// `GET /v2/organizations/<guid>` answers 404 `CF-NotFound` "Unknown request", as a route
    /// the Cloud Controller does not serve (the org list `/v2/organizations` works).
    NoOrgByGuid,
    /// No root document `GET /` on the Cloud Controller.
    NoRoot,
    /// The UAA does not rotate refresh tokens: a refresh returns the same one, still valid
    /// (UAA's default configuration; the sandbox rotates by default).
    RefreshNotRotated,
    /// The mint answers 201 and revokes answer 200 with a JSON body.
    OtherStatusCodes,
    /// Token list items carry no `_id` (only the token) and no `readonly`, and `expiry: 0` for
    /// non-expiring tokens (all Go `omitempty` fields, as in bluemix-go's fixtures).
    ListMinimal,
    /// Manifest answers carry no `Docker-Content-Digest` header (some registries and caching
    /// proxies): a client must compute the digest from the manifest it `GET`s.
    NoDigestHeader,
    /// IAM refreshes a refresh token whatever the client id (by default the client must be the
    /// original grant's, and a `default`-client grant cannot be refreshed: `BXNIM0137E`).
    IamRefreshAnyClient,
    /// IAM answers `"refresh_token":"not_supported"` to a service ID's API key.
    ServiceIdRefreshNotSupported,
    /// Deleting a service ID that still has API keys answers 409 once (the keys are deleted);
    /// the retry answers 204.
    ServiceIdDeleteConflict,
    /// Policies accept the generic `crn:v1:bluemix:public:iam::::serviceRole:*` role ids as
    /// container-registry roles (by default only the documented `container-registry` form).
    GenericServiceRole,
    /// Policies scoped with a `region` attribute match nothing (the attribute name the registry
    /// checks would be another): such a policy grants no access.
    PolicyRegionUnmatched,
    /// The icr.io realm answers `token` without `access_token`.
    IcrRealmTokenOnly,
    /// The icr.io challenge quotes its values, comma-separated without spaces (the spec style).
    IcrRealmQuoted,
    /// `GET /api/v1/namespaces` lists nothing to an identity with only namespace-scoped
    /// policies (only account-wide readers see names).
    IcrNamespacesUnlisted,
    /// The restricted `fr2.icr.io` (`eu-fr2`) and `private.fr2.icr.io` are served too.
    IcrFr2,
}

impl crate::SandboxConfig {
    /// Whether `variant` is on.
    pub fn has(&self, variant: Variant) -> bool {
        self.variants.contains(&variant)
    }
}

/// The layer around server `service` applying the variants that are on.
pub async fn apply(
    State((world, service)): State<(Arc<World>, Service)>,
    mut request: Request,
    next: Next,
) -> Response {
    let config = &world.config;
    if config.variants.is_empty() {
        return next.run(request).await;
    }
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    match service {
        Service::Login if config.has(Variant::LoginHtml) && path.ends_with("/login") => {
            request
                .headers_mut()
                .insert(header::ACCEPT, HeaderValue::from_static("text/html"));
            next.run(request).await
        }
        Service::CloudController => cloud_controller(&world, request, next).await,
        Service::Registry => {
            if let Some(early) = registry_request(&world, &method, &path, &mut request) {
                return early;
            }
            let response = next.run(request).await;
            registry_response(&world, &method, &path, response).await
        }
        _ => next.run(request).await,
    }
}

fn html(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!("<!DOCTYPE html><html><body><h1>{text}</h1></body></html>"),
    )
        .into_response()
}

async fn cloud_controller(world: &World, mut request: Request, next: Next) -> Response {
    let config = &world.config;
    let path = request.uri().path().to_string();
    if config.has(Variant::NoRoot) && path == "/" {
        return html(StatusCode::NOT_FOUND, "404 Not Found");
    }
    if config.has(Variant::NoV3) && path.starts_with("/v3") {
        let body =
            json!({"code": 10000, "description": "Unknown request", "error_code": "CF-NotFound"});
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    if config.has(Variant::NoOrgByGuid)
        && path
            .strip_prefix("/v2/organizations/")
            .is_some_and(|guid| !guid.is_empty())
    {
        let body =
            json!({"code": 10000, "description": "Unknown request", "error_code": "CF-NotFound"});
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    if !(config.has(Variant::OrgCase) && path.contains("/organizations")) {
        return next.run(request).await;
    }
    // Names are shown in upper case and compared exactly: a lower-case query finds nothing.
    let query = request.uri().query().unwrap_or_default().to_string();
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    for (key, value) in &mut pairs {
        let lower = match key.as_str() {
            "q" => value.strip_prefix("name:").map(|n| n != n.to_uppercase()),
            "names" => Some(*value != value.to_uppercase()),
            _ => None,
        };
        if let Some(lower) = lower {
            if lower {
                value.push_str("-no-such-org");
            }
            *value = value.to_lowercase();
        }
    }
    let new_query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    let uri = if new_query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{new_query}")
    };
    *request.uri_mut() = uri.parse().expect("a valid rewritten URI");
    let response = next.run(request).await;
    rewrite_json(response, |body| {
        // An org is `{"entity":{"name"}}` (v2) or `{"guid","name"}` (v3).
        fn upper(org: &mut Value) {
            let name = if org.get("entity").is_some() {
                org.get_mut("entity").and_then(|e| e.get_mut("name"))
            } else if org.get("guid").is_some() {
                org.get_mut("name")
            } else {
                None
            };
            if let Some(name) = name
                && let Some(text) = name.as_str()
            {
                *name = json!(text.to_uppercase());
            }
        }
        if let Some(resources) = body.get_mut("resources").and_then(Value::as_array_mut) {
            resources.iter_mut().for_each(upper);
        }
        upper(body);
    })
    .await
}

/// Registry request rewrites; `Some` answers at once.
fn registry_request(
    world: &World,
    method: &Method,
    path: &str,
    request: &mut Request,
) -> Option<Response> {
    let config = &world.config;
    if path == "/v2/" && config.has(Variant::NoV2) {
        return Some(html(StatusCode::NOT_FOUND, "404 page not found"));
    }
    if path == "/v2/" && config.has(Variant::V2Html) {
        return Some(html(StatusCode::OK, "Welcome to the registry"));
    }
    let managed =
        path.starts_with("/api/v1/tokens") && !(path == "/api/v1/tokens" && method == Method::POST);
    if !(managed && config.has(Variant::OrgHeaderListRejected)) {
        return None;
    }
    if request.headers().contains_key("organization") {
        let body = json!({
            "code": "CRG0001E",
            "message": "The Organization header is not supported on this request.",
            "request-id": uuid::Uuid::new_v4().to_string(),
        });
        return Some((StatusCode::BAD_REQUEST, axum::Json(body)).into_response());
    }
    // Scope by what the request names: the token's org, else the user's first org.
    let id = path.strip_prefix("/api/v1/tokens/").unwrap_or_default();
    let org = world.registry.token(id).map(|t| t.org).or_else(|| {
        let user = crate::uaa::authenticate(world, request.headers()).ok()?;
        let first = user.orgs.first()?;
        world
            .config
            .orgs
            .iter()
            .find(|o| &o.name == first)
            .map(|o| o.guid.clone())
    })?;
    request.headers_mut().insert(
        "organization",
        HeaderValue::from_str(&org).expect("a GUID is a valid header"),
    );
    None
}

async fn registry_response(
    world: &World,
    method: &Method,
    path: &str,
    response: Response,
) -> Response {
    let config = &world.config;
    let mut response = response;
    if path.starts_with("/v2/") && response.status() == StatusCode::UNAUTHORIZED {
        rewrite_challenge(world, &mut response);
    }
    if path.contains("/manifests/") && config.has(Variant::NoDigestHeader) {
        response.headers_mut().remove("docker-content-digest");
    }
    if !path.starts_with("/api/v1/tokens") {
        return response;
    }
    if config.has(Variant::OtherStatusCodes) {
        if method == Method::POST && response.status() == StatusCode::OK {
            *response.status_mut() = StatusCode::CREATED;
        }
        if method == Method::DELETE && response.status() == StatusCode::NO_CONTENT {
            return axum::Json(json!({"message": "Token deleted"})).into_response();
        }
    }
    if config.has(Variant::ListMinimal) && method == Method::GET && path == "/api/v1/tokens" {
        return rewrite_json(response, |body| {
            if let Some(tokens) = body.get_mut("tokens").and_then(Value::as_array_mut) {
                for t in tokens.iter_mut().filter_map(Value::as_object_mut) {
                    t.remove("_id");
                    t.remove("readonly");
                    t.entry("expiry").or_insert(json!(0));
                }
            }
        })
        .await;
    }
    response
}

fn rewrite_challenge(world: &World, response: &mut Response) {
    let config = &world.config;
    let Some(original) = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return;
    };
    let mut value = original.clone();
    if config.has(Variant::RealmOtherHost) {
        let other = world.urls.registry.replace("127.0.0.1", "localhost");
        value = value.replace(&world.urls.registry, &other);
    }
    if config.has(Variant::RealmUnquoted) {
        // Unquote every value without a comma; `, ` between parameters.
        let (scheme, params) = value.split_once(' ').unwrap_or((&value, ""));
        let parts: Vec<String> = params
            .split("\",")
            .map(|p| {
                let p = p.trim_end_matches('"');
                match p.split_once("=\"") {
                    Some((k, v)) if !v.contains(',') => format!("{k}={v}"),
                    Some((k, v)) => format!("{k}=\"{v}\""),
                    None => p.to_string(),
                }
            })
            .collect();
        value = format!("{scheme} {}", parts.join(", "));
    }
    if config.has(Variant::MultiChallenge) {
        value = format!("Basic realm=\"sandbox, registry\", {value}");
    }
    if config.has(Variant::UnknownChallenge) {
        value = "Negotiate".to_string();
    }
    if value != original {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&value).expect("a valid challenge"),
        );
    }
}

async fn rewrite_json(response: Response, change: impl FnOnce(&mut Value)) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 << 20).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "body").into_response();
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    change(&mut value);
    let bytes = serde_json::to_vec(&value).expect("JSON serializes");
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

//! Docker Registry v2 at the icr.io front: the token realm and the read side.
//!
//! Challenge: `Bearer realm=https://<host>/oauth/token, service=registry[, scope=...][, error=...]`
//! (unquoted, as observed; `icr-realm-quoted` quotes the values). The realm (`GET` with Basic
//! credentials, or `POST` with a `grant_type=password` form) answers 401 without credentials
//! and 400 for a wrong user name/password combination (registry_access.md). Its answer has
//! `token`, `access_token`, `expires_in` and `issued_at` (INFERRED: `icr-realm-token-only`
//! drops `access_token`).

#![allow(
    clippy::result_large_err,
    reason = "errors are the HTTP responses themselves, built once per request"
)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::{Host, host};
use crate::World;
use crate::iam::policy::{Access, decide};
use crate::registry::SCHEMA2;
use crate::variants::Variant;

/// Lifetime of a realm bearer token.
const BEARER_TTL: u64 = 300;
/// ICR's message for refused credentials.
const BAD_LOGIN: &str =
    "The login credentials are not valid, or your IBM Cloud account is not active.";

fn v2_error(status: StatusCode, code: &str, message: &str, detail: Value) -> Response {
    let mut response = (
        status,
        axum::Json(json!({"errors": [{"code": code, "message": message, "detail": detail}]})),
    )
        .into_response();
    response.headers_mut().insert(
        "docker-distribution-api-version",
        "registry/2.0".parse().expect("valid"),
    );
    response
}

/// The 401 with the challenge for `host`.
fn challenge(
    world: &World,
    host: &Host,
    scope: Option<(&str, &str)>,
    error: Option<&str>,
    (code, message): (&str, &str),
) -> Response {
    let mut params = vec![
        ("realm", format!("https://{}/oauth/token", host.authority)),
        ("service", "registry".to_string()),
    ];
    if let Some((name, actions)) = scope {
        params.push(("scope", format!("repository:{name}:{actions}")));
    }
    if let Some(e) = error {
        params.push(("error", e.to_string()));
    }
    let quoted = world.config.has(Variant::IcrRealmQuoted);
    let rendered: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            if quoted {
                format!("{k}=\"{v}\"")
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    let separator = if quoted { "," } else { ", " };
    let value = format!("Bearer {}", rendered.join(separator));
    let detail = match scope {
        Some((name, actions)) => json!([{"Type": "repository", "Name": name, "Action": actions}]),
        None => Value::Null,
    };
    let mut response = v2_error(StatusCode::UNAUTHORIZED, code, message, detail);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        value.parse().expect("a valid challenge"),
    );
    response
}

/// Who the realm's credentials are: (`iam_id`, account).
#[allow(
    clippy::result_large_err,
    reason = "the error is the HTTP response itself, built once per request"
)]
fn identify(world: &World, user: &str, password: &str) -> Result<(String, String), Response> {
    let bad = || {
        v2_error(
            StatusCode::BAD_REQUEST,
            "UNAUTHORIZED",
            BAD_LOGIN,
            Value::Null,
        )
    };
    let (iam_id, account) = match user {
        "iamapikey" => {
            let mut inner = world.iam.lock();
            let key = inner
                .api_keys
                .iter_mut()
                .find(|k| k.value == password && !k.deleted)
                .ok_or_else(bad)?;
            if key.disabled || key.expires_epoch.is_some_and(|e| crate::now() >= e) {
                return Err(bad());
            }
            if key.refusals_left > 0 {
                // IAM policy propagation: a fresh key is not known to the registry yet.
                key.refusals_left -= 1;
                return Err(v2_error(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    BAD_LOGIN,
                    Value::Null,
                ));
            }
            (key.iam_id.clone(), key.account_id.clone())
        }
        "iambearer" => {
            let caller = crate::iam::verify_access_token(world, password).map_err(|_| bad())?;
            (caller.iam_id, caller.account)
        }
        "iamrefresh" => {
            let inner = world.iam.lock();
            let r = inner.refresh.get(password).ok_or_else(bad)?;
            if crate::now() >= r.exp {
                return Err(bad());
            }
            (r.iam_id.clone(), r.account.clone())
        }
        // `token` (registry tokens) stopped working on 19 August 2021; anything else is wrong.
        _ => return Err(bad()),
    };
    if crate::iam::token::subject_of(world, &iam_id).is_none() {
        return Err(bad());
    }
    Ok((iam_id, account))
}

/// The namespaces of `account` in `region`.
pub(crate) fn account_namespaces(world: &World, account: &str, region: &str) -> Vec<String> {
    let mut names: Vec<String> = world
        .config
        .ibm
        .namespaces
        .iter()
        .filter(|n| n.account == account && n.region == region)
        .map(|n| n.name.clone())
        .collect();
    names.sort();
    names
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Issues the realm's bearer for the `scope`s asked (repeated or space-separated).
fn issue(
    world: &World,
    host: &Host,
    pairs: &[(String, String)],
    credentials: Option<(String, String)>,
) -> Response {
    if let Some((_, service)) = pairs.iter().find(|(k, _)| k == "service")
        && service != "registry"
    {
        return v2_error(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED",
            &format!("unknown service: {service}"),
            Value::Null,
        );
    }
    let Some((user, password)) = credentials else {
        return v2_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required",
            Value::Null,
        );
    };
    let (iam_id, account) = match identify(world, &user, &password) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let namespaces = account_namespaces(world, &account, host.region);
    let mut access = Vec::new();
    let scopes = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split_whitespace());
    for scope in scopes {
        let Some(("repository", rest)) = scope.split_once(':') else {
            continue;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        let namespace = name.split('/').next().unwrap_or("");
        let allowed = if namespaces.iter().any(|n| n == namespace) {
            decide(world, &account, &iam_id, host.region, Some(namespace))
        } else {
            Access::default()
        };
        let granted: Vec<&str> = actions
            .split(',')
            .filter(|a| (*a == "pull" && allowed.pull) || (*a == "push" && allowed.push))
            .collect();
        access.push(json!({"type": "repository", "name": name, "actions": granted}));
    }
    let now = crate::now();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!("registry"));
    claims.insert("sub".into(), json!(iam_id));
    claims.insert("aud".into(), json!(host.name));
    claims.insert("exp".into(), json!(now + BEARER_TTL));
    claims.insert("nbf".into(), json!(now));
    claims.insert("iat".into(), json!(now));
    claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    claims.insert("account".into(), json!(account));
    claims.insert("access".into(), Value::Array(access));
    let bearer = crate::jwt::sign(&world.icr.bearer_key, &claims);
    let issued_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formatting of now");
    let mut body = json!({"token": bearer, "access_token": bearer, "expires_in": BEARER_TTL, "issued_at": issued_at});
    if world.config.has(Variant::IcrRealmTokenOnly) {
        body.as_object_mut().expect("object").remove("access_token");
    }
    axum::Json(body).into_response()
}

fn pairs_of(text: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

/// `GET /oauth/token?service=registry&scope=repository:<ns>/<repo>:pull` with Basic credentials.
pub(crate) async fn realm_get(
    State(world): State<Arc<World>>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let host = match host(&world, &headers, &uri) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let pairs = pairs_of(query.as_deref().unwrap_or(""));
    issue(&world, &host, &pairs, basic(&headers))
}

/// `POST /oauth/token` with `grant_type=password&username=&password=&service=&scope=`.
pub(crate) async fn realm_post(
    State(world): State<Arc<World>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let host = match host(&world, &headers, &uri) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let pairs = pairs_of(&String::from_utf8_lossy(&body));
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if field("grant_type").as_deref() != Some("password") {
        return v2_error(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED",
            "unsupported grant_type",
            Value::Null,
        );
    }
    let credentials = field("username").zip(field("password"));
    issue(&world, &host, &pairs, credentials)
}

/// The actions the request's bearer grants on `name` at `host`; `Err` if it is not valid there.
fn bearer_actions(
    world: &World,
    host: &Host,
    headers: &HeaderMap,
    name: &str,
) -> Result<Vec<String>, ()> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .ok_or(())?;
    let claims = crate::jwt::verify(&world.icr.bearer_key, token).ok_or(())?;
    let exp = claims.get("exp").and_then(Value::as_u64).ok_or(())?;
    if crate::now() >= exp || claims.get("aud").and_then(Value::as_str) != Some(host.name.as_str())
    {
        return Err(());
    }
    Ok(claims
        .get("access")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|a| a["type"] == "repository" && a["name"] == name)
        .flat_map(|a| a["actions"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect())
}

enum Path {
    Base,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
}

fn parse(path: &str) -> Option<Path> {
    let rest = path.strip_prefix("/v2/")?;
    if rest.is_empty() {
        return Some(Path::Base);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Path::Tags(name.to_string()));
    }
    if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
        return Some(Path::Manifest(name.to_string(), reference.to_string()));
    }
    rest.rsplit_once("/blobs/")
        .map(|(name, digest)| Path::Blob(name.to_string(), digest.to_string()))
}

/// Every `/v2/` request.
pub(crate) async fn v2(
    State(world): State<Arc<World>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let host = match host(&world, &headers, &uri) {
        Ok(h) => h,
        Err(r) => return r,
    };
    let Some(path) = parse(uri.path()) else {
        return v2_error(StatusCode::NOT_FOUND, "NOT_FOUND", "not found", Value::Null);
    };
    let unauthorized = ("UNAUTHORIZED", "authentication required");
    let name = match &path {
        Path::Base => {
            return match bearer_actions(&world, &host, &headers, "") {
                Ok(_) => with_version(axum::Json(json!({})).into_response()),
                Err(()) => challenge(&world, &host, None, None, unauthorized),
            };
        }
        Path::Tags(n) | Path::Manifest(n, _) | Path::Blob(n, _) => n.clone(),
    };
    if !matches!(method, Method::GET | Method::HEAD) {
        return v2_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "The sandbox's icr.io front is read-only.",
            Value::Null,
        );
    }
    let actions = match bearer_actions(&world, &host, &headers, &name) {
        Ok(a) => a,
        Err(()) => return challenge(&world, &host, Some((&name, "pull")), None, unauthorized),
    };
    if !actions.iter().any(|a| a == "pull") {
        return challenge(
            &world,
            &host,
            Some((&name, "pull")),
            Some("insufficient_scope"),
            ("DENIED", "requested access to the resource is denied"),
        );
    }
    serve(&world, &host, path, &name, &headers, method == Method::HEAD)
}

fn with_version(mut response: Response) -> Response {
    response.headers_mut().insert(
        "docker-distribution-api-version",
        "registry/2.0".parse().expect("valid"),
    );
    response
}

fn serve(
    world: &World,
    host: &Host,
    path: Path,
    name: &str,
    headers: &HeaderMap,
    head: bool,
) -> Response {
    let inner = world.icr.lock();
    let repo = inner
        .repos
        .get(&(host.region.to_string(), name.to_string()));
    let unknown = || {
        v2_error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
            json!({"name": name}),
        )
    };
    match path {
        Path::Tags(_) => match repo {
            Some(r) => with_version(
                axum::Json(json!({"name": name, "tags": r.tags.keys().collect::<Vec<_>>()}))
                    .into_response(),
            ),
            None => unknown(),
        },
        Path::Manifest(_, reference) => {
            let Some(repo) = repo else { return unknown() };
            let by_tag = !reference.starts_with("sha256:");
            let digest = if by_tag {
                repo.tags.get(&reference).cloned()
            } else {
                Some(reference.clone())
            };
            let Some((digest, bytes)) =
                digest.and_then(|d| repo.manifests.get(&d).map(|b| (d, b.clone())))
            else {
                return v2_error(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_UNKNOWN",
                    "manifest unknown",
                    json!({"Tag": reference}),
                );
            };
            let accepted = accepted_types(headers);
            if by_tag && !accepted.iter().any(|t| t == SCHEMA2) {
                // As distribution: a schema2 manifest cannot be converted for an old client.
                return v2_error(
                    StatusCode::BAD_REQUEST,
                    "MANIFEST_INVALID",
                    "manifest invalid",
                    json!({}),
                );
            }
            let body = if head { Vec::new() } else { bytes.clone() };
            with_version(
                (
                    [
                        (header::CONTENT_TYPE, SCHEMA2.to_string()),
                        (header::CONTENT_LENGTH, bytes.len().to_string()),
                        (
                            "docker-content-digest".parse().expect("valid"),
                            digest.clone(),
                        ),
                        (header::ETAG, format!("\"{digest}\"")),
                    ],
                    body,
                )
                    .into_response(),
            )
        }
        Path::Blob(_, digest) => {
            let listed = repo.is_some_and(|r| {
                r.manifests
                    .values()
                    .any(|m| String::from_utf8_lossy(m).contains(&digest))
            });
            match inner.blobs.get(&digest).filter(|_| listed) {
                Some(blob) => {
                    let body = if head { Vec::new() } else { blob.clone() };
                    with_version(
                        (
                            [
                                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                                (header::CONTENT_LENGTH, blob.len().to_string()),
                                (
                                    "docker-content-digest".parse().expect("valid"),
                                    digest.clone(),
                                ),
                            ],
                            body,
                        )
                            .into_response(),
                    )
                }
                None => v2_error(
                    StatusCode::NOT_FOUND,
                    "BLOB_UNKNOWN",
                    "blob unknown to registry",
                    json!(digest),
                ),
            }
        }
        Path::Base => unreachable!("handled before"),
    }
}

fn accepted_types(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

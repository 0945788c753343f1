//! The IAM Identity API (icr-protocol.md §2): service IDs and API keys.
//!
//! Every route needs `Authorization: Bearer <IAM access token>` and sees only the token's
//! account. Reads are open to every user of the account; creating, changing and deleting
//! service IDs and their keys needs the "Service ID creator" right; a user may create keys for
//! themself. Lists page with `pagesize` (1–100, default 20) and an opaque `pagetoken`, and give
//! `first`/`previous`/`next` URLs. `PUT` needs `If-Match` (`*` or the current `entity_tag`).
//! The API key value is in the create answer only, unless `store_value` was true.

#![allow(
    clippy::result_large_err,
    reason = "errors are the HTTP responses themselves, built once per request"
)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::seed::AccountRole;
use super::state::{ApiKey, ServiceId, entity_tag, identity_time, random_secret};
use super::{Caller, identity_error, identity_unauthorized};
use crate::World;
use crate::variants::Variant;

type Reply = Result<Response, Response>;

/// The Identity API routes.
pub(crate) fn routes() -> Router<Arc<World>> {
    Router::new()
        .route(
            "/v1/serviceids",
            post(create_service_id).get(list_service_ids),
        )
        .route(
            "/v1/serviceids/",
            post(create_service_id).get(list_service_ids),
        )
        .route(
            "/v1/serviceids/{id}",
            get(get_service_id)
                .put(update_service_id)
                .delete(delete_service_id),
        )
        .route(
            "/v1/serviceids/{id}/lock",
            post(lock_service_id).delete(unlock_service_id),
        )
        .route("/v1/apikeys", post(create_api_key).get(list_api_keys))
        .route("/v1/apikeys/details", get(api_key_details))
        .route(
            "/v1/apikeys/{id}",
            get(get_api_key).put(update_api_key).delete(delete_api_key),
        )
        .route("/v1/apikeys/{id}/lock", post(lock_key).delete(unlock_key))
        .route(
            "/v1/apikeys/{id}/disable",
            post(disable_key).delete(enable_key),
        )
}

fn error(status: StatusCode, code: &str, message_code: &str, message: &str) -> Response {
    identity_error(status, code, message_code, message)
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        "BXNIM0102E",
        "Unable to find object",
    )
}

fn invalid(message: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "BXNIM0106E",
        message,
    )
}

fn missing(property: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_body",
        "BXNIM0109E",
        &format!("Property missing or empty: {property}"),
    )
}

fn caller(world: &World, headers: &HeaderMap) -> Result<Caller, Response> {
    super::authenticate(world, headers).map_err(identity_unauthorized)
}

/// The caller may change service IDs (and their keys) of its account.
fn require_creator(world: &World, caller: &Caller) -> Result<(), Response> {
    if world.ibm_user_has(
        &caller.iam_id,
        &caller.account,
        AccountRole::ServiceIdCreator,
    ) {
        return Ok(());
    }
    Err(error(
        StatusCode::FORBIDDEN,
        "forbidden",
        "BXNIM0513E",
        &format!(
            "You are not authorized to manage service IDs in account {}: the 'Service ID creator' role on the IAM Identity service (iam-identity) is required.",
            caller.account
        ),
    ))
}

fn query_map(query: &Option<String>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    map
}

/// A JSON object body (`Content-Type: application/json`).
fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, Response> {
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "BXNIM0101E",
            "Content-Type must be application/json",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(invalid("The request body is not a valid JSON object")),
    }
}

fn string_field(body: &Map<String, Value>, name: &str) -> Result<Option<String>, Response> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(&format!("Property {name} must be a string"))),
    }
}

fn required(body: &Map<String, Value>, name: &str) -> Result<String, Response> {
    string_field(body, name)?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| missing(name))
}

fn bool_field(body: &Map<String, Value>, name: &str) -> Result<bool, Response> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid(&format!("Property {name} must be a boolean"))),
    }
}

fn header_flag(headers: &HeaderMap, name: &str) -> Result<bool, Response> {
    match headers.get(name).map(|v| v.to_str().unwrap_or("?")) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(invalid(&format!("Header {name} must be true or false"))),
    }
}

/// `If-Match`: required; `*` or the current tag.
fn check_if_match(headers: &HeaderMap, current: &str) -> Result<(), Response> {
    let Some(value) = headers.get("if-match").and_then(|v| v.to_str().ok()) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "missing_header",
            "BXNIM0109E",
            "Property missing or empty: If-Match",
        ));
    };
    let value = value.trim().trim_matches('"');
    if value == "*" || value == current {
        return Ok(());
    }
    Err(error(
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
        "BXNIM0515E",
        "The entity tag in If-Match does not match the current version of the object",
    ))
}

fn locked() -> Response {
    error(
        StatusCode::CONFLICT,
        "entity_locked",
        "BXNIM0514E",
        "The object is locked and cannot be changed or deleted",
    )
}

// ---------------------------------------------------------------------------------------------
// Pagination

/// One page of `items` for `path` (`serviceids` or `apikeys` under `key`).
fn page(
    world: &World,
    path: &str,
    query: &HashMap<String, String>,
    key: &str,
    items: Vec<Value>,
) -> Reply {
    let size = match query.get("pagesize").map(|s| s.parse::<usize>()) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => return Err(invalid("pagesize must be a number from 1 to 100")),
    };
    let offset = match query.get("pagetoken") {
        None => 0,
        Some(t) => match world.iam.lock().pages.get(t) {
            Some(o) => *o,
            None => return Err(invalid("The pagetoken is not valid")),
        },
    };
    let mut rest: Vec<(&String, &String)> =
        query.iter().filter(|(k, _)| *k != "pagetoken").collect();
    rest.sort();
    let base = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(rest)
        .finish();
    let url = |token: Option<String>| {
        let mut q = base.clone();
        if let Some(t) = token {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(&format!("pagetoken={t}"));
        }
        let sep = if q.is_empty() { "" } else { "?" };
        format!("{}{path}{sep}{q}", world.urls.iam)
    };
    let token_for = |o: usize| {
        let t = random_secret(24);
        world.iam.lock().pages.insert(t.clone(), o);
        t
    };
    let total = items.len();
    let slice: Vec<Value> = items.into_iter().skip(offset).take(size).collect();
    let mut body = Map::new();
    body.insert("offset".into(), json!(offset));
    body.insert("limit".into(), json!(size));
    body.insert("first".into(), json!(url(None)));
    if offset > 0 {
        let previous = offset.saturating_sub(size);
        let token = (previous > 0).then(|| token_for(previous));
        body.insert("previous".into(), json!(url(token)));
    }
    if offset + size < total {
        body.insert("next".into(), json!(url(Some(token_for(offset + size)))));
    }
    body.insert(key.into(), Value::Array(slice));
    Ok(axum::Json(Value::Object(body)).into_response())
}

/// Sorts by `sort` (`name`, `description`, `created_at`, `modified_at`) and `order`.
fn sort(items: &mut [Value], query: &HashMap<String, String>) -> Result<(), Response> {
    let descending = match query.get("order").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(invalid("order must be asc or desc")),
    };
    if let Some(field) = query.get("sort") {
        if !matches!(
            field.as_str(),
            "name" | "description" | "created_at" | "modified_at"
        ) {
            return Err(invalid(
                "sort must be name, description, created_at or modified_at",
            ));
        }
        items.sort_by(|a, b| {
            let key = |v: &Value| v[field.as_str()].as_str().unwrap_or("").to_string();
            key(a).cmp(&key(b))
        });
    }
    if descending {
        items.reverse();
    }
    Ok(())
}

/// The list's `account_id`: required without a `pagetoken`, and the caller's own.
fn list_account(caller: &Caller, query: &HashMap<String, String>) -> Result<(), Response> {
    match query.get("account_id") {
        None if query.contains_key("pagetoken") => Ok(()),
        None => Err(missing("account_id")),
        Some(a) if *a == caller.account => Ok(()),
        Some(_) => Err(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "BXNIM0513E",
            "You are not authorized to list objects of this account",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Service IDs

fn service_id_json(world: &World, s: &ServiceId) -> Value {
    json!({
        "id": s.id,
        "iam_id": s.iam_id,
        "entity_tag": entity_tag(&s.id, s.version),
        "crn": format!("crn:v1:bluemix:public:iam-identity::a/{}::serviceid:{}", s.account_id, s.id),
        "locked": s.locked,
        "created_at": s.created_at,
        "modified_at": s.modified_at,
        "account_id": s.account_id,
        "name": s.name,
        "description": s.description,
        "unique_instance_crns": s.unique_instance_crns,
        "href": format!("{}/v1/serviceids/{}", world.urls.iam, s.id),
    })
}

fn string_list(body: &Map<String, Value>, name: &str) -> Result<Vec<String>, Response> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid(&format!("{name} must be a list of strings")))
            })
            .collect(),
        Some(_) => Err(invalid(&format!("{name} must be a list of strings"))),
    }
}

/// `POST /v1/serviceids/` → 201.
async fn create_service_id(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create_service_id_inner(&world, &headers, &body).unwrap_or_else(|e| e)
}

fn create_service_id_inner(world: &World, headers: &HeaderMap, body: &[u8]) -> Reply {
    let caller = caller(world, headers)?;
    let body = json_body(headers, body)?;
    let account = required(&body, "account_id")?;
    let name = required(&body, "name")?;
    let description = string_field(&body, "description")?.unwrap_or_default();
    let crns = string_list(&body, "unique_instance_crns")?;
    let lock = header_flag(headers, "entity-lock")?;
    if account != caller.account {
        return Err(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "BXNIM0513E",
            &format!("You are not authorized to create service IDs in account {account}"),
        ));
    }
    require_creator(world, &caller)?;
    let inline_key = match body.get("apikey") {
        None | Some(Value::Null) => None,
        Some(Value::Object(k)) => Some(k.clone()),
        Some(_) => return Err(invalid("Property apikey must be an object")),
    };
    let limit = world.config.ibm.limits.service_ids_per_account;
    let now = crate::now();
    let uuid = uuid::Uuid::new_v4();
    let service = ServiceId {
        id: format!("ServiceId-{uuid}"),
        iam_id: format!("iam-ServiceId-{uuid}"),
        version: 1,
        account_id: account.clone(),
        name,
        description,
        unique_instance_crns: crns,
        locked: lock,
        created_at: identity_time(now),
        modified_at: identity_time(now),
        deleted: false,
        conflict_answered: false,
    };
    {
        let mut inner = world.iam.lock();
        let count = inner
            .service_ids
            .iter()
            .filter(|s| s.account_id == account && !s.deleted)
            .count();
        if count >= limit {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "limit_exceeded",
                "BXNIM0532E",
                &format!(
                    "The maximum number of service IDs ({limit}) for account {account} has been reached"
                ),
            ));
        }
        inner.service_ids.push(service.clone());
    }
    let mut answer = service_id_json(world, &service);
    if let Some(key) = inline_key {
        let mut key = key;
        key.insert("iam_id".into(), json!(service.iam_id));
        key.insert("account_id".into(), json!(account));
        answer["apikey"] = new_api_key(world, &caller, &key, false, false)?;
    }
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

/// `GET /v1/serviceids/?account_id=&name=&pagesize=&pagetoken=&sort=&order=`.
async fn list_service_ids(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let run = || -> Reply {
        let caller = caller(&world, &headers)?;
        let query = query_map(&query);
        list_account(&caller, &query)?;
        let mut items: Vec<Value> = world
            .iam
            .service_ids()
            .iter()
            .filter(|s| !s.deleted && s.account_id == caller.account)
            .filter(|s| query.get("name").is_none_or(|n| *n == s.name))
            .map(|s| service_id_json(&world, s))
            .collect();
        sort(&mut items, &query)?;
        page(&world, "/v1/serviceids/", &query, "serviceids", items)
    };
    run().unwrap_or_else(|e| e)
}

/// The caller's account's live service ID `id`.
fn find_service_id(world: &World, caller: &Caller, id: &str) -> Result<ServiceId, Response> {
    world
        .iam
        .service_ids()
        .into_iter()
        .find(|s| s.id == id && !s.deleted && s.account_id == caller.account)
        .ok_or_else(not_found)
}

async fn get_service_id(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let run = || -> Reply {
        let caller = caller(&world, &headers)?;
        let s = find_service_id(&world, &caller, &id)?;
        Ok(axum::Json(service_id_json(&world, &s)).into_response())
    };
    run().unwrap_or_else(|e| e)
}

/// Applies `change` to the live service ID `id` of the caller's account.
fn with_service_id(
    world: &World,
    caller: &Caller,
    id: &str,
    change: impl FnOnce(&mut ServiceId) -> Result<(), Response>,
) -> Result<ServiceId, Response> {
    let mut inner = world.iam.lock();
    let s = inner
        .service_ids
        .iter_mut()
        .find(|s| s.id == id && !s.deleted && s.account_id == caller.account)
        .ok_or_else(not_found)?;
    change(s)?;
    Ok(s.clone())
}

async fn update_service_id(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let run = || -> Reply {
        let caller = caller(&world, &headers)?;
        let body = json_body(&headers, &body)?;
        require_creator(&world, &caller)?;
        let name = string_field(&body, "name")?;
        let description = string_field(&body, "description")?;
        let crns = body
            .contains_key("unique_instance_crns")
            .then(|| string_list(&body, "unique_instance_crns"))
            .transpose()?;
        let s = with_service_id(&world, &caller, &id, |s| {
            check_if_match(&headers, &entity_tag(&s.id, s.version))?;
            if s.locked {
                return Err(locked());
            }
            if let Some(n) = name.filter(|n| !n.trim().is_empty()) {
                s.name = n;
            }
            if let Some(d) = description {
                s.description = d;
            }
            if let Some(c) = crns {
                s.unique_instance_crns = c;
            }
            s.version += 1;
            s.modified_at = identity_time(crate::now());
            Ok(())
        })?;
        Ok(axum::Json(service_id_json(&world, &s)).into_response())
    };
    run().unwrap_or_else(|e| e)
}

/// `DELETE /v1/serviceids/{id}` → 204, deleting its keys and policies first. With the
/// `serviceid-delete-conflict` variant, a service ID that still had keys answers 409 once.
async fn delete_service_id(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let run = || -> Reply {
        let caller = caller(&world, &headers)?;
        require_creator(&world, &caller)?;
        let conflict_variant = world.config.has(Variant::ServiceIdDeleteConflict);
        let mut inner = world.iam.lock();
        let s = inner
            .service_ids
            .iter_mut()
            .find(|s| s.id == id && !s.deleted && s.account_id == caller.account)
            .ok_or_else(not_found)?;
        if s.locked {
            return Err(locked());
        }
        let iam_id = s.iam_id.clone();
        let answer_conflict = conflict_variant && !s.conflict_answered;
        s.conflict_answered = true;
        let mut had_keys = false;
        for k in inner
            .api_keys
            .iter_mut()
            .filter(|k| k.iam_id == iam_id && !k.deleted)
        {
            k.deleted = true;
            had_keys = true;
        }
        if had_keys && answer_conflict {
            return Err(error(
                StatusCode::CONFLICT,
                "conflict",
                "BXNIM0516E",
                "Delete Conflict: the service ID's API keys are being deleted; retry",
            ));
        }
        for p in inner.policies.iter_mut().filter(|p| p.subject == iam_id) {
            p.deleted = true;
        }
        if let Some(s) = inner.service_ids.iter_mut().find(|s| s.id == id) {
            s.deleted = true;
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    run().unwrap_or_else(|e| e)
}

async fn set_service_id_lock(world: &World, headers: &HeaderMap, id: &str, lock: bool) -> Response {
    let run = || -> Reply {
        let caller = caller(world, headers)?;
        require_creator(world, &caller)?;
        with_service_id(world, &caller, id, |s| {
            s.locked = lock;
            Ok(())
        })?;
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    run().unwrap_or_else(|e| e)
}

async fn lock_service_id(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    set_service_id_lock(&world, &headers, &id, true).await
}

async fn unlock_service_id(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    set_service_id_lock(&world, &headers, &id, false).await
}

// ---------------------------------------------------------------------------------------------
// API keys

fn api_key_json(world: &World, k: &ApiKey, with_value: bool) -> Value {
    let mut v = json!({
        "id": k.id,
        "entity_tag": entity_tag(&k.id, k.version),
        "crn": format!("crn:v1:bluemix:public:iam-identity::a/{}::apikey:{}", k.account_id, k.id),
        "locked": k.locked,
        "disabled": k.disabled,
        "created_at": k.created_at,
        "created_by": k.created_by,
        "modified_at": k.modified_at,
        "name": k.name,
        "support_sessions": k.support_sessions,
        "action_when_leaked": k.action_when_leaked,
        "description": k.description,
        "iam_id": k.iam_id,
        "account_id": k.account_id,
        "href": format!("{}/v1/apikeys/{}", world.urls.iam, k.id),
    });
    if let Some(e) = &k.expires_at {
        v["expires_at"] = json!(e);
    }
    if with_value || k.store_value {
        v["apikey"] = json!(k.value);
    }
    v
}

/// Parses `yyyy-MM-ddTHH:mm+0000` to epoch seconds.
fn parse_expiry(text: &str) -> Option<u64> {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute][offset_hour sign:mandatory][offset_minute]"
    );
    let t = time::OffsetDateTime::parse(text, &format).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

/// Validates and stores a new key from a create body (or a service ID's inline `apikey`).
fn new_api_key(
    world: &World,
    caller: &Caller,
    body: &Map<String, Value>,
    lock: bool,
    disable: bool,
) -> Result<Value, Response> {
    let name = required(body, "name")?;
    let iam_id = required(body, "iam_id")?;
    let description = string_field(body, "description")?.unwrap_or_default();
    let store_value = bool_field(body, "store_value")?;
    let support_sessions = bool_field(body, "support_sessions")?;
    let leaked = string_field(body, "action_when_leaked")?.unwrap_or_else(|| "none".into());
    if !matches!(leaked.as_str(), "none" | "disable" | "delete") {
        return Err(invalid(
            "action_when_leaked must be none, disable or delete",
        ));
    }
    let expires_at = string_field(body, "expires_at")?;
    let expires_epoch = match &expires_at {
        None => None,
        Some(t) => Some(
            parse_expiry(t)
                .ok_or_else(|| invalid("expires_at must have the format yyyy-MM-ddTHH:mm+0000"))?,
        ),
    };
    if let Some(a) = string_field(body, "account_id")?
        && a != caller.account
    {
        return Err(invalid(&format!(
            "account_id {a} is not the account of the token"
        )));
    }
    let own = iam_id == caller.iam_id;
    if own && store_value {
        return Err(invalid("store_value must be false for user API keys"));
    }
    if !own {
        let is_service_id = world
            .iam
            .service_ids()
            .iter()
            .any(|s| s.iam_id == iam_id && !s.deleted && s.account_id == caller.account);
        if !is_service_id {
            return Err(not_found());
        }
        require_creator(world, caller)?;
    }
    let value = match string_field(body, "apikey")? {
        Some(v) if v.len() < 32 => return Err(invalid("apikey must be at least 32 characters")),
        Some(v) => v,
        None => random_secret(44),
    };
    let limit = world.config.ibm.limits.api_keys_per_identity;
    let now = crate::now();
    let mut inner = world.iam.lock();
    if inner.api_keys.iter().any(|k| k.value == value) {
        return Err(invalid("The provided apikey value is already in use"));
    }
    let count = inner
        .api_keys
        .iter()
        .filter(|k| k.iam_id == iam_id && !k.deleted)
        .count();
    if count >= limit {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "limit_exceeded",
            "BXNIM0509E",
            &format!(
                "The maximum number of API keys ({limit}) for identity {iam_id} has been reached"
            ),
        ));
    }
    let key = ApiKey {
        id: format!("ApiKey-{}", uuid::Uuid::new_v4()),
        version: 1,
        iam_id,
        account_id: caller.account.clone(),
        name,
        description,
        value,
        store_value,
        support_sessions,
        action_when_leaked: leaked,
        expires_at,
        expires_epoch,
        locked: lock,
        disabled: disable,
        deleted: false,
        created_by: caller.iam_id.clone(),
        created_at: identity_time(now),
        modified_at: identity_time(now),
        refusals_left: world.config.ibm.new_key_refusals,
        seeded: false,
    };
    inner.api_keys.push(key.clone());
    drop(inner);
    Ok(api_key_json(world, &key, true))
}

/// `POST /v1/apikeys` → 201 with the value, the only time it is shown.
async fn create_api_key(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = || -> Reply {
        let caller = caller(&world, &headers)?;
        let body = json_body(&headers, &body)?;
        let lock = header_flag(&headers, "entity-lock")?;
        let disable = header_flag(&headers, "entity-disable")?;
        let key = new_api_key(&world, &caller, &body, lock, disable)?;
        Ok((StatusCode::CREATED, axum::Json(key)).into_response())
    };
    run().unwrap_or_else(|e| e)
}

/// `GET /v1/apikeys?account_id=&iam_id=&scope=&type=&pagesize=&pagetoken=&sort=&order=`.
async fn list_api_keys(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let run = || -> Reply {
        let caller = caller(&world, &headers)?;
        let query = query_map(&query);
        if let Some(a) = query.get("account_id")
            && *a != caller.account
        {
            return Err(error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "BXNIM0513E",
                "You are not authorized to list objects of this account",
            ));
        }
        let scope = query.get("scope").map(String::as_str).unwrap_or("entity");
        let kind = query.get("type").map(String::as_str);
        if !matches!(scope, "entity" | "account")
            || !matches!(kind, None | Some("user" | "serviceid"))
        {
            return Err(invalid(
                "scope must be entity or account; type must be user or serviceid",
            ));
        }
        let entity = query
            .get("iam_id")
            .cloned()
            .unwrap_or_else(|| caller.iam_id.clone());
        let keys = world.iam.lock().api_keys.clone();
        let mut items: Vec<Value> = keys
            .iter()
            .filter(|k| !k.deleted && k.account_id == caller.account)
            .filter(|k| scope == "account" || k.iam_id == entity)
            .filter(|k| match kind {
                Some("user") => k.iam_id.starts_with("IBMid-"),
                Some(_) => k.iam_id.starts_with("iam-ServiceId-"),
                None => true,
            })
            .map(|k| api_key_json(&world, k, false))
            .collect();
        sort(&mut items, &query)?;
        page(&world, "/v1/apikeys", &query, "apikeys", items)
    };
    run().unwrap_or_else(|e| e)
}

fn find_key(world: &World, caller: &Caller, id: &str) -> Result<ApiKey, Response> {
    world
        .iam
        .lock()
        .api_keys
        .iter()
        .find(|k| k.id == id && !k.deleted && k.account_id == caller.account)
        .cloned()
        .ok_or_else(not_found)
}

async fn get_api_key(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let run = || -> Reply {
        let caller = caller(&world, &headers)?;
        let key = find_key(&world, &caller, &id)?;
        Ok(axum::Json(api_key_json(&world, &key, false)).into_response())
    };
    run().unwrap_or_else(|e| e)
}

/// `GET /v1/apikeys/details` with `IAM-ApiKey: <value>`.
async fn api_key_details(State(world): State<Arc<World>>, headers: HeaderMap) -> Response {
    let run = || -> Reply {
        let caller = caller(&world, &headers)?;
        let Some(value) = headers.get("iam-apikey").and_then(|v| v.to_str().ok()) else {
            return Err(missing("IAM-ApiKey"));
        };
        let key = world
            .iam
            .lock()
            .api_keys
            .iter()
            .find(|k| k.value == value && !k.deleted && k.account_id == caller.account)
            .cloned()
            .ok_or_else(not_found)?;
        Ok(axum::Json(api_key_json(&world, &key, false)).into_response())
    };
    run().unwrap_or_else(|e| e)
}

/// Applies `change` to a live key of the caller's account; the caller must own it or be a
/// "Service ID creator".
fn with_key(
    world: &World,
    caller: &Caller,
    id: &str,
    change: impl FnOnce(&mut ApiKey) -> Result<(), Response>,
) -> Result<ApiKey, Response> {
    let key = find_key(world, caller, id)?;
    if key.iam_id != caller.iam_id {
        require_creator(world, caller)?;
    }
    let mut inner = world.iam.lock();
    let k = inner
        .api_keys
        .iter_mut()
        .find(|k| k.id == id && !k.deleted)
        .ok_or_else(not_found)?;
    change(k)?;
    Ok(k.clone())
}

async fn update_api_key(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let run = || -> Reply {
        let caller = caller(&world, &headers)?;
        let body = json_body(&headers, &body)?;
        let name = string_field(&body, "name")?;
        let description = string_field(&body, "description")?;
        let key = with_key(&world, &caller, &id, |k| {
            check_if_match(&headers, &entity_tag(&k.id, k.version))?;
            if k.locked {
                return Err(locked());
            }
            if let Some(n) = name.filter(|n| !n.trim().is_empty()) {
                k.name = n;
            }
            if let Some(d) = description {
                k.description = d;
            }
            k.version += 1;
            k.modified_at = identity_time(crate::now());
            Ok(())
        })?;
        Ok(axum::Json(api_key_json(&world, &key, false)).into_response())
    };
    run().unwrap_or_else(|e| e)
}

async fn delete_api_key(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let run = || -> Reply {
        let caller = caller(&world, &headers)?;
        with_key(&world, &caller, &id, |k| {
            if k.locked {
                return Err(locked());
            }
            k.deleted = true;
            Ok(())
        })?;
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    run().unwrap_or_else(|e| e)
}

fn set_key_flag(
    world: &World,
    headers: &HeaderMap,
    id: &str,
    lock: Option<bool>,
    disable: Option<bool>,
) -> Response {
    let run = || -> Reply {
        let caller = caller(world, headers)?;
        with_key(world, &caller, id, |k| {
            if let Some(l) = lock {
                k.locked = l;
            }
            if let Some(d) = disable {
                k.disabled = d;
            }
            Ok(())
        })?;
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    run().unwrap_or_else(|e| e)
}

async fn lock_key(State(w): State<Arc<World>>, h: HeaderMap, Path(id): Path<String>) -> Response {
    set_key_flag(&w, &h, &id, Some(true), None)
}

async fn unlock_key(State(w): State<Arc<World>>, h: HeaderMap, Path(id): Path<String>) -> Response {
    set_key_flag(&w, &h, &id, Some(false), None)
}

async fn disable_key(
    State(w): State<Arc<World>>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    set_key_flag(&w, &h, &id, None, Some(true))
}

async fn enable_key(State(w): State<Arc<World>>, h: HeaderMap, Path(id): Path<String>) -> Response {
    set_key_flag(&w, &h, &id, None, Some(false))
}

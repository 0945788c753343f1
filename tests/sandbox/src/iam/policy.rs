//! The IAM Policy Management API (icr-protocol.md §3): access policies on
//! `container-registry` for a subject `iam_id`, in the v1 (`/v1/policies`) and v2
//! (`/v2/policies`) shapes, and [`decide`], the registry's question "what may this identity do
//! with this namespace in this region".
//!
//! Only `container-registry` policies are emulated (another `serviceName` is refused). Roles:
//! the service roles `crn:v1:bluemix:public:container-registry::::serviceRole:{Reader,Writer,Manager}`
//! and the platform roles `crn:v1:bluemix:public:iam::::role:{Viewer,Operator,Editor,Administrator}`;
//! the generic `crn:v1:bluemix:public:iam::::serviceRole:*` form only with the
//! `generic-service-role` variant. Creating, replacing and deleting needs the Administrator
//! right on `container-registry` (403 `insufficent_permissions`, IAM's spelling). An identical
//! live policy (subject, roles, attributes) answers 409 `policy_conflict_error`.

#![allow(
    clippy::result_large_err,
    reason = "errors are the HTTP responses themselves, built once per request"
)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::seed::AccountRole;
use super::state::{Attribute, Operator, Policy, entity_tag, rfc3339};
use super::{Caller, CallerError, policy_error};
use crate::World;
use crate::variants::Variant;

type Reply = Result<Response, Response>;

const CR_SERVICE_ROLE: &str = "crn:v1:bluemix:public:container-registry::::serviceRole:";
const GENERIC_SERVICE_ROLE: &str = "crn:v1:bluemix:public:iam::::serviceRole:";
const PLATFORM_ROLE: &str = "crn:v1:bluemix:public:iam::::role:";

/// The Policy API routes.
pub(crate) fn routes() -> Router<Arc<World>> {
    Router::new()
        .route("/v1/policies", post(create_v1).get(list_v1))
        .route(
            "/v1/policies/{id}",
            get(get_v1).put(replace_v1).delete(delete_v1),
        )
        .route("/v2/policies", post(create_v2).get(list_v2))
        .route(
            "/v2/policies/{id}",
            get(get_v2).put(replace_v2).delete(delete_v2),
        )
}

fn invalid(message: &str) -> Response {
    policy_error(StatusCode::BAD_REQUEST, "invalid_body", message)
}

fn not_found() -> Response {
    policy_error(
        StatusCode::NOT_FOUND,
        "policy_not_found",
        "Policy was not found.",
    )
}

fn caller(world: &World, headers: &HeaderMap) -> Result<Caller, Response> {
    super::authenticate(world, headers).map_err(|e| {
        let message = match e {
            CallerError::Missing => "Missing Authorization header.",
            CallerError::Invalid => "Invalid token.",
            CallerError::Expired => "Token is expired.",
        };
        policy_error(StatusCode::UNAUTHORIZED, "unauthorized", message)
    })
}

fn require_admin(world: &World, caller: &Caller, what: &str) -> Result<(), Response> {
    if world.ibm_user_has(
        &caller.iam_id,
        &caller.account,
        AccountRole::RegistryAdministrator,
    ) {
        return Ok(());
    }
    Err(policy_error(
        StatusCode::FORBIDDEN,
        "insufficent_permissions",
        &format!(
            "You are not allowed to {what} the requested policy: the Administrator role on the service container-registry is required."
        ),
    ))
}

/// What a role grants at the registry: (pull, push). `None`: not a role of the service.
fn role_grants(world: &World, role: &str) -> Option<(bool, bool)> {
    let service = role.strip_prefix(CR_SERVICE_ROLE).or_else(|| {
        role.strip_prefix(GENERIC_SERVICE_ROLE)
            .filter(|_| world.config.has(Variant::GenericServiceRole))
    });
    match service {
        Some("Reader") => return Some((true, false)),
        Some("Writer" | "Manager") => return Some((true, true)),
        Some(_) => return None,
        None => {}
    }
    match role.strip_prefix(PLATFORM_ROLE) {
        Some("Viewer" | "Operator" | "Editor" | "Administrator") => Some((false, false)),
        _ => None,
    }
}

fn role_json(role: &str) -> Value {
    let name = role.rsplit(':').next().unwrap_or(role);
    json!({"role_id": role, "display_name": name, "description": format!("{name} role")})
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// A policy body, parsed from either version.
struct Parsed {
    subject: String,
    roles: Vec<String>,
    attributes: Vec<Attribute>,
    description: String,
    pattern_rule: (Option<Value>, Option<Value>),
}

fn object(body: &[u8], headers: &HeaderMap) -> Result<Map<String, Value>, Response> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(policy_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type must be application/json.",
        ));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid("Invalid body format: a JSON object is expected.")),
    }
}

fn only_keys(map: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), Response> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(invalid(&format!("Invalid {what}: unknown property '{k}'."))),
        None => Ok(()),
    }
}

fn one<'a>(value: Option<&'a Value>, what: &str) -> Result<&'a Map<String, Value>, Response> {
    match value.and_then(Value::as_array).map(Vec::as_slice) {
        Some([Value::Object(m)]) => Ok(m),
        _ => Err(invalid(&format!(
            "Invalid {what}: exactly one element is required."
        ))),
    }
}

fn text<'a>(map: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a str, Response> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(&format!("Invalid {what}: '{key}' is required.")))
}

fn check_type(body: &Map<String, Value>) -> Result<(), Response> {
    match body.get("type").and_then(Value::as_str) {
        Some("access") => Ok(()),
        Some("authorization") => Err(invalid(
            "Invalid policy type: authorization policies are not emulated by the sandbox.",
        )),
        _ => Err(invalid("Invalid policy type: 'type' must be 'access'.")),
    }
}

fn roles_of(list: Option<&Value>) -> Result<Vec<String>, Response> {
    let items = list
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| invalid("Invalid roles: at least one role is required."))?;
    items
        .iter()
        .map(|r| {
            r.get("role_id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| invalid("Invalid roles: every role needs a 'role_id'."))
        })
        .collect()
}

fn description(body: &Map<String, Value>) -> Result<String, Response> {
    match body.get("description") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(invalid("Invalid description: a string is expected.")),
    }
}

fn parse_v1(body: &Map<String, Value>) -> Result<Parsed, Response> {
    only_keys(
        body,
        &["type", "description", "subjects", "roles", "resources"],
        "policy",
    )?;
    check_type(body)?;
    let subject = one(body.get("subjects"), "subjects")?;
    let subject_attr = one(subject.get("attributes"), "subject attributes")?;
    if text(subject_attr, "name", "subject attribute")? != "iam_id" {
        return Err(invalid(
            "Invalid subject: only 'iam_id' subjects are emulated.",
        ));
    }
    let subject = text(subject_attr, "value", "subject attribute")?.to_string();
    let roles = roles_of(body.get("roles"))?;
    let resource = one(body.get("resources"), "resources")?;
    only_keys(resource, &["attributes", "tags"], "resource")?;
    let items = resource
        .get("attributes")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("Invalid resource: 'attributes' is required."))?;
    let mut attributes = Vec::new();
    for item in items {
        let map = item
            .as_object()
            .ok_or_else(|| invalid("Invalid resource attribute: an object is expected."))?;
        only_keys(map, &["name", "value", "operator"], "resource attribute")?;
        let operator = match map.get("operator").and_then(Value::as_str) {
            None | Some("stringEquals") => Operator::Equals,
            Some("stringMatch") => Operator::Match,
            Some(o) => return Err(invalid(&format!("Invalid operator '{o}' in a v1 policy."))),
        };
        attributes.push(Attribute {
            key: text(map, "name", "resource attribute")?.to_string(),
            operator,
            value: json!(text(map, "value", "resource attribute")?),
        });
    }
    Ok(Parsed {
        subject,
        roles,
        attributes,
        description: description(body)?,
        pattern_rule: (None, None),
    })
}

fn v2_operator(map: &Map<String, Value>) -> Result<(Operator, Value), Response> {
    let value = map.get("value").cloned().unwrap_or(Value::Null);
    let op = match map.get("operator").and_then(Value::as_str) {
        Some("stringEquals") => Operator::Equals,
        Some("stringMatch") => Operator::Match,
        Some("stringExists") => Operator::Exists,
        Some("stringEqualsAnyOf") => Operator::EqualsAnyOf,
        Some("stringMatchAnyOf") => Operator::MatchAnyOf,
        other => {
            return Err(invalid(&format!(
                "Invalid attribute operator {other:?}: stringEquals, stringMatch, stringExists, stringEqualsAnyOf or stringMatchAnyOf."
            )));
        }
    };
    let ok = match op {
        Operator::Equals | Operator::Match => value.as_str().is_some_and(|s| !s.is_empty()),
        Operator::Exists => value.is_boolean(),
        Operator::EqualsAnyOf | Operator::MatchAnyOf => value
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.len() <= 10 && a.iter().all(Value::is_string)),
    };
    if !ok {
        return Err(invalid(
            "Invalid attribute value for its operator (a string; a boolean for stringExists; 1 to 10 strings for the AnyOf operators).",
        ));
    }
    Ok((op, value))
}

fn parse_v2(body: &Map<String, Value>) -> Result<Parsed, Response> {
    only_keys(
        body,
        &[
            "type",
            "description",
            "subject",
            "control",
            "resource",
            "pattern",
            "rule",
        ],
        "policy",
    )?;
    check_type(body)?;
    let subject = body
        .get("subject")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("Invalid subject: 'subject' is required."))?;
    let subject_attr = one(subject.get("attributes"), "subject attributes")?;
    let is_iam_id = subject_attr.get("key").and_then(Value::as_str) == Some("iam_id")
        && subject_attr.get("operator").and_then(Value::as_str) == Some("stringEquals");
    if !is_iam_id {
        return Err(invalid(
            "Invalid subject: only iam_id stringEquals subjects are emulated.",
        ));
    }
    let subject = text(subject_attr, "value", "subject attribute")?.to_string();
    let roles = roles_of(body.get("control").and_then(|c| c.pointer("/grant/roles")))?;
    let resource = body
        .get("resource")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("Invalid resource: 'resource' is required."))?;
    only_keys(resource, &["attributes", "tags"], "resource")?;
    let items = resource
        .get("attributes")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("Invalid resource: 'attributes' is required."))?;
    let mut attributes = Vec::new();
    for item in items {
        let map = item
            .as_object()
            .ok_or_else(|| invalid("Invalid resource attribute: an object is expected."))?;
        only_keys(map, &["key", "operator", "value"], "resource attribute")?;
        let (operator, value) = v2_operator(map)?;
        attributes.push(Attribute {
            key: text(map, "key", "resource attribute")?.to_string(),
            operator,
            value,
        });
    }
    let rule = body.get("rule").cloned();
    let pattern = body.get("pattern").cloned();
    if rule.is_some() != pattern.is_some() {
        return Err(invalid("Invalid policy: 'rule' and 'pattern' go together."));
    }
    Ok(Parsed {
        subject,
        roles,
        attributes,
        description: description(body)?,
        pattern_rule: (pattern, rule),
    })
}

/// Checks the attributes, roles and subject of a parsed policy against the caller's account.
fn validate(world: &World, caller: &Caller, parsed: &Parsed) -> Result<(), Response> {
    let get = |key: &str| parsed.attributes.iter().find(|a| a.key == key);
    let equals = |key: &str| {
        get(key)
            .filter(|a| a.operator == Operator::Equals)
            .and_then(|a| a.value.as_str())
    };
    for a in &parsed.attributes {
        if !matches!(
            a.key.as_str(),
            "accountId" | "serviceName" | "region" | "resourceType" | "resource"
        ) {
            return Err(invalid(&format!(
                "Invalid resource attribute '{}' for the service container-registry.",
                a.key
            )));
        }
    }
    match equals("accountId") {
        Some(a) if a == caller.account => {}
        Some(a) => {
            return Err(invalid(&format!(
                "Invalid accountId '{a}': not the account of the token."
            )));
        }
        None => {
            return Err(invalid(
                "Invalid resource: the attribute accountId (stringEquals) is required.",
            ));
        }
    }
    match equals("serviceName") {
        Some("container-registry") => {}
        _ => {
            return Err(invalid(
                "Invalid resource: serviceName must be container-registry (the only service emulated).",
            ));
        }
    }
    if let Some(region) = get("region") {
        let known = |r: &str| r == "global" || crate::icr::REGIONS.contains(&r);
        let values: Vec<&str> = match &region.value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let wild = matches!(region.operator, Operator::Match | Operator::MatchAnyOf);
        if !wild && values.iter().any(|r| !known(r)) {
            return Err(invalid(&format!(
                "Invalid region {values:?} for the service container-registry."
            )));
        }
    }
    if let Some(t) = get("resourceType")
        && t.value.as_str() != Some("namespace")
    {
        return Err(invalid(
            "Invalid resourceType: container-registry knows only 'namespace'.",
        ));
    }
    if get("resource").is_some() && get("resourceType").is_none() {
        return Err(invalid(
            "Invalid resource: 'resource' needs resourceType 'namespace'.",
        ));
    }
    if let Some(role) = parsed
        .roles
        .iter()
        .find(|r| role_grants(world, r).is_none())
    {
        return Err(invalid(&format!(
            "Invalid role '{role}' for the service container-registry."
        )));
    }
    let user = world
        .config
        .ibm
        .users
        .iter()
        .any(|u| u.iam_id == parsed.subject && u.accounts.contains(&caller.account));
    let service_id = world
        .iam
        .service_ids()
        .iter()
        .any(|s| s.iam_id == parsed.subject && !s.deleted && s.account_id == caller.account);
    if !(user || service_id) {
        return Err(invalid(&format!(
            "Invalid subject: iam_id '{}' was not found in account {}.",
            parsed.subject, caller.account
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Rendering

fn common(world: &World, p: &Policy, v2: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(p.id));
    m.insert("type".into(), json!("access"));
    if !p.description.is_empty() {
        m.insert("description".into(), json!(p.description));
    }
    let version = if v2 { "v2" } else { "v1" };
    m.insert(
        "href".into(),
        json!(format!("{}/{version}/policies/{}", world.urls.iam, p.id)),
    );
    m.insert("created_at".into(), json!(p.created_at));
    m.insert("created_by_id".into(), json!(p.created_by));
    m.insert("last_modified_at".into(), json!(p.modified_at));
    m.insert("last_modified_by_id".into(), json!(p.created_by));
    m.insert("state".into(), json!("active"));
    m
}

fn operator_name(op: &Operator) -> &'static str {
    match op {
        Operator::Equals => "stringEquals",
        Operator::Match => "stringMatch",
        Operator::Exists => "stringExists",
        Operator::EqualsAnyOf => "stringEqualsAnyOf",
        Operator::MatchAnyOf => "stringMatchAnyOf",
    }
}

/// The v1 shape; a v2 policy is a placeholder (subject only, no roles or resources) whose
/// `href` points at `/v2/policies`.
fn v1_json(world: &World, p: &Policy) -> Value {
    let mut m = common(world, p, p.v2);
    m.insert(
        "subjects".into(),
        json!([{"attributes": [{"name": "iam_id", "value": p.subject}]}]),
    );
    if p.v2 {
        m.insert("roles".into(), json!([]));
        m.insert("resources".into(), json!([]));
        return Value::Object(m);
    }
    m.insert(
        "roles".into(),
        Value::Array(p.roles.iter().map(|r| role_json(r)).collect()),
    );
    let attributes: Vec<Value> = p
        .attributes
        .iter()
        .map(|a| match a.operator {
            Operator::Equals => json!({"name": a.key, "value": a.value}),
            _ => json!({"name": a.key, "value": a.value, "operator": operator_name(&a.operator)}),
        })
        .collect();
    m.insert("resources".into(), json!([{"attributes": attributes}]));
    Value::Object(m)
}

/// The v2 shape (v1 policies too: v2 lists show every policy).
fn v2_json(world: &World, p: &Policy) -> Value {
    let mut m = common(world, p, true);
    m.insert(
        "subject".into(),
        json!({"attributes": [{"key": "iam_id", "operator": "stringEquals", "value": p.subject}]}),
    );
    m.insert(
        "control".into(),
        json!({"grant": {"roles": p.roles.iter().map(|r| role_json(r)).collect::<Vec<_>>()}}),
    );
    let attributes: Vec<Value> = p
        .attributes
        .iter()
        .map(|a| json!({"key": a.key, "operator": operator_name(&a.operator), "value": a.value}))
        .collect();
    m.insert("resource".into(), json!({"attributes": attributes}));
    if let Some(pattern) = &p.pattern_rule.0 {
        m.insert("pattern".into(), pattern.clone());
    }
    if let Some(rule) = &p.pattern_rule.1 {
        m.insert("rule".into(), rule.clone());
    }
    Value::Object(m)
}

fn with_etag(status: StatusCode, p: &Policy, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let tag = format!("\"{}\"", entity_tag(&p.id, p.version));
    response
        .headers_mut()
        .insert(header::ETAG, tag.parse().expect("valid"));
    response
}

// ---------------------------------------------------------------------------------------------
// Handlers

fn same(p: &Policy, parsed: &Parsed) -> bool {
    let mut a = p.roles.clone();
    let mut b = parsed.roles.clone();
    a.sort();
    b.sort();
    p.subject == parsed.subject
        && a == b
        && p.attributes.len() == parsed.attributes.len()
        && p.attributes.iter().all(|x| parsed.attributes.contains(x))
}

fn create(world: &World, headers: &HeaderMap, body: &[u8], v2: bool) -> Reply {
    let caller = caller(world, headers)?;
    let map = object(body, headers)?;
    let parsed = if v2 { parse_v2(&map)? } else { parse_v1(&map)? };
    require_admin(world, &caller, "create")?;
    validate(world, &caller, &parsed)?;
    let limits = &world.config.ibm.limits;
    let mut inner = world.iam.lock();
    let live: Vec<&Policy> = inner
        .policies
        .iter()
        .filter(|p| !p.deleted && p.account_id == caller.account)
        .collect();
    if let Some(existing) = live.iter().find(|p| same(p, &parsed)) {
        let body = json!({
            "trace": uuid::Uuid::new_v4().simple().to_string(),
            "errors": [{
                "code": "policy_conflict_error",
                "message": "Failed to create policy.",
                "details": {"conflicts_with": {
                    "etag": entity_tag(&existing.id, existing.version),
                    "role": existing.roles.first(),
                    "policy": if existing.v2 { v2_json(world, existing) } else { v1_json(world, existing) },
                }},
            }],
            "status_code": 409,
        });
        return Err((StatusCode::CONFLICT, axum::Json(body)).into_response());
    }
    let per_subject = live.iter().filter(|p| p.subject == parsed.subject).count();
    if live.len() >= limits.policies_per_account || per_subject >= limits.policies_per_subject {
        return Err(policy_error(
            StatusCode::BAD_REQUEST,
            "policy_limit_exceeded",
            &format!(
                "The limit of policies has been reached ({} per account, {} per subject).",
                limits.policies_per_account, limits.policies_per_subject
            ),
        ));
    }
    let now = rfc3339(crate::now());
    let policy = Policy {
        id: uuid::Uuid::new_v4().to_string(),
        v2,
        version: 1,
        account_id: caller.account.clone(),
        subject: parsed.subject,
        roles: parsed.roles,
        attributes: parsed.attributes,
        description: parsed.description,
        pattern_rule: parsed.pattern_rule,
        created_by: caller.iam_id.clone(),
        created_at: now.clone(),
        modified_at: now,
        deleted: false,
    };
    inner.policies.push(policy.clone());
    drop(inner);
    let body = if v2 {
        v2_json(world, &policy)
    } else {
        v1_json(world, &policy)
    };
    Ok(with_etag(StatusCode::CREATED, &policy, body))
}

async fn create_v1(State(w): State<Arc<World>>, h: HeaderMap, body: Bytes) -> Response {
    create(&w, &h, &body, false).unwrap_or_else(|e| e)
}

async fn create_v2(State(w): State<Arc<World>>, h: HeaderMap, body: Bytes) -> Response {
    create(&w, &h, &body, true).unwrap_or_else(|e| e)
}

fn list(world: &World, headers: &HeaderMap, query: &Option<String>, v2: bool) -> Reply {
    let caller = caller(world, headers)?;
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    match query.get("account_id") {
        None => return Err(invalid("Missing required query parameter: account_id.")),
        Some(a) if *a != caller.account => {
            return Err(policy_error(
                StatusCode::FORBIDDEN,
                "insufficent_permissions",
                "You are not allowed to list the policies of this account.",
            ));
        }
        Some(_) => {}
    }
    if query
        .get("type")
        .is_some_and(|t| t != "access" && t != "authorization")
    {
        return Err(invalid("Invalid type: access or authorization."));
    }
    let policies: Vec<Value> = world
        .iam
        .policies()
        .iter()
        .filter(|p| !p.deleted && p.account_id == caller.account)
        .filter(|p| query.get("iam_id").is_none_or(|i| *i == p.subject))
        .filter(|_| query.get("type").is_none_or(|t| t == "access"))
        .filter(|_| query.get("service_type").is_none_or(|t| t == "service"))
        .map(|p| {
            if v2 {
                v2_json(world, p)
            } else {
                v1_json(world, p)
            }
        })
        .collect();
    Ok(axum::Json(json!({ "policies": policies })).into_response())
}

async fn list_v1(State(w): State<Arc<World>>, h: HeaderMap, RawQuery(q): RawQuery) -> Response {
    list(&w, &h, &q, false).unwrap_or_else(|e| e)
}

async fn list_v2(State(w): State<Arc<World>>, h: HeaderMap, RawQuery(q): RawQuery) -> Response {
    list(&w, &h, &q, true).unwrap_or_else(|e| e)
}

fn find(world: &World, caller: &Caller, id: &str) -> Result<Policy, Response> {
    world
        .iam
        .policies()
        .into_iter()
        .find(|p| p.id == id && !p.deleted && p.account_id == caller.account)
        .ok_or_else(not_found)
}

fn wrong_version(p: &Policy) -> Response {
    let (is, use_) = if p.v2 { ("v2", "/v2") } else { ("v1", "/v1") };
    policy_error(
        StatusCode::BAD_REQUEST,
        "invalid_version",
        &format!(
            "Policy {} is a {is} policy: use {use_}/policies to change or delete it.",
            p.id
        ),
    )
}

fn get_one(world: &World, headers: &HeaderMap, id: &str, v2: bool) -> Reply {
    let caller = caller(world, headers)?;
    let p = find(world, &caller, id)?;
    let body = if v2 {
        v2_json(world, &p)
    } else {
        v1_json(world, &p)
    };
    Ok(with_etag(StatusCode::OK, &p, body))
}

async fn get_v1(State(w): State<Arc<World>>, h: HeaderMap, Path(id): Path<String>) -> Response {
    get_one(&w, &h, &id, false).unwrap_or_else(|e| e)
}

async fn get_v2(State(w): State<Arc<World>>, h: HeaderMap, Path(id): Path<String>) -> Response {
    get_one(&w, &h, &id, true).unwrap_or_else(|e| e)
}

fn replace(world: &World, headers: &HeaderMap, id: &str, body: &[u8], v2: bool) -> Reply {
    let caller = caller(world, headers)?;
    let existing = find(world, &caller, id)?;
    if existing.v2 != v2 {
        return Err(wrong_version(&existing));
    }
    let Some(if_match) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return Err(invalid("Missing required header: If-Match."));
    };
    let map = object(body, headers)?;
    let parsed = if v2 { parse_v2(&map)? } else { parse_v1(&map)? };
    require_admin(world, &caller, "update")?;
    validate(world, &caller, &parsed)?;
    let if_match = if_match.trim().trim_matches('"');
    if if_match != "*" && if_match != entity_tag(&existing.id, existing.version) {
        return Err(policy_error(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            "The If-Match value does not match the policy's current ETag.",
        ));
    }
    let mut inner = world.iam.lock();
    let p = inner
        .policies
        .iter_mut()
        .find(|p| p.id == id && !p.deleted)
        .ok_or_else(not_found)?;
    p.subject = parsed.subject;
    p.roles = parsed.roles;
    p.attributes = parsed.attributes;
    p.description = parsed.description;
    p.pattern_rule = parsed.pattern_rule;
    p.version += 1;
    p.modified_at = rfc3339(crate::now());
    let p = p.clone();
    drop(inner);
    let body = if v2 {
        v2_json(world, &p)
    } else {
        v1_json(world, &p)
    };
    Ok(with_etag(StatusCode::OK, &p, body))
}

async fn replace_v1(
    State(w): State<Arc<World>>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    replace(&w, &h, &id, &body, false).unwrap_or_else(|e| e)
}

async fn replace_v2(
    State(w): State<Arc<World>>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    replace(&w, &h, &id, &body, true).unwrap_or_else(|e| e)
}

fn delete(world: &World, headers: &HeaderMap, id: &str, v2: bool) -> Reply {
    let caller = caller(world, headers)?;
    let existing = find(world, &caller, id)?;
    if existing.v2 != v2 {
        return Err(wrong_version(&existing));
    }
    require_admin(world, &caller, "delete")?;
    let mut inner = world.iam.lock();
    if let Some(p) = inner.policies.iter_mut().find(|p| p.id == id) {
        p.deleted = true;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_v1(State(w): State<Arc<World>>, h: HeaderMap, Path(id): Path<String>) -> Response {
    delete(&w, &h, &id, false).unwrap_or_else(|e| e)
}

async fn delete_v2(State(w): State<Arc<World>>, h: HeaderMap, Path(id): Path<String>) -> Response {
    delete(&w, &h, &id, true).unwrap_or_else(|e| e)
}

// ---------------------------------------------------------------------------------------------
// Decisions

/// `*` and `?` wildcards, as `stringMatch`.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let mut memo = vec![vec![None; t.len() + 1]; p.len() + 1];
    fn go(p: &[char], t: &[char], i: usize, j: usize, memo: &mut Vec<Vec<Option<bool>>>) -> bool {
        if let Some(v) = memo[i][j] {
            return v;
        }
        let v = match p.get(i) {
            None => j == t.len(),
            Some('*') => go(p, t, i + 1, j, memo) || (j < t.len() && go(p, t, i, j + 1, memo)),
            Some('?') => j < t.len() && go(p, t, i + 1, j + 1, memo),
            Some(c) => t.get(j) == Some(c) && go(p, t, i + 1, j + 1, memo),
        };
        memo[i][j] = Some(v);
        v
    }
    go(&p, &t, 0, 0, &mut memo)
}

fn attribute_matches(world: &World, a: &Attribute, context: &HashMap<&str, &str>) -> bool {
    if a.key == "region" && world.config.has(Variant::PolicyRegionUnmatched) {
        return false;
    }
    let actual = context.get(a.key.as_str()).copied();
    let strings = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => vec![],
        }
    };
    match (&a.operator, actual) {
        (Operator::Exists, actual) => a.value.as_bool() == Some(actual.is_some()),
        (_, None) => false,
        (Operator::Equals | Operator::EqualsAnyOf, Some(x)) => {
            strings(&a.value).iter().any(|v| v == x)
        }
        (Operator::Match | Operator::MatchAnyOf, Some(x)) => {
            strings(&a.value).iter().any(|v| wildcard(v, x))
        }
    }
}

/// What an identity may do at the registry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// `container-registry.image.pull`.
    pub pull: bool,
    /// `container-registry.image.push`.
    pub push: bool,
}

/// What `iam_id` of `account` may do with `namespace` (`None`: the account's registry as a
/// whole, e.g. listing) in `region`, from its live policies; the account's registry
/// administrators may do everything, and so may everybody when the account does not enforce
/// IAM policies.
pub fn decide(
    world: &World,
    account: &str,
    iam_id: &str,
    region: &str,
    namespace: Option<&str>,
) -> Access {
    let everything = Access {
        pull: true,
        push: true,
    };
    if world.ibm_user_has(iam_id, account, AccountRole::RegistryAdministrator) {
        return everything;
    }
    if world
        .ibm_account(account)
        .is_some_and(|a| !a.iam_policies_enforced)
    {
        return everything;
    }
    let mut context: HashMap<&str, &str> = HashMap::from([
        ("accountId", account),
        ("serviceName", "container-registry"),
        ("region", region),
    ]);
    if let Some(ns) = namespace {
        context.insert("resourceType", "namespace");
        context.insert("resource", ns);
    }
    let mut access = Access::default();
    for p in world.iam.policies() {
        if p.deleted || p.account_id != account || p.subject != iam_id {
            continue;
        }
        if !p
            .attributes
            .iter()
            .all(|a| attribute_matches(world, a, &context))
        {
            continue;
        }
        for (pull, push) in p.roles.iter().filter_map(|r| role_grants(world, r)) {
            access.pull |= pull;
            access.push |= push;
        }
    }
    access
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn wildcards_match_like_string_match() {
        assert!(wildcard("team-*", "team-ns"));
        assert!(wildcard("t?am-ns", "team-ns"));
        assert!(wildcard("*", ""));
        assert!(!wildcard("team-?", "team-ns"));
        assert!(!wildcard("other*", "team-ns"));
    }
}

//! IBM Cloud IAM, as far as API keys go (protocol.md §2.3): `POST /identity/token` with Basic
//! `bx:bx` and `grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=<key>`. A
//! `response_type` listing `uaa` (commas and/or spaces) adds `uaa_token`/`uaa_refresh_token`,
//! unless the `iam-exchange-only` variant is on; the IAM access token can always be exchanged at
//! the UAA with `grant_type=iam_token` ([`exchange`]). Errors have IAM's shape
//! `{"errorCode","errorMessage","errorDetails","context"}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::variants::Variant;
use crate::{SeedUser, World};

/// Lifetime of IAM access tokens.
const IAM_TTL: u64 = 3600;

/// The IAM routes.
pub fn router(world: Arc<World>) -> Router {
    Router::new()
        .route("/identity/token", post(token))
        .with_state(world)
}

fn iam_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "errorCode": code,
            "errorMessage": message,
            "errorDetails": format!("{message} (sandbox IAM)"),
            "context": {"requestId": uuid::Uuid::new_v4().to_string()},
        })),
    )
        .into_response()
}

fn form(body: &[u8]) -> HashMap<String, String> {
    let mut form = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        form.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    form
}

/// An IAM access token for `user`: an HS256 JWT signed with the UAA's key (its own kind, so
/// neither the UAA nor the registry takes it as a UAA token).
fn iam_access_token(world: &World, user: &SeedUser) -> String {
    let now = crate::now();
    let mut claims = Map::new();
    claims.insert("iam_id".into(), json!(format!("IBMid-{}", user.id)));
    claims.insert("id".into(), json!(user.id));
    claims.insert("sub".into(), json!(user.username));
    claims.insert(
        "grant_type".into(),
        json!("urn:ibm:params:oauth:grant-type:apikey"),
    );
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + IAM_TTL));
    claims.insert("iss".into(), json!(format!("{}/identity", world.urls.iam)));
    claims.insert("token_kind".into(), json!("iam"));
    let token = crate::jwt::sign(&world.uaa.signing_key(), &claims);
    world.uaa.record_iam_token(&token);
    token
}

/// `POST /identity/token` (API-key grant only).
async fn token(State(world): State<Arc<World>>, headers: HeaderMap, body: Bytes) -> Response {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        });
    if basic.as_deref() != Some(b"bx:bx") {
        return iam_error(
            StatusCode::UNAUTHORIZED,
            "BXNIM0308E",
            "The client is not authorized",
        );
    }
    let form = form(&body);
    if form.get("grant_type").map(String::as_str) != Some("urn:ibm:params:oauth:grant-type:apikey")
    {
        return iam_error(
            StatusCode::BAD_REQUEST,
            "BXNIM0109E",
            "Unsupported grant type",
        );
    }
    let Some(key) = form.get("apikey").filter(|k| !k.is_empty()) else {
        return iam_error(
            StatusCode::BAD_REQUEST,
            "BXNIM0109E",
            "Property missing or empty: apikey",
        );
    };
    let Some(user) = world
        .config
        .users
        .iter()
        .find(|u| u.api_key.as_deref() == Some(key.as_str()))
        .cloned()
    else {
        return iam_error(
            StatusCode::BAD_REQUEST,
            "BXNIM0415E",
            "Provided API key could not be found",
        );
    };
    let wants_uaa = form
        .get("response_type")
        .is_some_and(|r| r.split([',', ' ']).any(|t| t == "uaa"));
    let now = crate::now();
    let mut answer = json!({
        "access_token": iam_access_token(&world, &user),
        "refresh_token": format!("iam-refresh-{}", uuid::Uuid::new_v4().simple()),
        "token_type": "Bearer",
        "expires_in": IAM_TTL,
        "expiration": now + IAM_TTL,
        "scope": "ibm openid",
    });
    let client_ok = form.get("uaa_client_id").map(String::as_str) == Some("cf")
        && form.get("uaa_client_secret").is_some_and(String::is_empty);
    if wants_uaa && client_ok && !world.config.has(Variant::IamExchangeOnly) {
        let uaa = crate::uaa::issue_tokens(&world, &user, "password");
        answer["uaa_token"] = uaa["access_token"].clone();
        answer["uaa_refresh_token"] = uaa["refresh_token"].clone();
    }
    axum::Json(answer).into_response()
}

/// The UAA's `grant_type=iam_token` (client `cf` already checked): the seeded user of a valid
/// IAM access token, or the UAA error response.
#[allow(
    clippy::result_large_err,
    reason = "the error is the HTTP response itself, built once per request"
)]
pub fn exchange(world: &World, form: &HashMap<String, String>) -> Result<SeedUser, Response> {
    let invalid = |description: &str| {
        crate::uaa::oauth_error(StatusCode::UNAUTHORIZED, "invalid_token", description)
    };
    let Some(token) = form.get("iam_token").filter(|t| !t.is_empty()) else {
        return Err(crate::uaa::oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing iam_token",
        ));
    };
    let claims = crate::jwt::verify(&world.uaa.signing_key(), token)
        .filter(|c| c.get("token_kind").and_then(Value::as_str) == Some("iam"))
        .ok_or_else(|| invalid("Invalid IAM token"))?;
    if claims
        .get("exp")
        .and_then(Value::as_u64)
        .is_none_or(|e| crate::now() >= e)
    {
        return Err(invalid("IAM token expired"));
    }
    let id = claims.get("id").and_then(Value::as_str).unwrap_or_default();
    world
        .config
        .users
        .iter()
        .find(|u| u.id == id)
        .cloned()
        .ok_or_else(|| invalid("Unknown IAM identity"))
}

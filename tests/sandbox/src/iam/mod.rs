//! IBM Cloud IAM (icr-protocol.md §1–§3, protocol.md §2.3), on the IAM server (`urls.iam`):
//!
//! - the token endpoint `POST /identity/token` ([`token`]): API-key, one-time passcode and
//!   refresh grants, for the Dedicated users of protocol.md §2.3 (with `uaa_token` when asked)
//!   and for the public-cloud users and service IDs of [`seed`]; discovery
//!   (`/identity/.well-known/openid-configuration`) and the passcode page (`/identity/passcode`);
//! - the Identity API ([`identity`]): service IDs and API keys, `If-Match`/`entity_tag`,
//!   pagination, locks, the documented limits;
//! - the Policy Management API ([`policy`]): v1 and v2 access policies on
//!   `container-registry`, and the decision the registry ([`crate::icr`]) asks of them.
//!
//! The UAA's `grant_type=iam_token` exchange is [`exchange`]. Errors have IAM's shapes: the
//! token endpoint's `{"errorCode","errorMessage","context"}`, the Identity API's
//! `{"errors":[{"code","message_code","message","details"}],"status_code","trace"}`, the Policy
//! API's `{"errors":[{"code","message"}],"status_code","trace"}`.

#![allow(
    clippy::result_large_err,
    reason = "errors are the HTTP responses themselves, built once per request"
)]

pub mod identity;
pub mod policy;
pub mod seed;
pub mod state;
pub mod token;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::{SeedUser, World};

pub use seed::{AccountRole, IbmConfig};
pub use state::IamState;

/// The IAM routes: token endpoint, Identity API, Policy API.
pub fn router(world: Arc<World>) -> Router {
    Router::new()
        .route("/identity/token", post(token::token))
        .route("/identity/passcode", get(token::passcode))
        .route(
            "/identity/.well-known/openid-configuration",
            get(token::discovery),
        )
        .merge(identity::routes())
        .merge(policy::routes())
        .with_state(world)
}

/// The token endpoint's error body (`errorCode`, `errorMessage`, `context`), with the
/// `ibm-cloud-service-name: iam-identity` header of real answers.
pub(crate) fn token_error(status: StatusCode, code: &str, message: &str) -> Response {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let mut response = (
        status,
        axum::Json(json!({
            "context": {
                "requestId": request_id,
                "requestType": "incoming.Identity_Token",
                "url": "https://iam.cloud.ibm.com",
                "instanceId": "iamid-sandbox",
                "host": "iamid-sandbox",
                "locale": "en_US",
                "clusterName": "iam-id-sandbox",
            },
            "errorCode": code,
            "errorMessage": message,
        })),
    )
        .into_response();
    response.headers_mut().insert(
        "ibm-cloud-service-name",
        "iam-identity".parse().expect("valid"),
    );
    response
}

/// The Identity API's error body, with its `Transaction-Id` header.
pub(crate) fn identity_error(
    status: StatusCode,
    code: &str,
    message_code: &str,
    message: &str,
) -> Response {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let body = json!({
        "errors": [{
            "code": code,
            "message_code": message_code,
            "message": message,
            "details": message,
        }],
        "status_code": status.as_u16(),
        "trace": trace,
    });
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert("transaction-id", trace.parse().expect("valid"));
    response
}

/// The Policy API's error body.
pub(crate) fn policy_error(status: StatusCode, code: &str, message: &str) -> Response {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let body = json!({
        "trace": trace,
        "errors": [{"code": code, "message": message}],
        "status_code": status.as_u16(),
    });
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert("transaction-id", trace.parse().expect("valid"));
    response
}

/// Who called an API with `Authorization: Bearer <IAM access token>`.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The token's `iam_id` (`IBMid-...` or `iam-ServiceId-...`).
    pub iam_id: String,
    /// The token's `account.bss`.
    pub account: String,
}

/// Why a bearer IAM token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallerError {
    /// No `Authorization: Bearer`.
    Missing,
    /// Not an IAM access token of this sandbox, or one without an account.
    Invalid,
    /// Past its `exp`.
    Expired,
}

/// Checks `Authorization: Bearer <IAM access token>` (public-cloud tokens, with `account.bss`).
pub fn authenticate(world: &World, headers: &HeaderMap) -> Result<Caller, CallerError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string())
        .ok_or(CallerError::Missing)?;
    verify_access_token(world, &token)
}

/// Verifies an IAM access token issued by [`token`] and returns its subject and account.
pub fn verify_access_token(world: &World, token: &str) -> Result<Caller, CallerError> {
    let claims = crate::jwt::verify(&world.uaa.signing_key(), token)
        .filter(|c| c.get("token_kind").and_then(Value::as_str) == Some("iam"))
        .ok_or(CallerError::Invalid)?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or(CallerError::Invalid)?;
    if crate::now() >= exp {
        return Err(CallerError::Expired);
    }
    let account = claims
        .get("account")
        .and_then(|a| a.get("bss"))
        .and_then(Value::as_str)
        .ok_or(CallerError::Invalid)?;
    let iam_id = claims
        .get("iam_id")
        .and_then(Value::as_str)
        .ok_or(CallerError::Invalid)?;
    Ok(Caller {
        iam_id: iam_id.to_string(),
        account: account.to_string(),
    })
}

/// The Identity API's answer to a refused bearer token.
pub(crate) fn identity_unauthorized(error: CallerError) -> Response {
    let (message_code, message) = match error {
        CallerError::Missing => ("BXNIM0308E", "No authorization header found"),
        CallerError::Invalid => ("BXNIM0407E", "Provided token is not valid"),
        CallerError::Expired => ("BXNIM0408E", "Provided token is expired"),
    };
    identity_error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        message_code,
        message,
    )
}

impl World {
    /// Whether the public-cloud user `iam_id` holds `role` in `account`.
    pub fn ibm_user_has(&self, iam_id: &str, account: &str, role: AccountRole) -> bool {
        self.config.ibm.users.iter().any(|u| {
            u.iam_id == iam_id && u.accounts.iter().any(|a| a == account) && u.roles.contains(&role)
        })
    }

    /// The public-cloud account with this id.
    pub fn ibm_account(&self, id: &str) -> Option<&seed::IbmAccount> {
        self.config.ibm.accounts.iter().find(|a| a.id == id)
    }

    /// The public-cloud user with this e-mail.
    pub fn ibm_user(&self, email: &str) -> Option<&seed::IbmUser> {
        self.config.ibm.users.iter().find(|u| u.email == email)
    }

    /// An IAM access token for a seeded public-cloud user in `account`, without HTTP (for
    /// tests of other servers). Panics if the user is unknown.
    pub fn mint_iam_access_token(&self, email: &str, account: &str) -> String {
        let user = self.ibm_user(email).expect("seeded IBM Cloud user").clone();
        token::access_token(self, &token::Subject::User(user), account, "bx", "password")
    }
}

fn form(body: &[u8]) -> HashMap<String, String> {
    let mut form = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        form.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    form
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

//! Login server and UAA: `/login`, `/passcode`, `/oauth/token` (protocol.md §2).
//!
//! One router serves both the login server (nested under [`crate::LOGIN_PATH`]) and the UAA
//! (at the root of its own port), as on Bluemix where both accepted the same token requests.
//! Access and refresh tokens are HS256 JWTs signed with a key generated per sandbox; refresh
//! tokens are also tracked server-side so they can be rotated, revoked and counted. This module
//! also offers [`authenticate`], which the Cloud Controller and the registry use to check a
//! `Bearer` UAA access token. The `iam_token` grant exchanges an IAM access token from
//! [`crate::iam`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use rand::RngExt as _;
use serde_json::{Map, Value, json};

use crate::variants::Variant;
use crate::{SeedUser, World};

/// Scopes granted to every user (a typical `cf` client token).
const SCOPES: &[&str] = &[
    "openid",
    "cloud_controller.read",
    "cloud_controller.write",
    "password.write",
    "uaa.user",
];

/// Mutable UAA state: the signing key, live refresh tokens, issued passcodes.
pub struct UaaState {
    key: [u8; 32],
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Live refresh tokens by `jti`: (user name, expiry in epoch seconds).
    refresh: HashMap<String, (String, u64)>,
    /// Unused passcodes: code → (user name, expiry in epoch seconds).
    passcodes: HashMap<String, (String, u64)>,
    /// IAM access tokens issued by [`crate::iam`], for tests that search outputs for them.
    iam_tokens: Vec<String>,
}

impl Default for UaaState {
    fn default() -> Self {
        UaaState {
            key: rand::random(),
            inner: Mutex::new(Inner::default()),
        }
    }
}

impl std::fmt::Debug for UaaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UaaState").finish_non_exhaustive()
    }
}

impl UaaState {
    /// Revokes every refresh token of `username` (a "login expired" scenario); returns how many
    /// were live.
    pub fn revoke_refresh_tokens(&self, username: &str) -> usize {
        let mut inner = self.inner.lock().expect("uaa lock");
        let before = inner.refresh.len();
        inner.refresh.retain(|_, (user, _)| user != username);
        before - inner.refresh.len()
    }

    /// The number of live (unused, unrevoked, unexpired) refresh tokens of `username`.
    pub fn live_refresh_tokens(&self, username: &str) -> usize {
        let now = crate::now();
        let inner = self.inner.lock().expect("uaa lock");
        inner
            .refresh
            .values()
            .filter(|(user, exp)| user == username && *exp > now)
            .count()
    }

    /// The key signing UAA tokens (the emulated IAM signs its tokens with it too).
    pub(crate) fn signing_key(&self) -> [u8; 32] {
        self.key
    }

    /// Remembers an IAM access token issued by [`crate::iam`].
    pub(crate) fn record_iam_token(&self, token: &str) {
        let mut inner = self.inner.lock().expect("uaa lock");
        inner.iam_tokens.push(token.to_string());
    }

    /// Every IAM access token issued so far.
    pub fn iam_tokens(&self) -> Vec<String> {
        self.inner.lock().expect("uaa lock").iam_tokens.clone()
    }

    /// The number of passcodes issued and not yet used (expired ones included).
    pub fn unused_passcodes(&self) -> usize {
        self.inner.lock().expect("uaa lock").passcodes.len()
    }
}

/// Why a bearer token was refused by a resource server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BearerError {
    /// No `Authorization` header, or not the `Bearer` scheme.
    Missing,
    /// Not a JWT signed by this UAA, a refresh token, or for an unknown user.
    Invalid,
    /// A valid access token past its `exp`.
    Expired,
}

/// Authenticates `Authorization: Bearer <UAA access token>` (scheme matched case-insensitively)
/// and returns the seeded user it was issued to.
pub fn authenticate(world: &World, headers: &HeaderMap) -> Result<SeedUser, BearerError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(BearerError::Missing);
    };
    let value = value.to_str().map_err(|_| BearerError::Invalid)?;
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return Err(BearerError::Missing);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::Missing);
    }
    let claims = crate::jwt::verify(&world.uaa.key, token.trim()).ok_or(BearerError::Invalid)?;
    // Refresh tokens are signed with the same key but are not access tokens.
    if claims.get("token_kind").and_then(Value::as_str) != Some("access") {
        return Err(BearerError::Invalid);
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or(BearerError::Invalid)?;
    if crate::now() >= exp {
        return Err(BearerError::Expired);
    }
    let user_id = claims
        .get("user_id")
        .and_then(Value::as_str)
        .ok_or(BearerError::Invalid)?;
    world
        .config
        .users
        .iter()
        .find(|u| u.id == user_id)
        .cloned()
        .ok_or(BearerError::Invalid)
}

impl World {
    /// Issues an access token for a seeded user without any HTTP round trip (for tests of other
    /// servers). Panics if the user does not exist.
    pub fn mint_uaa_access_token(&self, username: &str) -> String {
        let user = self.user(username).expect("seeded user").clone();
        issue_tokens(self, &user, "password")["access_token"]
            .as_str()
            .expect("access token is a string")
            .to_string()
    }
}

/// The login/UAA routes (served on the UAA host and under the login path).
pub fn router(world: Arc<World>) -> Router {
    Router::new()
        .route("/login", get(login))
        .route("/passcode", get(passcode))
        .route("/oauth/token", post(token))
        .with_state(world)
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/json"))
}

/// `GET /login`: the prompts document with `Accept: application/json`, else a login page.
async fn login(State(world): State<Arc<World>>, headers: HeaderMap) -> Response {
    let passcode_url = format!("{}/passcode", world.urls.login);
    if !wants_json(&headers) {
        return Html(format!(
            "<!DOCTYPE html><html><head><title>Sandbox login</title></head><body>\
             <h1>Dedicated sandbox</h1><p>Federated users: get a one-time code at \
             <a href=\"{passcode_url}\">{passcode_url}</a>.</p></body></html>"
        ))
        .into_response();
    }
    let body = json!({
        "app": {"version": "4.19.0"},
        "links": {
            "uaa": world.urls.uaa,
            "passwd": format!("{}/forgot_password", world.urls.login),
            "login": world.urls.login,
            "register": format!("{}/create_account", world.urls.login),
        },
        "zone_name": "uaa",
        "entityID": format!("login.{}", world.config.domain),
        "commit_id": "sandbox",
        "idpDefinitions": {},
        "prompts": {
            "username": ["text", "Email"],
            "password": ["password", "Password"],
            "passcode": ["password", format!("One Time Code (Get one at {passcode_url})")],
        },
        "timestamp": "2018-04-23T00:00:00+0000",
    });
    axum::Json(body).into_response()
}

/// `GET /passcode`: a one-time code for the seeded "browser" user, as a JSON string or a page.
async fn passcode(State(world): State<Arc<World>>, headers: HeaderMap) -> Response {
    let code: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(10)
        .map(char::from)
        .collect();
    let expiry = crate::now() + world.config.passcode_ttl.as_secs();
    world.uaa.inner.lock().expect("uaa lock").passcodes.insert(
        code.clone(),
        (world.config.sso_browser_user.clone(), expiry),
    );
    if wants_json(&headers) {
        axum::Json(Value::String(code)).into_response()
    } else {
        Html(format!(
            "<!DOCTYPE html><html><head><title>Temporary Authentication Code</title></head><body>\
             <h2>Temporary Authentication Code</h2><p>{code}</p>\
             <p>Signed in as {user}. The code works once.</p></body></html>",
            user = world.config.sso_browser_user
        ))
        .into_response()
    }
}

pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("valid"));
    response
}

fn client_unauthorized(description: &str) -> Response {
    let mut response = oauth_error(StatusCode::UNAUTHORIZED, "unauthorized", description);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        "Basic realm=\"UAA/client\", error=\"unauthorized\""
            .parse()
            .expect("valid"),
    );
    response
}

/// Checks the client is `cf` with an empty secret, via Basic auth or form fields.
#[allow(
    clippy::result_large_err,
    reason = "the error is the HTTP response itself, built once per request"
)]
fn check_client(headers: &HeaderMap, form: &HashMap<String, String>) -> Result<(), Response> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or("");
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(client_unauthorized("Bad credentials"));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        return match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some(("cf", "")) => Ok(()),
            _ => Err(client_unauthorized("Bad credentials")),
        };
    }
    match (
        form.get("client_id").map(String::as_str),
        form.get("client_secret").map(String::as_str),
    ) {
        (Some("cf"), None | Some("")) => Ok(()),
        (None, _) => Err(client_unauthorized(
            "Full authentication is required to access this resource",
        )),
        _ => Err(client_unauthorized("Bad credentials")),
    }
}

fn token_claims(
    world: &World,
    user: &SeedUser,
    grant_type: &str,
    kind: &str,
) -> Map<String, Value> {
    let now = crate::now();
    let (jti, ttl) = if kind == "access" {
        (
            uuid::Uuid::new_v4().simple().to_string(),
            world.config.access_token_ttl,
        )
    } else {
        (
            format!("{}-r", uuid::Uuid::new_v4().simple()),
            world.config.refresh_token_ttl,
        )
    };
    let claims = json!({
        "jti": jti,
        "sub": user.id,
        "scope": SCOPES,
        "client_id": "cf",
        "cid": "cf",
        "azp": "cf",
        "grant_type": grant_type,
        "user_id": user.id,
        "origin": if user.password.is_some() { "ldap" } else { "saml" },
        "user_name": user.username,
        "email": user.email,
        "auth_time": now,
        "rev_sig": "5a1c0b7e",
        "iat": now,
        "exp": now + ttl.as_secs(),
        "iss": format!("{}/oauth/token", world.urls.uaa),
        "zid": "uaa",
        "aud": ["cloud_controller", "password", "cf", "uaa", "openid"],
        // Not a UAA claim: tells access and refresh tokens apart, as UAA's token store does.
        "token_kind": kind,
    });
    match claims {
        Value::Object(map) => map,
        _ => unreachable!("json! object"),
    }
}

/// Issues an access and a (tracked) refresh token; returns the §2.1 success body.
pub(crate) fn issue_tokens(world: &World, user: &SeedUser, grant_type: &str) -> Value {
    let access = token_claims(world, user, grant_type, "access");
    let refresh = token_claims(world, user, grant_type, "refresh");
    let access_jti = access["jti"].clone();
    let refresh_jti = refresh["jti"].as_str().expect("jti").to_string();
    let refresh_exp = refresh["exp"].as_u64().expect("exp");
    world
        .uaa
        .inner
        .lock()
        .expect("uaa lock")
        .refresh
        .insert(refresh_jti, (user.username.clone(), refresh_exp));
    json!({
        "access_token": crate::jwt::sign(&world.uaa.key, &access),
        "token_type": "bearer",
        "refresh_token": crate::jwt::sign(&world.uaa.key, &refresh),
        "scope": SCOPES.join(" "),
        "expires_in": world.config.access_token_ttl.as_secs(),
        "jti": access_jti,
    })
}

/// The `refresh-not-rotated` variant (UAA's default configuration): the refresh token used
/// stays valid and is returned again instead of the new one.
fn keep_refresh_token(world: &World, answer: &mut Value, jti: &str, used: &str) {
    let issued = answer["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let issued_jti = crate::jwt::verify(&world.uaa.key, &issued)
        .and_then(|c| c.get("jti").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    let mut inner = world.uaa.inner.lock().expect("uaa lock");
    if let Some(entry) = inner.refresh.remove(&issued_jti) {
        inner.refresh.insert(jti.to_string(), entry);
    }
    answer["refresh_token"] = Value::String(used.to_string());
}

fn bad_credentials() -> Response {
    oauth_error(StatusCode::UNAUTHORIZED, "unauthorized", "Bad credentials")
}

/// `POST /oauth/token`: password (incl. `username=apikey`), passcode and refresh grants.
async fn token(State(world): State<Arc<World>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut form: HashMap<String, String> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        form.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    if let Err(response) = check_client(&headers, &form) {
        return response;
    }
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let user = match field("grant_type") {
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing grant type",
            );
        }
        Some("password") => {
            if let Some(code) = field("passcode") {
                let now = crate::now();
                let taken = world
                    .uaa
                    .inner
                    .lock()
                    .expect("uaa lock")
                    .passcodes
                    .remove(code);
                match taken {
                    Some((username, exp)) if now < exp => world.user(&username).cloned(),
                    _ => {
                        return oauth_error(
                            StatusCode::UNAUTHORIZED,
                            "unauthorized",
                            "Invalid passcode",
                        );
                    }
                }
            } else {
                let (Some(username), Some(password)) = (field("username"), field("password"))
                else {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "Missing username and password, or passcode",
                    );
                };
                if username == "apikey" && world.config.has(Variant::ApikeyIamOnly) {
                    // An IBMid environment: API keys only work through IAM.
                    None
                } else if username == "apikey" {
                    world
                        .config
                        .users
                        .iter()
                        .find(|u| u.api_key.as_deref() == Some(password))
                        .cloned()
                } else {
                    world
                        .user(username)
                        .filter(|u| u.password.as_deref() == Some(password))
                        .cloned()
                }
            }
        }
        Some("refresh_token") => {
            let Some(refresh_token) = field("refresh_token") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "Missing refresh_token",
                );
            };
            let invalid = || {
                oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    &format!(
                        "Invalid auth token: Invalid refresh token (expired): {refresh_token}"
                    ),
                )
            };
            let Some(claims) = crate::jwt::verify(&world.uaa.key, refresh_token) else {
                return invalid();
            };
            let jti = claims.get("jti").and_then(Value::as_str).unwrap_or("");
            // Rotation: the refresh token is consumed whether or not it is still valid.
            let taken = world
                .uaa
                .inner
                .lock()
                .expect("uaa lock")
                .refresh
                .remove(jti);
            match taken {
                Some((username, exp)) if crate::now() < exp => {
                    match world.user(&username).cloned() {
                        Some(user) => {
                            let mut answer = issue_tokens(&world, &user, "refresh_token");
                            if world.config.has(Variant::RefreshNotRotated) {
                                keep_refresh_token(&world, &mut answer, jti, refresh_token);
                            }
                            return axum::Json(answer).into_response();
                        }
                        None => return invalid(),
                    }
                }
                _ => return invalid(),
            }
        }
        Some("iam_token") => match crate::iam::exchange(&world, &form) {
            Ok(user) => Some(user),
            Err(response) => return response,
        },
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("Unsupported grant type: {other}"),
            );
        }
    };
    match user {
        Some(user) => axum::Json(issue_tokens(&world, &user, "password")).into_response(),
        None => bad_credentials(),
    }
}

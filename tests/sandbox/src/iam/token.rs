//! `POST /identity/token` (icr-protocol.md §1), the passcode page and discovery.
//!
//! Grants: `urn:ibm:params:oauth:grant-type:apikey` (`apikey`), `…:passcode` (`passcode`),
//! `refresh_token` (`refresh_token`), and `password`, which no seeded IBM Cloud user can pass.
//! The client is `bx` with Basic `bx:bx` (as IBM's CLI sends) or `default` without Basic (as
//! go-sdk-core does); a refresh must use the client of the original grant, and a `default`
//! grant cannot be refreshed (`BXNIM0137E`), unless the `iam-refresh-any-client` variant is on.
//! An `account` field picks one of the identity's accounts. Dedicated users' API keys (seed
//! `users`) keep protocol.md §2.3's behaviour: `response_type` may list `uaa`.

#![allow(
    clippy::result_large_err,
    reason = "errors are the HTTP responses themselves, built once per request"
)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::seed::IbmUser;
use super::state::{Refresh, ServiceId, random_secret};
use super::{form, token_error};
use crate::variants::Variant;
use crate::{SeedUser, World};

/// The API-key grant type.
pub const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";
/// The one-time passcode grant type.
pub const PASSCODE_GRANT: &str = "urn:ibm:params:oauth:grant-type:passcode";

/// Lifetime of IAM access tokens of Dedicated users (protocol.md §2.3).
const DEDICATED_TTL: u64 = 3600;

/// Whom a public-cloud token is for.
#[derive(Clone, Debug)]
pub enum Subject {
    /// An IBMid user.
    User(IbmUser),
    /// A service ID.
    ServiceId(ServiceId),
}

impl Subject {
    fn iam_id(&self) -> &str {
        match self {
            Subject::User(u) => &u.iam_id,
            Subject::ServiceId(s) => &s.iam_id,
        }
    }

    fn accounts(&self) -> Vec<String> {
        match self {
            Subject::User(u) => u.accounts.clone(),
            Subject::ServiceId(s) => vec![s.account_id.clone()],
        }
    }
}

type Reply = Result<Response, Response>;

fn bad(code: &str, message: &str) -> Response {
    token_error(StatusCode::BAD_REQUEST, code, message)
}

/// The client id of the request: `bx` for Basic `bx:bx`, `default` without Basic.
fn client_id(headers: &HeaderMap) -> Result<&'static str, Response> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok("default");
    };
    let decoded = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, b)| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        });
    match decoded.as_deref() {
        Some(b"bx:bx") => Ok("bx"),
        _ => Err(token_error(
            StatusCode::UNAUTHORIZED,
            "BXNIM0308E",
            "The client is not authorized",
        )),
    }
}

/// `POST /identity/token`.
pub(crate) async fn token(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = match client_id(&headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let form = form(&body);
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    let result = match grant {
        APIKEY_GRANT => apikey_grant(&world, &form, client),
        PASSCODE_GRANT => passcode_grant(&world, &form, client),
        "refresh_token" => refresh_grant(&world, &form, client),
        "password" => Err(bad(
            "BXNIM0602E",
            &format!(
                "The credentials you entered for the user '{}' are incorrect",
                form.get("username").map(String::as_str).unwrap_or("")
            ),
        )),
        "" => Err(bad("BXNIM0109E", "Property missing or empty: grant_type")),
        _ => Err(bad("BXNIM0109E", "Unsupported grant type")),
    };
    result.unwrap_or_else(|e| e)
}

/// `response_type` for public-cloud grants: only `cloud_iam` (and IAM's other own values).
fn check_response_type(form: &std::collections::HashMap<String, String>) -> Result<(), Response> {
    let Some(value) = form.get("response_type") else {
        return Ok(());
    };
    let ok = value
        .split([',', ' '])
        .filter(|t| !t.is_empty())
        .all(|t| matches!(t, "cloud_iam" | "ims_portal" | "delegated_refresh_token"));
    if ok {
        return Ok(());
    }
    Err(bad(
        "BXNIM0106E",
        &format!("Invalid value '{value}' for property response_type. Valid values: 'cloud_iam'"),
    ))
}

/// The account of the token: `account` when it is one of the subject's, else its first.
fn pick_account(
    subject: &Subject,
    form: &std::collections::HashMap<String, String>,
    current: Option<&str>,
) -> Result<String, Response> {
    let accounts = subject.accounts();
    let wanted = form
        .get("account")
        .or_else(|| form.get("bss_account"))
        .map(String::as_str)
        .or(current);
    match wanted {
        Some(a) if accounts.iter().any(|x| x == a) => Ok(a.to_string()),
        Some(a) => Err(bad(
            "BXNIM0355E",
            &format!("BSS Account '{a}' was not found."),
        )),
        None => accounts
            .first()
            .cloned()
            .ok_or_else(|| bad("BXNIM0355E", "The identity is not a member of any account.")),
    }
}

fn apikey_grant(
    world: &World,
    form: &std::collections::HashMap<String, String>,
    client: &str,
) -> Reply {
    let Some(key) = form.get("apikey").filter(|k| !k.is_empty()) else {
        return Err(bad("BXNIM0109E", "Property missing or empty: apikey"));
    };
    let found = {
        let inner = world.iam.lock();
        inner
            .api_keys
            .iter()
            .find(|k| &k.value == key && !k.deleted)
            .cloned()
    };
    let Some(record) = found else {
        if let Some(user) = world
            .config
            .users
            .iter()
            .find(|u| u.api_key.as_deref() == Some(key.as_str()))
        {
            return Ok(dedicated_answer(world, user, form));
        }
        return Err(bad("BXNIM0415E", "Provided API key could not be found"));
    };
    if record.disabled {
        return Err(bad("BXNIM0416E", "Provided API key is disabled"));
    }
    if record.expires_epoch.is_some_and(|e| crate::now() >= e) {
        return Err(bad("BXNIM0417E", "Provided API key is expired"));
    }
    let subject = subject_of(world, &record.iam_id)
        .ok_or_else(|| bad("BXNIM0415E", "Provided API key could not be found"))?;
    check_response_type(form)?;
    let account = pick_account(&subject, form, None)?;
    Ok(answer(world, &subject, &account, client, APIKEY_GRANT))
}

/// The live identity `iam_id`: a seeded user or an undeleted service ID.
pub(crate) fn subject_of(world: &World, iam_id: &str) -> Option<Subject> {
    if let Some(user) = world.config.ibm.users.iter().find(|u| u.iam_id == iam_id) {
        return Some(Subject::User(user.clone()));
    }
    let inner = world.iam.lock();
    inner
        .service_ids
        .iter()
        .find(|s| s.iam_id == iam_id && !s.deleted)
        .cloned()
        .map(Subject::ServiceId)
}

fn passcode_grant(
    world: &World,
    form: &std::collections::HashMap<String, String>,
    client: &str,
) -> Reply {
    let Some(code) = form.get("passcode").filter(|c| !c.is_empty()) else {
        return Err(bad("BXNIM0109E", "Property missing or empty: passcode"));
    };
    // An attempt consumes the code, whether or not it has expired.
    let entry = world.iam.lock().passcodes.remove(code);
    let invalid = || bad("BXNIM0440E", "The passcode is invalid or expired");
    let Some((iam_id, exp)) = entry else {
        return Err(invalid());
    };
    if crate::now() >= exp {
        return Err(invalid());
    }
    let subject = subject_of(world, &iam_id).ok_or_else(invalid)?;
    check_response_type(form)?;
    let account = pick_account(&subject, form, None)?;
    Ok(answer(world, &subject, &account, client, PASSCODE_GRANT))
}

fn refresh_grant(
    world: &World,
    form: &std::collections::HashMap<String, String>,
    client: &str,
) -> Reply {
    let Some(token) = form.get("refresh_token").filter(|t| !t.is_empty()) else {
        return Err(bad(
            "BXNIM0109E",
            "Property missing or empty: refresh_token",
        ));
    };
    let record = world.iam.lock().refresh.get(token).cloned();
    let Some(record) = record else {
        return Err(bad("BXNIM0407E", "Provided refresh token is not valid"));
    };
    if crate::now() >= record.exp {
        return Err(bad("BXNIM0408E", "Provided refresh token is expired"));
    }
    let any_client = world.config.has(Variant::IamRefreshAnyClient);
    if !any_client && (record.client != client || record.client == "default") {
        return Err(bad(
            "BXNIM0137E",
            &format!(
                "For the original authentication, client id '{}' was passed, refresh the token, client id '{client}' is used.",
                record.client
            ),
        ));
    }
    let subject = subject_of(world, &record.iam_id)
        .ok_or_else(|| bad("BXNIM0407E", "Provided refresh token is not valid"))?;
    check_response_type(form)?;
    let account = pick_account(&subject, form, Some(&record.account))?;
    Ok(answer(world, &subject, &account, client, &record.grant))
}

/// A public-cloud IAM access token: an HS256 JWT (IBM signs RS256; clients only decode it)
/// with the claims IBM's CLI reads (`iam_id`, `account.bss`, `exp`, ...).
pub(crate) fn access_token(
    world: &World,
    subject: &Subject,
    account: &str,
    client: &str,
    grant: &str,
) -> String {
    let now = crate::now();
    let mut claims = Map::new();
    match subject {
        Subject::User(u) => {
            claims.insert("iam_id".into(), json!(u.iam_id));
            claims.insert("id".into(), json!(u.iam_id));
            claims.insert("realmid".into(), json!("IBMid"));
            claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
            claims.insert(
                "identifier".into(),
                json!(u.iam_id.trim_start_matches("IBMid-")),
            );
            claims.insert("given_name".into(), json!(u.name.0));
            claims.insert("family_name".into(), json!(u.name.1));
            claims.insert("name".into(), json!(format!("{} {}", u.name.0, u.name.1)));
            claims.insert("email".into(), json!(u.email));
            claims.insert("sub".into(), json!(u.email));
        }
        Subject::ServiceId(s) => {
            claims.insert("iam_id".into(), json!(s.iam_id));
            claims.insert("id".into(), json!(s.iam_id));
            claims.insert("realmid".into(), json!("iam"));
            claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
            claims.insert("identifier".into(), json!(s.id));
            claims.insert("name".into(), json!(s.name));
            claims.insert("sub".into(), json!(s.id));
            claims.insert("sub_type".into(), json!("ServiceId"));
        }
    }
    claims.insert("account".into(), json!({"valid": true, "bss": account}));
    claims.insert("iat".into(), json!(now));
    claims.insert(
        "exp".into(),
        json!(now + world.config.ibm.access_token_ttl.as_secs()),
    );
    claims.insert("iss".into(), json!(format!("{}/identity", world.urls.iam)));
    claims.insert("grant_type".into(), json!(grant));
    claims.insert("scope".into(), json!("ibm openid"));
    claims.insert("client_id".into(), json!(client));
    claims.insert("acr".into(), json!(1));
    claims.insert(
        "amr".into(),
        json!([if grant == APIKEY_GRANT { "pwd" } else { "sso" }]),
    );
    claims.insert("token_kind".into(), json!("iam"));
    let token = crate::jwt::sign(&world.uaa.signing_key(), &claims);
    world.iam.lock().access_tokens.push(token.clone());
    token
}

/// The 200 answer: fields in the order of the real capture.
fn answer(world: &World, subject: &Subject, account: &str, client: &str, grant: &str) -> Response {
    let now = crate::now();
    let ttl = world.config.ibm.access_token_ttl.as_secs();
    let mut body = Map::new();
    body.insert(
        "access_token".into(),
        json!(access_token(world, subject, account, client, grant)),
    );
    let no_refresh = matches!(subject, Subject::ServiceId(_))
        && world.config.has(Variant::ServiceIdRefreshNotSupported);
    let refresh_exp = now + world.config.ibm.refresh_token_ttl.as_secs();
    if no_refresh {
        body.insert("refresh_token".into(), json!("not_supported"));
    } else {
        let refresh = random_secret(120);
        let mut inner = world.iam.lock();
        inner.refresh.insert(
            refresh.clone(),
            Refresh {
                iam_id: subject.iam_id().to_string(),
                account: account.to_string(),
                client: client.to_string(),
                grant: grant.to_string(),
                exp: refresh_exp,
            },
        );
        inner.refresh_tokens.push(refresh.clone());
        body.insert("refresh_token".into(), json!(refresh));
    }
    if let Subject::User(u) = subject
        && u.ims_user_id != 0
    {
        body.insert("ims_user_id".into(), json!(u.ims_user_id));
    }
    body.insert("token_type".into(), json!("Bearer"));
    body.insert("expires_in".into(), json!(ttl));
    body.insert("expiration".into(), json!(now + ttl));
    if !no_refresh {
        body.insert("refresh_token_expiration".into(), json!(refresh_exp));
    }
    body.insert("scope".into(), json!("ibm openid"));
    axum::Json(Value::Object(body)).into_response()
}

/// An IAM access token for a Dedicated `user` (protocol.md §2.3): signed with the UAA's key,
/// of its own kind so that neither the UAA nor the registry takes it as a UAA token.
fn dedicated_access_token(world: &World, user: &SeedUser) -> String {
    let now = crate::now();
    let mut claims = Map::new();
    claims.insert("iam_id".into(), json!(format!("IBMid-{}", user.id)));
    claims.insert("id".into(), json!(user.id));
    claims.insert("sub".into(), json!(user.username));
    claims.insert("grant_type".into(), json!(APIKEY_GRANT));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + DEDICATED_TTL));
    claims.insert("iss".into(), json!(format!("{}/identity", world.urls.iam)));
    claims.insert("token_kind".into(), json!("iam"));
    let token = crate::jwt::sign(&world.uaa.signing_key(), &claims);
    world.uaa.record_iam_token(&token);
    token
}

/// The answer to a Dedicated user's API key, with `uaa_token` when `response_type` lists
/// `uaa` and the UAA client is given (unless `iam-exchange-only`).
fn dedicated_answer(
    world: &World,
    user: &SeedUser,
    form: &std::collections::HashMap<String, String>,
) -> Response {
    let wants_uaa = form
        .get("response_type")
        .is_some_and(|r| r.split([',', ' ']).any(|t| t == "uaa"));
    let now = crate::now();
    let mut answer = json!({
        "access_token": dedicated_access_token(world, user),
        "refresh_token": format!("iam-refresh-{}", uuid::Uuid::new_v4().simple()),
        "token_type": "Bearer",
        "expires_in": DEDICATED_TTL,
        "expiration": now + DEDICATED_TTL,
        "scope": "ibm openid",
    });
    let client_ok = form.get("uaa_client_id").map(String::as_str) == Some("cf")
        && form.get("uaa_client_secret").is_some_and(String::is_empty);
    if wants_uaa && client_ok && !world.config.has(Variant::IamExchangeOnly) {
        let uaa = crate::uaa::issue_tokens(world, user, "password");
        answer["uaa_token"] = uaa["access_token"].clone();
        answer["uaa_refresh_token"] = uaa["refresh_token"].clone();
    }
    axum::Json(answer).into_response()
}

/// `GET /identity/passcode`: a one-time passcode for the browser user
/// ([`super::IbmConfig::passcode_user`]); a JSON string with `Accept: application/json`.
pub(crate) async fn passcode(State(world): State<Arc<World>>, headers: HeaderMap) -> Response {
    let email = &world.config.ibm.passcode_user;
    let Some(user) = world.ibm_user(email) else {
        return (StatusCode::NOT_FOUND, "no browser session").into_response();
    };
    let code = random_secret(10).replace(['_', '-'], "x");
    let exp = crate::now() + world.config.ibm.passcode_ttl.as_secs();
    world
        .iam
        .lock()
        .passcodes
        .insert(code.clone(), (user.iam_id.clone(), exp));
    let json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if json {
        return axum::Json(Value::String(code)).into_response();
    }
    Html(format!(
        "<!DOCTYPE html><html><head><title>One-time passcode</title></head><body>\
         <h2>One-time passcode</h2><p>{code}</p><p>Signed in as {email}. It works once.</p>\
         </body></html>"
    ))
    .into_response()
}

/// `GET /identity/.well-known/openid-configuration`.
pub(crate) async fn discovery(State(world): State<Arc<World>>) -> Response {
    let base = &world.urls.iam;
    axum::Json(json!({
        "issuer": format!("{base}/identity"),
        "authorization_endpoint": format!("{base}/identity/authorize"),
        "token_endpoint": format!("{base}/identity/token"),
        "passcode_endpoint": format!("{base}/identity/passcode"),
        "userinfo_endpoint": format!("{base}/identity/userinfo"),
        "jwks_uri": format!("{base}/identity/keys"),
        "response_types_supported": ["cloud_iam"],
        "grant_types_supported": [
            "password", "authorization_code", "refresh_token", APIKEY_GRANT, PASSCODE_GRANT,
        ],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    }))
    .into_response()
}

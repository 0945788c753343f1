//! The Cloud Controller, login/UAA and registry servers, driven through real HTTPS clients that
//! trust only the sandbox CA. Covers success paths and every error shape of protocol.md §1–§6.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use dedicated_sandbox::seed::*;
use dedicated_sandbox::{Fault, FaultAction, Sandbox, SandboxConfig, Service};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

const BASIC_CF: &str = "Basic Y2Y6";

// Lifetimes in tests are at least 2 s: `exp` has whole-second precision, so a 1 s token issued at
// the end of a second would already be expired when used a few milliseconds later. Tests then
// sleep lifetime + 1.1 s before expecting expiry.

async fn start_with(config: SandboxConfig) -> (Sandbox, Client) {
    let sandbox = Sandbox::start_with(config, None)
        .await
        .expect("sandbox starts");
    let ca = reqwest::Certificate::from_pem(sandbox.pki.ca_pem.as_bytes()).expect("CA PEM");
    let client = Client::builder()
        .tls_certs_only([ca])
        .build()
        .expect("client builds");
    (sandbox, client)
}

async fn start() -> (Sandbox, Client) {
    start_with(SandboxConfig::default()).await
}

async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, value)
}

/// POSTs a token request (Basic `cf:`) to `base/oauth/token`.
async fn token_request(client: &Client, base: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    json_of(
        client
            .post(format!("{base}/oauth/token"))
            .header("authorization", BASIC_CF)
            .header("accept", "application/json")
            .form(form)
            .send()
            .await
            .expect("token request"),
    )
    .await
}

async fn password_login(sandbox: &Sandbox, client: &Client, user: &str, password: &str) -> Value {
    let (status, body) = token_request(
        client,
        &sandbox.urls().uaa,
        &[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
            ("scope", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn access_token(sandbox: &Sandbox, client: &Client, user: &str, password: &str) -> String {
    password_login(sandbox, client, user, password).await["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// The JWT payload, decoded (base64url without padding) and parsed keeping key order.
fn jwt_payload(token: &str) -> (String, Value) {
    let segment = token.split('.').nth(1).expect("payload segment");
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(segment).expect("base64url")).unwrap();
    let value = serde_json::from_str(&raw).expect("payload JSON");
    (raw, value)
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// The keys of a UAA token response, in the order UAA writes them.
const TOKEN_RESPONSE_KEYS: [&str; 6] = [
    "access_token",
    "token_type",
    "refresh_token",
    "scope",
    "expires_in",
    "jti",
];

/// A string field of a JSON object, owned.
fn string_field(body: &Value, key: &str) -> String {
    body[key].as_str().expect("string field").to_string()
}

/// A response header as an owned string.
fn header_string(response: &Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_string()
}

/// The password-grant form (without `scope`).
fn password_form<'a>(user: &'a str, password: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("grant_type", "password"),
        ("username", user),
        ("password", password),
    ]
}

/// GETs `url` with `token` as a bearer and parses the JSON answer.
async fn get_json_bearer(client: &Client, url: &str, token: &str) -> (StatusCode, Value) {
    json_of(client.get(url).bearer_auth(token).send().await.unwrap()).await
}

/// POSTs `form` to `base/oauth/token` without client authentication in a header.
async fn token_form_without_basic(
    client: &Client,
    base: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    json_of(
        client
            .post(format!("{base}/oauth/token"))
            .form(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// POSTs a refresh grant (Basic `cf:`) to `base/oauth/token`.
async fn refresh_grant(client: &Client, base: &str, refresh_token: &str) -> (StatusCode, Value) {
    token_request(
        client,
        base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// GETs `base/passcode` as JSON, asserts 200 and returns the code.
async fn fetch_passcode(client: &Client, login: &str) -> String {
    let response = client
        .get(format!("{login}/passcode"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let code: Value = response.json().await.unwrap();
    code.as_str()
        .expect("passcode is a JSON string")
        .to_string()
}

/// Asserts a UAA `{"error": code}` answer with the given status.
fn assert_uaa_error(status: StatusCode, body: &Value, want_status: StatusCode, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], code);
}

// ---------------------------------------------------------------------------------------------
// Cloud Controller

#[tokio::test(flavor = "multi_thread")]
async fn discovery_points_at_login_with_path_and_uaa() {
    let (sandbox, client) = start().await;
    let urls = sandbox.urls().clone();
    let (status, info) = json_of(
        client
            .get(format!("{}/v2/info", urls.api))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["authorization_endpoint"], urls.login.as_str());
    assert!(
        info["authorization_endpoint"]
            .as_str()
            .unwrap()
            .ends_with("/UAALoginServerWAR")
    );
    assert_eq!(info["token_endpoint"], urls.uaa.as_str());
    for key in [
        "name",
        "build",
        "support",
        "version",
        "description",
        "min_cli_version",
        "min_recommended_cli_version",
        "api_version",
        "app_ssh_endpoint",
        "app_ssh_host_key_fingerprint",
        "app_ssh_oauth_client",
        "doppler_logging_endpoint",
    ] {
        assert!(info.get(key).is_some(), "missing {key}");
    }

    let (status, root) = json_of(client.get(&urls.api).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(root["links"]["login"]["href"], urls.login.as_str());
    assert_eq!(root["links"]["uaa"]["href"], urls.uaa.as_str());
    assert_eq!(
        root["links"]["cloud_controller_v2"]["href"],
        format!("{}/v2", urls.api)
    );
    assert_eq!(
        root["links"]["cloud_controller_v3"]["href"],
        format!("{}/v3", urls.api)
    );

    // The login server exists only under its path: replacing the path fails.
    let login_root = urls.login.trim_end_matches("/UAALoginServerWAR");
    let replaced = client
        .post(format!("{login_root}/oauth/token"))
        .header("authorization", BASIC_CF)
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn org_lookup_v2_shows_only_the_users_orgs() {
    let (sandbox, client) = start().await;
    let api = sandbox.urls().api.clone();
    let alice = access_token(&sandbox, &client, ALICE, ALICE_PASSWORD).await;
    let bob = access_token(&sandbox, &client, BOB, BOB_PASSWORD).await;
    let mallory = access_token(&sandbox, &client, MALLORY, MALLORY_PASSWORD).await;

    let lookup = |token: String, name: &'static str| {
        let client = client.clone();
        let api = api.clone();
        async move {
            json_of(
                client
                    .get(format!("{api}/v2/organizations"))
                    .query(&[("q", format!("name:{name}"))])
                    .header("authorization", format!("bearer {token}"))
                    .header("accept", "application/json")
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (status, body) = lookup(alice.clone(), DEV_ORG).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total_results"], 1);
    assert_eq!(body["total_pages"], 1);
    assert_eq!(body["prev_url"], Value::Null);
    assert_eq!(body["next_url"], Value::Null);
    let org = &body["resources"][0];
    assert_eq!(org["metadata"]["guid"], DEV_ORG_GUID);
    assert_eq!(
        org["metadata"]["url"],
        format!("/v2/organizations/{DEV_ORG_GUID}")
    );
    assert_eq!(org["entity"]["name"], DEV_ORG);
    assert_eq!(org["entity"]["status"], "active");

    let (_, body) = lookup(alice.clone(), OPS_ORG).await;
    assert_eq!(body["resources"][0]["metadata"]["guid"], OPS_ORG_GUID);
    // Bob is not in ops-org, Mallory in no org: 200 with no resources.
    for (token, name) in [(bob, OPS_ORG), (mallory, DEV_ORG)] {
        let (status, body) = lookup(token, name).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["total_results"], 0);
        assert_eq!(body["resources"], json!([]));
    }

    // Pagination fields follow results-per-page.
    let (_, body) = get_json_bearer(
        &client,
        &format!("{api}/v2/organizations?results-per-page=1"),
        &alice,
    )
    .await;
    assert_eq!(body["total_results"], 2);
    assert_eq!(body["total_pages"], 2);
    assert_eq!(body["resources"].as_array().unwrap().len(), 1);
    assert!(body["next_url"].as_str().unwrap().contains("page=2"));

    // Single org by GUID: 404 CF-OrganizationNotFound when not a member.
    let bob = access_token(&sandbox, &client, BOB, BOB_PASSWORD).await;
    let (status, body) = get_json_bearer(
        &client,
        &format!("{api}/v2/organizations/{OPS_ORG_GUID}"),
        &bob,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"code": 30003, "description": format!("The Organization could not be found: {OPS_ORG_GUID}"), "error_code": "CF-OrganizationNotFound"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn org_lookup_v3_shape() {
    let (sandbox, client) = start().await;
    let api = sandbox.urls().api.clone();
    let alice = access_token(&sandbox, &client, ALICE, ALICE_PASSWORD).await;
    let bob = access_token(&sandbox, &client, BOB, BOB_PASSWORD).await;
    let url = format!("{api}/v3/organizations?names={DEV_ORG},{OPS_ORG}");
    let (status, body) = get_json_bearer(&client, &url, &alice).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["pagination"]["total_results"], 2);
    assert_eq!(body["pagination"]["next"], Value::Null);
    let names: Vec<&str> = body["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [DEV_ORG, OPS_ORG]);
    assert_eq!(body["resources"][0]["guid"], DEV_ORG_GUID);
    assert_eq!(body["resources"][0]["suspended"], false);
    assert!(body["resources"][0]["relationships"]["quota"]["data"]["guid"].is_string());

    let (_, body) = get_json_bearer(&client, &url, &bob).await;
    assert_eq!(body["pagination"]["total_results"], 1);
    assert_eq!(body["resources"][0]["name"], DEV_ORG);

    // A single org the user is not in: 404 in the v3 error shape.
    let (status, body) = get_json_bearer(
        &client,
        &format!("{api}/v3/organizations/{OPS_ORG_GUID}"),
        &bob,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"errors": [{"detail": "Organization not found", "title": "CF-ResourceNotFound", "code": 10010}]})
    );
    // An unsupported v2 filter: 400 CF-BadQueryParameter.
    let (status, body) = get_json_bearer(
        &client,
        &format!("{api}/v2/organizations?q=status:active"),
        &bob,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_code"], "CF-BadQueryParameter");
    assert_eq!(body["code"], 1001);
}

#[tokio::test(flavor = "multi_thread")]
async fn cc_auth_errors_v2_and_v3() {
    let (sandbox, client) = start_with(SandboxConfig {
        access_token_ttl: Duration::from_secs(2),
        ..SandboxConfig::default()
    })
    .await;
    let api = sandbox.urls().api.clone();
    let v2 = format!("{api}/v2/organizations?q=name:{DEV_ORG}");
    let v3 = format!("{api}/v3/organizations?names={DEV_ORG}");
    let not_authenticated_v2 = json!({"code": 10002, "description": "Authentication error", "error_code": "CF-NotAuthenticated"});
    let invalid_v2 = json!({"code": 1000, "description": "Invalid Auth Token", "error_code": "CF-InvalidAuthToken"});
    let not_authenticated_v3 = json!({"errors": [{"detail": "Authentication error", "title": "CF-NotAuthenticated", "code": 10002}]});
    let invalid_v3 = json!({"errors": [{"detail": "Invalid Auth Token", "title": "CF-InvalidAuthToken", "code": 1000}]});

    let get = |url: String, auth: Option<String>| {
        let client = client.clone();
        async move {
            let mut request = client.get(url);
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            json_of(request.send().await.unwrap()).await
        }
    };
    assert_eq!(
        get(v2.clone(), None).await,
        (StatusCode::UNAUTHORIZED, not_authenticated_v2)
    );
    assert_eq!(
        get(v3.clone(), None).await,
        (StatusCode::UNAUTHORIZED, not_authenticated_v3)
    );
    assert_eq!(
        get(v2.clone(), Some("Bearer not.a.token".into())).await,
        (StatusCode::UNAUTHORIZED, invalid_v2.clone())
    );
    assert_eq!(
        get(v3.clone(), Some("Bearer garbage".into())).await,
        (StatusCode::UNAUTHORIZED, invalid_v3.clone())
    );
    // A refresh token is not an access token.
    let login = password_login(&sandbox, &client, ALICE, ALICE_PASSWORD).await;
    let refresh = login["refresh_token"].as_str().unwrap();
    assert_eq!(
        get(v2.clone(), Some(format!("Bearer {refresh}"))).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The scheme is matched case-insensitively.
    let token = login["access_token"].as_str().unwrap().to_string();
    for scheme in ["bearer", "Bearer", "BEARER"] {
        let (status, _) = get(v2.clone(), Some(format!("{scheme} {token}"))).await;
        assert_eq!(status, StatusCode::OK, "{scheme}");
    }
    // Expired access token: CF-InvalidAuthToken in both shapes.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(
        get(v2, Some(format!("bearer {token}"))).await,
        (StatusCode::UNAUTHORIZED, invalid_v2)
    );
    assert_eq!(
        get(v3, Some(format!("bearer {token}"))).await,
        (StatusCode::UNAUTHORIZED, invalid_v3)
    );
}

// ---------------------------------------------------------------------------------------------
// Login / UAA

#[tokio::test(flavor = "multi_thread")]
async fn login_prompts_include_the_passcode_url() {
    let (sandbox, client) = start().await;
    let urls = sandbox.urls().clone();
    for base in [&urls.login, &urls.uaa] {
        let (status, body) = json_of(
            client
                .get(format!("{base}/login"))
                .header("accept", "application/json")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["links"]["uaa"], urls.uaa.as_str());
        assert_eq!(body["prompts"]["username"], json!(["text", "Email"]));
        assert_eq!(body["prompts"]["password"][0], "password");
        assert_eq!(body["prompts"]["passcode"][0], "password");
        let text = body["prompts"]["passcode"][1].as_str().unwrap();
        assert!(
            text.contains(&format!("{}/passcode", urls.login)),
            "passcode prompt: {text}"
        );
    }
    let html = client
        .get(format!("{}/login", urls.login))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), StatusCode::OK);
    assert!(
        html.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn password_grant_on_login_and_uaa() {
    let (sandbox, client) = start().await;
    let urls = sandbox.urls().clone();
    for base in [&urls.login, &urls.uaa] {
        let (status, body) = token_request(
            &client,
            base,
            &[
                ("grant_type", "password"),
                ("username", ALICE),
                ("password", ALICE_PASSWORD),
                ("scope", ""),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(keys(&body), TOKEN_RESPONSE_KEYS);
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["expires_in"], 3600);
        assert!(body["scope"].as_str().unwrap().contains("openid"));
        let (_, claims) = jwt_payload(body["access_token"].as_str().unwrap());
        assert_eq!(claims["jti"], body["jti"]);
        assert_eq!(claims["user_name"], ALICE);
        assert_eq!(claims["email"], ALICE);
        assert_eq!(
            claims["user_id"],
            sandbox.world.user(ALICE).unwrap().id.as_str()
        );
        assert_eq!(claims["sub"], claims["user_id"]);
        assert_eq!(claims["client_id"], "cf");
        assert_eq!(claims["grant_type"], "password");
        assert_eq!(claims["iss"], format!("{}/oauth/token", urls.uaa));
        assert!(claims["scope"].is_array());
        let (iat, exp) = (
            claims["iat"].as_u64().unwrap(),
            claims["exp"].as_u64().unwrap(),
        );
        assert_eq!(exp - iat, 3600);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_credentials_and_bad_clients() {
    let (sandbox, client) = start().await;
    let uaa = sandbox.urls().uaa.clone();
    let bad = json!({"error": "unauthorized", "error_description": "Bad credentials"});
    for (user, password) in [
        (ALICE, "wrong"),
        (CAROL, "anything"),
        ("nobody@example.com", "x"),
        ("apikey", "not-a-key"),
    ] {
        let (status, body) = token_request(&client, &uaa, &password_form(user, password)).await;
        assert_eq!(
            (status, body),
            (StatusCode::UNAUTHORIZED, bad.clone()),
            "{user}"
        );
    }

    let form = password_form(ALICE, ALICE_PASSWORD);
    // Wrong client id, non-empty secret, or another scheme: 401 unauthorized.
    for auth in [
        format!("Basic {}", STANDARD.encode("bx:bx")),
        format!("Basic {}", STANDARD.encode("cf:secret")),
        "Basic !!!".to_string(),
        "Bearer abc".to_string(),
    ] {
        let (status, body) = json_of(
            client
                .post(format!("{uaa}/oauth/token"))
                .header("authorization", auth.clone())
                .form(&form)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth}");
        assert_eq!(body["error"], "unauthorized");
        assert!(body["error_description"].is_string());
    }
    // No client authentication at all.
    let (status, body) = token_form_without_basic(&client, &uaa, &form).await;
    assert_uaa_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    // Form client fields work; a wrong form secret does not.
    let mut with_client = form.to_vec();
    with_client.extend([("client_id", "cf"), ("client_secret", "")]);
    let (status, body) = token_form_without_basic(&client, &uaa, &with_client).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut wrong_secret = form.to_vec();
    wrong_secret.extend([("client_id", "cf"), ("client_secret", "x")]);
    let (status, body) = token_form_without_basic(&client, &uaa, &wrong_secret).await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, bad));
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_parameters_are_invalid_request() {
    let (sandbox, client) = start().await;
    let uaa = sandbox.urls().uaa.clone();
    for form in [
        vec![("username", ALICE), ("password", ALICE_PASSWORD)],
        vec![("grant_type", "password"), ("username", ALICE)],
        vec![("grant_type", "password"), ("password", ALICE_PASSWORD)],
        vec![("grant_type", "refresh_token")],
    ] {
        let (status, body) = token_request(&client, &uaa, &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}");
        assert_eq!(body["error"], "invalid_request");
        assert!(body["error_description"].is_string());
    }
    let (status, body) =
        token_request(&client, &uaa, &[("grant_type", "client_credentials")]).await;
    assert_uaa_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn api_key_grant() {
    let (sandbox, client) = start().await;
    let body = password_login(&sandbox, &client, "apikey", ALICE_API_KEY).await;
    let (_, claims) = jwt_payload(body["access_token"].as_str().unwrap());
    assert_eq!(claims["user_name"], ALICE);
}

#[tokio::test(flavor = "multi_thread")]
async fn passcode_is_single_use_and_short_lived() {
    let (sandbox, client) = start_with(SandboxConfig {
        passcode_ttl: Duration::from_secs(2),
        ..SandboxConfig::default()
    })
    .await;
    let login = sandbox.urls().login.clone();
    let code = fetch_passcode(&client, &login).await;
    let exchange = |code: String| {
        let client = client.clone();
        let login = login.clone();
        async move {
            token_request(
                &client,
                &login,
                &[
                    ("grant_type", "password"),
                    ("passcode", &code),
                    ("scope", ""),
                ],
            )
            .await
        }
    };
    let (status, body) = exchange(code.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, claims) = jwt_payload(body["access_token"].as_str().unwrap());
    assert_eq!(claims["user_name"], CAROL);

    // Reuse.
    let (status, body) = exchange(code).await;
    assert_uaa_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    // Expiry.
    let code = fetch_passcode(&client, &login).await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (status, body) = exchange(code).await;
    assert_uaa_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    // Unknown code.
    let (status, _) = exchange("nope".into()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The browser page shows a code too, and that code works.
    let page = client
        .get(format!("{login}/passcode"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Temporary Authentication Code"));
    // Used and expired codes are gone; only the page's code is left.
    assert_eq!(sandbox.world.uaa.unused_passcodes(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_rotates_and_rejects_used_revoked_and_expired_tokens() {
    let (sandbox, client) = start_with(SandboxConfig {
        refresh_token_ttl: Duration::from_secs(2),
        ..SandboxConfig::default()
    })
    .await;
    let uaa = sandbox.urls().uaa.clone();
    let login = sandbox.urls().login.clone();
    let first = password_login(&sandbox, &client, BOB, BOB_PASSWORD).await;
    let first_refresh = string_field(&first, "refresh_token");
    assert_eq!(sandbox.world.uaa.live_refresh_tokens(BOB), 1);

    let (status, second) = token_request(
        &client,
        &login,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first_refresh),
            ("scope", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(keys(&second), TOKEN_RESPONSE_KEYS);
    let second_refresh = string_field(&second, "refresh_token");
    assert_ne!(second_refresh, first_refresh, "refresh token rotated");
    assert_eq!(sandbox.world.uaa.live_refresh_tokens(BOB), 1);
    let (_, claims) = jwt_payload(second["access_token"].as_str().unwrap());
    assert_eq!(claims["grant_type"], "refresh_token");

    // The used token no longer works.
    let (status, body) = refresh_grant(&client, &uaa, &first_refresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"error": "invalid_token", "error_description": format!("Invalid auth token: Invalid refresh token (expired): {first_refresh}")})
    );

    // Refresh with form client fields (newer cf CLI), then revoke everything ("login expired").
    let (status, third) = token_form_without_basic(
        &client,
        &uaa,
        &[
            ("client_id", "cf"),
            ("client_secret", ""),
            ("grant_type", "refresh_token"),
            ("refresh_token", &second_refresh),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{third}");
    let third_refresh = string_field(&third, "refresh_token");
    assert_eq!(sandbox.world.uaa.revoke_refresh_tokens(BOB), 1);
    assert_eq!(sandbox.world.uaa.live_refresh_tokens(BOB), 0);
    let (status, body) = refresh_grant(&client, &uaa, &third_refresh).await;
    assert_uaa_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(
        body["error_description"],
        format!("Invalid auth token: Invalid refresh token (expired): {third_refresh}")
    );

    // Expiry (refresh_token_ttl = 2 s, so its exp is at most 2 s away).
    let fourth = password_login(&sandbox, &client, BOB, BOB_PASSWORD).await;
    let fourth_refresh = string_field(&fourth, "refresh_token");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(sandbox.world.uaa.live_refresh_tokens(BOB), 0);
    let (status, body) = refresh_grant(&client, &uaa, &fourth_refresh).await;
    assert_uaa_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_token");

    // Garbage.
    let (status, body) = refresh_grant(&client, &uaa, "garbage").await;
    assert_uaa_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_token");
}

// ---------------------------------------------------------------------------------------------
// Registry /api/v1

struct Api<'a> {
    client: &'a Client,
    base: String,
    token: String,
    org: &'a str,
}

impl<'a> Api<'a> {
    /// A registry API client for dev-org, authenticated with a UAA access token.
    fn dev_org(client: &'a Client, base: &str, token: String) -> Api<'a> {
        Api {
            client,
            base: base.to_string(),
            token,
            org: DEV_ORG_GUID,
        }
    }

    /// Sends a bodyless request to `path` and parses the JSON answer.
    async fn json(&self, method: reqwest::Method, path: &str) -> (StatusCode, Value) {
        json_of(self.request(method, path).send().await.unwrap()).await
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("Organization", self.org)
    }

    async fn mint(&self, query: &str) -> String {
        let response = self
            .request(reqwest::Method::POST, &format!("/api/v1/tokens{query}"))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(keys(&body), ["token"]);
        body["token"].as_str().unwrap().to_string()
    }
}

fn assert_crg(status: StatusCode, body: &Value, want_status: StatusCode, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(keys(body), ["code", "message", "request-id"], "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(!body["request-id"].as_str().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn registry_tokens_permanent_expiring_list_get_delete() {
    let (sandbox, client) = start().await;
    let alice = access_token(&sandbox, &client, ALICE, ALICE_PASSWORD).await;
    let api = Api::dev_org(&client, &sandbox.urls().registry, alice);
    let iss = format!("registry.{}", sandbox.world.config.domain);

    // The manual flow: permanent=true only → read-only, non-expiring, payload {jti, iss}.
    let permanent = api.mint("?permanent=true").await;
    let header = URL_SAFE_NO_PAD
        .decode(permanent.split('.').next().unwrap())
        .unwrap();
    assert_eq!(header, br#"{"alg":"HS256","typ":"JWT"}"#);
    let (raw, claims) = jwt_payload(&permanent);
    assert_eq!(keys(&claims), ["jti", "iss"], "{raw}");
    assert_eq!(claims["iss"], iss.as_str());
    let permanent_id = claims["jti"].as_str().unwrap().to_string();
    let uuid = uuid::Uuid::parse_str(&permanent_id).unwrap();
    assert_eq!(uuid.get_version_num(), 5);

    // Expiring, read-write, with a description: payload {exp, jti, iss}, exp = now + 24 h.
    let expiring = api
        .mint("?permanent=false&write=true&description=cluster-a")
        .await;
    let (raw, claims) = jwt_payload(&expiring);
    assert_eq!(keys(&claims), ["exp", "jti", "iss"], "{raw}");
    let exp = claims["exp"].as_u64().unwrap();
    let now = dedicated_sandbox::now();
    assert!((now + 86400 - 5..=now + 86400).contains(&exp));
    let expiring_id = claims["jti"].as_str().unwrap().to_string();

    let tokens = sandbox.world.registry.tokens();
    assert_eq!(tokens.len(), 2);
    assert_eq!(
        (
            tokens[0].id.as_str(),
            tokens[0].readonly,
            tokens[0].permanent
        ),
        (permanent_id.as_str(), true, true)
    );
    assert_eq!(tokens[0].org, DEV_ORG_GUID);
    assert_eq!(tokens[0].issued_by, ALICE);
    assert_eq!(
        (
            tokens[1].readonly,
            tokens[1].permanent,
            tokens[1].description.as_str()
        ),
        (false, false, "cluster-a")
    );
    assert_eq!(tokens[1].expiry, Some(exp));
    assert!(!format!("{tokens:?}").contains(&permanent), "Debug redacts");

    // List.
    let (status, list) = api.json(reqwest::Method::GET, "/api/v1/tokens").await;
    assert_eq!(status, StatusCode::OK);
    let items = list["tokens"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["_id"], permanent_id.as_str());
    assert_eq!(items[0]["owner"], DEV_ORG_GUID);
    assert_eq!(items[0]["token"], permanent.as_str());
    assert_eq!(items[0]["readonly"], true);
    assert!(items[0].get("expiry").is_none());
    assert_eq!(items[1]["secondary_owner"], "cluster-a");
    assert_eq!(items[1]["expiry"], exp);
    assert_eq!(items[1]["readonly"], false);

    // Get by id.
    let (status, body) = api
        .json(
            reqwest::Method::GET,
            &format!("/api/v1/tokens/{expiring_id}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"token": expiring}));

    // Delete by id: 204, then 404 CRG for get and delete.
    let response = api
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/tokens/{permanent_id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(sandbox.world.registry.token(&permanent_id).unwrap().revoked);
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let (status, body) = api
            .json(method, &format!("/api/v1/tokens/{permanent_id}"))
            .await;
        assert_crg(status, &body, StatusCode::NOT_FOUND, "CRG0010E");
    }
    let (_, list) = api.json(reqwest::Method::GET, "/api/v1/tokens").await;
    assert_eq!(list["tokens"].as_array().unwrap().len(), 1);

    // Another org's tokens are invisible: ops-org lists none, and cannot get dev-org's token.
    let ops = Api {
        org: OPS_ORG_GUID,
        ..api
    };
    let (_, list) = ops.json(reqwest::Method::GET, "/api/v1/tokens").await;
    assert_eq!(list, json!({"tokens": []}));
    let (status, body) = ops
        .json(
            reqwest::Method::GET,
            &format!("/api/v1/tokens/{expiring_id}"),
        )
        .await;
    assert_crg(status, &body, StatusCode::NOT_FOUND, "CRG0010E");

    // A non-boolean flag is a 400.
    let (status, body) = ops
        .json(reqwest::Method::POST, "/api/v1/tokens?permanent=yes")
        .await;
    assert_crg(status, &body, StatusCode::BAD_REQUEST, "CRG0001E");
}

#[tokio::test(flavor = "multi_thread")]
async fn registry_delete_by_secondary_owner() {
    let (sandbox, client) = start().await;
    let api = Api::dev_org(
        &client,
        &sandbox.urls().registry,
        access_token(&sandbox, &client, ALICE, ALICE_PASSWORD).await,
    );
    api.mint("?permanent=true&description=my%20cluster").await;
    api.mint("?permanent=true&description=my%20cluster").await;
    api.mint("?permanent=true&description=other").await;
    let response = api
        .request(reqwest::Method::DELETE, "/api/v1/tokens")
        .query(&[("secondaryOwner", "my cluster")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let states: Vec<(String, bool)> = sandbox
        .world
        .registry
        .tokens()
        .into_iter()
        .map(|t| (t.description, t.revoked))
        .collect();
    assert_eq!(
        states,
        [
            ("my cluster".to_string(), true),
            ("my cluster".to_string(), true),
            ("other".to_string(), false)
        ]
    );
    let (_, list) = api.json(reqwest::Method::GET, "/api/v1/tokens").await;
    assert_eq!(list["tokens"][0]["secondary_owner"], "other");
    // Without the parameter: 400.
    let (status, body) = api.json(reqwest::Method::DELETE, "/api/v1/tokens").await;
    assert_crg(status, &body, StatusCode::BAD_REQUEST, "CRG0001E");
}

#[tokio::test(flavor = "multi_thread")]
async fn registry_crg_errors() {
    let (sandbox, client) = start_with(SandboxConfig {
        access_token_ttl: Duration::from_secs(2),
        ..SandboxConfig::default()
    })
    .await;
    let registry = sandbox.urls().registry.clone();
    let bob = access_token(&sandbox, &client, BOB, BOB_PASSWORD).await;
    let tokens = format!("{registry}/api/v1/tokens?permanent=true");
    let post = |auth: Option<String>,
                org: Option<&'static str>,
                extra: Option<(&'static str, &'static str)>| {
        let client = client.clone();
        let tokens = tokens.clone();
        async move {
            let mut request = client.post(tokens);
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            if let Some(org) = org {
                request = request.header("Organization", org);
            }
            if let Some((k, v)) = extra {
                request = request.header(k, v);
            }
            json_of(request.send().await.unwrap()).await
        }
    };
    // No token, garbage token: 401 CRG0014E.
    let (status, body) = post(None, Some(DEV_ORG_GUID), None).await;
    assert_crg(status, &body, StatusCode::UNAUTHORIZED, "CRG0014E");
    let (status, body) = post(Some("Bearer x.y.z".into()), Some(DEV_ORG_GUID), None).await;
    assert_crg(status, &body, StatusCode::UNAUTHORIZED, "CRG0014E");
    // No Organization header, an org Bob is not in, an unknown org, an IAM Account header: 401 CRG0009E.
    for (org, extra) in [
        (None, None),
        (Some(OPS_ORG_GUID), None),
        (Some("00000000-0000-0000-0000-000000000000"), None),
        (Some(DEV_ORG_GUID), Some(("Account", "abc123"))),
    ] {
        let (status, body) = post(Some(format!("Bearer {bob}")), org, extra).await;
        assert_crg(status, &body, StatusCode::UNAUTHORIZED, "CRG0009E");
    }
    // Namespaces and images of a foreign org: 403 CRG0020E.
    let bob_in_ops = Api {
        client: &client,
        base: registry.clone(),
        token: bob.clone(),
        org: OPS_ORG_GUID,
    };
    for path in ["/api/v1/namespaces", "/api/v1/images"] {
        let (status, body) = bob_in_ops.json(reqwest::Method::GET, path).await;
        assert_crg(status, &body, StatusCode::FORBIDDEN, "CRG0020E");
    }
    assert!(sandbox.world.registry.tokens().is_empty());
    // Expired UAA token: 401 CRG0014E.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (status, body) = post(Some(format!("Bearer {bob}")), Some(DEV_ORG_GUID), None).await;
    assert_crg(status, &body, StatusCode::UNAUTHORIZED, "CRG0014E");
}

#[tokio::test(flavor = "multi_thread")]
async fn registry_namespaces_and_images() {
    let (sandbox, client) = start().await;
    let registry = sandbox.urls().registry.clone();
    let host = sandbox.urls().registry_host.clone();
    let alice = access_token(&sandbox, &client, ALICE, ALICE_PASSWORD).await;
    let dev = Api::dev_org(&client, &registry, alice);
    let (status, body) = dev.json(reqwest::Method::GET, "/api/v1/namespaces").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!([DEV_REGISTRY_NAMESPACE]));

    let (status, body) = dev
        .json(
            reqwest::Method::GET,
            "/api/v1/images?includeIBM=false&includePrivate=true&vulnerabilities=true&namespace=demo",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let images = body.as_array().unwrap();
    assert_eq!(images.len(), 1, "{body}");
    let tags = images[0]["RepoTags"].as_array().unwrap();
    assert!(
        tags.contains(&json!(format!("{host}/demo/hello:v1"))),
        "{tags:?}"
    );
    assert!(images[0]["Size"].as_u64().unwrap() > 0);
    assert!(images[0]["DigestTags"].as_object().unwrap().len() == 1);
    // ops-org sees only its own namespace's images.
    let ops = Api {
        org: OPS_ORG_GUID,
        ..dev
    };
    let (_, body) = ops.json(reqwest::Method::GET, "/api/v1/images").await;
    assert_eq!(
        body[0]["RepoTags"],
        json!([format!("{host}/ops/tools:1.0")])
    );
}

// ---------------------------------------------------------------------------------------------
// Registry v2

/// Parses `Bearer realm="…",service="…",scope="…"` into pairs.
fn parse_challenge(value: &str) -> Vec<(String, String)> {
    let rest = value.strip_prefix("Bearer ").expect("Bearer challenge");
    rest.split("\",")
        .map(|part| {
            let (k, v) = part.split_once('=').expect("k=v");
            (k.to_string(), v.trim_matches('"').to_string())
        })
        .collect()
}

async fn realm_token(
    client: &Client,
    realm: &str,
    service: &str,
    scope: &str,
    password: &str,
) -> (StatusCode, Value) {
    json_of(
        client
            .get(realm)
            .query(&[("service", service), ("scope", scope)])
            .basic_auth("token", Some(password))
            .send()
            .await
            .unwrap(),
    )
    .await
}

const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
const SCHEMA2: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// `sha256:<hex>` of `bytes`, as a registry digest.
fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// GETs `url` with a registry bearer token.
async fn bearer_get(client: &Client, url: &str, bearer: &str) -> Response {
    client.get(url).bearer_auth(bearer).send().await.unwrap()
}

/// GETs a manifest with a registry bearer token, accepting schema2 and OCI.
async fn get_manifest(client: &Client, url: &str, bearer: &str) -> Response {
    client
        .get(url)
        .bearer_auth(bearer)
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap()
}

/// PUTs a schema2 manifest with a registry bearer token.
async fn put_manifest(
    client: &Client,
    url: &str,
    bearer: &str,
    manifest: impl Into<reqwest::Body>,
) -> Response {
    client
        .put(url)
        .bearer_auth(bearer)
        .header("content-type", SCHEMA2)
        .body(manifest)
        .send()
        .await
        .unwrap()
}

/// Asserts a registry v2 error answer: the status and the first error's code.
fn assert_v2_error(status: StatusCode, body: &Value, want_status: StatusCode, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["errors"][0]["code"], code);
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_challenge_realm_and_read_only_pull() {
    let (sandbox, client) = start().await;
    let urls = sandbox.urls().clone();
    let response = client
        .get(format!("{}/v2/", urls.registry))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    let challenge = header_string(&response, "www-authenticate");
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"{}/oauth/token\",service=\"{}\"",
            urls.registry, urls.registry_host
        )
    );
    let (_, body) = json_of(response).await;
    assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");

    // A repository request adds the scope to the challenge.
    let response = client
        .get(format!("{}/v2/demo/hello/tags/list", urls.registry))
        .send()
        .await
        .unwrap();
    let params = parse_challenge(response.headers()["www-authenticate"].to_str().unwrap());
    assert_eq!(
        params[2],
        ("scope".into(), "repository:demo/hello:pull".into())
    );
    let realm = params[0].1.clone();
    let service = params[1].1.clone();

    let api = Api::dev_org(
        &client,
        &urls.registry,
        access_token(&sandbox, &client, BOB, BOB_PASSWORD).await,
    );
    let read_only = api.mint("?permanent=true").await;
    let (status, body) = realm_token(
        &client,
        &realm,
        &service,
        "repository:demo/hello:pull,push",
        &read_only,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        keys(&body),
        ["token", "access_token", "expires_in", "issued_at"]
    );
    assert!(body["expires_in"].as_u64().unwrap() >= 60);
    let bearer = string_field(&body, "token");
    let (_, claims) = jwt_payload(&bearer);
    assert_eq!(
        claims["access"],
        json!([{"type": "repository", "name": "demo/hello", "actions": ["pull"]}])
    );

    // /v2/ and tags with the bearer.
    let response = bearer_get(&client, &format!("{}/v2/", urls.registry), &bearer).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (status, tags) = get_json_bearer(
        &client,
        &format!("{}/v2/demo/hello/tags/list", urls.registry),
        &bearer,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        tags,
        json!({"name": "demo/hello", "tags": ["latest", "v1"]})
    );
    // Pagination (distribution spec): `n` per page, a relative `Link` to the next one with
    // `last`; the last page has no link; `n` must be a number.
    let tags_url = format!("{}/v2/demo/hello/tags/list", urls.registry);
    let first = bearer_get(&client, &format!("{tags_url}?n=1"), &bearer).await;
    assert_eq!(
        first.headers()["link"],
        r#"</v2/demo/hello/tags/list?n=1&last=latest>; rel="next""#
    );
    assert_eq!(
        json_of(first).await.1,
        json!({"name": "demo/hello", "tags": ["latest"]})
    );
    let last = bearer_get(&client, &format!("{tags_url}?n=1&last=latest"), &bearer).await;
    assert!(last.headers().get("link").is_none());
    assert_eq!(json_of(last).await.1["tags"], json!(["v1"]));
    let (status, after) = get_json_bearer(&client, &format!("{tags_url}?last=v0"), &bearer).await;
    assert_eq!(
        (status, after["tags"].clone()),
        (StatusCode::OK, json!(["v1"]))
    );
    let (status, body) = get_json_bearer(&client, &format!("{tags_url}?n=x"), &bearer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["code"], "PAGINATION_NUMBER_INVALID");

    // Manifest: schema2 only when accepted.
    let manifest_url = format!("{}/v2/demo/hello/manifests/v1", urls.registry);
    let response = get_manifest(&client, &manifest_url, &bearer).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], SCHEMA2);
    let digest = header_string(&response, "docker-content-digest");
    let bytes = response.bytes().await.unwrap();
    assert_eq!(digest, digest_of(&bytes));
    let manifest: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);

    let head = client
        .head(&manifest_url)
        .bearer_auth(&bearer)
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(
        head.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    // By digest: served whatever the Accept header.
    let by_digest = bearer_get(
        &client,
        &format!("{}/v2/demo/hello/manifests/{digest}", urls.registry),
        &bearer,
    )
    .await;
    assert_eq!(by_digest.status(), StatusCode::OK);

    // Accept */* (reqwest's default) by tag: 400 MANIFEST_INVALID, as distribution 2.8.
    let (status, body) = get_json_bearer(&client, &manifest_url, &bearer).await;
    assert_v2_error(status, &body, StatusCode::BAD_REQUEST, "MANIFEST_INVALID");
    // Unknown tag and repository.
    let (status, body) = json_of(
        get_manifest(
            &client,
            &format!("{}/v2/demo/hello/manifests/nope", urls.registry),
            &bearer,
        )
        .await,
    )
    .await;
    assert_v2_error(status, &body, StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN");

    // Pushing with the read-only token is denied.
    let response = put_manifest(&client, &manifest_url, &bearer, bytes.clone()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = header_string(&response, "www-authenticate");
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"repository:demo/hello:pull,push\""));
    let (_, body) = json_of(response).await;
    assert_eq!(body["errors"][0]["code"], "DENIED");

    // Another org's namespace: the realm grants nothing, so the pull is denied.
    let (status, body) = realm_token(
        &client,
        &realm,
        &service,
        "repository:ops/tools:pull",
        &read_only,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let other = body["token"].as_str().unwrap();
    let (_, claims) = jwt_payload(other);
    assert_eq!(claims["access"], json!([]));
    let response = bearer_get(
        &client,
        &format!("{}/v2/ops/tools/tags/list", urls.registry),
        other,
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_write_token_can_push() {
    let (sandbox, client) = start().await;
    let urls = sandbox.urls().clone();
    let api = Api::dev_org(
        &client,
        &urls.registry,
        access_token(&sandbox, &client, ALICE, ALICE_PASSWORD).await,
    );
    let write = api.mint("?permanent=true&write=true").await;
    let realm = format!("{}/oauth/token", urls.registry);
    let (status, body) = realm_token(
        &client,
        &realm,
        &urls.registry_host,
        "repository:demo/new:pull,push repository:demo/hello:pull",
        &write,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let bearer = string_field(&body, "token");
    let (_, claims) = jwt_payload(&bearer);
    assert_eq!(claims["access"][0]["actions"], json!(["pull", "push"]));
    assert_eq!(
        claims["access"][1],
        json!({"type": "repository", "name": "demo/hello", "actions": ["pull"]})
    );

    let mut uploaded = Vec::new();
    for blob in [b"layer bytes".to_vec(), br#"{"os":"linux"}"#.to_vec()] {
        let response = client
            .post(format!("{}/v2/demo/new/blobs/uploads/", urls.registry))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let digest = digest_of(&blob);
        let response = client
            .put(format!("{}{location}?digest={digest}", urls.registry))
            .bearer_auth(&bearer)
            .body(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        uploaded.push((digest, blob.len()));
    }
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{},"digest":"{}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":{},"digest":"{}"}}]}}"#,
        uploaded[1].1, uploaded[1].0, uploaded[0].1, uploaded[0].0
    );
    let response = put_manifest(
        &client,
        &format!("{}/v2/demo/new/manifests/v2", urls.registry),
        &bearer,
        manifest.clone(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        response.headers()["docker-content-digest"],
        digest_of(manifest.as_bytes()).as_str()
    );
    assert_eq!(sandbox.world.registry.tags("demo/new"), ["v2"]);
    // A manifest referencing a missing blob is refused.
    let broken = manifest.replace(&uploaded[0].0, &digest_of(b"missing"));
    let (status, body) = json_of(
        put_manifest(
            &client,
            &format!("{}/v2/demo/new/manifests/v3", urls.registry),
            &bearer,
            broken,
        )
        .await,
    )
    .await;
    assert_v2_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "MANIFEST_BLOB_UNKNOWN",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_realm_rejects_revoked_expired_forged_and_wrong_user() {
    let (sandbox, client) = start_with(SandboxConfig {
        registry_token_ttl: Duration::from_secs(1),
        ..SandboxConfig::default()
    })
    .await;
    let (other_sandbox, _) = start().await;
    let urls = sandbox.urls().clone();
    let realm = format!("{}/oauth/token", urls.registry);
    let scope = "repository:demo/hello:pull";
    let alice = access_token(&sandbox, &client, ALICE, ALICE_PASSWORD).await;
    let api = Api::dev_org(&client, &urls.registry, alice);
    let permanent = api.mint("?permanent=true").await;
    let expiring = api.mint("").await;
    assert_eq!(
        realm_token(&client, &realm, &urls.registry_host, scope, &permanent)
            .await
            .0,
        StatusCode::OK
    );

    let unauthorized = |(status, body): (StatusCode, Value)| {
        assert_v2_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    };
    // Forged: a token signed by another sandbox (unknown key and jti).
    let forged = other_sandbox.world.mint_uaa_access_token(ALICE).to_string();
    unauthorized(realm_token(&client, &realm, &urls.registry_host, scope, &forged).await);
    let mut tampered = permanent.clone();
    tampered.push('A');
    unauthorized(realm_token(&client, &realm, &urls.registry_host, scope, &tampered).await);
    // Wrong user name.
    unauthorized(
        json_of(
            client
                .get(&realm)
                .query(&[("service", urls.registry_host.as_str()), ("scope", scope)])
                .basic_auth("iamapikey", Some(&permanent))
                .send()
                .await
                .unwrap(),
        )
        .await,
    );
    // No credentials.
    unauthorized(json_of(client.get(&realm).send().await.unwrap()).await);
    // Revoked.
    let id = string_field(&jwt_payload(&permanent).1, "jti");
    let response = api
        .request(reqwest::Method::DELETE, &format!("/api/v1/tokens/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    unauthorized(realm_token(&client, &realm, &urls.registry_host, scope, &permanent).await);
    // Expired (registry_token_ttl = 1 s).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    unauthorized(realm_token(&client, &realm, &urls.registry_host, scope, &expiring).await);
    // A wrong service is refused.
    let (status, _) = realm_token(&client, &realm, "registry.example", scope, &permanent).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------------------------------------
// Journal and faults

#[tokio::test(flavor = "multi_thread")]
async fn journal_never_shows_secrets() {
    let (sandbox, client) = start().await;
    let urls = sandbox.urls().clone();
    let login = password_login(&sandbox, &client, ALICE, ALICE_PASSWORD).await;
    let via_key = password_login(&sandbox, &client, "apikey", ALICE_API_KEY).await;
    let code = fetch_passcode(&client, &urls.login).await;
    let (status, _) = token_request(
        &client,
        &urls.login,
        &[("grant_type", "password"), ("passcode", &code)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let refresh = string_field(&login, "refresh_token");
    let (status, refreshed) = refresh_grant(&client, &urls.uaa, &refresh).await;
    assert_eq!(status, StatusCode::OK);
    let access = string_field(&refreshed, "access_token");
    let api = Api::dev_org(&client, &urls.registry, access.clone());
    let registry_token = api.mint("?permanent=true").await;
    let (status, bearer) = realm_token(
        &client,
        &format!("{}/oauth/token", urls.registry),
        &urls.registry_host,
        "repository:demo/hello:pull",
        &registry_token,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let bearer = string_field(&bearer, "token");
    bearer_get(
        &client,
        &format!("{}/v2/demo/hello/tags/list", urls.registry),
        &bearer,
    )
    .await;

    let response = client
        .get(format!("{}/v2/organizations", urls.api))
        .bearer_auth(via_key["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let dump = format!("{:?}", sandbox.journal().entries());
    let secrets = [
        ALICE_PASSWORD,
        ALICE_API_KEY,
        code.as_str(),
        refresh.as_str(),
        access.as_str(),
        via_key["access_token"].as_str().unwrap(),
        registry_token.as_str(),
        bearer.as_str(),
    ];
    for secret in secrets {
        assert!(!dump.contains(secret), "a secret leaked into the journal");
        // ...but it was sent, and the journal can prove where (the registry token inside
        // the base64 of `token:<jwt>`).
        let sent = if secret == registry_token {
            format!("token:{secret}")
        } else {
            secret.to_string()
        };
        assert!(
            !sandbox.journal().containing(&sent).is_empty(),
            "secret not found in raw requests"
        );
    }
    // The protocol details stay visible.
    let token_posts: Vec<_> = sandbox
        .journal()
        .for_service(Service::Uaa)
        .into_iter()
        .filter(|e| e.path == "/oauth/token")
        .collect();
    assert_eq!(
        token_posts[0].header("authorization"),
        Some("Basic cf: (empty)")
    );
    assert_eq!(token_posts[0].form_field("grant_type"), Some("password"));
    assert_eq!(token_posts[0].form_field("username"), Some(ALICE));
    let login_posts = sandbox.journal().for_service(Service::Login);
    assert!(
        login_posts
            .iter()
            .any(|e| e.path == "/UAALoginServerWAR/oauth/token" && e.status == 200)
    );
    let registry_post = sandbox
        .journal()
        .for_service(Service::Registry)
        .into_iter()
        .find(|e| e.method == "POST")
        .unwrap();
    assert_eq!(registry_post.header("organization"), Some(DEV_ORG_GUID));
    assert_eq!(registry_post.query_param("permanent"), Some("true"));
}

#[tokio::test(flavor = "multi_thread")]
async fn fault_injection_examples() {
    let (sandbox, client) = start().await;
    let urls = sandbox.urls().clone();
    // The login-server proxy quirk: an error inside a 200 body.
    sandbox.inject(
        Fault::json(
            Service::Login,
            "POST",
            "/UAALoginServerWAR/oauth/token",
            200,
            json!({"error": {"error": "rest_client_error", "error_description": "I/O error"}}),
        )
        .times(1),
    );
    let form = password_form(ALICE, ALICE_PASSWORD);
    let (status, body) = token_request(&client, &urls.login, &form).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["error"]["error"], "rest_client_error");
    // Used once: the next request reaches the real handler.
    let (status, body) = token_request(&client, &urls.login, &form).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["access_token"].is_string());

    // A registry outage: 500 with a non-JSON body, then a dropped connection.
    let access = string_field(&body, "access_token");
    sandbox.inject(
        Fault::new(
            Service::Registry,
            "POST",
            "/api/v1/tokens",
            FaultAction::Respond {
                status: 500,
                content_type: "text/plain".into(),
                body: "Internal Error".into(),
            },
        )
        .times(1),
    );
    sandbox.inject(
        Fault::new(
            Service::Registry,
            "POST",
            "/api/v1/tokens",
            FaultAction::Drop,
        )
        .times(1),
    );
    let mint = || {
        client
            .post(format!("{}/api/v1/tokens?permanent=true", urls.registry))
            .bearer_auth(&access)
            .header("Organization", DEV_ORG_GUID)
            .send()
    };
    let response = mint().await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.text().await.unwrap(), "Internal Error");
    let dropped = match mint().await {
        Ok(response) => response.bytes().await.is_err(),
        Err(_) => true,
    };
    assert!(dropped, "the connection was dropped");
    assert!(sandbox.world.registry.tokens().is_empty());
    let response = mint().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(sandbox.world.registry.tokens().len(), 1);
}

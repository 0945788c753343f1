//! The emulated IAM (`/identity/token`, the UAA's `iam_token` grant) and the variant switches,
//! through a real HTTPS client that trusts only the sandbox CA.
// See: issue 8.

use dedicated_sandbox::seed::*;
use dedicated_sandbox::{Sandbox, SandboxConfig, Variant};
use reqwest::{Client, StatusCode};
use serde_json::Value;

async fn start(variants: &[Variant]) -> (Sandbox, Client) {
    let mut config = SandboxConfig::default();
    config.variants.extend(variants.iter().copied());
    let sandbox = Sandbox::start_with(config, None)
        .await
        .expect("sandbox starts");
    let ca = reqwest::Certificate::from_pem(sandbox.pki.ca_pem.as_bytes()).expect("CA PEM");
    let client = Client::builder()
        .tls_certs_only([ca])
        .no_proxy()
        .build()
        .expect("client builds");
    (sandbox, client)
}

async fn iam(client: &Client, sandbox: &Sandbox, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = client
        .post(format!("{}/identity/token", sandbox.urls().iam))
        .basic_auth("bx", Some("bx"))
        .form(form)
        .send()
        .await
        .expect("IAM answers");
    let status = response.status();
    (status, response.json().await.expect("JSON"))
}

const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";

#[tokio::test(flavor = "multi_thread")]
async fn iam_issues_uaa_tokens_or_a_token_to_exchange() {
    let (sandbox, client) = start(&[]).await;
    let both = [
        ("grant_type", APIKEY_GRANT),
        ("apikey", ALICE_API_KEY),
        ("response_type", "cloud_iam uaa"),
        ("uaa_client_id", "cf"),
        ("uaa_client_secret", ""),
    ];
    let (status, body) = iam(&client, &sandbox, &both).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["uaa_token"].is_string() && body["uaa_refresh_token"].is_string());
    let (status, body) = iam(&client, &sandbox, &both[..3]).await;
    assert_eq!(status, StatusCode::OK, "no UAA client: IAM tokens only");
    assert!(body.get("uaa_token").is_none());
    // The exchange at the UAA.
    let iam_token = body["access_token"].as_str().unwrap().to_string();
    let exchange = client
        .post(format!("{}/oauth/token", sandbox.urls().uaa))
        .basic_auth("cf", Some(""))
        .form(&[
            ("grant_type", "iam_token"),
            ("iam_token", iam_token.as_str()),
            ("response_type", "uaa"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(exchange.status(), StatusCode::OK);
    let tokens: Value = exchange.json().await.unwrap();
    assert!(tokens["refresh_token"].is_string());
    // The IAM token is no UAA token: the Cloud Controller refuses it.
    let cc = client
        .get(format!("{}/v2/organizations", sandbox.urls().api))
        .bearer_auth(&iam_token)
        .send()
        .await
        .unwrap();
    assert_eq!(cc.status(), StatusCode::UNAUTHORIZED);
    // IAM's error shape.
    let (status, body) = iam(
        &client,
        &sandbox,
        &[("grant_type", APIKEY_GRANT), ("apikey", "nope")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "BXNIM0415E");
    assert_eq!(sandbox.world.uaa.iam_tokens().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn variants_change_what_the_servers_answer() {
    let (sandbox, client) = start(&[
        Variant::ApikeyIamOnly,
        Variant::IamExchangeOnly,
        Variant::NoV2,
        Variant::LoginHtml,
        Variant::OrgCase,
    ])
    .await;
    let urls = sandbox.urls().clone();
    let apikey = client
        .post(format!("{}/oauth/token", urls.uaa))
        .basic_auth("cf", Some(""))
        .form(&[
            ("grant_type", "password"),
            ("username", "apikey"),
            ("password", ALICE_API_KEY),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(apikey.status(), StatusCode::UNAUTHORIZED);
    let (_, body) = iam(
        &client,
        &sandbox,
        &[
            ("grant_type", APIKEY_GRANT),
            ("apikey", ALICE_API_KEY),
            ("response_type", "cloud_iam,uaa"),
            ("uaa_client_id", "cf"),
            ("uaa_client_secret", ""),
        ],
    )
    .await;
    assert!(body.get("uaa_token").is_none(), "iam-exchange-only");
    let v2 = client
        .get(format!("{}/v2/", urls.registry))
        .send()
        .await
        .unwrap();
    assert_eq!(v2.status(), StatusCode::NOT_FOUND);
    let login = client
        .get(format!("{}/login", urls.login))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert!(
        login.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let access = sandbox.world.mint_uaa_access_token(ALICE);
    let orgs = |query: &'static str| {
        let client = client.clone();
        let url = format!("{}/v2/organizations?q=name:{query}", urls.api);
        let access = access.clone();
        async move {
            let body: Value = client
                .get(url)
                .bearer_auth(access)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["entity"]["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert!(orgs("dev-org").await.is_empty(), "case-sensitive filter");
    assert_eq!(orgs("DEV-ORG").await, ["DEV-ORG"]);
}

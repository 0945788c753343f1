//! Helpers shared by the IBM Cloud (IAM, icr.io) tests: a real HTTPS client trusting only the
//! sandbox CA, with every icr.io domain pinned to the icr listener.
#![allow(dead_code, reason = "each test binary uses a part of the helpers")]

use base64::Engine as _;
use dedicated_sandbox::{Sandbox, SandboxConfig};
use reqwest::header::HeaderMap;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

pub use dedicated_sandbox::seed::*;

pub const APIKEY_GRANT: &str = "urn:ibm:params:oauth:grant-type:apikey";
pub const READER: &str = "crn:v1:bluemix:public:container-registry::::serviceRole:Reader";
pub const WRITER: &str = "crn:v1:bluemix:public:container-registry::::serviceRole:Writer";

pub struct Ctx {
    pub sandbox: Sandbox,
    pub client: Client,
}

pub async fn start(config: SandboxConfig) -> Ctx {
    let sandbox = Sandbox::start_with(config, None)
        .await
        .expect("sandbox starts");
    let ca = reqwest::Certificate::from_pem(sandbox.pki.ca_pem.as_bytes()).expect("CA PEM");
    let address: std::net::SocketAddr = sandbox.urls().icr_address.parse().expect("address");
    let mut builder = Client::builder().tls_certs_only([ca]).no_proxy();
    // Every name the certificate covers, served or not (fr2 is served only with a variant).
    for domain in dedicated_sandbox::icr::certificate_names() {
        builder = builder.resolve(&domain, address);
    }
    let client = builder.build().expect("client builds");
    Ctx { sandbox, client }
}

pub async fn start_default() -> Ctx {
    start(SandboxConfig::default()).await
}

pub fn with_variants(variants: &[dedicated_sandbox::Variant]) -> SandboxConfig {
    let mut config = SandboxConfig::default();
    config.variants.extend(variants.iter().copied());
    config
}

/// The JWT payload.
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

pub async fn answer(response: reqwest::Response) -> (StatusCode, HeaderMap, Value) {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, value)
}

impl Ctx {
    pub fn iam(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.urls().iam)
    }

    /// `POST /identity/token` as client `bx`.
    pub async fn token_request(&self, form: &[(&str, &str)]) -> (StatusCode, HeaderMap, Value) {
        answer(
            self.client
                .post(self.iam("/identity/token"))
                .basic_auth("bx", Some("bx"))
                .header("accept", "application/json")
                .form(form)
                .send()
                .await
                .expect("IAM answers"),
        )
        .await
    }

    /// An IAM access token for an API key (client `bx`).
    pub async fn iam_token(&self, apikey: &str) -> String {
        let (status, _, body) = self
            .token_request(&[("grant_type", APIKEY_GRANT), ("apikey", apikey)])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = self.client.request(method, url).bearer_auth(token);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        answer(request.send().await.expect("answer")).await
    }

    pub async fn get(&self, url: &str, token: &str) -> (StatusCode, HeaderMap, Value) {
        self.send(reqwest::Method::GET, url, token, None, &[]).await
    }

    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: Value,
    ) -> (StatusCode, HeaderMap, Value) {
        self.send(
            reqwest::Method::POST,
            &self.iam(path),
            token,
            Some(body),
            &[],
        )
        .await
    }

    /// Creates a service ID in [`IBM_ACCOUNT`]; returns it.
    pub async fn service_id(&self, token: &str, name: &str) -> Value {
        let (status, _, body) = self
            .post(
                "/v1/serviceids/",
                token,
                json!({"account_id": IBM_ACCOUNT, "name": name, "description": "made by a test"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Creates an API key for `iam_id`; returns it (with its value).
    pub async fn api_key(&self, token: &str, iam_id: &str) -> Value {
        let (status, _, body) = self
            .post(
                "/v1/apikeys",
                token,
                json!({"name": "k", "iam_id": iam_id, "account_id": IBM_ACCOUNT, "store_value": false}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// A v1 policy for `iam_id` with `role`, optional namespace and region.
    pub async fn policy_v1(
        &self,
        token: &str,
        iam_id: &str,
        role: &str,
        namespace: Option<&str>,
        region: Option<&str>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut attributes = vec![
            json!({"name": "accountId", "value": IBM_ACCOUNT}),
            json!({"name": "serviceName", "value": "container-registry"}),
        ];
        if let Some(r) = region {
            attributes.push(json!({"name": "region", "value": r}));
        }
        if let Some(ns) = namespace {
            attributes.push(json!({"name": "resourceType", "value": "namespace"}));
            attributes.push(json!({"name": "resource", "value": ns}));
        }
        self.post(
            "/v1/policies",
            token,
            json!({
                "type": "access",
                "description": "pull secret",
                "subjects": [{"attributes": [{"name": "iam_id", "value": iam_id}]}],
                "roles": [{"role_id": role}],
                "resources": [{"attributes": attributes}],
            }),
        )
        .await
    }

    /// A service ID with a Reader policy on `namespace` in `region` and one API key; returns
    /// (service ID, API key value).
    pub async fn reader(&self, namespace: Option<&str>, region: Option<&str>) -> (Value, String) {
        let admin = self.iam_token(DANA_API_KEY).await;
        let service = self.service_id(&admin, "cluster-test").await;
        let iam_id = service["iam_id"].as_str().unwrap();
        let (status, _, body) = self
            .policy_v1(&admin, iam_id, READER, namespace, region)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let key = self.api_key(&admin, iam_id).await;
        (service, key["apikey"].as_str().unwrap().to_string())
    }

    /// `GET https://<domain>:<port>/oauth/token?service=registry&scope=...` with Basic.
    pub async fn realm(
        &self,
        domain: &str,
        user: &str,
        password: &str,
        scope: &str,
    ) -> (StatusCode, HeaderMap, Value) {
        let url = format!("{}/oauth/token", self.sandbox.icr_url(domain));
        answer(
            self.client
                .get(url)
                .query(&[("service", "registry"), ("scope", scope)])
                .basic_auth(user, Some(password))
                .send()
                .await
                .expect("realm answers"),
        )
        .await
    }

    /// The actions the realm granted for the first scope.
    pub async fn granted(&self, domain: &str, key: &str, scope: &str) -> Vec<String> {
        let (status, _, body) = self.realm(domain, "iamapikey", key, scope).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let token = body["token"].as_str().unwrap();
        claims(token)["access"][0]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    }
}

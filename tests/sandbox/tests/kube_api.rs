//! The emulated Kubernetes API server driven directly over HTTPS: discovery, Status errors,
//! resourceVersion conflicts, merge patches, server-side apply ownership, dryRun, protobuf.

use base64::Engine as _;
use dedicated_sandbox::Sandbox;
use dedicated_sandbox::seed::{KUBE_ADMIN_TOKEN, KUBE_DEV_TOKEN, KUBE_VIEWER_TOKEN};
use prost::Message as _;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

struct Api {
    sandbox: Sandbox,
    client: Client,
}

impl Api {
    async fn start() -> Api {
        let sandbox = Sandbox::start().await.expect("sandbox starts");
        let ca = reqwest::Certificate::from_pem(sandbox.pki.ca_pem.as_bytes()).expect("CA PEM");
        let client = Client::builder()
            .tls_certs_only([ca])
            .no_proxy()
            .build()
            .expect("client");
        Api { sandbox, client }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.urls().kube)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Option<Vec<u8>>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", content_type).body(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, value)
    }

    async fn json(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.send(
            method,
            path,
            Some(KUBE_ADMIN_TOKEN),
            "application/json",
            body.map(|b| b.to_string().into_bytes()),
        )
        .await
    }

    /// GETs `path` as the holder of `token`.
    async fn get_as(&self, token: &str, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, Some(token), "", None).await
    }

    /// POSTs a protobuf body (already in its `k8s\0` envelope) as the admin.
    async fn post_protobuf(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        self.send(
            Method::POST,
            path,
            Some(KUBE_ADMIN_TOKEN),
            "application/vnd.kubernetes.protobuf",
            Some(body),
        )
        .await
    }

    async fn patch(&self, path: &str, content_type: &str, body: &str) -> (StatusCode, Value) {
        self.send(
            Method::PATCH,
            path,
            Some(KUBE_ADMIN_TOKEN),
            content_type,
            Some(body.as_bytes().to_vec()),
        )
        .await
    }
}

fn rv(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .parse()
        .expect("numeric")
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

const SECRETS: &str = "/api/v1/namespaces/team-a/secrets";

fn secret(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data})
}

#[tokio::test]
async fn discovery_documents() {
    let api = Api::start().await;
    let (s, v) = api.json(Method::GET, "/version", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (v["major"].as_str(), v["minor"].as_str()),
        (Some("1"), Some("36"))
    );

    let (_, v) = api.json(Method::GET, "/api", None).await;
    assert_eq!(v["kind"], "APIVersions");
    assert_eq!(v["versions"], json!(["v1"]));

    let (_, v) = api.json(Method::GET, "/apis", None).await;
    assert_eq!(v["kind"], "APIGroupList");
    assert_eq!(v["groups"][0]["name"], "authorization.k8s.io");

    let (_, v) = api.json(Method::GET, "/api/v1", None).await;
    assert_eq!(v["kind"], "APIResourceList");
    let secrets = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "secrets")
        .expect("secrets");
    assert_eq!(secrets["namespaced"], true);
    assert_eq!(secrets["kind"], "Secret");
    assert!(
        secrets["verbs"]
            .as_array()
            .unwrap()
            .contains(&json!("patch"))
    );
    let ns = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "namespaces")
        .unwrap();
    assert_eq!(
        (ns["namespaced"].clone(), ns["shortNames"].clone()),
        (json!(false), json!(["ns"]))
    );

    // Aggregated discovery when asked for it, with its content type.
    let resp = api
        .client
        .get(api.url("/api"))
        .bearer_auth(KUBE_ADMIN_TOKEN)
        .header(
            "accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["kind"], "APIGroupDiscoveryList");
    let resources = &v["items"][0]["versions"][0]["resources"];
    assert!(
        resources
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resource"] == "serviceaccounts"
                && r["scope"] == "Namespaced"
                && r["shortNames"] == json!(["sa"]))
    );

    // OpenAPI v3: index, then the api/v1 document it points to.
    let (_, index) = api.json(Method::GET, "/openapi/v3", None).await;
    let url = index["paths"]["api/v1"]["serverRelativeURL"]
        .as_str()
        .expect("URL");
    assert!(url.starts_with("/openapi/v3/api/v1?hash="), "{url}");
    let (s, doc) = api.json(Method::GET, url, None).await;
    assert_eq!(s, StatusCode::OK);
    for kind in ["Secret", "ServiceAccount", "Pod", "Namespace"] {
        let schema = &doc["components"]["schemas"][format!("io.k8s.api.core.v1.{kind}")];
        assert_eq!(schema["x-kubernetes-group-version-kind"][0]["kind"], kind);
    }
}

#[tokio::test]
async fn authentication_and_status_shapes() {
    let api = Api::start().await;
    let (s, v) = api
        .send(Method::GET, "/api/v1/namespaces", None, "", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        v,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );
    let (s, _) = api.send(Method::GET, "/api", Some("wrong"), "", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let (s, v) = api
        .json(Method::GET, &format!("{SECRETS}/missing"), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        v,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "secrets \"missing\" not found", "reason": "NotFound",
               "details": {"name": "missing", "kind": "secrets"}, "code": 404})
    );

    let (s, v) = api
        .send(
            Method::POST,
            "/api/v1/namespaces/team-b/secrets",
            Some(KUBE_DEV_TOKEN),
            "application/json",
            Some(secret("x", json!({})).to_string().into_bytes()),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["reason"], "Forbidden");
    assert_eq!(
        v["message"],
        "secrets is forbidden: User \"sandbox-dev\" cannot create resource \"secrets\" in API group \"\" in the namespace \"team-b\""
    );
    let (s, v) = api
        .get_as(KUBE_DEV_TOKEN, "/api/v1/namespaces/team-a/secrets/x")
        .await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::NOT_FOUND, Some("NotFound"))
    );
    let (s, v) = api.get_as(KUBE_DEV_TOKEN, "/api/v1/namespaces").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        v["message"],
        "namespaces is forbidden: User \"sandbox-dev\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
    );
    let (s, _) = api.get_as(KUBE_VIEWER_TOKEN, "/api/v1/namespaces").await;
    assert_eq!(s, StatusCode::OK);

    let (s, v) = api
        .json(Method::POST, SECRETS, Some(secret("Not_Valid", json!({}))))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["reason"], "Invalid");
    assert_eq!(v["details"]["causes"][0]["field"], "metadata.name");
    assert!(v["message"].as_str().unwrap().starts_with(
        "Secret \"Not_Valid\" is invalid: metadata.name: Invalid value: \"Not_Valid\": a lowercase RFC 1123 subdomain"
    ));

    let (s, v) = api
        .json(
            Method::POST,
            "/api/v1/namespaces/ghost/secrets",
            Some(secret("x", json!({}))),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["message"], "namespaces \"ghost\" not found");
}

#[tokio::test]
async fn impersonation_headers() {
    let api = Api::start().await;
    let get = |token: &'static str, user: &'static str| {
        api.client
            .get(api.url("/api/v1/namespaces/team-b/secrets"))
            .bearer_auth(token)
            .header("Impersonate-User", user)
            .send()
    };
    let r = get(KUBE_ADMIN_TOKEN, "sandbox-dev").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("User \"sandbox-dev\" cannot list")
    );
    let r = get(KUBE_ADMIN_TOKEN, "sandbox-viewer").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = get(KUBE_ADMIN_TOKEN, "stranger").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = get(KUBE_VIEWER_TOKEN, "sandbox-admin").await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["message"],
        "users \"sandbox-admin\" is forbidden: User \"sandbox-viewer\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
    );
}

#[tokio::test]
async fn create_get_list_with_object_semantics() {
    let api = Api::start().await;
    let before = api.sandbox.world.kube.resource_version();
    let mut body = secret("one", json!({"a": b64("1")}));
    body["stringData"] = json!({"b": "2"});
    body["metadata"]["labels"] = json!({"app": "x"});
    let (s, created) = api
        .json(
            Method::POST,
            &format!("{SECRETS}?fieldManager=creator"),
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(created["type"], "Opaque");
    assert_eq!(created["data"], json!({"a": b64("1"), "b": b64("2")}));
    assert!(created.get("stringData").is_none());
    assert_eq!(rv(&created), before + 1);
    assert_eq!(created["metadata"]["uid"].as_str().unwrap().len(), 36);
    assert!(
        created["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(
        created["metadata"]["managedFields"][0]["manager"],
        "creator"
    );
    assert_eq!(
        created["metadata"]["managedFields"][0]["operation"],
        "Update"
    );

    let (s, v) = api
        .json(Method::POST, SECRETS, Some(secret("one", json!({}))))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["reason"], "AlreadyExists");
    assert_eq!(v["message"], "secrets \"one\" already exists");

    let mut tls = secret("tls", json!({}));
    tls["type"] = json!("kubernetes.io/tls");
    let (s, v) = api.json(Method::POST, SECRETS, Some(tls)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        v["message"],
        "Secret \"tls\" is invalid: [data[tls.crt]: Required value, data[tls.key]: Required value]"
    );
    let mut docker = secret("docker", json!({".dockerconfigjson": b64("not json")}));
    docker["type"] = json!("kubernetes.io/dockerconfigjson");
    let (s, _) = api.json(Method::POST, SECRETS, Some(docker)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    api.json(Method::POST, SECRETS, Some(secret("two", json!({}))))
        .await;
    let (_, list) = api
        .json(
            Method::GET,
            &format!("{SECRETS}?labelSelector=app%3Dx"),
            None,
        )
        .await;
    assert_eq!(list["kind"], "SecretList");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["one"]);
    assert!(
        list["items"][0].get("kind").is_none(),
        "list items carry no kind"
    );
    let (_, list) = api
        .json(Method::GET, "/api/v1/secrets?labelSelector=app!%3Dx", None)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let (_, pod) = api
        .json(
            Method::POST,
            "/api/v1/namespaces/team-a/pods",
            Some(
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
            ),
        )
        .await;
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["metadata"]["generation"], 1);
    let (s, v) = api
        .json(
            Method::POST,
            "/api/v1/namespaces/team-a/pods",
            Some(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "q"}, "spec": {}})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        v["message"],
        "Pod \"q\" is invalid: spec.containers: Required value"
    );
}

#[tokio::test]
async fn update_conflicts_on_stale_resource_version() {
    let api = Api::start().await;
    let kube = &api.sandbox.world.kube;
    let (_, created) = api
        .json(
            Method::POST,
            SECRETS,
            Some(secret("s", json!({"k": b64("v1")}))),
        )
        .await;

    let mut next = created.clone();
    next["data"]["k"] = json!(b64("v2"));
    let (s, updated) = api
        .json(Method::PUT, &format!("{SECRETS}/s"), Some(next.clone()))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(rv(&updated) > rv(&created));

    // `next` still carries the old resourceVersion.
    let (s, v) = api
        .json(Method::PUT, &format!("{SECRETS}/s"), Some(next))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["reason"], "Conflict");
    assert_eq!(
        v["message"],
        "Operation cannot be fulfilled on secrets \"s\": the object has been modified; please apply your changes to the latest version and try again"
    );
    assert_eq!(v["details"], json!({"name": "s", "kind": "secrets"}));

    // A concurrent writer, simulated by the test helper.
    let fresh = kube.get("team-a", "secrets", "s").unwrap();
    let bumped = kube
        .bump_resource_version("team-a", "secrets", "s")
        .expect("exists");
    assert_ne!(bumped, fresh["metadata"]["resourceVersion"]);
    let (s, _) = api
        .json(Method::PUT, &format!("{SECRETS}/s"), Some(fresh))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // type is immutable.
    let mut retyped = kube.get("team-a", "secrets", "s").unwrap();
    retyped["type"] = json!("example.com/other");
    let (s, v) = api
        .json(Method::PUT, &format!("{SECRETS}/s"), Some(retyped))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        v["message"],
        "Secret \"s\" is invalid: type: Invalid value: \"example.com/other\": field is immutable"
    );

    // PUT of a missing object is NotFound; a name mismatch is BadRequest.
    let (s, _) = api
        .json(
            Method::PUT,
            &format!("{SECRETS}/nope"),
            Some(secret("nope", json!({}))),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = api
        .json(
            Method::PUT,
            &format!("{SECRETS}/s"),
            Some(secret("t", json!({}))),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["message"],
        "the name of the object (t) does not match the name on the URL (s)"
    );
}

#[tokio::test]
async fn merge_patches() {
    let api = Api::start().await;
    let path = "/api/v1/namespaces/team-a/serviceaccounts/default";
    let (s, v) = api
        .patch(
            path,
            "application/merge-patch+json",
            r#"{"imagePullSecrets":[{"name":"pull"}],"metadata":{"labels":{"a":"b"}}}"#,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["imagePullSecrets"], json!([{"name": "pull"}]));
    let first_rv = rv(&v);
    // Strategic merge patch: accepted, lists replaced whole.
    let (s, v) = api
        .patch(
            path,
            "application/strategic-merge-patch+json",
            r#"{"imagePullSecrets":[{"name":"other"}],"metadata":{"labels":{"a":null}}}"#,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["imagePullSecrets"], json!([{"name": "other"}]));
    assert!(
        v["metadata"]
            .get("labels")
            .is_none_or(|l| l.get("a").is_none()),
        "{v}"
    );
    assert!(rv(&v) > first_rv);
    // A stale resourceVersion in the patch is a Conflict.
    let (s, v) = api
        .patch(
            path,
            "application/merge-patch+json",
            &format!(r#"{{"metadata":{{"resourceVersion":"{first_rv}"}}}}"#),
        )
        .await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::CONFLICT, Some("Conflict"))
    );
    // JSON patch.
    let (s, v) = api
        .patch(
            path,
            "application/json-patch+json",
            r#"[{"op":"add","path":"/automountServiceAccountToken","value":false}]"#,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["automountServiceAccountToken"], false);
    // Patching something absent.
    let (s, _) = api
        .patch(
            &format!("{SECRETS}/absent"),
            "application/merge-patch+json",
            "{}",
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = api.patch(path, "text/plain", "{}").await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("UnsupportedMediaType")
        )
    );
}

#[tokio::test]
async fn server_side_apply_ownership_and_conflicts() {
    let api = Api::start().await;
    let kube = &api.sandbox.world.kube;
    let path = format!("{SECRETS}/ssa");
    let api = &api;
    let path = &path;
    let apply = |manager: &str, force: bool, body: &str| {
        let p = format!(
            "{path}?fieldManager={manager}{}",
            if force { "&force=true" } else { "" }
        );
        let body = body.to_string();
        async move { api.patch(&p, "application/apply-patch+yaml", &body).await }
    };

    // fieldManager is required.
    let (s, v) = api.patch(path, "application/apply-patch+yaml", "{}").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        v["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );

    // Creates when absent (YAML body).
    let (s, v) = apply("alpha", false, "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ssa\n  labels:\n    owner: alpha\nstringData:\n  a: one\n").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["data"]["a"], b64("one"));
    assert_eq!(v["metadata"]["managedFields"][0]["operation"], "Apply");

    // Another manager adding a different key: no conflict, shared object.
    let (s, v) = apply(
        "beta",
        false,
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"ssa"},"data":{"b":"dHdv"}}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"], json!({"a": b64("one"), "b": "dHdv"}));
    let managers: Vec<&str> = v["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["alpha", "beta"]);

    // Same value for a field alpha owns: shared, no conflict.
    let (s, _) = apply("beta", false, &format!(r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"ssa"}},"data":{{"b":"dHdv","a":"{}"}}}}"#, b64("one"))).await;
    assert_eq!(s, StatusCode::OK);

    // Changing a field alpha owns without force: 409 naming the manager and field.
    let rv_before = rv(&kube.get("team-a", "secrets", "ssa").unwrap());
    let body = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"ssa","labels":{"owner":"gamma"}},"data":{"a":"eA=="}}"#;
    let (s, v) = apply("gamma", false, body).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["reason"], "Conflict");
    assert_eq!(
        v["message"],
        "Apply failed with 3 conflicts: conflicts with \"alpha\":\n- .data.a\n- .metadata.labels.owner\nconflicts with \"beta\":\n- .data.a"
    );
    assert_eq!(v["details"]["causes"][0]["reason"], "FieldManagerConflict");
    assert_eq!(
        rv(&kube.get("team-a", "secrets", "ssa").unwrap()),
        rv_before
    );
    let (s, v) = apply("gamma", false, r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"ssa","labels":{"owner":"gamma"}}}"#).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(
        v["message"],
        "Apply failed with 1 conflict: conflict with \"alpha\": .metadata.labels.owner"
    );

    // With force, gamma takes the fields.
    let (s, v) = apply("gamma", true, body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["a"], "eA==");
    assert_eq!(v["metadata"]["labels"]["owner"], "gamma");
    let entries = v["metadata"]["managedFields"].as_array().unwrap();
    let alpha = entries.iter().find(|m| m["manager"] == "alpha");
    assert!(alpha.is_none(), "alpha lost all its fields: {entries:?}");
    let gamma = entries.iter().find(|m| m["manager"] == "gamma").unwrap();
    assert!(gamma["fieldsV1"]["f:data"]["f:a"].is_object());

    // Dropping a field from beta's apply configuration removes it (beta was its only owner).
    let (s, v) = apply(
        "beta",
        false,
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"ssa"}}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["data"], json!({"a": "eA=="}));

    // Type changes are still validated.
    let (s, _) = apply("gamma", true, r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"ssa"},"type":"kubernetes.io/tls"}"#).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // Unknown fields are rejected.
    let (s, v) = apply(
        "gamma",
        false,
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"ssa"},"spec":{}}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains(".spec: field not declared in schema")
    );
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let api = Api::start().await;
    let kube = &api.sandbox.world.kube;
    api.json(
        Method::POST,
        SECRETS,
        Some(secret("keep", json!({"k": b64("v")}))),
    )
    .await;
    let stored = kube.get("team-a", "secrets", "keep").unwrap();
    let revision = kube.resource_version();

    // kube-rs style query with a leading `&`.
    let (s, v) = api
        .json(
            Method::POST,
            &format!("{SECRETS}?&dryRun=All&fieldManager=test"),
            Some(secret("new", json!({}))),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v["metadata"]["name"], "new");
    assert!(kube.get("team-a", "secrets", "new").is_none());

    let mut changed = stored.clone();
    changed["data"]["k"] = json!(b64("changed"));
    let (s, v) = api
        .json(
            Method::PUT,
            &format!("{SECRETS}/keep?dryRun=All"),
            Some(changed),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["data"]["k"], b64("changed"));

    let (s, _) = api
        .patch(
            &format!("{SECRETS}/keep?dryRun=All"),
            "application/merge-patch+json",
            r#"{"metadata":{"labels":{"x":"y"}}}"#,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api
        .patch(
            &format!("{SECRETS}/keep?dryRun=All&fieldManager=m&force=true"),
            "application/apply-patch+yaml",
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"keep"},"data":{"k":"eA=="}}"#,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api
        .patch(
            &format!("{SECRETS}/other?dryRun=All&fieldManager=m"),
            "application/apply-patch+yaml",
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"other"}}"#,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = api
        .json(Method::DELETE, &format!("{SECRETS}/keep?dryRun=All"), None)
        .await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("Success")));

    assert_eq!(kube.get("team-a", "secrets", "keep").unwrap(), stored);
    assert!(kube.get("team-a", "secrets", "other").is_none());
    assert_eq!(kube.resource_version(), revision);

    let (s, v) = api
        .json(
            Method::POST,
            &format!("{SECRETS}?dryRun=Some"),
            Some(secret("x", json!({}))),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        v["message"],
        "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: \"Some\": supported values: \"All\""
    );

    // The real delete.
    let (s, v) = api
        .json(Method::DELETE, &format!("{SECRETS}/keep"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["details"]["name"], "keep");
    assert!(kube.get("team-a", "secrets", "keep").is_none());
}

#[tokio::test]
async fn protobuf_create() {
    use k8s_pb::api::core::v1 as core;
    use k8s_pb::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
    let api = Api::start().await;
    let envelope = |kind: &str, raw: Vec<u8>| {
        let mut body = b"k8s\0".to_vec();
        body.extend(
            Unknown {
                type_meta: Some(TypeMeta {
                    api_version: Some("v1".into()),
                    kind: Some(kind.into()),
                }),
                raw: Some(raw),
                content_encoding: Some(String::new()),
                content_type: Some(String::new()),
            }
            .encode_to_vec(),
        );
        body
    };
    let meta = |name: &str| {
        Some(ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        })
    };
    let s = core::Secret {
        metadata: meta("pb"),
        data: [("bin".to_string(), vec![0u8, 159, 146, 150])]
            .into_iter()
            .collect(),
        r#type: Some("Opaque".into()),
        ..Default::default()
    };
    let (status, v) = api
        .post_protobuf(SECRETS, envelope("Secret", s.encode_to_vec()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(
        api.sandbox.world.kube.secret_data("team-a", "pb").unwrap()["bin"],
        vec![0u8, 159, 146, 150]
    );

    let sa = core::ServiceAccount {
        metadata: meta("robot"),
        ..Default::default()
    };
    let (status, _) = api
        .post_protobuf(
            "/api/v1/namespaces/team-a/serviceaccounts",
            envelope("ServiceAccount", sa.encode_to_vec()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let ns = core::Namespace {
        metadata: meta("from-pb"),
        ..Default::default()
    };
    let (status, v) = api
        .post_protobuf(
            "/api/v1/namespaces",
            envelope("Namespace", ns.encode_to_vec()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(v["status"]["phase"], "Active");
    let pod = core::Pod {
        metadata: meta("pb-pod"),
        spec: Some(core::PodSpec {
            containers: vec![core::Container {
                name: Some("c".into()),
                image: Some("busybox:1".into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let (status, v) = api
        .post_protobuf(
            "/api/v1/namespaces/team-a/pods",
            envelope("Pod", pod.encode_to_vec()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(v["spec"]["containers"][0]["image"], "busybox:1");
    assert_eq!(v["status"]["phase"], "Pending");
}

#[tokio::test]
async fn watch_streams_changes() {
    let api = Api::start().await;
    let mut resp = api
        .client
        .get(api.url(
            "/api/v1/namespaces/team-a/secrets?watch=true&labelSelector=w%3D1&timeoutSeconds=5",
        ))
        .bearer_auth(KUBE_ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut labelled = secret("watched", json!({}));
    labelled["metadata"]["labels"] = json!({"w": "1"});
    api.json(Method::POST, SECRETS, Some(secret("ignored", json!({}))))
        .await;
    api.json(Method::POST, SECRETS, Some(labelled)).await;
    api.json(Method::DELETE, &format!("{SECRETS}/watched"), None)
        .await;
    let mut text = String::new();
    while text.lines().count() < 2 {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), resp.chunk())
            .await
            .expect("event in time")
            .expect("chunk")
            .expect("stream open");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "watched");
    assert_eq!(events[1]["type"], "DELETED");
    assert_eq!(events[1]["object"]["kind"], "Secret");
}

/// `RunThenRespond`: the write is stored, but the client gets the fault's failure; a plain
/// `Respond` (the control) stores nothing.
#[tokio::test]
async fn run_then_respond_stores_the_write_and_answers_the_failure() {
    use dedicated_sandbox::{Fault, FaultAction, Service};
    let api = Api::start().await;
    let timeout = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
        "message":"Timeout: request did not complete within the allotted timeout",
        "reason":"Timeout","code":504})
    .to_string();
    let respond = |run: bool| {
        let (status, content_type, body) = (504, "application/json".to_string(), timeout.clone());
        let action = if run {
            FaultAction::RunThenRespond {
                status,
                content_type,
                body,
            }
        } else {
            FaultAction::Respond {
                status,
                content_type,
                body,
            }
        };
        Fault::new(Service::Kube, "POST", SECRETS, action).times(1)
    };
    for (name, run) in [("landed", true), ("refused", false)] {
        api.sandbox.inject(respond(run));
        let (status, body) = api
            .json(
                Method::POST,
                SECRETS,
                Some(secret(name, json!({"k": b64("v")}))),
            )
            .await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{name}: {body}");
        assert_eq!(body["reason"], "Timeout", "{name}: {body}");
        let stored = api.sandbox.world.kube.get("team-a", "secrets", name);
        assert_eq!(stored.is_some(), run, "{name}: stored {stored:?}");
    }
    let last = api.sandbox.journal().entries().pop().expect("journaled");
    assert_eq!(last.status, 504, "the journal records the status sent");
}

#[tokio::test]
async fn a_terminating_namespace_refuses_creates_but_not_updates() {
    let api = Api::start().await;
    let (status, created) = api
        .json(
            Method::POST,
            SECRETS,
            Some(secret("before", json!({"k": b64("v")}))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(api.sandbox.world.kube.terminate_namespace("team-a"));
    assert!(!api.sandbox.world.kube.terminate_namespace("no-such"));
    let (_, ns) = api
        .json(Method::GET, "/api/v1/namespaces/team-a", None)
        .await;
    assert_eq!(ns["status"]["phase"], "Terminating", "{ns}");
    assert!(ns["metadata"]["deletionTimestamp"].is_string(), "{ns}");

    // The body of NamespaceLifecycle's refusal, field for field.
    let (status, body) = api
        .json(
            Method::POST,
            SECRETS,
            Some(secret("after", json!({"k": b64("v")}))),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body,
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":"secrets \"after\" is forbidden: unable to create new content in namespace team-a because it is being terminated",
            "reason":"Forbidden",
            "details":{"name":"after","kind":"secrets","causes":[{"reason":"NamespaceTerminating",
                "message":"namespace team-a is being terminated","field":"metadata.namespace"}]},
            "code":403})
    );
    // Server-side apply that would create is a create too.
    let (status, body) = api
        .patch(
            &format!("{SECRETS}/applied?fieldManager=t"),
            "application/apply-patch+yaml",
            &secret("applied", json!({"k": b64("v")})).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["details"]["causes"][0]["reason"],
        "NamespaceTerminating"
    );
    // An update of what exists still works.
    let mut update = created.clone();
    update["data"] = json!({"k": b64("w")});
    let (status, body) = api
        .json(Method::PUT, &format!("{SECRETS}/before"), Some(update))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Other namespaces are not affected.
    let (status, body) = api
        .json(
            Method::POST,
            "/api/v1/namespaces/team-b/secrets",
            Some(secret("after", json!({"k": b64("v")}))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

//! The kinds the shipped manifests (`deploy/`) and the pod diagnosis need from the emulated API
//! server (issues 21 and 22), over HTTPS directly: core `v1` ConfigMaps and Events, `apps/v1`
//! workloads, `rbac.authorization.k8s.io/v1`, `admissionregistration.k8s.io/v1`,
//! `policy/v1` PodDisruptionBudgets with the `pods/eviction` subresource, and the
//! ServiceAccount admission of pods.

use dedicated_sandbox::seed::KUBE_ADMIN_TOKEN;
use dedicated_sandbox::{KubeRule, KubeUser, Sandbox, SandboxConfig};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const CONFIGMAPS: &str = "/api/v1/namespaces/team-a/configmaps";
const EVENTS: &str = "/api/v1/namespaces/team-a/events";
const EDITOR_TOKEN: &str = "configmap-editor-token";

struct Api {
    sandbox: Sandbox,
    client: Client,
}

impl Api {
    async fn start() -> Api {
        let mut config = SandboxConfig::default();
        config.kube_users.push(KubeUser::service_account(
            "team-a",
            "editor",
            EDITOR_TOKEN,
            vec![KubeRule::namespaced(
                "team-a",
                &["configmaps", "pods"],
                &["get", "list", "create"],
            )],
        ));
        let sandbox = Sandbox::start_with(config, None)
            .await
            .expect("sandbox starts");
        let ca = reqwest::Certificate::from_pem(sandbox.pki.ca_pem.as_bytes()).expect("CA PEM");
        let client = Client::builder()
            .tls_certs_only([ca])
            .no_proxy()
            .build()
            .expect("client");
        Api { sandbox, client }
    }

    async fn send_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        content_type: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.sandbox.urls().kube);
        let mut req = self.client.request(method, url).bearer_auth(token);
        if let Some(b) = body {
            req = req.header("content-type", content_type).body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send_as(KUBE_ADMIN_TOKEN, Method::GET, path, "", None)
            .await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send_as(
            KUBE_ADMIN_TOKEN,
            Method::POST,
            path,
            "application/json",
            Some(body),
        )
        .await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send_as(
            KUBE_ADMIN_TOKEN,
            Method::PUT,
            path,
            "application/json",
            Some(body),
        )
        .await
    }

    async fn patch(&self, path: &str, content_type: &str, body: Value) -> (StatusCode, Value) {
        self.send_as(
            KUBE_ADMIN_TOKEN,
            Method::PATCH,
            path,
            content_type,
            Some(body),
        )
        .await
    }
}

const SMP: &str = "application/strategic-merge-patch+json";
const MERGE: &str = "application/merge-patch+json";

fn causes(status: &Value) -> Vec<(String, String)> {
    status["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["field"].as_str().unwrap_or("").to_string(),
                c["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn config_maps_are_validated_frozen_when_immutable_and_dry_runs_store_nothing() {
    let api = Api::start().await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
        "data": {"config.yaml": "a: 1\n"}, "binaryData": {"blob": "AAE="}});
    // A dry run answers as if created and stores nothing.
    let (status, dry) = api
        .post(&format!("{CONFIGMAPS}?dryRun=All"), cm.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{dry}");
    assert_eq!(dry["data"]["config.yaml"], "a: 1\n");
    assert!(dry["metadata"]["uid"].is_string(), "{dry}");
    assert!(
        api.sandbox
            .world
            .kube
            .get("team-a", "configmaps", "settings")
            .is_none()
    );
    // A namespaced user with a core-group rule creates it.
    let (status, created) = api
        .send_as(
            EDITOR_TOKEN,
            Method::POST,
            CONFIGMAPS,
            "application/json",
            Some(cm.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let stored = api
        .sandbox
        .world
        .kube
        .get("team-a", "configmaps", "settings")
        .expect("stored");
    assert_eq!(stored["binaryData"]["blob"], "AAE=");
    assert_eq!(stored["kind"], "ConfigMap");
    // Keys are config keys and not in both maps; binaryData is base64.
    let bad = json!({"metadata": {"name": "bad"}, "data": {"a b": "x", "k": "v"},
        "binaryData": {"k": "AA==", "z": "not base64!"}});
    let (status, err) = api.post(CONFIGMAPS, bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["details"]["kind"], "ConfigMap");
    let fields: Vec<String> = causes(&err).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["data[a b]", "data[k]", "binaryData[z]"], "{err}");
    // Strict field validation rejects an unknown top-level field.
    let (status, err) = api
        .post(
            &format!("{CONFIGMAPS}?fieldValidation=Strict"),
            json!({"metadata": {"name": "typo"}, "datas": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"datas\""),
        "{err}"
    );
    // immutable: true freezes data.
    let frozen = json!({"metadata": {"name": "frozen"}, "data": {"a": "1"}, "immutable": true});
    assert_eq!(api.post(CONFIGMAPS, frozen).await.0, StatusCode::CREATED);
    let (status, err) = api
        .patch(
            &format!("{CONFIGMAPS}/frozen"),
            MERGE,
            json!({"data": {"a": "2"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(
        err["message"],
        "ConfigMap \"frozen\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
    );
    // A table has the real columns.
    let url = format!("{}{CONFIGMAPS}", api.sandbox.urls().kube);
    let table: Value = api
        .client
        .get(url)
        .bearer_auth(KUBE_ADMIN_TOKEN)
        .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Name", "Data", "Age"]);
    assert_eq!(table["rows"][1]["cells"][0], "settings", "{table}");
    assert_eq!(table["rows"][1]["cells"][1], 2, "{table}");
}

fn core_event(name: &str, pod: &str, kind: &str, reason: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
        "involvedObject": {"kind": kind, "namespace": "team-a", "name": pod, "apiVersion": "v1",
            "fieldPath": "spec.containers{app}"},
        "reason": reason, "message": format!("{reason} for {pod}"), "type": "Warning",
        "source": {"component": "kubelet", "host": "node-1"},
        "count": 3, "firstTimestamp": "2026-12-07T10:00:00+01:00",
        "lastTimestamp": "2026-12-07T09:05:00Z", "eventTime": null})
}

#[tokio::test]
async fn core_events_are_selected_by_their_involved_object() {
    let api = Api::start().await;
    for (name, pod, kind, reason) in [
        ("web.1", "web", "Pod", "Failed"),
        ("web.2", "web", "Pod", "BackOff"),
        ("db.1", "db", "Pod", "Failed"),
        ("web-rs.1", "web", "ReplicaSet", "SuccessfulCreate"),
    ] {
        let (status, created) = api.post(EVENTS, core_event(name, pod, kind, reason)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }
    let stored = api
        .sandbox
        .world
        .kube
        .get("team-a", "events", "web.1")
        .expect("stored as a core event");
    // metav1.Time is written back in UTC with whole seconds.
    assert_eq!(stored["firstTimestamp"], "2026-12-07T09:00:00Z");
    assert_eq!(stored["count"], 3);
    assert!(
        api.sandbox
            .world
            .kube
            .get("team-a", "events.events.k8s.io", "web.1")
            .is_none()
    );
    let (status, list) = api
        .get(&format!(
            "{EVENTS}?fieldSelector=involvedObject.name%3Dweb%2CinvolvedObject.kind%3DPod"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["kind"], "EventList");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web.1", "web.2"]);
    let (_, all) = api
        .get("/api/v1/events?fieldSelector=reason%3DFailed")
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2, "{all}");
    // The involved object must be in the Event's namespace.
    let mut elsewhere = core_event("x.1", "web", "Pod", "Failed");
    elsewhere["involvedObject"]["namespace"] = json!("team-b");
    let (status, err) = api.post(EVENTS, elsewhere).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(
        err["message"],
        "Event \"x.1\" is invalid: involvedObject.namespace: Invalid value: \"team-b\": does not match event.namespace"
    );
    // A timestamp that does not decode is a 400.
    let mut bad = core_event("x.2", "web", "Pod", "Failed");
    bad["lastTimestamp"] = json!("yesterday");
    assert_eq!(api.post(EVENTS, bad).await.0, StatusCode::BAD_REQUEST);
    // Discovery lists both core resources.
    let (_, resources) = api.get("/api/v1").await;
    let names: Vec<&str> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"events") && names.contains(&"configmaps"),
        "{names:?}"
    );
    // A PUT keeps the object an Event and an update of the count works.
    let mut update = stored.clone();
    update["count"] = json!(4);
    let (status, updated) = api.put(&format!("{EVENTS}/web.1"), update).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["count"], 4);
    let _ = SMP;
}

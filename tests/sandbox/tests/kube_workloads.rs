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
}

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/team-a/deployments";

fn deployment(name: &str, selector: Value, labels: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 2, "selector": selector, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]}}}})
}

#[tokio::test]
async fn deployments_are_validated_versioned_and_keep_status_apart() {
    let api = Api::start().await;
    // spec.selector is required and must select the template's labels.
    let mut no_selector = deployment("web", json!({}), json!({"app": "web"}));
    no_selector["spec"]
        .as_object_mut()
        .unwrap()
        .remove("selector");
    let (status, err) = api.post(DEPLOYMENTS, no_selector).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(
        err["message"],
        "Deployment.apps \"web\" is invalid: spec.selector: Required value"
    );
    let (status, err) = api
        .post(
            DEPLOYMENTS,
            deployment(
                "web",
                json!({"matchLabels": {"app": "web"}}),
                json!({"app": "api", "tier": "x"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(
        err["message"],
        "Deployment.apps \"web\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"api\", \"tier\":\"x\"}: `selector` does not match template `labels`"
    );
    assert_eq!(err["details"]["group"], "apps");
    let good = deployment(
        "web",
        json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}),
        json!({"app": "web", "tier": "front"}),
    );
    // A dry run stores nothing; the create defaults and starts at generation 1.
    let (status, _) = api
        .post(&format!("{DEPLOYMENTS}?dryRun=All"), good.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        api.sandbox
            .world
            .kube
            .get("team-a", "deployments.apps", "web")
            .is_none()
    );
    let mut with_status = good.clone();
    with_status["status"] = json!({"replicas": 9});
    let (status, created) = api.post(DEPLOYMENTS, with_status).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(
        created["status"],
        json!({}),
        "a create ignores the status sent"
    );
    assert_eq!(
        created["spec"]["strategy"]["rollingUpdate"]["maxSurge"],
        "25%"
    );
    assert_eq!(
        created["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    // The status subresource changes the status only, and not the generation.
    let mut status_update = created.clone();
    status_update["status"] = json!({"replicas": 2, "readyReplicas": 1});
    status_update["spec"]["replicas"] = json!(7);
    let (status, updated) = api
        .put(&format!("{DEPLOYMENTS}/web/status"), status_update)
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["status"]["readyReplicas"], 1);
    assert_eq!(updated["spec"]["replicas"], 2);
    assert_eq!(updated["metadata"]["generation"], 1);
    // A PUT of the main resource keeps the status; a spec change bumps the generation.
    let mut main = updated.clone();
    main["status"] = json!({});
    main["spec"]["replicas"] = json!(3);
    let (status, replaced) = api.put(&format!("{DEPLOYMENTS}/web"), main).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["status"]["readyReplicas"], 1, "{replaced}");
    assert_eq!(replaced["metadata"]["generation"], 2);
    let (_, patched) = api
        .patch(
            &format!("{DEPLOYMENTS}/web"),
            MERGE,
            json!({"metadata": {"labels": {"a": "b"}}}),
        )
        .await;
    assert_eq!(patched["metadata"]["generation"], 2, "metadata is not spec");
    // The selector is immutable in apps/v1.
    let (status, err) = api
        .patch(
            &format!("{DEPLOYMENTS}/web"),
            MERGE,
            json!({"spec": {"selector": {"matchLabels": {"app": "web2"}}, "template": {"metadata": {"labels": {"app": "web2"}}}}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("spec.selector: Invalid value"),
        "{err}"
    );
    // The other workloads are served and validated the same way.
    for (resource, kind) in [
        ("replicasets", "ReplicaSet"),
        ("statefulsets", "StatefulSet"),
        ("daemonsets", "DaemonSet"),
    ] {
        let mut obj = good.clone();
        obj["kind"] = json!(kind);
        let (status, created) = api
            .post(&format!("/apis/apps/v1/namespaces/team-a/{resource}"), obj)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{kind}: {created}");
        let mut bad = good.clone();
        bad["kind"] = json!(kind);
        bad["metadata"]["name"] = json!("bad");
        bad["spec"]["template"]["spec"]["containers"] = json!([]);
        let (status, err) = api
            .post(&format!("/apis/apps/v1/namespaces/team-a/{resource}"), bad)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{kind}: {err}");
    }
}

#[tokio::test]
async fn rbac_and_admission_objects_are_stored_cluster_wide_or_namespaced() {
    let api = Api::start().await;
    let rbac = "/apis/rbac.authorization.k8s.io/v1";
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "reader"}, "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]});
    let (status, created) = api.post(&format!("{rbac}/clusterroles"), role).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["metadata"].get("namespace").is_none());
    let (status, got) = api.get(&format!("{rbac}/clusterroles/reader")).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let (status, err) = api
        .post(
            &format!("{rbac}/namespaces/team-a/roles"),
            json!({"metadata": {"name": "r"}, "rules": [{"resources": ["pods"]}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(
        causes(&err),
        [
            (
                "rules[0].verbs".to_string(),
                "Required value: verbs must contain at least one value".to_string()
            ),
            (
                "rules[0].apiGroups".to_string(),
                "Required value: resource rules must supply at least one api group".to_string()
            ),
        ]
    );
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "readers"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "ctl", "namespace": "team-a"}, {"kind": "User", "name": "alice"}]});
    let (status, created) = api
        .post(&format!("{rbac}/clusterrolebindings"), binding)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["subjects"][1]["apiGroup"], "rbac.authorization.k8s.io",
        "defaulted"
    );
    let (status, err) = api
        .patch(
            &format!("{rbac}/clusterrolebindings/readers"),
            MERGE,
            json!({"roleRef": {"name": "writer"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .ends_with("cannot change roleRef"),
        "{err}"
    );
    let (status, err) = api
        .post(
            &format!("{rbac}/clusterrolebindings"),
            json!({"metadata": {"name": "x"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    // Admission policies are stored, cluster-scoped, with a generation.
    let vap = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies";
    let (status, created) = api
        .post(
            vap,
            json!({"metadata": {"name": "p"}, "spec": {"validations": [{"expression": "true"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["metadata"]["generation"], 1);
    let (status, deleted) = api
        .send_as(
            KUBE_ADMIN_TOKEN,
            Method::DELETE,
            &format!("{vap}/p"),
            "",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["details"]["group"], "admissionregistration.k8s.io");
    // A namespaced user's core rule grants nothing in the rbac group.
    let (status, _) = api
        .send_as(
            EDITOR_TOKEN,
            Method::GET,
            &format!("{rbac}/namespaces/team-a/roles"),
            "",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

fn running_pod(name: &str, app: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "team-a", "labels": {"app": app}},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
}

fn eviction(name: &str) -> Value {
    json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "team-a"}})
}

#[tokio::test]
async fn evictions_respect_the_disruption_budget_of_the_pod() {
    let api = Api::start().await;
    let kube = &api.sandbox.world.kube;
    for name in ["web-1", "web-2"] {
        kube.put_raw(running_pod(name, "web"));
    }
    kube.put_raw(running_pod("db-1", "db"));
    let mut pending = running_pod("web-3", "web");
    pending["status"] = json!({"phase": "Pending"});
    kube.put_raw(pending);
    let pdbs = "/apis/policy/v1/namespaces/team-a/poddisruptionbudgets";
    let (status, created) = api
        .post(pdbs, json!({"metadata": {"name": "web"}, "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, pdb) = api.get(&format!("{pdbs}/web")).await;
    assert_eq!(
        pdb["status"],
        json!({"currentHealthy": 2, "desiredHealthy": 2, "disruptionsAllowed": 0, "expectedPods": 3, "observedGeneration": 1}),
        "{pdb}"
    );
    // A running pod under a budget that allows no disruption: 429, the pod stays.
    let evict = |pod: &str| format!("/api/v1/namespaces/team-a/pods/{pod}/eviction");
    let (status, err) = api.post(&evict("web-1"), eviction("web-1")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{err}");
    assert_eq!(err["reason"], "TooManyRequests");
    assert_eq!(
        err["message"],
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert_eq!(
        err["details"]["causes"],
        json!([{"reason": "DisruptionBudget", "message": "The disruption budget web needs 2 healthy pods and has 2 currently"}])
    );
    assert!(kube.get("team-a", "pods", "web-1").is_some());
    // A pending pod is not protected by the budget (the real handler deletes it at once).
    let (status, ok) = api.post(&evict("web-3"), eviction("web-3")).await;
    assert_eq!(status, StatusCode::CREATED, "{ok}");
    assert!(kube.get("team-a", "pods", "web-3").is_none());
    // A pod no budget selects: 201 Success and deleted.
    let (status, ok) = api.post(&evict("db-1"), eviction("db-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{ok}");
    assert_eq!(
        ok,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
    );
    assert!(kube.get("team-a", "pods", "db-1").is_none());
    // With room for one disruption, one eviction succeeds and the next is refused.
    let (_, _) = api
        .patch(
            &format!("{pdbs}/web"),
            MERGE,
            json!({"spec": {"minAvailable": 1}}),
        )
        .await;
    let (status, ok) = api
        .post(&format!("{}?dryRun=All", evict("web-1")), eviction("web-1"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ok}");
    assert!(
        kube.get("team-a", "pods", "web-1").is_some(),
        "a dry run deletes nothing"
    );
    assert_eq!(
        api.post(&evict("web-1"), eviction("web-1")).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        api.post(&evict("web-2"), eviction("web-2")).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let (_, pdb) = api.get(&format!("{pdbs}/web")).await;
    assert_eq!(pdb["status"]["currentHealthy"], 1, "{pdb}");
    // Mismatched names, missing pods and the RBAC resource pods/eviction.
    let (status, _) = api.post(&evict("web-2"), eviction("other")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, err) = api.post(&evict("gone"), eviction("gone")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["message"], "pods \"gone\" not found");
    let (status, err) = api
        .send_as(
            EDITOR_TOKEN,
            Method::POST,
            &evict("web-2"),
            "application/json",
            Some(eviction("web-2")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert_eq!(
        err["message"],
        "pods \"web-2\" is forbidden: User \"system:serviceaccount:team-a:editor\" cannot create resource \"pods/eviction\" in API group \"\" in the namespace \"team-a\""
    );
}

#[tokio::test]
async fn pods_get_their_service_accounts_pull_secrets_only_when_they_list_none() {
    let api = Api::start().await;
    let kube = &api.sandbox.world.kube;
    kube.put_raw(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "builder", "namespace": "team-a"}, "imagePullSecrets": [{"name": "regcred"}]}));
    let pods = "/api/v1/namespaces/team-a/pods";
    let pod = |name: &str, extra: Value| {
        let mut p = json!({"metadata": {"name": name}, "spec": {"serviceAccountName": "builder",
            "containers": [{"name": "app", "image": "registry.example/app:1"}]}});
        objects_merge(&mut p["spec"], extra);
        p
    };
    let (status, created) = api.post(pods, pod("copied", json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["spec"]["imagePullSecrets"],
        json!([{"name": "regcred"}])
    );
    let (_, own) = api
        .post(
            pods,
            pod("own", json!({"imagePullSecrets": [{"name": "mine"}]})),
        )
        .await;
    assert_eq!(own["spec"]["imagePullSecrets"], json!([{"name": "mine"}]));
    // The default ServiceAccount has none: nothing is added.
    let (_, plain) = api
        .post(pods, json!({"metadata": {"name": "plain"}, "spec": {"containers": [{"name": "a", "image": "b:1"}]}}))
        .await;
    assert!(plain["spec"].get("imagePullSecrets").is_none(), "{plain}");
    // imagePullSecrets of a pod are immutable.
    let (status, err) = api
        .patch(
            &format!("{pods}/own"),
            SMP,
            json!({"spec": {"imagePullSecrets": [{"name": "other"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err["message"].as_str().unwrap().starts_with(
            "Pod \"own\" is invalid: spec: Forbidden: pod updates may not change fields other than"
        ),
        "{err}"
    );
    // A label patch keeps them, and a seeded status and owner references are kept.
    let (status, _) = api
        .patch(
            &format!("{pods}/copied"),
            MERGE,
            json!({"metadata": {"labels": {"a": "b"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let seeded = kube.put_raw(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "pulling", "namespace": "team-a", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8", "uid": "1234", "controller": true}]},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
        "status": {"phase": "Pending", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
            "image": "registry.example/app:1", "imageID": "",
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}}));
    assert_eq!(
        seeded["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ImagePullBackOff"
    );
    let (_, got) = api.get(&format!("{pods}/pulling")).await;
    assert_eq!(
        got["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ImagePullBackOff"
    );
    assert_eq!(got["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
    assert_eq!(
        got["spec"]["restartPolicy"], "Always",
        "defaults still applied"
    );
}

fn objects_merge(target: &mut Value, extra: Value) {
    if let (Some(t), Value::Object(e)) = (target.as_object_mut(), extra) {
        t.extend(e);
    }
}

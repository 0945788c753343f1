//! The `coordination.k8s.io/v1` Leases and `events.k8s.io/v1` Events of the emulated API server
//! (issue 21's controller): over HTTPS directly, and through the real clients the controller
//! uses, `kube-lease-manager` 0.13 and kube-runtime 5's event `Recorder`.

use std::time::Duration;

use dedicated_sandbox::seed::KUBE_ADMIN_TOKEN;
use dedicated_sandbox::{Fault, FaultAction, KubeRule, KubeUser, Sandbox, SandboxConfig, Service};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/team-a/leases";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/team-a/events";
const CONTROLLER_TOKEN: &str = "controller-sa-token";
const CONTROLLER: &str = "system:serviceaccount:team-a:controller";

struct Api {
    sandbox: Sandbox,
    client: Client,
}

/// The controller's ServiceAccount: a Role over leases and events in `team-a` only.
fn controller_user() -> KubeUser {
    KubeUser::service_account(
        "team-a",
        "controller",
        CONTROLLER_TOKEN,
        vec![
            KubeRule::namespaced(
                "team-a",
                &["leases.coordination.k8s.io"],
                &["get", "create", "patch", "update"],
            ),
            KubeRule::namespaced("team-a", &["events.events.k8s.io"], &["create", "patch"]),
        ],
    )
}

impl Api {
    async fn start() -> Api {
        let mut config = SandboxConfig::default();
        config.kube_users.push(controller_user());
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
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.sandbox.urls().kube);
        let mut req = self.client.request(method, url).bearer_auth(token);
        if let Some(b) = body {
            req = req.header("content-type", content_type).body(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, value)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.send_as(
            KUBE_ADMIN_TOKEN,
            method,
            path,
            content_type,
            body.map(|b| b.to_string()),
        )
        .await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, "", None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, "application/json", Some(body))
            .await
    }

    async fn patch(&self, path: &str, content_type: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PATCH, path, content_type, Some(body))
            .await
    }

    /// A kube-rs client for the kubeconfig context `context`.
    async fn kube_client(&self, context: &str) -> kube::Client {
        let kubeconfig = kube::config::Kubeconfig::read_from(self.sandbox.kubeconfig_path())
            .expect("kubeconfig");
        let options = kube::config::KubeConfigOptions {
            context: Some(context.into()),
            ..Default::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .expect("kube config");
        kube::Client::try_from(config).expect("kube client")
    }
}

fn lease(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name}, "spec": spec})
}

const SMP: &str = "application/strategic-merge-patch+json";
const APPLY: &str = "application/apply-patch+yaml";

#[tokio::test]
async fn discovery_serves_coordination_and_events_groups() {
    let api = Api::start().await;
    let (status, groups) = api.get("/apis").await;
    assert_eq!(status, StatusCode::OK, "{groups}");
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "authorization.k8s.io",
            "coordination.k8s.io",
            "events.k8s.io",
            "apps",
            "rbac.authorization.k8s.io",
            "admissionregistration.k8s.io",
            "policy"
        ]
    );
    let (_, group) = api.get("/apis/coordination.k8s.io").await;
    assert_eq!(group["kind"], "APIGroup");
    assert_eq!(
        group["preferredVersion"]["groupVersion"],
        "coordination.k8s.io/v1"
    );
    let (_, list) = api.get("/apis/coordination.k8s.io/v1").await;
    assert_eq!(list["groupVersion"], "coordination.k8s.io/v1", "{list}");
    assert_eq!(list["resources"][0]["name"], "leases");
    assert_eq!(list["resources"][0]["kind"], "Lease");
    assert_eq!(list["resources"][0]["namespaced"], true);
    let (_, list) = api.get("/apis/events.k8s.io/v1").await;
    assert_eq!(list["resources"][0]["name"], "events", "{list}");
    assert_eq!(list["resources"][0]["shortNames"], json!(["ev"]));
    // Aggregated discovery v2 lists the same groups.
    let url = format!("{}/apis", api.sandbox.urls().kube);
    let resp = api
        .client
        .get(url)
        .bearer_auth(KUBE_ADMIN_TOKEN)
        .header(
            "accept",
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
        )
        .send()
        .await
        .expect("request");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("as=APIGroupDiscoveryList")
    );
    let agg: Value = resp.json().await.expect("JSON");
    let lease = agg["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|g| g["metadata"]["name"] == "coordination.k8s.io")
        .expect("coordination group");
    assert_eq!(
        lease["versions"][0]["resources"][0]["responseKind"],
        json!({"group": "coordination.k8s.io", "version": "v1", "kind": "Lease"})
    );
    assert_eq!(lease["versions"][0]["resources"][0]["scope"], "Namespaced");
    // A group that is not served is 404, as is a core resource under a group.
    let (status, _) = api.get("/apis/batch/v1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .get("/apis/coordination.k8s.io/v1/namespaces/team-a/secrets")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn lease_crud_with_micro_times_replace_conflicts_and_null_patches() {
    let api = Api::start().await;
    let (status, created) = api.post(LEASES, lease("leader", json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["apiVersion"], "coordination.k8s.io/v1");
    assert_eq!(created["spec"], json!({}), "spec is a struct: always there");
    let (status, dup) = api.post(LEASES, lease("leader", json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(dup["reason"], "AlreadyExists");
    assert_eq!(
        dup["message"],
        "leases.coordination.k8s.io \"leader\" already exists"
    );
    assert_eq!(
        dup["details"],
        json!({"name": "leader", "group": "coordination.k8s.io", "kind": "leases"})
    );
    // MicroTime: RFC 3339 in, six fractional digits in UTC out.
    let (status, patched) = api
        .patch(
            &format!("{LEASES}/leader"),
            SMP,
            json!({"spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
                "acquireTime": "2026-12-07T20:45:27.123456Z", "renewTime": "2026-12-07T21:45:27+01:00"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        patched["spec"]["acquireTime"],
        "2026-12-07T20:45:27.123456Z"
    );
    assert_eq!(patched["spec"]["renewTime"], "2026-12-07T20:45:27.000000Z");
    let view = api
        .sandbox
        .world
        .kube
        .lease("team-a", "leader")
        .expect("lease");
    assert_eq!(view.holder.as_deref(), Some("a"));
    assert_eq!(view.duration_seconds, Some(15));
    assert_eq!(
        view.renew_time.as_deref(),
        Some("2026-12-07T20:45:27.000000Z")
    );
    // A PUT with a stale resourceVersion is 409 Conflict; with the current one it lands.
    let mut stale = created.clone();
    stale["spec"] = json!({"holderIdentity": "b"});
    let (status, body) = api
        .send(
            Method::PUT,
            &format!("{LEASES}/leader"),
            "application/json",
            Some(stale),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["reason"], "Conflict");
    assert_eq!(
        body["message"],
        "Operation cannot be fulfilled on leases.coordination.k8s.io \"leader\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let mut fresh = patched.clone();
    fresh["spec"]["leaseTransitions"] = json!(1);
    let (status, replaced) = api
        .send(
            Method::PUT,
            &format!("{LEASES}/leader"),
            "application/json",
            Some(fresh),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(
        api.sandbox
            .world
            .kube
            .lease("team-a", "leader")
            .unwrap()
            .transitions,
        1
    );
    // Strategic merge with null removes fields (kube-lease-manager's release).
    let (status, released) = api
        .patch(
            &format!("{LEASES}/leader"),
            SMP,
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": {
                "acquireTime": null, "renewTime": null, "holderIdentity": null, "leaseDurationSeconds": null}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["spec"], json!({"leaseTransitions": 1}));
    let view = api.sandbox.world.kube.lease("team-a", "leader").unwrap();
    assert_eq!(
        (view.holder, view.renew_time, view.transitions),
        (None, None, 1)
    );
    // Merge and JSON patches.
    let (status, merged) = api
        .patch(
            &format!("{LEASES}/leader"),
            "application/merge-patch+json",
            json!({"spec": {"holderIdentity": "m"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(merged["spec"]["holderIdentity"], "m");
    let (status, jp) = api
        .patch(
            &format!("{LEASES}/leader"),
            "application/json-patch+json",
            json!([{"op": "replace", "path": "/spec/leaseTransitions", "value": 2}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{jp}");
    assert_eq!(jp["spec"]["leaseTransitions"], 2);
    // Validation: 422 for a non-positive duration, 400 for a time that does not parse.
    let (status, invalid) = api
        .post(LEASES, lease("bad", json!({"leaseDurationSeconds": 0})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{invalid}");
    assert_eq!(
        invalid["message"],
        "Lease.coordination.k8s.io \"bad\" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"
    );
    let (status, undecodable) = api
        .post(LEASES, lease("bad", json!({"renewTime": "yesterday"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{undecodable}");
    let (status, wrong) = api
        .post(
            LEASES,
            json!({"apiVersion": "v1", "kind": "Lease", "metadata": {"name": "x"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{wrong}");
    // List (also across namespaces) and delete.
    let (_, list) = api.get(LEASES).await;
    assert_eq!(list["kind"], "LeaseList");
    assert_eq!(list["apiVersion"], "coordination.k8s.io/v1");
    assert_eq!(list["items"][0]["metadata"]["name"], "leader");
    let (_, all) = api.get("/apis/coordination.k8s.io/v1/leases").await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(1), "{all}");
    let (status, deleted) = api
        .send(Method::DELETE, &format!("{LEASES}/leader"), "", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["status"], "Success");
    assert_eq!(deleted["details"]["group"], "coordination.k8s.io");
    let (status, gone) = api.get(&format!("{LEASES}/leader")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        gone["message"],
        "leases.coordination.k8s.io \"leader\" not found"
    );
    assert!(api.sandbox.world.kube.lease("team-a", "leader").is_none());
}

#[tokio::test]
async fn lease_apply_by_another_manager_conflicts_on_the_holder_unless_forced() {
    let api = Api::start().await;
    let item = format!("{LEASES}/leader");
    let take = |who: &str| {
        lease(
            "leader",
            json!({"holderIdentity": who, "leaseDurationSeconds": 15,
                "acquireTime": "2026-12-07T20:00:00.000001Z", "renewTime": "2026-12-07T20:00:00.000001Z"}),
        )
    };
    let apply = |manager: &str, force: bool| {
        let mut path = format!("{item}?fieldManager={manager}");
        if force {
            path.push_str("&force=true");
        }
        path
    };
    let (status, a) = api.patch(&apply("mgr-a", false), APPLY, take("a")).await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    assert_eq!(
        a["metadata"]["managedFields"][0]["apiVersion"],
        "coordination.k8s.io/v1"
    );
    assert_eq!(a["metadata"]["managedFields"][0]["operation"], "Apply");
    // The same configuration from another manager shares the fields: no conflict.
    let (status, shared) = api.patch(&apply("mgr-b", false), APPLY, take("a")).await;
    assert_eq!(status, StatusCode::OK, "{shared}");
    // A different holder from another manager is a conflict on the fields `mgr-a` owns.
    let (status, conflict) = api.patch(&apply("mgr-c", false), APPLY, take("c")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["reason"], "Conflict");
    let causes = conflict["details"]["causes"].as_array().expect("causes");
    assert!(
        causes.iter().any(|c| c["reason"] == "FieldManagerConflict"
            && c["field"] == ".spec.holderIdentity"
            && c["message"] == "conflict with \"mgr-a\""),
        "{conflict}"
    );
    assert_eq!(
        api.sandbox
            .world
            .kube
            .lease("team-a", "leader")
            .unwrap()
            .holder
            .as_deref(),
        Some("a"),
        "a conflicting apply changes nothing"
    );
    // force=true takes the fields over.
    let (status, forced) = api.patch(&apply("mgr-c", true), APPLY, take("c")).await;
    assert_eq!(status, StatusCode::OK, "{forced}");
    let view = api.sandbox.world.kube.lease("team-a", "leader").unwrap();
    assert_eq!(view.holder.as_deref(), Some("c"));
    assert!(view.managers.contains(&"mgr-c".to_string()), "{view:?}");
    // A renewal by strategic merge (kube-lease-manager's) moves renewTime to an Update entry;
    // applying another value over it then names that entry.
    let (status, _) = api
        .patch(
            &format!("{item}?fieldManager=mgr-c"),
            SMP,
            json!({"spec": {"renewTime": "2026-12-07T20:00:05.000000Z"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, conflict) = api.patch(&apply("mgr-a", false), APPLY, take("a")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    let causes = conflict["details"]["causes"].as_array().expect("causes");
    assert!(
        causes.iter().any(|c| c["field"] == ".spec.renewTime"
            && c["message"] == "conflict with \"mgr-c\" using coordination.k8s.io/v1"),
        "{conflict}"
    );
    // Once released (strategic merge nulls, by yet another writer), anyone may apply.
    let (status, _) = api
        .patch(
            &format!("{item}?fieldManager=releaser"),
            SMP,
            json!({"spec": {"holderIdentity": null, "acquireTime": null, "renewTime": null, "leaseDurationSeconds": null}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, retaken) = api.patch(&apply("mgr-a", false), APPLY, take("a2")).await;
    assert_eq!(status, StatusCode::OK, "{retaken}");
    assert_eq!(retaken["spec"]["holderIdentity"], "a2");
}

#[tokio::test]
async fn kube_lease_manager_elects_exactly_one_leader_and_hands_over() {
    use kube_lease_manager::LeaseManagerBuilder;
    let api = Api::start().await;
    let client = api
        .kube_client("system:serviceaccount:team-a:controller")
        .await;
    let manager = |identity: &str| {
        LeaseManagerBuilder::new(client.clone(), "controller-leader")
            .with_namespace("team-a")
            .with_identity(identity)
            .with_duration(4)
            .with_grace(2)
            .build()
    };
    let a = manager("pod-a").await.expect("manager a");
    let b = manager("pod-b").await.expect("manager b");
    let (mut a_rx, a_task) = a.watch().await;
    let (mut b_rx, b_task) = b.watch().await;
    let leader = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::select! {
            _ = a_rx.wait_for(|l| *l) => "pod-a",
            _ = b_rx.wait_for(|l| *l) => "pod-b",
        }
    })
    .await
    .expect("a leader within 10 s");
    let first = api
        .sandbox
        .world
        .kube
        .lease("team-a", "controller-leader")
        .expect("lease");
    // Both contend for the orphaned lease; renewals (strategic merge patches of renewTime,
    // every ~2 s) keep it for one of them only.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let view = api
        .sandbox
        .world
        .kube
        .lease("team-a", "controller-leader")
        .expect("lease");
    assert!(
        view.renew_time > first.renew_time,
        "renewed: {first:?} then {view:?}"
    );
    assert_eq!(view.holder.as_deref(), Some(leader), "{view:?}");
    assert_eq!(view.transitions, 1, "one acquisition: {view:?}");
    assert!(
        view.renew_time.as_deref().is_some_and(|t| t.len() == 27),
        "{view:?}"
    );
    assert_eq!(
        (*a_rx.borrow(), *b_rx.borrow()),
        (leader == "pod-a", leader == "pod-b")
    );
    // The leader stops (its channel closes: it releases); the other takes over.
    let (mut follower_rx, follower) = if leader == "pod-a" {
        drop(a_rx);
        a_task.await.expect("join").expect("a releases");
        (b_rx, "pod-b")
    } else {
        drop(b_rx);
        b_task.await.expect("join").expect("b releases");
        (a_rx, "pod-a")
    };
    tokio::time::timeout(Duration::from_secs(10), follower_rx.wait_for(|l| *l))
        .await
        .expect("hand-over within 10 s")
        .expect("channel open");
    let view = api
        .sandbox
        .world
        .kube
        .lease("team-a", "controller-leader")
        .unwrap();
    assert_eq!(view.holder.as_deref(), Some(follower));
    assert_eq!(view.transitions, 2, "{view:?}");
}

#[tokio::test]
async fn kube_lease_manager_backs_off_when_another_holder_wins_the_race() {
    use kube_lease_manager::LeaseManagerBuilder;
    let api = Api::start().await;
    let client = api.kube_client(CONTROLLER).await;
    let b = LeaseManagerBuilder::new(client, "controller-leader")
        .with_namespace("team-a")
        .with_identity("pod-b")
        .with_duration(30)
        .build()
        .await
        .expect("manager b");
    // Between pod-b's read (the lease is free) and its apply, pod-a applies first.
    let now = serde_json::to_value(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    ))
    .expect("MicroTime");
    let path = format!("{LEASES}/controller-leader");
    api.sandbox.inject(
        Fault::new(
            Service::Kube,
            "PATCH",
            &path,
            FaultAction::Meanwhile(std::sync::Arc::new(move |world| {
                world.kube.put_raw(json!({
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": "controller-leader", "namespace": "team-a", "managedFields": [{
                        "manager": "kube-lease-manager-pod-a", "operation": "Apply",
                        "apiVersion": "coordination.k8s.io/v1", "time": "2026-12-07T20:00:00Z",
                        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:holderIdentity": {},
                            "f:acquireTime": {}, "f:renewTime": {}, "f:leaseDurationSeconds": {}}}}]},
                    "spec": {"holderIdentity": "pod-a", "acquireTime": now, "renewTime": now,
                        "leaseDurationSeconds": 30}
                }));
            })),
        )
        .times(1),
    );
    let changed = tokio::time::timeout(Duration::from_secs(3), b.changed()).await;
    assert!(
        changed.is_err(),
        "pod-b must not become leader: {changed:?}"
    );
    let view = api
        .sandbox
        .world
        .kube
        .lease("team-a", "controller-leader")
        .unwrap();
    assert_eq!(view.holder.as_deref(), Some("pod-a"), "{view:?}");
    let patches: Vec<u16> = api
        .sandbox
        .journal()
        .entries()
        .iter()
        .filter(|e| e.method == "PATCH" && e.path == path)
        .map(|e| e.status)
        .collect();
    assert_eq!(
        patches,
        [409],
        "pod-b's apply conflicts and is not retried while pod-a holds it"
    );
}

fn event(name: &str, regarding: Value) -> Value {
    json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": name},
        "eventTime": "2026-12-07T20:00:00.000000Z", "reportingController": "dedicated-registry/controller",
        "reportingInstance": "pod-a", "action": "Reconcile", "reason": "Synced", "type": "Normal",
        "note": "pull secret written", "regarding": regarding})
}

#[tokio::test]
async fn events_are_validated_listed_by_selectors_and_merge_patched() {
    let api = Api::start().await;
    let secret =
        json!({"apiVersion": "v1", "kind": "Secret", "namespace": "team-a", "name": "pull"});
    let (status, created) = api.post(EVENTS, event("pull.1", secret.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["apiVersion"], "events.k8s.io/v1");
    let mut missing = event("pull.2", secret.clone());
    for k in [
        "eventTime",
        "reportingController",
        "reportingInstance",
        "regarding",
    ] {
        missing.as_object_mut().unwrap().remove(k);
    }
    missing["type"] = json!("Loud");
    let (status, invalid) = api.post(EVENTS, missing).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{invalid}");
    assert_eq!(invalid["reason"], "Invalid");
    assert_eq!(invalid["details"]["group"], "events.k8s.io");
    let fields: Vec<&str> = invalid["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["field"].as_str())
        .collect();
    for f in [
        "eventTime",
        "reportingController",
        "reportingInstance",
        "type",
        "regarding",
    ] {
        assert!(fields.contains(&f), "{f} in {invalid}");
    }
    let elsewhere = json!({"kind": "Secret", "namespace": "team-b", "name": "x"});
    let (status, body) = api.post(EVENTS, event("pull.3", elsewhere)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = api
        .post(
            EVENTS,
            event(
                "ns.1",
                json!({"kind": "Secret", "namespace": "team-a", "name": "other"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // fieldSelector by JSON path, as `kubectl get events --field-selector regarding.name=pull`.
    let (_, list) = api
        .get(&format!("{EVENTS}?fieldSelector=regarding.name%3Dpull"))
        .await;
    assert_eq!(list["kind"], "EventList");
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["pull.1"], "{list}");
    // A merge patch adds a series; the immutable fields stay as they are.
    let (status, patched) = api
        .patch(
            &format!("{EVENTS}/pull.1"),
            "application/merge-patch+json",
            json!({"series": {"count": 2, "lastObservedTime": "2026-12-07T20:01:00Z"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        patched["series"]["lastObservedTime"],
        "2026-12-07T20:01:00.000000Z"
    );
    let (status, immutable) = api
        .patch(
            &format!("{EVENTS}/pull.1"),
            "application/merge-patch+json",
            json!({"reason": "Other"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{immutable}");
    let (status, bad_series) = api
        .patch(
            &format!("{EVENTS}/pull.1"),
            "application/merge-patch+json",
            json!({"series": {"count": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad_series}");
    let views = api.sandbox.world.kube.events("team-a");
    let pull = views.iter().find(|e| e.name == "pull.1").expect("pull.1");
    assert_eq!(
        (
            pull.regarding_kind.as_str(),
            pull.regarding_name.as_str(),
            pull.count
        ),
        ("Secret", "pull", 2)
    );
    assert_eq!(
        (pull.reason.as_str(), pull.type_.as_str()),
        ("Synced", "Normal")
    );
    assert_eq!(pull.note, "pull secret written");
    assert_eq!(api.sandbox.world.kube.events("team-b"), Vec::new());
}

#[tokio::test]
async fn kube_runtime_recorder_creates_then_patches_a_series() {
    use k8s_openapi::api::core::v1::ObjectReference;
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let api = Api::start().await;
    let client = api
        .kube_client("system:serviceaccount:team-a:controller")
        .await;
    let reporter = Reporter {
        controller: "dedicated-registry-controller".into(),
        instance: Some("pod-a".into()),
    };
    let recorder = Recorder::new(client, reporter);
    let reference = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Secret".into()),
        namespace: Some("team-a".into()),
        name: Some("pull".into()),
        ..Default::default()
    };
    let ev = Event {
        type_: EventType::Warning,
        reason: "MintFailed".into(),
        note: Some("the registry refused the token".into()),
        action: "Mint".into(),
        secondary: None,
    };
    recorder
        .publish(&ev, &reference)
        .await
        .expect("first publish creates");
    recorder
        .publish(&ev, &reference)
        .await
        .expect("second publish patches");
    let events = api.sandbox.world.kube.events("team-a");
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.count, 2);
    assert_eq!(
        (e.reason.as_str(), e.type_.as_str(), e.note.as_str()),
        ("MintFailed", "Warning", "the registry refused the token")
    );
    assert_eq!(
        (
            e.regarding_kind.as_str(),
            e.regarding_namespace.as_str(),
            e.regarding_name.as_str()
        ),
        ("Secret", "team-a", "pull")
    );
    assert_eq!(e.reporting_controller, "dedicated-registry-controller");
    assert_eq!(e.reporting_instance, "pod-a");
    let methods: Vec<(String, u16)> = api
        .sandbox
        .journal()
        .entries()
        .iter()
        .filter(|e| e.path.starts_with(EVENTS))
        .map(|e| (e.method.clone(), e.status))
        .collect();
    assert_eq!(
        methods,
        [("POST".to_string(), 201), ("PATCH".to_string(), 200)]
    );
}

#[tokio::test]
async fn rbac_rules_are_per_api_group_and_namespace() {
    let api = Api::start().await;
    let as_controller = async |method: Method, path: String, body: Option<Value>| {
        let ct = if method == Method::PATCH {
            SMP
        } else {
            "application/json"
        };
        api.send_as(
            CONTROLLER_TOKEN,
            method,
            &path,
            ct,
            body.map(|b| b.to_string()),
        )
        .await
    };
    let (status, body) =
        as_controller(Method::POST, LEASES.into(), Some(lease("l", json!({})))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let other = "/apis/coordination.k8s.io/v1/namespaces/team-b/leases";
    let (status, forbidden) = as_controller(Method::GET, format!("{other}/l"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{forbidden}");
    assert_eq!(
        forbidden["message"],
        format!(
            "leases.coordination.k8s.io \"l\" is forbidden: User \"{CONTROLLER}\" cannot get resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"team-b\""
        )
    );
    assert_eq!(forbidden["details"]["group"], "coordination.k8s.io");
    let (status, _) = as_controller(Method::DELETE, format!("{LEASES}/l"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no delete verb");
    let (status, _) = as_controller(Method::GET, EVENTS.into(), None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "events: create and patch only"
    );
    let (status, body) = as_controller(
        Method::POST,
        EVENTS.into(),
        Some(event(
            "l.1",
            json!({"kind": "Lease", "namespace": "team-a", "name": "l"}),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = as_controller(
        Method::GET,
        "/api/v1/namespaces/team-a/secrets".into(),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The access review takes the group into account.
    let review = |group: &str, resource: &str, ns: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"group": group, "resource": resource, "verb": "patch", "namespace": ns}}})
    };
    let path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    for (group, resource, ns, allowed) in [
        ("coordination.k8s.io", "leases", "team-a", true),
        ("coordination.k8s.io", "leases", "team-b", false),
        ("", "leases", "team-a", false),
        ("events.k8s.io", "events", "team-a", true),
        ("", "events", "team-a", false),
    ] {
        let (status, answer) =
            as_controller(Method::POST, path.into(), Some(review(group, resource, ns))).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(
            answer["status"]["allowed"], allowed,
            "{group} {resource} {ns}: {answer}"
        );
    }
}

#[tokio::test]
async fn a_core_rule_does_not_grant_the_coordination_group() {
    let mut config = SandboxConfig::default();
    config.kube_users.push(KubeUser::service_account(
        "team-a",
        "core-only",
        "core-only-token",
        vec![KubeRule::namespaced(
            "team-a",
            &["leases", "events"],
            &["*"],
        )],
    ));
    let sandbox = Sandbox::start_with(config, None).await.expect("sandbox");
    let ca = reqwest::Certificate::from_pem(sandbox.pki.ca_pem.as_bytes()).expect("CA");
    let client = Client::builder()
        .tls_certs_only([ca])
        .no_proxy()
        .build()
        .unwrap();
    for path in [LEASES, EVENTS] {
        let resp = client
            .get(format!("{}{path}", sandbox.urls().kube))
            .bearer_auth("core-only-token")
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn faults_and_the_journal_apply_to_the_new_groups() {
    let api = Api::start().await;
    api.sandbox.inject(
        Fault::new(
            Service::Kube,
            "POST",
            LEASES,
            FaultAction::Respond {
                status: 503,
                content_type: "application/json".into(),
                body: json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503, "reason": "ServiceUnavailable", "message": "down"}).to_string(),
            },
        )
        .times(1),
    );
    let (status, _) = api.post(LEASES, lease("l", json!({}))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(api.sandbox.world.kube.lease("team-a", "l").is_none());
    let (status, _) = api.post(LEASES, lease("l", json!({}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let statuses: Vec<u16> = api
        .sandbox
        .journal()
        .entries()
        .iter()
        .filter(|e| e.path == LEASES)
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses, [503, 201]);
}

#[tokio::test]
async fn leases_can_be_watched() {
    let api = Api::start().await;
    let url = format!(
        "{}{LEASES}?watch=true&timeoutSeconds=5",
        api.sandbox.urls().kube
    );
    let mut resp = api
        .client
        .get(url)
        .bearer_auth(KUBE_ADMIN_TOKEN)
        .send()
        .await
        .expect("watch");
    assert_eq!(resp.status(), StatusCode::OK);
    // A Secret write is not a Lease event.
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}});
    let (status, _) = api.post("/api/v1/namespaces/team-a/secrets", secret).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = api.post(LEASES, lease("w", json!({}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let chunk = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
        .await
        .expect("an event")
        .expect("chunk")
        .expect("data");
    let line: Value = serde_json::from_slice(&chunk).expect("one JSON event");
    assert_eq!(line["type"], "ADDED");
    assert_eq!(line["object"]["kind"], "Lease");
    assert_eq!(line["object"]["apiVersion"], "coordination.k8s.io/v1");
    assert_eq!(line["object"]["metadata"]["name"], "w");
}

//! A Kubernetes API server emulator: discovery, namespaces, secrets, service accounts, pods,
//! config maps and core events, `coordination.k8s.io/v1` Leases, `events.k8s.io/v1` Events, and
//! what the shipped manifests (`deploy/`) need: `apps/v1` workloads,
//! `rbac.authorization.k8s.io/v1` roles and bindings, `admissionregistration.k8s.io/v1`
//! ValidatingAdmissionPolicies and their bindings, `policy/v1` PodDisruptionBudgets with the
//! `pods/eviction` subresource.
//!
//! It follows the Kubernetes API conventions closely enough for kube-rs and the real kubectl
//! 1.36 (proved by `tests/kube_kubectl.rs`; `tests/kube_api.rs` drives it over HTTPS directly).
//! **kubectl needs no special flag**: not `--validate=false`, not `--insecure-skip-tls-verify`.
//!
//! # What is served
//! - Discovery: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/authorization.k8s.io[/v1]`, and
//!   aggregated discovery v2 (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;
//!   as=APIGroupDiscoveryList`, answered with that content type; kubectl 1.36 asks for it first).
//! - OpenAPI v3: `/openapi/v3` (index) and `/openapi/v3/api/v1` with schemas for Secret,
//!   ServiceAccount, Pod, Namespace, ConfigMap and Event; `/openapi/v3/apis/<group>/v1` for
//!   every named group (typed schemas for Lease and Event; the `apps`, `rbac`, `admission` and
//!   `policy` kinds get their top-level fields with open `spec`/`status` objects and no
//!   `x-kubernetes-group-version-kind`, so kubectl computes their strategic merge patches
//!   from its compiled-in types). Its PATCH operations declare the `fieldValidation`
//!   parameter, so kubectl leaves validation to the server and sends `fieldValidation=Strict`:
//!   unknown top-level and `metadata` fields are then rejected with 400 (`Warn`, the default,
//!   returns a `Warning` header; `Ignore` accepts them).
//! - Resources: `namespaces` (cluster-scoped), `configmaps`, `events` (core `v1`), `secrets`,
//!   `serviceaccounts`, `pods`; verbs get,
//!   list (`labelSelector` with `=`, `==`, `!=`, `in`, `notin`, `k`, `!k`; `fieldSelector` on
//!   any string field by JSON path, e.g. `metadata.name`), watch, create, update (PUT), patch,
//!   delete; also list across namespaces (`/api/v1/secrets`). `Accept: ...;as=Table` gets a
//!   server-side `meta.k8s.io/v1` Table (the columns of the real server), which `kubectl get` prints.
//! - `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews` (`kubectl auth can-i`).
//! - Named groups ([`objects::GROUP_KINDS`]), with the verbs and options of the core resources
//!   (patch types, server-side apply and its conflicts, `dryRun`, selectors, watch, Tables):
//!   `/apis/coordination.k8s.io/v1/namespaces/<ns>/leases[/<name>]` and
//!   `/apis/events.k8s.io/v1/namespaces/<ns>/events[/<name>]` (and `/apis/<group>/v1/<resource>`
//!   across namespaces), with `/apis/<group>` and `/apis/<group>/v1` discovery and their entries
//!   in `/apis` (legacy and aggregated). Leases: `spec` is always there (`{}`), MicroTimes
//!   (`acquireTime`, `renewTime`) are stored as the server writes them (UTC, six fractional
//!   digits), `leaseDurationSeconds` > 0 and `leaseTransitions` >= 0 (422), a value that does
//!   not decode is 400. Events: `eventTime`, `reportingController`, `reportingInstance`,
//!   `action`, `reason` and `regarding` required, `type` `Normal` or `Warning`, `regarding` in
//!   the Event's namespace, `series.count` >= 2; on update those fields are immutable (422). Messages name the
//!   group-qualified resource (`leases.coordination.k8s.io "x" not found`) and Status details
//!   carry `group`, as the real server's do.
//! - Also in [`objects::GROUP_KINDS`] (validation and defaults in [`kinds`], Tables with the
//!   real printers' columns in `tables.rs`): `apps/v1` `deployments` (deploy), `replicasets`,
//!   `statefulsets`, `daemonsets`: `spec.selector` required, not empty, selecting the
//!   template's labels (422 `` `selector` does not match template `labels` ``) and immutable,
//!   containers with names and images, `replicas` >= 0, the defaults of `SetDefaults_*`
//!   (replicas, strategy, revisionHistoryLimit, ...; the template's pod spec defaults).
//!   `rbac.authorization.k8s.io/v1` `roles`, `rolebindings` (namespaced), `clusterroles`,
//!   `clusterrolebindings` (cluster-scoped, at `/apis/<group>/v1/<resource>[/<name>]`): rules
//!   need verbs, apiGroups and resources; `roleRef` kind/apiGroup/name checked and immutable;
//!   subjects checked, a User's or Group's apiGroup defaulted. **Stored, not enforced**: the
//!   sandbox's own authorization stays [`crate::KubeRule`].
//!   `admissionregistration.k8s.io/v1` `validatingadmissionpolicies` and
//!   `validatingadmissionpolicybindings` (cluster-scoped): **stored, never run**. `policy/v1`
//!   `poddisruptionbudgets` (pdb): `minAvailable` and `maxUnavailable` not both set; the status
//!   is what the disruption controller would write (below).
//! - Subresources: `/status` (get, update, patch; only `status` changes, nor the generation)
//!   of pods, the `apps` kinds, PDBs and VAPs; `POST /api/v1/namespaces/<ns>/pods/<name>/eviction`
//!   with a `policy/v1` Eviction: a Pending, Succeeded, Failed or deleting pod is deleted at
//!   once (as the real handler, which ignores budgets for them); else the one PDB selecting it
//!   must allow a disruption, or 429 TooManyRequests `Cannot evict pod as it would violate the
//!   pod's disruption budget.` with cause `DisruptionBudget` (`The disruption budget x needs 2
//!   healthy pods and has 2 currently`); two PDBs are a 500 as in the real server; success
//!   deletes the pod and answers 201 with a `Success` Status; `dryRun=All` deletes nothing.
//!   Aggregated and legacy discovery list them (`pods/eviction`, `deployments/status`, ...).
//! - Bodies: JSON, YAML, and protobuf (`application/vnd.kubernetes.protobuf`, the `k8s\0` +
//!   `runtime.Unknown` envelope kubectl's typed `create secret|namespace|serviceaccount` send)
//!   for Secret, ServiceAccount, Namespace, Pod, ConfigMap and SelfSubjectAccessReview. Responses are
//!   always JSON, which kubectl accepts even when it prefers protobuf.
//!
//! # Object semantics
//! `uid`, `creationTimestamp` (seconds, UTC), `resourceVersion` (one global counter, bumped by
//! every write, returned as a string; a no-op update or re-apply does not bump it),
//! `generation` for pods, the `apps` kinds, PDBs and the admission kinds (1 on create, bumped
//! when `spec` changes), `metadata.managedFields` per manager and
//! operation (`Update` for create/PUT/patch with `fieldManager` or the User-Agent prefix,
//! `Apply` for server-side apply). Secrets: `data` must be base64, `stringData` is merged into
//! `data` and never stored, `type` defaults to `Opaque` and is immutable (422), `immutable: true`
//! freezes `data`; `kubernetes.io/dockerconfigjson` needs a JSON `.dockerconfigjson` key (and
//! `tls`, `ssh-auth`, `dockercfg`, `service-account-token` their required keys). Namespaces get
//! the `kubernetes.io/metadata.name` label, `spec.finalizers: [kubernetes]`, `status.phase:
//! Active`, and a `default` ServiceAccount at once. Pods get the usual spec defaults and
//! `status: {phase: Pending, qosClass: BestEffort}` (nothing ever runs them). `status` of pods,
//! the `apps` kinds, PDBs and VAPs is kept apart from the object: a create starts it (`{}`,
//! a pod's Pending), a PUT or patch of the main resource keeps the stored one, only `/status`
//! changes it; [`KubeState::put_raw`] keeps the status it is given (a pod's
//! `containerStatuses` with `waiting: {reason: ImagePullBackOff}`), and `ownerReferences`.
//! ServiceAccount admission on pod create: a pod that lists no `imagePullSecrets` gets those
//! of its ServiceAccount (`spec.serviceAccountName`, default `default`), one that lists some
//! keeps them; a pod's `imagePullSecrets` are immutable (422 `spec: Forbidden: pod updates may
//! not change fields other than ...`, without the real server's diff). A PDB's status
//! (`expectedPods` = selected pods not being deleted, `currentHealthy` = those Running and
//! not reported unready, `desiredHealthy` from `minAvailable` or `expectedPods -
//! maxUnavailable`, percentages rounded up, `disruptionsAllowed` = currentHealthy -
//! desiredHealthy, at least 0, `observedGeneration`) is recomputed after every write of a pod
//! or PDB in its namespace, as a new revision. ConfigMaps: keys are config keys and not in
//! both `data` and `binaryData`, `binaryData` is base64, `immutable: true` freezes them. Core
//! Events: `involvedObject.namespace` must be the Event's, `firstTimestamp`/`lastTimestamp`
//! are written as `metav1.Time` (UTC, seconds); select them with
//! `fieldSelector=involvedObject.name=x,involvedObject.kind=Pod`.
//!
//! # Errors
//! Real `Status` objects with the real messages: 404 NotFound (`secrets "x" not found`; for a
//! create in a missing namespace `namespaces "x" not found`), 409 AlreadyExists, 409 Conflict
//! (stale `resourceVersion` on PUT/patch, delete preconditions, apply conflicts), 422 Invalid
//! (DNS-1123 subdomain names, DNS-1123 label for namespaces, invalid options such as
//! `dryRun=Some`, apply without `fieldManager`, `force` on a non-apply patch), 400 BadRequest
//! (name or namespace mismatch with the URL, strict field validation), 401 Unauthorized (no or
//! unknown bearer token, on every path including discovery, as with `--anonymous-auth=false`),
//! 403 Forbidden with the RBAC message, 405, 415.
//!
//! # Authorization
//! A [`crate::KubeRule`] grants verbs on resources in one namespace or everywhere; a resource of
//! a named group is written group-qualified (`leases.coordination.k8s.io`), a bare name is the
//! core group, `*` is every resource of every group. The access review builds the same
//! qualified name from `group` and `resource`. A subresource is `<qualified>/<subresource>`:
//! `pods/eviction` (verb `create`), `deployments.apps/status`. RBAC sees a
//! Namespace object as living in itself (so a namespaced rule can `get` its own namespace).
//! For a create the URL holds no name, so the message is `secrets is forbidden: ...`, exactly as
//! the real server says it. Impersonation (`Impersonate-User`, `Impersonate-Group`) needs the
//! `impersonate` verb on `users`/`groups` (the admin's `*` rule has it); the request then acts as
//! the seeded kube user of that name, or as a user with no permissions for any other name.
//! Groups grant nothing.
//!
//! # Simplified (not how a real API server does it)
//! - Server-side apply tracks ownership of leaf fields: maps are recursed into (so every key of
//!   `data`, `labels`, `annotations` and `spec` sub-objects has its own owner), while **lists are
//!   atomic** (the whole `containers` or `imagePullSecrets` list is one field; no `k:{...}`
//!   associative keys). Applying a list replaces it. A conflict is reported when another
//!   manager (Apply or Update) owns a field the apply configuration sets to a different value;
//!   `force=true` takes it over. Fields a manager stops applying are removed unless another
//!   manager owns them. `stringData` in an apply configuration is treated as the `data` it becomes.
//! - Non-apply writes: the writer takes ownership of every field whose value it changed (other
//!   managers lose it, without conflict). `managedFields` sent in a request body are ignored
//!   (clients cannot rewrite or reset them).
//! - Strategic merge patch knows the merge keys of the served kinds' lists (pod containers,
//!   init containers, env, ports, volume mounts, volumes and image pull secrets; service account
//!   secrets; owner references; `metadata.finalizers` as a set) and `$patch: delete|replace`;
//!   `$setElementOrder`, `$retainKeys` and `$deleteFromPrimitiveList` are ignored (new elements
//!   are appended). Every other list is replaced whole, as the real server does for atomic
//!   lists (e.g. `ServiceAccount.imagePullSecrets`). JSON patch supports add, remove, replace,
//!   test, copy and move.
//! - `limit`/`continue` are ignored: a list returns everything at once. Watches stream only
//!   changes made after they start (plus the initial `ADDED` events when `resourceVersion` is
//!   unset or `0`, or `sendInitialEvents=true` with its bookmark); there is no event history, and
//!   an object that stops matching a selector is not sent as `DELETED`.
//! - Deletion is immediate: no graceful period, no finalizers; pods and namespaces return the
//!   object with `deletionTimestamp` (namespaces with `phase: Terminating`) and are gone at once,
//!   deleting a namespace deletes everything in it; other kinds return a `Success` Status.
//! - Only `v1` of each group is served. Core `v1` Events and `events.k8s.io/v1` Events are
//!   two stores (the real server has one storage and shows each through both APIs): an Event
//!   written through one API is not listed by the other. `kubectl describe` shows the core
//!   ones. `kubectl auth can-i --list` (SelfSubjectRulesReview) is not served.
//! - Nothing runs workloads: a Deployment gets no ReplicaSet or pods, its status changes only
//!   through `/status`. RBAC objects are not enforced and admission policies never run.
//!   ServiceAccount admission does not mount a token volume and does not refuse a pod whose
//!   ServiceAccount is missing. Pods' other spec fields stay mutable.
//!
//! # Test hooks
//! [`KubeState::get`], [`KubeState::list`], [`KubeState::secret_data`],
//! [`KubeState::put_raw`] (seed an object, by `apiVersion` and `kind`), [`KubeState::lease`]
//! and [`KubeState::events`] (typed views, [`views`]), [`KubeState::bump_resource_version`] (simulate a
//! concurrent writer: the next update with the old `resourceVersion` gets 409 Conflict),
//! [`KubeState::resource_version`] and [`KubeState::terminate_namespace`] (phase
//! `Terminating`: NamespaceLifecycle then refuses creates in it with 403 Forbidden and cause
//! `NamespaceTerminating`, as the real admission plugin does; updates and patches still work).

pub mod discovery;
pub mod kinds;
pub mod objects;
pub mod proto;
pub mod status;
mod subresources;
mod tables;
pub mod views;
mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::{KubeRule, SandboxConfig, World};
use objects::{Kind, Manager};
use status::{ApiError, FieldError};

type Key = (String, String, String);

struct Store {
    /// The global resourceVersion counter (etcd's revision).
    revision: u64,
    /// Objects by (resource, namespace or "", name), stored with `kind` and `apiVersion`.
    objects: BTreeMap<Key, Value>,
    /// Change notifications for watches.
    events: tokio::sync::broadcast::Sender<watch::Event>,
}

impl Store {
    fn new() -> Store {
        Store {
            revision: 0,
            objects: BTreeMap::new(),
            events: tokio::sync::broadcast::channel(1024).0,
        }
    }

    fn bump(&mut self) -> String {
        self.revision += 1;
        self.revision.to_string()
    }

    /// Stores `obj` under `k` and notifies watchers (`ADDED` or `MODIFIED`); a pod or a
    /// PodDisruptionBudget written refreshes the budgets' status in its namespace.
    fn put(&mut self, k: Key, obj: Value) {
        let (resource, ns) = (k.0.clone(), k.1.clone());
        self.put_one(k, obj);
        self.refresh_budgets(&resource, &ns);
    }

    /// What the disruption controller does: every PodDisruptionBudget of `ns` gets the status
    /// its pods give it (a new `resourceVersion` when it changes), after a write of `resource`.
    fn refresh_budgets(&mut self, resource: &str, ns: &str) {
        const BUDGETS: &str = "poddisruptionbudgets.policy";
        if resource != "pods" && resource != BUDGETS {
            return;
        }
        let in_ns = |r: &'static str| {
            self.objects
                .iter()
                .filter(move |((kr, kn, _), _)| kr == r && kn == ns)
        };
        let pods: Vec<&Value> = in_ns("pods").map(|(_, v)| v).collect();
        let updates: Vec<(Key, Value)> = in_ns(BUDGETS)
            .filter_map(|(k, pdb)| {
                let status = kinds::pdb_status(pdb, &pods);
                (pdb.get("status") != Some(&status)).then(|| {
                    let mut new = pdb.clone();
                    new["status"] = status;
                    (k.clone(), new)
                })
            })
            .collect();
        for (k, mut pdb) in updates {
            pdb["metadata"]["resourceVersion"] = json!(self.bump());
            self.put_one(k, pdb);
        }
    }

    fn put_one(&mut self, k: Key, obj: Value) {
        let kind = if self.objects.contains_key(&k) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        let _ = self.events.send(watch::Event {
            resource: k.0.clone(),
            namespace: k.1.clone(),
            kind,
            object: obj.clone(),
        });
        self.objects.insert(k, obj);
    }

    /// Removes `k`, bumping the revision, and notifies watchers (`DELETED`).
    fn delete(&mut self, k: &Key) -> Option<Value> {
        let mut obj = self.objects.remove(k)?;
        obj["metadata"]["resourceVersion"] = json!(self.bump());
        let _ = self.events.send(watch::Event {
            resource: k.0.clone(),
            namespace: k.1.clone(),
            kind: "DELETED",
            object: obj.clone(),
        });
        self.refresh_budgets(&k.0, &k.1);
        Some(obj)
    }
}

/// Stored Kubernetes objects.
pub struct KubeState {
    store: Mutex<Store>,
}

fn key(kind: Kind, namespace: &str, name: &str) -> Key {
    let ns = if kind.namespaced { namespace } else { "" };
    (kind.qualified(), ns.to_string(), name.to_string())
}

fn now_text() -> String {
    objects::rfc3339(crate::now())
}

impl KubeState {
    /// Seeds namespaces and their `default` ServiceAccounts.
    pub fn new(config: &SandboxConfig) -> Self {
        let state = KubeState {
            store: Mutex::new(Store::new()),
        };
        for ns in &config.namespaces {
            state.put_raw(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            );
            state.put_raw(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}}));
        }
        state
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stored object `name` of `resource` (plural, e.g. `secrets`; group-qualified for a
    /// named group, e.g. `leases.coordination.k8s.io`) in `namespace` (ignored for
    /// cluster-scoped kinds), as the API would return it.
    pub fn get(&self, namespace: &str, resource: &str, name: &str) -> Option<Value> {
        let kind = objects::kind_by_qualified(resource)?;
        self.lock()
            .objects
            .get(&key(kind, namespace, name))
            .cloned()
    }

    /// Every stored object of `resource` (as for [`KubeState::get`]) in `namespace` (`""`: all
    /// namespaces), by namespace and name.
    pub fn list(&self, namespace: &str, resource: &str) -> Vec<Value> {
        let Some(kind) = objects::kind_by_qualified(resource) else {
            return Vec::new();
        };
        self.lock()
            .objects
            .iter()
            .filter(|((r, ns, _), _)| {
                *r == kind.qualified()
                    && (namespace.is_empty() || !kind.namespaced || ns == namespace)
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Stores `object` as is (no validation, no authorization, no managedFields), filling in
    /// `uid`, `creationTimestamp` and a fresh `resourceVersion`, and the defaults of its kind
    /// where they are valid; a `status` given for a kind with one (a pod's container statuses)
    /// is kept. Replaces an existing object of that name. Returns what is stored.
    ///
    /// # Panics
    /// If `object` has no `kind` the emulator serves or no `metadata.name`.
    pub fn put_raw(&self, mut object: Value) -> Value {
        let kind_name = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("v1");
        let kind = objects::kind_by_type(api_version, kind_name)
            .unwrap_or_else(|| panic!("put_raw: unsupported kind {api_version} {kind_name:?}"));
        object["apiVersion"] = json!(kind.api_version());
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .expect("put_raw: metadata.name")
            .to_string();
        let mut probe = object.clone();
        if objects::prepare(kind, &mut probe, None).is_ok() {
            // A seeded status (a pod's container statuses, a Deployment's replicas) is kept.
            if let Some(status) = object.get("status").filter(|_| kinds::has_status(kind)) {
                probe["status"] = status.clone();
            }
            object = probe;
        }
        let namespace = if kind.namespaced {
            let ns = object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string();
            object["metadata"]["namespace"] = json!(ns);
            ns
        } else {
            String::new()
        };
        let meta = object["metadata"].as_object_mut().expect("metadata object");
        meta.entry("uid")
            .or_insert_with(|| json!(uuid::Uuid::new_v4().to_string()));
        meta.entry("creationTimestamp")
            .or_insert_with(|| json!(now_text()));
        if kinds::has_generation(kind) {
            meta.entry("generation").or_insert(json!(1));
        }
        let mut store = self.lock();
        object["metadata"]["resourceVersion"] = json!(store.bump());
        store.put(key(kind, &namespace, &name), object.clone());
        object
    }

    /// Bumps the `resourceVersion` of a stored object without changing it, as a concurrent
    /// writer would: the next update carrying the old `resourceVersion` gets 409 Conflict.
    /// `resource` as for [`KubeState::get`]. Returns the new `resourceVersion`, or `None` if
    /// there is no such object.
    pub fn bump_resource_version(
        &self,
        namespace: &str,
        resource: &str,
        name: &str,
    ) -> Option<String> {
        let kind = objects::kind_by_qualified(resource)?;
        let mut store = self.lock();
        let k = key(kind, namespace, name);
        store.objects.get(&k)?;
        let rv = store.bump();
        let mut obj = store.objects.get(&k).cloned().expect("checked");
        obj["metadata"]["resourceVersion"] = json!(rv.clone());
        store.put(k, obj);
        Some(rv)
    }

    /// The decoded `data` of Secret `name` in `namespace`.
    pub fn secret_data(&self, namespace: &str, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
        let secret = self.get(namespace, "secrets", name)?;
        let data = secret
            .get("data")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Some(
            data.iter()
                .filter_map(|(k, v)| {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(v.as_str()?)
                        .ok()?;
                    Some((k.clone(), bytes))
                })
                .collect(),
        )
    }

    /// The current global resourceVersion (bumped by every write).
    pub fn resource_version(&self) -> u64 {
        self.lock().revision
    }

    /// Puts namespace `name` into phase `Terminating` with a `deletionTimestamp`, as a
    /// `kubectl delete namespace` leaves it while its content is being removed: from then on
    /// NamespaceLifecycle refuses every create in it (403 with cause `NamespaceTerminating`),
    /// while reads, updates and patches still work. Watchers see it `MODIFIED`. Returns
    /// `false` when there is no such namespace.
    pub fn terminate_namespace(&self, name: &str) -> bool {
        let mut store = self.lock();
        let k = key(ns_kind(), "", name);
        let Some(mut obj) = store.objects.get(&k).cloned() else {
            return false;
        };
        obj["metadata"]["deletionTimestamp"] = json!(now_text());
        obj["status"] = json!({"phase": "Terminating"});
        obj["metadata"]["resourceVersion"] = json!(store.bump());
        store.put(k, obj);
        true
    }
}

/// The API server's routes.
pub fn router(world: Arc<World>) -> Router {
    Router::new().fallback(handle).with_state(world)
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    json_response_typed(status, body, "application/json")
}

fn json_response_typed(status: StatusCode, body: &Value, content_type: &str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from(serde_json::to_vec(body).expect("serialisable")))
        .expect("valid response")
}

/// Who a request acts as.
struct Identity {
    name: String,
    rules: Vec<KubeRule>,
}

impl Identity {
    fn allows(&self, verb: &str, resource: &str, namespace: Option<&str>) -> bool {
        self.rules.iter().any(|r| {
            (r.verbs.iter().any(|v| v == "*" || v == verb))
                && (r.resources.iter().any(|x| x == "*" || x == resource))
                && match (&r.namespace, namespace) {
                    (None, _) => true,
                    (Some(rn), Some(n)) => rn == n,
                    (Some(_), None) => false,
                }
        })
    }

    fn authorize(
        &self,
        verb: &str,
        resource: &str,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<(), ApiError> {
        if self.allows(verb, resource, namespace) {
            Ok(())
        } else {
            Err(status::forbidden(
                &self.name, verb, resource, name, namespace,
            ))
        }
    }
}

fn authenticate(world: &World, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(status::unauthorized)?;
    let user = world
        .config
        .kube_users
        .iter()
        .find(|u| u.token == token)
        .ok_or_else(status::unauthorized)?;
    let me = Identity {
        name: user.name.clone(),
        rules: user.rules.clone(),
    };
    let Some(target) = headers
        .get("impersonate-user")
        .and_then(|v| v.to_str().ok())
    else {
        if headers.contains_key("impersonate-group") {
            return Err(status::bad_request(
                "requested [{Group  groups  }] without impersonating a user",
            ));
        }
        return Ok(me);
    };
    me.authorize("impersonate", "users", target, None)?;
    for group in headers.get_all("impersonate-group") {
        let group = group.to_str().unwrap_or_default();
        me.authorize("impersonate", "groups", group, None)?;
    }
    Ok(
        match world.config.kube_users.iter().find(|u| u.name == target) {
            Some(u) => Identity {
                name: u.name.clone(),
                rules: u.rules.clone(),
            },
            None => Identity {
                name: target.to_string(),
                rules: Vec::new(),
            },
        },
    )
}

/// One request's parsed details.
struct Ctx<'a> {
    world: &'a World,
    user: Identity,
    query: Vec<(String, String)>,
    accept: String,
    content_type: String,
    user_agent: String,
    body: axum::body::Bytes,
}

impl Ctx<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `dryRun=All` → true; other values are invalid for `options` (e.g. `CreateOptions`).
    fn dry_run(&self, options: &str) -> Result<bool, ApiError> {
        let mut dry = false;
        for (k, v) in &self.query {
            if k == "dryRun" {
                if v != "All" {
                    return Err(status::invalid(
                        options,
                        "",
                        Some("meta.k8s.io"),
                        &[FieldError::unsupported("dryRun", v, &["All"])],
                    ));
                }
                dry = true;
            }
        }
        Ok(dry)
    }

    /// The field manager: `fieldManager`, else the User-Agent up to its first `/`.
    fn manager(&self, options: &str) -> Result<String, ApiError> {
        match self.param("fieldManager") {
            Some(m) if m.len() > 128 => Err(status::invalid(
                options,
                "",
                Some("meta.k8s.io"),
                &[FieldError::invalid(
                    "fieldManager",
                    m,
                    "must be no more than 128 characters",
                )],
            )),
            Some(m) if !m.is_empty() => Ok(m.to_string()),
            _ => Ok(self
                .user_agent
                .split('/')
                .next()
                .filter(|s| !s.is_empty())
                .unwrap_or("unknown")
                .to_string()),
        }
    }

    fn body_json(&self) -> Result<Value, ApiError> {
        let ct = self.content_type.split(';').next().unwrap_or("").trim();
        match ct {
            "application/vnd.kubernetes.protobuf" => {
                proto::decode(&self.body).map_err(status::bad_request)
            }
            "application/yaml" | "application/apply-patch+yaml" => {
                if let Ok(v) = serde_json::from_slice(&self.body) {
                    return Ok(v);
                }
                let text = std::str::from_utf8(&self.body)
                    .map_err(|_| status::bad_request("the body is not valid UTF-8"))?;
                serde_saphyr::from_str::<Value>(text)
                    .map_err(|e| status::bad_request(format!("error converting YAML to JSON: {e}")))
            }
            ""
            | "application/json"
            | "application/merge-patch+json"
            | "application/strategic-merge-patch+json"
            | "application/json-patch+json" => serde_json::from_slice(&self.body).map_err(|e| {
                status::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
            }),
            other => Err(status::unsupported_media_type(other)),
        }
    }

    /// Unknown fields of `obj` under `fieldValidation` (`Strict` fails, `Warn` warns).
    fn field_validation(&self, kind: Kind, obj: &Value) -> Result<Vec<String>, ApiError> {
        let mode = self.param("fieldValidation").unwrap_or("Warn");
        if mode == "Ignore" {
            return Ok(Vec::new());
        }
        let unknown = unknown_fields(kind, obj);
        if unknown.is_empty() {
            return Ok(Vec::new());
        }
        if mode == "Strict" {
            let list: Vec<String> = unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect();
            return Err(status::bad_request(format!(
                "{k} in version \"v1\" cannot be handled as a {k}: strict decoding error: {}",
                list.join(", "),
                k = kind.kind
            )));
        }
        Ok(unknown
            .iter()
            .map(|f| format!("299 - \"unknown field \\\"{f}\\\"\""))
            .collect())
    }
}

fn unknown_fields(kind: Kind, obj: &Value) -> Vec<String> {
    let top: &[&str] = match kind.kind {
        "Secret" => &["data", "stringData", "type", "immutable"],
        "ServiceAccount" => &[
            "secrets",
            "imagePullSecrets",
            "automountServiceAccountToken",
        ],
        "Event" if kind.group == objects::EVENTS => &[
            "eventTime",
            "series",
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
            "regarding",
            "related",
            "note",
            "type",
            "deprecatedSource",
            "deprecatedFirstTimestamp",
            "deprecatedLastTimestamp",
            "deprecatedCount",
        ],
        "Event" => &[
            "involvedObject",
            "reason",
            "message",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "count",
            "type",
            "eventTime",
            "series",
            "action",
            "related",
            "reportingComponent",
            "reportingInstance",
        ],
        "ConfigMap" => &["data", "binaryData", "immutable"],
        "Role" => &["rules"],
        "ClusterRole" => &["rules", "aggregationRule"],
        "RoleBinding" | "ClusterRoleBinding" => &["subjects", "roleRef"],
        _ => &["spec", "status"],
    };
    let meta_fields = [
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    ];
    let mut out = Vec::new();
    if let Some(m) = obj.as_object() {
        for k in m.keys() {
            if !["apiVersion", "kind", "metadata"].contains(&k.as_str())
                && !top.contains(&k.as_str())
            {
                out.push(k.clone());
            }
        }
        if let Some(meta) = m.get("metadata").and_then(Value::as_object) {
            for k in meta.keys() {
                if !meta_fields.contains(&k.as_str()) {
                    out.push(format!("metadata.{k}"));
                }
            }
        }
    }
    out
}

fn parse_query(raw: &str) -> Vec<(String, String)> {
    // kube-rs sends `?&dryRun=All&...`: empty pairs are skipped.
    url::form_urlencoded::parse(raw.trim_start_matches('&').as_bytes())
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn handle(State(world): State<Arc<World>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, crate::MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return status::bad_request("request body too large").into_response(),
    };
    let header_text = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let user = match authenticate(&world, &parts.headers) {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let ctx = Ctx {
        world: &world,
        user,
        query: parse_query(parts.uri.query().unwrap_or("")),
        accept: header_text(header::ACCEPT),
        content_type: header_text(header::CONTENT_TYPE),
        user_agent: header_text(header::USER_AGENT),
        body,
    };
    let path = parts.uri.path().trim_end_matches('/').to_string();
    match route(&ctx, &parts.method, &path) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn route(ctx: &Ctx, method: &Method, path: &str) -> Result<Response, ApiError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let get_only = |v: Value, ct: &str| -> Result<Response, ApiError> {
        if method != Method::GET {
            return Err(status::method_not_allowed());
        }
        Ok(json_response_typed(StatusCode::OK, &v, ct))
    };
    let aggregated = discovery::wants_aggregated(&ctx.accept);
    match segments.as_slice() {
        ["version"] => get_only(discovery::version(), "application/json"),
        ["api"] if aggregated => get_only(discovery::aggregated(true), discovery::AGGREGATED_V2),
        ["api"] => {
            let addr = ctx
                .world
                .urls
                .kube
                .trim_start_matches("https://")
                .to_string();
            get_only(discovery::api_versions(&addr), "application/json")
        }
        ["apis"] if aggregated => get_only(discovery::aggregated(false), discovery::AGGREGATED_V2),
        ["apis"] => get_only(discovery::api_group_list(), "application/json"),
        ["api", "v1"] => get_only(discovery::api_resource_list(), "application/json"),
        ["apis", discovery::AUTHZ_GROUP] => get_only(discovery::authz_group(), "application/json"),
        ["apis", discovery::AUTHZ_GROUP, "v1"] => {
            get_only(discovery::authz_resource_list(), "application/json")
        }
        [
            "apis",
            discovery::AUTHZ_GROUP,
            "v1",
            "selfsubjectaccessreviews",
        ] => {
            if method != Method::POST {
                return Err(status::method_not_allowed());
            }
            access_review(ctx)
        }
        ["apis", group] if discovery::serves_group(group) => {
            get_only(discovery::api_group(group), "application/json")
        }
        ["apis", group, "v1"] if discovery::serves_group(group) => {
            get_only(discovery::group_resource_list(group), "application/json")
        }
        ["apis", group, "v1", "namespaces", ns, resource] => {
            match objects::kind_in_group(group, resource) {
                Some(kind) if kind.namespaced => collection(ctx, method, kind, Some(ns)),
                _ => Err(status::no_such_path()),
            }
        }
        ["apis", group, "v1", "namespaces", ns, resource, name] => {
            match objects::kind_in_group(group, resource) {
                Some(kind) if kind.namespaced => item(ctx, method, kind, ns, name),
                _ => Err(status::no_such_path()),
            }
        }
        [
            "apis",
            group,
            "v1",
            "namespaces",
            ns,
            resource,
            name,
            "status",
        ] => match objects::kind_in_group(group, resource) {
            Some(kind) if kind.namespaced => subresources::status(ctx, method, kind, ns, name),
            _ => Err(status::no_such_path()),
        },
        ["apis", group, "v1", resource] => match objects::kind_in_group(group, resource) {
            Some(kind) if !kind.namespaced => collection(ctx, method, kind, None),
            Some(kind) if method == Method::GET => collection(ctx, method, kind, None),
            Some(_) => Err(status::method_not_allowed()),
            None => Err(status::no_such_path()),
        },
        ["apis", group, "v1", resource, name] => match objects::kind_in_group(group, resource) {
            Some(kind) if !kind.namespaced => item(ctx, method, kind, "", name),
            _ => Err(status::no_such_path()),
        },
        ["apis", group, "v1", resource, name, "status"] => {
            match objects::kind_in_group(group, resource) {
                Some(kind) if !kind.namespaced => subresources::status(ctx, method, kind, "", name),
                _ => Err(status::no_such_path()),
            }
        }
        ["openapi", "v3"] => get_only(discovery::openapi_index(), "application/json"),
        ["openapi", "v3", "api", "v1"] => get_only(discovery::openapi_v1(), "application/json"),
        ["openapi", "v3", "apis", group, "v1"] => match discovery::openapi_group(group) {
            Some(doc) => get_only(doc, "application/json"),
            None => Err(status::no_such_path()),
        },
        ["api", "v1", "namespaces", name] => item(ctx, method, ns_kind(), "", name),
        ["api", "v1", "namespaces", ns, resource] => match objects::kind_by_resource(resource) {
            Some(kind) if kind.namespaced => collection(ctx, method, kind, Some(ns)),
            _ => Err(status::no_such_path()),
        },
        ["api", "v1", "namespaces", ns, resource, name] => {
            match objects::kind_by_resource(resource) {
                Some(kind) if kind.namespaced => item(ctx, method, kind, ns, name),
                _ => Err(status::no_such_path()),
            }
        }
        ["api", "v1", "namespaces", ns, "pods", name, "eviction"] => {
            subresources::evict(ctx, method, ns, name)
        }
        ["api", "v1", "namespaces", ns, "pods", name, "status"] => subresources::status(
            ctx,
            method,
            objects::kind_by_resource("pods").expect("pods"),
            ns,
            name,
        ),
        ["api", "v1", resource] => match objects::kind_by_resource(resource) {
            Some(kind) if !kind.namespaced => collection(ctx, method, kind, None),
            Some(kind) if method == Method::GET => collection(ctx, method, kind, None),
            Some(_) => Err(status::method_not_allowed()),
            None => Err(status::no_such_path()),
        },
        _ => Err(status::no_such_path()),
    }
}

/// `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews` (`kubectl auth can-i`):
/// answers from the caller's rules. Non-resource URLs are allowed (discovery is public to
/// authenticated users here).
fn access_review(ctx: &Ctx) -> Result<Response, ApiError> {
    let mut review = ctx.body_json()?;
    if !review.is_object() {
        return Err(status::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let attrs = review.pointer("/spec/resourceAttributes").cloned();
    let allowed = match &attrs {
        None => true,
        Some(a) => {
            let text = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("");
            let group = text("group");
            let ns = text("namespace");
            let resource = text("resource");
            let scope = if !ns.is_empty() {
                Some(ns)
            } else if resource == "namespaces" && !text("name").is_empty() {
                Some(text("name"))
            } else {
                None
            };
            let mut qualified = match group {
                "" | "*" => resource.to_string(),
                g => format!("{resource}.{g}"),
            };
            if !text("subresource").is_empty() {
                qualified = format!("{qualified}/{}", text("subresource"));
            }
            ctx.user.allows(text("verb"), &qualified, scope)
        }
    };
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectAccessReview");
    if !review.get("metadata").is_some_and(Value::is_object) {
        review["metadata"] = json!({});
    }
    review["metadata"]["creationTimestamp"] = Value::Null;
    review["status"] = if allowed {
        json!({"allowed": true, "reason": format!("RBAC: allowed by the rules of User {:?}", ctx.user.name)})
    } else {
        json!({"allowed": false})
    };
    Ok(json_response(StatusCode::CREATED, &review))
}

fn ns_kind() -> Kind {
    objects::kind_by_resource("namespaces").expect("namespaces kind")
}

fn namespace_exists(ctx: &Ctx, ns: &str) -> bool {
    ctx.world
        .kube
        .lock()
        .objects
        .contains_key(&key(ns_kind(), "", ns))
}

/// Whether namespace `ns` is in phase `Terminating` (NamespaceLifecycle admission).
fn namespace_terminating(ctx: &Ctx, ns: &str) -> bool {
    ctx.world
        .kube
        .lock()
        .objects
        .get(&key(ns_kind(), "", ns))
        .is_some_and(|n| n.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating"))
}

/// `GET`/`POST` on a collection. `ns` is `None` for cluster-scoped kinds or all namespaces.
fn collection(
    ctx: &Ctx,
    method: &Method,
    kind: Kind,
    ns: Option<&str>,
) -> Result<Response, ApiError> {
    match *method {
        Method::GET => list(ctx, kind, ns),
        Method::POST => create(ctx, kind, ns.unwrap_or("")),
        _ => Err(status::method_not_allowed()),
    }
}

fn item(
    ctx: &Ctx,
    method: &Method,
    kind: Kind,
    ns: &str,
    name: &str,
) -> Result<Response, ApiError> {
    // RBAC sees a namespace object as living in itself.
    let scope = if kind.namespaced {
        Some(ns)
    } else if kind.resource == "namespaces" {
        Some(name)
    } else {
        None
    };
    let verb = match *method {
        Method::GET => "get",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => return Err(status::method_not_allowed()),
    };
    ctx.user.authorize(verb, &kind.qualified(), name, scope)?;
    match *method {
        Method::GET => {
            let obj = ctx
                .world
                .kube
                .lock()
                .objects
                .get(&key(kind, ns, name))
                .cloned()
                .ok_or_else(|| status::not_found(&kind.qualified(), name))?;
            if discovery::wants_table(&ctx.accept) {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let include = ctx.param("includeObject").unwrap_or("Metadata");
                return Ok(json_response(
                    StatusCode::OK,
                    &discovery::table(kind, &[obj], &rv, include, crate::now()),
                ));
            }
            Ok(json_response(StatusCode::OK, &obj))
        }
        Method::PUT => replace(ctx, kind, ns, name),
        Method::PATCH => patch(ctx, kind, ns, name),
        _ => delete(ctx, kind, ns, name),
    }
}

fn list(ctx: &Ctx, kind: Kind, ns: Option<&str>) -> Result<Response, ApiError> {
    let watch = matches!(ctx.param("watch"), Some("true") | Some("1"));
    ctx.user.authorize(
        if watch { "watch" } else { "list" },
        &kind.qualified(),
        "",
        ns,
    )?;
    let labels = objects::Selector::parse(ctx.param("labelSelector").unwrap_or(""))
        .map_err(status::bad_request)?;
    let fields = objects::Selector::parse(ctx.param("fieldSelector").unwrap_or(""))
        .map_err(status::bad_request)?;
    if watch {
        return Ok(watch::start(ctx, kind, ns, labels, fields));
    }
    let (items, rv) = {
        let store = ctx.world.kube.lock();
        let items: Vec<Value> = store
            .objects
            .iter()
            .filter(|((r, n, _), _)| *r == kind.qualified() && ns.is_none_or(|ns| n == ns))
            .map(|(_, v)| v)
            .filter(|o| selected(o, &labels, &fields))
            .cloned()
            .collect();
        (items, store.revision.to_string())
    };
    if discovery::wants_table(&ctx.accept) {
        let include = ctx.param("includeObject").unwrap_or("Metadata");
        return Ok(json_response(
            StatusCode::OK,
            &discovery::table(kind, &items, &rv, include, crate::now()),
        ));
    }
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut o| {
            if let Some(m) = o.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            o
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "kind": format!("{}List", kind.kind),
            "apiVersion": kind.api_version(),
            "metadata": {"resourceVersion": rv},
            "items": items
        }),
    ))
}

/// Whether `o` matches a label and a field selector (fields by JSON path, e.g. `metadata.name`).
fn selected(o: &Value, labels: &objects::Selector, fields: &objects::Selector) -> bool {
    labels.matches(|k| {
        o.pointer("/metadata/labels")
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
            .map(String::from)
    }) && fields.matches(|k| {
        let pointer = format!("/{}", k.replace('.', "/"));
        o.pointer(&pointer)
            .and_then(Value::as_str)
            .map(String::from)
    })
}

/// Checks `kind`/`apiVersion` of a request body and the namespace against the URL.
fn check_body(kind: Kind, obj: &mut Value, ns: &str) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(status::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let body_kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if !body_kind.is_empty() && body_kind != kind.kind {
        return Err(status::bad_request(format!(
            "{k} in version \"v1\" cannot be handled as a {k}: the object provided is of kind {body_kind}",
            k = kind.kind
        )));
    }
    let expected = kind.api_version();
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or(&expected);
    if api_version != expected {
        return Err(status::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({expected})"
        )));
    }
    obj["kind"] = json!(kind.kind);
    obj["apiVersion"] = json!(expected);
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    if kind.namespaced {
        let body_ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !body_ns.is_empty() && body_ns != ns {
            return Err(status::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        obj["metadata"]["namespace"] = json!(ns);
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    Ok(())
}

fn check_name(obj: &Value, name: &str) -> Result<(), ApiError> {
    let body_name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !body_name.is_empty() && body_name != name {
        return Err(status::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    Ok(())
}

fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for w in warnings {
        if let Ok(v) = w.parse() {
            response.headers_mut().append("warning", v);
        }
    }
    response
}

fn create(ctx: &Ctx, kind: Kind, ns: &str) -> Result<Response, ApiError> {
    let scope = if kind.namespaced { Some(ns) } else { None };
    ctx.user.authorize("create", &kind.qualified(), "", scope)?;
    let dry_run = ctx.dry_run("CreateOptions")?;
    let manager = ctx.manager("CreateOptions")?;
    let mut obj = ctx.body_json()?;
    check_body(kind, &mut obj, ns)?;
    let warnings = ctx.field_validation(kind, &obj)?;
    let created = do_create(ctx, kind, ns, obj, &manager, None, dry_run)?;
    Ok(with_warnings(
        json_response(StatusCode::CREATED, &created),
        &warnings,
    ))
}

/// Creates `obj` (already checked). `apply_fields` is `Some` for server-side apply.
fn do_create(
    ctx: &Ctx,
    kind: Kind,
    ns: &str,
    mut obj: Value,
    manager: &str,
    apply_fields: Option<BTreeSet<objects::FieldPath>>,
    dry_run: bool,
) -> Result<Value, ApiError> {
    if kind.namespaced && !namespace_exists(ctx, ns) {
        return Err(status::not_found("namespaces", ns));
    }
    if kind.namespaced && namespace_terminating(ctx, ns) {
        // Admission runs before the name is generated: a generateName create has no name yet.
        let name = obj.pointer("/metadata/name").and_then(Value::as_str);
        let name = name.unwrap_or_default();
        return Err(status::namespace_terminating(&kind.qualified(), name, ns));
    }
    let mut name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        let prefix = obj
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if prefix.is_empty() {
            return Err(objects::invalid(
                kind,
                "",
                &[FieldError::required(
                    "metadata.name",
                    "name or generateName is required",
                )],
            ));
        }
        let suffix: String = uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .chars()
            .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            .take(5)
            .collect();
        name = format!("{prefix}{suffix}");
        obj["metadata"]["name"] = json!(name);
    }
    objects::decode_typed(kind, &mut obj)?;
    if kind.kind == "Pod" && kind.group.is_empty() {
        service_account_admission(ctx, ns, &mut obj);
    }
    let mut errors = objects::name_errors(kind, &name);
    if let Err(mut e) = objects::prepare(kind, &mut obj, None) {
        errors.append(&mut e);
    }
    if !errors.is_empty() {
        return Err(objects::invalid(kind, &name, &errors));
    }
    let now = now_text();
    {
        let meta = obj["metadata"].as_object_mut().expect("metadata");
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "managedFields",
            "generation",
            "selfLink",
        ] {
            meta.remove(k);
        }
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(now));
        if kinds::has_generation(kind) {
            meta.insert("generation".into(), json!(1));
        }
    }
    match apply_fields {
        Some(fields) => objects::set_managers(
            &mut obj,
            &[Manager {
                manager: manager.to_string(),
                operation: "Apply".into(),
                time: now.clone(),
                fields,
            }],
        ),
        None => objects::record_update(None, &mut obj, manager, &now),
    }
    let mut store = ctx.world.kube.lock();
    let k = key(kind, ns, &name);
    if store.objects.contains_key(&k) {
        return Err(status::already_exists(&kind.qualified(), &name));
    }
    if dry_run {
        return Ok(reorder(obj));
    }
    obj["metadata"]["resourceVersion"] = json!(store.bump());
    let obj = reorder(obj);
    store.put(k, obj.clone());
    if kind.resource == "namespaces" {
        let sa_key = key(
            objects::kind_by_resource("serviceaccounts").expect("sa"),
            &name,
            "default",
        );
        let rv = store.bump();
        let sa = json!({"kind": "ServiceAccount", "apiVersion": "v1", "metadata": {
            "name": "default", "namespace": name, "uid": uuid::Uuid::new_v4().to_string(),
            "resourceVersion": rv, "creationTimestamp": now}});
        store.put(sa_key, sa);
    }
    Ok(obj)
}

/// The ServiceAccount admission plugin's pull secrets: a pod that lists no
/// `imagePullSecrets` gets those of its ServiceAccount (`spec.serviceAccountName`, else
/// `default`); a pod that lists some keeps its own.
fn service_account_admission(ctx: &Ctx, ns: &str, pod: &mut Value) {
    let listed = pod
        .pointer("/spec/imagePullSecrets")
        .and_then(Value::as_array)
        .is_some_and(|l| !l.is_empty());
    if listed || !pod.get("spec").is_some_and(Value::is_object) {
        return;
    }
    let sa_name = pod
        .pointer("/spec/serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string();
    let sa_kind = objects::kind_by_resource("serviceaccounts").expect("serviceaccounts");
    let secrets = ctx
        .world
        .kube
        .lock()
        .objects
        .get(&key(sa_kind, ns, &sa_name))
        .and_then(|sa| sa.get("imagePullSecrets").cloned())
        .filter(|l| l.as_array().is_some_and(|l| !l.is_empty()));
    if let Some(secrets) = secrets {
        pod["spec"]["imagePullSecrets"] = secrets;
    }
}

/// Puts `kind`, `apiVersion`, `metadata` first, as the API server's encoder does.
fn reorder(obj: Value) -> Value {
    let Value::Object(mut m) = obj else {
        return obj;
    };
    let mut out = serde_json::Map::new();
    for k in ["kind", "apiVersion", "metadata"] {
        if let Some(v) = m.remove(k) {
            out.insert(k.to_string(), v);
        }
    }
    out.extend(m);
    Value::Object(out)
}

fn stored(ctx: &Ctx, kind: Kind, ns: &str, name: &str) -> Result<Value, ApiError> {
    ctx.world
        .kube
        .lock()
        .objects
        .get(&key(kind, ns, name))
        .cloned()
        .ok_or_else(|| status::not_found(&kind.qualified(), name))
}

fn replace(ctx: &Ctx, kind: Kind, ns: &str, name: &str) -> Result<Response, ApiError> {
    let dry_run = ctx.dry_run("UpdateOptions")?;
    let manager = ctx.manager("UpdateOptions")?;
    let mut obj = ctx.body_json()?;
    check_body(kind, &mut obj, ns)?;
    check_name(&obj, name)?;
    obj["metadata"]["name"] = json!(name);
    let warnings = ctx.field_validation(kind, &obj)?;
    let old = stored(ctx, kind, ns, name)?;
    let updated = do_update(ctx, kind, &old, obj, Some(&manager), dry_run)?;
    Ok(with_warnings(
        json_response(StatusCode::OK, &updated),
        &warnings,
    ))
}

/// Writes `new` over `old` after validation. `manager` is the field manager of a non-apply
/// write (ownership is then recorded here); `None` means the caller (server-side apply)
/// already set `new`'s managedFields.
fn do_update(
    ctx: &Ctx,
    kind: Kind,
    old: &Value,
    mut new: Value,
    manager: Option<&str>,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let name = old
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let old_rv = old
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let new_rv = new
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !new_rv.is_empty() && new_rv != old_rv {
        return Err(status::conflict(&kind.qualified(), &name));
    }
    if !new.get("metadata").is_some_and(Value::is_object) {
        new["metadata"] = json!({});
    }
    let mut preserved = vec![
        "uid",
        "creationTimestamp",
        "name",
        "namespace",
        "generation",
    ];
    if manager.is_some() {
        preserved.push("managedFields");
    }
    for k in preserved {
        match old["metadata"].get(k) {
            Some(v) => new["metadata"][k] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(k);
                }
            }
        }
    }
    new["metadata"]["resourceVersion"] = json!(old_rv);
    new["kind"] = json!(kind.kind);
    new["apiVersion"] = json!(kind.api_version());
    objects::decode_typed(kind, &mut new)?;
    objects::prepare(kind, &mut new, Some(old)).map_err(|e| objects::invalid(kind, &name, &e))?;
    let now = now_text();
    if let Some(manager) = manager {
        objects::record_update(Some(old), &mut new, manager, &now);
    }
    let new = reorder(new);
    if &new == old {
        return Ok(new);
    }
    let mut new = new;
    if kinds::has_generation(kind) && new.get("spec") != old.get("spec") {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        new["metadata"]["generation"] = json!(g + 1);
    }
    let mut store = ctx.world.kube.lock();
    let k = key(
        kind,
        old.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or(""),
        &name,
    );
    // Re-check under the lock: a concurrent writer may have won.
    match store.objects.get(&k) {
        Some(current)
            if current.pointer("/metadata/resourceVersion")
                == old.pointer("/metadata/resourceVersion") => {}
        Some(_) => return Err(status::conflict(&kind.qualified(), &name)),
        None => return Err(status::not_found(&kind.qualified(), &name)),
    }
    if dry_run {
        return Ok(new);
    }
    new["metadata"]["resourceVersion"] = json!(store.bump());
    store.put(k, new.clone());
    Ok(new)
}

fn patch(ctx: &Ctx, kind: Kind, ns: &str, name: &str) -> Result<Response, ApiError> {
    let ct = ctx
        .content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let is_apply = ct == "application/apply-patch+yaml";
    let dry_run = ctx.dry_run("PatchOptions")?;
    if !is_apply && ctx.param("force").is_some() {
        return Err(status::invalid(
            "PatchOptions",
            "",
            Some("meta.k8s.io"),
            &[FieldError::forbidden(
                "force",
                "may not be specified for non-apply patch",
            )],
        ));
    }
    if is_apply {
        return apply(ctx, kind, ns, name, dry_run);
    }
    let manager = ctx.manager("PatchOptions")?;
    let patch = match ct.as_str() {
        "application/merge-patch+json"
        | "application/strategic-merge-patch+json"
        | "application/json-patch+json" => ctx.body_json()?,
        other => {
            return Err(ApiError {
                code: 415,
                reason: "UnsupportedMediaType",
                message: format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"
                ),
                details: None,
            });
        }
    };
    let old = stored(ctx, kind, ns, name)?;
    let mut new = old.clone();
    if ct == "application/json-patch+json" {
        objects::json_patch(&mut new, &patch).map_err(|e| ApiError {
            code: 422,
            reason: "Invalid",
            message: e,
            details: None,
        })?;
    } else if ct == "application/strategic-merge-patch+json" {
        objects::strategic_merge_patch(kind, &mut new, &patch);
    } else {
        objects::merge_patch(&mut new, &patch);
    }
    if !new.get("metadata").is_some_and(Value::is_object) {
        new["metadata"] = json!({});
    }
    check_name(&new, name)?;
    let warnings = ctx.field_validation(kind, &new)?;
    let updated = do_update(ctx, kind, &old, new, Some(&manager), dry_run)?;
    Ok(with_warnings(
        json_response(StatusCode::OK, &updated),
        &warnings,
    ))
}

/// Server-side apply (`application/apply-patch+yaml`).
fn apply(ctx: &Ctx, kind: Kind, ns: &str, name: &str, dry_run: bool) -> Result<Response, ApiError> {
    let Some(manager) = ctx
        .param("fieldManager")
        .filter(|m| !m.is_empty())
        .map(String::from)
    else {
        return Err(status::invalid(
            "PatchOptions",
            "",
            Some("meta.k8s.io"),
            &[FieldError::required(
                "fieldManager",
                "is required for apply patch",
            )],
        ));
    };
    let force = matches!(ctx.param("force"), Some("true") | Some("1"));
    let mut applied = ctx.body_json()?;
    if !applied.is_object() {
        return Err(status::bad_request(
            "the apply configuration must be an object",
        ));
    }
    let body_kind = applied
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let body_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if body_kind.is_empty() || body_version.is_empty() {
        return Err(status::bad_request(format!(
            "invalid object type: {body_version}, Kind={body_kind}"
        )));
    }
    check_body(kind, &mut applied, ns)?;
    check_name(&applied, name)?;
    applied["metadata"]["name"] = json!(name);
    let unknown = unknown_fields(kind, &applied);
    if let Some(field) = unknown.first() {
        return Err(status::bad_request(format!(
            "failed to create typed patch object ({}/v1, Kind={}): .{field}: field not declared in schema",
            kind.group, kind.kind
        )));
    }
    objects::decode_typed(kind, &mut applied)?;
    // stringData is write-only: apply it as the data it becomes.
    if kind.kind == "Secret"
        && let Some(Value::Object(sd)) =
            applied.as_object_mut().and_then(|m| m.remove("stringData"))
    {
        for (k, v) in sd {
            let text = v
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| v.to_string());
            applied["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
        }
    }
    let fields = objects::field_set(&applied);
    let old = ctx
        .world
        .kube
        .lock()
        .objects
        .get(&key(kind, ns, name))
        .cloned();
    let Some(old) = old else {
        let created = do_create(ctx, kind, ns, applied, &manager, Some(fields), dry_run)?;
        return Ok(json_response(StatusCode::CREATED, &created));
    };
    let old_rv = old
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let applied_rv = applied
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !applied_rv.is_empty() && applied_rv != old_rv {
        return Err(status::conflict(&kind.qualified(), name));
    }
    let mut mgrs = objects::managers(&old);
    let is_me = |m: &Manager| m.manager == manager && m.operation == "Apply";
    let mut conflicts = Vec::new();
    for m in mgrs.iter().filter(|m| !is_me(m)) {
        for p in m.fields.intersection(&fields) {
            if objects::get_path(&old, p) != objects::get_path(&applied, p) {
                let who = if m.operation == "Apply" {
                    format!("{:?}", m.manager)
                } else {
                    format!("{:?} using {}", m.manager, kind.api_version())
                };
                conflicts.push((who, objects::path_text(p)));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(status::apply_conflict(&kind.qualified(), name, &conflicts));
    }
    let conflicting: BTreeSet<objects::FieldPath> = mgrs
        .iter()
        .filter(|m| !is_me(m))
        .flat_map(|m| m.fields.intersection(&fields).cloned().collect::<Vec<_>>())
        .filter(|p| objects::get_path(&old, p) != objects::get_path(&applied, p))
        .collect();
    for m in mgrs.iter_mut().filter(|m| !is_me(m)) {
        m.fields.retain(|p| !conflicting.contains(p));
    }
    let previously: BTreeSet<objects::FieldPath> = mgrs
        .iter()
        .find(|m| is_me(m))
        .map(|m| m.fields.clone())
        .unwrap_or_default();
    let mut new = old.clone();
    for p in previously.difference(&fields) {
        let owned_by_other = mgrs
            .iter()
            .filter(|m| !is_me(m))
            .any(|m| m.fields.contains(p));
        if !owned_by_other {
            objects::remove_path(&mut new, p);
        }
    }
    let mut body = applied.clone();
    if let Some(m) = body.as_object_mut() {
        for k in ["apiVersion", "kind", "status", "metadata"] {
            m.remove(k);
        }
    }
    for k in ["labels", "annotations"] {
        if let Some(v) = applied
            .pointer(&format!("/metadata/{k}"))
            .filter(|v| v.is_object())
        {
            body["metadata"][k] = v.clone();
        }
    }
    objects::merge_into(&mut new, &body);
    let now = now_text();
    // The entry's time changes only when the object or the manager's fields do.
    let content = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v["metadata"].as_object_mut() {
            m.remove("managedFields");
            m.remove("resourceVersion");
        }
        v
    };
    let mut probe = new.clone();
    let _ = objects::prepare(kind, &mut probe, Some(&old));
    let changed_values = content(&probe) != content(&old);
    match mgrs.iter_mut().find(|m| is_me(m)) {
        Some(m) => {
            if m.fields != fields || changed_values {
                m.time = now.clone();
            }
            m.fields = fields;
        }
        None => mgrs.push(Manager {
            manager: manager.clone(),
            operation: "Apply".into(),
            time: now.clone(),
            fields,
        }),
    }
    objects::set_managers(&mut new, &mgrs);
    // Keep the stored resourceVersion: the precondition was checked above.
    new["metadata"]["resourceVersion"] = json!(old_rv);
    let updated = do_update(ctx, kind, &old, new, None, dry_run)?;
    Ok(json_response(StatusCode::OK, &updated))
}

fn delete(ctx: &Ctx, kind: Kind, ns: &str, name: &str) -> Result<Response, ApiError> {
    let dry_run = ctx.dry_run("DeleteOptions")?;
    let options: Value = if ctx.body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&ctx.body).unwrap_or(json!({}))
    };
    if options
        .pointer("/dryRun")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == "All"))
        && !dry_run
    {
        return delete_inner(ctx, kind, ns, name, &options, true);
    }
    delete_inner(ctx, kind, ns, name, &options, dry_run)
}

fn delete_inner(
    ctx: &Ctx,
    kind: Kind,
    ns: &str,
    name: &str,
    options: &Value,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let mut store = ctx.world.kube.lock();
    let k = key(kind, ns, name);
    let obj = store
        .objects
        .get(&k)
        .cloned()
        .ok_or_else(|| status::not_found(&kind.qualified(), name))?;
    let rv = obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    if let Some(want) = options
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str)
        && want != rv
    {
        return Err(ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": the ResourceVersion in the precondition ({want}) does not match the ResourceVersion in record ({rv}). The object might have been modified",
                kind.qualified()
            ),
            details: Some(status::details(name, &kind.qualified())),
        });
    }
    if let Some(want) = options
        .pointer("/preconditions/uid")
        .and_then(Value::as_str)
        && want != uid
    {
        return Err(ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": the UID in the precondition ({want}) does not match the UID in record ({uid}). The object might have been recreated",
                kind.qualified()
            ),
            details: Some(status::details(name, &kind.qualified())),
        });
    }
    let mut response = obj.clone();
    let now = now_text();
    if !dry_run {
        if let Some(deleted) = store.delete(&k) {
            response["metadata"]["resourceVersion"] =
                deleted["metadata"]["resourceVersion"].clone();
        }
        if kind.resource == "namespaces" {
            let contained: Vec<Key> = store
                .objects
                .keys()
                .filter(|(_, n, _)| n == name)
                .cloned()
                .collect();
            for k in contained {
                store.delete(&k);
            }
        }
    }
    match kind.kind {
        "Pod" => {
            response["metadata"]["deletionTimestamp"] = json!(now);
            response["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            Ok(json_response(StatusCode::OK, &response))
        }
        "Namespace" => {
            response["metadata"]["deletionTimestamp"] = json!(now);
            response["status"] = json!({"phase": "Terminating"});
            Ok(json_response(StatusCode::OK, &response))
        }
        _ => {
            let mut details = status::details(name, &kind.qualified());
            details["uid"] = json!(uid);
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details
                }),
            ))
        }
    }
}

//! Kinds, validation, defaulting, field ownership (managedFields) and label selectors.

use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::status::{self, ApiError, FieldError};

/// A served resource type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    /// Plural resource name (`secrets`).
    pub resource: &'static str,
    /// Singular resource name (`secret`).
    pub singular: &'static str,
    /// Kind (`Secret`).
    pub kind: &'static str,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// `kubectl` short names.
    pub short_names: &'static [&'static str],
    /// API group: `""` for the core group (`/api/v1`), else served at `/apis/<group>/v1`.
    pub group: &'static str,
}

impl Kind {
    /// `apiVersion` of its objects (`v1`, `coordination.k8s.io/v1`).
    pub fn api_version(self) -> String {
        if self.group.is_empty() {
            "v1".into()
        } else {
            format!("{}/v1", self.group)
        }
    }

    /// The group-qualified resource of messages, RBAC rules and the store (`secrets`,
    /// `leases.coordination.k8s.io`).
    pub fn qualified(self) -> String {
        if self.group.is_empty() {
            self.resource.into()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

/// Every resource the emulator serves, in `/api/v1` order.
pub const KINDS: &[Kind] = &[
    Kind {
        resource: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
        group: "",
    },
    Kind {
        resource: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
        group: "",
    },
    Kind {
        resource: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        group: "",
    },
    Kind {
        resource: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        group: "",
    },
    Kind {
        resource: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short_names: &[],
        group: "",
    },
    Kind {
        resource: "serviceaccounts",
        singular: "serviceaccount",
        kind: "ServiceAccount",
        namespaced: true,
        short_names: &["sa"],
        group: "",
    },
];

/// The coordination group (Leases, for leader election).
pub const COORDINATION: &str = "coordination.k8s.io";
/// The events group (`events.k8s.io/v1` Events, what kube-runtime's `Recorder` writes).
pub const EVENTS: &str = "events.k8s.io";

/// The workloads group (Deployments, ReplicaSets, StatefulSets, DaemonSets).
pub const APPS: &str = "apps";
/// The RBAC group (Roles, ClusterRoles and their bindings; stored, not enforced).
pub const RBAC: &str = "rbac.authorization.k8s.io";
/// The admission group (ValidatingAdmissionPolicies and their bindings; stored, not run).
pub const ADMISSION: &str = "admissionregistration.k8s.io";
/// The policy group (PodDisruptionBudgets).
pub const POLICY: &str = "policy";

const fn group_kind(
    resource: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    group: &'static str,
) -> Kind {
    Kind {
        resource,
        singular,
        kind,
        namespaced,
        short_names,
        group,
    }
}

/// Every resource served in a named group (`/apis/<group>/v1`), by group.
pub const GROUP_KINDS: &[Kind] = &[
    Kind {
        resource: "leases",
        singular: "lease",
        kind: "Lease",
        namespaced: true,
        short_names: &[],
        group: COORDINATION,
    },
    Kind {
        resource: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
        group: EVENTS,
    },
    group_kind(
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["deploy"],
        APPS,
    ),
    group_kind(
        "replicasets",
        "replicaset",
        "ReplicaSet",
        true,
        &["rs"],
        APPS,
    ),
    group_kind(
        "statefulsets",
        "statefulset",
        "StatefulSet",
        true,
        &["sts"],
        APPS,
    ),
    group_kind("daemonsets", "daemonset", "DaemonSet", true, &["ds"], APPS),
    group_kind("roles", "role", "Role", true, &[], RBAC),
    group_kind(
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        true,
        &[],
        RBAC,
    ),
    group_kind(
        "clusterroles",
        "clusterrole",
        "ClusterRole",
        false,
        &[],
        RBAC,
    ),
    group_kind(
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        false,
        &[],
        RBAC,
    ),
    group_kind(
        "validatingadmissionpolicies",
        "validatingadmissionpolicy",
        "ValidatingAdmissionPolicy",
        false,
        &[],
        ADMISSION,
    ),
    group_kind(
        "validatingadmissionpolicybindings",
        "validatingadmissionpolicybinding",
        "ValidatingAdmissionPolicyBinding",
        false,
        &[],
        ADMISSION,
    ),
    group_kind(
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        POLICY,
    ),
];

/// The verbs every served resource supports.
pub const VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// The kind served under plural resource name `resource`.
pub fn kind_by_resource(resource: &str) -> Option<Kind> {
    KINDS.iter().copied().find(|k| k.resource == resource)
}

/// The kind named `kind` (`Secret`) in the core group.
pub fn kind_by_kind(kind: &str) -> Option<Kind> {
    KINDS.iter().copied().find(|k| k.kind == kind)
}

/// The kind served under `resource` in `group` (`""`: the core group).
pub fn kind_in_group(group: &str, resource: &str) -> Option<Kind> {
    KINDS
        .iter()
        .chain(GROUP_KINDS)
        .copied()
        .find(|k| k.group == group && k.resource == resource)
}

/// The kind of an object with `apiVersion` and `kind` (`coordination.k8s.io/v1`, `Lease`).
pub fn kind_by_type(api_version: &str, kind: &str) -> Option<Kind> {
    KINDS
        .iter()
        .chain(GROUP_KINDS)
        .copied()
        .find(|k| k.api_version() == api_version && k.kind == kind)
}

/// The kind under a group-qualified resource (`leases.coordination.k8s.io`, `secrets`).
pub fn kind_by_qualified(qualified: &str) -> Option<Kind> {
    KINDS
        .iter()
        .chain(GROUP_KINDS)
        .copied()
        .find(|k| k.qualified() == qualified)
}

/// The pod update validation's message (the diff the real server appends is left out).
const POD_UPDATE_MSG: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

pub(super) fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_dns1123_label)
}

/// Errors for `metadata.name` (DNS-1123 label for namespaces, subdomain otherwise).
pub fn name_errors(kind: Kind, name: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if kind.resource == "namespaces" {
        if name.len() > 63 {
            errors.push(FieldError::invalid(
                "metadata.name",
                name,
                "must be no more than 63 characters",
            ));
        }
        if !is_dns1123_label(name) {
            errors.push(FieldError::invalid(
                "metadata.name",
                name,
                DNS1123_LABEL_MSG,
            ));
        }
    } else {
        if name.len() > 253 {
            errors.push(FieldError::invalid(
                "metadata.name",
                name,
                "must be no more than 253 characters",
            ));
        }
        if !is_dns1123_subdomain(name) {
            errors.push(FieldError::invalid(
                "metadata.name",
                name,
                DNS1123_SUBDOMAIN_MSG,
            ));
        }
    }
    errors
}

/// Label keys and values, checked loosely (qualified name / value syntax).
fn label_errors(obj: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            let name = k.rsplit('/').next().unwrap_or(k);
            if name.is_empty() || name.len() > 63 || !name.chars().all(ok_char) {
                errors.push(FieldError::invalid(
                    "metadata.labels",
                    k,
                    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
                ));
            }
            match v.as_str() {
                Some(s) if s.len() <= 63 && s.chars().all(ok_char) => {}
                _ => errors.push(FieldError::invalid(
                    "metadata.labels",
                    &value_text(v),
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                )),
            }
        }
    }
    errors
}

pub(super) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Normalises a written object of `kind` in place (`stringData` into `data`, defaults) and
/// returns its validation errors. `old` is the stored object for an update.
pub fn prepare(kind: Kind, obj: &mut Value, old: Option<&Value>) -> Result<(), Vec<FieldError>> {
    let mut errors = label_errors(obj);
    let Some(map) = obj.as_object_mut() else {
        return Err(vec![FieldError::invalid("", "", "not an object")]);
    };
    map.remove("status");
    if !kind.group.is_empty() {
        match kind.group {
            COORDINATION => prepare_lease(map, &mut errors),
            EVENTS => prepare_event(map, old, &mut errors),
            APPS => super::kinds::prepare_workload(kind, map, old, &mut errors),
            RBAC => super::kinds::prepare_rbac(kind, map, old, &mut errors),
            POLICY => super::kinds::prepare_pdb(map, &mut errors),
            _ => {}
        }
        super::kinds::keep_status(kind, map, old);
        return if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        };
    }
    match kind.kind {
        "ConfigMap" => super::kinds::prepare_config_map(map, old, &mut errors),
        "Event" => super::kinds::prepare_core_event(map, &mut errors),
        "Secret" => {
            let mut data = match map.remove("data") {
                Some(Value::Object(d)) => d,
                Some(Value::Null) | None => Map::new(),
                Some(_) => {
                    errors.push(FieldError::invalid("data", "", "must be a map"));
                    Map::new()
                }
            };
            for (k, v) in &data {
                let valid = v
                    .as_str()
                    .map(|s| base64::engine::general_purpose::STANDARD.decode(s).is_ok())
                    .unwrap_or(false);
                if !valid {
                    errors.push(FieldError::invalid(
                        format!("data[{k}]"),
                        &value_text(v),
                        "illegal base64 data",
                    ));
                }
            }
            if let Some(Value::Object(sd)) = map.remove("stringData") {
                for (k, v) in sd {
                    let text = value_text(&v);
                    data.insert(
                        k,
                        Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
                    );
                }
            }
            let key_ok = |k: &str| {
                !k.is_empty()
                    && k != "."
                    && k != ".."
                    && k.len() <= 253
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            };
            for k in data.keys() {
                if !key_ok(k) {
                    errors.push(FieldError::invalid(
                        format!("data[{k}]"),
                        k,
                        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                    ));
                }
            }
            let ty = map
                .get("type")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("Opaque")
                .to_string();
            map.insert("type".into(), Value::String(ty.clone()));
            let decoded = |k: &str| {
                data.get(k)
                    .and_then(Value::as_str)
                    .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            };
            match ty.as_str() {
                "kubernetes.io/dockerconfigjson" => match decoded(".dockerconfigjson") {
                    None => errors.push(FieldError::required("data[.dockerconfigjson]", "")),
                    Some(bytes) => {
                        if let Err(e) = serde_json::from_slice::<Value>(&bytes) {
                            errors.push(FieldError::invalid(
                                "data[.dockerconfigjson]",
                                "<secret contents redacted>",
                                &e.to_string(),
                            ));
                        }
                    }
                },
                "kubernetes.io/tls" => {
                    for k in ["tls.crt", "tls.key"] {
                        if !data.contains_key(k) {
                            errors.push(FieldError::required(format!("data[{k}]"), ""));
                        }
                    }
                }
                "kubernetes.io/ssh-auth" if !data.contains_key("ssh-privatekey") => {
                    errors.push(FieldError::required("data[ssh-privatekey]", ""));
                }
                "kubernetes.io/service-account-token"
                    if map
                        .get("metadata")
                        .and_then(|m| m.pointer("/annotations/kubernetes.io~1service-account.name"))
                        .is_none() =>
                {
                    errors.push(FieldError::required(
                        "metadata.annotations[kubernetes.io/service-account.name]",
                        "",
                    ));
                }
                "kubernetes.io/dockercfg" if decoded(".dockercfg").is_none() => {
                    errors.push(FieldError::required("data[.dockercfg]", ""));
                }
                _ => {}
            }
            if !data.is_empty() {
                map.insert("data".into(), Value::Object(data));
            }
            if let Some(old) = old {
                let old_type = old.get("type").and_then(Value::as_str).unwrap_or("Opaque");
                if old_type != ty {
                    errors.push(FieldError::invalid("type", &ty, "field is immutable"));
                }
                if old.get("immutable") == Some(&Value::Bool(true)) {
                    if old.get("data") != map.get("data") {
                        errors.push(FieldError::forbidden(
                            "data",
                            "field is immutable when `immutable` is set",
                        ));
                    }
                    if map.get("immutable") != Some(&Value::Bool(true)) {
                        errors.push(FieldError::forbidden(
                            "immutable",
                            "field is immutable when `immutable` is set",
                        ));
                    }
                }
            }
        }
        "Namespace" => {
            let name = map
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let meta = map.entry("metadata").or_insert_with(|| json!({}));
            if let Some(meta) = meta.as_object_mut() {
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                if !labels.is_object() {
                    *labels = json!({});
                }
                labels["kubernetes.io/metadata.name"] = Value::String(name);
            }
            let spec = map.entry("spec").or_insert_with(|| json!({}));
            if spec.get("finalizers").is_none() {
                spec["finalizers"] = json!(["kubernetes"]);
            }
            map.insert("status".into(), json!({"phase": "Active"}));
        }
        "Pod" => {
            let spec = map.entry("spec").or_insert_with(|| json!({}));
            let containers = spec.get("containers").and_then(Value::as_array).cloned();
            match containers {
                None => errors.push(FieldError::required("spec.containers", "")),
                Some(c) if c.is_empty() => errors.push(FieldError::required("spec.containers", "")),
                Some(c) => {
                    for (i, container) in c.iter().enumerate() {
                        let name = container.get("name").and_then(Value::as_str).unwrap_or("");
                        if name.is_empty() {
                            errors.push(FieldError::required(
                                format!("spec.containers[{i}].name"),
                                "",
                            ));
                        } else if !is_dns1123_label(name) {
                            errors.push(FieldError::invalid(
                                format!("spec.containers[{i}].name"),
                                name,
                                DNS1123_LABEL_MSG,
                            ));
                        }
                        if container
                            .get("image")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .is_empty()
                        {
                            errors.push(FieldError::required(
                                format!("spec.containers[{i}].image"),
                                "",
                            ));
                        }
                    }
                }
            }
            if let Some(spec) = spec.as_object_mut() {
                let defaults = [
                    ("restartPolicy", json!("Always")),
                    ("terminationGracePeriodSeconds", json!(30)),
                    ("dnsPolicy", json!("ClusterFirst")),
                    ("serviceAccountName", json!("default")),
                    ("serviceAccount", json!("default")),
                    ("securityContext", json!({})),
                    ("schedulerName", json!("default-scheduler")),
                    ("enableServiceLinks", json!(true)),
                    ("preemptionPolicy", json!("PreemptLowerPriority")),
                    ("priority", json!(0)),
                ];
                for (k, v) in defaults {
                    spec.entry(k).or_insert(v);
                }
                if let Some(Value::Array(cs)) = spec.get_mut("containers") {
                    for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
                        let last = image.rsplit('/').next().unwrap_or(image);
                        let policy = if image.contains('@')
                            || !last.contains(':')
                            || last.ends_with(":latest")
                        {
                            if image.contains('@') {
                                "IfNotPresent"
                            } else {
                                "Always"
                            }
                        } else {
                            "IfNotPresent"
                        };
                        c.entry("imagePullPolicy").or_insert(json!(policy));
                        c.entry("terminationMessagePath")
                            .or_insert(json!("/dev/termination-log"));
                        c.entry("terminationMessagePolicy").or_insert(json!("File"));
                        c.entry("resources").or_insert(json!({}));
                    }
                }
            }
            let pull = |o: &Value| o.pointer("/spec/imagePullSecrets").cloned();
            if let Some(old) = old
                && pull(old)
                    != map
                        .get("spec")
                        .and_then(|s| s.get("imagePullSecrets"))
                        .cloned()
            {
                errors.push(FieldError::forbidden("spec", POD_UPDATE_MSG));
            }
            map.insert(
                "status".into(),
                match old.and_then(|o| o.get("status")) {
                    Some(s) => s.clone(),
                    None => json!({"phase": "Pending", "qosClass": "BestEffort"}),
                },
            );
        }
        _ => {}
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// 422 for `errors` on object `name` of `kind`.
pub fn invalid(kind: Kind, name: &str, errors: &[FieldError]) -> ApiError {
    let group = Some(kind.group).filter(|g| !g.is_empty());
    status::invalid(kind.kind, name, group, errors)
}

pub(super) fn invalid_number(field: &str, n: i64, detail: &str) -> FieldError {
    FieldError {
        reason: "FieldValueInvalid",
        field: field.into(),
        message: format!("Invalid value: {n}: {detail}"),
    }
}

/// Lease validation (`coordination/validation`): `leaseDurationSeconds` > 0,
/// `leaseTransitions` >= 0. `spec` is a struct, so it is always there (`{}` at least).
fn prepare_lease(map: &mut Map<String, Value>, errors: &mut Vec<FieldError>) {
    let spec = map.entry("spec").or_insert_with(|| json!({}));
    if spec.is_null() {
        *spec = json!({});
    }
    let int = |k: &str| spec.get(k).and_then(Value::as_i64);
    if let Some(n) = int("leaseDurationSeconds").filter(|n| *n <= 0) {
        errors.push(invalid_number(
            "spec.leaseDurationSeconds",
            n,
            "must be greater than 0",
        ));
    }
    if let Some(n) = int("leaseTransitions").filter(|n| *n < 0) {
        errors.push(invalid_number(
            "spec.leaseTransitions",
            n,
            "must be greater than or equal to 0",
        ));
    }
}

/// The fields of an `events.k8s.io/v1` Event that cannot change once it is created.
const EVENT_IMMUTABLE: &[&str] = &[
    "regarding",
    "related",
    "reason",
    "note",
    "type",
    "action",
    "reportingController",
    "reportingInstance",
    "eventTime",
];

/// `events.k8s.io/v1` Event validation, as `ValidateEventCreate`/`ValidateEventUpdate` do it
/// for a v1 request: `eventTime`, `reportingController`, `reportingInstance`, `action` and
/// `reason` required, `type` `Normal` or `Warning`, `regarding` present and in the Event's
/// namespace (or the Event in `default` for a cluster-scoped object), `series.count` >= 2 with
/// a `lastObservedTime`, `note` at most 1 kB; on update the fields above are immutable.
fn prepare_event(map: &mut Map<String, Value>, old: Option<&Value>, errors: &mut Vec<FieldError>) {
    let text = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or("");
    if map.get("eventTime").is_none_or(Value::is_null) {
        errors.push(FieldError::required("eventTime", ""));
    }
    for k in [
        "reportingController",
        "reportingInstance",
        "action",
        "reason",
    ] {
        if text(k).is_empty() {
            errors.push(FieldError::required(k, ""));
        } else if text(k).len() > 128 && k != "reportingController" {
            errors.push(FieldError {
                reason: "FieldValueTooLong",
                field: k.into(),
                message: "Too long: may not be more than 128 bytes".into(),
            });
        }
    }
    let ty = text("type");
    if ty != "Normal" && ty != "Warning" {
        errors.push(FieldError::unsupported("type", ty, &["Normal", "Warning"]));
    }
    if text("note").len() > 1024 {
        errors.push(FieldError {
            reason: "FieldValueTooLong",
            field: "note".into(),
            message: "Too long: may not be more than 1024 bytes".into(),
        });
    }
    let event_ns = map
        .get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or("");
    match map.get("regarding") {
        Some(Value::Object(r)) => {
            let ns = r.get("namespace").and_then(Value::as_str).unwrap_or("");
            let ok = if ns.is_empty() {
                event_ns.is_empty() || event_ns == "default"
            } else {
                ns == event_ns
            };
            if !ok {
                errors.push(FieldError::invalid(
                    "regarding.namespace",
                    ns,
                    "does not match event.namespace",
                ));
            }
        }
        _ => errors.push(FieldError::required("regarding", "")),
    }
    if let Some(series) = map.get("series").filter(|s| !s.is_null()) {
        let count = series.get("count").and_then(Value::as_i64).unwrap_or(0);
        if count < 2 {
            errors.push(invalid_number(
                "series.count",
                count,
                "should be at least 2",
            ));
        }
        if series.get("lastObservedTime").is_none_or(Value::is_null) {
            errors.push(FieldError::required("series.lastObservedTime", ""));
        }
    }
    if let Some(old) = old {
        for k in EVENT_IMMUTABLE {
            if old.get(*k) != map.get(*k) {
                errors.push(FieldError::invalid(
                    *k,
                    &map.get(*k).map(value_text).unwrap_or_default(),
                    "field is immutable",
                ));
            }
        }
    }
}

/// `metav1.MicroTime` as the API server writes it: RFC 3339 in UTC with exactly six
/// fractional digits (`2026-12-07T20:45:27.123456Z`); `None` if `text` is not RFC 3339.
pub fn micro_time(text: &str) -> Option<String> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()?
        .to_offset(time::UtcOffset::UTC);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    t.format(&format).ok()
}

/// Decodes the typed fields of a grouped kind as the API server's decoder does before any
/// validation: MicroTime fields are re-encoded (`micro_time`) and integers checked; a value
/// that does not decode is a 400 (`Lease in version "v1" cannot be handled as a Lease: ...`).
pub fn decode_typed(kind: Kind, obj: &mut Value) -> Result<(), ApiError> {
    let (times, ints): (&[&str], &[&str]) = match (kind.group, kind.kind) {
        (COORDINATION, "Lease") => (
            &["/spec/acquireTime", "/spec/renewTime"],
            &["/spec/leaseDurationSeconds", "/spec/leaseTransitions"],
        ),
        (EVENTS, "Event") => (
            &["/eventTime", "/series/lastObservedTime"],
            &["/series/count", "/deprecatedCount"],
        ),
        ("", "Event") => {
            super::kinds::decode_core_event(obj)?;
            (
                &["/eventTime", "/series/lastObservedTime"],
                &["/count", "/series/count"],
            )
        }
        _ => return Ok(()),
    };
    let fail = |detail: String| {
        status::bad_request(format!(
            "{k} in version \"v1\" cannot be handled as a {k}: {detail}",
            k = kind.kind
        ))
    };
    for pointer in times {
        let Some(v) = obj.pointer_mut(pointer).filter(|v| !v.is_null()) else {
            continue;
        };
        let text = value_text(v);
        *v = json!(micro_time(&text).ok_or_else(|| fail(format!(
            "parsing time \"{text}\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \"{text}\" as \"2006\""
        )))?);
    }
    for pointer in ints {
        let Some(v) = obj.pointer(pointer).filter(|v| !v.is_null()) else {
            continue;
        };
        if v.as_i64().is_none_or(|n| i32::try_from(n).is_err()) {
            let field = pointer.rsplit('/').next().unwrap_or_default();
            return Err(fail(format!(
                "json: cannot unmarshal {} into Go struct field of type int32 ({field})",
                value_text(v)
            )));
        }
    }
    Ok(())
}

// ----- field ownership -----

/// A field path, e.g. `["data", ".dockerconfigjson"]`.
pub type FieldPath = Vec<String>;

/// The leaf fields set in `obj`, at the granularity the emulator tracks: maps are recursed
/// into, anything else (including lists, which are atomic here) is a leaf. Of `metadata` only
/// `labels` and `annotations` are tracked; `apiVersion`, `kind` and `status` are not.
pub fn field_set(obj: &Value) -> BTreeSet<FieldPath> {
    let mut out = BTreeSet::new();
    let Some(map) = obj.as_object() else {
        return out;
    };
    for (k, v) in map {
        match k.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                for key in ["labels", "annotations"] {
                    if let Some(m) = v.get(key).and_then(Value::as_object) {
                        for (lk, _) in m {
                            out.insert(vec!["metadata".into(), key.into(), lk.clone()]);
                        }
                    }
                }
            }
            _ => collect(v, vec![k.clone()], &mut out),
        }
    }
    out
}

fn collect(v: &Value, path: FieldPath, out: &mut BTreeSet<FieldPath>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let mut p = path.clone();
                p.push(k.clone());
                collect(child, p, out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

/// The value at `path`.
pub fn get_path<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, k| v.get(k))
}

/// Removes the value at `path`, then any map it leaves empty (up to the top level).
pub fn remove_path(obj: &mut Value, path: &[String]) {
    if path.is_empty() {
        return;
    }
    let (last, parent) = path.split_last().expect("non-empty");
    let mut cur = &mut *obj;
    for k in parent {
        match cur.get_mut(k) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
        if m.is_empty() && parent.len() > 1 {
            remove_path(obj, parent);
        }
    }
}

/// `.data.key` as server-side apply prints it.
pub fn path_text(path: &[String]) -> String {
    path.iter().map(|p| format!(".{p}")).collect()
}

/// Maps keyed by arbitrary user keys: their `fieldsV1` carries a `"."` entry.
fn is_map_field(path: &[String]) -> bool {
    matches!(
        path.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        ["data"]
            | ["stringData"]
            | ["binaryData"]
            | ["metadata", "labels"]
            | ["metadata", "annotations"]
            | ["spec", "nodeSelector"]
    )
}

/// Renders a field set as `fieldsV1`.
pub fn to_fields_v1(set: &BTreeSet<FieldPath>) -> Value {
    let mut root = json!({});
    for path in set {
        let mut cur = &mut root;
        for (i, k) in path.iter().enumerate() {
            let is_map = is_map_field(&path[..i]);
            if is_map && i > 0 {
                cur[".".to_string()] = json!({});
            }
            let key = format!("f:{k}");
            if cur.get(&key).is_none() {
                cur[key.clone()] = json!({});
            }
            cur = cur.get_mut(&key).expect("inserted");
        }
    }
    root
}

/// Parses `fieldsV1` back into a field set (`k:`/`v:` list keys are kept as opaque leaves).
pub fn from_fields_v1(v: &Value) -> BTreeSet<FieldPath> {
    fn walk(v: &Value, path: FieldPath, out: &mut BTreeSet<FieldPath>) {
        let children: Vec<(&String, &Value)> = v
            .as_object()
            .map(|m| m.iter().filter(|(k, _)| k.as_str() != ".").collect())
            .unwrap_or_default();
        if children.is_empty() {
            if !path.is_empty() {
                out.insert(path);
            }
            return;
        }
        for (k, child) in children {
            let name = k.strip_prefix("f:").unwrap_or(k).to_string();
            let mut p = path.clone();
            p.push(name);
            walk(child, p, out);
        }
    }
    let mut out = BTreeSet::new();
    walk(v, Vec::new(), &mut out);
    out
}

/// One `managedFields` entry, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Manager {
    /// Manager name (`kubectl`, `kubectl-create`, ...).
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// When the entry last changed.
    pub time: String,
    /// Owned fields.
    pub fields: BTreeSet<FieldPath>,
}

/// The parsed `metadata.managedFields` of `obj`.
pub fn managers(obj: &Value) -> Vec<Manager> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .map(|e| Manager {
                    manager: e
                        .get("manager")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .into(),
                    operation: e
                        .get("operation")
                        .and_then(Value::as_str)
                        .unwrap_or("Update")
                        .into(),
                    time: e.get("time").and_then(Value::as_str).unwrap_or("").into(),
                    fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `list` as `metadata.managedFields` (entries with no fields are dropped).
pub fn set_managers(obj: &mut Value, list: &[Manager]) {
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("v1")
        .to_string();
    let entries: Vec<Value> = list
        .iter()
        .filter(|m| !m.fields.is_empty())
        .map(|m| {
            json!({
                "manager": m.manager,
                "operation": m.operation,
                "apiVersion": api_version,
                "time": m.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&m.fields),
            })
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(entries));
        }
    }
}

/// Ownership after a non-apply write by `manager`: it takes every field that changed (other
/// managers lose them, without conflict), and removed fields are dropped from every manager.
pub fn record_update(old: Option<&Value>, new: &mut Value, manager: &str, time: &str) {
    let new_fields = field_set(new);
    let mut list = old.map(managers).unwrap_or_default();
    let changed: BTreeSet<FieldPath> = match old {
        None => new_fields.clone(),
        Some(old) => new_fields
            .iter()
            .filter(|p| get_path(old, p) != get_path(new, p))
            .cloned()
            .collect(),
    };
    for m in list.iter_mut() {
        m.fields
            .retain(|p| new_fields.contains(p) && !changed.contains(p));
    }
    if !changed.is_empty() {
        match list
            .iter_mut()
            .find(|m| m.manager == manager && m.operation == "Update")
        {
            Some(m) => {
                m.fields.extend(changed);
                m.time = time.to_string();
            }
            None => list.push(Manager {
                manager: manager.to_string(),
                operation: "Update".into(),
                time: time.to_string(),
                fields: changed,
            }),
        }
    }
    set_managers(new, &list);
}

/// Recursive merge used by server-side apply: maps merge, everything else replaces.
pub fn merge_into(target: &mut Value, applied: &Value) {
    match (target.as_object_mut(), applied.as_object()) {
        (Some(t), Some(a)) => {
            for (k, v) in a {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        merge_into(existing, v)
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => *target = applied.clone(),
    }
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch.as_object() {
        Some(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        None => *target = patch.clone(),
    }
}

/// The merge key of the list at `path` (field names, no indices) in `kind` objects, for a
/// strategic merge patch; `None` means the list is atomic (replaced whole). As in the real
/// types: `ServiceAccount.imagePullSecrets` has no merge key, `PodSpec.imagePullSecrets` has.
fn merge_key(kind: Kind, path: &[String]) -> Option<&'static str> {
    if kind.group == APPS && path.len() > 2 && path[0] == "spec" && path[1] == "template" {
        return merge_key(kind_by_kind("Pod").expect("pods"), &path[2..]);
    }
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match (kind.kind, p.as_slice()) {
        (_, ["metadata", "ownerReferences"]) => Some("uid"),
        ("ServiceAccount", ["secrets"]) => Some("name"),
        (
            "Pod",
            [
                "spec",
                "containers"
                | "initContainers"
                | "ephemeralContainers"
                | "imagePullSecrets"
                | "volumes",
            ],
        ) => Some("name"),
        (
            "Pod",
            [
                "spec",
                "containers" | "initContainers" | "ephemeralContainers",
                "env",
            ],
        ) => Some("name"),
        (
            "Pod",
            [
                "spec",
                "containers" | "initContainers" | "ephemeralContainers",
                "volumeMounts",
            ],
        ) => Some("mountPath"),
        (
            "Pod",
            [
                "spec",
                "containers" | "initContainers" | "ephemeralContainers",
                "ports",
            ],
        ) => Some("containerPort"),
        _ => None,
    }
}

/// A strategic merge patch for `kind`: like a JSON merge patch, but lists with a merge key
/// (see `merge_key`) are merged element by element (`$patch: delete` removes one, `$patch:
/// replace` replaces a map), and `metadata.finalizers` is a set union. The `$setElementOrder`,
/// `$retainKeys` and `$deleteFromPrimitiveList` directives are accepted and ignored.
pub fn strategic_merge_patch(kind: Kind, target: &mut Value, patch: &Value) {
    smp(kind, target, patch, &mut Vec::new());
}

fn smp(kind: Kind, target: &mut Value, patch: &Value, path: &mut Vec<String>) {
    let Some(p) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        strip_directives(&mut v);
        v
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = strip(patch);
        return;
    }
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        path.push(k.clone());
        if v.is_null() {
            t.remove(k);
        } else if let (Some(items), Some(key)) = (v.as_array(), merge_key(kind, path)) {
            let mut list = t
                .get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for item in items {
                let id = item.get(key).cloned();
                let pos = id
                    .as_ref()
                    .and_then(|id| list.iter().position(|e| e.get(key) == Some(id)));
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                match (pos, delete) {
                    (Some(i), true) => {
                        list.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => smp(kind, &mut list[i], item, path),
                    (None, false) => list.push(strip(item)),
                }
            }
            t.insert(k.clone(), Value::Array(list));
        } else if v.is_array() && path.as_slice() == ["metadata", "finalizers"] {
            let mut list = t
                .get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for item in v.as_array().into_iter().flatten() {
                if !list.contains(item) {
                    list.push(item.clone());
                }
            }
            t.insert(k.clone(), Value::Array(list));
        } else if v.is_object() {
            smp(kind, t.entry(k.clone()).or_insert(Value::Null), v, path);
        } else {
            t.insert(k.clone(), strip(v));
        }
        path.pop();
    }
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

/// RFC 6902 JSON patch (`add`, `remove`, `replace`, `test`, `copy`, `move`).
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops.as_array().ok_or("the JSON patch must be an array")?;
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("missing path")?;
        let value = op.get("value").cloned();
        match kind {
            "add" => pointer_add(target, path, value.ok_or("missing value")?)?,
            "remove" => {
                pointer_remove(target, path)?;
            }
            "replace" => {
                pointer_remove(target, path)?;
                pointer_add(target, path, value.ok_or("missing value")?)?;
            }
            "test" => {
                if target.pointer(path) != value.as_ref() {
                    return Err(format!("testing value {path} failed"));
                }
            }
            "copy" | "move" => {
                let from = op
                    .get("from")
                    .and_then(Value::as_str)
                    .ok_or("missing from")?;
                let v = target
                    .pointer(from)
                    .cloned()
                    .ok_or_else(|| format!("doc is missing from path: {from}"))?;
                if kind == "move" {
                    pointer_remove(target, from)?;
                }
                pointer_add(target, path, v)?;
            }
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    Ok(())
}

fn split_pointer(path: &str) -> Result<(String, String), String> {
    let idx = path
        .rfind('/')
        .ok_or_else(|| format!("invalid path {path}"))?;
    let last = path[idx + 1..].replace("~1", "/").replace("~0", "~");
    Ok((path[..idx].to_string(), last))
}

fn pointer_add(target: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    let missing = || format!("doc is missing path: {path}");
    match target.pointer_mut(&parent).ok_or_else(missing)? {
        Value::Object(m) => {
            m.insert(last, value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last.parse().map_err(|_| missing())?;
                if i > a.len() {
                    return Err(missing());
                }
                a.insert(i, value);
            }
        }
        _ => return Err(missing()),
    }
    Ok(())
}

fn pointer_remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    let missing = || format!("doc is missing path: {path}");
    match target.pointer_mut(&parent).ok_or_else(missing)? {
        Value::Object(m) => m.remove(&last).ok_or_else(missing),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing())?;
            if i >= a.len() {
                return Err(missing());
            }
            Ok(a.remove(i))
        }
        _ => Err(missing()),
    }
}

// ----- selectors -----

/// One parsed label (or field) selector requirement.
#[derive(Clone, Debug)]
enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed selector (all requirements must hold).
#[derive(Clone, Debug, Default)]
pub struct Selector(Vec<Requirement>);

impl Selector {
    /// Parses `a=b,c!=d,e in (x,y),!f,g`.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut parts = Vec::new();
        let mut depth = 0;
        let mut cur = String::new();
        for c in text.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(std::mem::take(&mut cur));
                    continue;
                }
                _ => {}
            }
            cur.push(c);
        }
        parts.push(cur);
        let mut reqs = Vec::new();
        for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            let set = |rest: &str| -> Result<Vec<String>, String> {
                let rest = rest.trim();
                let inner = rest
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| {
                        format!("unable to parse requirement: found '{rest}', expected: '('")
                    })?;
                Ok(inner.split(',').map(|s| s.trim().to_string()).collect())
            };
            let req = if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==") {
                Requirement::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once('=') {
                Requirement::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                Requirement::NotIn(k.trim().into(), set(rest)?)
            } else if let Some((k, rest)) = part.split_once(" in ") {
                Requirement::In(k.trim().into(), set(rest)?)
            } else if let Some(k) = part.strip_prefix('!') {
                Requirement::NotExists(k.trim().into())
            } else {
                Requirement::Exists(part.into())
            };
            let key = match &req {
                Requirement::Eq(k, _)
                | Requirement::NotEq(k, _)
                | Requirement::In(k, _)
                | Requirement::NotIn(k, _)
                | Requirement::Exists(k)
                | Requirement::NotExists(k) => k,
            };
            if key.is_empty() || key.contains(' ') {
                return Err(format!(
                    "unable to parse requirement: invalid label key \"{key}\""
                ));
            }
            reqs.push(req);
        }
        Ok(Selector(reqs))
    }

    /// Whether `lookup` (key → value) satisfies every requirement.
    pub fn matches(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Eq(k, v) => lookup(k).as_deref() == Some(v.as_str()),
            Requirement::NotEq(k, v) => lookup(k).as_deref() != Some(v.as_str()),
            Requirement::In(k, vs) => lookup(k).is_some_and(|x| vs.contains(&x)),
            Requirement::NotIn(k, vs) => lookup(k).is_none_or(|x| !vs.contains(&x)),
            Requirement::Exists(k) => lookup(k).is_some(),
            Requirement::NotExists(k) => lookup(k).is_none(),
        })
    }
}

// ----- time -----

/// `2026-11-27T07:18:46Z` for `secs` since the epoch.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Parses `rfc3339` output back to epoch seconds.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(n(0..4)?, n(5..7)?, n(8..10)?);
    let secs = days * 86400 + n(11..13)? * 3600 + n(14..16)? * 60 + n(17..19)?;
    u64::try_from(secs).ok()
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// `duration.HumanDuration` as the API server's table printer uses it for AGE.
pub fn human_duration(secs: u64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        let s = secs % 60;
        if s == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{s}s")
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        let mm = m % 60;
        if mm == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{mm}m")
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        let hh = h % 24;
        if hh == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{hh}h")
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else {
        format!("{}y", d / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trips() {
        let t = 1_795_763_926;
        assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn fields_v1_round_trips() {
        let obj = json!({"apiVersion":"v1","kind":"Secret","metadata":{"name":"x","labels":{"a":"b"}},"data":{"k":"dg=="},"type":"Opaque"});
        let set = field_set(&obj);
        let v1 = to_fields_v1(&set);
        assert_eq!(
            v1,
            json!({"f:data":{".":{},"f:k":{}},"f:metadata":{"f:labels":{".":{},"f:a":{}}},"f:type":{}})
        );
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn strategic_merge_patch_merges_containers_by_name() {
        let pod = kind_by_kind("Pod").unwrap();
        let mut obj = json!({"metadata": {"finalizers": ["a"]}, "spec": {
            "containers": [{"name": "a", "image": "x:1", "ports": [{"containerPort": 80}]}, {"name": "b", "image": "y"}],
            "tolerations": [{"key": "k"}]}});
        let patch = json!({"metadata": {"finalizers": ["b"]}, "spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
            "containers": [{"name": "a", "image": "x:2"}, {"name": "b", "$patch": "delete"}, {"name": "c", "image": "z"}],
            "tolerations": [{"key": "other"}]}});
        strategic_merge_patch(pod, &mut obj, &patch);
        assert_eq!(
            obj,
            json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {
                "containers": [{"name": "a", "image": "x:2", "ports": [{"containerPort": 80}]}, {"name": "c", "image": "z"}],
                "tolerations": [{"key": "other"}]}})
        );
        let sa = kind_by_kind("ServiceAccount").unwrap();
        let mut obj = json!({"imagePullSecrets": [{"name": "a"}]});
        strategic_merge_patch(sa, &mut obj, &json!({"imagePullSecrets": [{"name": "b"}]}));
        assert_eq!(obj, json!({"imagePullSecrets": [{"name": "b"}]}));
    }

    #[test]
    fn selectors() {
        let labels = |k: &str| match k {
            "app" => Some("web".to_string()),
            "tier" => Some("front".to_string()),
            _ => None,
        };
        assert!(Selector::parse("app=web").unwrap().matches(labels));
        assert!(Selector::parse("app==web,tier").unwrap().matches(labels));
        assert!(!Selector::parse("app!=web").unwrap().matches(labels));
        assert!(
            Selector::parse("app in (a,web),!x")
                .unwrap()
                .matches(labels)
        );
        assert!(
            !Selector::parse("tier notin (front)")
                .unwrap()
                .matches(labels)
        );
    }
}

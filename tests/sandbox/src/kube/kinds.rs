//! Validation and defaulting of the kinds served for the shipped manifests and the pod
//! diagnosis (issues 21 and 22): core `v1` ConfigMaps and Events, `apps/v1` workloads,
//! `rbac.authorization.k8s.io/v1` roles and bindings, `policy/v1` PodDisruptionBudgets (and
//! their status, computed from the pods they select), and which kinds keep a `status` and a
//! `metadata.generation`.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::objects::{self, ADMISSION, APPS, Kind, POLICY, value_text};
use super::status::{self, ApiError, FieldError};

/// A ConfigMap or Secret key: `[-._a-zA-Z0-9]+`, not `.` or `..`, at most 253 characters.
pub fn config_key_ok(k: &str) -> bool {
    !k.is_empty()
        && k != "."
        && k != ".."
        && k.len() <= 253
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

/// `ValidateConfigMap`: keys of `data` and `binaryData` are config keys and not in both,
/// `binaryData` is base64; on update an `immutable: true` ConfigMap keeps `data`,
/// `binaryData` and `immutable`.
pub fn prepare_config_map(
    map: &mut Map<String, Value>,
    old: Option<&Value>,
    errors: &mut Vec<FieldError>,
) {
    let keys = |field: &str| -> Vec<String> {
        map.get(field)
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let (data, binary) = (keys("data"), keys("binaryData"));
    for (field, list) in [("data", &data), ("binaryData", &binary)] {
        for k in list.iter().filter(|k| !config_key_ok(k)) {
            errors.push(FieldError::invalid(
                format!("{field}[{k}]"),
                k,
                CONFIG_KEY_MSG,
            ));
        }
    }
    for k in data.iter().filter(|k| binary.contains(k)) {
        errors.push(FieldError::invalid(
            format!("data[{k}]"),
            k,
            "duplicate of key present in binaryData",
        ));
    }
    if let Some(b) = map.get("binaryData").and_then(Value::as_object) {
        for (k, v) in b {
            let ok = v
                .as_str()
                .is_some_and(|s| base64::engine::general_purpose::STANDARD.decode(s).is_ok());
            if !ok {
                errors.push(FieldError::invalid(
                    format!("binaryData[{k}]"),
                    &value_text(v),
                    "illegal base64 data",
                ));
            }
        }
    }
    let Some(old) = old.filter(|o| o.get("immutable") == Some(&Value::Bool(true))) else {
        return;
    };
    const FROZEN: &str = "field is immutable when `immutable` is set";
    for field in ["data", "binaryData"] {
        if old.get(field) != map.get(field) {
            errors.push(FieldError::forbidden(field, FROZEN));
        }
    }
    if map.get("immutable") != Some(&Value::Bool(true)) {
        errors.push(FieldError::forbidden("immutable", FROZEN));
    }
}

/// Core `v1` Event validation (`legacyValidateEvent` for a v1 request): without an
/// `eventTime`, `involvedObject.namespace` must be the Event's namespace (or empty, the Event
/// then in `default`); with one, `reportingComponent` and `reportingInstance`, `action`,
/// `reason` and a `type` of `Normal` or `Warning` are required as for `events.k8s.io`.
pub fn prepare_core_event(map: &mut Map<String, Value>, errors: &mut Vec<FieldError>) {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let event_ns = text(map.get("metadata").and_then(|m| m.get("namespace")));
    let involved = map.get("involvedObject");
    let ns = text(involved.and_then(|r| r.get("namespace")));
    let ok = if ns.is_empty() {
        event_ns.is_empty() || event_ns == "default"
    } else {
        ns == event_ns
    };
    if !ok {
        errors.push(FieldError::invalid(
            "involvedObject.namespace",
            &ns,
            "does not match event.namespace",
        ));
    }
    if map.get("eventTime").is_none_or(Value::is_null) {
        return;
    }
    for k in [
        "reportingComponent",
        "reportingInstance",
        "action",
        "reason",
    ] {
        if text(map.get(k)).is_empty() {
            errors.push(FieldError::required(k, ""));
        }
    }
    let ty = text(map.get("type"));
    if ty != "Normal" && ty != "Warning" {
        errors.push(FieldError::unsupported("type", &ty, &["Normal", "Warning"]));
    }
}

/// `metav1.Time` as the API server writes it: RFC 3339 in UTC, whole seconds; `None` if
/// `text` is not RFC 3339.
pub fn seconds_time(text: &str) -> Option<String> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()?
        .to_offset(time::UtcOffset::UTC);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&format).ok()
}

/// Re-encodes a core Event's `firstTimestamp` and `lastTimestamp` (`metav1.Time`); a value
/// that does not decode is a 400, as the decoder says it.
pub fn decode_core_event(obj: &mut Value) -> Result<(), ApiError> {
    for pointer in ["/firstTimestamp", "/lastTimestamp"] {
        let Some(v) = obj.pointer_mut(pointer).filter(|v| !v.is_null()) else {
            continue;
        };
        let text = value_text(v);
        *v = json!(seconds_time(&text).ok_or_else(|| status::bad_request(format!(
            "Event in version \"v1\" cannot be handled as a Event: parsing time \"{text}\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"{text}\" as \"2006\""
        )))?);
    }
    Ok(())
}

/// Kinds whose `status` is kept apart from `spec`: a create starts it (see `initial_status`),
/// an update of the main resource keeps the stored one, only `/status` changes it.
pub fn has_status(kind: Kind) -> bool {
    matches!(kind.group, APPS | POLICY | ADMISSION)
        && kind.kind != "ValidatingAdmissionPolicyBinding"
        || (kind.group.is_empty() && matches!(kind.kind, "Pod" | "Namespace"))
}

/// Kinds with a `metadata.generation` (1 on create, bumped when `spec` changes).
pub fn has_generation(kind: Kind) -> bool {
    matches!(kind.group, APPS | POLICY | ADMISSION) || kind.kind == "Pod"
}

fn initial_status(kind: Kind) -> Value {
    match kind.kind {
        "PodDisruptionBudget" => json!({
            "currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0
        }),
        _ => json!({}),
    }
}

/// Puts the stored `status` (or the initial one on create) back into a written object of a
/// named-group kind with a status; `prepare` dropped the one the client sent.
pub fn keep_status(kind: Kind, map: &mut Map<String, Value>, old: Option<&Value>) {
    if !has_status(kind) {
        return;
    }
    let status = old
        .and_then(|o| o.get("status"))
        .cloned()
        .unwrap_or_else(|| initial_status(kind));
    map.insert("status".into(), status);
}

/// Go's `%#v` of a `map[string]string` (sorted keys), as field errors print label maps.
fn go_string_map(v: Option<&Value>) -> String {
    match v.and_then(Value::as_object) {
        None => "map[string]string(nil)".into(),
        Some(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or("")))
                .collect();
            format!("map[string]string{{{}}}", parts.join(", "))
        }
    }
}

fn raw_invalid(field: &str, value: &str, detail: &str) -> FieldError {
    FieldError {
        reason: "FieldValueInvalid",
        field: field.into(),
        message: format!("Invalid value: {value}: {detail}"),
    }
}

/// Whether a `metav1.LabelSelector` (`matchLabels`, `matchExpressions` with `In`, `NotIn`,
/// `Exists`, `DoesNotExist`) selects `labels`. An empty selector selects everything.
pub fn selector_matches(selector: &Value, labels: Option<&Value>) -> bool {
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let by_label = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let by_expression = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => label(key).is_some_and(|v| values.contains(&v)),
                "NotIn" => label(key).is_none_or(|v| !values.contains(&v)),
                "Exists" => label(key).is_some(),
                "DoesNotExist" => label(key).is_none(),
                _ => false,
            }
        });
    by_label && by_expression
}

fn selector_is_empty(selector: &Value) -> bool {
    let empty = |k: &str| {
        selector.get(k).is_none_or(|v| {
            v.is_null()
                || v.as_object().is_some_and(Map::is_empty)
                || v.as_array().is_some_and(Vec::is_empty)
        })
    };
    empty("matchLabels") && empty("matchExpressions")
}

/// `apps/v1` validation (`ValidateDeploymentSpec` and its siblings): `spec.selector` required,
/// not empty and selecting the template's labels, `spec.template.spec.containers` required
/// with names and images, `spec.replicas` >= 0, the selector immutable; then the defaults.
pub fn prepare_workload(
    kind: Kind,
    map: &mut Map<String, Value>,
    old: Option<&Value>,
    errors: &mut Vec<FieldError>,
) {
    let spec = map.entry("spec").or_insert_with(|| json!({}));
    if !spec.is_object() {
        *spec = json!({});
    }
    match spec.get("selector").filter(|s| !s.is_null()) {
        None => errors.push(FieldError::required("spec.selector", "")),
        Some(sel) if selector_is_empty(sel) => errors.push(raw_invalid(
            "spec.selector",
            &sel.to_string(),
            &format!("empty selector is invalid for {}", kind.singular),
        )),
        Some(sel) => {
            let labels = spec.pointer("/template/metadata/labels");
            if !selector_matches(sel, labels) {
                errors.push(raw_invalid(
                    "spec.template.metadata.labels",
                    &go_string_map(labels),
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
    container_errors(spec.pointer("/template/spec/containers"), errors);
    if let Some(n) = spec
        .get("replicas")
        .and_then(Value::as_i64)
        .filter(|n| *n < 0)
    {
        errors.push(objects::invalid_number(
            "spec.replicas",
            n,
            "must be greater than or equal to 0",
        ));
    }
    if let Some(old_sel) = old.and_then(|o| o.pointer("/spec/selector"))
        && spec.get("selector") != Some(old_sel)
    {
        let new = spec.get("selector").cloned().unwrap_or(Value::Null);
        errors.push(raw_invalid(
            "spec.selector",
            &new.to_string(),
            "field is immutable",
        ));
    }
    workload_defaults(kind, spec);
}

fn container_errors(containers: Option<&Value>, errors: &mut Vec<FieldError>) {
    let list = containers
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
        errors.push(FieldError::required("spec.template.spec.containers", ""));
    }
    for (i, c) in list.iter().enumerate() {
        for k in ["name", "image"] {
            if c.get(k).and_then(Value::as_str).unwrap_or("").is_empty() {
                errors.push(FieldError::required(
                    format!("spec.template.spec.containers[{i}].{k}"),
                    "",
                ));
            }
        }
    }
}

fn set_default(target: &mut Value, key: &str, value: Value) {
    if let Some(m) = target.as_object_mut() {
        m.entry(key).or_insert(value);
    }
}

/// The defaults of `SetDefaults_Deployment` and its siblings, and of the pod template's spec.
fn workload_defaults(kind: Kind, spec: &mut Value) {
    if kind.kind != "DaemonSet" {
        set_default(spec, "replicas", json!(1));
    }
    if kind.kind != "ReplicaSet" {
        set_default(spec, "revisionHistoryLimit", json!(10));
    }
    match kind.kind {
        "Deployment" => {
            set_default(spec, "progressDeadlineSeconds", json!(600));
            set_default(spec, "strategy", json!({"type": "RollingUpdate"}));
            if spec.pointer("/strategy/type") == Some(&json!("RollingUpdate")) {
                set_default(
                    &mut spec["strategy"],
                    "rollingUpdate",
                    json!({"maxUnavailable": "25%", "maxSurge": "25%"}),
                );
            }
        }
        "StatefulSet" => {
            set_default(spec, "podManagementPolicy", json!("OrderedReady"));
            set_default(
                spec,
                "updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
            );
            set_default(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
        }
        "DaemonSet" => set_default(
            spec,
            "updateStrategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
        ),
        _ => {}
    }
    if let Some(pod) = spec.pointer_mut("/template/spec") {
        template_defaults(pod);
    }
}

/// `SetDefaults_PodSpec` for a pod template (no ServiceAccount admission, no priority).
fn template_defaults(pod: &mut Value) {
    for (k, v) in [
        ("restartPolicy", json!("Always")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("dnsPolicy", json!("ClusterFirst")),
        ("securityContext", json!({})),
        ("schedulerName", json!("default-scheduler")),
    ] {
        set_default(pod, k, v);
    }
    if let Some(sa) = pod.get("serviceAccountName").cloned() {
        set_default(pod, "serviceAccount", sa);
    }
    let containers = pod.get_mut("containers").and_then(Value::as_array_mut);
    for c in containers.into_iter().flatten() {
        let image = c
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        set_default(c, "imagePullPolicy", json!(image_pull_policy(&image)));
        set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
        set_default(c, "terminationMessagePolicy", json!("File"));
        set_default(c, "resources", json!({}));
    }
}

/// `Always` for `:latest` or no tag, else `IfNotPresent` (a digest is `IfNotPresent`).
pub fn image_pull_policy(image: &str) -> &'static str {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        "IfNotPresent"
    } else if !last.contains(':') || last.ends_with(":latest") {
        "Always"
    } else {
        "IfNotPresent"
    }
}

/// RBAC validation: rules need verbs, and (resource rules) apiGroups and resources; a
/// binding's `roleRef` names a Role or ClusterRole (a ClusterRoleBinding only a ClusterRole)
/// of `rbac.authorization.k8s.io` and never changes; subjects are ServiceAccounts (with a
/// namespace in a ClusterRoleBinding), Users or Groups (their apiGroup defaulted).
pub fn prepare_rbac(
    kind: Kind,
    map: &mut Map<String, Value>,
    old: Option<&Value>,
    errors: &mut Vec<FieldError>,
) {
    match kind.kind {
        "Role" | "ClusterRole" => rule_errors(map.get("rules"), errors),
        _ => binding_errors(kind, map, old, errors),
    }
}

fn rule_errors(rules: Option<&Value>, errors: &mut Vec<FieldError>) {
    let rules = rules.and_then(Value::as_array).cloned().unwrap_or_default();
    for (i, rule) in rules.iter().enumerate() {
        let len = |k: &str| rule.get(k).and_then(Value::as_array).map_or(0, Vec::len);
        if len("verbs") == 0 {
            errors.push(FieldError::required(
                format!("rules[{i}].verbs"),
                "verbs must contain at least one value",
            ));
        }
        if len("nonResourceURLs") > 0 {
            continue;
        }
        if len("apiGroups") == 0 {
            errors.push(FieldError::required(
                format!("rules[{i}].apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if len("resources") == 0 {
            errors.push(FieldError::required(
                format!("rules[{i}].resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
}

fn binding_errors(
    kind: Kind,
    map: &mut Map<String, Value>,
    old: Option<&Value>,
    errors: &mut Vec<FieldError>,
) {
    let role_ref = map.get("roleRef").cloned().unwrap_or(json!({}));
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let ref_kinds: &[&str] = if kind.namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    if !ref_kinds.contains(&text(&role_ref, "kind").as_str()) {
        errors.push(FieldError::unsupported(
            "roleRef.kind",
            &text(&role_ref, "kind"),
            ref_kinds,
        ));
    }
    if text(&role_ref, "apiGroup") != objects::RBAC {
        errors.push(FieldError::unsupported(
            "roleRef.apiGroup",
            &text(&role_ref, "apiGroup"),
            &[objects::RBAC],
        ));
    }
    if text(&role_ref, "name").is_empty() {
        errors.push(FieldError::required("roleRef.name", ""));
    }
    if let Some(old_ref) = old.and_then(|o| o.get("roleRef"))
        && old_ref != &role_ref
    {
        let go = format!(
            "rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}",
            text(&role_ref, "apiGroup"),
            text(&role_ref, "kind"),
            text(&role_ref, "name")
        );
        errors.push(raw_invalid("roleRef", &go, "cannot change roleRef"));
    }
    let subjects = map.get_mut("subjects").and_then(Value::as_array_mut);
    for (i, s) in subjects.into_iter().flatten().enumerate() {
        subject_errors(kind, i, s, errors);
    }
}

fn subject_errors(kind: Kind, i: usize, s: &mut Value, errors: &mut Vec<FieldError>) {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    if text(s, "name").is_empty() {
        errors.push(FieldError::required(format!("subjects[{i}].name"), ""));
    }
    match text(s, "kind").as_str() {
        "ServiceAccount" => {
            if !text(s, "apiGroup").is_empty() {
                errors.push(FieldError::unsupported(
                    format!("subjects[{i}].apiGroup"),
                    &text(s, "apiGroup"),
                    &[""],
                ));
            }
            if !kind.namespaced && text(s, "namespace").is_empty() {
                errors.push(FieldError::required(format!("subjects[{i}].namespace"), ""));
            }
        }
        "User" | "Group" => set_default(s, "apiGroup", json!(objects::RBAC)),
        other => errors.push(FieldError::unsupported(
            format!("subjects[{i}].kind"),
            other,
            &["ServiceAccount", "User", "Group"],
        )),
    }
}

/// `policy/v1` validation: `minAvailable` and `maxUnavailable` are not both set.
pub fn prepare_pdb(map: &mut Map<String, Value>, errors: &mut Vec<FieldError>) {
    let spec = map.entry("spec").or_insert_with(|| json!({}));
    let set = |k: &str| spec.get(k).is_some_and(|v| !v.is_null());
    if set("minAvailable") && set("maxUnavailable") {
        errors.push(raw_invalid(
            "spec",
            &spec.to_string(),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
}

/// An `IntOrString` (`2` or `"50%"`) of `total`, percentages rounded up.
fn scaled(v: &Value, total: i64) -> i64 {
    match v {
        Value::String(s) => {
            let p: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            (p * total + 99) / 100
        }
        other => other.as_i64().unwrap_or(0),
    }
}

/// Whether a pod counts as healthy for a disruption budget: running, not being deleted, and
/// not reported unready (the sandbox runs nothing: a test seeds `status.phase: Running`).
pub fn pod_healthy(pod: &Value) -> bool {
    let unready = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "False");
    pod.pointer("/status/phase") == Some(&json!("Running"))
        && pod.pointer("/metadata/deletionTimestamp").is_none()
        && !unready
}

/// Whether a PodDisruptionBudget selects `pod` (policy/v1: a null selector selects none,
/// an empty one every pod of its namespace).
pub fn pdb_selects(pdb: &Value, pod: &Value) -> bool {
    pdb.pointer("/spec/selector")
        .filter(|s| !s.is_null())
        .is_some_and(|s| selector_matches(s, pod.pointer("/metadata/labels")))
}

/// The status the disruption controller would write for `pdb` over the pods of its
/// namespace: `expectedPods` the selected pods not being deleted, `currentHealthy` the healthy
/// ones, `desiredHealthy` from `minAvailable` (or `expectedPods - maxUnavailable`), and
/// `disruptionsAllowed` = currentHealthy - desiredHealthy, at least 0.
pub fn pdb_status(pdb: &Value, pods: &[&Value]) -> Value {
    let selected: Vec<&&Value> = pods
        .iter()
        .filter(|p| pdb_selects(pdb, p) && p.pointer("/metadata/deletionTimestamp").is_none())
        .collect();
    let expected = selected.len() as i64;
    let healthy = selected.iter().filter(|p| pod_healthy(p)).count() as i64;
    let desired = match (
        pdb.pointer("/spec/minAvailable"),
        pdb.pointer("/spec/maxUnavailable"),
    ) {
        (Some(min), _) if !min.is_null() => scaled(min, expected),
        (_, Some(max)) if !max.is_null() => (expected - scaled(max, expected)).max(0),
        _ => 0,
    };
    json!({
        "observedGeneration": pdb.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        "disruptionsAllowed": (healthy - desired).max(0),
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
    })
}

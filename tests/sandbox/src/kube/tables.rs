//! Server-side Table columns and cells of the `apps`, `rbac.authorization.k8s.io`,
//! `admissionregistration.k8s.io` and `policy` kinds, as the real printers (`printDeployment`,
//! `printRoleBinding`, ...) fill them; a kind without a printer gets `Name` and `Created At`.

use serde_json::{Value, json};

use super::discovery::column;
use super::objects::Kind;

fn col(name: &str, description: &str, priority: u8) -> Value {
    column(name, "string", "", description, priority)
}

fn int_col(name: &str, description: &str) -> Value {
    column(name, "integer", "", description, 0)
}

fn wide_template_cols() -> [Value; 2] {
    [
        col("Containers", "Names of each container in the template.", 1),
        col(
            "Images",
            "Images referenced by each container in the template.",
            1,
        ),
    ]
}

fn selector_col() -> Value {
    col(
        "Selector",
        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
        1,
    )
}

/// The columns of `kind`'s Table (`name` and `age` are the shared Name and Age columns).
pub fn columns(kind: Kind, name: Value, age: Value) -> Vec<Value> {
    let mut cols = match kind.kind {
        "Deployment" => vec![
            name,
            col("Ready", "Number of the pod with ready state", 0),
            int_col(
                "Up-to-date",
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            int_col(
                "Available",
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            age,
        ],
        "ReplicaSet" => vec![
            name,
            int_col("Desired", "Replicas is the number of desired replicas."),
            int_col(
                "Current",
                "Replicas is the most recently observed number of replicas.",
            ),
            int_col(
                "Ready",
                "The number of ready replicas for this replica set.",
            ),
            age,
        ],
        "StatefulSet" => vec![
            name,
            col("Ready", "Number of the pod with ready state", 0),
            age,
        ],
        "DaemonSet" => vec![
            name,
            int_col(
                "Desired",
                "The total number of nodes that should be running the daemon pod.",
            ),
            int_col(
                "Current",
                "The number of nodes that are running at least 1 daemon pod.",
            ),
            int_col(
                "Ready",
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
            ),
            int_col(
                "Up-to-date",
                "The total number of nodes that are running updated daemon pod",
            ),
            int_col(
                "Available",
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available.",
            ),
            col(
                "Node Selector",
                "NodeSelector is a selector which must be true for the pod to fit on a node.",
                0,
            ),
            age,
        ],
        "RoleBinding" | "ClusterRoleBinding" => vec![
            name,
            col(
                "Role",
                "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.",
                0,
            ),
            age,
            col("Users", "Users in the roleBinding", 1),
            col("Groups", "Groups in the roleBinding", 1),
            col("ServiceAccounts", "ServiceAccounts in the roleBinding", 1),
        ],
        "PodDisruptionBudget" => vec![
            name,
            col(
                "Min Available",
                "The minimum number of pods that must be available simultaneously.",
                0,
            ),
            col(
                "Max Unavailable",
                "The maximum number of pods that may be unavailable simultaneously.",
                0,
            ),
            int_col(
                "Allowed Disruptions",
                "Calculated number of pods that may be disrupted at this time.",
            ),
            age,
        ],
        "ValidatingAdmissionPolicy" => vec![
            name,
            int_col(
                "Validations",
                "Validations is the number of validation expressions.",
            ),
            col(
                "ParamKind",
                "ParamKind specifies the kind of resources used to parameterize this policy",
                0,
            ),
            age,
        ],
        "ValidatingAdmissionPolicyBinding" => vec![
            name,
            col(
                "PolicyName",
                "PolicyName references a ValidatingAdmissionPolicy name.",
                0,
            ),
            col(
                "ParamRef",
                "ParamRef specifies the parameter resource used to configure the admission control policy.",
                0,
            ),
            age,
        ],
        _ => vec![
            name,
            column(
                "Created At",
                "date",
                "",
                "CreationTimestamp is a timestamp representing the server time when this object was created.",
                0,
            ),
        ],
    };
    match kind.kind {
        "Deployment" | "ReplicaSet" => {
            cols.extend(wide_template_cols());
            cols.push(selector_col());
        }
        "StatefulSet" => cols.extend(wide_template_cols()),
        _ => {}
    }
    cols
}

fn int_at(o: &Value, pointer: &str) -> i64 {
    o.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// `name` of each container of the pod template, and their images, comma-separated.
fn template_cells(o: &Value) -> [Value; 2] {
    let containers = o
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let join = |k: &str| {
        containers
            .iter()
            .filter_map(|c| c.get(k).and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(",")
    };
    [json!(join("name")), json!(join("image"))]
}

fn selector_text(o: &Value) -> Value {
    let labels = o
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let text: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    json!(if text.is_empty() {
        "<none>".to_string()
    } else {
        text.join(",")
    })
}

fn subjects_of(o: &Value, kind: &str) -> Value {
    let names: Vec<String> = o
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s["kind"] == kind)
        .map(|s| {
            let name = s["name"].as_str().unwrap_or("");
            match s["namespace"].as_str().filter(|_| kind == "ServiceAccount") {
                Some(ns) => format!("{ns}/{name}"),
                None => name.to_string(),
            }
        })
        .collect();
    json!(names.join(", "))
}

fn or_none(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => json!(s),
        Some(Value::Number(n)) => json!(n.to_string()),
        _ => json!("N/A"),
    }
}

/// The cells of one row of `kind`'s Table.
pub fn cells(kind: Kind, o: &Value, name: Value, age: String) -> Vec<Value> {
    let replicas = int_at(o, "/spec/replicas");
    let mut row = match kind.kind {
        "Deployment" => vec![
            name,
            json!(format!("{}/{replicas}", int_at(o, "/status/readyReplicas"))),
            json!(int_at(o, "/status/updatedReplicas")),
            json!(int_at(o, "/status/availableReplicas")),
            json!(age),
        ],
        "ReplicaSet" => vec![
            name,
            json!(replicas),
            json!(int_at(o, "/status/replicas")),
            json!(int_at(o, "/status/readyReplicas")),
            json!(age),
        ],
        "StatefulSet" => vec![
            name,
            json!(format!("{}/{replicas}", int_at(o, "/status/readyReplicas"))),
            json!(age),
        ],
        "DaemonSet" => {
            let selector = o
                .pointer("/spec/template/spec/nodeSelector")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "<none>".into());
            let mut row = vec![name];
            for f in [
                "desiredNumberScheduled",
                "currentNumberScheduled",
                "numberReady",
                "updatedNumberScheduled",
                "numberAvailable",
            ] {
                row.push(json!(int_at(o, &format!("/status/{f}"))));
            }
            row.extend([json!(selector), json!(age)]);
            row
        }
        "RoleBinding" | "ClusterRoleBinding" => vec![
            name,
            json!(format!(
                "{}/{}",
                o.pointer("/roleRef/kind")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                o.pointer("/roleRef/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            )),
            json!(age),
            subjects_of(o, "User"),
            subjects_of(o, "Group"),
            subjects_of(o, "ServiceAccount"),
        ],
        "PodDisruptionBudget" => vec![
            name,
            or_none(o.pointer("/spec/minAvailable")),
            or_none(o.pointer("/spec/maxUnavailable")),
            json!(int_at(o, "/status/disruptionsAllowed")),
            json!(age),
        ],
        "ValidatingAdmissionPolicy" => {
            let n = o
                .pointer("/spec/validations")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let param = o
                .pointer("/spec/paramKind")
                .map(|p| {
                    format!(
                        "{}/{}",
                        p["apiVersion"].as_str().unwrap_or(""),
                        p["kind"].as_str().unwrap_or("")
                    )
                })
                .unwrap_or_else(|| "<unset>".into());
            vec![name, json!(n), json!(param), json!(age)]
        }
        "ValidatingAdmissionPolicyBinding" => vec![
            name,
            o.pointer("/spec/policyName").cloned().unwrap_or(json!("")),
            json!(if o.pointer("/spec/paramRef").is_some() {
                "*"
            } else {
                "<unset>"
            }),
            json!(age),
        ],
        _ => vec![
            name,
            o.pointer("/metadata/creationTimestamp")
                .cloned()
                .unwrap_or(json!("")),
        ],
    };
    match kind.kind {
        "Deployment" | "ReplicaSet" => {
            row.extend(template_cells(o));
            row.push(selector_text(o));
        }
        "StatefulSet" => row.extend(template_cells(o)),
        _ => {}
    }
    row
}

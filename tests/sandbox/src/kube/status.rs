//! `metav1.Status` error objects, with the messages the real API server uses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A failed request, rendered as a `Status` object.
#[derive(Clone, Debug)]
pub struct ApiError {
    /// HTTP status code (also the `code` field).
    pub code: u16,
    /// `reason`, e.g. `NotFound`.
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// `details`, or `None` to omit it.
    pub details: Option<Value>,
}

impl ApiError {
    /// The `Status` JSON object.
    pub fn to_json(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        super::json_response(status, &self.to_json())
    }
}

/// `details` of a Status about `name` of a group-qualified `resource`
/// (`leases.coordination.k8s.io` → `kind: leases`, `group: coordination.k8s.io`).
pub fn details(name: &str, resource: &str) -> Value {
    let (plural, group) = split_resource(resource);
    let mut d = if name.is_empty() {
        json!({ "kind": plural })
    } else {
        json!({ "name": name, "kind": plural })
    };
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    d
}

/// `leases.coordination.k8s.io` → (`leases`, `coordination.k8s.io`); `secrets` → (`secrets`, ``).
fn split_resource(resource: &str) -> (&str, &str) {
    resource.split_once('.').unwrap_or((resource, ""))
}

/// 404 `secrets "x" not found`.
pub fn not_found(resource: &str, name: &str) -> ApiError {
    ApiError {
        code: 404,
        reason: "NotFound",
        message: format!("{resource} \"{name}\" not found"),
        details: Some(details(name, resource)),
    }
}

/// 403 from the NamespaceLifecycle admission plugin: a create in a namespace in phase
/// `Terminating`. Same message, details and cause as
/// `staging/src/k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle/admission.go`
/// (`admission.NewForbidden` plus a `StatusCause` of type `NamespaceTerminating`, serialised as
/// `reason`). `name` is empty for a `generateName` create.
pub fn namespace_terminating(resource: &str, name: &str, namespace: &str) -> ApiError {
    let subject = if name.is_empty() {
        format!("{resource} is forbidden")
    } else {
        format!("{resource} \"{name}\" is forbidden")
    };
    let mut details = details(name, resource);
    details["causes"] = json!([{
        "reason": "NamespaceTerminating",
        "message": format!("namespace {namespace} is being terminated"),
        "field": "metadata.namespace",
    }]);
    ApiError {
        code: 403,
        reason: "Forbidden",
        message: format!(
            "{subject}: unable to create new content in namespace {namespace} because it is being terminated"
        ),
        details: Some(details),
    }
}

/// 404 for a path the server does not serve.
pub fn no_such_path() -> ApiError {
    ApiError {
        code: 404,
        reason: "NotFound",
        message: "the server could not find the requested resource".into(),
        details: Some(json!({})),
    }
}

/// 409 `secrets "x" already exists`.
pub fn already_exists(resource: &str, name: &str) -> ApiError {
    ApiError {
        code: 409,
        reason: "AlreadyExists",
        message: format!("{resource} \"{name}\" already exists"),
        details: Some(details(name, resource)),
    }
}

/// 409 Conflict on a stale `resourceVersion`.
pub fn conflict(resource: &str, name: &str) -> ApiError {
    ApiError {
        code: 409,
        reason: "Conflict",
        message: format!(
            "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
        ),
        details: Some(details(name, resource)),
    }
}

/// 409 Conflict from server-side apply: fields owned by other managers.
/// `conflicts` holds (manager as printed, field path like `.data.x`); a manager prints as
/// `"name"` for an Apply entry and `"name" using v1` for an Update entry, as the API server's
/// field manager does.
pub fn apply_conflict(resource: &str, name: &str, conflicts: &[(String, String)]) -> ApiError {
    let n = conflicts.len();
    let message = if n == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            conflicts[0].0, conflicts[0].1
        )
    } else {
        let mut by_manager: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for (m, field) in conflicts {
            by_manager.entry(m).or_default().push(field);
        }
        let mut lines = Vec::new();
        for (m, fields) in by_manager {
            lines.push(format!("conflicts with {m}:"));
            lines.extend(fields.iter().map(|f| format!("- {f}")));
        }
        format!("Apply failed with {n} conflicts: {}", lines.join("\n"))
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(mgr, field)| {
            json!({"reason": "FieldManagerConflict", "message": format!("conflict with {mgr}"), "field": field})
        })
        .collect();
    let mut d = details(name, resource);
    d["causes"] = Value::Array(causes);
    ApiError {
        code: 409,
        reason: "Conflict",
        message,
        details: Some(d),
    }
}

/// One field error of a 422 Invalid status.
#[derive(Clone, Debug)]
pub struct FieldError {
    /// `FieldValueInvalid`, `FieldValueRequired`, ...
    pub reason: &'static str,
    /// JSON path, e.g. `metadata.name`.
    pub field: String,
    /// The detail, e.g. `Invalid value: "X": a lowercase ...`.
    pub message: String,
}

impl FieldError {
    /// `Invalid value: "v": detail`.
    pub fn invalid(field: impl Into<String>, value: &str, detail: &str) -> Self {
        FieldError {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: format!("Invalid value: \"{value}\": {detail}"),
        }
    }

    /// `Required value[: detail]`.
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        FieldError {
            reason: "FieldValueRequired",
            field: field.into(),
            message: if detail.is_empty() {
                "Required value".into()
            } else {
                format!("Required value: {detail}")
            },
        }
    }

    /// `Forbidden: detail`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        FieldError {
            reason: "FieldValueForbidden",
            field: field.into(),
            message: format!("Forbidden: {detail}"),
        }
    }

    /// `Unsupported value: "v": supported values: "a", "b"`.
    pub fn unsupported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        FieldError {
            reason: "FieldValueNotSupported",
            field: field.into(),
            message: format!(
                "Unsupported value: \"{value}\": supported values: {}",
                list.join(", ")
            ),
        }
    }
}

/// 422 `Secret "X" is invalid: metadata.name: Invalid value: ...`.
/// `kind` is the Kind (`Secret`) or a qualified kind like `CreateOptions.meta.k8s.io`.
pub fn invalid(kind: &str, name: &str, group: Option<&str>, errors: &[FieldError]) -> ApiError {
    let rendered: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    let list = if rendered.len() == 1 {
        rendered[0].clone()
    } else {
        format!("[{}]", rendered.join(", "))
    };
    let qualified = match group {
        Some(g) => format!("{kind}.{g}"),
        None => kind.to_string(),
    };
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| json!({"reason": e.reason, "message": e.message, "field": e.field}))
        .collect();
    let mut d = json!({ "name": name, "kind": kind, "causes": causes });
    if let Some(g) = group {
        d["group"] = json!(g);
    }
    ApiError {
        code: 422,
        reason: "Invalid",
        message: format!("{qualified} \"{name}\" is invalid: {list}"),
        details: Some(d),
    }
}

/// 400 Bad Request.
pub fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError {
        code: 400,
        reason: "BadRequest",
        message: message.into(),
        details: None,
    }
}

/// 401 Unauthorized.
pub fn unauthorized() -> ApiError {
    ApiError {
        code: 401,
        reason: "Unauthorized",
        message: "Unauthorized".into(),
        details: None,
    }
}

/// 403 Forbidden with the RBAC authorizer's message.
pub fn forbidden(
    user: &str,
    verb: &str,
    resource: &str,
    name: &str,
    namespace: Option<&str>,
) -> ApiError {
    // A subresource (`pods/eviction`, `deployments.apps/status`) is named after its resource.
    let (base, sub) = resource
        .split_once('/')
        .map_or((resource, None), |(b, s)| (b, Some(s)));
    let subject = if name.is_empty() {
        base.to_string()
    } else {
        format!("{base} \"{name}\"")
    };
    let (plural, group) = split_resource(base);
    let plural = match sub {
        Some(s) => format!("{plural}/{s}"),
        None => plural.to_string(),
    };
    let scope = match namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    ApiError {
        code: 403,
        reason: "Forbidden",
        message: format!(
            "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{plural}\" in API group \"{group}\" {scope}"
        ),
        details: Some(details(name, base)),
    }
}

/// 405 Method Not Allowed.
pub fn method_not_allowed() -> ApiError {
    ApiError {
        code: 405,
        reason: "MethodNotAllowed",
        message: "the server does not allow this method on the requested resource".into(),
        details: Some(json!({})),
    }
}

/// 415 for a body in a format the server does not read.
pub fn unsupported_media_type(content_type: &str) -> ApiError {
    ApiError {
        code: 415,
        reason: "UnsupportedMediaType",
        message: format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {content_type:?})"
        ),
        details: None,
    }
}

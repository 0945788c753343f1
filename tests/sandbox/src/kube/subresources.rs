//! Subresources: `/status` of the kinds with a status (get, update, patch: only `status`
//! changes) and `POST .../pods/<name>/eviction` (the disruption budget check of the real
//! eviction REST handler, then the delete).

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::objects::{self, Kind};
use super::status::{self, ApiError};
use super::{Ctx, json_response, key, kinds};

/// `GET|PUT|PATCH <object>/status`. RBAC resource `<resource>/status`
/// (`deployments.apps/status`).
pub(super) fn status(
    ctx: &Ctx,
    method: &Method,
    kind: Kind,
    ns: &str,
    name: &str,
) -> Result<Response, ApiError> {
    if !kinds::has_status(kind) {
        return Err(status::no_such_path());
    }
    let verb = match *method {
        Method::GET => "get",
        Method::PUT => "update",
        Method::PATCH => "patch",
        _ => return Err(status::method_not_allowed()),
    };
    let scope = kind.namespaced.then_some(ns);
    let resource = format!("{}/status", kind.qualified());
    ctx.user.authorize(verb, &resource, name, scope)?;
    let old = super::stored(ctx, kind, ns, name)?;
    if *method == Method::GET {
        return Ok(json_response(StatusCode::OK, &old));
    }
    let put = *method == Method::PUT;
    let dry_run = ctx.dry_run(if put { "UpdateOptions" } else { "PatchOptions" })?;
    let candidate = if put {
        let mut obj = ctx.body_json()?;
        super::check_body(kind, &mut obj, ns)?;
        super::check_name(&obj, name)?;
        let sent = obj
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str);
        if sent.is_some_and(|rv| Some(rv) != rv_of(&old)) {
            return Err(status::conflict(&kind.qualified(), name));
        }
        obj
    } else {
        patched(ctx, kind, &old)?
    };
    let mut new = old.clone();
    new["status"] = candidate.get("status").cloned().unwrap_or(json!({}));
    if new == old {
        return Ok(json_response(StatusCode::OK, &old));
    }
    let mut store = ctx.world.kube.lock();
    let k = key(kind, ns, name);
    if store.objects.get(&k).and_then(rv_of) != rv_of(&old) {
        return Err(status::conflict(&kind.qualified(), name));
    }
    if !dry_run {
        new["metadata"]["resourceVersion"] = json!(store.bump());
        store.put(k, new.clone());
    }
    Ok(json_response(StatusCode::OK, &new))
}

fn rv_of(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
}

/// `old` with the request's patch applied (merge, strategic merge or JSON patch).
fn patched(ctx: &Ctx, kind: Kind, old: &Value) -> Result<Value, ApiError> {
    let ct = ctx.content_type.split(';').next().unwrap_or("").trim();
    let patch = ctx.body_json()?;
    let mut new = old.clone();
    match ct {
        "application/json-patch+json" => {
            objects::json_patch(&mut new, &patch).map_err(|e| ApiError {
                code: 422,
                reason: "Invalid",
                message: e,
                details: None,
            })?
        }
        "application/strategic-merge-patch+json" => {
            objects::strategic_merge_patch(kind, &mut new, &patch)
        }
        "application/merge-patch+json" => objects::merge_patch(&mut new, &patch),
        other => return Err(status::unsupported_media_type(other)),
    }
    Ok(new)
}

/// `POST /api/v1/namespaces/<ns>/pods/<name>/eviction` with a `policy/v1` Eviction: as the
/// real handler, a pod that is Pending, Succeeded, Failed or being deleted is deleted at once;
/// otherwise the PodDisruptionBudget selecting it (more than one is a 500) must allow a
/// disruption, else 429 TooManyRequests with cause `DisruptionBudget`. Success is a 201
/// `Status`. `dryRun=All` (or `deleteOptions.dryRun`) checks without deleting. RBAC resource
/// `pods/eviction`, verb `create`.
pub(super) fn evict(
    ctx: &Ctx,
    method: &Method,
    ns: &str,
    name: &str,
) -> Result<Response, ApiError> {
    if *method != Method::POST {
        return Err(status::method_not_allowed());
    }
    ctx.user
        .authorize("create", "pods/eviction", name, Some(ns))?;
    let body = ctx.body_json()?;
    if !body.is_object() {
        return Err(status::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let kind = body
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("Eviction");
    if kind != "Eviction" {
        return Err(status::bad_request(format!(
            "Eviction in version \"v1\" cannot be handled as a Eviction: the object provided is of kind {kind}"
        )));
    }
    let body_name = body.pointer("/metadata/name").and_then(Value::as_str);
    if body_name.is_some_and(|n| !n.is_empty() && n != name) {
        return Err(status::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let dry_run = ctx.dry_run("CreateOptions")?
        || body
            .pointer("/deleteOptions/dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    let pods = objects::kind_by_resource("pods").expect("pods");
    let mut store = ctx.world.kube.lock();
    let k = key(pods, ns, name);
    let pod = store
        .objects
        .get(&k)
        .cloned()
        .ok_or_else(|| status::not_found("pods", name))?;
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    let ignores_budget = matches!(phase, Some("Pending" | "Succeeded" | "Failed"))
        || pod.pointer("/metadata/deletionTimestamp").is_some();
    if !ignores_budget {
        check_budget(&store.objects, ns, &pod)?;
    }
    if !dry_run {
        store.delete(&k);
    }
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
    ))
}

fn check_budget(
    objects: &std::collections::BTreeMap<super::Key, Value>,
    ns: &str,
    pod: &Value,
) -> Result<(), ApiError> {
    let in_ns = |resource: &str| -> Vec<&Value> {
        objects
            .iter()
            .filter(|((r, n, _), _)| r == resource && n == ns)
            .map(|(_, v)| v)
            .collect()
    };
    let pods = in_ns("pods");
    let budgets: Vec<&Value> = in_ns("poddisruptionbudgets.policy")
        .into_iter()
        .filter(|b| kinds::pdb_selects(b, pod))
        .collect();
    if budgets.len() > 1 {
        let message = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";
        return Err(ApiError {
            code: 500,
            reason: "InternalError",
            message: format!("Internal error occurred: {message}"),
            details: Some(json!({"causes": [{"message": message}]})),
        });
    }
    let Some(budget) = budgets.first() else {
        return Ok(());
    };
    let st = kinds::pdb_status(budget, &pods);
    if st["disruptionsAllowed"].as_i64().unwrap_or(0) > 0 {
        return Ok(());
    }
    let pdb_name = budget
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    Err(ApiError {
        code: 429,
        reason: "TooManyRequests",
        message: "Cannot evict pod as it would violate the pod's disruption budget.".into(),
        details: Some(json!({"causes": [{
            "reason": "DisruptionBudget",
            "message": format!(
                "The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
                st["desiredHealthy"], st["currentHealthy"]
            ),
        }]})),
    })
}

//! Discovery (`/version`, `/api`, `/api/v1`, `/apis`, aggregated discovery v2), the OpenAPI v3
//! documents kubectl downloads for validation, and server-side `Table` rendering.

use serde_json::{Value, json};

use super::objects::{self, GROUP_KINDS, KINDS, Kind, VERBS};

/// `GET /version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "36",
        "emulationMajor": "1",
        "emulationMinor": "36",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "35",
        "gitVersion": "v1.36.3+dedicated-sandbox",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// Content type of an aggregated discovery response.
pub const AGGREGATED_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether `accept` asks for aggregated discovery v2.
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let p: Vec<&str> = part.split(';').map(str::trim).collect();
        p.contains(&"g=apidiscovery.k8s.io")
            && p.contains(&"v=v2")
            && p.contains(&"as=APIGroupDiscoveryList")
    })
}

/// Legacy `GET /api`.
pub fn api_versions(server_addr: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_addr}]
    })
}

/// The one API group served besides the core group, for `kubectl auth can-i`.
pub const AUTHZ_GROUP: &str = "authorization.k8s.io";

/// Legacy `GET /apis`: `authorization.k8s.io` (SelfSubjectAccessReview only), then the groups
/// of [`GROUP_KINDS`] (`coordination.k8s.io`, `events.k8s.io`).
pub fn api_group_list() -> Value {
    let version = json!({"groupVersion": "authorization.k8s.io/v1", "version": "v1"});
    let mut groups =
        vec![json!({"name": AUTHZ_GROUP, "versions": [version], "preferredVersion": version})];
    groups.extend(served_groups().map(|g| {
        let mut group = api_group(g);
        if let Some(m) = group.as_object_mut() {
            m.remove("kind");
            m.remove("apiVersion");
        }
        group
    }));
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// The named groups of [`GROUP_KINDS`], each once, in order.
fn served_groups() -> impl Iterator<Item = &'static str> {
    GROUP_KINDS
        .iter()
        .enumerate()
        .filter(|(i, k)| !GROUP_KINDS[..*i].iter().any(|p| p.group == k.group))
        .map(|(_, k)| k.group)
}

/// Whether `group` is one of [`GROUP_KINDS`]'s groups (not `authorization.k8s.io`).
pub fn serves_group(group: &str) -> bool {
    GROUP_KINDS.iter().any(|k| k.group == group)
}

/// Legacy `GET /apis/<group>` for a group of [`GROUP_KINDS`] (only `v1`).
pub fn api_group(group: &str) -> Value {
    let version = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [version], "preferredVersion": version})
}

/// Legacy `GET /apis/<group>/v1` for a group of [`GROUP_KINDS`].
pub fn group_resource_list(group: &str) -> Value {
    let resources: Vec<Value> = GROUP_KINDS
        .iter()
        .filter(|k| k.group == group)
        .map(|k| {
            let mut r = json!({
                "name": k.resource,
                "singularName": k.singular,
                "namespaced": k.namespaced,
                "kind": k.kind,
                "verbs": VERBS,
                "storageVersionHash": storage_hash(k),
            });
            if !k.short_names.is_empty() {
                r["shortNames"] = json!(k.short_names);
            }
            r
        })
        .collect();
    let mut resources = resources;
    resources.extend(legacy_subresources(GROUP_KINDS, group));
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{group}/v1"), "resources": resources})
}

/// Legacy `GET /apis/authorization.k8s.io/v1`.
pub fn authz_resource_list() -> Value {
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "authorization.k8s.io/v1", "resources": [
        {"name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview", "namespaced": false,
         "kind": "SelfSubjectAccessReview", "verbs": ["create"]}
    ]})
}

/// Legacy `GET /apis/authorization.k8s.io`.
pub fn authz_group() -> Value {
    let version = json!({"groupVersion": "authorization.k8s.io/v1", "version": "v1"});
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": AUTHZ_GROUP, "versions": [version], "preferredVersion": version})
}

/// Legacy `GET /api/v1`.
pub fn api_resource_list() -> Value {
    let resources: Vec<Value> = KINDS
        .iter()
        .map(|k| {
            let mut r = json!({
                "name": k.resource,
                "singularName": k.singular,
                "namespaced": k.namespaced,
                "kind": k.kind,
                "verbs": VERBS,
                "storageVersionHash": storage_hash(k),
            });
            if !k.short_names.is_empty() {
                r["shortNames"] = json!(k.short_names);
            }
            if k.resource == "pods" {
                r["categories"] = json!(["all"]);
            }
            r
        })
        .collect();
    let mut resources = resources;
    resources.extend(legacy_subresources(KINDS, ""));
    json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": resources})
}

/// The subresources of `kind` as aggregated discovery lists them: `status` for the kinds
/// with a status, `eviction` (a `policy/v1` Eviction, create only) for pods.
fn subresources(k: &Kind) -> Vec<Value> {
    let mut out = Vec::new();
    if k.resource == "pods" {
        out.push(json!({"subresource": "eviction", "responseKind": {"group": "policy", "version": "v1", "kind": "Eviction"}, "verbs": ["create"]}));
    }
    if super::kinds::has_status(*k) && k.resource != "namespaces" {
        out.push(json!({"subresource": "status", "responseKind": {"group": k.group, "version": "v1", "kind": k.kind}, "verbs": ["get", "patch", "update"]}));
    }
    out
}

/// The same subresources as legacy discovery's `<resource>/<subresource>` entries.
fn legacy_subresources(kinds: &[Kind], group: &str) -> Vec<Value> {
    kinds
        .iter()
        .filter(|k| k.group == group)
        .flat_map(|k| {
            subresources(k).into_iter().map(move |s| {
                let mut r = json!({
                    "name": format!("{}/{}", k.resource, s["subresource"].as_str().unwrap_or("")),
                    "singularName": "",
                    "namespaced": k.namespaced,
                    "kind": s["responseKind"]["kind"],
                    "verbs": s["verbs"],
                });
                if s["responseKind"]["group"] != json!(group) {
                    r["group"] = s["responseKind"]["group"].clone();
                    r["version"] = json!("v1");
                }
                r
            })
        })
        .collect()
}

fn storage_hash(k: &Kind) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("{}/{}", k.api_version(), k.kind));
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &d[..8])
}

/// Aggregated discovery for `/api` (the core group) or `/apis` (`authorization.k8s.io`, then
/// the groups of [`GROUP_KINDS`]).
pub fn aggregated(core: bool) -> Value {
    let items = if core {
        let resources: Vec<Value> = KINDS
            .iter()
            .map(|k| {
                let mut r = json!({
                    "resource": k.resource,
                    "responseKind": {"group": "", "version": "v1", "kind": k.kind},
                    "scope": if k.namespaced { "Namespaced" } else { "Cluster" },
                    "singularResource": k.singular,
                    "verbs": VERBS,
                });
                if !k.short_names.is_empty() {
                    r["shortNames"] = json!(k.short_names);
                }
                if k.resource == "pods" {
                    r["categories"] = json!(["all"]);
                }
                let subs = subresources(k);
                if !subs.is_empty() {
                    r["subresources"] = json!(subs);
                }
                r
            })
            .collect();
        vec![json!({
            "metadata": {"creationTimestamp": null},
            "versions": [{"version": "v1", "resources": resources, "freshness": "Current"}]
        })]
    } else {
        let mut items = vec![json!({
            "metadata": {"name": AUTHZ_GROUP, "creationTimestamp": null},
            "versions": [{"version": "v1", "resources": [{
                "resource": "selfsubjectaccessreviews",
                "responseKind": {"group": AUTHZ_GROUP, "version": "v1", "kind": "SelfSubjectAccessReview"},
                "scope": "Cluster",
                "singularResource": "selfsubjectaccessreview",
                "verbs": ["create"]
            }], "freshness": "Current"}]
        })];
        for group in served_groups() {
            let resources: Vec<Value> = GROUP_KINDS
                .iter()
                .filter(|k| k.group == group)
                .map(|k| {
                    let mut r = json!({
                        "resource": k.resource,
                        "responseKind": {"group": group, "version": "v1", "kind": k.kind},
                        "scope": if k.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": k.singular,
                        "verbs": VERBS,
                    });
                    if !k.short_names.is_empty() {
                        r["shortNames"] = json!(k.short_names);
                    }
                    let subs = subresources(k);
                    if !subs.is_empty() {
                        r["subresources"] = json!(subs);
                    }
                    r
                })
                .collect();
            items.push(json!({
                "metadata": {"name": group, "creationTimestamp": null},
                "versions": [{"version": "v1", "resources": resources, "freshness": "Current"}]
            }));
        }
        items
    };
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items
    })
}

/// The hash in the OpenAPI index's `serverRelativeURL`: a digest of the document.
pub fn openapi_hash() -> String {
    doc_hash(&openapi_v1())
}

fn doc_hash(doc: &Value) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(doc.to_string());
    d.iter().take(32).map(|b| format!("{b:02X}")).collect()
}

/// `GET /openapi/v3`: `api/v1` and `apis/<group>/v1` for the groups of [`GROUP_KINDS`] (kubectl
/// needs a group's document to create or apply its objects without `--validate=false`).
pub fn openapi_index() -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert(
        "api/v1".into(),
        json!({"serverRelativeURL": format!("/openapi/v3/api/v1?hash={}", openapi_hash())}),
    );
    for group in served_groups() {
        let hash = openapi_group(group)
            .map(|d| doc_hash(&d))
            .unwrap_or_default();
        paths.insert(
            format!("apis/{group}/v1"),
            json!({"serverRelativeURL": format!("/openapi/v3/apis/{group}/v1?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

/// `GET /openapi/v3/apis/<group>/v1` for a group of [`GROUP_KINDS`]: paths as for `api/v1`,
/// schemas for Lease (and LeaseSpec) or the `events.k8s.io` Event (and EventSeries).
pub fn openapi_group(group: &str) -> Option<Value> {
    let kinds: Vec<Kind> = GROUP_KINDS
        .iter()
        .filter(|k| k.group == group)
        .copied()
        .collect();
    let (package, tag, op) = match group {
        objects::COORDINATION => (
            "io.k8s.api.coordination.v1",
            "coordination_v1",
            "CoordinationV1Namespaced",
        ),
        objects::EVENTS => ("io.k8s.api.events.v1", "events_v1", "EventsV1Namespaced"),
        objects::APPS => ("io.k8s.api.apps.v1", "apps_v1", "AppsV1Namespaced"),
        objects::RBAC => (
            "io.k8s.api.rbac.v1",
            "rbacAuthorization_v1",
            "RbacAuthorizationV1",
        ),
        objects::ADMISSION => (
            "io.k8s.api.admissionregistration.v1",
            "admissionregistration_v1",
            "AdmissionregistrationV1",
        ),
        objects::POLICY => ("io.k8s.api.policy.v1", "policy_v1", "PolicyV1Namespaced"),
        _ => return None,
    };
    let schemas = match group {
        objects::COORDINATION | objects::EVENTS => group_schemas(group),
        _ => opaque_schemas(&kinds, package),
    };
    Some(openapi_doc(&kinds, package, tag, op, schemas))
}

/// Schemas for the kinds served to store the shipped manifests: their top-level fields, with
/// `spec` and `status` as open objects. They carry no `x-kubernetes-group-version-kind`, so
/// kubectl computes its strategic merge patches for them from its compiled-in types (as it
/// does when a server publishes no schema for a kind) instead of failing to find a nested
/// field in an open object; validation is the server's (`fieldValidation`, declared on the
/// operations).
fn opaque_schemas(kinds: &[Kind], package: &str) -> Value {
    let mut all = schemas()
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k.starts_with("io.k8s.apimachinery."))
        .collect::<serde_json::Map<String, Value>>();
    let object = json!({"type": "object"});
    let objects = json!({"type": "array", "items": {"type": "object"}});
    for k in kinds {
        let own = match k.kind {
            "Role" => json!({"rules": objects}),
            "ClusterRole" => json!({"rules": objects, "aggregationRule": object}),
            "RoleBinding" | "ClusterRoleBinding" => json!({"subjects": objects, "roleRef": object}),
            _ => json!({"spec": object, "status": object}),
        };
        let mut props = json!({
            "apiVersion": {"type": "string"}, "kind": {"type": "string"},
            "metadata": {"allOf": [schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")], "default": {}},
        });
        for (name, v) in own.as_object().cloned().unwrap_or_default() {
            props[name] = v;
        }
        all.insert(
            format!("{package}.{}", k.kind),
            json!({"type": "object", "properties": props}),
        );
        all.insert(
            format!("{package}.{}List", k.kind),
            json!({"type": "object", "required": ["items"], "properties": {
                "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                "items": {"type": "array", "items": {"allOf": [schema_ref(&format!("{package}.{}", k.kind))], "default": {}}},
                "metadata": {"allOf": [schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")], "default": {}}
            }}),
        );
    }
    Value::Object(all)
}

fn group_schemas(group: &str) -> Value {
    let string = json!({"type": "string"});
    let int32 = json!({"type": "integer", "format": "int32"});
    let micro = schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime");
    let time = schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.Time");
    let meta = schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    let typed = |kind: &str, props: Value, required: &[&str]| {
        let mut p = json!({
            "apiVersion": {"type": "string"}, "kind": {"type": "string"},
            "metadata": {"allOf": [meta.clone()], "default": {}},
        });
        for (k, v) in props.as_object().cloned().unwrap_or_default() {
            p[k] = v;
        }
        let mut s = json!({"type": "object", "properties": p, "x-kubernetes-group-version-kind": gvk_in(group, kind)});
        if !required.is_empty() {
            s["required"] = json!(required);
        }
        s
    };
    let list = |kind: &str, item: &str| {
        json!({"type": "object", "required": ["items"], "properties": {
            "apiVersion": string, "kind": string,
            "items": {"type": "array", "items": {"allOf": [schema_ref(item)], "default": {}}},
            "metadata": {"allOf": [schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")], "default": {}}
        }, "x-kubernetes-group-version-kind": gvk_in(group, kind)})
    };
    let mut all = schemas()
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| {
            k.starts_with("io.k8s.apimachinery.") || k == "io.k8s.api.core.v1.ObjectReference"
        })
        .collect::<serde_json::Map<String, Value>>();
    all.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime".into(),
        json!({"type": "string", "format": "date-time"}),
    );
    all.insert(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Time".into(),
        json!({"type": "string", "format": "date-time"}),
    );
    let own = if group == objects::COORDINATION {
        json!({
            "io.k8s.api.coordination.v1.LeaseSpec": {"type": "object", "properties": {
                "acquireTime": {"allOf": [micro]}, "renewTime": {"allOf": [micro]},
                "holderIdentity": string, "leaseDurationSeconds": int32, "leaseTransitions": int32,
                "preferredHolder": string, "strategy": string
            }},
            "io.k8s.api.coordination.v1.Lease": typed("Lease", json!({"spec": {"allOf": [schema_ref("io.k8s.api.coordination.v1.LeaseSpec")], "default": {}}}), &[]),
            "io.k8s.api.coordination.v1.LeaseList": list("LeaseList", "io.k8s.api.coordination.v1.Lease"),
        })
    } else {
        let reference = json!({"allOf": [schema_ref("io.k8s.api.core.v1.ObjectReference")]});
        json!({
            "io.k8s.api.events.v1.EventSeries": {"type": "object", "required": ["count", "lastObservedTime"], "properties": {
                "count": int32, "lastObservedTime": {"allOf": [micro]}
            }},
            "io.k8s.api.events.v1.Event": typed("Event", json!({
                "action": string, "deprecatedCount": int32,
                "deprecatedFirstTimestamp": {"allOf": [time]}, "deprecatedLastTimestamp": {"allOf": [time]},
                "deprecatedSource": {"type": "object", "properties": {"component": string, "host": string}},
                "eventTime": {"allOf": [micro]}, "note": string, "reason": string,
                "regarding": reference, "related": reference,
                "reportingController": string, "reportingInstance": string,
                "series": {"allOf": [schema_ref("io.k8s.api.events.v1.EventSeries")]}, "type": string
            }), &["eventTime"]),
            "io.k8s.api.events.v1.EventList": list("EventList", "io.k8s.api.events.v1.Event"),
        })
    };
    all.extend(own.as_object().cloned().unwrap_or_default());
    Value::Object(all)
}

fn gvk(kind: &str) -> Value {
    gvk_in("", kind)
}

fn gvk_in(group: &str, kind: &str) -> Value {
    json!([{"group": group, "version": "v1", "kind": kind}])
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// `GET /openapi/v3/api/v1`: paths for every served resource (their PATCH operations carry
/// the `fieldValidation` parameter, so kubectl delegates validation to the server) and schemas
/// for Secret, ServiceAccount, Pod and Namespace.
pub fn openapi_v1() -> Value {
    openapi_doc(KINDS, "io.k8s.api.core.v1", "core_v1", "Core", schemas())
}

/// An OpenAPI v3 document for `kinds` (all of one group version), their schemas named
/// `<package>.<Kind>`, operations tagged `tag` and named `<verb><op><Kind>`.
fn openapi_doc(kinds: &[Kind], package: &str, tag: &str, op_name: &str, schemas: Value) -> Value {
    let query = |name: &str, ty: &str| json!({"name": name, "in": "query", "schema": {"type": ty, "uniqueItems": true}});
    let write_params = json!([
        query("dryRun", "string"),
        query("fieldManager", "string"),
        query("fieldValidation", "string"),
        query("pretty", "string"),
    ]);
    let mut patch_params = write_params.as_array().cloned().unwrap_or_default();
    patch_params.push(query("force", "boolean"));
    let mut paths = serde_json::Map::new();
    for k in kinds {
        let schema = format!("{package}.{}", k.kind);
        let list_schema = format!("{package}.{}List", k.kind);
        let body = json!({"content": {
            "application/json": {"schema": schema_ref(&schema)},
            "application/yaml": {"schema": schema_ref(&schema)},
            "application/vnd.kubernetes.protobuf": {"schema": schema_ref(&schema)}
        }, "required": true});
        let ok = |s: &str| json!({"200": {"description": "OK", "content": {"application/json": {"schema": schema_ref(s)}}}});
        let op = |action: &str, id: &str, resp: Value, params: &Value, body: Option<&Value>| {
            let mut o = json!({
                "tags": [tag],
                "operationId": id,
                "responses": resp,
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk_in(k.group, k.kind)[0],
                "parameters": params,
            });
            if let Some(b) = body {
                o["requestBody"] = b.clone();
            }
            o
        };
        let prefix = if k.group.is_empty() {
            "/api/v1".to_string()
        } else {
            format!("/apis/{}/v1", k.group)
        };
        let (collection, item) = if k.namespaced {
            (
                format!("{prefix}/namespaces/{{namespace}}/{}", k.resource),
                format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", k.resource),
            )
        } else {
            (
                format!("{prefix}/{}", k.resource),
                format!("{prefix}/{}/{{name}}", k.resource),
            )
        };
        let patch_body = json!({"content": {
            "application/apply-patch+yaml": {"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}},
            "application/json-patch+json": {"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}},
            "application/merge-patch+json": {"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}},
            "application/strategic-merge-patch+json": {"schema": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}}
        }, "required": true});
        paths.insert(
            collection,
            json!({
                "get": op("list", &format!("list{op_name}{}", k.kind), ok(&list_schema), &json!([query("labelSelector", "string"), query("fieldSelector", "string")]), None),
                "post": op("post", &format!("create{op_name}{}", k.kind), ok(&schema), &write_params, Some(&body)),
            }),
        );
        paths.insert(
            item,
            json!({
                "get": op("get", &format!("read{op_name}{}", k.kind), ok(&schema), &json!([]), None),
                "put": op("put", &format!("replace{op_name}{}", k.kind), ok(&schema), &write_params, Some(&body)),
                "patch": op("patch", &format!("patch{op_name}{}", k.kind), ok(&schema), &Value::Array(patch_params.clone()), Some(&patch_body)),
                "delete": op("delete", &format!("delete{op_name}{}", k.kind), ok("io.k8s.apimachinery.pkg.apis.meta.v1.Status"), &json!([query("dryRun", "string")]), None),
            }),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.36.3"},
        "paths": paths,
        "components": {"schemas": schemas}
    })
}

fn schemas() -> Value {
    let string = json!({"type": "string"});
    let string_map =
        json!({"type": "object", "additionalProperties": {"type": "string", "default": ""}});
    let meta = schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
    let typed = |kind: &str, props: Value, required: &[&str]| {
        let mut p = json!({
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
            "metadata": {"allOf": [meta.clone()], "default": {}},
        });
        for (k, v) in props.as_object().cloned().unwrap_or_default() {
            p[k] = v;
        }
        let mut s = json!({"type": "object", "properties": p, "x-kubernetes-group-version-kind": gvk(kind)});
        if !required.is_empty() {
            s["required"] = json!(required);
        }
        s
    };
    let list = |kind: &str, item: &str| {
        json!({"type": "object", "required": ["items"], "properties": {
            "apiVersion": string, "kind": string,
            "items": {"type": "array", "items": {"allOf": [schema_ref(item)], "default": {}}},
            "metadata": {"allOf": [schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")], "default": {}}
        }, "x-kubernetes-group-version-kind": gvk(kind)})
    };
    let local_ref_list = json!({"type": "array", "items": {"allOf": [schema_ref("io.k8s.api.core.v1.LocalObjectReference")], "default": {}}, "x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map", "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"});
    let container = json!({"type": "object", "required": ["name"], "properties": {
        "name": string, "image": string, "imagePullPolicy": string, "workingDir": string,
        "command": {"type": "array", "items": {"type": "string", "default": ""}, "x-kubernetes-list-type": "atomic"},
        "args": {"type": "array", "items": {"type": "string", "default": ""}, "x-kubernetes-list-type": "atomic"},
        "env": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": string, "value": string, "valueFrom": {"type": "object"}}}, "x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map"},
        "ports": {"type": "array", "items": {"type": "object", "required": ["containerPort"], "properties": {"name": string, "containerPort": {"type": "integer", "format": "int32"}, "protocol": string, "hostPort": {"type": "integer", "format": "int32"}, "hostIP": string}}},
        "resources": {"type": "object"}, "volumeMounts": {"type": "array", "items": {"type": "object"}},
        "securityContext": {"type": "object"}, "livenessProbe": {"type": "object"}, "readinessProbe": {"type": "object"},
        "terminationMessagePath": string, "terminationMessagePolicy": string, "stdin": {"type": "boolean"}, "tty": {"type": "boolean"}
    }});
    let containers = json!({"type": "array", "items": {"allOf": [schema_ref("io.k8s.api.core.v1.Container")], "default": {}}, "x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map", "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"});
    let mut all = json!({
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {"type": "object", "properties": {
            "name": string, "generateName": string, "namespace": string, "uid": string,
            "resourceVersion": string, "generation": {"type": "integer", "format": "int64"},
            "creationTimestamp": {"type": "string", "format": "date-time"},
            "deletionTimestamp": {"type": "string", "format": "date-time"},
            "labels": string_map, "annotations": string_map,
            "finalizers": {"type": "array", "items": {"type": "string", "default": ""}},
            "ownerReferences": {"type": "array", "items": {"type": "object"}},
            "managedFields": {"type": "array", "items": {"type": "object"}}
        }},
        "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta": {"type": "object", "properties": {"resourceVersion": string, "continue": string, "remainingItemCount": {"type": "integer"}}},
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch": {"type": "object", "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."},
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status": {"type": "object", "properties": {"apiVersion": string, "kind": string, "code": {"type": "integer"}, "message": string, "reason": string, "status": string, "details": {"type": "object"}, "metadata": {"type": "object"}}, "x-kubernetes-group-version-kind": gvk("Status")},
        "io.k8s.api.core.v1.LocalObjectReference": {"type": "object", "properties": {"name": {"type": "string", "default": ""}}, "x-kubernetes-map-type": "atomic"},
        "io.k8s.api.core.v1.ObjectReference": {"type": "object", "properties": {"apiVersion": string, "kind": string, "name": string, "namespace": string, "uid": string, "resourceVersion": string, "fieldPath": string}, "x-kubernetes-map-type": "atomic"},
        "io.k8s.api.core.v1.Container": container,
        "io.k8s.api.core.v1.Secret": typed("Secret", json!({
            "data": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}},
            "stringData": string_map,
            "type": string,
            "immutable": {"type": "boolean"}
        }), &[]),
        "io.k8s.api.core.v1.SecretList": list("SecretList", "io.k8s.api.core.v1.Secret"),
        "io.k8s.api.core.v1.ServiceAccount": typed("ServiceAccount", json!({
            "secrets": {"type": "array", "items": {"allOf": [schema_ref("io.k8s.api.core.v1.ObjectReference")], "default": {}}, "x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map", "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge"},
            "imagePullSecrets": {"type": "array", "items": {"allOf": [schema_ref("io.k8s.api.core.v1.LocalObjectReference")], "default": {}}, "x-kubernetes-list-type": "atomic"},
            "automountServiceAccountToken": {"type": "boolean"}
        }), &[]),
        "io.k8s.api.core.v1.ServiceAccountList": list("ServiceAccountList", "io.k8s.api.core.v1.ServiceAccount"),
        "io.k8s.api.core.v1.Namespace": typed("Namespace", json!({
            "spec": {"type": "object", "properties": {"finalizers": {"type": "array", "items": {"type": "string", "default": ""}, "x-kubernetes-list-type": "atomic"}}},
            "status": {"type": "object", "properties": {"phase": string, "conditions": {"type": "array", "items": {"type": "object"}}}}
        }), &[]),
        "io.k8s.api.core.v1.NamespaceList": list("NamespaceList", "io.k8s.api.core.v1.Namespace"),
        "io.k8s.api.core.v1.Pod": typed("Pod", json!({
            "spec": {"type": "object", "required": ["containers"], "properties": {
                "containers": containers,
                "initContainers": containers,
                "imagePullSecrets": local_ref_list,
                "restartPolicy": string, "serviceAccountName": string, "serviceAccount": string,
                "nodeName": string, "nodeSelector": string_map, "dnsPolicy": string,
                "schedulerName": string, "priority": {"type": "integer", "format": "int32"},
                "terminationGracePeriodSeconds": {"type": "integer", "format": "int64"},
                "enableServiceLinks": {"type": "boolean"}, "preemptionPolicy": string,
                "securityContext": {"type": "object"}, "volumes": {"type": "array", "items": {"type": "object"}},
                "tolerations": {"type": "array", "items": {"type": "object"}}, "automountServiceAccountToken": {"type": "boolean"}
            }},
            "status": {"type": "object", "properties": {"phase": string, "qosClass": string, "podIP": string, "hostIP": string, "conditions": {"type": "array", "items": {"type": "object"}}}}
        }), &[]),
        "io.k8s.api.core.v1.PodList": list("PodList", "io.k8s.api.core.v1.Pod"),
    });
    let more = json!({
        "io.k8s.api.core.v1.ConfigMap": typed("ConfigMap", json!({
            "data": string_map,
            "binaryData": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}},
            "immutable": {"type": "boolean"}
        }), &[]),
        "io.k8s.api.core.v1.ConfigMapList": list("ConfigMapList", "io.k8s.api.core.v1.ConfigMap"),
        "io.k8s.api.core.v1.EventSource": {"type": "object", "properties": {"component": string, "host": string}},
        "io.k8s.api.core.v1.EventSeries": {"type": "object", "properties": {"count": {"type": "integer", "format": "int32"}, "lastObservedTime": {"type": "string", "format": "date-time"}}},
        "io.k8s.api.core.v1.Event": typed("Event", json!({
            "involvedObject": {"allOf": [schema_ref("io.k8s.api.core.v1.ObjectReference")], "default": {}},
            "related": {"allOf": [schema_ref("io.k8s.api.core.v1.ObjectReference")]},
            "reason": string, "message": string, "type": string, "action": string,
            "source": {"allOf": [schema_ref("io.k8s.api.core.v1.EventSource")], "default": {}},
            "firstTimestamp": {"type": "string", "format": "date-time"},
            "lastTimestamp": {"type": "string", "format": "date-time"},
            "eventTime": {"type": "string", "format": "date-time"},
            "count": {"type": "integer", "format": "int32"},
            "series": {"allOf": [schema_ref("io.k8s.api.core.v1.EventSeries")]},
            "reportingComponent": {"type": "string", "default": ""},
            "reportingInstance": {"type": "string", "default": ""}
        }), &["metadata", "involvedObject"]),
        "io.k8s.api.core.v1.EventList": list("EventList", "io.k8s.api.core.v1.Event"),
    });
    if let (Some(all), Some(more)) = (all.as_object_mut(), more.as_object()) {
        all.extend(more.clone());
    }
    all
}

pub(super) fn column(name: &str, ty: &str, format: &str, description: &str, priority: u8) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

/// A `meta.k8s.io/v1` Table of `objects` (full objects, with `kind`), as kubectl asks for
/// with `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.
pub fn table(
    kind: Kind,
    objects: &[Value],
    resource_version: &str,
    include: &str,
    now: u64,
) -> Value {
    let name_col = column(
        "Name",
        "string",
        "name",
        "Name must be unique within a namespace.",
        0,
    );
    let age_col = column(
        "Age",
        "string",
        "",
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
        0,
    );
    let columns = match kind.kind {
        "Namespace" => vec![
            name_col,
            column("Status", "string", "", "The status of the namespace", 0),
            age_col,
        ],
        "Secret" => vec![
            name_col,
            column(
                "Type",
                "string",
                "",
                "Used to facilitate programmatic handling of secret data.",
                0,
            ),
            column("Data", "string", "", "Data contains the secret data.", 0),
            age_col,
        ],
        "Lease" => vec![
            name_col,
            column(
                "Holder",
                "string",
                "",
                "holderIdentity contains the identity of the holder of a current lease.",
                0,
            ),
            age_col,
        ],
        "Event" => event_columns(),
        "ConfigMap" => vec![
            name_col,
            column(
                "Data",
                "string",
                "",
                "Data contains the configuration data.",
                0,
            ),
            age_col,
        ],
        "ServiceAccount" => vec![
            name_col,
            column(
                "Secrets",
                "string",
                "",
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
                0,
            ),
            age_col,
        ],
        "Pod" => vec![
            name_col,
            column(
                "Ready",
                "string",
                "",
                "The aggregate readiness state of this pod for accepting traffic.",
                0,
            ),
            column(
                "Status",
                "string",
                "",
                "The aggregate status of the containers in this pod.",
                0,
            ),
            column(
                "Restarts",
                "string",
                "",
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
                0,
            ),
            age_col,
            column("IP", "string", "", "The IP address assigned to the pod", 1),
            column(
                "Node",
                "string",
                "",
                "The name of the node to which the pod is scheduled",
                1,
            ),
            column(
                "Nominated Node",
                "string",
                "",
                "The name of the node where the pod is nominated",
                1,
            ),
            column(
                "Readiness Gates",
                "string",
                "",
                "The readiness gates of this pod",
                1,
            ),
        ],
        _ => super::tables::columns(kind, name_col, age_col),
    };
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let name = o.pointer("/metadata/name").cloned().unwrap_or(json!(""));
            let age = o
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .and_then(objects::parse_rfc3339)
                .map(|t| objects::human_duration(now.saturating_sub(t)))
                .unwrap_or_else(|| "<unknown>".into());
            let cells = match kind.kind {
                "Namespace" => vec![name, o.pointer("/status/phase").cloned().unwrap_or(json!("Active")), json!(age)],
                "Secret" => vec![
                    name,
                    o.get("type").cloned().unwrap_or(json!("Opaque")),
                    json!(o.get("data").and_then(Value::as_object).map_or(0, |d| d.len())),
                    json!(age),
                ],
                "Lease" => vec![
                    name,
                    json!(o.pointer("/spec/holderIdentity").and_then(Value::as_str).unwrap_or("")),
                    json!(age),
                ],
                "Event" => event_cells(o, now),
                "ConfigMap" => {
                    let count = |k: &str| o.get(k).and_then(Value::as_object).map_or(0, |d| d.len());
                    vec![name, json!(count("data") + count("binaryData")), json!(age)]
                }
                "ServiceAccount" => vec![
                    name,
                    json!(o.get("secrets").and_then(Value::as_array).map_or(0, |s| s.len())),
                    json!(age),
                ],
                "Pod" => {
                    let n = o.pointer("/spec/containers").and_then(Value::as_array).map_or(0, |c| c.len());
                    vec![
                        name,
                        json!(format!("0/{n}")),
                        o.pointer("/status/phase").cloned().unwrap_or(json!("Pending")),
                        json!("0"),
                        json!(age),
                        json!("<none>"),
                        json!(o.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("<none>")),
                        json!("<none>"),
                        json!("<none>"),
                    ]
                }
                _ => super::tables::cells(kind, o, name, age),
            };
            let mut row = json!({"cells": cells});
            match include {
                "None" => {}
                "Object" => row["object"] = o.clone(),
                _ => {
                    let mut meta = o.get("metadata").cloned().unwrap_or(json!({}));
                    if let Some(m) = meta.as_object_mut() {
                        m.remove("managedFields");
                    }
                    row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta});
                }
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns,
        "rows": rows
    })
}

/// The Event columns of the real printer (`printEvent`), which serves both `v1` and
/// `events.k8s.io/v1` Events (one storage).
fn event_columns() -> Vec<Value> {
    vec![
        column(
            "Last Seen",
            "string",
            "",
            "Time when this Event was last observed",
            0,
        ),
        column(
            "Type",
            "string",
            "",
            "Type of this event (Normal, Warning), new types could be added in the future.",
            0,
        ),
        column(
            "Reason",
            "string",
            "",
            "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            0,
        ),
        column(
            "Object",
            "string",
            "",
            "The object that this event is about.",
            0,
        ),
        column(
            "Subobject",
            "string",
            "",
            "The subobject that this event is about.",
            1,
        ),
        column(
            "Source",
            "string",
            "",
            "The component reporting this event. Should be a short machine understandable string.",
            1,
        ),
        column(
            "Message",
            "string",
            "",
            "A human-readable description of the status of this operation.",
            0,
        ),
        column(
            "First Seen",
            "string",
            "",
            "Time when this Event was first observed",
            1,
        ),
        column(
            "Count",
            "string",
            "",
            "The number of times this event has occurred.",
            1,
        ),
        column(
            "Name",
            "string",
            "name",
            "Name must be unique within a namespace.",
            1,
        ),
    ]
}

/// One Event row, from `events.k8s.io/v1` fields (`regarding`, `note`, `series`) or their `v1`
/// names (`involvedObject`, `message`, `count`).
fn event_cells(o: &Value, now: u64) -> Vec<Value> {
    let text = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or("");
    let since = |t: &str| {
        objects::parse_rfc3339(t)
            .map(|t| objects::human_duration(now.saturating_sub(t)))
            .unwrap_or_else(|| "<unknown>".into())
    };
    let first = [
        text("/eventTime"),
        text("/deprecatedFirstTimestamp"),
        text("/firstTimestamp"),
    ]
    .into_iter()
    .find(|t| !t.is_empty())
    .unwrap_or("");
    let last = [
        text("/series/lastObservedTime"),
        text("/deprecatedLastTimestamp"),
        text("/lastTimestamp"),
    ]
    .into_iter()
    .find(|t| !t.is_empty())
    .unwrap_or(first);
    let object = o.get("regarding").or_else(|| o.get("involvedObject"));
    let field = |k: &str| {
        object
            .and_then(|r| r.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let first_of = |ps: &[&str]| {
        ps.iter()
            .map(|p| text(p))
            .find(|t| !t.is_empty())
            .unwrap_or("")
    };
    let source = [
        first_of(&[
            "/source/component",
            "/reportingController",
            "/reportingComponent",
        ]),
        first_of(&["/source/host", "/reportingInstance"]),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(", ");
    let count = o
        .pointer("/series/count")
        .or_else(|| o.get("deprecatedCount"))
        .or_else(|| o.get("count"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let note = if o.get("note").is_some() {
        text("/note")
    } else {
        text("/message")
    };
    vec![
        json!(since(last)),
        json!(text("/type")),
        json!(text("/reason")),
        json!(format!(
            "{}/{}",
            field("kind").to_lowercase(),
            field("name")
        )),
        json!(field("fieldPath")),
        json!(source),
        json!(note),
        json!(since(first)),
        json!(count.to_string()),
        o.pointer("/metadata/name").cloned().unwrap_or(json!("")),
    ]
}

/// Whether `accept` asks for a `meta.k8s.io` Table.
pub fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let p: Vec<&str> = part.split(';').map(str::trim).collect();
        p.contains(&"as=Table") && p.contains(&"g=meta.k8s.io")
    })
}

//! Decoding of `application/vnd.kubernetes.protobuf` request bodies into JSON objects.
//!
//! The envelope is the 4 magic bytes `k8s\0` followed by a `runtime.Unknown` message whose
//! `typeMeta` names the kind and whose `raw` holds the object. Only the kinds the emulator
//! serves are decoded, and of a Pod only the commonly used fields (documented in the README).

use base64::Engine as _;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message as _;
use serde_json::{Map, Value, json};

/// The protobuf envelope magic.
pub const MAGIC: &[u8] = b"k8s\0";

/// Decodes a protobuf body into the JSON form of the object.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or("protobuf body without the k8s envelope")?;
    let unknown = Unknown::decode(rest).map_err(|e| format!("decoding runtime.Unknown: {e}"))?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let err = |e: prost::DecodeError| format!("decoding {kind}: {e}");
    let mut obj = match kind.as_str() {
        "Secret" => {
            let s = core::Secret::decode(raw.as_slice()).map_err(err)?;
            let mut o = meta_object(s.metadata);
            if !s.data.is_empty() {
                let data: Map<String, Value> = s
                    .data
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            Value::String(base64::engine::general_purpose::STANDARD.encode(v)),
                        )
                    })
                    .collect();
                o.insert("data".into(), Value::Object(data));
            }
            if !s.string_data.is_empty() {
                o.insert("stringData".into(), json!(s.string_data));
            }
            if let Some(t) = s.r#type {
                o.insert("type".into(), json!(t));
            }
            if let Some(i) = s.immutable {
                o.insert("immutable".into(), json!(i));
            }
            o
        }
        "ConfigMap" => {
            let cm = core::ConfigMap::decode(raw.as_slice()).map_err(err)?;
            let mut o = meta_object(cm.metadata);
            if !cm.data.is_empty() {
                o.insert("data".into(), json!(cm.data));
            }
            if !cm.binary_data.is_empty() {
                let b64 = |v: &Vec<u8>| base64::engine::general_purpose::STANDARD.encode(v);
                let binary: Map<String, Value> = cm
                    .binary_data
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(b64(v))))
                    .collect();
                o.insert("binaryData".into(), Value::Object(binary));
            }
            if let Some(i) = cm.immutable {
                o.insert("immutable".into(), json!(i));
            }
            o
        }
        "ServiceAccount" => {
            let sa = core::ServiceAccount::decode(raw.as_slice()).map_err(err)?;
            let mut o = meta_object(sa.metadata);
            if !sa.secrets.is_empty() {
                let secrets: Vec<Value> = sa
                    .secrets
                    .into_iter()
                    .map(|r| strip_nulls(json!({"name": r.name, "namespace": r.namespace, "kind": r.kind, "uid": r.uid, "apiVersion": r.api_version})))
                    .collect();
                o.insert("secrets".into(), Value::Array(secrets));
            }
            if !sa.image_pull_secrets.is_empty() {
                o.insert(
                    "imagePullSecrets".into(),
                    local_refs(&sa.image_pull_secrets),
                );
            }
            if let Some(a) = sa.automount_service_account_token {
                o.insert("automountServiceAccountToken".into(), json!(a));
            }
            o
        }
        "Namespace" => {
            let ns = core::Namespace::decode(raw.as_slice()).map_err(err)?;
            let mut o = meta_object(ns.metadata);
            if let Some(spec) = ns.spec
                && !spec.finalizers.is_empty()
            {
                o.insert("spec".into(), json!({"finalizers": spec.finalizers}));
            }
            o
        }
        "Pod" => {
            let pod = core::Pod::decode(raw.as_slice()).map_err(err)?;
            let mut o = meta_object(pod.metadata);
            if let Some(spec) = pod.spec {
                o.insert("spec".into(), pod_spec(spec));
            }
            o
        }
        "SelfSubjectAccessReview" => {
            use k8s_pb::api::authorization::v1::SelfSubjectAccessReview;
            let review = SelfSubjectAccessReview::decode(raw.as_slice()).map_err(err)?;
            let mut o = meta_object(review.metadata);
            let spec = review.spec.unwrap_or_default();
            if let Some(a) = spec.resource_attributes {
                o.insert(
                    "spec".into(),
                    json!({"resourceAttributes": strip_nulls(json!({
                        "namespace": a.namespace, "verb": a.verb, "group": a.group,
                        "version": a.version, "resource": a.resource,
                        "subresource": a.subresource, "name": a.name,
                    }))}),
                );
            } else if let Some(n) = spec.non_resource_attributes {
                o.insert(
                    "spec".into(),
                    json!({"nonResourceAttributes": strip_nulls(json!({"path": n.path, "verb": n.verb}))}),
                );
            }
            o
        }
        other => return Err(format!("no protobuf decoding for kind {other:?}")),
    };
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

fn meta_object(meta: Option<ObjectMeta>) -> Map<String, Value> {
    let meta = meta.unwrap_or_default();
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            m.insert(k.into(), Value::String(v));
        }
    };
    put("name", meta.name);
    put("generateName", meta.generate_name);
    put("namespace", meta.namespace);
    put("resourceVersion", meta.resource_version);
    put("uid", meta.uid);
    if !meta.labels.is_empty() {
        m.insert("labels".into(), json!(meta.labels));
    }
    if !meta.annotations.is_empty() {
        m.insert("annotations".into(), json!(meta.annotations));
    }
    if !meta.finalizers.is_empty() {
        m.insert("finalizers".into(), json!(meta.finalizers));
    }
    let mut o = Map::new();
    o.insert("metadata".into(), Value::Object(m));
    o
}

fn local_refs(refs: &[core::LocalObjectReference]) -> Value {
    Value::Array(refs.iter().map(|r| json!({"name": r.name})).collect())
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

fn container(c: core::Container) -> Value {
    let mut v = json!({
        "name": c.name,
        "image": c.image,
        "workingDir": c.working_dir,
        "imagePullPolicy": c.image_pull_policy,
        "stdin": c.stdin,
        "tty": c.tty,
    });
    if !c.command.is_empty() {
        v["command"] = json!(c.command);
    }
    if !c.args.is_empty() {
        v["args"] = json!(c.args);
    }
    if !c.env.is_empty() {
        v["env"] = Value::Array(
            c.env
                .into_iter()
                .map(|e| json!({"name": e.name, "value": e.value}))
                .collect(),
        );
    }
    if !c.ports.is_empty() {
        v["ports"] = Value::Array(
            c.ports
                .into_iter()
                .map(|p| json!({"name": p.name, "containerPort": p.container_port, "protocol": p.protocol}))
                .collect(),
        );
    }
    strip_nulls(v)
}

fn pod_spec(spec: core::PodSpec) -> Value {
    let mut v = json!({
        "restartPolicy": spec.restart_policy,
        "serviceAccountName": spec.service_account_name,
        "nodeName": spec.node_name,
        "dnsPolicy": spec.dns_policy,
        "terminationGracePeriodSeconds": spec.termination_grace_period_seconds,
    });
    v["containers"] = Value::Array(spec.containers.into_iter().map(container).collect());
    if !spec.init_containers.is_empty() {
        v["initContainers"] =
            Value::Array(spec.init_containers.into_iter().map(container).collect());
    }
    if !spec.image_pull_secrets.is_empty() {
        v["imagePullSecrets"] = local_refs(&spec.image_pull_secrets);
    }
    if !spec.node_selector.is_empty() {
        v["nodeSelector"] = json!(spec.node_selector);
    }
    strip_nulls(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::apimachinery::pkg::runtime::TypeMeta;

    #[test]
    fn decodes_a_secret_envelope() {
        let secret = core::Secret {
            metadata: Some(ObjectMeta {
                name: Some("s".into()),
                namespace: Some("team-a".into()),
                ..Default::default()
            }),
            data: [("k".to_string(), b"v".to_vec())].into_iter().collect(),
            r#type: Some("Opaque".into()),
            ..Default::default()
        };
        let unknown = Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some("v1".into()),
                kind: Some("Secret".into()),
            }),
            raw: Some(secret.encode_to_vec()),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        let mut body = MAGIC.to_vec();
        body.extend(unknown.encode_to_vec());
        let v = decode(&body).unwrap();
        assert_eq!(v["kind"], "Secret");
        assert_eq!(v["metadata"]["name"], "s");
        assert_eq!(v["data"]["k"], "dg==");
    }
}

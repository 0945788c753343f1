//! The Pod that pulls an image with the pull secret.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, LocalObjectReference, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{MANAGED_BY, MANAGER};

/// A Pod running `image` with `secret` as its pull secret.
pub fn pod(name: &str, namespace: &str, image: &str, secret: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([
                ("app.kubernetes.io/name".to_string(), name.to_string()),
                (MANAGED_BY.to_string(), MANAGER.to_string()),
            ])),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: name.to_string(),
                image: Some(image.to_string()),
                ..Default::default()
            }],
            image_pull_secrets: Some(vec![LocalObjectReference {
                name: secret.to_string(),
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A valid Pod name derived from an image name (`my_app` → `my-app`).
pub fn pod_name_for(image_name: &str) -> String {
    let mut name: String = image_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_matches('-').to_string();
    name.truncate(63);
    let name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        "app".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_are_sanitized() {
        assert_eq!(pod_name_for("my_app"), "my-app");
        assert_eq!(pod_name_for("__"), "app");
    }

    #[test]
    fn pod_references_the_secret() {
        let pod = pod("hello", "team-a", "registry.x/demo/hello:v1", "regcred");
        let spec = pod.spec.unwrap();
        assert_eq!(spec.image_pull_secrets.unwrap()[0].name, "regcred");
        assert_eq!(
            spec.containers[0].image.as_deref(),
            Some("registry.x/demo/hello:v1")
        );
    }

    /// The Pod as users see it in `pod render`.
    #[test]
    fn pod_yaml() {
        let pod = pod(
            "hello",
            "team-a",
            "registry.example/demo/hello:v1",
            "regcred",
        );
        insta::assert_snapshot!(serde_saphyr::to_string(&pod).unwrap());
    }
}

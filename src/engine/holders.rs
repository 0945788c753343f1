//! Who holds a credential, and when it may be revoked: the shared-token and last-holder rules
//! every command that replaces or deletes a credential follows.

use k8s_openapi::api::core::v1::Secret;

use super::lifecycle::{Recorded, TokenLifecycle};
use super::spec::SecretSpec;
use crate::manifests;

/// The credential description: `--description`, else one naming where it is used (no
/// personal data).
pub fn description(spec: &SecretSpec, cluster: Option<&str>, namespace: &str) -> String {
    spec.description
        .clone()
        .unwrap_or_else(|| crate::registry::default_description(cluster, namespace, &spec.name))
}

/// The token id a secret records, if it has the shape of a credential id of `kind`'s
/// provider (an annotation is anyone's to write).
pub fn token_id(secret: &Secret, kind: crate::providers::Kind) -> Option<&str> {
    recorded_id(secret).filter(|id| kind.is_credential_id(id))
}

/// The token id annotation as written, for comparing with an id this run knows.
pub fn recorded_id(secret: &Secret) -> Option<&str> {
    manifests::annotation(secret, manifests::ANNOTATION_TOKEN_ID)
}

/// The token `id` recorded in the secret `namespace/name` (`secret`, as it was) of `cluster`,
/// with what [`Recorded`] checks before revoking it: the secret's credential for `registry` and
/// the description this plugin gave the token (the cluster's shared token names no namespace).
pub fn recorded(
    id: &str,
    secret: Option<&Secret>,
    registry: &str,
    cluster: Option<&str>,
    namespace: &str,
    name: &str,
) -> Recorded {
    let described = if secret.is_some_and(manifests::is_shared) {
        "*"
    } else {
        namespace
    };
    Recorded {
        id: id.to_string(),
        credential: secret
            .and_then(|s| manifests::existing_credential(s, registry))
            .map(|(_, password, _)| secrecy::SecretString::from(password)),
        description: crate::registry::default_description(cluster, described, name),
        object: format!("secret {namespace}/{name}"),
    }
}

/// Revokes a token a write replaced, once [`Recorded`] showed it is that secret's own; a
/// failure is a warning naming the command that finishes the job.
pub async fn revoke_replaced(lifecycle: &mut TokenLifecycle<'_>, recorded: &Recorded) {
    let id = &recorded.id;
    match lifecycle.revoke_recorded(recorded).await {
        Ok(true) => crate::trace::note(format!("token/{id} revoked (replaced)")),
        Ok(false) => {}
        Err(e) => crate::trace::warning(format!(
            "the replaced token {id} could not be revoked ({}); revoke it with `kubectl dedicated-registry token revoke {id}`",
            crate::redact::one_line(&format!("{e:#}"))
        )),
    }
}

/// Whether the token `id`, held by the secret `at` (`namespace/name`), may be revoked when that
/// secret stops holding it: a namespace's own token may; the cluster's shared token only when no
/// other managed secret in the cluster holds it (said otherwise, and when that is unknown).
pub async fn last_holder(client: &kube::Client, secret: &Secret, id: &str, at: &str) -> bool {
    if !manifests::is_shared(secret) {
        return true;
    }
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    match crate::cluster::objects::managed_token_ids(client, name).await {
        Ok(holders) => {
            let others: Vec<&str> = holders
                .iter()
                .filter(|(holder, held)| held.as_deref() == Some(id) && holder != at)
                .map(|(holder, _)| holder.as_str())
                .collect();
            if others.is_empty() {
                return true;
            }
            crate::trace::note(format!(
                "token/{id} is the cluster's shared token, still held by {} other secret(s) ({}); not revoked",
                others.len(),
                abbreviate(&others)
            ));
            false
        }
        Err(e) => {
            crate::trace::warning(format!(
                "token/{id} is the cluster's shared token and the secrets holding it cannot be listed ({e}); not revoked, revoke it with `kubectl dedicated-registry token revoke {id}` once unused"
            ));
            false
        }
    }
}

/// `a, b, c +N`.
pub fn abbreviate(items: &[&str]) -> String {
    const SHOWN: usize = 3;
    let mut text = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        text.push_str(&format!(" +{}", items.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Access;

    #[test]
    fn descriptions_name_cluster_namespace_and_secret() {
        let mut spec = SecretSpec {
            name: "regcred".into(),
            docker_email: None,
            description: None,
            access: Access::ReadOnly,
        };
        assert_eq!(
            description(&spec, Some("prod"), "team-a"),
            "kubectl-dedicated-registry prod/team-a/regcred"
        );
        assert_eq!(
            description(&spec, None, "team-a"),
            "kubectl-dedicated-registry cluster/team-a/regcred"
        );
        spec.description = Some("mine".into());
        assert_eq!(description(&spec, Some("prod"), "team-a"), "mine");
    }

    #[test]
    fn long_holder_lists_are_abbreviated() {
        assert_eq!(abbreviate(&["a/x"]), "a/x");
        assert_eq!(abbreviate(&["a/x", "b/x", "c/x"]), "a/x, b/x, c/x");
        assert_eq!(
            abbreviate(&["a/x", "b/x", "c/x", "d/x", "e/x"]),
            "a/x, b/x, c/x +2"
        );
    }
}

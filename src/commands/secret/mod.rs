//! `secret create|render|verify|delete`, one file each; [`plan`] is the pure decision behind
//! `create`, [`namespaces`] the pure `-A` selection.

mod create;
mod delete;
mod fleet;
mod list;
mod namespaces;
mod plan;
mod render;
mod rotate;
mod verify;
mod watch;
mod write;

pub use create::create;
pub use delete::delete;
pub use list::list;
pub use render::render;
pub use rotate::rotate;
pub use verify::verify;

use crate::cli::settings::SecretSpec;

/// The token description: `--description`, else one naming where the token is used (no
/// personal data).
fn description(spec: &SecretSpec, cluster: Option<&str>, namespace: &str) -> String {
    spec.description
        .clone()
        .unwrap_or_else(|| crate::registry::default_description(cluster, namespace, &spec.name))
}

/// Prints the `Target:` line of `secret create` and `secret rotate`: context, cluster, and the
/// namespace or the selection.
fn say_target(
    resolved: &crate::cluster::Resolved,
    fleet: Option<&crate::cli::settings::FleetScope>,
) {
    crate::output::info(format!(
        "Target: context `{}`, cluster `{}`, namespace {}",
        resolved.context.as_deref().unwrap_or("(none)"),
        resolved.cluster.as_deref().unwrap_or("(none)"),
        match fleet {
            Some(f) => match &f.selector {
                Some(s) => format!("-l {s} (except --exclude)"),
                None => "all (except kube-* and --exclude)".to_string(),
            },
            None => format!("`{}`", resolved.namespace),
        }
    ));
}

/// The token `id` recorded in the secret `namespace/name` (`secret`, as it was) of `cluster`,
/// with what [`crate::lifecycle::Recorded`] checks before revoking it: the secret's credential
/// for `registry` and the description this plugin gave the token (the cluster's shared token
/// names no namespace).
fn recorded(
    id: &str,
    secret: Option<&k8s_openapi::api::core::v1::Secret>,
    registry: &str,
    cluster: Option<&str>,
    namespace: &str,
    name: &str,
) -> crate::lifecycle::Recorded {
    let described = if secret.is_some_and(crate::manifests::is_shared) {
        "*"
    } else {
        namespace
    };
    crate::lifecycle::Recorded {
        id: id.to_string(),
        credential: secret
            .and_then(|s| crate::manifests::existing_credential(s, registry))
            .map(|(_, password, _)| secrecy::SecretString::from(password)),
        description: crate::registry::default_description(cluster, described, name),
        object: format!("secret {namespace}/{name}"),
    }
}

/// Revokes a token a write replaced, once [`crate::lifecycle::Recorded`] showed it is that
/// secret's own; a failure is a warning naming the command that finishes the job.
async fn revoke_replaced(
    lifecycle: &mut crate::lifecycle::TokenLifecycle<'_>,
    recorded: &crate::lifecycle::Recorded,
) {
    let id = &recorded.id;
    match lifecycle.revoke_recorded(recorded).await {
        Ok(true) => crate::output::info(format!("token/{id} revoked (replaced)")),
        Ok(false) => {}
        Err(e) => crate::output::warning(format!(
            "the replaced token {id} could not be revoked ({}); revoke it with `kubectl dedicated-registry token revoke {id}`",
            crate::redact::one_line(&format!("{e:#}"))
        )),
    }
}

/// Whether the token `id`, held by the secret `at` (`namespace/name`), may be revoked when that
/// secret stops holding it: a namespace's own token may; the cluster's shared token only when no
/// other managed secret in the cluster holds it (said otherwise, and when that is unknown).
async fn last_holder(
    client: &kube::Client,
    secret: &k8s_openapi::api::core::v1::Secret,
    id: &str,
    at: &str,
) -> bool {
    if !crate::manifests::is_shared(secret) {
        return true;
    }
    match crate::cluster::objects::managed_token_ids(client).await {
        Ok(holders) => {
            let others: Vec<&str> = holders
                .iter()
                .filter(|(holder, held)| held.as_deref() == Some(id) && holder != at)
                .map(|(holder, _)| holder.as_str())
                .collect();
            if others.is_empty() {
                return true;
            }
            crate::output::info(format!(
                "token/{id} is the cluster's shared token, still held by {} other secret(s) ({}); not revoked",
                others.len(),
                fleet::abbreviate(&others)
            ));
            false
        }
        Err(e) => {
            crate::output::warning(format!(
                "token/{id} is the cluster's shared token and the secrets holding it cannot be listed ({e}); not revoked, revoke it with `kubectl dedicated-registry token revoke {id}` once unused"
            ));
            false
        }
    }
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
}

//! `secret create|render|verify|delete`, one file each; [`plan`] is the pure decision behind
//! `create`, [`namespaces`] the pure `-A` selection.

mod create;
mod delete;
mod list;
mod namespaces;
mod plan;
mod render;
mod verify;
mod write;

pub use create::create;
pub use delete::delete;
pub use list::list;
pub use render::render;
pub use verify::verify;

use crate::cli::settings::SecretSpec;

/// The token description: `--description`, else one naming where the token is used (no
/// personal data).
fn description(spec: &SecretSpec, cluster: Option<&str>, namespace: &str) -> String {
    spec.description
        .clone()
        .unwrap_or_else(|| crate::registry::default_description(cluster, namespace, &spec.name))
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

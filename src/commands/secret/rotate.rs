//! `secret rotate`: the plan ([`crate::engine::rotate::plan`]) as a table for `--dry-run`, else
//! the rotation ([`crate::engine::rotate::Rotation`]), its lines printed as kubectl does.

use crate::cli::settings::RotateSettings;
use crate::cluster;
use crate::commands::Ctx;
use crate::engine::holders::abbreviate;
use crate::engine::rotate::{Group, Rotation, access_change, namespaces_of, plan, plan_notes};
use crate::manifests;
use crate::output;

/// `secret rotate`.
pub async fn rotate(ctx: &Ctx, settings: RotateSettings) -> anyhow::Result<()> {
    let profile = ctx.require_profile()?;
    let resolved = cluster::resolve(&ctx.global.kube).await?;
    manifests::validate_namespace(&resolved.namespace)?;
    super::say_target(&resolved, settings.fleet.as_ref());
    let target = resolved.connect()?;
    let groups = plan(&target, &settings, (&profile.registry, profile.provider)).await?;
    if settings.dry_run {
        output::data(&plan_table(&groups))?;
        plan_notes(&groups);
        output::info("Dry run: nothing was minted, written or revoked");
        return Ok(());
    }
    plan_notes(&groups);
    let mut provider = ctx.provider(profile)?;
    let reporter = super::create::lines();
    Rotation::new(&settings, &target, &*provider, &reporter)
        .run(groups, &mut *provider)
        .await
}

/// The plan: TOKEN, SCOPE, ACCESS, SECRETS, NAMESPACES.
fn plan_table(groups: &[Group]) -> String {
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let namespaces = namespaces_of(g);
            let namespaces: Vec<&str> = namespaces.iter().map(String::as_str).collect();
            vec![
                g.id.clone(),
                if g.shared { "cluster" } else { "namespace" }.to_string(),
                access_change(g),
                (g.members.len() + g.outside.len()).to_string(),
                abbreviate(&namespaces),
            ]
        })
        .collect();
    crate::output::table(
        &["TOKEN", "SCOPE", "ACCESS", "SECRETS", "NAMESPACES"],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rotate::{Member, group};
    use crate::registry::Access;

    const OLD: &str = "11111111-2222-3333-4444-555555555555";

    fn member(namespace: &str) -> Member {
        let mut secret = manifests::pull_secret(
            "regcred",
            namespace,
            &manifests::PullSecretSpec {
                registry: "registry.example",
                username: "token",
                token: "t",
                token_id: OLD,
                email: "",
                readwrite: false,
            },
        );
        manifests::mark_shared(&mut secret);
        Member {
            namespace: namespace.into(),
            name: "regcred".into(),
            secret,
        }
    }

    #[test]
    fn the_plan_table_names_scope_and_namespaces() {
        let holders = vec![
            ("a/regcred".to_string(), Some(OLD.to_string())),
            ("b/regcred".to_string(), Some(OLD.to_string())),
            ("z/regcred".to_string(), Some(OLD.to_string())),
        ];
        let selected = vec![member("a"), member("b")];
        let (groups, _) = group(
            selected,
            ("registry.example", crate::store::ProviderKind::Dedicated),
            Some(&holders),
            Some(Access::ReadWrite),
        );
        let table = plan_table(&groups);
        assert!(table.contains("cluster"), "{table}");
        assert!(table.contains("a, b, z"), "{table}");
        assert!(table.contains("read-only -> read-write"), "{table}");
    }
}

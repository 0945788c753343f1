//! `token prune`: revokes the tokens this plugin minted for the current cluster that no pull
//! secret of the cluster holds any more (left behind by `kubectl delete namespace`, a secret
//! deleted with kubectl, a cluster rebuilt under the same name).
//!
//! Only a token whose description parses as this plugin's
//! ([`crate::registry::parse_description`]) and names the current cluster is a candidate; a
//! token held by any `dockerconfigjson` secret of the cluster (by its recorded id or by the
//! `jti` of its credential) is kept. The cluster must be listed completely: a partial view
//! would revoke live tokens, so any failure to list prunes nothing. The plan is shown first,
//! confirmed on a terminal (or `--yes`), and the cluster is read again just before revoking.

use std::collections::BTreeSet;

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ListParams};

use super::{Usage, access, one_line};
use crate::cli::settings::TokenPruneSettings;
use crate::cluster::{self, Target};
use crate::commands::Ctx;
use crate::engine::inventory;
use crate::engine::lifecycle::TokenLifecycle;
use crate::output;
use crate::registry::{self, TokenEntry};

/// Cluster names that many unrelated clusters share (kubeadm, k3s, kind defaults...): tokens
/// of another cluster of the same name look like this one's.
const COMMON_CLUSTER_NAMES: &[&str] = &["kubernetes", "default", "local", "cluster"];

/// What the cluster holds, as far as pruning is concerned.
pub(super) struct ClusterView {
    /// Token id → the secrets holding it.
    pub usage: Usage,
    /// `namespace/name` of every pull secret.
    pub secrets: BTreeSet<String>,
    /// The namespaces, when they could be listed (only used to explain).
    pub namespaces: Option<BTreeSet<String>>,
}

/// One token to revoke, and why.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Candidate<'a> {
    pub token: &'a TokenEntry,
    pub reason: String,
}

/// The decision: what to revoke and how many tokens were kept for each reason.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Plan<'a> {
    pub revoke: Vec<Candidate<'a>>,
    pub in_use: usize,
    pub other_clusters: usize,
    pub not_ours: usize,
}

/// Decides what to prune: tokens described by this plugin for `cluster`, live, and held by no
/// pull secret of the cluster. Pure.
pub(super) fn plan<'a>(tokens: &'a [TokenEntry], cluster: &str, view: &ClusterView) -> Plan<'a> {
    let mut plan = Plan::default();
    for token in tokens.iter().filter(|t| !t.revoked) {
        let Some(described) = registry::parse_description(&token.description) else {
            plan.not_ours += 1;
            continue;
        };
        if described.cluster != cluster {
            plan.other_clusters += 1;
            continue;
        }
        if view.usage.get(&token.id).is_some_and(|h| !h.is_empty()) {
            plan.in_use += 1;
            continue;
        }
        let secret = &described.secret;
        let reason = match &described.namespace {
            None => format!("no secret holds it (it was shared as */{secret})"),
            Some(ns)
                if view
                    .namespaces
                    .as_ref()
                    .is_some_and(|all| !all.contains(ns)) =>
            {
                format!("namespace {ns} no longer exists")
            }
            Some(ns) if view.secrets.contains(&format!("{ns}/{secret}")) => {
                format!("secret {ns}/{secret} holds another token")
            }
            Some(ns) => format!("secret {ns}/{secret} no longer exists"),
        };
        plan.revoke.push(Candidate { token, reason });
    }
    plan
}

/// Reads every pull secret of the cluster (one LIST across all namespaces), and the namespaces
/// when allowed.
async fn read_cluster(target: &Target, registry: &str) -> anyhow::Result<ClusterView> {
    let secrets: Vec<Secret> =
        inventory::list_secrets(target, None, &inventory::pull_secret_selector()).await?;
    let namespaces: Api<Namespace> = Api::all(target.client.clone());
    let namespaces = namespaces
        .list(&ListParams::default())
        .await
        .ok()
        .map(|list| {
            list.items
                .into_iter()
                .filter_map(|n| n.metadata.name)
                .collect()
        });
    Ok(ClusterView {
        usage: inventory::holders(&secrets, registry),
        secrets: secrets.iter().map(inventory::qualified).collect(),
        namespaces,
    })
}

/// `token prune`.
pub async fn prune(ctx: &Ctx, settings: TokenPruneSettings) -> anyhow::Result<()> {
    let profile = ctx.require_profile()?;
    let registry = profile.registry.clone();
    let mut provider = ctx.provider(profile)?;
    let target = cluster::resolve(&ctx.global.kube).await?.connect()?;
    let Some(cluster) = target.cluster.clone() else {
        bail!(
            "the kubeconfig context names no cluster, so the tokens minted for it cannot be told from other clusters' tokens; nothing was revoked"
        );
    };
    if COMMON_CLUSTER_NAMES.contains(&cluster.as_str()) {
        output::warning(format!(
            "cluster name `{cluster}` is a common default: tokens minted for another cluster of the same name look like this one's; check the plan"
        ));
    }
    let tokens = provider.list().await?;
    let incomplete = || {
        format!(
            "nothing was revoked: without every pull secret of cluster `{cluster}`, tokens still in use would look unused"
        )
    };
    let view = read_cluster(&target, &registry)
        .await
        .with_context(incomplete)?;
    let plan = plan(&tokens, &cluster, &view);
    output::info(format!(
        "Cluster `{cluster}` ({}), registry {registry}: {} token(s) to revoke; kept {} in use, {} of other clusters, {} not minted by this plugin",
        target.server,
        plan.revoke.len(),
        plan.in_use,
        plan.other_clusters,
        plan.not_ours
    ));
    if plan.revoke.is_empty() {
        return Ok(());
    }
    output::data(&plan_table(&plan))?;
    if settings.dry_run {
        output::info("Dry run: nothing was revoked");
        return Ok(());
    }
    if !settings.yes
        && !confirm(&format!(
            "Revoke these {} token(s) of cluster `{cluster}`?",
            plan.revoke.len()
        ))?
    {
        bail!("not confirmed: nothing was revoked");
    }
    // The answer may have taken a while: a token written into a secret meanwhile is kept.
    let now = read_cluster(&target, &registry)
        .await
        .with_context(incomplete)?;
    revoke_all(&mut *provider, &plan, &now).await
}

/// Revokes the planned tokens still unused in `now`; one summary line, exit 1 if any failed.
async fn revoke_all(
    session: &mut dyn crate::providers::Provider,
    plan: &Plan<'_>,
    now: &ClusterView,
) -> anyhow::Result<()> {
    let mut lifecycle = TokenLifecycle::new(session);
    let (mut revoked, mut failed, mut kept) = (0, Vec::new(), 0);
    for candidate in &plan.revoke {
        let id = &candidate.token.id;
        if let Some(holders) = now.usage.get(id).filter(|h| !h.is_empty()) {
            output::warning(format!(
                "token {id} is now held by {}; it was kept",
                inventory::in_use_cell(Some(holders))
            ));
            kept += 1;
            continue;
        }
        match lifecycle.revoke(id).await {
            Ok(()) => {
                output::data(&format!("token/{id} revoked"))?;
                revoked += 1;
            }
            Err(e) => {
                let e = crate::redact::one_line(&format!("{e:#}"));
                output::warning(format!("token {id} could not be revoked: {e}"));
                failed.push(id.clone());
            }
        }
    }
    let summary = format!(
        "{revoked} revoked, {} failed{}",
        failed.len(),
        if kept > 0 {
            format!(", {kept} kept (now in use)")
        } else {
            String::new()
        }
    );
    if !failed.is_empty() {
        bail!(
            "{summary}: retry with `kubectl dedicated-registry token revoke {}`",
            failed.join(" ")
        );
    }
    output::info(summary);
    Ok(())
}

/// The plan: ID, ACCESS, DESCRIPTION, REASON.
fn plan_table(plan: &Plan<'_>) -> String {
    let rows: Vec<Vec<String>> = plan
        .revoke
        .iter()
        .map(|c| {
            vec![
                output::printable(&c.token.id),
                access(c.token).to_string(),
                one_line(&c.token.description),
                c.reason.clone(),
            ]
        })
        .collect();
    crate::output::table(&["ID", "ACCESS", "DESCRIPTION", "REASON"], &rows)
}

/// Asks `question [y/N]` on the terminal; without one, `--yes` is required.
fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, IsTerminal as _, Write};
    if !std::io::stdin().is_terminal() {
        bail!(
            "no terminal to confirm the revocation: re-run with --yes (or --dry-run to only show the plan)"
        );
    }
    #[cfg(unix)]
    let (mut reader, mut writer): (Box<dyn BufRead>, Box<dyn Write>) = {
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .context("cannot open the terminal (/dev/tty) to confirm; re-run with --yes")?;
        let copy = tty.try_clone()?;
        (Box::new(std::io::BufReader::new(tty)), Box::new(copy))
    };
    #[cfg(not(unix))]
    let (mut reader, mut writer): (Box<dyn BufRead>, Box<dyn Write>) = (
        Box::new(std::io::stdin().lock()),
        Box::new(std::io::stderr()),
    );
    write!(writer, "{question} [y/N]: ")?;
    writer.flush()?;
    let mut answer = String::new();
    reader.read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::default_description;

    fn token(id: &str, description: &str) -> TokenEntry {
        TokenEntry {
            id: id.into(),
            description: description.into(),
            readonly: Some(true),
            revoked: false,
            expiry: None,
        }
    }

    fn view(held: &[(&str, &str)], secrets: &[&str], namespaces: Option<&[&str]>) -> ClusterView {
        let mut usage = Usage::new();
        for (id, holder) in held {
            usage
                .entry(id.to_string())
                .or_default()
                .push(holder.to_string());
        }
        ClusterView {
            usage,
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
            namespaces: namespaces.map(|n| n.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn only_unused_tokens_of_this_cluster_minted_by_the_plugin_are_pruned() {
        let mut revoked = token("revoked", &default_description(Some("prod"), "gone", "x"));
        revoked.revoked = true;
        let tokens = [
            token(
                "used",
                &default_description(Some("prod"), "team-a", "regcred"),
            ),
            token(
                "gone-ns",
                &default_description(Some("prod"), "gone", "regcred"),
            ),
            token(
                "gone-secret",
                &default_description(Some("prod"), "team-a", "old"),
            ),
            token(
                "replaced",
                &default_description(Some("prod"), "team-b", "regcred"),
            ),
            token("shared", &default_description(Some("prod"), "*", "fleet")),
            token("other", &default_description(Some("staging"), "gone", "x")),
            token("mine", "ci pipeline for prod/gone/x"),
            token("custom", "kubectl-dedicated-registry prod"),
            revoked,
        ];
        let view = view(
            &[("used", "team-a/regcred"), ("other-id", "team-b/regcred")],
            &["team-a/regcred", "team-b/regcred"],
            Some(&["team-a", "team-b"]),
        );
        let plan = plan(&tokens, "prod", &view);
        let revoke: Vec<(&str, &str)> = plan
            .revoke
            .iter()
            .map(|c| (c.token.id.as_str(), c.reason.as_str()))
            .collect();
        assert_eq!(
            revoke,
            vec![
                ("gone-ns", "namespace gone no longer exists"),
                ("gone-secret", "secret team-a/old no longer exists"),
                ("replaced", "secret team-b/regcred holds another token"),
                ("shared", "no secret holds it (it was shared as */fleet)"),
            ]
        );
        assert_eq!((plan.in_use, plan.other_clusters, plan.not_ours), (1, 1, 2));
        // Without the namespace list, the reason is about the secret.
        let unknown = ClusterView {
            namespaces: None,
            ..view
        };
        let plan = self::plan(&tokens, "prod", &unknown);
        assert_eq!(
            plan.revoke[0].reason,
            "secret gone/regcred no longer exists"
        );
    }

    #[test]
    fn a_token_held_anywhere_is_kept() {
        let tokens = [token("t", &default_description(Some("prod"), "a", "b"))];
        let held = view(&[("t", "elsewhere/copy")], &[], None);
        assert!(plan(&tokens, "prod", &held).revoke.is_empty());
        let free = view(&[], &[], None);
        assert_eq!(plan(&tokens, "prod", &free).revoke.len(), 1);
        assert!(plan(&tokens, "staging", &free).revoke.is_empty());
    }
}

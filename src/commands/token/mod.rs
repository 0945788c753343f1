//! `token list`, `token revoke` and `token prune` ([`prune`]): the registry tokens of the
//! profile's org, and which secrets of the current cluster hold them.

mod prune;

pub use prune::prune;

use std::collections::BTreeMap;

use anyhow::bail;

use super::Ctx;
use crate::cli::settings::{TokenListSettings, TokenRevokeSettings};
use crate::engine::inventory;
use crate::registry::{DESCRIPTION_PREFIX, TokenEntry};
use crate::{cluster, output};

/// How long `token list` waits for the cluster's secrets by default.
const USAGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Token id → the `namespace/name` of every pull secret of the current cluster holding it.
pub(super) type Usage = BTreeMap<String, Vec<String>>;

/// Which pull secrets of the current cluster hold each token of `registry`: one LIST of the
/// `kubernetes.io/dockerconfigjson` secrets of every namespace. An error when the cluster cannot
/// be listed completely (unreachable, forbidden).
pub(super) async fn usage(ctx: &Ctx, registry: &str) -> anyhow::Result<(cluster::Target, Usage)> {
    let target = cluster::resolve(&ctx.global.kube).await?.connect()?;
    let secrets =
        inventory::list_secrets(&target, None, &inventory::pull_secret_selector()).await?;
    let holders = inventory::holders(&secrets, registry);
    Ok((target, holders))
}

/// [`usage`] within `--request-timeout`, else within [`USAGE_TIMEOUT`].
async fn bounded_usage(ctx: &Ctx, registry: &str) -> anyhow::Result<(cluster::Target, Usage)> {
    let wait = match ctx.global.kube.request_timeout {
        Some(None) => return usage(ctx, registry).await,
        Some(Some(timeout)) => timeout,
        None => USAGE_TIMEOUT,
    };
    tokio::time::timeout(wait, usage(ctx, registry))
        .await
        .unwrap_or_else(|_| {
            Err(anyhow::anyhow!(
                "the Kubernetes API server did not answer within {} (--request-timeout sets the wait)",
                humantime::format_duration(wait)
            ))
        })
}

/// One token as `-o json|yaml` prints it.
#[derive(serde::Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    token: &'a TokenEntry,
    /// The secrets of the current cluster holding it; absent when the cluster was not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    in_use: Option<&'a [String]>,
}

/// `token list`.
pub async fn list(ctx: &Ctx, settings: TokenListSettings) -> anyhow::Result<()> {
    let profile = ctx.require_profile()?;
    let registry = profile.registry.clone();
    let mut provider = ctx.provider(profile.clone())?;
    // The registry and the cluster are asked at the same time; IN-USE is extra information, so
    // an unreachable cluster costs at most USAGE_TIMEOUT unless --request-timeout says otherwise.
    // A registry failure ends the command at once, without waiting for the cluster.
    let (mut tokens, usage) = futures::try_join!(
        async { Ok::<_, anyhow::Error>(provider.list().await?) },
        async { Ok(bounded_usage(ctx, &registry).await) },
    )?;
    if !settings.all {
        tokens.retain(|t| t.description.starts_with(DESCRIPTION_PREFIX));
    }
    tokens.sort_by(|a, b| a.description.cmp(&b.description).then(a.id.cmp(&b.id)));
    let usage = match usage {
        Ok((_, usage)) => Some(usage),
        Err(e) if settings.unused => {
            bail!("--unused needs every pull secret of the cluster, and {e:#}")
        }
        Err(e) => {
            output::warning(format!(
                "IN-USE shows <unknown>: {}",
                crate::redact::one_line(&format!("{e:#}"))
            ));
            None
        }
    };
    if let Some(usage) = &usage
        && settings.unused
    {
        tokens.retain(|t| !usage.contains_key(&t.id));
    }
    let in_use = |t: &TokenEntry| {
        usage
            .as_ref()
            .map(|u| u.get(&t.id).map(Vec::as_slice).unwrap_or_default())
    };
    if let Some(format) = settings.format {
        let listed: Vec<Listed> = tokens
            .iter()
            .map(|t| Listed {
                token: t,
                in_use: in_use(t),
            })
            .collect();
        return Ok(output::data(&output::render(&listed, format)?)?);
    }
    if tokens.is_empty() {
        output::info(format!(
            "No {}tokens{} in org {} at {}",
            if settings.unused { "unused " } else { "" },
            if settings.all {
                ""
            } else {
                " minted by this plugin (--all shows every token)"
            },
            profile.org,
            profile.registry
        ));
        return Ok(());
    }
    let cells: Vec<String> = tokens
        .iter()
        .map(|t| match &usage {
            Some(u) => inventory::in_use_cell(u.get(&t.id)),
            None => "<unknown>".to_string(),
        })
        .collect();
    Ok(output::data(&table(&tokens, &cells))?)
}

/// The access column: `read-only`, `read-write`, `revoked` or `unknown`.
pub(super) fn access(t: &TokenEntry) -> &'static str {
    match (t.revoked, t.readonly) {
        (true, _) => "revoked",
        (false, Some(true)) => "read-only",
        (false, Some(false)) => "read-write",
        (false, None) => "unknown",
    }
}

/// A description from the server, on one line and without terminal controls.
pub(super) fn one_line(description: &str) -> String {
    output::printable(description).replace(['\n', '\t'], " ")
}

/// The `token list` table; `in_use` holds the IN-USE cell of each token.
fn table(tokens: &[TokenEntry], in_use: &[String]) -> String {
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .zip(in_use)
        .map(|(t, in_use)| {
            let expires = match t.expiry {
                None => "never".to_string(),
                Some(secs) => humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64),
                )
                .to_string(),
            };
            // Ids and descriptions come from the server: no terminal controls reach the screen.
            vec![
                output::printable(&t.id),
                access(t).to_string(),
                expires,
                output::printable(in_use),
                one_line(&t.description),
            ]
        })
        .collect();
    crate::output::table(&["ID", "ACCESS", "EXPIRES", "IN-USE", "DESCRIPTION"], &rows)
}

/// `token revoke`.
pub async fn revoke(ctx: &Ctx, settings: TokenRevokeSettings) -> anyhow::Result<()> {
    let mut provider = ctx.provider(ctx.require_profile()?)?;
    let registry = provider.registry().to_string();
    let held = held_by(ctx, &registry, &settings).await;
    let mut failed = Vec::new();
    for id in &settings.ids {
        if let Some(holders) = held.get(id).filter(|_| !settings.force) {
            failed.push(format!(
                "token/{id} is held by {} pull secret(s) of the current cluster ({}); their pods' pulls would fail: replace it with `kubectl dedicated-registry secret rotate`, or pass --force to revoke it anyway",
                holders.len(),
                inventory::in_use_cell(Some(holders))
            ));
            continue;
        }
        match provider.revoke(id).await {
            Ok(()) => output::data(&format!("token/{id} revoked"))?,
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

/// Which of the tokens to revoke the current cluster's pull secrets hold; empty with `--force`
/// (nothing to check), and when the cluster cannot be read (then said in a warning: the
/// registry's answer is all there is).
async fn held_by(ctx: &Ctx, registry: &str, settings: &TokenRevokeSettings) -> Usage {
    if settings.force {
        return Usage::new();
    }
    match bounded_usage(ctx, registry).await {
        Ok((_, mut usage)) => {
            usage.retain(|id, _| settings.ids.contains(id));
            usage
        }
        Err(e) => {
            output::warning(format!(
                "cannot check which pull secrets of the current cluster hold the token(s) ({}); revoking anyway",
                crate::redact::one_line(&format!("{e:#}"))
            ));
            Usage::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shows_access_and_expiry() {
        let entry = |id: &str, readonly, revoked, expiry| TokenEntry {
            id: id.into(),
            description: format!("d-{id}"),
            readonly,
            revoked,
            expiry,
        };
        let text = table(
            &[
                entry("a", Some(true), false, None),
                entry("b", Some(false), false, Some(0)),
                entry("c", None, true, Some(86400)),
                entry("d", None, false, None),
            ],
            &[
                "team-a/regcred +2".into(),
                "-".into(),
                "<unknown>".into(),
                "-".into(),
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID ") && lines[0].ends_with("DESCRIPTION"));
        assert!(lines[1].contains("read-only") && lines[1].contains("never"));
        assert!(lines[2].contains("read-write"));
        assert!(lines[3].contains("revoked") && lines[3].contains("1970-01-02T00:00:00Z"));
        assert!(lines[4].contains("unknown"));
        assert!(lines[1].ends_with("d-a"));
        assert!(lines[0].contains(" IN-USE "), "{text}");
        assert!(lines[1].contains("team-a/regcred +2"), "{text}");
        assert!(lines[3].contains("<unknown>"), "{text}");
    }
}

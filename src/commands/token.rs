//! `token list` and `token revoke`: the registry tokens of the profile's org.

use anyhow::bail;

use super::{Ctx, print_stdout, to_text};
use crate::cli::{ManifestFormat, TokenListArgs, TokenRevokeArgs};
use crate::registry::RegistryApi;
use crate::session;

/// Description prefix of the tokens this plugin mints by default.
pub const DESCRIPTION_PREFIX: &str = "kubectl-dedicated-registry";

/// `token list`.
pub async fn list(ctx: &Ctx, args: TokenListArgs) -> anyhow::Result<()> {
    let profile = ctx.require_profile()?;
    let client = session::http_client(&profile)?;
    let access =
        session::access_token(ctx.store.clone(), ctx.profile_name(), &profile, &client).await?;
    let api = RegistryApi::new(&client, &profile.registry, &access, &profile.org_guid);
    let mut tokens = api.list().await?;
    if !args.all {
        tokens.retain(|t| t.description.starts_with(DESCRIPTION_PREFIX));
    }
    tokens.sort_by(|a, b| a.description.cmp(&b.description).then(a.id.cmp(&b.id)));
    match args.output {
        Some(format) => print_stdout(&to_text(&tokens, format == ManifestFormat::Yaml)?),
        None => {
            if tokens.is_empty() {
                super::warn(format!(
                    "No tokens{} in org {} at {}",
                    if args.all {
                        ""
                    } else {
                        " minted by this plugin (--all shows every token)"
                    },
                    profile.org,
                    profile.registry
                ));
                return Ok(());
            }
            let mut text = format!(
                "{:<38} {:<10} {:<20} DESCRIPTION\n",
                "ID", "ACCESS", "EXPIRES"
            );
            for t in &tokens {
                let access = match (t.revoked, t.readonly) {
                    (true, _) => "revoked",
                    (false, Some(true)) => "read-only",
                    (false, Some(false)) => "read-write",
                    (false, None) => "unknown",
                };
                let expires = match t.expiry {
                    None => "never".to_string(),
                    Some(secs) => humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64),
                    )
                    .to_string(),
                };
                text.push_str(&format!(
                    "{:<38} {:<10} {:<20} {}\n",
                    t.id, access, expires, t.description
                ));
            }
            print_stdout(&text)
        }
    }
}

/// `token revoke`.
pub async fn revoke(ctx: &Ctx, args: TokenRevokeArgs) -> anyhow::Result<()> {
    for id in &args.ids {
        if id.is_empty() || id.contains(['/', '?', '#']) || id.split('.').count() == 3 {
            bail!(
                "invalid token id `{}`: pass the id shown by `token list`, not the token itself",
                if id.split('.').count() == 3 {
                    "<a token>"
                } else {
                    id
                }
            );
        }
    }
    let profile = ctx.require_profile()?;
    let client = session::http_client(&profile)?;
    let access =
        session::access_token(ctx.store.clone(), ctx.profile_name(), &profile, &client).await?;
    let api = RegistryApi::new(&client, &profile.registry, &access, &profile.org_guid);
    let mut failed = Vec::new();
    for id in &args.ids {
        match api.revoke(id).await {
            Ok(()) => print_stdout(&format!("token/{id} revoked"))?,
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

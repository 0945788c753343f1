//! `token list` and `token revoke`: the registry tokens of the profile's org.

use anyhow::bail;

use super::Ctx;
use crate::cli::settings::{TokenListSettings, TokenRevokeSettings};
use crate::output;
use crate::registry::{DESCRIPTION_PREFIX, TokenEntry};

/// `token list`.
pub async fn list(ctx: &Ctx, settings: TokenListSettings) -> anyhow::Result<()> {
    let mut session = ctx.session()?;
    let mut tokens = session
        .registry_idempotent(async |api| api.list().await)
        .await?;
    if !settings.all {
        tokens.retain(|t| t.description.starts_with(DESCRIPTION_PREFIX));
    }
    tokens.sort_by(|a, b| a.description.cmp(&b.description).then(a.id.cmp(&b.id)));
    if let Some(format) = settings.format {
        return Ok(output::data(&output::render(&tokens, format)?)?);
    }
    if tokens.is_empty() {
        let profile = session.profile();
        output::info(format!(
            "No tokens{} in org {} at {}",
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
    Ok(output::data(&table(&tokens))?)
}

/// The `token list` table.
fn table(tokens: &[TokenEntry]) -> String {
    let mut text = format!(
        "{:<38} {:<10} {:<20} DESCRIPTION\n",
        "ID", "ACCESS", "EXPIRES"
    );
    for t in tokens {
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
        // Ids and descriptions come from the server: no terminal controls reach the screen.
        text.push_str(&format!(
            "{:<38} {:<10} {:<20} {}\n",
            output::printable(&t.id),
            access,
            expires,
            output::printable(&t.description).replace(['\n', '\t'], " ")
        ));
    }
    text
}

/// `token revoke`.
pub async fn revoke(ctx: &Ctx, settings: TokenRevokeSettings) -> anyhow::Result<()> {
    let mut session = ctx.session()?;
    let mut failed = Vec::new();
    for id in &settings.ids {
        match session
            .registry_idempotent(async |api| api.revoke(id).await)
            .await
        {
            Ok(()) => output::data(&format!("token/{id} revoked"))?,
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
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
        let text = table(&[
            entry("a", Some(true), false, None),
            entry("b", Some(false), false, Some(0)),
            entry("c", None, true, Some(86400)),
            entry("d", None, false, None),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID ") && lines[0].ends_with("DESCRIPTION"));
        assert!(lines[1].contains("read-only") && lines[1].contains("never"));
        assert!(lines[2].contains("read-write"));
        assert!(lines[3].contains("revoked") && lines[3].contains("1970-01-02T00:00:00Z"));
        assert!(lines[4].contains("unknown"));
        assert!(lines[1].ends_with("d-a"));
    }
}

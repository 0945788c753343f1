//! `status`: what the plugin would use, and whether the stored login still works. Never a token.

use super::{Ctx, print_stdout};
use crate::cluster;
use crate::config::CredentialSource;
use crate::session;

/// `status`.
pub async fn status(ctx: &Ctx) -> anyhow::Result<()> {
    let profile = ctx.require_profile()?;
    let client = session::http_client(&profile)?;
    let login =
        match session::access_token(ctx.store.clone(), ctx.profile_name(), &profile, &client).await
        {
            Ok(_) => "valid (refreshed just now)".to_string(),
            Err(e) => format!("NOT usable: {}", crate::redact::one_line(&format!("{e:#}"))),
        };
    let credential = match profile.credential {
        CredentialSource::Keyring => "OS keyring (refresh token)".to_string(),
        CredentialSource::Environment => format!("{} environment variable", crate::env::API_KEY),
    };
    let kube = match cluster::resolve(&ctx.kube).await {
        Ok(r) => format!(
            "context `{}`, cluster `{}`, namespace `{}`",
            r.context.as_deref().unwrap_or("(none)"),
            r.cluster.as_deref().unwrap_or("(none)"),
            r.namespace
        ),
        Err(e) => format!("unavailable: {e}"),
    };
    let text = format!(
        "Profile:      {}\nAPI:          {}\nUser:         {} ({} login)\nOrg:          {} ({})\nRegistry:     {}\nCredential:   {}\nLogin:        {}\nKubernetes:   {}\n",
        ctx.profile_name(),
        profile.api,
        profile.username,
        match profile.login_method {
            crate::config::LoginMethod::Password => "password",
            crate::config::LoginMethod::Sso => "SSO passcode",
            crate::config::LoginMethod::ApiKey => "API key",
        },
        profile.org,
        profile.org_guid,
        profile.registry,
        credential,
        login,
        kube
    );
    print_stdout(&text)?;
    if login.starts_with("NOT") {
        anyhow::bail!(
            "the stored login for profile `{}` cannot be refreshed; run `kubectl dedicated-registry login` again",
            ctx.profile_name()
        );
    }
    Ok(())
}

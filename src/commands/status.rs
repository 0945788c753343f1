//! `status`: what the plugin would use, and whether the stored login still works. Never a token.

use super::Ctx;
use crate::providers::dedicated::session::SessionError;
use crate::store::{CredentialSource, LoginMethod};
use crate::{cluster, output};

/// `status`.
pub async fn status(ctx: &Ctx) -> anyhow::Result<()> {
    let profile = ctx.require_profile()?;
    if profile.provider == crate::store::ProviderKind::Icr {
        return icr_status(ctx, profile).await;
    }
    let mut session = ctx.open(profile)?;
    let refreshed = session.access_token().await;
    // Interrupted: the refresh finished and was stored; say only that (issue 24, N9).
    if let Err(e @ SessionError::Interrupted(_)) = refreshed {
        return Err(e.into());
    }
    let login = match &refreshed {
        Ok(_) => "valid (refreshed just now)".to_string(),
        Err(e) => format!("NOT usable: {}", crate::redact::one_line(&format!("{e:#}"))),
    };
    let profile = session.profile();
    let credential = match profile.credential {
        CredentialSource::Keyring => "OS keyring (refresh token)".to_string(),
        CredentialSource::Environment => format!(
            "{} environment variable (API key)",
            profile
                .api_key_env
                .as_deref()
                .unwrap_or(crate::env::API_KEY)
        ),
    };
    let kube = match cluster::resolve(&ctx.global.kube).await {
        Ok(r) => format!(
            "context `{}`, cluster `{}`, namespace `{}`",
            r.context.as_deref().unwrap_or("(none)"),
            r.cluster.as_deref().unwrap_or("(none)"),
            r.namespace
        ),
        Err(e) => format!("unavailable: {e}"),
    };
    let method = match profile.login_method {
        LoginMethod::Password => "password",
        LoginMethod::Sso => "SSO passcode",
        LoginMethod::ApiKey => "API key",
    };
    let text = format!(
        "Profile:      {}\nAPI:          {}\nUser:         {} ({method} login)\nOrg:          {} ({})\nRegistry:     {}\nCredential:   {credential}\nLogin:        {login}\nKubernetes:   {kube}\n",
        ctx.profile_name(),
        profile.api,
        profile.username,
        profile.org,
        profile.org_guid,
        profile.registry,
    );
    output::data(&text)?;
    match refreshed {
        Ok(_) => Ok(()),
        // Nothing is stored for an API-key profile: the variable's error says what to do
        // (issue 24, friction 13).
        Err(e) if profile.credential == CredentialSource::Environment => Err(e.into()),
        Err(_) => anyhow::bail!(
            "the stored login for profile `{}` cannot be refreshed; run `kubectl dedicated-registry login` again",
            ctx.profile_name()
        ),
    }
}

/// `status` of an icr.io profile: IAM, account, registry, the pull policy's scope, and
/// whether the API key is still accepted.
async fn icr_status(ctx: &Ctx, profile: crate::store::Profile) -> anyhow::Result<()> {
    let mut session = crate::providers::icr::IcrSession::new(
        ctx.profile_name(),
        profile.clone(),
        ctx.store.clone(),
        ctx.cancel.clone(),
    )?;
    let refreshed = session.access_token().await;
    let login = match &refreshed {
        Ok(_) => "valid (IAM accepted the API key just now)".to_string(),
        Err(e) => format!("NOT usable: {}", crate::redact::one_line(&format!("{e:#}"))),
    };
    let credential = match profile.credential {
        CredentialSource::Keyring => "OS keyring (IAM API key)".to_string(),
        CredentialSource::Environment => format!(
            "{} environment variable (IAM API key)",
            profile
                .api_key_env
                .as_deref()
                .unwrap_or(crate::env::API_KEY)
        ),
    };
    let scope = if profile.account_wide {
        "every registry namespace of the account".to_string()
    } else {
        profile.registry_namespaces.join(", ")
    };
    output::data(&format!(
        "Profile:      {}\nProvider:     icr.io (IBM Cloud IAM)\nIAM:          {}\nUser:         {} (API key login)\nAccount:      {}\nRegistry:     {}\nPull policy:  {scope}\nCredential:   {credential}\nLogin:        {login}\n",
        ctx.profile_name(),
        profile.api,
        profile.username,
        profile.org_guid,
        profile.registry,
    ))?;
    refreshed.map(drop).map_err(Into::into)
}

//! `login` for icr.io: an IAM API key (stdin, `IBMCLOUD_API_KEY`, or a variable read on every
//! run), checked with IAM's API-key grant; the account is the access token's `account.bss`.
//! The key goes to the OS keyring (never the settings file); the profile records the registry
//! domain and the scope of the pull policy.

use std::io::IsTerminal as _;

use anyhow::{Context as _, bail};
use secrecy::SecretString;

use super::{api_key_from, hidden_prompt, keep_credential, secret_from_stdin};
use crate::cli::settings::LoginSettings;
use crate::commands::Ctx;
use crate::output;
use crate::providers::icr::iam;
use crate::store::{ConfigFile, CredentialSource, LoginMethod, Profile, ProviderKind};

/// The API key, and where later runs get it.
fn api_key(settings: &LoginSettings) -> anyhow::Result<(SecretString, CredentialSource)> {
    if settings.apikey_stdin {
        let key = if std::io::stdin().is_terminal() {
            hidden_prompt("IBM Cloud API key: ", "API key", "a pipe")?
        } else {
            secret_from_stdin("API key", "--apikey-stdin")?
        };
        return Ok((key, CredentialSource::Keyring));
    }
    if let Some(name) = &settings.apikey_env {
        output::info(format!(
            "Using the API key in {name}; it will be read from the environment on every run and not stored"
        ));
        return Ok((api_key_from(name)?, CredentialSource::Environment));
    }
    if let Some(key) = crate::providers::dedicated::session::api_key_from_var(crate::env::API_KEY) {
        output::info(format!(
            "Using the API key in {}; it is stored in the OS keyring",
            crate::env::API_KEY
        ));
        return Ok((key, CredentialSource::Keyring));
    }
    if std::io::stdin().is_terminal() {
        return Ok((
            hidden_prompt("IBM Cloud API key: ", "API key", "--apikey-stdin")?,
            CredentialSource::Keyring,
        ));
    }
    bail!(
        "no API key: pipe it in with --apikey-stdin, or set {} (never pass it as an argument)",
        crate::env::API_KEY
    )
}

/// `login --registry <icr.io domain>`.
pub async fn login(ctx: &Ctx, settings: LoginSettings) -> anyhow::Result<()> {
    let profile_name = ctx.profile_name().to_string();
    let (config_path, config_file) = ctx.config()?;
    let previous = config_file.profiles.get(&profile_name).cloned();
    let registry = settings.registry.clone().unwrap_or_default();
    let iam_url = settings
        .iam_url
        .clone()
        .unwrap_or_else(|| iam::DEFAULT_IAM_URL.to_string());
    let same = previous
        .as_ref()
        .filter(|p| p.provider == ProviderKind::Icr && p.registry == registry);
    let (namespaces, account_wide) = match (&settings.registry_namespaces, settings.account_wide) {
        (_, true) => (Vec::new(), true),
        (ns, false) if !ns.is_empty() => (ns.clone(), false),
        _ => match same {
            Some(p) => (p.registry_namespaces.clone(), p.account_wide),
            None => bail!(
                "name the registry namespaces the pull secrets may read: --registry-namespace <ns> (repeatable), or --account-wide for every namespace of the account"
            ),
        },
    };
    let ca_file = match &settings.ca_file {
        Some(f) => Some(
            std::fs::canonicalize(f)
                .with_context(|| format!("cannot read --ca-file `{}`", f.display()))?,
        ),
        None => None,
    };
    let client = crate::http::client(ca_file.as_deref(), settings.insecure_skip_tls_verify)?;
    output::info(format!(
        "Logging in to IAM at {iam_url} for {registry} (profile `{profile_name}`)"
    ));
    let (key, source) = api_key(&settings)?;
    let tokens = iam::api_key_grant(&client, &iam_url, &key).await?;
    let (account, who) = iam::token_identity(&tokens.access);
    let account = account.context(
        "IAM's access token names no account (`account.bss`); check --iam-url and the API key",
    )?;
    let who = who.unwrap_or_else(|| "apikey".to_string());
    let stored = (source == CredentialSource::Keyring).then_some(key);
    let _lock = keep_credential(ctx, &iam_url, source, stored, previous.as_ref(), "IAM").await?;
    let profile = Profile {
        provider: ProviderKind::Icr,
        api: iam_url.clone(),
        authorization_endpoint: iam_url.clone(),
        token_endpoint: format!("{iam_url}/identity/token"),
        username: who.clone(),
        login_method: LoginMethod::ApiKey,
        credential: source,
        org: account.clone(),
        org_guid: account.clone(),
        registry: registry.clone(),
        ca_file,
        insecure_skip_tls_verify: settings.insecure_skip_tls_verify,
        iam_url: Some(iam_url.clone()),
        api_key_route: None,
        api_key_env: settings.apikey_env.clone(),
        org_header_on_manage: None,
        registry_namespaces: namespaces.clone(),
        account_wide,
        policy_api: settings
            .policy_api
            .or_else(|| same.and_then(|p| p.policy_api)),
    };
    ConfigFile::update(&config_path, |file| {
        file.profiles.insert(profile_name.clone(), profile)
    })?;
    let scope = if account_wide {
        "every registry namespace of the account".to_string()
    } else {
        format!("registry namespace(s) {}", namespaces.join(", "))
    };
    output::info(format!(
        "Logged in to {iam_url} as {who}, account {account}; registry {registry}, pull policy on {scope}; profile `{profile_name}`"
    ));
    super::warn_if_unreachable(&client, &registry).await;
    Ok(())
}

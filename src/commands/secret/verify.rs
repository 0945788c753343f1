//! `secret verify`: every registry in a pull secret, checked with its own credential the way a
//! kubelet authenticates (Docker Registry v2). The secret is read as the kubelet reads it
//! ([`crate::registry::matcher`]): one it would refuse fails, what it ignores is warned about.

use anyhow::bail;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use secrecy::SecretString;

use crate::cli::settings::VerifySettings;
use crate::commands::Ctx;
use crate::registry::matcher;
use crate::registry::v2::{self, Verified};
use crate::{cluster, output};

/// The entries of `secret` as the kubelet reads them ([`matcher::secret_config`]): its key
/// and credential, in the order written. What the kubelet ignores is one warning each; what
/// makes it refuse the secret is the error.
fn kubelet_entries(
    secret: &Secret,
    ns: &str,
    name: &str,
) -> anyhow::Result<Vec<(String, matcher::Credential)>> {
    let config = matcher::secret_config(secret);
    if let Some(fatal) = config.fatal() {
        bail!(
            "the kubelet cannot read secret `{ns}/{name}`: {fatal}; every pull of a Pod using it fails; recreate it (e.g. `kubectl create secret docker-registry`)"
        );
    }
    let mut entries = Vec::new();
    for finding in &config.findings {
        use matcher::Problem::{MissingData, NoAuths, NotAPullSecret};
        if !matches!(
            finding.problem,
            NotAPullSecret { .. } | MissingData { .. } | NoAuths
        ) {
            output::warning(format!("secret `{ns}/{name}`: {finding}"));
        }
    }
    for entry in config.entries {
        if let Ok(key) = entry.key
            && !entry.credential.username.is_empty()
        {
            entries.push((key, entry.credential));
        }
    }
    if entries.is_empty() {
        bail!(
            "secret `{ns}/{name}` holds no registry credential (type {}); expected a kubernetes.io/dockerconfigjson pull secret",
            secret.type_.as_deref().unwrap_or("unknown")
        );
    }
    Ok(entries)
}

/// `secret verify`.
pub async fn verify(ctx: &Ctx, settings: VerifySettings) -> anyhow::Result<()> {
    // The profile's CA and --insecure-skip-tls-verify apply to the profile's registry only;
    // other registries in the secret are checked with the OS trust store (plus --ca-file).
    let profile = ctx.require_profile().ok();
    let default_client = crate::http::client(settings.ca_file.as_deref(), false)?;
    let profile_client = match &profile {
        Some(p) if settings.ca_file.is_none() => Some((
            p.registry.clone(),
            crate::http::client(p.ca_file.as_deref(), p.insecure_skip_tls_verify)?,
        )),
        _ => None,
    };
    let target = cluster::resolve(&ctx.global.kube).await?.connect()?;
    let secrets: Api<Secret> = Api::namespaced(target.client.clone(), &target.namespace);
    let name = &settings.name;
    let secret = secrets
        .get(name)
        .await
        .map_err(|e| target.error("get", "secret", name, e))?;
    let entries = kubelet_entries(&secret, &target.namespace, name)?;
    let mut failed = Vec::new();
    for (
        key,
        matcher::Credential {
            username, password, ..
        },
    ) in entries
    {
        // The v2 check is at the host; a path in the key only narrows which images it serves.
        let host = key.split('/').next().unwrap_or_default().to_string();
        if host.contains(['*', '?', '[']) {
            output::data(&format!(
                "{key}: a wildcard key (matched per DNS label), no single registry to check"
            ))?;
            continue;
        }
        let password = SecretString::from(password);
        let client = match &profile_client {
            Some((registry, client)) if *registry == host => client,
            _ => &default_client,
        };
        match v2::check(client, &host, &username, &password, false).await {
            Ok(Verified::Accepted) => {
                output::data(&format!("{key}: credential of `{username}` accepted"))?
            }
            Ok(Verified::Anonymous) => {
                output::data(&format!("{key}: anonymous access, nothing to check"))?
            }
            Err(e) => {
                // A refusal is a broken credential; anything else left it unproven.
                let verdict = if e.is_definite() {
                    "FAILED"
                } else {
                    "could not be verified"
                };
                output::data(&format!("{key}: {verdict}"))?;
                failed.push(format!("{e:#}"));
            }
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

//! `secret verify`: every registry in a pull secret, checked with its own credential the way a
//! kubelet authenticates (Docker Registry v2).

use anyhow::bail;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use secrecy::SecretString;

use crate::cli::settings::VerifySettings;
use crate::commands::Ctx;
use crate::registry::v2::{self, Verified};
use crate::{cluster, manifests, output};

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
    let entries = manifests::credentials(&secret);
    if entries.is_empty() {
        bail!(
            "secret `{}/{name}` holds no registry credential (type {}); expected a kubernetes.io/dockerconfigjson pull secret",
            target.namespace,
            secret.type_.as_deref().unwrap_or("unknown")
        );
    }
    let mut failed = Vec::new();
    for manifests::Credential {
        host,
        username,
        password,
        ..
    } in entries
    {
        let password = SecretString::from(password);
        let client = match &profile_client {
            Some((registry, client)) if *registry == host => client,
            _ => &default_client,
        };
        match v2::check(client, &host, &username, &password, false).await {
            Ok(Verified::Accepted) => {
                output::data(&format!("{host}: credential of `{username}` accepted"))?
            }
            Ok(Verified::Anonymous) => {
                output::data(&format!("{host}: anonymous access, nothing to check"))?
            }
            Err(e) => {
                // A refusal is a broken credential; anything else left it unproven.
                let verdict = if e.is_definite() {
                    "FAILED"
                } else {
                    "could not be verified"
                };
                output::data(&format!("{host}: {verdict}"))?;
                failed.push(format!("{e:#}"));
            }
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

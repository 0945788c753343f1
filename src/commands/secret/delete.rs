//! `secret delete`: deletes a managed pull secret, then revokes its token (in that order, so
//! pods never hold a secret whose token is already dead).
//!
//! Everything that can fail before the revocation is done before the delete (the login is
//! refreshed, the token is checked to be the secret's own), because the secret is the only
//! record of the token id; every failure after the delete names the id.

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, Preconditions};

use crate::cli::settings::DeleteSettings;
use crate::cluster::objects;
use crate::commands::Ctx;
use crate::engine::lifecycle::TokenLifecycle;
use crate::providers::Provider;
use crate::{cluster, manifests, output};

/// `secret delete`.
pub async fn delete(ctx: &Ctx, settings: DeleteSettings) -> anyhow::Result<()> {
    let mut session = if settings.keep_token {
        None
    } else {
        Some(ctx.provider(ctx.require_profile()?)?)
    };
    let resolved = cluster::resolve(&ctx.global.kube).await?;
    output::info(format!(
        "Target: context `{}`, cluster `{}`, namespace `{}`",
        resolved.context.as_deref().unwrap_or("(none)"),
        resolved.cluster.as_deref().unwrap_or("(none)"),
        resolved.namespace
    ));
    let target = resolved.connect()?;
    let name = &settings.name;
    let secrets: Api<Secret> = Api::namespaced(target.client.clone(), &target.namespace);
    let Some(secret) = secrets
        .get_opt(name)
        .await
        .map_err(|e| target.error("get", "secret", name, e))?
    else {
        if settings.ignore_not_found {
            return Ok(());
        }
        bail!(
            "secret `{}/{name}` not found (use --ignore-not-found to accept that)",
            target.namespace
        );
    };
    if !manifests::is_managed(&secret) {
        bail!(
            "secret `{}/{name}` is not managed by kubectl-dedicated-registry; delete it with `kubectl -n {} delete secret {name}` if you mean to",
            target.namespace,
            target.namespace
        );
    }
    // Decided before the delete: which token to revoke, if any.
    let revoke = match session.as_mut() {
        Some(session) => token_to_revoke(&mut **session, &secret, &target, name).await?,
        None => None,
    };
    let delete = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: secret.metadata.resource_version.clone(),
            uid: secret.metadata.uid.clone(),
        }),
        ..Default::default()
    };
    // The secret is the only record of its token id: from its deletion until the revocation,
    // signals wait.
    let _window = ctx.cancel.window();
    secrets
        .delete(name, &delete)
        .await
        .map_err(|e| target.error("delete", "secret", name, e))?;
    output::data(&format!("secret/{name} deleted"))?;
    detach(&target, name).await?;
    let (Some(session), Some(id)) = (session.as_mut(), revoke) else {
        return Ok(());
    };
    TokenLifecycle::new(&mut **session)
        .revoke(&id)
        .await
        .with_context(|| {
            format!("secret/{name} was deleted but its token {id} could NOT be revoked; run `kubectl dedicated-registry token revoke {id}`")
        })?;
    Ok(output::data(&format!("token/{id} revoked"))?)
}

/// After the delete: the ServiceAccounts of the namespace no longer reference the secret (the
/// reference `secret create --service-account` added would dangle), and Pods that still
/// reference it are named. Not being allowed to list either is a warning, not a failure.
async fn detach(target: &cluster::Target, name: &str) -> anyhow::Result<()> {
    let accounts: Api<ServiceAccount> = Api::namespaced(target.client.clone(), &target.namespace);
    match accounts.list(&ListParams::default()).await {
        Ok(list) => {
            for account in list.items.iter().filter(|a| manifests::references(a, name)) {
                let account_name = account.metadata.name.as_deref().unwrap_or_default();
                match objects::remove_pull_secret(&accounts, account_name, name).await {
                    Ok(_) => output::data(&format!("serviceaccount/{account_name} configured"))?,
                    Err(objects::AccountError { verb, error }) => output::warning(format!(
                        "serviceaccount/{account_name} still references secret/{name}: {}",
                        target.error(verb, "serviceaccount", account_name, error)
                    )),
                }
            }
        }
        Err(e) => output::warning(format!(
            "cannot check which ServiceAccounts reference secret/{name}: {}",
            target.error("list", "serviceaccounts", "*", e)
        )),
    }
    let pods: Api<Pod> = Api::namespaced(target.client.clone(), &target.namespace);
    if let Ok(list) = pods.list(&ListParams::default()).await {
        let users: Vec<&str> = list
            .items
            .iter()
            .filter(|p| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.image_pull_secrets.as_ref())
                    .is_some_and(|refs| refs.iter().any(|r| r.name == name))
            })
            .filter_map(|p| p.metadata.name.as_deref())
            .collect();
        if !users.is_empty() {
            output::warning(format!(
                "{} pod(s) still reference secret/{name} and cannot pull new images with it: {}",
                users.len(),
                users.join(", ")
            ));
        }
    }
    Ok(())
}

/// The token of `secret` to revoke after the delete: its recorded id, when it is of this
/// profile's registry and checked to be the secret's own token. The login is refreshed here,
/// so a broken login fails before anything is deleted.
async fn token_to_revoke(
    session: &mut dyn Provider,
    secret: &Secret,
    target: &cluster::Target,
    name: &str,
) -> anyhow::Result<Option<String>> {
    let Some(id) = manifests::annotation(secret, manifests::ANNOTATION_TOKEN_ID) else {
        return Ok(None);
    };
    let profile_registry = session.registry().to_string();
    let registry =
        manifests::annotation(secret, manifests::ANNOTATION_REGISTRY).unwrap_or_default();
    if registry != profile_registry {
        output::warning(format!(
            "token {id} belongs to registry {registry}, not this profile's ({profile_registry}); revoke it with a profile for that registry"
        ));
        return Ok(None);
    }
    let at = format!("{}/{name}", target.namespace);
    if !crate::engine::holders::last_holder(&target.client, secret, id, &at).await {
        return Ok(None);
    }
    let recorded = crate::engine::holders::recorded(
        id,
        Some(secret),
        &profile_registry,
        target.cluster.as_deref(),
        &target.namespace,
        name,
    );
    let refusal = recorded.refusal(session).await.with_context(|| {
        format!("cannot check token {id} of secret/{name} with the registry; nothing was deleted")
    })?;
    match refusal {
        Some(reason) => {
            output::warning(reason);
            Ok(None)
        }
        None => Ok(Some(id.to_string())),
    }
}

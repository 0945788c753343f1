//! `secret delete`: deletes a managed pull secret, then revokes its token (in that order, so
//! pods never hold a secret whose token is already dead).

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Preconditions};

use crate::cli::settings::DeleteSettings;
use crate::commands::Ctx;
use crate::lifecycle::TokenLifecycle;
use crate::session::Session;
use crate::{cluster, manifests, output};

/// `secret delete`.
pub async fn delete(ctx: &Ctx, settings: DeleteSettings) -> anyhow::Result<()> {
    let profile = if settings.keep_token {
        None
    } else {
        Some(ctx.require_profile()?)
    };
    let target = cluster::resolve(&ctx.global.kube).await?.connect()?;
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
            "secret `{}/{name}` is not managed by kubectl-dedicated-registry; delete it with `kubectl delete secret {name}` if you mean to",
            target.namespace
        );
    }
    let delete = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: secret.metadata.resource_version.clone(),
            uid: secret.metadata.uid.clone(),
        }),
        ..Default::default()
    };
    // The secret is the only record of its token id: from its deletion until the revocation,
    // Ctrl-C waits.
    let _window = crate::interrupt::Window::open();
    secrets
        .delete(name, &delete)
        .await
        .map_err(|e| target.error("delete", "secret", name, e))?;
    output::data(&format!("secret/{name} deleted"))?;
    let Some(profile) = profile else {
        return Ok(());
    };
    let token_id = manifests::annotation(&secret, manifests::ANNOTATION_TOKEN_ID);
    let registry =
        manifests::annotation(&secret, manifests::ANNOTATION_REGISTRY).unwrap_or_default();
    match token_id {
        Some(id) if registry == profile.registry => {
            let mut session = Session::new(ctx.profile_name(), profile, ctx.store.clone())?;
            TokenLifecycle::new(&mut session)
                .revoke(id)
                .await
                .with_context(|| {
                    format!("secret/{name} was deleted but its token {id} could NOT be revoked; run `kubectl dedicated-registry token revoke {id}`")
                })?;
            Ok(output::data(&format!("token/{id} revoked"))?)
        }
        Some(id) => {
            output::warning(format!(
                "token {id} belongs to registry {registry}, not this profile's ({}); revoke it with a profile for that registry",
                profile.registry
            ));
            Ok(())
        }
        None => Ok(()),
    }
}

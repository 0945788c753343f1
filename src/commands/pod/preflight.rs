//! The pull pre-flight of `pod apply` (and `pod render --check`): before a Pod exists, check
//! what the kubelet will do with it. The pull secret must exist in the namespace; the image is
//! resolved at its registry with the secret's own credential (v2 challenge, realm, `HEAD` of the
//! manifest): the engine's pull check, [`crate::engine::pull::check`], the same one the
//! diagnosis of running pods uses. This module only says what its [`Outcome`] means here.
//!
//! The credential is the one the kubelet tries first for the image, by its matching rules
//! ([`crate::registry::matcher`]: ports equal, `*` one DNS label, path prefix, Docker Hub
//! fallback); a secret the kubelet cannot read is a definite failure.
//!
//! Definite failures (no such secret, tag or repository; the credential refused or not allowed
//! to pull the repository) stop the command before anything is written; anything the check
//! cannot tell (an unreachable or non-v2 registry, an unexpected answer, a secret it may not
//! read) is one `warning:` line and the command goes on.

use anyhow::bail;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use crate::cluster::Target;
use crate::commands::Ctx;
use crate::engine::pull::{self, Outcome};
use crate::manifests::{self, ImageRef};
use crate::output;

/// The secret in the target namespace; `Ok(None)` when it cannot be read (warned about).
async fn read_secret(target: &Target, name: &str) -> anyhow::Result<Option<Secret>> {
    let ns = &target.namespace;
    let secrets: Api<Secret> = Api::namespaced(target.client.clone(), ns);
    match secrets.get_opt(name).await {
        Ok(Some(secret)) => Ok(Some(secret)),
        Ok(None) => bail!(
            "secret/{name} does not exist in namespace `{ns}`: a Pod using it cannot pull, so it was not applied; create it with `kubectl dedicated-registry -n {ns} secret create {name}` (or skip this check with --no-check)"
        ),
        Err(e) => {
            output::warning(format!(
                "the pull pre-flight could not read secret/{name} in namespace `{ns}` ({}); the image was not checked",
                target.error("get", "secret", name, e)
            ));
            Ok(None)
        }
    }
}

/// The hint for a refused credential: rotate a managed secret, replace any other.
fn replace_hint(secret: &Secret, ns: &str, name: &str) -> String {
    if manifests::is_managed(secret) {
        format!(
            "replace its token with `kubectl dedicated-registry -n {ns} secret create {name} --rotate`"
        )
    } else {
        format!(
            "replace it with a working one: `kubectl dedicated-registry -n {ns} secret create {name} --overwrite`"
        )
    }
}

/// Runs the pre-flight for `image` with pull secret `secret_name` in `target`'s namespace.
/// Returns the resolved digest when the image was found (`None` when it could not be checked).
pub async fn run(
    ctx: &Ctx,
    target: &Target,
    secret_name: &str,
    image: &ImageRef,
) -> anyhow::Result<Option<String>> {
    let Some(secret) = read_secret(target, secret_name).await? else {
        return Ok(None);
    };
    let registries = ctx.registries()?;
    let outcome = pull::check(&registries, &image.full, secret_name, &secret).await;
    report(target, secret_name, &secret, image, outcome)
}

/// What the pre-flight says about `outcome`: the digest, an error for a definite failure, a
/// warning (and `None`) for anything it could not tell.
fn report(
    target: &Target,
    secret_name: &str,
    secret: &Secret,
    image: &ImageRef,
    outcome: Outcome,
) -> anyhow::Result<Option<String>> {
    let ns = &target.namespace;
    let (full, host) = (&image.full, &image.domain);
    match outcome {
        Outcome::Found { digest } => {
            output::info(format!(
                "Image {full} resolved to {digest} with the credential of secret {ns}/{secret_name}"
            ));
            return Ok(Some(digest));
        }
        Outcome::TagMissing { tag, nearest } => {
            let known = if nearest.is_empty() {
                "it has no tags".to_string()
            } else {
                format!("nearest existing tags: {}", nearest.join(", "))
            };
            bail!(
                "image {full} not found: repository `{}` at {host} has no `{tag}` ({known}); the Pod was not applied (--no-check skips this check)",
                image.repository
            )
        }
        Outcome::RepositoryMissing { repository } => bail!(
            "image {full} not found: {host} has no repository `{repository}`; `kubectl dedicated-registry image list` shows the images; the Pod was not applied (--no-check skips this check)"
        ),
        Outcome::CredentialRefused { message, .. } => bail!(
            "the pull secret {ns}/{secret_name} would not work: {message}; {}; the Pod was not applied",
            replace_hint(secret, ns, secret_name)
        ),
        Outcome::NotAuthorized { message, .. } => bail!(
            "the pull secret {ns}/{secret_name} cannot pull {full}: {message}; the repository's namespace may not belong to the token's org (`kubectl dedicated-registry image list` shows what the login can see); the Pod was not applied"
        ),
        Outcome::MalformedAuth { finding, .. } => bail!(
            "the kubelet cannot read secret/{secret_name}: {finding}; every pull of a Pod using it would fail, so it was not applied; recreate the secret (or skip this check with --no-check)"
        ),
        Outcome::InvalidImage { detail } => output::warning(format!(
            "the kubelet cannot parse image `{full}` ({detail}); the image was not checked"
        )),
        Outcome::NoMatchingKey { misses } => {
            let why: Vec<String> = misses.iter().map(pull::KeyMiss::describe).collect();
            let why = if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join("; "))
            };
            output::warning(format!(
                "secret/{secret_name} holds no credential for {host}{why}: the kubelet will pull `{full}` without one; the image was not checked"
            ));
        }
        Outcome::Unreachable { detail } | Outcome::Unexpected { detail } => {
            output::warning(format!(
                "the pull pre-flight could not check {full} with secret {ns}/{secret_name}: {detail}; continuing without it"
            ));
        }
    }
    Ok(None)
}

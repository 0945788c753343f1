//! The pull pre-flight of `pod apply` (and `pod render --check`): before a Pod exists, check
//! what the kubelet will do with it. The pull secret must exist in the namespace; the image is
//! resolved at its registry with the secret's own credential (v2 challenge, realm, `HEAD` of the
//! manifest, [`crate::registry::v2::resolve`]).
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
use secrecy::SecretString;

use crate::cluster::Target;
use crate::commands::Ctx;
use crate::manifests::{self, ImageRef};
use crate::output;
use crate::registry::matcher;
use crate::registry::v2::{self, ImageName, Resolution, VerifyError};

/// How many of a repository's tags a "not found" names.
const NEAREST_TAGS: usize = 5;

/// Up to `limit` of `tags`, the most similar to `wanted` first (normalized Levenshtein, then
/// name), for a tag that does not exist.
pub fn nearest_tags<'a>(wanted: &str, tags: &'a [String], limit: usize) -> Vec<&'a str> {
    let mut scored: Vec<(f64, &str)> = tags
        .iter()
        .map(|t| (strsim::normalized_levenshtein(wanted, t), t.as_str()))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(limit).map(|(_, t)| t).collect()
}

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

/// The HTTPS client for `host`: the profile's (its CA file, its TLS choice) for the profile's
/// registry, the OS trust store for any other.
fn client_for(ctx: &Ctx, host: &str) -> anyhow::Result<(reqwest::Client, bool)> {
    match ctx.require_profile() {
        Ok(p) if p.registry == host => Ok((
            crate::http::client(p.ca_file.as_deref(), p.insecure_skip_tls_verify)?,
            true,
        )),
        _ => Ok((crate::http::client(None, false)?, false)),
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

/// The credential the kubelet would try first for `image` from `secret`, by its matching rules
/// ([`matcher`]); an error when the kubelet cannot read the secret at all, `None` (warned
/// about) when no key of it applies.
fn kubelet_credential(
    secret: &Secret,
    name: &str,
    image: &ImageRef,
) -> anyhow::Result<Option<matcher::Credential>> {
    let config = matcher::secret_config(secret);
    if let Some(fatal) = config.fatal() {
        bail!(
            "the kubelet cannot read secret/{name}: {fatal}; every pull of a Pod using it would fail, so it was not applied; recreate the secret (or skip this check with --no-check)"
        );
    }
    let full = &image.full;
    let target = match matcher::parse_image(full) {
        Ok(target) => target,
        Err(e) => {
            output::warning(format!(
                "the kubelet cannot parse image `{full}` ({e}); the image was not checked"
            ));
            return Ok(None);
        }
    };
    let mut keyring = matcher::Keyring::default();
    keyring.add(name, &config);
    let lookup = keyring.lookup(&target);
    let Some(first) = lookup.matches.first() else {
        let why = lookup.why_not();
        let why = if why.is_empty() {
            String::new()
        } else {
            format!(" ({why})")
        };
        output::warning(format!(
            "secret/{name} holds no credential for {}{why}: the kubelet will pull `{full}` without one; the image was not checked",
            image.domain
        ));
        return Ok(None);
    };
    Ok(Some(first.credential.clone()))
}

/// Runs the pre-flight for `image` with pull secret `secret_name` in `target`'s namespace.
/// Returns the resolved digest when the image was found (`None` when it could not be checked).
pub async fn run(
    ctx: &Ctx,
    target: &Target,
    secret_name: &str,
    image: &ImageRef,
) -> anyhow::Result<Option<String>> {
    let ns = &target.namespace;
    let Some(secret) = read_secret(target, secret_name).await? else {
        return Ok(None);
    };
    let host = &image.domain;
    let Some(credential) = kubelet_credential(&secret, secret_name, image)? else {
        return Ok(None);
    };
    let (username, password) = (credential.username, SecretString::from(credential.password));
    let (http, own_registry) = client_for(ctx, host)?;
    let name = ImageName {
        name: &image.repository,
        reference: &image.reference,
    };
    // The plugin's own tokens never go to a realm on another host (as when they are minted).
    let answer = v2::resolve(&http, host, &username, &password, own_registry, &name).await;
    let full = &image.full;
    match answer {
        Ok(Resolution::Found { digest }) => {
            output::info(format!(
                "Image {full} resolved to {digest} with the credential of secret {ns}/{secret_name}"
            ));
            Ok(Some(digest))
        }
        Ok(Resolution::TagUnknown { tags }) => {
            let nearest = nearest_tags(&image.reference, &tags, NEAREST_TAGS);
            let known = if nearest.is_empty() {
                "it has no tags".to_string()
            } else {
                format!("nearest existing tags: {}", nearest.join(", "))
            };
            bail!(
                "image {full} not found: repository `{}` at {host} has no `{}` ({known}); the Pod was not applied (--no-check skips this check)",
                image.repository,
                image.reference
            )
        }
        Ok(Resolution::RepositoryUnknown) => bail!(
            "image {full} not found: {host} has no repository `{}`; `kubectl dedicated-registry image list` shows the images; the Pod was not applied (--no-check skips this check)",
            image.repository
        ),
        Err(e @ VerifyError::Rejected { .. }) => bail!(
            "the pull secret {ns}/{secret_name} would not work: {e}; {}; the Pod was not applied",
            replace_hint(&secret, ns, secret_name)
        ),
        Err(e @ VerifyError::Denied { .. }) => bail!(
            "the pull secret {ns}/{secret_name} cannot pull {full}: {e}; the repository's namespace may not belong to the token's org (`kubectl dedicated-registry image list` shows what the login can see); the Pod was not applied"
        ),
        Err(e) => {
            output::warning(format!(
                "the pull pre-flight could not check {full} with secret {ns}/{secret_name}: {e}; continuing without it"
            ));
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_tags_come_first_and_are_limited() {
        let tags: Vec<String> = ["latest", "v1", "v1.1", "v2", "nightly", "old", "x"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(nearest_tags("v1.0", &tags, 3), ["v1.1", "v1", "v2"]);
        assert_eq!(nearest_tags("nope", &tags, 10).len(), tags.len());
        assert!(nearest_tags("x", &[], 5).is_empty());
        let two: Vec<String> = vec!["v1".into(), "latest".into()];
        let both = nearest_tags("nope", &two, 5);
        assert!(both.contains(&"v1") && both.contains(&"latest"), "{both:?}");
    }
}

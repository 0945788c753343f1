//! `pod render` and `pod apply`, with the pull pre-flight ([`preflight`]).

mod preflight;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, Patch, PatchParams};

use super::Ctx;
use crate::cli::DryRun;
use crate::cli::settings::{PodApplySettings, PodSettings};
use crate::output::{self, Format};
use crate::{cluster, manifests};

/// Builds the Pod for `namespace` from validated settings, with the resolved image.
fn build(
    ctx: &Ctx,
    settings: &PodSettings,
    namespace: &str,
) -> anyhow::Result<(Pod, manifests::ImageRef)> {
    manifests::validate_namespace(namespace)?;
    // A short reference needs the profile's registry; a full one does not need a login.
    let registry = match ctx.require_profile() {
        Ok(p) => p.registry,
        Err(e) => {
            let probe = manifests::resolve_image(&settings.image, "registry.invalid")?;
            if probe.full.starts_with("registry.invalid/") {
                return Err(e.context(format!(
                    "`{}` names no registry, and the profile's registry is unknown",
                    settings.image
                )));
            }
            "registry.invalid".to_string()
        }
    };
    let image = manifests::resolve_image(&settings.image, &registry)?;
    let name = settings
        .name
        .clone()
        .unwrap_or_else(|| manifests::pod_name_for(&image.name));
    manifests::validate_object_name("pod", &name)?;
    let pod = manifests::pod(&name, namespace, &image.full, &settings.secret);
    Ok((pod, image))
}

/// The pull pre-flight ([`preflight::run`]); with `--pin-digest`, the Pod's image becomes the
/// resolved digest.
async fn check(
    ctx: &Ctx,
    target: &cluster::Target,
    settings: &PodSettings,
    pod: &mut Pod,
    image: &manifests::ImageRef,
) -> anyhow::Result<()> {
    let digest = preflight::run(ctx, target, &settings.secret, image).await?;
    match digest {
        Some(digest) if settings.pin_digest => {
            let pinned = image.pinned(&digest);
            if let Some(container) = pod.spec.as_mut().and_then(|s| s.containers.first_mut()) {
                container.image = Some(pinned);
            }
        }
        None if settings.pin_digest => output::warning(format!(
            "--pin-digest: the digest of {} is unknown, so the Pod keeps the reference as given",
            image.full
        )),
        _ => {}
    }
    Ok(())
}

/// The namespace to render for without a cluster: `-n`, else the kubeconfig context's, else
/// `default` with a warning.
pub async fn render_namespace(ctx: &Ctx) -> (String, Option<String>) {
    if let Some(namespace) = &ctx.global.kube.namespace {
        return (namespace.clone(), None);
    }
    match cluster::resolve(&ctx.global.kube).await {
        Ok(r) => (r.namespace, r.cluster),
        Err(e) => {
            output::warning(format!(
                "no usable kubeconfig ({e}); rendering for namespace `default` (pass -n to choose)"
            ));
            ("default".to_string(), None)
        }
    }
}

/// `pod render`; with `--check`, the pre-flight against the cluster's secret first.
pub async fn render(ctx: &Ctx, settings: PodSettings, format: Format) -> anyhow::Result<()> {
    let (namespace, _) = render_namespace(ctx).await;
    let (mut pod, image) = build(ctx, &settings, &namespace)?;
    if settings.check {
        let target = match cluster::resolve(&ctx.global.kube).await {
            Ok(resolved) => resolved.connect(),
            Err(e) => Err(e),
        };
        match target {
            Ok(target) => check(ctx, &target, &settings, &mut pod, &image).await?,
            Err(e) => output::warning(format!(
                "--check needs the cluster to read secret/{}: {e}; the image was not checked",
                settings.secret
            )),
        }
    }
    Ok(output::data(&output::render(&pod, format)?)?)
}

/// Prints the outcome of `pod apply`: `pod/NAME verb`, or the object for `-o`.
fn report(pod: &Pod, verb: &str, output: Option<crate::cli::OutputFormat>) -> anyhow::Result<()> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    match output.map(|o| o.object_format()) {
        None => Ok(output::data(&format!("pod/{name} {verb}"))?),
        Some(None) => Ok(output::data(&format!("pod/{name}"))?),
        Some(Some(format)) => {
            let mut shown = pod.clone();
            shown.metadata.managed_fields = None;
            Ok(output::data(&output::render(&shown, format)?)?)
        }
    }
}

/// A Pod whose pull secret does not exist cannot pull: say so before it is created (it is
/// still created, as kubectl would; the secret may come later).
async fn warn_if_secret_missing(target: &cluster::Target, secret: &str) {
    let secrets: Api<Secret> = Api::namespaced(target.client.clone(), &target.namespace);
    if let Ok(None) = secrets.get_metadata_opt(secret).await {
        output::warning(format!(
            "secret/{secret} does not exist in namespace `{ns}`: the Pod cannot pull until it does; create it with `kubectl dedicated-registry -n {ns} secret create {secret}`",
            ns = target.namespace
        ));
    }
}

/// `pod apply`: server-side apply with field manager `kubectl-dedicated-registry`.
pub async fn apply(
    ctx: &Ctx,
    settings: PodSettings,
    apply: PodApplySettings,
) -> anyhow::Result<()> {
    let resolved = cluster::resolve(&ctx.global.kube).await?;
    let (mut pod, image) = build(ctx, &settings, &resolved.namespace)?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    output::info(format!(
        "Target: context `{}`, cluster `{}`, namespace `{}`",
        resolved.context.as_deref().unwrap_or("(none)"),
        resolved.cluster.as_deref().unwrap_or("(none)"),
        resolved.namespace
    ));
    if apply.dry_run == DryRun::Client {
        return report(&pod, "created (dry run)", apply.output);
    }
    let target = resolved.connect()?;
    if settings.check {
        check(ctx, &target, &settings, &mut pod, &image).await?;
    } else {
        warn_if_secret_missing(&target, &settings.secret).await;
    }
    let pods: Api<Pod> = Api::namespaced(target.client.clone(), &target.namespace);
    let before = pods
        .get_opt(&name)
        .await
        .map_err(|e| target.error("get", "pod", &name, e))?;
    let mut params = PatchParams::apply(manifests::MANAGER).force();
    if apply.dry_run == DryRun::Server {
        params = params.dry_run();
    }
    let after = pods
        .patch(&name, &params, &Patch::Apply(&pod))
        .await
        .map_err(|e| target.error("apply", "pod", &name, e))
        .context("the Pod was not applied")?;
    let changed = before
        .as_ref()
        .and_then(|p| p.metadata.resource_version.clone())
        != after.metadata.resource_version;
    let verb = match (before.is_some(), changed) {
        (false, _) => "created",
        (true, true) => "configured",
        (true, false) => "unchanged",
    };
    let suffix = if apply.dry_run == DryRun::Server {
        " (server dry run)"
    } else {
        ""
    };
    report(&after, &format!("{verb}{suffix}"), apply.output)
}

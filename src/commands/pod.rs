//! `pod render` and `pod apply`.

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};

use super::{Ctx, print_stdout, to_text};
use crate::cli::{
    DryRun, ManifestFormat, OutputFormat, PodApplyArgs, PodCommonArgs, PodRenderArgs,
};
use crate::cluster;
use crate::manifests;

/// Validates the flags and builds the Pod for `namespace`.
fn build(ctx: &Ctx, args: &PodCommonArgs, namespace: &str) -> anyhow::Result<Pod> {
    manifests::validate_object_name("secret", &args.secret)?;
    if let Some(name) = &args.name {
        manifests::validate_object_name("pod", name)?;
    }
    manifests::validate_namespace(namespace)?;
    // A short reference needs the profile's registry; a full one does not need a login.
    let registry = match ctx.require_profile() {
        Ok(p) => p.registry,
        Err(e) => {
            let probe = manifests::resolve_image(&args.image, "registry.invalid")?;
            if probe.full.starts_with("registry.invalid/") {
                return Err(e.context(format!(
                    "`{}` names no registry, and the profile's registry is unknown",
                    args.image
                )));
            }
            "registry.invalid".to_string()
        }
    };
    let image = manifests::resolve_image(&args.image, &registry)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| manifests::pod_name_for(&image.name));
    manifests::validate_object_name("pod", &name)?;
    Ok(manifests::pod(&name, namespace, &image.full, &args.secret))
}

/// `pod render`.
pub async fn render(ctx: &Ctx, args: PodRenderArgs) -> anyhow::Result<()> {
    let namespace = match &ctx.kube.namespace {
        Some(ns) => ns.clone(),
        None => match cluster::resolve(&ctx.kube).await {
            Ok(r) => r.namespace,
            Err(e) => {
                super::warn(format!(
                    "warning: no usable kubeconfig ({e}); rendering for namespace `default` (pass -n to choose)"
                ));
                "default".to_string()
            }
        },
    };
    let pod = build(ctx, &args.common, &namespace)?;
    print_stdout(&to_text(&pod, args.output == ManifestFormat::Yaml)?)
}

/// `pod apply`: server-side apply with field manager `kubectl-dedicated-registry`.
pub async fn apply(ctx: &Ctx, args: PodApplyArgs) -> anyhow::Result<()> {
    let resolved = cluster::resolve(&ctx.kube).await?;
    let pod = build(ctx, &args.common, &resolved.namespace)?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    super::warn(format!(
        "Target: context `{}`, cluster `{}`, namespace `{}`",
        resolved.context.as_deref().unwrap_or("(none)"),
        resolved.cluster.as_deref().unwrap_or("(none)"),
        resolved.namespace
    ));
    let print = |pod: &Pod, verb: &str| -> anyhow::Result<()> {
        match args.output {
            None => print_stdout(&format!("pod/{name} {verb}")),
            Some(OutputFormat::Name) => print_stdout(&format!("pod/{name}")),
            Some(f) => {
                let mut shown = pod.clone();
                shown.metadata.managed_fields = None;
                print_stdout(&to_text(&shown, f == OutputFormat::Yaml)?)
            }
        }
    };
    if args.dry_run == DryRun::Client {
        return print(&pod, "created (dry run)");
    }
    let target = resolved.connect()?;
    let pods: Api<Pod> = Api::namespaced(target.client.clone(), &target.namespace);
    let before = pods
        .get_opt(&name)
        .await
        .map_err(|e| target.error("get", "pod", &name, e))?;
    let mut params = PatchParams::apply(manifests::MANAGER).force();
    if args.dry_run == DryRun::Server {
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
    let suffix = if args.dry_run == DryRun::Server {
        " (server dry run)"
    } else {
        ""
    };
    print(&after, &format!("{verb}{suffix}"))
}

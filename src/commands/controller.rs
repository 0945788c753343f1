//! `controller`: the settings file and the cluster resolved, then [`crate::controller::run`]
//! until a signal. No keyring: in a Pod a login comes from the profile's API key variable
//! (set from a Secret), and without one the cluster's shared credential is reused.

use std::sync::Arc;

use crate::cli::settings::ControllerSettings;
use crate::cluster;
use crate::commands::Ctx;
use crate::store::{self, ConfigFile, NoKeyring, Profile};

/// `controller`.
pub async fn controller(ctx: &Ctx, settings: ControllerSettings) -> anyhow::Result<()> {
    if settings.json_logs {
        crate::output::json_logs();
    }
    let (name, profile) = profile(ctx, &settings)?;
    let resolved = cluster::resolve(&ctx.global.kube).await?;
    let target = resolved.connect()?;
    let mut global = ctx.global.clone();
    global.profile = name;
    let ctx = Ctx {
        global,
        store: Arc::new(NoKeyring),
        cancel: ctx.cancel.clone(),
    };
    let mut provider = ctx.provider(profile)?;
    crate::controller::run(&settings.spec, &target, &mut *provider).await
}

/// The profile: `--profile` if given, else the file's current one, else its only one.
fn profile(ctx: &Ctx, settings: &ControllerSettings) -> anyhow::Result<(String, Profile)> {
    let (path, file) = match &settings.config {
        Some(path) if !path.exists() => anyhow::bail!(
            "the settings file {} does not exist; point --config at the file `login` wrote (in a Pod, the mounted ConfigMap)",
            path.display()
        ),
        Some(path) => (path.clone(), ConfigFile::load(path)?),
        None => ctx.config()?,
    };
    let name = if settings.profile_given {
        ctx.profile_name().to_string()
    } else if let Some(current) = file.current_profile.clone() {
        current
    } else if file.profiles.len() == 1 {
        file.profiles.keys().next().cloned().unwrap_or_default()
    } else {
        store::DEFAULT_PROFILE.to_string()
    };
    match file.profiles.get(&name) {
        Some(profile) => Ok((name, profile.clone())),
        None => {
            let saved: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
            anyhow::bail!(
                "no profile `{name}` in {} (saved: {}); name one with --profile, or write the file with `login` first",
                path.display(),
                if saved.is_empty() {
                    "none".to_string()
                } else {
                    saved.join(", ")
                }
            )
        }
    }
}

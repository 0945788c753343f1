//! `profile list` and `version`: what is saved on this machine and what talks to what. Neither
//! reads a credential.

use serde::Serialize;

use super::Ctx;
use crate::cli::ListFormat;
use crate::cluster;
use crate::output::{self, Format};
use crate::store::{CredentialSource, LoginMethod, Profile};

/// One row of `profile list`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProfileRow {
    name: String,
    current: bool,
    api: String,
    user: String,
    login: &'static str,
    org: String,
    registry: String,
    credential: String,
}

fn row(name: &str, current: bool, profile: &Profile) -> ProfileRow {
    ProfileRow {
        name: name.to_string(),
        current,
        api: profile.api.clone(),
        user: profile.username.clone(),
        login: match profile.login_method {
            LoginMethod::Password => "password",
            LoginMethod::Sso => "sso",
            LoginMethod::ApiKey => "api-key",
        },
        org: profile.org.clone(),
        registry: profile.registry.clone(),
        credential: match profile.credential {
            CredentialSource::Keyring => "keyring".to_string(),
            CredentialSource::Environment => "environment".to_string(),
        },
    }
}

/// `profile list`.
pub fn list(ctx: &Ctx, format: Option<ListFormat>) -> anyhow::Result<()> {
    let (path, file) = ctx.config()?;
    let rows: Vec<ProfileRow> = file
        .profiles
        .iter()
        .map(|(name, p)| row(name, name == ctx.profile_name(), p))
        .collect();
    match format {
        Some(ListFormat::Name) => {
            let names: Vec<String> = rows.iter().map(|r| format!("profile/{}", r.name)).collect();
            if !names.is_empty() {
                output::data(&names.join("\n"))?;
            }
        }
        Some(ListFormat::Yaml) => output::data(&output::render(&rows, Format::Yaml)?)?,
        Some(ListFormat::Json) => output::data(&output::render(&rows, Format::Json)?)?,
        None if rows.is_empty() => output::info(format!(
            "No profiles in `{}`; log in with `kubectl dedicated-registry login --api https://api.<dedicated_domain>`",
            path.display()
        )),
        None => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        if r.current { "*" } else { "" }.to_string(),
                        r.name.clone(),
                        r.api.clone(),
                        format!("{} ({})", r.user, r.login),
                        r.org.clone(),
                        r.registry.clone(),
                        r.credential.clone(),
                    ]
                })
                .collect();
            output::data(&output::table(
                &[
                    "CURRENT",
                    "NAME",
                    "API",
                    "USER",
                    "ORG",
                    "REGISTRY",
                    "CREDENTIAL",
                ],
                &cells,
            ))?;
        }
    }
    Ok(())
}

/// `profile use NAME`: records NAME as the current profile, if it exists.
pub fn use_profile(name: &str) -> anyhow::Result<()> {
    let path = crate::store::profiles::path()?;
    let outcome = crate::store::ConfigFile::update(&path, |file| {
        // `default` is always there to go back to, saved or not.
        if name != crate::store::DEFAULT_PROFILE && !file.profiles.contains_key(name) {
            let names: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
            return Err(names
                .is_empty()
                .then(|| "there are no profiles yet".to_string())
                .or_else(|| {
                    crate::text::did_you_mean(name, &names)
                        .map(|close| format!("did you mean `{close}`?"))
                })
                .unwrap_or_else(|| format!("profiles: {}", names.join(", "))));
        }
        file.current_profile = (name != crate::store::DEFAULT_PROFILE).then(|| name.to_string());
        Ok(())
    })?;
    if let Err(hint) = outcome {
        anyhow::bail!(
            "no profile `{name}` in `{}`: {hint}; see `kubectl dedicated-registry profile list`, or create it with `kubectl dedicated-registry --profile {name} login`",
            path.display()
        );
    }
    output::data(&format!("Switched to profile \"{name}\"."))?;
    Ok(())
}

/// What `version` reports.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Versions {
    plugin: String,
    kubernetes_api: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<String>,
}

/// `version`.
pub async fn version(ctx: &Ctx, client_only: bool, format: Option<Format>) -> anyhow::Result<()> {
    let mut versions = Versions {
        plugin: format!("v{}", env!("CARGO_PKG_VERSION")),
        // The oldest API version the typed objects are built for (k8s-openapi `v1_33`).
        kubernetes_api: "v1.33",
        server: None,
    };
    if !client_only {
        match server_version(ctx).await {
            Ok(v) => versions.server = Some(v),
            Err(e) => output::warning(format!("cannot reach the cluster for its version: {e:#}")),
        }
    }
    match format {
        Some(format) => output::data(&output::render(&versions, format)?)?,
        None => {
            let mut text = format!(
                "Plugin Version: {}\nKubernetes API: {} and newer\n",
                versions.plugin, versions.kubernetes_api
            );
            if let Some(server) = &versions.server {
                text.push_str(&format!("Server Version: {server}\n"));
            }
            output::data(&text)?;
        }
    }
    Ok(())
}

async fn server_version(ctx: &Ctx) -> anyhow::Result<String> {
    let target = cluster::resolve(&ctx.global.kube).await?.connect()?;
    let info = target
        .client
        .apiserver_version()
        .await
        .map_err(|e| target.error("get", "version", "", e))?;
    Ok(info.git_version)
}

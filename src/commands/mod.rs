//! The commands: one module per subcommand (`secret/` one per verb), each orchestrating the
//! lower layers (fetch, decide with pure functions, act, report); [`dispatch`] routes to them.

mod completion;
mod controller;
mod diagnose;
mod doctor;
mod image;
mod login;
mod pod;
mod profile;
mod secret;
mod status;
mod token;

pub use completion::complete_raw;

use std::sync::Arc;

use crate::cli::settings::{CommandSettings, Global, Settings};
use crate::providers::dedicated::session::Session;
use crate::store::{self, ConfigFile, CredentialStore, OsKeyring, Profile};

/// What every command gets: the global settings and the credential store.
pub struct Ctx {
    /// Flags every command has.
    pub global: Global,
    /// The credential store.
    pub store: Arc<dyn CredentialStore>,
    /// Stops the work between two steps (the process's token: signals cancel it).
    pub cancel: crate::cancel::Cancel,
}

impl Ctx {
    /// The profile name in use.
    pub fn profile_name(&self) -> &str {
        &self.global.profile
    }

    /// Loads the settings file.
    pub fn config(&self) -> anyhow::Result<(std::path::PathBuf, ConfigFile)> {
        let path = store::profiles::path()?;
        let file = ConfigFile::load(&path)?;
        Ok((path, file))
    }

    /// The profile in use, or an error saying how to create it.
    pub fn require_profile(&self) -> anyhow::Result<Profile> {
        let (path, file) = self.config()?;
        crate::output::log(4, format!("settings: {}", path.display()));
        if let Some(profile) = file.profiles.get(self.profile_name()) {
            return Ok(profile.clone());
        }
        let name = self.profile_name();
        let flag = if name == store::DEFAULT_PROFILE {
            String::new()
        } else {
            format!(" --profile {name}")
        };
        let saved: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
        let known = match crate::output::did_you_mean(name, &saved) {
            Some(close) => format!("; did you mean `--profile {close}`?"),
            None if saved.is_empty() => String::new(),
            None => format!("; saved profiles: {}", saved.join(", ")),
        };
        anyhow::bail!(
            "not logged in: no profile `{name}` in `{}`; run `kubectl dedicated-registry{flag} login --api https://api.<dedicated_domain>`{known}",
            path.display()
        )
    }

    /// A session of the profile in use.
    pub fn session(&self) -> anyhow::Result<Session> {
        self.open(self.require_profile()?)
    }

    /// A session of `profile` (already read), under the profile name in use: a Dedicated
    /// one (the commands not yet ported to the provider seam).
    pub fn open(&self, profile: crate::store::Profile) -> anyhow::Result<Session> {
        if profile.provider == crate::store::ProviderKind::Icr {
            anyhow::bail!(
                "profile `{}` is an icr.io profile, and this command supports only Bluemix Dedicated profiles so far; `login`, `logout`, `status`, `profile list`, `secret create|rotate|delete` and `token list|revoke|prune` support icr.io",
                self.profile_name()
            );
        }
        Ok(Session::new(
            self.profile_name(),
            profile,
            self.store.clone(),
            self.cancel.clone(),
        )?)
    }
}

impl Ctx {
    /// The HTTPS clients for registries: the profile's (its CA file, its TLS choice) for the
    /// profile's registry, the OS trust store for any other.
    pub fn registries(&self) -> anyhow::Result<crate::engine::pull::Registries> {
        let own = match self.require_profile() {
            Ok(p) => Some((
                p.registry.clone(),
                crate::http::client(p.ca_file.as_deref(), p.insecure_skip_tls_verify)?,
            )),
            Err(_) => None,
        };
        Ok(crate::engine::pull::Registries::new(
            own,
            crate::http::client(None, false)?,
        ))
    }

    /// The provider of `profile` (already read), under the profile name in use.
    pub fn provider(
        &self,
        profile: crate::store::Profile,
    ) -> anyhow::Result<Box<dyn crate::providers::Provider>> {
        Ok(match profile.provider {
            crate::store::ProviderKind::Dedicated => Box::new(self.open(profile)?),
            crate::store::ProviderKind::Icr => Box::new(crate::providers::icr::IcrSession::new(
                self.profile_name(),
                profile,
                self.store.clone(),
                self.cancel.clone(),
            )?),
        })
    }
}

/// Runs the validated command.
pub async fn dispatch(settings: Settings) -> anyhow::Result<()> {
    crate::output::install(settings.global.verbosity);
    // Every command that may refresh the login (a refresh-token rotation and its write-back are
    // one unit) or mint a token handles signals; only completion does neither.
    if !matches!(
        settings.command,
        CommandSettings::Completion(_) | CommandSettings::Complete(_)
    ) {
        crate::cli::signals::install();
    }
    let ctx = Ctx {
        global: settings.global,
        store: Arc::new(OsKeyring),
        cancel: crate::cancel::Cancel::process(),
    };
    match settings.command {
        CommandSettings::Login(s) => login::login(&ctx, s).await,
        CommandSettings::Logout => login::logout(&ctx).await,
        CommandSettings::Status => status::status(&ctx).await,
        CommandSettings::SecretCreate(s) => secret::create(&ctx, s).await,
        CommandSettings::SecretRender(s) => secret::render(&ctx, s).await,
        CommandSettings::SecretVerify(s) => secret::verify(&ctx, s).await,
        CommandSettings::SecretDelete(s) => secret::delete(&ctx, s).await,
        CommandSettings::SecretList(s) => secret::list(&ctx, s).await,
        CommandSettings::SecretRotate(s) => secret::rotate(&ctx, s).await,
        CommandSettings::TokenPrune(s) => token::prune(&ctx, s).await,
        CommandSettings::TokenList(s) => token::list(&ctx, s).await,
        CommandSettings::TokenRevoke(s) => token::revoke(&ctx, s).await,
        CommandSettings::ImageList(s) => image::list(&ctx, s).await,
        CommandSettings::PodRender(s, format) => pod::render(&ctx, s, format).await,
        CommandSettings::PodApply(s, apply) => pod::apply(&ctx, s, apply).await,
        CommandSettings::Doctor(s) => doctor::doctor(&ctx, s).await,
        CommandSettings::DiagnosePod(s) => diagnose::pod(&ctx, s).await,
        CommandSettings::Controller(s) => controller::controller(&ctx, s).await,
        CommandSettings::ProfileList(format) => profile::list(&ctx, format),
        CommandSettings::ProfileUse(name) => profile::use_profile(&name),
        CommandSettings::Version {
            client_only,
            format,
        } => profile::version(&ctx, client_only, format).await,
        CommandSettings::Completion(args) => completion::completion(args),
        CommandSettings::Complete(args) => completion::complete(args.words),
    }
}

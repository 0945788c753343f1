//! One module per subcommand; [`dispatch`] routes to them.

mod completion;

pub use completion::complete_raw;
mod login;
mod pod;
mod secret;
mod status;
mod token;

use std::io::Write as _;
use std::sync::Arc;

use anyhow::Context as _;

use crate::cli::{Cli, Command, KubeArgs, PodCommand, SecretCommand, TokenCommand};
use crate::config::{self, ConfigFile, Profile};
use crate::secrets::{CredentialStore, OsKeyring};

/// What every command gets: global flags, the settings file and the credential store.
pub struct Ctx {
    /// Kubernetes connection flags.
    pub kube: KubeArgs,
    /// `--profile` (or its environment variable), if given.
    pub profile: Option<String>,
    /// `-v` level.
    pub verbosity: u8,
    /// The credential store.
    pub store: Arc<dyn CredentialStore>,
}

impl Ctx {
    /// The profile name in use.
    pub fn profile_name(&self) -> &str {
        self.profile.as_deref().unwrap_or(config::DEFAULT_PROFILE)
    }

    /// Logs to stderr at `level` and above. Never pass secrets.
    pub fn log(&self, level: u8, message: impl AsRef<str>) {
        if self.verbosity >= level {
            eprintln!("{}", crate::redact::scrub(message.as_ref()));
        }
    }

    /// Loads the settings file.
    pub fn config(&self) -> anyhow::Result<(std::path::PathBuf, ConfigFile)> {
        let path = config::path()?;
        let file = ConfigFile::load(&path)?;
        Ok((path, file))
    }

    /// The profile in use, or an error saying how to create it.
    pub fn require_profile(&self) -> anyhow::Result<Profile> {
        let (path, file) = self.config()?;
        self.log(4, format!("settings: {}", path.display()));
        file.profiles
            .get(self.profile_name())
            .cloned()
            .with_context(|| {
                format!(
                    "not logged in: no profile `{}` in `{}`; run `kubectl dedicated-registry login --api https://api.<dedicated_domain>`",
                    self.profile_name(),
                    path.display()
                )
            })
    }
}

/// Writes a warning or progress line to stderr, scrubbed of secrets.
pub fn warn(message: impl AsRef<str>) {
    eprintln!("{}", crate::redact::scrub(message.as_ref()));
}

/// Writes data to stdout (broken pipes surface as errors that [`crate::run`] treats as success).
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Renders an object for `-o yaml|json` (YAML and JSON both include `apiVersion` and `kind`).
pub fn to_text<T: serde::Serialize>(object: &T, yaml: bool) -> anyhow::Result<String> {
    if yaml {
        Ok(serde_saphyr::to_string(object)?)
    } else {
        Ok(serde_json::to_string_pretty(object)? + "\n")
    }
}

/// Runs the parsed command.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let ctx = Ctx {
        kube: cli.kube,
        profile: cli.profile,
        verbosity: cli.verbosity,
        store: Arc::new(OsKeyring),
    };
    // Bad input is rejected before any file is read or any request is sent.
    if let Some(profile) = &ctx.profile {
        let valid = !profile.is_empty()
            && profile.len() <= 63
            && profile
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && !profile.starts_with('.');
        if !valid {
            anyhow::bail!(
                "invalid profile name `{profile}`: use letters, digits, `.`, `_` or `-` (at most 63)"
            );
        }
    }
    if let Some(namespace) = &ctx.kube.namespace {
        crate::manifests::validate_namespace(namespace)?;
    }
    match cli.command {
        Command::Login(args) => login::login(&ctx, args).await,
        Command::Logout => login::logout(&ctx).await,
        Command::Status => status::status(&ctx).await,
        Command::Secret(SecretCommand::Create(args)) => {
            crate::interrupt::install();
            secret::create(&ctx, args).await
        }
        Command::Secret(SecretCommand::Render(args)) => {
            crate::interrupt::install();
            secret::render(&ctx, args).await
        }
        Command::Secret(SecretCommand::Verify(args)) => secret::verify(&ctx, args).await,
        Command::Secret(SecretCommand::Delete(args)) => {
            crate::interrupt::install();
            secret::delete(&ctx, args).await
        }
        Command::Token(TokenCommand::List(args)) => token::list(&ctx, args).await,
        Command::Token(TokenCommand::Revoke(args)) => token::revoke(&ctx, args).await,
        Command::Pod(PodCommand::Render(args)) => pod::render(&ctx, args).await,
        Command::Pod(PodCommand::Apply(args)) => pod::apply(&ctx, args).await,
        Command::Completion(args) => completion::completion(&ctx, args),
        Command::Complete(args) => completion::complete(&ctx, args).await,
    }
}

//! The parsed command line turned into validated settings, before any file is read or any
//! request is sent (ripgrep's `LowArgs` → `HiArgs`, uv's `settings.rs`).
//!
//! Every check of user input that needs no I/O happens here: names (RFC 1123), namespaces,
//! profile names, e-mails, descriptions, token ids, URLs, and flag combinations such as `-A`
//! with `-o yaml`. Commands receive these values and never re-check them.

use std::path::PathBuf;

use anyhow::{Context as _, bail};

use super::{
    AuthArg, Cli, Command, CompleteArgs, CompletionArgs, DryRun, KubeArgs, LoginArgs,
    ManifestFormat, OutputFormat, PodApplyArgs, PodCommand, PodCommonArgs, PodRenderArgs,
    SecretCommand, SecretCommonArgs, SecretCreateArgs, SecretDeleteArgs, SecretListArgs,
    SecretListFormat, SecretRenderArgs, SecretRotateArgs, SecretVerifyArgs, TokenCommand,
    TokenListArgs, TokenPruneArgs, TokenRevokeArgs, VerifyMode,
};
use crate::cluster::{self, KubeSettings};
use crate::engine::lifecycle::Verification;
use crate::manifests;
use crate::output::Format;
use crate::registry::Access;

/// Everything a run needs to know from its command line.
#[derive(Debug)]
pub struct Settings {
    /// Flags every command has.
    pub global: Global,
    /// The command and its settings.
    pub command: CommandSettings,
}

/// Flags every command has.
#[derive(Debug, Clone)]
pub struct Global {
    /// Kubernetes connection flags.
    pub kube: KubeSettings,
    /// The profile in use (`--profile`, its variable, or `default`).
    pub profile: String,
    /// `-v` level.
    pub verbosity: u8,
}

/// One validated command.
#[derive(Debug)]
pub enum CommandSettings {
    /// `login`.
    Login(LoginSettings),
    /// `logout`.
    Logout,
    /// `status`.
    Status,
    /// `secret create`.
    SecretCreate(CreateSettings),
    /// `secret render`.
    SecretRender(RenderSettings),
    /// `secret verify`.
    SecretVerify(VerifySettings),
    /// `secret delete`.
    SecretDelete(DeleteSettings),
    /// `secret list`.
    SecretList(SecretListSettings),
    /// `secret rotate`.
    SecretRotate(RotateSettings),
    /// `token prune`.
    TokenPrune(TokenPruneSettings),
    /// `token list`.
    TokenList(TokenListSettings),
    /// `token revoke`.
    TokenRevoke(TokenRevokeSettings),
    /// `image list`.
    ImageList(ImageListSettings),
    /// `pod render`.
    PodRender(PodSettings, Format),
    /// `pod apply`.
    PodApply(PodSettings, PodApplySettings),
    /// `doctor`.
    Doctor(DoctorSettings),
    /// `diagnose pod`.
    DiagnosePod(DiagnoseSettings),
    /// `profile list`.
    ProfileList(Option<super::ListFormat>),
    /// `profile use NAME`.
    ProfileUse(String),
    /// `controller`.
    Controller(ControllerSettings),
    /// `version`.
    Version {
        /// `--client`.
        client_only: bool,
        /// `-o`.
        format: Option<Format>,
    },
    /// `completion`.
    Completion(CompletionArgs),
    /// `__complete` (reached through clap when global flags come first).
    Complete(CompleteArgs),
}

/// `login`, with its URLs normalized.
#[derive(Debug)]
pub struct LoginSettings {
    /// `--api`, normalized to `https://host[:port]` without a trailing slash.
    pub api: Option<String>,
    /// `--registry` as `host[:port]`.
    pub registry: Option<String>,
    /// `--org`.
    pub org: Option<String>,
    /// `--org-guid`.
    pub org_guid: Option<String>,
    /// `--username`.
    pub username: Option<String>,
    /// `--password-stdin`.
    pub password_stdin: bool,
    /// `--sso`.
    pub sso: bool,
    /// `--apikey-stdin`.
    pub apikey_stdin: bool,
    /// `--apikey-env [NAME]`: the variable holding the API key (environment profile).
    pub apikey_env: Option<String>,
    /// `--auth`.
    pub auth: crate::providers::dedicated::cf::iam::Auth,
    /// `--iam-url`, normalized like `--api`.
    pub iam_url: Option<String>,
    /// `--ca-file`.
    pub ca_file: Option<PathBuf>,
    /// `--insecure-skip-tls-verify`.
    pub insecure_skip_tls_verify: bool,
    /// icr.io: `--registry-namespace` (validated names).
    pub registry_namespaces: Vec<String>,
    /// icr.io: `--account-wide`.
    pub account_wide: bool,
    /// icr.io: `--policy-api`.
    pub policy_api: Option<crate::store::PolicyApi>,
}

impl LoginSettings {
    /// Whether this login is for icr.io (its `--registry` is an icr.io domain).
    pub fn is_icr(&self) -> bool {
        self.registry
            .as_deref()
            .is_some_and(|r| crate::providers::icr::region_of(r).is_some())
    }
}

pub use crate::engine::spec::{
    CreateSpec, FleetScope, RotateSpec as RotateSettings, Scope, SecretSpec,
};

/// `secret create`: what the engine is asked for, and how the CLI shows it.
#[derive(Debug, Clone)]
pub struct CreateSettings {
    /// The engine's part.
    pub create: CreateSpec,
    /// `--dry-run` (client: no request at all; server: the engine's dry run).
    pub dry_run: DryRun,
    /// `-o`.
    pub output: Option<OutputFormat>,
    /// `--show-token`.
    pub show_token: bool,
}

/// `secret render`.
#[derive(Debug)]
pub struct RenderSettings {
    /// The secret.
    pub spec: SecretSpec,
    /// `-o`.
    pub format: Format,
}

/// `secret verify`.
#[derive(Debug)]
pub struct VerifySettings {
    /// The secret.
    pub name: String,
    /// `--ca-file`.
    pub ca_file: Option<PathBuf>,
}

/// `secret delete`.
#[derive(Debug)]
pub struct DeleteSettings {
    /// The secret.
    pub name: String,
    /// `--ignore-not-found`.
    pub ignore_not_found: bool,
    /// `--keep-token`.
    pub keep_token: bool,
}

/// `secret list`.
#[derive(Debug)]
pub struct SecretListSettings {
    /// `-A`.
    pub all_namespaces: bool,
    /// `-o`; a table when absent.
    pub format: Option<SecretListFormat>,
    /// `--verify`.
    pub verify: bool,
}

/// `token prune`.
#[derive(Debug)]
pub struct TokenPruneSettings {
    /// `--yes`.
    pub yes: bool,
    /// `--dry-run`.
    pub dry_run: bool,
}

/// `token list`.
#[derive(Debug)]
pub struct TokenListSettings {
    /// `--all`.
    pub all: bool,
    /// `--unused`.
    pub unused: bool,
    /// `-o`; a table when absent.
    pub format: Option<Format>,
}

/// `image list`.
#[derive(Debug)]
pub struct ImageListSettings {
    /// `--registry-namespace`, checked to be a registry namespace name.
    pub namespace: Option<String>,
    /// `-o`; a table when absent.
    pub format: Option<super::ImageFormat>,
}

/// `doctor`.
#[derive(Debug)]
pub struct DoctorSettings {
    /// `--secret`.
    pub secret: Option<String>,
    /// `-o`; a table when absent.
    pub format: Option<Format>,
}

/// `diagnose pod`.
#[derive(Debug)]
pub struct DiagnoseSettings {
    /// Which pods.
    pub selection: crate::engine::diagnose::Selection,
    /// `-o`; a table when absent.
    pub format: Option<Format>,
}

/// `token revoke`.
#[derive(Debug)]
pub struct TokenRevokeSettings {
    /// Token ids, checked not to be tokens or paths.
    pub ids: Vec<String>,
    /// `--force`: revoke even a token the cluster's secrets hold.
    pub force: bool,
}

/// What the Pod holds, shared by `pod render` and `pod apply`.
#[derive(Debug)]
pub struct PodSettings {
    /// `--image` as typed (resolved against the profile's registry later).
    pub image: String,
    /// `--name`.
    pub name: Option<String>,
    /// `--secret`.
    pub secret: String,
    /// Run the pull pre-flight (`pod apply` unless `--no-check`, `pod render --check`).
    pub check: bool,
    /// `--pin-digest`.
    pub pin_digest: bool,
}

/// `pod apply`.
#[derive(Debug)]
pub struct PodApplySettings {
    /// `--dry-run`.
    pub dry_run: DryRun,
    /// `-o`.
    pub output: Option<OutputFormat>,
}

impl From<ManifestFormat> for Format {
    fn from(format: ManifestFormat) -> Self {
        match format {
            ManifestFormat::Yaml => Format::Yaml,
            ManifestFormat::Json => Format::Json,
        }
    }
}

impl OutputFormat {
    /// The object format, or `None` for `-o name`.
    pub fn object_format(self) -> Option<Format> {
        match self {
            OutputFormat::Yaml => Some(Format::Yaml),
            OutputFormat::Json => Some(Format::Json),
            OutputFormat::Name => None,
        }
    }
}

impl Settings {
    /// Validates the parsed command line.
    pub fn from_cli(cli: Cli) -> anyhow::Result<Settings> {
        let profile_given = cli.profile.is_some();
        let profile = match cli.profile {
            Some(profile) => validate_profile(profile)?,
            None => crate::store::profiles::current_name(),
        };
        let global = Global {
            kube: kube_settings(cli.command.kube_args().cloned().unwrap_or_default())?,
            profile,
            verbosity: cli.verbosity,
        };
        let command = match cli.command {
            Command::Login(args) => CommandSettings::Login(login(args)?),
            Command::Logout => CommandSettings::Logout,
            Command::Status(_) => CommandSettings::Status,
            Command::Secret(secret) => self::secret(secret)?,
            Command::Token(TokenCommand::List(args)) => {
                CommandSettings::TokenList(token_list(args))
            }
            Command::Token(TokenCommand::Prune(TokenPruneArgs { yes, dry_run, .. })) => {
                CommandSettings::TokenPrune(TokenPruneSettings { yes, dry_run })
            }
            Command::Token(TokenCommand::Revoke(args)) => {
                CommandSettings::TokenRevoke(token_revoke(args)?)
            }
            Command::Image(super::ImageCommand::List(args)) => {
                CommandSettings::ImageList(image_list(args)?)
            }
            Command::Pod(PodCommand::Render(PodRenderArgs {
                common,
                output,
                check,
            })) => CommandSettings::PodRender(pod(common, check)?, output.into()),
            Command::Pod(PodCommand::Apply(PodApplyArgs {
                common,
                dry_run,
                output,
                no_check,
            })) => CommandSettings::PodApply(
                pod(common, !no_check)?,
                PodApplySettings { dry_run, output },
            ),
            Command::Controller(args) => {
                CommandSettings::Controller(controller(args, profile_given)?)
            }
            Command::Doctor(args) => {
                if let Some(name) = &args.secret {
                    manifests::validate_object_name("secret", name)?;
                }
                CommandSettings::Doctor(DoctorSettings {
                    secret: args.secret,
                    format: args.output.map(Format::from),
                })
            }
            Command::Diagnose(super::DiagnoseCommand::Pod(args)) => {
                CommandSettings::DiagnosePod(diagnose(args)?)
            }
            Command::Profile(super::ProfileCommand::List(args)) => {
                CommandSettings::ProfileList(args.output)
            }
            Command::Profile(super::ProfileCommand::Use(args)) => {
                CommandSettings::ProfileUse(validate_profile(args.name)?)
            }
            Command::Version(args) => CommandSettings::Version {
                client_only: args.client,
                format: args.output.map(Format::from),
            },
            Command::Completion(args) => CommandSettings::Completion(args),
            Command::Complete(args) => CommandSettings::Complete(args),
        };
        Ok(Settings { global, command })
    }
}

/// A profile name: letters, digits, `.`, `_`, `-`, at most 63, not starting with `.` (it names
/// a lock file).
fn validate_profile(profile: String) -> anyhow::Result<String> {
    let valid = !profile.is_empty()
        && profile.len() <= 63
        && profile
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !profile.starts_with('.');
    if !valid {
        bail!(
            "invalid profile name `{profile}`: use letters, digits, `.`, `_` or `-` (at most 63)"
        );
    }
    Ok(profile)
}

/// `controller`.
#[derive(Debug)]
pub struct ControllerSettings {
    /// What the engine keeps true.
    pub spec: crate::controller::ControllerSpec,
    /// `--config`: the settings file holding the profile.
    pub config: Option<std::path::PathBuf>,
    /// Whether `--profile` (or its variable) named the profile.
    pub profile_given: bool,
    /// `--log-format json`.
    pub json_logs: bool,
}

fn controller(
    args: super::ControllerArgs,
    profile_given: bool,
) -> anyhow::Result<ControllerSettings> {
    manifests::validate_object_name("secret", &args.name)?;
    for account in &args.service_accounts {
        manifests::validate_object_name("serviceaccount", account)?;
    }
    let Some(selector) = selection(args.all_namespaces, args.selector.as_deref(), &[])? else {
        bail!("controller needs a selection: add -A (every namespace) or -l SELECTOR");
    };
    if let Some(namespace) = &args.lease_namespace {
        manifests::validate_namespace(namespace)?;
    }
    manifests::validate_object_name("lease", &args.lease_name)?;
    let resync = humantime::parse_duration(&args.resync).map_err(|e| {
        anyhow::anyhow!(
            "invalid --resync `{}` ({e}); use a duration such as `10m`",
            args.resync
        )
    })?;
    if resync < std::time::Duration::from_secs(10) {
        bail!("--resync {} is too short; use at least 10s", args.resync);
    }
    let rotate_every = match &args.rotate_every {
        None => None,
        Some(text) => {
            let every = humantime::parse_duration(text).map_err(|e| {
                anyhow::anyhow!(
                    "invalid --rotate-every `{text}` ({e}); use a duration such as `720h`"
                )
            })?;
            if every < std::time::Duration::from_secs(1) {
                bail!("--rotate-every {text} is too short; use at least 1s");
            }
            Some(every)
        }
    };
    let identity = args.identity.unwrap_or_else(|| {
        let host = hostname_or("controller");
        format!("{host}-{}", std::process::id())
    });
    let spec = CreateSpec {
        spec: crate::engine::spec::SecretSpec {
            name: args.name,
            docker_email: None,
            description: None,
            access: Access::from_readwrite(args.readwrite),
        },
        service_accounts: args.service_accounts,
        overwrite: false,
        rotate: false,
        dry_run: false,
        verify: Verification::Auto,
        scope: Scope::Fleet(FleetScope {
            selector,
            exclude: args.exclude,
            per_namespace: false,
            concurrency: concurrency(args.concurrency),
            watch: true,
        }),
        reuse: false,
    };
    Ok(ControllerSettings {
        spec: crate::controller::ControllerSpec {
            create: spec,
            listen: args.listen,
            lease: crate::controller::LeaseSpec {
                name: args.lease_name,
                namespace: args.lease_namespace,
                identity,
                duration_seconds: args.lease_duration,
            },
            resync,
            rotate_every,
        },
        config: args.config,
        profile_given,
        json_logs: args.log_format == super::LogFormat::Json,
    })
}

/// The host name, or `fallback`.
fn hostname_or(fallback: &str) -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| fallback.to_string())
}

/// The kubectl flags, with `-n` and `--request-timeout` checked.
pub fn kube_settings(args: KubeArgs) -> anyhow::Result<KubeSettings> {
    if let Some(namespace) = &args.namespace {
        manifests::validate_namespace(namespace)?;
    }
    let request_timeout = match &args.request_timeout {
        Some(t) => Some(cluster::parse_timeout(t)?),
        None => None,
    };
    Ok(KubeSettings {
        kubeconfig: args.kubeconfig,
        context: args.context,
        cluster: args.cluster,
        user: args.user,
        namespace: args.namespace,
        request_timeout,
        as_user: args.as_user,
        as_group: args.as_group,
    })
}

fn login(args: LoginArgs) -> anyhow::Result<LoginSettings> {
    if let Some(guid) = &args.org_guid {
        let looks_like_guid = (8..=64).contains(&guid.len())
            && guid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        if !looks_like_guid {
            bail!(
                "invalid --org-guid `{guid}`: expected a GUID such as `0d5a3bd1-6f64-4f65-9b8a-4b3f2b8f6a01` (see `ibmcloud iam org <name> --guid`)"
            );
        }
    }
    let icr_only_flags =
        !args.registry_namespaces.is_empty() || args.account_wide || args.policy_api.is_some();
    let settings = LoginSettings {
        api: args.api.as_deref().map(normalize_api).transpose()?,
        registry: args
            .registry
            .as_deref()
            .map(validate_registry)
            .transpose()?,
        org: args.org,
        org_guid: args.org_guid,
        username: args.username,
        password_stdin: args.password_stdin,
        sso: args.sso,
        apikey_stdin: args.apikey_stdin,
        apikey_env: args.apikey_env.map(validate_env_name).transpose()?,
        auth: match args.auth {
            AuthArg::Uaa => crate::providers::dedicated::cf::iam::Auth::Uaa,
            AuthArg::Iam => crate::providers::dedicated::cf::iam::Auth::Iam,
            AuthArg::Auto => crate::providers::dedicated::cf::iam::Auth::Auto,
        },
        iam_url: args
            .iam_url
            .as_deref()
            .map(|u| {
                normalize_api(u)
                    .map_err(|e| anyhow::anyhow!(format!("{e:#}").replace("--api", "--iam-url")))
            })
            .transpose()?,
        ca_file: args.ca_file,
        insecure_skip_tls_verify: args.insecure_skip_tls_verify,
        registry_namespaces: args
            .registry_namespaces
            .iter()
            .map(|ns| validate_registry_namespace(ns))
            .collect::<anyhow::Result<_>>()?,
        account_wide: args.account_wide,
        policy_api: args.policy_api.map(|v| match v {
            super::PolicyApiArg::V1 => crate::store::PolicyApi::V1,
            super::PolicyApiArg::V2 => crate::store::PolicyApi::V2,
        }),
    };
    check_provider_flags(&settings, icr_only_flags)?;
    Ok(settings)
}

/// An icr.io registry namespace: 4-30 lower-case letters, digits, `-` and `_`, starting with
/// a letter or digit (IBM's rule for namespace names).
fn validate_registry_namespace(ns: &str) -> anyhow::Result<String> {
    let ok = (4..=30).contains(&ns.len())
        && ns
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && ns.starts_with(|c: char| c.is_ascii_alphanumeric());
    if !ok {
        bail!(
            "invalid --registry-namespace `{}`: expected 4-30 lower-case letters, digits, `-` or `_` (see `ibmcloud cr namespace-list`)",
            crate::text::printable(ns)
        );
    }
    Ok(ns.to_string())
}

/// The flags of one provider are refused with the other's registry.
fn check_provider_flags(settings: &LoginSettings, icr_only: bool) -> anyhow::Result<()> {
    if settings.is_icr() {
        let dedicated_only = [
            (settings.api.is_some(), "--api"),
            (settings.org.is_some(), "--org"),
            (settings.org_guid.is_some(), "--org-guid"),
            (settings.username.is_some(), "--username"),
            (settings.password_stdin, "--password-stdin"),
            (settings.sso, "--sso"),
        ];
        if let Some((_, flag)) = dedicated_only.iter().find(|(given, _)| *given) {
            bail!(
                "{flag} is for Bluemix Dedicated; an icr.io login takes an IAM API key: `kubectl dedicated-registry login --registry {} --registry-namespace <ns> --apikey-stdin < key.txt`",
                settings.registry.as_deref().unwrap_or("us.icr.io")
            );
        }
    } else if icr_only {
        bail!(
            "--registry-namespace, --account-wide and --policy-api are for icr.io: pass `--registry <region>.icr.io` (e.g. us.icr.io, de.icr.io, icr.io)"
        );
    }
    Ok(())
}

/// Normalizes `--api`: adds `https://`, refuses plain HTTP, drops a trailing slash. A user name,
/// password, query or fragment is refused (and a credential never echoed): the URL is printed,
/// stored in the settings file and part of the keyring entry's name.
pub fn normalize_api(api: &str) -> anyhow::Result<String> {
    let api = api.trim();
    let with_scheme = if api.contains("://") {
        api.to_string()
    } else {
        format!("https://{api}")
    };
    if let Ok(url) = url::Url::parse(&with_scheme)
        && (!url.username().is_empty() || url.password().is_some())
    {
        bail!(
            "invalid --api: it must not contain a user name or password; pass only `https://api.<dedicated_domain>` and log in with --username, --sso or --apikey-stdin"
        );
    }
    let url = url::Url::parse(&with_scheme).with_context(|| {
        format!("invalid --api `{api}`: expected e.g. `https://api.<dedicated_domain>`")
    })?;
    if url.scheme() != "https" {
        bail!(
            "invalid --api `{api}`: only https:// endpoints are supported (credentials are sent to it)"
        );
    }
    if url.host_str().is_none() {
        bail!("invalid --api `{api}`: no host");
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!("invalid --api `{api}`: no query or fragment, e.g. `https://api.<dedicated_domain>`");
    }
    Ok(with_scheme.trim_end_matches('/').to_string())
}

/// Validates the variable name of `--apikey-env`: a POSIX name.
fn validate_env_name(name: String) -> anyhow::Result<String> {
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        bail!(
            "invalid --apikey-env `{}`: give the NAME of an environment variable (letters, digits, `_`), not the key",
            if name.len() > 20 {
                "<long value>".to_string()
            } else {
                crate::output::printable(&name)
            }
        );
    }
    Ok(name)
}

/// Validates `--registry`: a bare `host[:port]` (no credential, path, query or fragment).
fn validate_registry(registry: &str) -> anyhow::Result<String> {
    let registry = registry.trim().trim_end_matches('/');
    if registry.contains('@') {
        bail!(
            "invalid --registry: it must not contain a user name or password; pass only `registry.<dedicated_domain>`"
        );
    }
    let bare = registry
        .strip_prefix("https://")
        .unwrap_or(registry)
        .to_string();
    let parsed = url::Url::parse(&format!("https://{bare}/"));
    match parsed {
        Ok(u)
            if u.host_str().is_some()
                && u.path() == "/"
                && u.query().is_none()
                && u.fragment().is_none() =>
        {
            Ok(bare)
        }
        _ => bail!(
            "invalid --registry `{registry}`: expected a host name with an optional port, e.g. `registry.<dedicated_domain>`"
        ),
    }
}

fn secret_spec(args: SecretCommonArgs) -> anyhow::Result<SecretSpec> {
    manifests::validate_object_name("secret", &args.name)?;
    if let Some(email) = &args.docker_email {
        manifests::validate_email(email)?;
    }
    if let Some(d) = &args.description
        && d.chars().any(char::is_control)
    {
        bail!("invalid --description: it must be a single line");
    }
    Ok(SecretSpec {
        name: args.name,
        docker_email: args.docker_email,
        description: args.description,
        access: Access::from_readwrite(args.readwrite),
    })
}

fn secret(command: SecretCommand) -> anyhow::Result<CommandSettings> {
    Ok(match command {
        SecretCommand::Create(args) => CommandSettings::SecretCreate(secret_create(args)?),
        SecretCommand::Render(SecretRenderArgs { common, output }) => {
            CommandSettings::SecretRender(RenderSettings {
                spec: secret_spec(common)?,
                format: output.into(),
            })
        }
        SecretCommand::Verify(SecretVerifyArgs { name, ca_file, .. }) => {
            manifests::validate_object_name("secret", &name)?;
            CommandSettings::SecretVerify(VerifySettings { name, ca_file })
        }
        SecretCommand::List(args) => CommandSettings::SecretList(secret_list(args)?),
        SecretCommand::Rotate(args) => CommandSettings::SecretRotate(secret_rotate(args)?),
        SecretCommand::Delete(SecretDeleteArgs {
            name,
            ignore_not_found,
            keep_token,
            ..
        }) => {
            manifests::validate_object_name("secret", &name)?;
            CommandSettings::SecretDelete(DeleteSettings {
                name,
                ignore_not_found,
                keep_token,
            })
        }
    })
}

fn secret_create(args: SecretCreateArgs) -> anyhow::Result<CreateSettings> {
    let scope = fleet_scope(&args)?;
    let spec = secret_spec(args.common)?;
    for account in &args.service_accounts {
        manifests::validate_object_name("serviceaccount", account)?;
    }
    let create = CreateSpec {
        spec,
        service_accounts: args.service_accounts,
        overwrite: args.overwrite,
        rotate: args.rotate,
        dry_run: args.dry_run == DryRun::Server,
        verify: match (args.verify, args.skip_verify) {
            (_, true) => Verification::Skip,
            (VerifyMode::Require, false) => Verification::Require,
            (VerifyMode::Auto, false) => Verification::Auto,
            (VerifyMode::Skip, false) => Verification::Skip,
        },
        scope,
        reuse: args.reuse,
    };
    Ok(CreateSettings {
        create,
        dry_run: args.dry_run,
        output: args.output,
        show_token: args.show_token,
    })
}

/// `-A`/`-l` of `secret create` and `secret rotate`: `None` for one namespace (after refusing
/// the flags that only make sense with many), else the selector (`None` for `-A`).
fn selection(
    all_namespaces: bool,
    selector: Option<&str>,
    many_only: &[(bool, &str)],
) -> anyhow::Result<Option<Option<String>>> {
    if !all_namespaces && selector.is_none() {
        if let Some((_, flag)) = many_only.iter().find(|(given, _)| *given) {
            bail!("{flag} applies to many namespaces; add -A or -l SELECTOR");
        }
        return Ok(None);
    }
    match selector.map(str::trim) {
        Some("") => bail!("-l/--selector is empty; give a label selector such as `team=payments`"),
        other => Ok(Some(other.map(str::to_string))),
    }
}

/// `-A`/`-l` and the flags that only make sense with them.
fn fleet_scope(args: &SecretCreateArgs) -> anyhow::Result<Scope> {
    let many_only = [
        (!args.exclude.is_empty(), "--exclude"),
        (args.token_per_namespace, "--token-per-namespace"),
        (args.watch, "--watch"),
    ];
    let Some(selector) = selection(args.all_namespaces, args.selector.as_deref(), &many_only)?
    else {
        return Ok(Scope::One);
    };
    if args.reuse {
        bail!(
            "--reuse applies to one namespace; with -A or -l the cluster's shared token is reused anyway"
        );
    }
    if args.dry_run == DryRun::Client {
        bail!(
            "--dry-run=client cannot be combined with -A or -l: selecting namespaces needs the API server; use --dry-run=server"
        );
    }
    if matches!(args.output, Some(OutputFormat::Yaml | OutputFormat::Json)) {
        bail!(
            "-o yaml|json prints one object and cannot be combined with -A or -l; use -o name or no -o"
        );
    }
    Ok(Scope::Fleet(FleetScope {
        selector,
        exclude: args.exclude.clone(),
        per_namespace: args.token_per_namespace,
        concurrency: concurrency(args.concurrency),
        watch: args.watch,
    }))
}

/// `--concurrency`, lowered with a warning when that many sockets would not fit in the
/// open-files limit (issue 24, N8).
fn concurrency(wanted: u16) -> usize {
    let wanted = usize::from(wanted);
    let limit = crate::limits::open_files();
    match crate::limits::clamp_concurrency(wanted, limit) {
        Some(lowered) => {
            crate::output::warning(format!(
                "--concurrency {wanted} lowered to {lowered}: the open-files limit is {} (`ulimit -n`); raise it to run more at once",
                limit.unwrap_or_default()
            ));
            lowered
        }
        None => wanted,
    }
}

fn secret_rotate(args: SecretRotateArgs) -> anyhow::Result<RotateSettings> {
    manifests::validate_object_name("secret", &args.name)?;
    let many_only = [(!args.exclude.is_empty(), "--exclude")];
    let fleet =
        selection(args.all_namespaces, args.selector.as_deref(), &many_only)?.map(|selector| {
            FleetScope {
                selector,
                exclude: args.exclude,
                per_namespace: false,
                concurrency: concurrency(args.concurrency),
                watch: false,
            }
        });
    let access = match (args.readwrite, args.readonly) {
        (true, _) => Some(Access::ReadWrite),
        (false, true) => Some(Access::ReadOnly),
        (false, false) => None,
    };
    Ok(RotateSettings {
        name: args.name,
        fleet,
        access,
        concurrency: concurrency(args.concurrency),
        dry_run: args.dry_run,
    })
}

fn secret_list(args: SecretListArgs) -> anyhow::Result<SecretListSettings> {
    if args.verify && args.output.is_some_and(|f| f != SecretListFormat::Wide) {
        bail!(
            "--verify adds a STATUS column to the table: use it without -o or with -o wide, not with -o json|yaml|name"
        );
    }
    Ok(SecretListSettings {
        all_namespaces: args.all_namespaces,
        format: args.output,
        verify: args.verify,
    })
}

fn token_list(args: TokenListArgs) -> TokenListSettings {
    TokenListSettings {
        all: args.all,
        unused: args.unused,
        format: args.output.map(Format::from),
    }
}

fn token_revoke(args: TokenRevokeArgs) -> anyhow::Result<TokenRevokeSettings> {
    for id in &args.ids {
        let is_token = id.split('.').count() == 3;
        // An id is a path segment: no `.`/`..`, separators or spaces (IBM's ids are UUIDs).
        let shaped = id.len() <= 128
            && id.starts_with(|c: char| c.is_ascii_alphanumeric())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if is_token || !shaped {
            bail!(
                "invalid token id `{}`: pass the id shown by `token list`, not the token itself",
                if is_token {
                    "<a token>".to_string()
                } else {
                    crate::output::printable(id)
                }
            );
        }
    }
    Ok(TokenRevokeSettings {
        ids: args.ids,
        force: args.force,
    })
}

/// `image list`: a registry namespace is lower-case letters, digits, `-` and `_` (IBM allows
/// 4 to 30; older ones may be shorter), so it is safe in a query.
fn image_list(args: super::ImageListArgs) -> anyhow::Result<ImageListSettings> {
    if let Some(ns) = &args.registry_namespace {
        let valid = !ns.is_empty()
            && ns.len() <= 64
            && ns.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && ns
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'));
        if !valid {
            bail!(
                "invalid --registry-namespace `{}`: a registry namespace is lower-case letters, digits, `-` and `_` (the first part of `<namespace>/<image>`)",
                crate::output::printable(ns)
            );
        }
    }
    Ok(ImageListSettings {
        namespace: args.registry_namespace,
        format: args.output,
    })
}

fn diagnose(args: super::DiagnosePodArgs) -> anyhow::Result<DiagnoseSettings> {
    if let Some(name) = &args.name {
        manifests::validate_object_name("pod", name)?;
        if args.all_namespaces {
            bail!(
                "a pod cannot be named across all namespaces: give its namespace with -n instead of -A"
            );
        }
        if args.selector.is_some() {
            bail!("name a pod or select pods with -l, not both");
        }
    }
    if args
        .selector
        .as_deref()
        .is_some_and(|s| s.trim().is_empty())
    {
        bail!("-l needs a label selector, e.g. `-l app=web`");
    }
    Ok(DiagnoseSettings {
        selection: crate::engine::diagnose::Selection {
            all_namespaces: args.all_namespaces,
            name: args.name,
            selector: args.selector,
        },
        format: args.output.map(Format::from),
    })
}

fn pod(args: PodCommonArgs, check: bool) -> anyhow::Result<PodSettings> {
    manifests::validate_object_name("secret", &args.secret)?;
    if let Some(name) = &args.name {
        manifests::validate_object_name("pod", name)?;
    }
    if args.pin_digest && !check {
        bail!(
            "--pin-digest needs the pull pre-flight: use it with `pod apply` (without --no-check) or `pod render --check`"
        );
    }
    Ok(PodSettings {
        image: args.image,
        name: args.name,
        secret: args.secret,
        check,
        pin_digest: args.pin_digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn settings(args: &[&str]) -> anyhow::Result<Settings> {
        use clap::CommandFactory as _;
        let mut argv = vec![std::ffi::OsString::from("kubectl-dedicated_registry")];
        argv.extend(args.iter().map(std::ffi::OsString::from));
        let mut root = Cli::command();
        root.build();
        let argv = super::super::argv::normalize(&root, argv).map_err(anyhow::Error::msg)?;
        Settings::from_cli(Cli::try_parse_from(argv).expect("parses"))
    }

    fn error(args: &[&str]) -> String {
        format!("{:#}", settings(args).expect_err("must be refused"))
    }

    #[test]
    fn defaults_and_global_flags() {
        let s = settings(&["-n", "team-a", "--request-timeout", "0", "status"]).unwrap();
        assert_eq!(s.global.profile, "default");
        assert_eq!(s.global.kube.namespace.as_deref(), Some("team-a"));
        assert_eq!(s.global.kube.request_timeout, Some(None));
        assert!(matches!(s.command, CommandSettings::Status));
    }

    #[test]
    fn bad_input_is_refused_before_any_io() {
        assert!(error(&["--profile", ".hidden", "status"]).contains("invalid profile name"));
        assert!(error(&["--profile", "a/b", "status"]).contains("invalid profile name"));
        assert!(error(&["-n", "Team_A", "status"]).contains("invalid namespace name"));
        assert!(error(&["--request-timeout", "soon", "status"]).contains("--request-timeout"));
        assert!(error(&["secret", "create", "Bad_Name"]).contains("invalid secret name"));
        assert!(
            error(&["secret", "create", "x", "--docker-email", "a b"]).contains("invalid e-mail")
        );
        assert!(error(&["secret", "create", "x", "--description", "a\nb"]).contains("single line"));
        assert!(
            error(&["secret", "create", "x", "--service-account", "A"])
                .contains("invalid serviceaccount name")
        );
        assert!(error(&["secret", "delete", "x-"]).contains("invalid secret name"));
        assert!(error(&["secret", "verify", "X"]).contains("invalid secret name"));
        assert!(
            error(&["pod", "render", "--image", "a/b", "--secret", "X"])
                .contains("invalid secret name")
        );
        assert!(
            error(&["pod", "apply", "--image", "a/b", "--name", "X"]).contains("invalid pod name")
        );
        assert!(
            error(&["pod", "render", "--image", "a/b", "--pin-digest"]).contains("--pin-digest")
        );
        assert!(
            error(&["image", "list", "--registry-namespace", "Demo/x"])
                .contains("invalid --registry-namespace")
        );
        assert!(error(&["login", "--api", "http://api.x"]).contains("only https://"));
        assert!(error(&["login", "--registry", "r.x/path"]).contains("invalid --registry"));
        assert!(error(&["login", "--org-guid", "not a guid"]).contains("invalid --org-guid"));
        assert!(error(&["login", "--iam-url", "http://iam.x"]).contains("invalid --iam-url"));
        assert!(error(&["login", "--apikey-env", "a-b"]).contains("invalid --apikey-env"));
    }

    #[test]
    fn all_namespaces_refuses_single_object_output_and_client_dry_run() {
        assert!(error(&["secret", "create", "x", "-A", "-o", "yaml"]).contains("-o yaml|json"));
        assert!(error(&["secret", "create", "x", "-A", "--dry-run"]).contains("--dry-run=client"));
        let s = settings(&[
            "secret",
            "create",
            "x",
            "-A",
            "--exclude",
            "t-*",
            "-o",
            "name",
        ])
        .unwrap();
        match s.command {
            CommandSettings::SecretCreate(c) => assert_eq!(
                c.create.scope,
                Scope::Fleet(FleetScope {
                    selector: None,
                    exclude: vec!["t-*".into()],
                    per_namespace: false,
                    concurrency: 16,
                    watch: false,
                })
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rotate_maps_scope_and_access() {
        assert!(error(&["secret", "rotate", "x", "--exclude", "a"]).contains("add -A or -l"));
        assert!(error(&["secret", "rotate", "x", "-l", " "]).contains("-l/--selector is empty"));
        let both = Cli::try_parse_from([
            "kubectl-dedicated_registry",
            "secret",
            "rotate",
            "--readwrite",
            "--readonly",
        ]);
        assert!(both.is_err(), "--readwrite and --readonly conflict");
        let s = settings(&[
            "secret",
            "rotate",
            "-l",
            "team=a",
            "--readwrite",
            "--dry-run",
        ])
        .unwrap();
        match s.command {
            CommandSettings::SecretRotate(r) => {
                assert_eq!(r.name, manifests::DEFAULT_SECRET_NAME);
                assert_eq!(r.access, Some(Access::ReadWrite));
                assert!(r.dry_run);
                assert_eq!(r.fleet.unwrap().selector.as_deref(), Some("team=a"));
            }
            other => panic!("{other:?}"),
        }
        match settings(&["secret", "rotate", "x"]).unwrap().command {
            CommandSettings::SecretRotate(r) => {
                assert_eq!(r.access, None, "each token keeps its access");
                assert!(r.fleet.is_none());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_maps_flags() {
        let s = settings(&["secret", "create", "x", "--readwrite", "--skip-verify"]).unwrap();
        match s.command {
            CommandSettings::SecretCreate(c) => {
                assert_eq!(c.create.spec.access, Access::ReadWrite);
                assert_eq!(c.create.verify, Verification::Skip);
                assert_eq!(c.create.scope, Scope::One);
                assert_eq!(c.create.spec.email(), "");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn api_key_flags() {
        let login = |args: &[&str]| match settings(args).unwrap().command {
            CommandSettings::Login(l) => l,
            other => panic!("{other:?}"),
        };
        let l = login(&["login", "--apikey-env"]);
        assert_eq!(l.apikey_env.as_deref(), Some("IBMCLOUD_API_KEY"));
        assert_eq!(l.auth, crate::providers::dedicated::cf::iam::Auth::Auto);
        let l = login(&[
            "login",
            "--apikey-env",
            "CI_KEY",
            "--auth",
            "iam",
            "--iam-url",
            "iam.x/",
        ]);
        assert_eq!(l.apikey_env.as_deref(), Some("CI_KEY"));
        assert_eq!(l.auth, crate::providers::dedicated::cf::iam::Auth::Iam);
        assert_eq!(l.iam_url.as_deref(), Some("https://iam.x"));
        assert!(login(&["login"]).apikey_env.is_none());
        let s = settings(&["secret", "create", "x", "--verify", "require"]).unwrap();
        assert!(
            matches!(s.command, CommandSettings::SecretCreate(c) if c.create.verify == Verification::Require)
        );
        let s = settings(&["secret", "create", "x"]).unwrap();
        assert!(
            matches!(s.command, CommandSettings::SecretCreate(c) if c.create.verify == Verification::Auto)
        );
    }

    #[test]
    fn token_ids_are_not_tokens_or_paths() {
        assert!(error(&["token", "revoke", "a/b"]).contains("invalid token id `a/b`"));
        for bad in [".", "..", "a b", "", "_x"] {
            assert!(
                error(&["token", "revoke", bad]).contains("invalid token id"),
                "{bad}"
            );
        }
        let jwt = error(&["token", "revoke", "eyJa.eyJb.sig"]);
        assert!(jwt.contains("<a token>") && !jwt.contains("eyJ"), "{jwt}");
        assert!(settings(&["token", "revoke", "0f6b1c2e-1111-2222-3333-444455556666"]).is_ok());
    }

    #[test]
    fn api_urls_are_normalized() {
        assert_eq!(
            normalize_api("api.x.example").unwrap(),
            "https://api.x.example"
        );
        assert_eq!(normalize_api("https://api.x/").unwrap(), "https://api.x");
        assert!(normalize_api("http://api.x").is_err());
        assert_eq!(validate_registry("https://r.x:5000/").unwrap(), "r.x:5000");
        assert!(validate_registry("r.x/path").is_err());
        assert!(validate_registry("user@r.x").is_err());
        assert!(validate_registry("r.x?a=b").is_err());
        assert!(validate_registry("r.x#f").is_err());
    }

    /// See: issue 9, finding 5.
    #[test]
    fn urls_with_credentials_query_or_fragment_are_refused_without_echo() {
        for api in [
            "https://alice:hunter2@api.x",
            "alice:hunter2@api.x",
            "https://alice@api.x",
        ] {
            let e = format!("{:#}", normalize_api(api).unwrap_err());
            assert!(
                e.contains("user name or password") && !e.contains("hunter2"),
                "{e}"
            );
        }
        let e = format!("{:#}", validate_registry("alice:hunter2@r.x").unwrap_err());
        assert!(!e.contains("hunter2"), "{e}");
        assert!(normalize_api("https://api.x/?token=1").is_err());
        assert!(normalize_api("https://api.x/#frag").is_err());
    }
}

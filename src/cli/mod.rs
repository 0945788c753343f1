//! The command line: clap derive types (here; help text is the doc comments), their validation
//! into [`settings::Settings`], and the cobra `__complete` engine over them ([`complete`]).
//!
//! Usage lines read `kubectl dedicated-registry ...` because that is how users invoke a kubectl
//! plugin.

pub mod argv;
pub mod complete;
pub mod settings;
pub mod signals;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env;

/// kubectl's layout of `--help`: the description, then the Examples, then usage and the flags
/// (issue 24, friction 15: the Examples came last, after 140 lines of flags).
const EXAMPLES_FIRST: &str = "{about}{after-help}\n\n{usage-heading} {usage}\n\n{all-args}";

/// The command line as users get it: [`Cli`] with every command that has Examples laid out
/// as kubectl's are.
pub fn command() -> clap::Command {
    fn examples_first(command: clap::Command) -> clap::Command {
        let command = command.mut_subcommands(examples_first);
        if command.get_after_help().is_some() || command.get_after_long_help().is_some() {
            command.help_template(EXAMPLES_FIRST)
        } else {
            command
        }
    }
    use clap::CommandFactory as _;
    examples_first(Cli::command())
}

/// Log in to an IBM Cloud Dedicated environment and create image pull secrets for its private
/// registry.
///
/// Typical use: `kubectl dedicated-registry login --api https://api.<domain>` once, then
/// `kubectl dedicated-registry -n <namespace> secret create <name>` for each namespace.
///
/// The commands that talk to Kubernetes take kubectl's connection flags (`--kubeconfig`,
/// `--context`, `--cluster`, `--user`, `-n`, `--request-timeout`, `--as`, `--as-group`) and their
/// selection flags (`-A`) before or after the command name, as kubectl does.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-dedicated_registry",
    bin_name = "kubectl dedicated-registry",
    version,
    propagate_version = true,
    disable_help_subcommand = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The profile (a saved login) to use.
    #[arg(long, global = true, env = env::PROFILE, hide_env_values = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Log verbosity (0-9). Secrets are never logged at any level.
    #[arg(
        short = 'v',
        long = "v",
        global = true,
        value_name = "LEVEL",
        default_value_t = 0
    )]
    pub verbosity: u8,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Help heading of the kubectl connection flags. Flags under it (and under
/// [`SELECTION_FLAGS`]) are accepted before the subcommand too ([`normalize_args`]), as kubectl
/// accepts its flags anywhere, but only by commands that have them.
pub const KUBERNETES_FLAGS: &str = "Kubernetes flags";

/// Help heading of the flags that select objects (`-A`, ...): giving a flag this heading is all
/// it takes to accept it before the subcommand as well as after it.
pub const SELECTION_FLAGS: &str = "Selection flags";

/// The kubectl connection flags (kubectl passes none of its own flags to a plugin), on the
/// commands that talk to Kubernetes only.
#[derive(Debug, Clone, Default, Args)]
pub struct KubeArgs {
    /// Path to the kubeconfig file to use (one file; the KUBECONFIG variable may list several).
    #[arg(
        long,
        value_name = "PATH",
        help_heading = KUBERNETES_FLAGS
    )]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use.
    #[arg(
        long,
        value_name = "NAME",
        help_heading = KUBERNETES_FLAGS
    )]
    pub context: Option<String>,

    /// The kubeconfig cluster to use.
    #[arg(
        long,
        value_name = "NAME",
        help_heading = KUBERNETES_FLAGS
    )]
    pub cluster: Option<String>,

    /// The kubeconfig user to use.
    #[arg(
        long,
        value_name = "NAME",
        help_heading = KUBERNETES_FLAGS
    )]
    pub user: Option<String>,

    /// The namespace to use; defaults to the context's namespace, then `default`.
    #[arg(
        short = 'n',
        long,
        value_name = "NAME",
        help_heading = KUBERNETES_FLAGS
    )]
    pub namespace: Option<String>,

    /// Time to wait for a single Kubernetes request, e.g. `30s`, `1m`; `0` waits forever.
    #[arg(
        long,
        value_name = "DURATION",
        help_heading = KUBERNETES_FLAGS
    )]
    pub request_timeout: Option<String>,

    /// User to impersonate for Kubernetes requests.
    #[arg(
        long = "as",
        value_name = "USER",
        help_heading = KUBERNETES_FLAGS
    )]
    pub as_user: Option<String>,

    /// Group to impersonate for Kubernetes requests (repeatable).
    #[arg(
        long = "as-group",
        value_name = "GROUP",
        help_heading = KUBERNETES_FLAGS
    )]
    pub as_group: Vec<String>,
}

impl Command {
    /// The Kubernetes connection flags, for the commands that talk to Kubernetes.
    pub fn kube_args(&self) -> Option<&KubeArgs> {
        match self {
            Command::Status(a) => Some(&a.kube),
            Command::Secret(SecretCommand::Create(a)) => Some(&a.common.kube),
            Command::Secret(SecretCommand::Render(a)) => Some(&a.common.kube),
            Command::Secret(SecretCommand::Verify(a)) => Some(&a.kube),
            Command::Secret(SecretCommand::Delete(a)) => Some(&a.kube),
            Command::Secret(SecretCommand::List(a)) => Some(&a.kube),
            Command::Secret(SecretCommand::Rotate(a)) => Some(&a.kube),
            Command::Token(TokenCommand::List(a)) => Some(&a.kube),
            Command::Token(TokenCommand::Prune(a)) => Some(&a.kube),
            Command::Pod(PodCommand::Render(a)) => Some(&a.common.kube),
            Command::Pod(PodCommand::Apply(a)) => Some(&a.common.kube),
            Command::Doctor(a) => Some(&a.kube),
            Command::Diagnose(DiagnoseCommand::Pod(a)) => Some(&a.kube),
            Command::Version(a) => Some(&a.kube),
            Command::Controller(a) => Some(&a.kube),
            Command::Login(_)
            | Command::Logout
            | Command::Token(TokenCommand::Revoke(_))
            | Command::Image(_)
            | Command::Profile(_)
            | Command::Completion(_)
            | Command::Complete(_) => None,
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in to a Dedicated environment and keep the credential in the OS keyring.
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry login --api https://api.<dedicated_domain>\n  kubectl dedicated-registry login --api https://api.<dedicated_domain> --sso\n  kubectl dedicated-registry login --api https://api.<dedicated_domain> --apikey-stdin < key.txt\n  pass show bluemix | kubectl dedicated-registry login -u me@corp.com --password-stdin --org my-org\n  kubectl dedicated-registry --profile prod login --api https://api.<other_domain>"
    )]
    Login(LoginArgs),
    /// Remove the stored credential and the profile.
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry logout\n  kubectl dedicated-registry --profile prod logout"
    )]
    Logout,
    /// Show the environment, user, org, registry and Kubernetes target (never a token).
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry status\n  kubectl dedicated-registry --profile prod --context staging status"
    )]
    Status(StatusArgs),
    /// Create, render, verify, list, rotate and delete image pull secrets for the registry.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Render or apply a Pod that pulls from the registry.
    #[command(subcommand)]
    Pod(PodCommand),
    /// List, revoke and prune registry tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Browse the images in the registry.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Probe every endpoint the plugin uses and report what was observed (never mints a token
    /// or prints a credential); exit 1 when the main job cannot work.
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry doctor\n  kubectl dedicated-registry -n team-a doctor --secret regcred -o json > doctor.json"
    )]
    Doctor(DoctorArgs),
    /// Explain why pods cannot pull their images, the way the kubelet sees it.
    #[command(subcommand)]
    Diagnose(DiagnoseCommand),
    /// The saved logins (profiles).
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Run in the cluster as a controller: keep the secret in every selected namespace, with
    /// leader election, /healthz, /readyz, /metrics and Events (see deploy/).
    #[command(
        after_help = "Examples:\n  kubectl-dedicated_registry controller dedicated-registry -A --exclude 'sandbox-*' --config /etc/kubectl-dedicated-registry/config.yaml\n  kubectl dedicated-registry controller regcred -l team=payments --listen 127.0.0.1:8080 --lease-namespace ops"
    )]
    Controller(ControllerArgs),
    /// Print the plugin, Kubernetes client and target server versions.
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry version\n  kubectl dedicated-registry version --client -o json"
    )]
    Version(VersionArgs),
    /// Shell completion: the helper kubectl's own completion runs for `kubectl dedicated-registry
    /// <TAB>`, and scripts for `kubectl-dedicated_registry <TAB>` typed directly.
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry completion kubectl-shim\n  source <(kubectl-dedicated_registry completion bash)\n  source <(kubectl-dedicated_registry completion zsh)"
    )]
    Completion(CompletionArgs),
    /// Cobra-style completion protocol used by kubectl's plugin completion.
    #[command(name = "__complete", hide = true)]
    Complete(CompleteArgs),
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Kubernetes connection flags.
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// `profile` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List every saved login: name, API, user, org, registry, where the credential is (never
    /// a token); `*` marks the profile in use.
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry profile list\n  kubectl dedicated-registry profile list -o json"
    )]
    List(ProfileListArgs),
    /// Make a saved profile the one every command uses when --profile is not given (as
    /// `kubectl config use-context` does for contexts).
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry profile use prod\n  kubectl dedicated-registry profile use default"
    )]
    Use(ProfileUseArgs),
}

/// `profile use`.
#[derive(Debug, Args)]
pub struct ProfileUseArgs {
    /// The profile's name (see `profile list`).
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `profile list`.
#[derive(Debug, Args)]
pub struct ProfileListArgs {
    /// Output format (default: a table).
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<ListFormat>,
}

/// `version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Kubernetes connection flags.
    #[command(flatten)]
    pub kube: KubeArgs,

    /// Only the plugin's version, without contacting the cluster.
    #[arg(long)]
    pub client: bool,

    /// Output format (default: text).
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<ManifestFormat>,
}

/// `-o` formats for lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
    /// Names only.
    Name,
}

/// How `login` authenticates.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Cloud Foundry API endpoint of the environment, e.g. `https://api.<dedicated_domain>`.
    #[arg(long, short = 'a', value_name = "URL")]
    pub api: Option<String>,

    /// The org whose registry namespaces to use (asked for when you belong to several).
    /// (No `-o`: in kubectl, `-o` means the output format.)
    #[arg(long, value_name = "NAME")]
    pub org: Option<String>,

    /// Registry host[:port]; defaults to the API host with `api.` replaced by `registry.`.
    #[arg(long, value_name = "HOST")]
    pub registry: Option<String>,

    /// User name for the password login (asked for when missing).
    #[arg(long, short = 'u', value_name = "NAME")]
    pub username: Option<String>,

    /// Read the password from standard input instead of a prompt.
    #[arg(long, conflicts_with_all = ["sso", "apikey_stdin", "apikey_env"])]
    pub password_stdin: bool,

    /// Log in with a one-time passcode from the environment's SSO page.
    #[arg(long, conflicts_with_all = ["password_stdin", "apikey_stdin", "apikey_env", "username"])]
    pub sso: bool,

    /// Read a platform API key from standard input; only the resulting refresh token is kept.
    #[arg(long, conflicts_with_all = ["password_stdin", "sso", "username", "apikey_env"])]
    pub apikey_stdin: bool,

    /// Extra CA certificate(s) (PEM) to trust for the environment's endpoints.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,

    /// The org's GUID, instead of looking the org up by name.
    #[arg(long, value_name = "GUID", conflicts_with = "org")]
    pub org_guid: Option<String>,

    /// Do not verify the environment's TLS certificates (INSECURE: credentials can be
    /// intercepted; prefer --ca-file). Remembered in the profile and warned about on every run.
    #[arg(long, conflicts_with = "ca_file")]
    pub insecure_skip_tls_verify: bool,

    /// Non-interactive use: read the API key from this environment variable now and on every
    /// later run; nothing is stored in the keyring.
    #[arg(
        long,
        value_name = "NAME",
        num_args = 0..=1,
        default_missing_value = env::API_KEY,
        conflicts_with_all = ["password_stdin", "sso", "username"]
    )]
    pub apikey_env: Option<String>,

    /// How an API key is exchanged: `uaa` (`username=apikey` grant), `iam` (IBM Cloud IAM),
    /// or `auto` (the UAA, then IAM when the UAA refuses the key).
    #[arg(long, value_enum, value_name = "ROUTE", default_value_t = AuthArg::Auto)]
    pub auth: AuthArg,

    /// IAM endpoint for API keys (remembered in the profile).
    #[arg(long, value_name = "URL")]
    pub iam_url: Option<String>,

    /// icr.io (a `--registry` of `icr.io` or a regional domain such as `us.icr.io`): a
    /// registry namespace the pull secrets may read; repeat for several.
    #[arg(
        long = "registry-namespace",
        value_name = "NS",
        conflicts_with = "account_wide"
    )]
    pub registry_namespaces: Vec<String>,

    /// icr.io: the pull policy covers every registry namespace of the account.
    #[arg(long)]
    pub account_wide: bool,

    /// icr.io: the IAM Policy API version to write the pull policy with.
    #[arg(long, value_enum, value_name = "VERSION")]
    pub policy_api: Option<PolicyApiArg>,
}

/// `--policy-api` versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyApiArg {
    /// `/v1/policies`.
    V1,
    /// `/v2/policies` (the default).
    V2,
}

/// `--auth` routes for API keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// The UAA password grant with `username=apikey` only.
    Uaa,
    /// IBM Cloud IAM only.
    Iam,
    /// The UAA first, IAM when the UAA refuses the key.
    Auto,
}

/// `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Kubernetes connection flags.
    #[command(flatten)]
    pub kube: KubeArgs,

    /// Also check this pull secret's credential (in the target namespace) against the registry.
    #[arg(long, value_name = "NAME")]
    pub secret: Option<String>,

    /// Output format (default: a table), e.g. `-o json` for a bug report.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<ManifestFormat>,
}

/// `diagnose` subcommands.
#[derive(Debug, Subcommand)]
pub enum DiagnoseCommand {
    /// For each image of a pod (init containers too): the pull secrets the pod references and
    /// those its ServiceAccount has now, the key the kubelet would match (its rules, its order),
    /// the registry's answer to each matching credential, the pod's pull Events and container
    /// statuses; then one verdict per image with the fix. Without NAME or -l: every pod whose
    /// pulls fail (ErrImagePull, ImagePullBackOff). Exit 1 when an image cannot be pulled.
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry -n team-a diagnose pod\n  kubectl dedicated-registry -n team-a diagnose pod hello -o yaml\n  kubectl dedicated-registry diagnose pod -l app=web -A\n  kubectl dedicated-registry diagnose pod -A -o json"
    )]
    Pod(DiagnosePodArgs),
}

/// `diagnose pod`.
#[derive(Debug, Args)]
pub struct DiagnosePodArgs {
    /// Kubernetes connection flags.
    #[command(flatten)]
    pub kube: KubeArgs,

    /// The pod (default: every pod of the namespace whose pulls fail).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// The pods of every namespace (a namespace being terminated is skipped).
    #[arg(short = 'A', long, help_heading = SELECTION_FLAGS)]
    pub all_namespaces: bool,

    /// The pods whose labels match this selector (kubectl syntax), failing or not.
    #[arg(short = 'l', long, value_name = "SELECTOR", help_heading = SELECTION_FLAGS)]
    pub selector: Option<String>,

    /// Output format (default: a table): the verdicts with all the evidence.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<ManifestFormat>,
}

/// `secret` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Mint a read-only, non-expiring registry token and write the pull secret (idempotent).
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry -n team-a secret create regcred\n  kubectl dedicated-registry -n team-a secret create regcred --service-account default\n  kubectl dedicated-registry -n team-a secret create regcred --rotate\n  kubectl dedicated-registry -n team-a secret create regcred --dry-run=server -o yaml\n  kubectl dedicated-registry secret create regcred -A --exclude 'sandbox-*'\n  kubectl dedicated-registry secret create regcred -l team=payments --dry-run=server\n  kubectl dedicated-registry secret create regcred -A --watch"
    )]
    Create(SecretCreateArgs),
    /// Mint a token and print the Secret manifest without touching any cluster.
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry -n team-a secret render regcred > regcred.yaml\n  kubectl dedicated-registry -n team-a secret render regcred -o json | kubeseal > sealed.json"
    )]
    Render(SecretRenderArgs),
    /// Check that a pull secret's credentials authenticate to their registries (v2 token auth).
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry -n team-a secret verify regcred"
    )]
    Verify(SecretVerifyArgs),
    /// List the pull secrets this plugin manages: registry, token id, access, how many secrets
    /// share the token, age (never a token).
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry -n team-a secret list\n  kubectl dedicated-registry secret list -A -o wide\n  kubectl dedicated-registry secret list -A --verify\n  kubectl dedicated-registry secret list -A -o json"
    )]
    List(SecretListArgs),
    /// Replace the registry token(s) behind managed pull secrets with new ones: every secret
    /// holding a token gets the new one before the old one is revoked; any failed write puts
    /// them all back and revokes the new one.
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry -n team-a secret rotate regcred\n  kubectl dedicated-registry secret rotate regcred -A --dry-run\n  kubectl dedicated-registry secret rotate regcred -A --exclude 'sandbox-*'\n  kubectl dedicated-registry secret rotate regcred -l team=payments --readwrite"
    )]
    Rotate(SecretRotateArgs),
    /// Delete a pull secret this plugin manages and revoke its registry token.
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry -n team-a secret delete regcred\n  kubectl dedicated-registry -n team-a secret delete regcred --keep-token"
    )]
    Delete(SecretDeleteArgs),
}

/// `secret list`.
#[derive(Debug, Args)]
pub struct SecretListArgs {
    /// Kubernetes connection flags.
    #[command(flatten)]
    pub kube: KubeArgs,

    /// List the managed pull secrets of every namespace.
    #[arg(short = 'A', long, help_heading = SELECTION_FLAGS)]
    pub all_namespaces: bool,

    /// Output format: `wide` adds the ServiceAccounts that reference each secret and its token's
    /// description; `json`/`yaml` print the Secrets without their credential.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<SecretListFormat>,

    /// Check each distinct token once against the registry (v2, with the secret's own
    /// credential) and add a STATUS column: works, refused or unverifiable.
    #[arg(long)]
    pub verify: bool,
}

/// `secret rotate`.
#[derive(Debug, Args)]
pub struct SecretRotateArgs {
    /// Kubernetes connection flags.
    #[command(flatten)]
    pub kube: KubeArgs,

    /// Name of the Secret (the same default as `pod --secret`).
    #[arg(value_name = "NAME", default_value = crate::manifests::DEFAULT_SECRET_NAME)]
    pub name: String,

    /// Rotate the secret of that name in every namespace (except `kube-*` and `--exclude`).
    #[arg(short = 'A', long, help_heading = SELECTION_FLAGS)]
    pub all_namespaces: bool,

    /// Rotate the secret in the namespaces whose labels match this selector (kubectl syntax).
    #[arg(short = 'l', long, value_name = "SELECTOR", help_heading = SELECTION_FLAGS)]
    pub selector: Option<String>,

    /// With `-A`/`-l`, skip namespaces matching this pattern (`*` matches anything; repeatable).
    #[arg(long, value_name = "PATTERN", help_heading = SELECTION_FLAGS)]
    pub exclude: Vec<String>,

    /// Make the new tokens read-write (default: each keeps the access of the token it replaces).
    #[arg(long, conflicts_with = "readonly")]
    pub readwrite: bool,

    /// Make the new tokens read-only (default: each keeps the access of the token it replaces).
    #[arg(long)]
    pub readonly: bool,

    /// How many secrets are written at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// Only show the plan: which tokens would be replaced, in how many secrets, in which
    /// namespaces. Mints, writes and revokes nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `-o` formats of `secret list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecretListFormat {
    /// The table with more columns.
    Wide,
    /// A `List` of the Secrets as YAML, without credentials.
    Yaml,
    /// A `List` of the Secrets as JSON, without credentials.
    Json,
    /// `secret/NAME` only.
    Name,
}

/// `secret delete`.
#[derive(Debug, Args)]
pub struct SecretDeleteArgs {
    /// Kubernetes connection flags.
    #[command(flatten)]
    pub kube: KubeArgs,

    /// Name of the Secret (the same default as `pod --secret`).
    #[arg(value_name = "NAME", default_value = crate::manifests::DEFAULT_SECRET_NAME)]
    pub name: String,

    /// Succeed when the Secret does not exist.
    #[arg(long)]
    pub ignore_not_found: bool,

    /// Delete the Secret but leave its registry token valid.
    #[arg(long)]
    pub keep_token: bool,
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List the registry tokens of the profile's org (ids and attributes, never the tokens), and
    /// which secrets of the current cluster hold each (IN-USE).
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry token list\n  kubectl dedicated-registry token list --all -o yaml\n  kubectl dedicated-registry token list --unused"
    )]
    List(TokenListArgs),
    /// Revoke the tokens this plugin minted for the current cluster that no secret in it holds
    /// any more (e.g. left by `kubectl delete namespace`); shows the plan and asks first.
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry token prune --dry-run\n  kubectl dedicated-registry token prune\n  kubectl dedicated-registry --context prod token prune --yes"
    )]
    Prune(TokenPruneArgs),
    /// Revoke registry tokens by id.
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry token revoke 637b3d8c-a087-5af9-a636-16e7efc70967"
    )]
    Revoke(TokenRevokeArgs),
}

/// `image` subcommands.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List the images in the org's registry namespaces (one row per tag), as
    /// `ibmcloud cr images` does; uses the login, not a pull secret.
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry image list\n  kubectl dedicated-registry image list --registry-namespace demo -o wide"
    )]
    List(ImageListArgs),
}

/// `image list`.
#[derive(Debug, Args)]
pub struct ImageListArgs {
    /// Only this registry namespace (the first part of `<namespace>/<image>`; not the
    /// Kubernetes namespace, which is `-n`).
    #[arg(long, value_name = "NAMESPACE")]
    pub registry_namespace: Option<String>,

    /// Output format (default: a table; `wide` adds the full digest and the vulnerability
    /// verdict; `name` prints references to pass to `pod apply --image`).
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<ImageFormat>,
}

/// `-o` formats of `image list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImageFormat {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
    /// Image references only.
    Name,
    /// The table with more columns.
    Wide,
}

/// `token list`.
#[derive(Debug, Args)]
pub struct TokenListArgs {
    /// Kubernetes connection flags (the cluster whose secrets make IN-USE).
    #[command(flatten)]
    pub kube: KubeArgs,

    /// Show every token of the org, not only the ones this plugin minted.
    #[arg(long)]
    pub all: bool,

    /// Only the tokens no secret of the current cluster holds.
    #[arg(long)]
    pub unused: bool,

    /// Output format (default: a table).
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<ManifestFormat>,
}

/// `token prune`.
#[derive(Debug, Args)]
pub struct TokenPruneArgs {
    /// Kubernetes connection flags (the cluster whose unused tokens are revoked).
    #[command(flatten)]
    pub kube: KubeArgs,

    /// Revoke without asking (needed when there is no terminal to ask on).
    #[arg(short = 'y', long)]
    pub yes: bool,

    /// Only show what would be revoked.
    #[arg(long)]
    pub dry_run: bool,
}

/// `token revoke`.
#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// Token ids (as shown by `token list` and in the secret's annotation).
    #[arg(value_name = "ID", required = true)]
    pub ids: Vec<String>,
    /// Revoke even a token that pull secrets of the current cluster hold (their pods' pulls
    /// then fail); without it such a token is refused, naming its holders.
    #[arg(long)]
    pub force: bool,
}

/// `secret verify`.
#[derive(Debug, Args)]
pub struct SecretVerifyArgs {
    /// Kubernetes connection flags.
    #[command(flatten)]
    pub kube: KubeArgs,

    /// Name of the Secret (the same default as `pod --secret`).
    #[arg(value_name = "NAME", default_value = crate::manifests::DEFAULT_SECRET_NAME)]
    pub name: String,

    /// Extra CA certificate(s) (PEM) to trust for the registries (default: the profile's).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
}

/// Options shared by `secret create` and `secret render`.
#[derive(Debug, Args)]
pub struct SecretCommonArgs {
    /// Kubernetes connection flags.
    #[command(flatten)]
    pub kube: KubeArgs,

    /// Name of the Secret (the same default as `pod --secret`).
    #[arg(value_name = "NAME", default_value = crate::manifests::DEFAULT_SECRET_NAME)]
    pub name: String,

    /// E-mail to put in the docker config (optional, never used by the registry).
    #[arg(long, value_name = "EMAIL")]
    pub docker_email: Option<String>,

    /// Token description shown by `ibmcloud cr token-list`; defaults to one naming the cluster,
    /// namespace and secret.
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// Mint a token that can push as well as pull (default: pull only).
    #[arg(long)]
    pub readwrite: bool,
}

/// `secret create`.
#[derive(Debug, Args)]
pub struct SecretCreateArgs {
    #[command(flatten)]
    pub common: SecretCommonArgs,

    /// Also add the secret to this ServiceAccount's imagePullSecrets (repeatable).
    #[arg(long = "service-account", value_name = "NAME")]
    pub service_accounts: Vec<String>,

    /// Replace a same-named Secret that this plugin does not manage.
    #[arg(long)]
    pub overwrite: bool,

    /// Mint a new token even if the secret is up to date, and revoke the old one.
    #[arg(long)]
    pub rotate: bool,

    /// `client` prints the object without any request; `server` validates it on the API server.
    /// Neither mints a token or writes anything.
    #[arg(long, value_enum, value_name = "MODE", num_args = 0..=1, require_equals = true, default_value_t = DryRun::None, default_missing_value = "client")]
    pub dry_run: DryRun,

    /// Output format: print the object instead of `secret/NAME created`.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,

    /// With `-o yaml|json`, print the real credential instead of a redacted placeholder.
    #[arg(long)]
    pub show_token: bool,

    /// How to check a new token the way the kubelet will use it (v2 auth at the registry):
    /// `auto` fails only when the registry refuses the token and warns when it cannot be
    /// checked; `require` demands proof (for CI); `skip` does not check.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = VerifyMode::Auto)]
    pub verify: VerifyMode,

    /// Same as `--verify=skip` (kept for compatibility).
    #[arg(long, hide = true, conflicts_with = "verify")]
    pub skip_verify: bool,

    /// Create the secret in every namespace (except `kube-*` and `--exclude`), all holding one
    /// token for the cluster (see `--token-per-namespace`).
    #[arg(short = 'A', long, help_heading = SELECTION_FLAGS)]
    pub all_namespaces: bool,

    /// Create the secret in the namespaces whose labels match this selector (kubectl syntax,
    /// e.g. `team=payments,env!=dev`), with one token for the cluster as `-A` does.
    #[arg(short = 'l', long, value_name = "SELECTOR", help_heading = SELECTION_FLAGS)]
    pub selector: Option<String>,

    /// With `-A`/`-l`, skip namespaces matching this pattern (`*` matches anything; repeatable).
    #[arg(long, value_name = "PATTERN", help_heading = SELECTION_FLAGS)]
    pub exclude: Vec<String>,

    /// With `-A`/`-l`, mint a separate token for each namespace instead of one for the cluster.
    #[arg(long)]
    pub token_per_namespace: bool,

    /// In one namespace, write the cluster's shared token (the one `-A` wrote elsewhere)
    /// instead of minting a token for this namespace.
    #[arg(long, conflicts_with_all = ["token_per_namespace", "rotate"])]
    pub reuse: bool,

    /// With `-A`/`-l`, how many namespaces are written at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// With `-A`/`-l`, keep running after the first pass: write the secret into namespaces that
    /// appear or are labelled into the selection, and restore it when it is deleted or edited.
    /// Needs no login once the cluster holds the shared token. Stops on Ctrl-C or SIGTERM.
    #[arg(long, conflicts_with_all = ["token_per_namespace", "dry_run", "output"])]
    pub watch: bool,
}

/// `controller`.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Kubernetes connection flags (in a Pod: its ServiceAccount).
    #[command(flatten)]
    pub kube: KubeArgs,

    /// Name of the Secret to keep in every selected namespace.
    #[arg(value_name = "NAME", default_value = crate::manifests::DEFAULT_SECRET_NAME)]
    pub name: String,

    /// Every namespace (except `kube-*` and `--exclude`).
    #[arg(short = 'A', long, help_heading = SELECTION_FLAGS)]
    pub all_namespaces: bool,

    /// The namespaces whose labels match this selector (kubectl syntax).
    #[arg(short = 'l', long, value_name = "SELECTOR", help_heading = SELECTION_FLAGS)]
    pub selector: Option<String>,

    /// Skip namespaces matching this pattern (`*` matches anything; repeatable).
    #[arg(long, value_name = "PATTERN", help_heading = SELECTION_FLAGS)]
    pub exclude: Vec<String>,

    /// Also add the secret to this ServiceAccount's imagePullSecrets in each namespace
    /// (repeatable; needs deploy/overlays/service-accounts).
    #[arg(long = "service-account", value_name = "NAME")]
    pub service_accounts: Vec<String>,

    /// Credentials that can push as well as pull (default: pull only).
    #[arg(long)]
    pub readwrite: bool,

    /// The settings file with the profile (the plugin's own format, written by `login`; in a
    /// Pod, a mounted ConfigMap). Default: the user's settings file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,

    /// Where /healthz, /readyz and /metrics are served (plain HTTP).
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,

    /// The Lease that elects the replica that writes.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "kubectl-dedicated-registry-controller"
    )]
    pub lease_name: String,

    /// The Lease's namespace (default: `$POD_NAMESPACE`, else the target namespace).
    #[arg(long, value_name = "NAMESPACE", env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,

    /// This replica's name in the Lease (default: `$POD_NAME`, else host name and process id).
    #[arg(long, value_name = "NAME", env = "POD_NAME")]
    pub identity: Option<String>,

    /// Seconds the Lease is held without renewal; a standby takes over after that.
    #[arg(long, value_name = "SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(2..=300))]
    pub lease_duration: u64,

    /// How often every selected namespace is looked at again, events or not (e.g. `10m`).
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub resync: String,

    /// Rotate the cluster's shared credential this often (e.g. `720h`): a new one is written
    /// into every holder before the old one is revoked. Needs the API key. Default: never.
    #[arg(long, value_name = "DURATION")]
    pub rotate_every: Option<String>,

    /// Namespaces written at once.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// How log lines are written to stderr: `json` (one object a line: `ts`, `level`, `msg`;
    /// what log collectors parse) or `text` (as the other commands write them).
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

/// `controller --log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines as the other commands write them.
    Text,
    /// One JSON object a line.
    Json,
}

/// `--concurrency`'s default: measured on the sandbox with 40 ms per request (`tests/bench.sh`).
pub const DEFAULT_CONCURRENCY: u16 = 16;

/// `secret render`.
#[derive(Debug, Args)]
pub struct SecretRenderArgs {
    #[command(flatten)]
    pub common: SecretCommonArgs,

    /// Output format.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value_t = ManifestFormat::Yaml)]
    pub output: ManifestFormat,
}

/// `pod` subcommands.
#[derive(Debug, Subcommand)]
pub enum PodCommand {
    /// Print a Pod that pulls the image with the pull secret.
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry pod render --image demo/hello:v1 --secret regcred\n  kubectl dedicated-registry -n team-a pod render --image registry.<dedicated_domain>/demo/hello@sha256:<digest> --secret regcred\n  kubectl dedicated-registry -n team-a pod render --image demo/hello:v1 --secret regcred --check --pin-digest"
    )]
    Render(PodRenderArgs),
    /// Create or update that Pod in the target namespace (server-side apply).
    #[command(
        after_help = "Examples:\n  kubectl dedicated-registry -n team-a pod apply --image demo/hello --secret regcred\n  kubectl dedicated-registry -n team-a pod apply --image demo/hello:v1 --secret regcred --dry-run=server -o yaml\n  kubectl dedicated-registry -n team-a pod apply --image demo/hello:v1 --secret regcred --pin-digest"
    )]
    Apply(PodApplyArgs),
}

/// Options shared by `pod render` and `pod apply`.
#[derive(Debug, Args)]
pub struct PodCommonArgs {
    /// Kubernetes connection flags.
    #[command(flatten)]
    pub kube: KubeArgs,

    /// Image: a full reference, or `<namespace>/<image>[:tag]` in the profile's registry.
    #[arg(long, value_name = "REF")]
    pub image: String,

    /// Pod name; defaults to the image name.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Pull secret to reference.
    #[arg(long, value_name = "NAME", default_value = crate::manifests::DEFAULT_SECRET_NAME)]
    pub secret: String,

    /// Write the digest the pull pre-flight resolved into the Pod (`<image>@sha256:...`), so
    /// the Pod runs exactly the image that was checked.
    #[arg(long)]
    pub pin_digest: bool,
}

/// `pod render`.
#[derive(Debug, Args)]
pub struct PodRenderArgs {
    #[command(flatten)]
    pub common: PodCommonArgs,

    /// Output format.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT", default_value_t = ManifestFormat::Yaml)]
    pub output: ManifestFormat,

    /// Run the pull pre-flight first (as `pod apply` does): resolve the image with the pull
    /// secret's credential read from the cluster; exit 1 when the image or the credential
    /// cannot work.
    #[arg(long)]
    pub check: bool,
}

/// `pod apply`.
#[derive(Debug, Args)]
pub struct PodApplyArgs {
    #[command(flatten)]
    pub common: PodCommonArgs,

    /// `client` prints the object without any request; `server` validates it on the API server.
    #[arg(long, value_enum, value_name = "MODE", num_args = 0..=1, require_equals = true, default_value_t = DryRun::None, default_missing_value = "client")]
    pub dry_run: DryRun,

    /// Output format: print the object instead of `pod/NAME created`.
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,

    /// Skip the pull pre-flight (the secret's existence and the image's resolution with its
    /// credential, checked before the Pod is applied).
    #[arg(long, conflicts_with = "pin_digest")]
    pub no_check: bool,
}

/// `completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to print a completion script for, or `kubectl-shim` to install
    /// `kubectl_complete-dedicated_registry` for `kubectl dedicated-registry <TAB>`.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: CompletionTarget,

    /// With `kubectl-shim`: the directory to install into (default: the directory of the
    /// `kubectl-dedicated_registry` found on PATH, where kubectl finds the plugin).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Targets of `completion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionTarget {
    /// Bash script (values from the live cluster, like the helper).
    Bash,
    /// Zsh script (values from the live cluster, like the helper).
    Zsh,
    /// Fish script (subcommands and flags only).
    Fish,
    /// PowerShell script (subcommands and flags only).
    Powershell,
    /// Install the `kubectl_complete-dedicated_registry` helper next to the plugin on PATH.
    KubectlShim,
}

/// Arguments of the hidden `__complete` command: the words typed so far.
#[derive(Debug, Args)]
pub struct CompleteArgs {
    /// Words after `kubectl dedicated-registry`; the last is the one being completed.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub words: Vec<String>,
}

/// `--dry-run` modes, as in kubectl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DryRun {
    /// Really do it.
    None,
    /// Build and print the object locally; no request at all.
    Client,
    /// Send the request with `dryRun=All`; the server validates but stores nothing.
    Server,
}

/// `--verify` modes of `secret create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerifyMode {
    /// Fail unless the registry accepts the token.
    Require,
    /// Fail when the registry refuses the token; warn when it cannot be checked.
    Auto,
    /// Do not check.
    Skip,
}

/// `-o` formats for commands that write objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// YAML manifest.
    Yaml,
    /// JSON manifest.
    Json,
    /// `kind/name` only.
    Name,
}

/// `-o` formats for commands that only render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ManifestFormat {
    /// YAML manifest.
    Yaml,
    /// JSON manifest.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bare_dry_run_means_client() {
        let cli = Cli::try_parse_from([
            "kubectl-dedicated_registry",
            "secret",
            "create",
            "x",
            "--dry-run",
        ])
        .unwrap();
        match cli.command {
            Command::Secret(SecretCommand::Create(a)) => assert_eq!(a.dry_run, DryRun::Client),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Every command's `--help`, as users see it, is a snapshot: a change in what users read
    /// is a visible diff in `src/cli/snapshots/`.
    #[test]
    fn help_of_every_command() {
        fn walk(command: &mut clap::Command, path: &str) {
            let name = if path.is_empty() {
                "kubectl-dedicated-registry".to_string()
            } else {
                path.to_string()
            };
            let help = command.render_long_help().to_string();
            insta::assert_snapshot!(format!("help-{}", name.replace(' ', "-")), help);
            for sub in command.get_subcommands_mut() {
                if sub.is_hide_set() {
                    continue;
                }
                let sub_path = format!("{path} {}", sub.get_name()).trim().to_string();
                walk(sub, &sub_path);
            }
        }
        let mut command = super::command().term_width(100);
        command.build();
        walk(&mut command, "");
    }

    /// Issue 24, friction 15: as in kubectl, the Examples come right after the description,
    /// before usage and the (long) list of flags, in `--help` and `-h`.
    #[test]
    fn examples_come_before_the_flags() {
        fn walk(command: &mut clap::Command, path: &str, seen: &mut usize) {
            for long in [true, false] {
                let help = if long {
                    command.render_long_help()
                } else {
                    command.render_help()
                }
                .to_string();
                if let Some(examples) = help.find("Examples:") {
                    *seen += 1;
                    let usage = help.find("Usage:").expect("usage");
                    assert!(examples < usage, "{path}: Examples after Usage\n{help}");
                }
            }
            for sub in command.get_subcommands_mut() {
                let sub_path = format!("{path} {}", sub.get_name());
                walk(sub, &sub_path, seen);
            }
        }
        let mut command = super::command();
        command.build();
        let mut seen = 0;
        walk(&mut command, "kubectl dedicated-registry", &mut seen);
        assert!(seen > 30, "only {seen} helps have Examples");
    }

    /// Every command users run has an "Examples:" section, as kubectl's commands do, and the
    /// README's Examples section shows each of them (so the two cannot drift apart).
    #[test]
    fn every_command_has_examples_and_the_readme_shows_them() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README.md");
        let mut missing = Vec::new();
        let command = Cli::command();
        let mut stack: Vec<(String, &clap::Command)> = command
            .get_subcommands()
            .map(|c| (c.get_name().to_string(), c))
            .collect();
        while let Some((path, sub)) = stack.pop() {
            if sub.is_hide_set() {
                continue;
            }
            if sub.has_subcommands() {
                stack.extend(
                    sub.get_subcommands()
                        .map(|c| (format!("{path} {}", c.get_name()), c)),
                );
                continue;
            }
            let Some(after) = sub.get_after_help().map(|h| h.to_string()) else {
                missing.push(format!("{path}: no Examples section"));
                continue;
            };
            assert!(after.starts_with("Examples:\n"), "{path}: {after}");
            for example in after.lines().skip(1) {
                if !readme.contains(example.trim()) {
                    missing.push(format!("{path}: README lacks `{}`", example.trim()));
                }
            }
        }
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }
}

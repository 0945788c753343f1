//! What the front ends ask the engine for, as plain values: the CLI builds these from its flags
//! (`cli::settings`), the controller from its configuration. No clap, no output formats.

use crate::registry::Access;

pub use super::lifecycle::Verification;

/// What a pull secret holds, shared by `secret create` and `secret render`.
#[derive(Debug, Clone)]
pub struct SecretSpec {
    /// The Secret's name.
    pub name: String,
    /// `--docker-email`.
    pub docker_email: Option<String>,
    /// `--description` (one line).
    pub description: Option<String>,
    /// Token access.
    pub access: Access,
}

impl SecretSpec {
    /// The e-mail to write (empty when not given).
    pub fn email(&self) -> &str {
        self.docker_email.as_deref().unwrap_or_default()
    }
}

/// Which namespaces a create writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The target namespace (`-n`, else the context's).
    One,
    /// `-A` or `-l`: many namespaces at once.
    Fleet(FleetScope),
}

/// `-A`/`-l` and the flags that shape a multi-namespace run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetScope {
    /// `-l`: a label selector on namespaces, passed to the API server as is.
    pub selector: Option<String>,
    /// `--exclude` patterns (`kube-*` is always excluded unless the selector names it).
    pub exclude: Vec<String>,
    /// `--token-per-namespace`: one token per namespace instead of one for the cluster.
    pub per_namespace: bool,
    /// `--concurrency`: namespaces written at once.
    pub concurrency: usize,
    /// `--watch`: keep the selection converged after the first pass.
    pub watch: bool,
}

/// A create: the secret, where, and how carefully.
#[derive(Debug, Clone)]
pub struct CreateSpec {
    /// The secret.
    pub spec: SecretSpec,
    /// ServiceAccounts whose `imagePullSecrets` get the secret.
    pub service_accounts: Vec<String>,
    /// Replace a same-named secret this plugin does not manage.
    pub overwrite: bool,
    /// Replace the credential even when the secret is up to date.
    pub rotate: bool,
    /// A server dry run: validated by the API server, nothing minted or stored.
    pub dry_run: bool,
    /// How a new credential is checked against the registry's v2 endpoint.
    pub verify: Verification,
    /// One namespace or many.
    pub scope: Scope,
    /// In one namespace, write the cluster's shared credential instead of minting.
    pub reuse: bool,
}

/// A rotation.
#[derive(Debug, Clone)]
pub struct RotateSpec {
    /// The secret's name.
    pub name: String,
    /// `-A`/`-l`/`--exclude`; `None` for the target namespace alone.
    pub fleet: Option<FleetScope>,
    /// The new credentials' access; `None` keeps each one's.
    pub access: Option<Access>,
    /// Secrets written at once.
    pub concurrency: usize,
    /// Only the plan.
    pub dry_run: bool,
}

//! Names of the environment variables the plugin reads.

/// Selects the profile, like `--profile`.
pub const PROFILE: &str = "KUBECTL_DEDICATED_REGISTRY_PROFILE";
/// Overrides the config file path (default: `$XDG_CONFIG_HOME/kubectl-dedicated-registry/config.yaml`).
pub const CONFIG: &str = "KUBECTL_DEDICATED_REGISTRY_CONFIG";
/// A platform API key for non-interactive use, following IBM's convention. When set, commands
/// authenticate with it instead of the keyring.
pub const API_KEY: &str = "IBMCLOUD_API_KEY";
/// The older Bluemix spelling of the same variable.
pub const API_KEY_LEGACY: &str = "BLUEMIX_API_KEY";
/// `host=ip:port,...`: connect to these addresses for these host names (TLS still checks the
/// name), as curl's `--resolve`; for registries reachable only under a pinned address (the
/// sandbox's icr.io domains on loopback).
pub const RESOLVE: &str = "KUBECTL_DEDICATED_REGISTRY_RESOLVE";

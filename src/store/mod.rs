//! What the plugin keeps on the user's machine: the refresh token in the OS keyring
//! ([`keyring`]), the non-secret profiles in the settings file ([`profiles`]), and the
//! per-credential lock that serializes refresh-token rotation ([`lock`]).

pub mod keyring;
pub mod lock;
pub mod profiles;

pub use keyring::{CredKey, CredentialStore, NoKeyring, OsKeyring, SecretsError};
pub use lock::{ProfileLock, lock_credential};
pub use profiles::{
    ApiKeyRoute, ConfigFile, CredentialSource, DEFAULT_PROFILE, LoginMethod, PolicyApi, Profile,
    ProviderKind,
};

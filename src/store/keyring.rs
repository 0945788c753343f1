//! The credential store seam: the OS keyring in production, memory in unit tests.
//!
//! Only the UAA refresh token is stored, under service `kubectl-dedicated-registry` and an
//! account naming the profile and API endpoint. Passwords and API keys are never stored.

use secrecy::{ExposeSecret as _, SecretString};

use crate::env;

/// Keyring service name of every entry.
pub const SERVICE: &str = "kubectl-dedicated-registry";

/// Identifies one stored credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredKey {
    /// Keyring account: `<profile>@<api url>`.
    pub account: String,
}

impl CredKey {
    /// The key of a profile's refresh token.
    pub fn for_profile(profile: &str, api: &str) -> Self {
        CredKey {
            account: format!("{profile}@{api}"),
        }
    }
}

/// Keyring failures, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// No Secret Service (or other platform store) is reachable.
    #[error(
        "no OS keyring is available ({detail}); start a Secret Service such as gnome-keyring \
         (headless: `dbus-run-session -- sh -c 'echo <pw> | gnome-keyring-daemon --unlock; ...'`), \
         or for non-interactive use log in with `login --apikey-env` (the API key is then read from \
         {key_var} on every run and nothing is stored)",
        key_var = env::API_KEY
    )]
    Unavailable {
        /// The platform's message.
        detail: String,
    },
    /// The store exists but is locked or refused access.
    #[error(
        "the OS keyring refused access ({detail}); unlock your keyring (e.g. log in to the desktop \
         session or run `gnome-keyring-daemon --unlock`) and try again"
    )]
    Locked {
        /// The platform's message.
        detail: String,
    },
    /// Anything else the store reported.
    #[error(
        "the OS keyring failed: {detail}; check that your keyring is running and unlocked, or log in with `--apikey-env` for non-interactive use"
    )]
    Other {
        /// The platform's message.
        detail: String,
    },
}

impl From<keyring::Error> for SecretsError {
    fn from(e: keyring::Error) -> Self {
        let detail = e.to_string();
        match e {
            keyring::Error::NoDefaultStore | keyring::Error::PlatformFailure(_) => {
                // The real cause of NoDefaultStore is in store_status().
                let detail = match keyring::Entry::store_status() {
                    Err(inner) => inner.to_string(),
                    Ok(()) => detail,
                };
                SecretsError::Unavailable { detail }
            }
            keyring::Error::NoStorageAccess(_) => SecretsError::Locked { detail },
            _ => SecretsError::Other { detail },
        }
    }
}

/// A place to keep refresh tokens.
pub trait CredentialStore: Send + Sync {
    /// The stored secret; `Ok(None)` when there is none.
    fn get(&self, key: &CredKey) -> Result<Option<SecretString>, SecretsError>;
    /// Stores (or replaces) the secret.
    fn set(&self, key: &CredKey, secret: &SecretString) -> Result<(), SecretsError>;
    /// Deletes the secret; `Ok(false)` when there was none.
    fn delete(&self, key: &CredKey) -> Result<bool, SecretsError>;
}

/// The OS keyring: Secret Service on Linux, Keychain on macOS, Credential Manager on Windows.
pub struct OsKeyring;

impl OsKeyring {
    fn entry(key: &CredKey) -> Result<keyring::Entry, SecretsError> {
        Ok(keyring::Entry::new(SERVICE, &key.account)?)
    }
}

impl CredentialStore for OsKeyring {
    fn get(&self, key: &CredKey) -> Result<Option<SecretString>, SecretsError> {
        match Self::entry(key)?.get_password() {
            Ok(s) => Ok(Some(crate::redact::keep(s))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn set(&self, key: &CredKey, secret: &SecretString) -> Result<(), SecretsError> {
        Ok(Self::entry(key)?.set_password(secret.expose_secret())?)
    }

    fn delete(&self, key: &CredKey) -> Result<bool, SecretsError> {
        match Self::entry(key)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// No store at all: the in-cluster controller keeps nothing (a Pod has no keyring). A login
/// there comes from the profile's API key variable, read on every run; a credential the
/// platform rotates during the run lives in memory only.
pub struct NoKeyring;

impl CredentialStore for NoKeyring {
    fn get(&self, _key: &CredKey) -> Result<Option<SecretString>, SecretsError> {
        Ok(None)
    }

    fn set(&self, _key: &CredKey, _secret: &SecretString) -> Result<(), SecretsError> {
        Ok(())
    }

    fn delete(&self, _key: &CredKey) -> Result<bool, SecretsError> {
        Ok(false)
    }
}

/// An in-memory store for unit tests.
#[cfg(test)]
#[derive(Default)]
pub struct InMemory(std::sync::Mutex<std::collections::HashMap<CredKey, String>>);

#[cfg(test)]
impl CredentialStore for InMemory {
    fn get(&self, key: &CredKey) -> Result<Option<SecretString>, SecretsError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .get(key)
            .map(|s| SecretString::from(s.clone())))
    }
    fn set(&self, key: &CredKey, secret: &SecretString) -> Result<(), SecretsError> {
        self.0
            .lock()
            .unwrap()
            .insert(key.clone(), secret.expose_secret().to_string());
        Ok(())
    }
    fn delete(&self, key: &CredKey) -> Result<bool, SecretsError> {
        Ok(self.0.lock().unwrap().remove(key).is_some())
    }
}

/// Runs a blocking keyring call off the async runtime (the Secret Service client blocks on D-Bus).
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SecretsError> + Send + 'static,
) -> Result<T, SecretsError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(SecretsError::Other {
            detail: format!("keyring task failed: {e}"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_store_round_trip() {
        let store = InMemory::default();
        let key = CredKey::for_profile("default", "https://api.example");
        assert!(store.get(&key).unwrap().is_none());
        store.set(&key, &SecretString::from("rt")).unwrap();
        assert_eq!(store.get(&key).unwrap().unwrap().expose_secret(), "rt");
        assert!(store.delete(&key).unwrap());
        assert!(!store.delete(&key).unwrap());
    }

    #[test]
    fn key_names_profile_and_api() {
        assert_eq!(
            CredKey::for_profile("prod", "https://api.x").account,
            "prod@https://api.x"
        );
    }
}

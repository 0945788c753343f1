//! An exclusive lock per stored credential, held while a refresh token is used and replaced:
//! UAA may rotate refresh tokens, so concurrent runs must take turns, or all but the first would
//! present an already-rotated token and fail (or write an older token back).
//!
//! The lock is keyed on what the keyring entry is keyed on (the account `<profile>@<api>`), not
//! on the settings file, so two runs with different settings paths that share a keyring entry
//! still take turns. It lives in the user's runtime directory (else the cache directory), named
//! by a SHA-256 of the account.

use std::path::PathBuf;

use super::CredKey;

/// Failures taking the lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// No directory for lock files.
    #[error("cannot determine a directory for lock files: set XDG_RUNTIME_DIR or XDG_CACHE_HOME")]
    NoDirectory,
    /// The lock file cannot be created, opened or locked.
    #[error("cannot {action} `{path}`")]
    Io {
        /// What failed.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The blocking task failed.
    #[error("cannot take the credential lock; try again")]
    Task,
}

/// The lock; released when dropped.
pub struct ProfileLock(std::fs::File);

impl Drop for ProfileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Where the lock of `key` lives.
pub fn lock_path(key: &CredKey) -> Result<PathBuf, LockError> {
    let base = dirs::runtime_dir()
        .or_else(dirs::cache_dir)
        .ok_or(LockError::NoDirectory)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, key.account.as_bytes());
    let name: String = digest
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok(base
        .join("kubectl-dedicated-registry")
        .join("locks")
        .join(format!("{name}.lock")))
}

/// Takes the lock of the credential `key`, waiting for other holders.
pub async fn lock_credential(key: &CredKey) -> Result<ProfileLock, LockError> {
    let path = lock_path(key)?;
    tokio::task::spawn_blocking(move || -> Result<ProfileLock, LockError> {
        let io = |action, path: &PathBuf| {
            let path = path.clone();
            move |source| LockError::Io {
                action,
                path,
                source,
            }
        };
        let dir = path.parent().map(PathBuf::from).unwrap_or_default();
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("open lock file", &path))?;
        file.lock().map_err(io("lock", &path))?;
        Ok(ProfileLock(file))
    })
    .await
    .map_err(|_| LockError::Task)?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// See: issue 9, finding 6.
    #[test]
    fn the_lock_is_named_by_the_keyring_account() {
        let a = CredKey::for_profile("default", "https://api.x");
        let b = CredKey::for_profile("default", "https://api.y");
        let first = lock_path(&a).unwrap();
        assert_eq!(first, lock_path(&a.clone()).unwrap());
        assert_ne!(first, lock_path(&b).unwrap());
        let name = first.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(name.len(), 64 + ".lock".len(), "{name}");
        assert!(first.ends_with(format!("kubectl-dedicated-registry/locks/{name}")));
    }
}

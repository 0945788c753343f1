//! An exclusive per-profile lock, held while a profile's refresh token is used and replaced:
//! UAA may rotate refresh tokens, so concurrent runs must take turns, or all but the first would
//! present an already-rotated token and fail.

use std::path::PathBuf;

/// Failures taking the lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// No settings directory.
    #[error(transparent)]
    Config(#[from] super::profiles::ConfigError),
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
    #[error("cannot take the profile lock; try again")]
    Task,
}

/// The lock; released when dropped.
pub struct ProfileLock(std::fs::File);

impl Drop for ProfileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Takes the lock of `profile_name` (beside the settings file), waiting for other holders.
pub async fn lock_profile(profile_name: &str) -> Result<ProfileLock, LockError> {
    let config = super::profiles::path()?;
    let dir = config
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let path = dir.join(format!(".{profile_name}.lock"));
    tokio::task::spawn_blocking(move || -> Result<ProfileLock, LockError> {
        let io = |action, path: &PathBuf| {
            let path = path.clone();
            move |source| LockError::Io {
                action,
                path,
                source,
            }
        };
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

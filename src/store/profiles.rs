//! The non-secret settings file: one profile per environment login.
//!
//! Lives at `$XDG_CONFIG_HOME/kubectl-dedicated-registry/config.yaml` (or the path in
//! `KUBECTL_DEDICATED_REGISTRY_CONFIG`). It never holds a password, token or API key: those stay
//! in the OS keyring ([`super::keyring`]) or come from the environment.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::env;

/// Name of the profile used when none is given.
pub const DEFAULT_PROFILE: &str = "default";

/// How a profile's credential is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialSource {
    /// A UAA refresh token in the OS keyring.
    Keyring,
    /// A platform API key in an environment variable (`--apikey-env`), read on every run;
    /// nothing stored.
    Environment,
}

/// How the user logged in (shown by `status`; decides what `login` asks for again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoginMethod {
    /// UAA password grant.
    Password,
    /// SSO one-time passcode.
    Sso,
    /// Platform API key (`username=apikey`).
    ApiKey,
}

/// Which registry platform a profile logs in to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// IBM Cloud (Bluemix) Dedicated; profiles written before providers existed are these.
    #[default]
    Dedicated,
}

/// One saved login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Profile {
    /// The platform (absent in settings files of older versions: Dedicated).
    #[serde(default)]
    pub provider: ProviderKind,
    /// Cloud Controller URL, e.g. `https://api.<domain>`.
    pub api: String,
    /// Discovered login server URL (`authorization_endpoint`, may carry a path).
    pub authorization_endpoint: String,
    /// Discovered UAA URL (`token_endpoint`).
    pub token_endpoint: String,
    /// The UAA user name (not secret; shown by `status`).
    pub username: String,
    /// How the user logged in.
    pub login_method: LoginMethod,
    /// Where the credential comes from.
    pub credential: CredentialSource,
    /// Org name.
    pub org: String,
    /// Org GUID, sent as the registry's `Organization` header.
    pub org_guid: String,
    /// Registry `host[:port]`, the key of the pull secret's `auths`.
    pub registry: String,
    /// Extra CA bundle to trust for the environment's endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// TLS verification disabled (`--insecure-skip-tls-verify`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_tls_verify: bool,
    /// IAM URL for API keys (`--iam-url`), when not IBM Cloud's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam_url: Option<String>,
    /// The route that worked for the API key (an environment profile uses it on every run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_route: Option<ApiKeyRoute>,
    /// The environment variable holding the API key of an environment profile
    /// (`--apikey-env NAME`); absent in profiles of older versions (`IBMCLOUD_API_KEY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Whether the registry's token list and revoke want the `Organization` header
    /// (`true`/absent) or refuse it (`false`), as learnt from the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_header_on_manage: Option<bool>,
}

/// How an API key became UAA tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApiKeyRoute {
    /// The UAA's `username=apikey` password grant.
    Uaa,
    /// IBM Cloud IAM (`/identity/token`), then its UAA tokens or the exchange at the UAA.
    Iam,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ConfigFile {
    /// The profile used when neither `--profile` nor its variable names one (`profile use`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_profile: Option<String>,
    /// Profiles by name.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// The profile a command uses when neither `--profile` nor its variable names one: the one
/// `profile use` chose, else `default`. An unreadable settings file counts as no choice (the
/// command that loads it reports why).
pub fn current_name() -> String {
    path()
        .ok()
        .and_then(|path| ConfigFile::load(&path).ok())
        .and_then(|file| file.current_profile)
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string())
}

/// Errors reading or writing the settings file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read config file `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error(
        "config file `{path}` is not valid ({message}); fix or delete it and run `kubectl dedicated-registry login` again"
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The file cannot be written.
    #[error("cannot write config file `{path}`")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No config directory could be determined.
    #[error(
        "cannot determine a config directory: set XDG_CONFIG_HOME or {}",
        env::CONFIG
    )]
    NoDirectory,
}

/// Where the settings file lives.
pub fn path() -> Result<PathBuf, ConfigError> {
    if let Some(p) = std::env::var_os(env::CONFIG).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let dir = dirs::config_dir().ok_or(ConfigError::NoDirectory)?;
    Ok(dir.join("kubectl-dedicated-registry").join("config.yaml"))
}

impl ConfigFile {
    /// Reads the file; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        if text.trim().is_empty() {
            return Ok(ConfigFile::default());
        }
        serde_saphyr::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().lines().next().unwrap_or_default().to_string(),
        })
    }

    /// Writes the file atomically, readable by the owner only: a new temporary file, created
    /// exclusively with a random name in the same directory (never a leftover or planted one),
    /// then renamed over the old file.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let write_err = |source| ConfigError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(write_err)?;
        let text = serde_saphyr::to_string(self)
            .map_err(|e| write_err(std::io::Error::other(e.to_string())))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config");
        // tempfile creates the file with O_EXCL and mode 0600.
        let mut file = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(write_err)?;
        file.write_all(
            format!("# kubectl-dedicated-registry settings. No secrets are stored here.\n{text}")
                .as_bytes(),
        )
        .and_then(|_| file.as_file().sync_all())
        .map_err(write_err)?;
        file.persist(path).map_err(|e| write_err(e.error))?;
        Ok(())
    }

    /// Changes one part of the file under an exclusive lock: the file is read again just before
    /// the change and written right after, so concurrent `login`/`logout` runs for different
    /// profiles never lose each other's profile.
    pub fn update<T>(
        path: &Path,
        change: impl FnOnce(&mut ConfigFile) -> T,
    ) -> Result<T, ConfigError> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let lock_path = dir.join(format!(
            ".{}.lock",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("config")
        ));
        let write_err = |source| ConfigError::Write {
            path: lock_path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(write_err)?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(write_err)?;
        lock.lock().map_err(write_err)?;
        let mut file = ConfigFile::load(path)?;
        let result = change(&mut file);
        file.save(path)?;
        drop(lock);
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile {
            provider: ProviderKind::Dedicated,
            api: "https://api.example".into(),
            authorization_endpoint: "https://login.example/UAALoginServerWAR".into(),
            token_endpoint: "https://uaa.example".into(),
            username: "alice".into(),
            login_method: LoginMethod::Password,
            credential: CredentialSource::Keyring,
            org: "dev".into(),
            org_guid: "guid".into(),
            registry: "registry.example".into(),
            ca_file: None,
            insecure_skip_tls_verify: false,
            iam_url: None,
            api_key_route: None,
            api_key_env: None,
            org_header_on_manage: None,
        }
    }

    #[test]
    fn round_trips_and_tolerates_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.yaml");
        assert_eq!(ConfigFile::load(&path).unwrap(), ConfigFile::default());
        let mut cfg = ConfigFile::default();
        cfg.profiles.insert("default".into(), profile());
        cfg.save(&path).unwrap();
        assert_eq!(ConfigFile::load(&path).unwrap(), cfg);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn invalid_file_gives_actionable_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, "profiles: [not, a, map]\n").unwrap();
        let err = ConfigFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("is not valid"), "{err}");
        assert!(err.contains("login"), "{err}");
    }

    /// See: issue 9, finding 8.
    #[cfg(unix)]
    #[test]
    fn save_never_follows_a_planted_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        // The name the old implementation used, planted as a symlink to another file.
        let planted = dir
            .path()
            .join(format!(".config.yaml.tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let mut cfg = ConfigFile::default();
        cfg.profiles.insert("default".into(), profile());
        cfg.save(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert_eq!(ConfigFile::load(&path).unwrap(), cfg);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    /// See: issue 9, finding 7.
    #[test]
    fn concurrent_updates_of_different_profiles_keep_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for round in 0..10 {
                        ConfigFile::update(&path, |file| {
                            let mut p = profile();
                            p.org = format!("org-{round}");
                            file.profiles.insert(format!("p{i}"), p);
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let file = ConfigFile::load(&path).unwrap();
        assert_eq!(file.profiles.len(), 8, "{:?}", file.profiles.keys());
    }
}

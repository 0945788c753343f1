//! Turning a saved profile into a fresh UAA access token.
//!
//! With a keyring profile, the stored refresh token is exchanged (and the rotated one written
//! back, so the next run still works). With an environment profile, the API key in
//! `IBMCLOUD_API_KEY` is exchanged on every run and nothing is stored.

use anyhow::Context as _;
use secrecy::{ExposeSecret as _, SecretString};

use crate::config::{CredentialSource, Profile};
use crate::secrets::{self, CredKey, CredentialStore};
use crate::uaa::{self, Endpoints, Grant};
use crate::{env, http};

/// The API key from the environment, if set and non-empty.
pub fn api_key_from_env() -> Option<SecretString> {
    [env::API_KEY, env::API_KEY_LEGACY]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
        .map(crate::redact::keep)
}

/// An HTTPS client for the profile's endpoints.
pub fn http_client(profile: &Profile) -> anyhow::Result<reqwest::Client> {
    Ok(http::client(
        profile.ca_file.as_deref(),
        profile.insecure_skip_tls_verify,
    )?)
}

/// A fresh access token for `profile`.
pub async fn access_token(
    store: std::sync::Arc<dyn CredentialStore>,
    profile_name: &str,
    profile: &Profile,
    client: &reqwest::Client,
) -> anyhow::Result<SecretString> {
    let endpoints = Endpoints {
        authorization_endpoint: profile.authorization_endpoint.clone(),
        token_endpoint: profile.token_endpoint.clone(),
    };
    match profile.credential {
        CredentialSource::Environment => {
            let key = api_key_from_env().with_context(|| {
                format!(
                    "profile `{profile_name}` authenticates with an API key from {}, which is not set; export it or run `kubectl dedicated-registry login` again",
                    env::API_KEY
                )
            })?;
            let tokens = uaa::token(client, &endpoints, &profile.api, &Grant::ApiKey(key)).await?;
            Ok(tokens.access_token)
        }
        CredentialSource::Keyring => {
            // UAA may rotate refresh tokens: concurrent runs must take turns, or all but the
            // first would present an already-rotated token and fail.
            let _lock = lock_profile(profile_name).await?;
            let key = CredKey::for_profile(profile_name, &profile.api);
            let lookup_store = store.clone();
            let lookup_key = key.clone();
            let refresh = secrets::blocking(move || lookup_store.get(&lookup_key))
                .await?
                .with_context(|| {
                    format!(
                        "no stored login for profile `{profile_name}` in the OS keyring; run `kubectl dedicated-registry login --api {}`",
                        profile.api
                    )
                })?;
            // The rotation and its write-back are one unit: Ctrl-C between them would leave a
            // dead refresh token in the keyring.
            let _window = crate::interrupt::Window::open();
            let tokens = uaa::token(
                client,
                &endpoints,
                &profile.api,
                &Grant::Refresh(refresh.clone()),
            )
            .await?;
            if let Some(rotated) = tokens.refresh_token
                && rotated.expose_secret() != refresh.expose_secret()
            {
                secrets::blocking(move || store.set(&key, &rotated))
                    .await
                    .context("the login was refreshed but the new refresh token could not be stored; run `kubectl dedicated-registry login` again")?;
            }
            Ok(tokens.access_token)
        }
    }
}

/// An exclusive lock on the profile, held while its refresh token is used and replaced.
pub(crate) struct ProfileLock(std::fs::File);

impl Drop for ProfileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

pub(crate) async fn lock_profile(profile_name: &str) -> anyhow::Result<ProfileLock> {
    let config = crate::config::path()?;
    let dir = config
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let path = dir.join(format!(".{profile_name}.lock"));
    tokio::task::spawn_blocking(move || -> anyhow::Result<ProfileLock> {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open lock file `{}`", path.display()))?;
        file.lock()
            .with_context(|| format!("cannot lock `{}`", path.display()))?;
        Ok(ProfileLock(file))
    })
    .await
    .context("cannot take the profile lock; try again")?
}

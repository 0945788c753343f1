//! A [`Session`] is a saved profile in use: its settings, its credential store and one HTTPS
//! client for the environment. It hands out a fresh UAA access token (refreshed once per run)
//! and runs registry API calls with it, refreshing the login once when the registry refuses the
//! access token, as IBM's clients do (protocol.md §2.4). That retry exists only here.
//!
//! With a keyring profile, the stored refresh token is exchanged (and the rotated one written
//! back under the profile lock, so the next run still works). With an environment profile, the
//! API key in `IBMCLOUD_API_KEY` is exchanged on every run and nothing is stored.

// Errors carry the failing party's details so messages are actionable; they are created once
// per failed command, so their size does not matter.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use secrecy::{ExposeSecret as _, SecretString};

use crate::cancel::Cancel;
use crate::providers::dedicated::cf::{self, Endpoints, Grant};
use crate::providers::dedicated::{OrgHeader, RegistryApi};
use crate::registry::RegistryError;
use crate::store::{self, ApiKeyRoute, CredKey, CredentialSource, CredentialStore, Profile};
use crate::{env, http};

/// Failures getting an access token or calling the registry with it.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The environment profile's API key is not set.
    #[error(
        "profile `{profile}` authenticates with an API key from {var}, which is not set; export it or run `kubectl dedicated-registry login` again"
    )]
    NoApiKey {
        /// The profile.
        profile: String,
        /// The variable.
        var: String,
    },
    /// The keyring holds no refresh token for the profile.
    #[error(
        "no stored login for profile `{profile}` in the OS keyring; run `kubectl dedicated-registry login --api {api}`"
    )]
    NoStoredLogin {
        /// The profile.
        profile: String,
        /// Its API endpoint.
        api: String,
    },
    /// The rotated refresh token could not be written back.
    #[error(
        "the login was refreshed but the new refresh token could not be stored; run `kubectl dedicated-registry login` again"
    )]
    WriteBack(#[source] store::SecretsError),
    /// The keyring failed.
    #[error(transparent)]
    Keyring(#[from] store::SecretsError),
    /// A signal arrived while the login was refreshed (the rotated token was kept).
    #[error("{0}; the login was refreshed and kept, nothing else was done")]
    Interrupted(String),
    /// The profile lock failed.
    #[error(transparent)]
    Lock(#[from] store::lock::LockError),
    /// The HTTPS client could not be built from the profile's TLS settings.
    #[error(
        "the `ca-file` of profile `{profile}` cannot be used (it was given at login); log in again with --ca-file <pem>"
    )]
    ProfileCa {
        /// The profile.
        profile: String,
        /// What failed.
        source: http::ClientError,
    },
    /// UAA refused or failed.
    #[error(transparent)]
    Auth(#[from] cf::AuthError),
    /// The registry refused or failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl SessionError {
    /// The registry's error, if that is what failed.
    pub fn registry(&self) -> Option<&RegistryError> {
        match self {
            SessionError::Registry(e) => Some(e),
            _ => None,
        }
    }
}

/// The API key in IBM's conventional variables (`IBMCLOUD_API_KEY`, `BLUEMIX_API_KEY`), if
/// set and non-empty.
pub fn api_key_from_env() -> Option<SecretString> {
    [env::API_KEY, env::API_KEY_LEGACY]
        .iter()
        .find_map(|name| api_key_from_var(name))
}

/// The API key in the variable `name`, if set and non-empty.
pub fn api_key_from_var(name: &str) -> Option<SecretString> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .map(crate::redact::keep)
}

/// A profile in use.
pub struct Session {
    name: String,
    profile: Profile,
    store: Arc<dyn CredentialStore>,
    http: reqwest::Client,
    access: Option<SecretString>,
    org_header: OrgHeader,
    cancel: Cancel,
    /// Held by a refresh running in the background ([`Session::settled`]).
    in_flight: Arc<tokio::sync::Mutex<()>>,
}

impl Session {
    /// Opens the profile `name`: builds its HTTPS client (CA file, TLS settings). Nothing is
    /// sent yet. `cancel` stops the work between two steps (never inside a refresh and its
    /// write-back).
    pub fn new(
        name: &str,
        profile: Profile,
        store: Arc<dyn CredentialStore>,
        cancel: Cancel,
    ) -> Result<Self, SessionError> {
        let http = http::client(profile.ca_file.as_deref(), profile.insecure_skip_tls_verify)
            .map_err(|source| SessionError::ProfileCa {
                profile: name.to_string(),
                source,
            })?;
        let org_header = OrgHeader::new(profile.org_header_on_manage);
        Ok(Session {
            name: name.to_string(),
            profile,
            store,
            http,
            access: None,
            org_header,
            cancel,
            in_flight: Arc::default(),
        })
    }

    /// The profile's settings.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The profile's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The HTTPS client for the environment's endpoints.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The cancellation token the work of this session obeys.
    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// A fresh access token: refreshed on first use, then reused for the run.
    pub async fn access_token(&mut self) -> Result<SecretString, SessionError> {
        if let Some(token) = &self.access {
            return Ok(token.clone());
        }
        crate::trace::log(1, format!("Refreshing the login for {}", self.profile.api));
        let token = self.refresh().await?;
        if self.cancel.is_cancelled() {
            return Err(SessionError::Interrupted(self.cancel.message()));
        }
        self.access = Some(token.clone());
        Ok(token)
    }

    /// Runs `call` against the profile's registry with the access token; when the registry
    /// refuses the token (401), refreshes the login once and runs it again. Not retried
    /// otherwise: for requests that must not be repeated (minting).
    pub async fn registry<T, F, Fut>(&mut self, call: F) -> Result<T, SessionError>
    where
        F: Fn(RegistryApi) -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        self.registry_with(call, false).await
    }

    /// Like [`Self::registry`], for idempotent requests (list, revoke): a transient failure
    /// (transport, 5xx, 429) is also retried, twice, with exponential backoff.
    pub async fn registry_idempotent<T, F, Fut>(&mut self, call: F) -> Result<T, SessionError>
    where
        F: Fn(RegistryApi) -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        self.registry_with(call, true).await
    }

    async fn registry_with<T, F, Fut>(&mut self, call: F, retry: bool) -> Result<T, SessionError>
    where
        F: Fn(RegistryApi) -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        use backon::Retryable as _;
        let backoff = backon::ExponentialBuilder::default()
            .with_min_delay(std::time::Duration::from_millis(200))
            .with_max_times(if retry { 2 } else { 0 });
        let mut refreshed = false;
        loop {
            let access = self.access_token().await?;
            let api = RegistryApi::new(
                self.http.clone(),
                &self.profile.registry,
                access,
                &self.profile.org_guid,
            )
            .with_manage_header(self.org_header.clone());
            let result = (|| call(api.clone()))
                .retry(backoff)
                .when(RegistryError::is_transient)
                .notify(|e, after| {
                    crate::trace::log(1, format!("{e}; trying again in {after:?}"));
                })
                .await;
            self.remember_org_header();
            match result {
                Err(e) if e.is_unauthorized() && !refreshed => {
                    crate::trace::log(
                        1,
                        "The registry refused the access token; refreshing the login",
                    );
                    self.access = None;
                    refreshed = true;
                }
                result => return Ok(result?),
            }
        }
    }

    /// Keeps the form of the `Organization` header the registry's list and revoke accepted
    /// after a fallback, in the profile, so the next run starts with it (best effort).
    fn remember_org_header(&mut self) {
        let learnt = self.org_header.learnt();
        if learnt.is_none() || learnt == self.profile.org_header_on_manage {
            return;
        }
        self.profile.org_header_on_manage = learnt;
        let name = self.name.clone();
        let saved = store::profiles::path().and_then(|path| {
            store::ConfigFile::update(&path, |file| {
                if let Some(profile) = file.profiles.get_mut(&name) {
                    profile.org_header_on_manage = learnt;
                }
            })
        });
        if let Err(e) = saved {
            crate::trace::log(
                1,
                format!("The Organization header form was not remembered: {e}"),
            );
        }
    }

    /// Exchanges the profile's credential for a new access token.
    async fn refresh(&self) -> Result<SecretString, SessionError> {
        let endpoints = Endpoints {
            authorization_endpoint: self.profile.authorization_endpoint.clone(),
            token_endpoint: self.profile.token_endpoint.clone(),
        };
        let api = &self.profile.api;
        match self.profile.credential {
            CredentialSource::Environment => {
                // Profiles of older versions name no variable: IBM's conventional ones.
                let (key, var) = match &self.profile.api_key_env {
                    Some(var) => (api_key_from_var(var), var.clone()),
                    None => (api_key_from_env(), env::API_KEY.to_string()),
                };
                let key = key.ok_or_else(|| SessionError::NoApiKey {
                    profile: self.name.clone(),
                    var,
                })?;
                let auth = match self.profile.api_key_route {
                    Some(ApiKeyRoute::Uaa) => cf::iam::Auth::Uaa,
                    Some(ApiKeyRoute::Iam) => cf::iam::Auth::Iam,
                    None => cf::iam::Auth::Auto,
                };
                let iam_url = self
                    .profile
                    .iam_url
                    .as_deref()
                    .unwrap_or(cf::iam::DEFAULT_IAM_URL);
                let (tokens, _) =
                    cf::iam::api_key_login(&self.http, &endpoints, api, &key, auth, iam_url)
                        .await?;
                Ok(tokens.access_token)
            }
            CredentialSource::Keyring => self.refresh_stored(&endpoints).await,
        }
    }

    /// The refresh grant with the stored refresh token, under the profile lock; a rotated
    /// refresh token is written back before the lock is released.
    ///
    /// The exchange and its write-back run as a task of their own: a caller that stops waiting
    /// (completion's short timeout) does not cancel them, and [`Session::settled`] waits for
    /// them before the process exits. Otherwise the UAA would have rotated the refresh token
    /// and the rotated one would never be stored: a logout by TAB (issue 24, N4).
    async fn refresh_stored(&self, endpoints: &Endpoints) -> Result<SecretString, SessionError> {
        let unit = StoredRefresh {
            name: self.name.clone(),
            api: self.profile.api.clone(),
            store: self.store.clone(),
            http: self.http.clone(),
            endpoints: endpoints.clone(),
            cancel: self.cancel.clone(),
        };
        let in_flight = self.in_flight.clone().lock_owned().await;
        let task = tokio::spawn(async move {
            let _in_flight = in_flight;
            unit.run().await
        });
        match task.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(SessionError::Interrupted(
                "the run was shut down".to_string(),
            )),
        }
    }

    /// A handle that waits for a refresh of this session still running in the background
    /// (see [`Session::refresh_stored`]); usable after the session is dropped.
    pub fn settled(&self) -> Settled {
        Settled(self.in_flight.clone())
    }
}

/// Waits for a session's background refresh, if one runs: [`Settled::wait`].
#[derive(Clone)]
pub struct Settled(Arc<tokio::sync::Mutex<()>>);

impl Settled {
    /// Returns once no refresh of the session is in flight.
    pub async fn wait(&self) {
        drop(self.0.lock().await);
    }
}

/// One refresh of a keyring login: everything it needs, owned, so it can run as a task.
struct StoredRefresh {
    name: String,
    api: String,
    store: Arc<dyn CredentialStore>,
    http: reqwest::Client,
    endpoints: Endpoints,
    cancel: Cancel,
}

impl StoredRefresh {
    async fn run(self) -> Result<SecretString, SessionError> {
        let key = CredKey::for_profile(&self.name, &self.api);
        let _lock = store::lock_credential(&key).await?;
        let lookup_store = self.store.clone();
        let lookup_key = key.clone();
        let refresh = store::keyring::blocking(move || lookup_store.get(&lookup_key))
            .await?
            .ok_or_else(|| SessionError::NoStoredLogin {
                profile: self.name.clone(),
                api: self.api.clone(),
            })?;
        // The rotation and its write-back are one unit: Ctrl-C between them would leave a
        // dead refresh token in the keyring.
        let _window = self
            .cancel
            .window_for("finishing the login refresh so the new refresh token is stored");
        let tokens = cf::token(
            &self.http,
            &self.endpoints,
            &self.api,
            &Grant::Refresh(refresh.clone()),
        )
        .await?;
        if let Some(rotated) = tokens.refresh_token
            && rotated.expose_secret() != refresh.expose_secret()
        {
            let store = self.store.clone();
            store::keyring::blocking(move || store.set(&key, &rotated))
                .await
                .map_err(SessionError::WriteBack)?;
        }
        Ok(tokens.access_token)
    }
}

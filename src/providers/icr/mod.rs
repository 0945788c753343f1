//! Today's IBM Cloud Container Registry (`icr.io`, icr-protocol.md): an IAM login with an API
//! key ([`iam`]), and pull credentials that are API keys of one service ID per cluster
//! ([`identity`]) holding a Reader (or Writer) policy on `container-registry` ([`policy`]),
//! used with the username [`USERNAME`]. [`IcrSession`] is the provider.

// As in the Dedicated session: errors carry IAM's details, once per failed command.
#![allow(clippy::result_large_err)]

pub mod iam;
pub mod identity;
pub mod policy;

use std::sync::Arc;

use secrecy::SecretString;

use self::iam::{Call, IamError, IamTokens};
use self::identity::{Identity, ServiceId};
use self::policy::Policies;
use super::{BoxFuture, ErrorKind, Kind, Provider, ProviderError};
use crate::cancel::Cancel;
use crate::registry::{self, Access, MintedToken, Ownership, TokenEntry};
use crate::store::{self, CredKey, CredentialSource, CredentialStore, Profile};
use crate::{env, http};

/// The registry user name of IAM API keys.
pub const USERNAME: &str = "iamapikey";

/// The public icr.io domains and their IAM regions (icr-protocol.md §5); each also has a
/// `private.` form in the same region.
pub const DOMAINS: &[(&str, &str)] = &[
    ("icr.io", "global"),
    ("au.icr.io", "au-syd"),
    ("br.icr.io", "br-sao"),
    ("ca2.icr.io", "ca-mon"),
    ("ca.icr.io", "ca-tor"),
    ("de.icr.io", "eu-de"),
    ("es.icr.io", "eu-es"),
    ("uk.icr.io", "eu-gb"),
    ("in.icr.io", "in-che"),
    ("in2.icr.io", "in-mum"),
    ("jp2.icr.io", "jp-osa"),
    ("jp.icr.io", "jp-tok"),
    ("us.icr.io", "us-south"),
];

/// The IAM region of an icr.io registry `host[:port]` (`private.us.icr.io` → `us-south`);
/// `None` for anything else.
pub fn region_of(registry: &str) -> Option<&'static str> {
    let host = match registry.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => registry,
    }
    .to_ascii_lowercase();
    let public = host.strip_prefix("private.").unwrap_or(&host);
    DOMAINS.iter().find(|(d, _)| *d == public).map(|(_, r)| *r)
}

/// Whether `id` has the shape of an IAM API key id: `ApiKey-<uuid>`.
pub fn is_api_key_id(id: &str) -> bool {
    id.strip_prefix("ApiKey-")
        .is_some_and(registry::is_token_id)
}

/// The name of the service ID of `cluster`'s pull credentials with `access` (found again by
/// it and [`service_id_description`]).
pub fn service_id_name(cluster: &str, access: Access) -> String {
    match access {
        Access::ReadOnly => format!("{} {cluster}", registry::DESCRIPTION_PREFIX),
        Access::ReadWrite => format!("{} {cluster} (read-write)", registry::DESCRIPTION_PREFIX),
    }
}

/// The description of that service ID.
pub fn service_id_description(cluster: &str, access: Access) -> String {
    format!(
        "Image pull secrets of Kubernetes cluster {cluster} ({}), managed by {}",
        access.as_str(),
        registry::DESCRIPTION_PREFIX
    )
}

/// The access of a service ID this plugin made, from its description.
fn access_of(service: &ServiceId) -> Option<Access> {
    let managed = format!("managed by {}", registry::DESCRIPTION_PREFIX);
    if !service.description.ends_with(&managed)
        || !service.name.starts_with(registry::DESCRIPTION_PREFIX)
    {
        return None;
    }
    if service.description.contains("(read-write)") {
        Some(Access::ReadWrite)
    } else {
        Some(Access::ReadOnly)
    }
}

/// Failures of the icr.io provider.
#[derive(Debug, thiserror::Error)]
pub enum IcrError {
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
    /// The keyring holds no API key for the profile.
    #[error(
        "no stored login for profile `{profile}` in the OS keyring; run `kubectl dedicated-registry --profile {profile} login --registry {registry} --apikey-stdin`"
    )]
    NoStoredLogin {
        /// The profile.
        profile: String,
        /// Its registry.
        registry: String,
    },
    /// The keyring failed.
    #[error(transparent)]
    Keyring(#[from] store::SecretsError),
    /// The HTTPS client could not be built.
    #[error("the TLS settings of profile `{profile}` cannot be used; log in again")]
    ProfileCa {
        /// The profile.
        profile: String,
        /// What failed.
        source: http::ClientError,
    },
    /// The token names no account, or another one than the profile's.
    #[error("{0}; run `kubectl dedicated-registry login` again")]
    Account(String),
    /// Neither registry namespaces nor account-wide access were chosen.
    #[error(
        "profile `{0}` names no registry namespace for the pull policy; log in again with --registry-namespace <ns> (or --account-wide)"
    )]
    NoScope(String),
    /// IAM refused or failed.
    #[error(transparent)]
    Iam(#[from] IamError),
}

impl From<IcrError> for ProviderError {
    fn from(error: IcrError) -> Self {
        let kind = match &error {
            IcrError::Iam(IamError::Remote(remote)) if !remote.never_sent() => ErrorKind::Transport,
            // IAM failed on its side, perhaps after it created the key.
            IcrError::Iam(e) if e.status().is_some_and(|s| s >= 500) => ErrorKind::Transport,
            IcrError::Iam(e) if e.status() == Some(404) => ErrorKind::NotFound,
            IcrError::NoApiKey { .. } | IcrError::NoStoredLogin { .. } => ErrorKind::NoLogin,
            _ => ErrorKind::Other,
        };
        ProviderError {
            kind,
            source: Box::new(error),
        }
    }
}

/// An icr.io profile in use.
pub struct IcrSession {
    name: String,
    profile: Profile,
    store: Arc<dyn CredentialStore>,
    http: reqwest::Client,
    cancel: Cancel,
    tokens: Option<IamTokens>,
    account: String,
}

/// How many times the verification of a new API key is repeated when the registry refuses
/// it (policy propagation), with a backoff of 0.5, 1, 2, 2, 2, 2 s (9.5 s in all).
const FRESH_KEY_RETRIES: u32 = 6;

/// Seconds before expiry at which an access token is renewed.
const RENEW_BEFORE: i64 = 60;

/// Runs an idempotent IAM call, again after a transient failure (at most 3 tries).
async fn retried<T, F>(mut call: impl FnMut() -> F) -> Result<T, IamError>
where
    F: std::future::Future<Output = Result<T, IamError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if e.is_transient() && attempt < 3 => {
                crate::trace::log(1, format!("{e}; trying again"));
                tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                attempt += 1;
            }
            outcome => return outcome,
        }
    }
}

impl IcrSession {
    /// Opens the profile `name` (nothing is sent yet).
    pub fn new(
        name: &str,
        profile: Profile,
        store: Arc<dyn CredentialStore>,
        cancel: Cancel,
    ) -> Result<Self, IcrError> {
        let http = http::client(profile.ca_file.as_deref(), profile.insecure_skip_tls_verify)
            .map_err(|source| IcrError::ProfileCa {
                profile: name.to_string(),
                source,
            })?;
        Ok(IcrSession {
            name: name.to_string(),
            account: profile.org_guid.clone(),
            profile,
            store,
            http,
            cancel,
            tokens: None,
        })
    }

    fn iam_url(&self) -> &str {
        self.profile
            .iam_url
            .as_deref()
            .unwrap_or(iam::DEFAULT_IAM_URL)
    }

    /// The profile's API key: from the keyring, or from its variable.
    async fn api_key(&self) -> Result<SecretString, IcrError> {
        if self.profile.credential == CredentialSource::Environment {
            let var = self
                .profile
                .api_key_env
                .clone()
                .unwrap_or_else(|| env::API_KEY.to_string());
            return std::env::var(&var)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .map(crate::redact::keep)
                .ok_or(IcrError::NoApiKey {
                    profile: self.name.clone(),
                    var,
                });
        }
        let key = CredKey::for_profile(&self.name, &self.profile.api);
        let store = self.store.clone();
        store::keyring::blocking(move || store.get(&key))
            .await?
            .ok_or_else(|| IcrError::NoStoredLogin {
                profile: self.name.clone(),
                registry: self.profile.registry.clone(),
            })
    }

    /// A fresh IAM access token: the API-key grant on first use; near its expiry the refresh
    /// grant (client `bx`, as the first grant), the API key again if IAM refuses the refresh.
    pub async fn access_token(&mut self) -> Result<SecretString, IcrError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        if let Some(tokens) = &self.tokens {
            match tokens.expiration {
                Some(exp) if exp - RENEW_BEFORE <= now => {}
                _ => return Ok(tokens.access.clone()),
            }
        }
        let refreshed = match self.tokens.as_ref().and_then(|t| t.refresh.clone()) {
            Some(refresh) => iam::refresh_grant(&self.http, self.iam_url(), &refresh)
                .await
                .inspect_err(|e| {
                    crate::trace::log(
                        1,
                        format!("the IAM refresh failed ({e}); using the API key"),
                    );
                })
                .ok(),
            None => None,
        };
        let tokens = match refreshed {
            Some(t) => t,
            None => {
                let key = self.api_key().await?;
                iam::api_key_grant(&self.http, self.iam_url(), &key).await?
            }
        };
        let (account, _) = iam::token_identity(&tokens.access);
        match account {
            None => {
                return Err(IcrError::Account(
                    "the IAM access token names no account (`account.bss`)".into(),
                ));
            }
            Some(a) if !self.account.is_empty() && a != self.account => {
                return Err(IcrError::Account(format!(
                    "the API key is of account {a}, not of the profile's account {}",
                    self.account
                )));
            }
            Some(a) => self.account = a,
        }
        let access = tokens.access.clone();
        self.tokens = Some(tokens);
        Ok(access)
    }

    /// The Identity API with `access`.
    fn api<'s>(&'s self, access: &'s SecretString) -> Identity<'s> {
        Identity {
            call: Call {
                http: &self.http,
                access,
            },
            iam_url: self.iam_url(),
            account: &self.account,
        }
    }

    /// The service ID of `cluster` with `access`: the one found by name and description, else
    /// a new one.
    async fn service_id(&mut self, cluster: &str, access: Access) -> Result<ServiceId, IcrError> {
        let name = service_id_name(cluster, access);
        let description = service_id_description(cluster, access);
        let access_token = self.access_token().await?;
        let api = self.api(&access_token);
        let found = retried(|| api.service_ids(Some(&name))).await?;
        if let Some(s) = found.into_iter().find(|s| s.description == description) {
            crate::trace::log(1, format!("Using service ID {} ({name})", s.id));
            return Ok(s);
        }
        let created = api.create_service_id(&name, &description).await?;
        crate::trace::note(format!("serviceid/{} created ({name})", created.id));
        Ok(created)
    }

    /// The resource attributes of the pull policies: one set per registry namespace (in the
    /// registry's region), or one account-wide.
    fn scopes(&self) -> Result<Vec<Vec<(&str, &str)>>, IcrError> {
        if self.profile.account_wide {
            return Ok(vec![Vec::new()]);
        }
        if self.profile.registry_namespaces.is_empty() {
            return Err(IcrError::NoScope(self.name.clone()));
        }
        let region = region_of(&self.profile.registry);
        Ok(self
            .profile
            .registry_namespaces
            .iter()
            .map(|ns| {
                let mut attrs = Vec::new();
                if let Some(region) = region {
                    attrs.push(("region", region));
                }
                attrs.push(("resourceType", "namespace"));
                attrs.push(("resource", ns.as_str()));
                attrs
            })
            .collect())
    }

    /// Makes sure the service ID holds the role of `access` on every scope.
    async fn policies(&mut self, service: &ServiceId, access: Access) -> Result<(), IcrError> {
        let role = policy::role_id(match access {
            Access::ReadOnly => "Reader",
            Access::ReadWrite => "Writer",
        });
        let access_token = self.access_token().await?;
        let scopes = self.scopes()?;
        let api = Policies {
            call: Call {
                http: &self.http,
                access: &access_token,
            },
            iam_url: self.iam_url(),
            account: &self.account,
            api: self.profile.policy_api.unwrap_or_default(),
        };
        let description = format!("{} ({})", service.name, access.as_str());
        for extra in scopes {
            if api
                .ensure(&service.iam_id, &role, &extra, &description)
                .await?
            {
                let on = extra
                    .iter()
                    .find(|(k, _)| *k == "resource")
                    .map_or("the account", |(_, v)| *v);
                crate::trace::note(format!(
                    "policy created: {} on {on} for serviceid/{}",
                    role.rsplit(':').next().unwrap_or(&role),
                    service.id
                ));
            }
        }
        Ok(())
    }

    /// Mints an API key of the cluster's service ID, after making sure of its policies.
    pub async fn mint_key(
        &mut self,
        access: Access,
        description: &str,
    ) -> Result<MintedToken, IcrError> {
        let cluster = registry::parse_description(description)
            .map(|d| d.cluster)
            .unwrap_or_else(|| registry::described_cluster(None).to_string());
        let service = self.service_id(&cluster, access).await?;
        self.policies(&service, access).await?;
        let access_token = self.access_token().await?;
        let api = self.api(&access_token);
        let (key, value) = api
            .create_api_key(&service.iam_id, description, description)
            .await?;
        Ok(MintedToken {
            token: value,
            id: key.id,
            username: USERNAME,
        })
    }

    /// The API keys of the plugin's service IDs, every page of both lists.
    pub async fn keys(&mut self) -> Result<Vec<TokenEntry>, IcrError> {
        let access_token = self.access_token().await?;
        let api = self.api(&access_token);
        let services = retried(|| api.service_ids(None)).await?;
        let mut entries = Vec::new();
        for service in services {
            let Some(access) = access_of(&service) else {
                continue;
            };
            let keys = retried(|| api.api_keys(&service.iam_id)).await?;
            entries.extend(keys.into_iter().map(|k| TokenEntry {
                id: k.id,
                description: k.description,
                readonly: Some(access == Access::ReadOnly),
                revoked: k.disabled,
                expiry: None,
            }));
        }
        Ok(entries)
    }
}

impl Provider for IcrSession {
    fn kind(&self) -> Kind {
        Kind::Icr
    }

    fn registry(&self) -> &str {
        &self.profile.registry
    }

    fn username(&self) -> &'static str {
        USERNAME
    }

    fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    fn is_credential_id(&self, id: &str) -> bool {
        is_api_key_id(id)
    }

    /// IAM policies reach the registry with a delay: a new key may be refused for a while.
    fn fresh_refusals(&self) -> u32 {
        FRESH_KEY_RETRIES
    }

    fn login(&mut self) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(async move { Ok(self.access_token().await.map(drop)?) })
    }

    fn mint<'a>(
        &'a mut self,
        access: Access,
        description: &'a str,
    ) -> BoxFuture<'a, Result<MintedToken, ProviderError>> {
        Box::pin(async move { Ok(self.mint_key(access, description).await?) })
    }

    fn revoke<'a>(&'a mut self, id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let access = self.access_token().await?;
            let api = self.api(&access);
            retried(|| api.delete_api_key(id))
                .await
                .map_err(IcrError::from)?;
            Ok(())
        })
    }

    fn list(&mut self) -> BoxFuture<'_, Result<Vec<TokenEntry>, ProviderError>> {
        Box::pin(async move { Ok(self.keys().await?) })
    }

    fn ownership<'a>(
        &'a mut self,
        id: &'a str,
        _credential: Option<&'a SecretString>,
        description: &'a str,
    ) -> BoxFuture<'a, Result<Ownership, ProviderError>> {
        Box::pin(async move {
            let access = self.access_token().await?;
            let api = self.api(&access);
            let key = retried(|| api.api_key(id)).await.map_err(IcrError::from)?;
            Ok(match key {
                None => Ownership::Missing,
                Some(k) if k.description == description => Ownership::Owned,
                Some(k) => Ownership::Foreign(k.description),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_key_ids_and_names() {
        assert_eq!(region_of("us.icr.io"), Some("us-south"));
        assert_eq!(region_of("private.de.icr.io:8443"), Some("eu-de"));
        assert_eq!(region_of("icr.io"), Some("global"));
        assert_eq!(region_of("registry.example"), None);
        assert!(is_api_key_id("ApiKey-637b3d8c-a087-5af9-a636-16e7efc70967"));
        for bad in [
            "637b3d8c-a087-5af9-a636-16e7efc70967",
            "ApiKey-",
            "ApiKey-../x",
        ] {
            assert!(!is_api_key_id(bad), "{bad}");
        }
        let s = ServiceId {
            id: "ServiceId-1".into(),
            iam_id: "iam-ServiceId-1".into(),
            name: service_id_name("prod", Access::ReadWrite),
            description: service_id_description("prod", Access::ReadWrite),
        };
        assert_eq!(access_of(&s), Some(Access::ReadWrite));
        let foreign = ServiceId {
            description: "someone else's".into(),
            ..s
        };
        assert_eq!(access_of(&foreign), None);
    }
}

//! The provider seam: what the engine needs from a registry platform, whichever it is.
//!
//! A [`Provider`] logs in (with the long-lived credential a front end put in the keyring or a
//! Kubernetes Secret), mints a least-privilege pull credential for an access level, revokes it,
//! lists what it minted with ownership, and says which username its credentials go with. The
//! engine holds a `&mut dyn Provider` and never names a platform; Bluemix Dedicated
//! ([`dedicated`]: UAA login, registry tokens, username `token`) is the first implementation.

pub mod dedicated;
pub mod icr;

use std::future::Future;
use std::pin::Pin;

use secrecy::SecretString;

use crate::cancel::Cancel;
use crate::registry::{Access, MintedToken, Ownership, TokenEntry};

/// A boxed future, so [`Provider`] can be used as `dyn`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which platform a provider serves (as the stored profile records it).
pub use crate::store::ProviderKind as Kind;

/// The username of the pull credentials of `profile`'s platform, without logging in (a client
/// dry run shows it).
pub fn username_for(profile: &crate::store::Profile) -> &'static str {
    match profile.provider {
        Kind::Dedicated => dedicated::USERNAME,
        Kind::Icr => icr::USERNAME,
    }
}

impl Kind {
    /// Whether `id` has the shape of a credential id of this platform: a registry token id
    /// (a UUID) for Dedicated, an IAM API key id (`ApiKey-<uuid>`) for icr.io.
    pub fn is_credential_id(self, id: &str) -> bool {
        match self {
            Kind::Dedicated => crate::registry::is_token_id(id),
            Kind::Icr => icr::is_api_key_id(id),
        }
    }
}

/// How a provider's failure is to be read by the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request failed in transit, or the platform answered that it failed on its side
    /// (5xx, after it may have committed): a mint may have happened anyway.
    Transport,
    /// The platform says the object is not there (a revoke after a lost answer).
    NotFound,
    /// No login is available here (none stored, no API key): nothing was sent.
    NoLogin,
    /// Anything else (refused, malformed, login needed...).
    Other,
}

/// A provider's failure: what the engine must know ([`ErrorKind`]) and the platform's own
/// error, whose message and sources it shows unchanged.
#[derive(Debug)]
pub struct ProviderError {
    /// How to read it.
    pub kind: ErrorKind,
    /// The platform's error.
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.source.fmt(f)
    }
}

impl std::error::Error for ProviderError {
    // Transparent: the platform's error stands in its place in the chain.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

/// A registry platform, as the engine uses it.
pub trait Provider: Send {
    /// Which platform.
    fn kind(&self) -> Kind;
    /// The registry host its credentials are for (the `auths` key of the pull secret).
    fn registry(&self) -> &str;
    /// The username of its pull credentials.
    fn username(&self) -> &'static str;
    /// The HTTPS client for its endpoints (and the registry's v2 checks).
    fn http(&self) -> &reqwest::Client;
    /// The cancellation token the work obeys.
    fn cancel(&self) -> &Cancel;
    /// Whether `id` has the shape of one of its credential ids (an annotation is untrusted).
    fn is_credential_id(&self, id: &str) -> bool;
    /// How many more times a credential minted a moment ago may be refused by the registry
    /// before the refusal is final (the platform propagates new credentials with a delay).
    fn fresh_refusals(&self) -> u32 {
        0
    }
    /// Makes sure the login is fresh (before a Ctrl-C window opens).
    fn login(&mut self) -> BoxFuture<'_, Result<(), ProviderError>>;
    /// Mints a pull credential with `access`, described by `description`.
    fn mint<'a>(
        &'a mut self,
        access: Access,
        description: &'a str,
    ) -> BoxFuture<'a, Result<MintedToken, ProviderError>>;
    /// Revokes the credential `id` (idempotent requests: retried on transient failures).
    fn revoke<'a>(&'a mut self, id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>>;
    /// The credentials it can see.
    fn list(&mut self) -> BoxFuture<'_, Result<Vec<TokenEntry>, ProviderError>>;
    /// Whether `id` is the credential `credential` (if known) that this tool described as
    /// `description`.
    fn ownership<'a>(
        &'a mut self,
        id: &'a str,
        credential: Option<&'a SecretString>,
        description: &'a str,
    ) -> BoxFuture<'a, Result<Ownership, ProviderError>>;
}

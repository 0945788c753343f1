//! IBM Cloud (Bluemix) Dedicated: a UAA login ([`cf`]), the registry's token API ([`api`],
//! protocol.md §5) and its image list ([`images`]); pull credentials are permanent registry
//! tokens used with the username [`USERNAME`]. [`Session`] is the provider.

pub mod api;
pub mod cf;
pub mod images;
pub mod session;

pub use api::{OrgHeader, RegistryApi};
pub use session::{Session, SessionError};

use secrecy::SecretString;

use super::{BoxFuture, ErrorKind, Kind, Provider, ProviderError};
use crate::cancel::Cancel;
use crate::registry::{self, Access, MintedToken, Ownership, RegistryError, TokenEntry};

/// The registry user name for token authentication.
pub const USERNAME: &str = "token";

impl From<SessionError> for ProviderError {
    fn from(error: SessionError) -> Self {
        let kind = match error.registry() {
            // Refused before anything was sent: certainly nothing was minted (friction 5).
            Some(e) if e.is_transport() && !e.never_sent() => ErrorKind::Transport,
            // The registry failed on its side: it may have stored the token first (issue 26's
            // soak found such a token live and unreported).
            Some(RegistryError::Refused { status, .. }) if *status >= 500 => ErrorKind::Transport,
            Some(e) if e.is_not_found() => ErrorKind::NotFound,
            _ if matches!(
                error,
                SessionError::NoStoredLogin { .. } | SessionError::NoApiKey { .. }
            ) =>
            {
                ErrorKind::NoLogin
            }
            _ => ErrorKind::Other,
        };
        ProviderError {
            kind,
            source: Box::new(error),
        }
    }
}

impl Provider for Session {
    fn kind(&self) -> Kind {
        Kind::Dedicated
    }

    fn registry(&self) -> &str {
        &self.profile().registry
    }

    fn username(&self) -> &'static str {
        USERNAME
    }

    fn http(&self) -> &reqwest::Client {
        Session::http(self)
    }

    fn cancel(&self) -> &Cancel {
        Session::cancel(self)
    }

    fn is_credential_id(&self, id: &str) -> bool {
        registry::is_token_id(id)
    }

    fn login(&mut self) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(async move { Ok(self.access_token().await.map(drop)?) })
    }

    fn mint<'a>(
        &'a mut self,
        access: Access,
        description: &'a str,
    ) -> BoxFuture<'a, Result<MintedToken, ProviderError>> {
        Box::pin(async move {
            let minted = self
                .registry(async |api| api.mint(true, access, description).await)
                .await?;
            Ok(minted)
        })
    }

    fn revoke<'a>(&'a mut self, id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            self.registry_idempotent(async |api| api.revoke(id).await)
                .await?;
            Ok(())
        })
    }

    fn list(&mut self) -> BoxFuture<'_, Result<Vec<TokenEntry>, ProviderError>> {
        Box::pin(async move {
            Ok(self
                .registry_idempotent(async |api| api.list().await)
                .await?)
        })
    }

    fn ownership<'a>(
        &'a mut self,
        id: &'a str,
        credential: Option<&'a SecretString>,
        description: &'a str,
    ) -> BoxFuture<'a, Result<Ownership, ProviderError>> {
        Box::pin(async move {
            let ownership = self
                .registry_idempotent(async |api| api.ownership(id, credential, description).await)
                .await?;
            Ok(ownership)
        })
    }
}

/// The registry's error behind a provider error, if the Dedicated registry is what failed.
pub fn registry_error(error: &ProviderError) -> Option<&RegistryError> {
    error
        .source
        .downcast_ref::<SessionError>()
        .and_then(SessionError::registry)
}

//! The provider the controller hands the engine: the real one, with every credential minted
//! counted in the metrics (the first pass's, the batches', whichever path mints).

use secrecy::SecretString;

use super::metrics::Metrics;
use crate::cancel::Cancel;
use crate::providers::{BoxFuture, Kind, Provider, ProviderError};
use crate::registry::{Access, MintedToken, Ownership, TokenEntry};

/// `inner`, counting its mints in `metrics`.
pub struct Metered<'p> {
    pub inner: &'p mut dyn Provider,
    pub metrics: &'p Metrics,
}

impl Provider for Metered<'_> {
    fn kind(&self) -> Kind {
        self.inner.kind()
    }
    fn registry(&self) -> &str {
        self.inner.registry()
    }
    fn username(&self) -> &'static str {
        self.inner.username()
    }
    fn http(&self) -> &reqwest::Client {
        self.inner.http()
    }
    fn cancel(&self) -> &Cancel {
        self.inner.cancel()
    }
    fn is_credential_id(&self, id: &str) -> bool {
        self.inner.is_credential_id(id)
    }
    fn fresh_refusals(&self) -> u32 {
        self.inner.fresh_refusals()
    }
    fn login(&mut self) -> BoxFuture<'_, Result<(), ProviderError>> {
        self.inner.login()
    }
    fn mint<'a>(
        &'a mut self,
        access: Access,
        description: &'a str,
    ) -> BoxFuture<'a, Result<MintedToken, ProviderError>> {
        Box::pin(async move {
            let minted = self.inner.mint(access, description).await;
            if minted.is_ok() {
                self.metrics.minted.inc();
            }
            minted
        })
    }
    fn revoke<'a>(&'a mut self, id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let revoked = self.inner.revoke(id).await;
            if revoked.is_ok() {
                self.metrics.revoked.inc();
            }
            revoked
        })
    }
    fn list(&mut self) -> BoxFuture<'_, Result<Vec<TokenEntry>, ProviderError>> {
        self.inner.list()
    }
    fn ownership<'a>(
        &'a mut self,
        id: &'a str,
        credential: Option<&'a SecretString>,
        description: &'a str,
    ) -> BoxFuture<'a, Result<Ownership, ProviderError>> {
        self.inner.ownership(id, credential, description)
    }
}

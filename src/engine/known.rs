//! The cluster's shared credential as a long-running front end keeps knowing it (the
//! controller and `secret create --watch`, [`crate::controller`]): found again in the cluster
//! at the start and after a rotation made elsewhere, by the rules of [`Fleet::reusable`].

use k8s_openapi::api::core::v1::Secret;
use secrecy::SecretString;

use super::fleet::Fleet;
use super::select as namespaces;
use super::spec::FleetScope;
use crate::manifests;
use crate::providers::Provider;

impl Fleet<'_> {
    /// Whether `secret` is a managed secret holding a shared token other than `known`.
    pub fn holds_another_shared_token(&self, secret: &Secret, known: Option<&str>) -> bool {
        known.is_some_and(|known| {
            self.is_wanted(secret)
                && manifests::is_shared(secret)
                && manifests::annotation(secret, manifests::ANNOTATION_TOKEN_ID)
                    .is_some_and(|id| id != known)
        })
    }

    /// The cluster's shared token as the managed secrets hold it, if one this tool minted
    /// still works (the rules of [`Fleet::reusable`], over the namespaces `scope` selects now).
    pub async fn shared_in_cluster(
        &self,
        scope: &FleetScope,
        provider: &mut dyn Provider,
    ) -> Option<(String, SecretString)> {
        let selected = namespaces::select(self.target_ref(), scope).await.ok()?;
        let found = self.fetch(&selected).await.ok()?;
        self.reusable(&found, &selected, provider)
            .await
            .map(|s| (s.id, s.token))
    }
}

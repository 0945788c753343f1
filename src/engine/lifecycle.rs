//! The life of a registry token this run mints: minted inside a Ctrl-C window, verified the way
//! the kubelet will use it, and revoked again when the write it was minted for fails, so that
//! no permanent token is left live and unreported.

// As in `session`: the error carries the registry's details, once per failed command.
#![allow(clippy::result_large_err)]

use secrecy::SecretString;

use crate::cancel::Window;
use crate::providers::{ErrorKind, Provider, ProviderError};
use crate::registry::{self, Access, MintedToken, Ownership};

/// Failures of the token lifecycle itself (the write it serves reports its own errors).
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// A signal before anything was minted.
    #[error("{0}; nothing was minted")]
    InterruptedBeforeMint(String),
    /// The mint failed in transit: a token may exist anyway.
    #[error(
        "a token described `{description}` may have been created anyway: check with `kubectl dedicated-registry token list`"
    )]
    MintUncertain {
        /// The description it would carry.
        description: String,
        /// The transport failure.
        #[source]
        source: ProviderError,
    },
    /// Login, keyring or registry failure.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The registry definitively refused the new token.
    #[error("the new token does not work for pulling (use --verify=skip to write it anyway)")]
    Unverified(#[source] registry::v2::VerifyError),
    /// `--verify=require` and the pull could not be proven.
    #[error("the pull with the new token could not be verified, and --verify=require demands it")]
    Unproven(#[source] registry::v2::VerifyError),
    /// `--verify=require` and the registry needs no credential, so nothing was proven.
    #[error(
        "{0} accepts anonymous pulls, so the new token could not be verified, and --verify=require demands it"
    )]
    Anonymous(String),
}

/// How strictly a new token is checked before it is written (`--verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The pull must be proven; anything but an accepted credential fails (and revokes).
    Require,
    /// Only a definite refusal (401/403 to the credential) fails; a check that cannot be
    /// carried out prints one warning and the token is written.
    Auto,
    /// No check.
    Skip,
}

/// A token id read from a cluster object (a secret's annotation), which anyone who can edit the
/// object could have changed: it is revoked only after checking it is that object's token.
pub struct Recorded {
    /// The id in the annotation.
    pub id: String,
    /// The object's credential for the registry, if it holds one.
    pub credential: Option<SecretString>,
    /// The description this plugin would have given the object's token.
    pub description: String,
    /// The object, for messages, e.g. `secret team-a/regcred`.
    pub object: String,
}

impl Recorded {
    /// Why this id must not be revoked, if it must not.
    pub async fn refusal(
        &self,
        provider: &mut dyn Provider,
    ) -> Result<Option<String>, ProviderError> {
        let (id, object) = (&self.id, &self.object);
        if !provider.is_credential_id(id) {
            return Ok(Some(format!(
                "the token id `{}` recorded in {object} is not a token id; it was not revoked",
                crate::text::printable(id)
            )));
        }
        let ownership = provider
            .ownership(id, self.credential.as_ref(), &self.description)
            .await?;
        Ok(match ownership {
            Ownership::Owned => None,
            Ownership::Missing => Some(format!(
                "token {id} recorded in {object} is not a live token of this org (already revoked?); nothing to revoke"
            )),
            Ownership::Foreign(description) => Some(format!(
                "token {id} recorded in {object} belongs to `{}`, not to {object} (was the annotation edited?); it was NOT revoked",
                crate::text::printable(&description)
            )),
        })
    }
}

/// Mints, verifies and revokes registry tokens for one run.
pub struct TokenLifecycle<'s> {
    provider: &'s mut dyn Provider,
}

impl<'s> TokenLifecycle<'s> {
    /// Uses `provider`'s login.
    pub fn new(provider: &'s mut dyn Provider) -> Self {
        TokenLifecycle { provider }
    }

    /// The provider.
    pub fn provider(&mut self) -> &mut dyn Provider {
        self.provider
    }

    /// Mints a permanent token inside a Ctrl-C window (see [`crate::cancel`]): from here until
    /// the token is in place or revoked, Ctrl-C waits for the request in flight so an unused
    /// token can be revoked. The login is refreshed before the window opens, so Ctrl-C during
    /// the refresh still stops at once.
    pub async fn mint_in_window(
        &mut self,
        access: Access,
        description: &str,
    ) -> anyhow::Result<(MintedToken, Window)> {
        self.provider.login().await?;
        let cancel = self.provider.cancel().clone();
        let window = cancel.window();
        if cancel.is_cancelled() {
            return Err(LifecycleError::InterruptedBeforeMint(cancel.message()).into());
        }
        let token = self.mint(access, description).await?;
        if cancel.is_cancelled() {
            return Err(self.undo(&token, anyhow::anyhow!(cancel.message())).await);
        }
        Ok((token, window))
    }

    async fn mint(
        &mut self,
        access: Access,
        description: &str,
    ) -> Result<MintedToken, LifecycleError> {
        let minted = self.provider.mint(access, description).await.map_err(|e| {
            // A request that failed in transit may still have created the credential.
            if e.kind == ErrorKind::Transport {
                LifecycleError::MintUncertain {
                    description: description.to_string(),
                    source: e,
                }
            } else {
                LifecycleError::Provider(e)
            }
        })?;
        crate::trace::log(
            1,
            format!(
                "Minted {} token {} at {}",
                access.as_str(),
                minted.id,
                self.provider.registry()
            ),
        );
        Ok(minted)
    }

    /// Revokes the token `id` (retried when the registry fails transiently; "not found" after
    /// a lost answer means it is already revoked).
    pub async fn revoke(&mut self, id: &str) -> Result<(), ProviderError> {
        let outcome = self.provider.revoke(id).await;
        match outcome {
            Ok(()) => crate::trace::log(1, format!("Revoked token {id}")),
            Err(e) if e.kind == ErrorKind::NotFound => {
                crate::trace::log(1, format!("Token {id} is not there (already revoked)"));
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Revokes a token recorded in a cluster object once it is known to be that object's own;
    /// otherwise warns and leaves it alone. A failure is returned for the caller to report.
    pub async fn revoke_recorded(&mut self, recorded: &Recorded) -> Result<bool, ProviderError> {
        if let Some(refusal) = recorded.refusal(self.provider).await? {
            crate::trace::warning(refusal);
            return Ok(false);
        }
        self.revoke(&recorded.id).await?;
        Ok(true)
    }

    /// Checks the new token the way the kubelet will use it (v2 auth at the registry), as
    /// strictly as `mode` says; `secret` names the pull secret in the warning.
    pub async fn verify(
        &self,
        token: &MintedToken,
        mode: Verification,
        secret: &str,
    ) -> Result<(), LifecycleError> {
        if mode == Verification::Skip {
            return Ok(());
        }
        let registry = self.provider.registry();
        let outcome = registry::v2::check(
            self.provider.http(),
            registry,
            self.provider.username(),
            &token.token,
            true,
        )
        .await;
        match (outcome, mode) {
            (Ok(registry::v2::Verified::Accepted), _) => {
                crate::trace::log(1, format!("Token {} accepted by {registry}/v2/", token.id));
            }
            (Ok(registry::v2::Verified::Anonymous), Verification::Require) => {
                return Err(LifecycleError::Anonymous(registry.to_string()));
            }
            (Ok(registry::v2::Verified::Anonymous), _) => crate::trace::warning(format!(
                "{registry} accepts anonymous pulls; the token could not be checked"
            )),
            (Err(e), _) if e.is_definite() => return Err(LifecycleError::Unverified(e)),
            (Err(e), Verification::Require) => return Err(LifecycleError::Unproven(e)),
            (Err(e), _) => crate::trace::warning(format!(
                "the pull with the new token could not be verified ({}); the secret is written anyway, check it later with `kubectl dedicated-registry secret verify {secret}`",
                crate::redact::one_line(&format!("{e:#}"))
            )),
        }
        Ok(())
    }

    /// Revokes a token minted for a write that failed, and returns the error to report.
    pub async fn undo(&mut self, token: &MintedToken, failure: anyhow::Error) -> anyhow::Error {
        self.undo_saying(token, failure, "nothing was changed")
            .await
    }

    /// Like [`Self::undo`], when the failed write did change something (the error says what).
    pub async fn undo_changed(
        &mut self,
        token: &MintedToken,
        failure: anyhow::Error,
    ) -> anyhow::Error {
        self.undo_saying(token, failure, "it is not in use").await
    }

    async fn undo_saying(
        &mut self,
        token: &MintedToken,
        failure: anyhow::Error,
        outcome: &str,
    ) -> anyhow::Error {
        let id = &token.id;
        match self.revoke(id).await {
            Ok(()) => failure.context(format!(
                "the new registry token {id} was revoked, {outcome}"
            )),
            Err(revoke_error) => failure.context(format!(
                "the new registry token {id} could NOT be revoked ({revoke_error:#}); revoke it with `kubectl dedicated-registry token revoke {id}`"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The lifecycle's decisions against a fake provider: what it mints, revokes and reports,
    //! without any server.

    use std::collections::BTreeMap;

    use super::*;
    use crate::cancel::{Cancel, SIGTERM};
    use crate::providers::{BoxFuture, Kind};

    const ID: &str = "637b3d8c-a087-5af9-a636-16e7efc70967";

    /// A provider that records calls and fails as told.
    struct Fake {
        cancel: Cancel,
        http: reqwest::Client,
        live: BTreeMap<String, String>,
        revoked: Vec<String>,
        mint_fails: Option<ErrorKind>,
        revoke_fails: Option<ErrorKind>,
        logins: usize,
    }

    impl Default for Fake {
        fn default() -> Self {
            let _ = rustls::crypto::ring::default_provider().install_default();
            Fake {
                cancel: Cancel::new(),
                http: reqwest::Client::new(),
                live: BTreeMap::new(),
                revoked: Vec::new(),
                mint_fails: None,
                revoke_fails: None,
                logins: 0,
            }
        }
    }

    fn failure(kind: ErrorKind) -> ProviderError {
        ProviderError {
            kind,
            source: "the fake says no".into(),
        }
    }

    impl Provider for Fake {
        fn kind(&self) -> Kind {
            Kind::Dedicated
        }
        fn registry(&self) -> &str {
            "registry.fake"
        }
        fn username(&self) -> &'static str {
            "fake-user"
        }
        fn http(&self) -> &reqwest::Client {
            &self.http
        }
        fn cancel(&self) -> &Cancel {
            &self.cancel
        }
        fn is_credential_id(&self, id: &str) -> bool {
            registry::is_token_id(id)
        }
        fn login(&mut self) -> BoxFuture<'_, Result<(), ProviderError>> {
            self.logins += 1;
            Box::pin(async { Ok(()) })
        }
        fn mint<'a>(
            &'a mut self,
            _access: Access,
            description: &'a str,
        ) -> BoxFuture<'a, Result<MintedToken, ProviderError>> {
            Box::pin(async move {
                if let Some(kind) = self.mint_fails {
                    return Err(failure(kind));
                }
                self.live.insert(ID.to_string(), description.to_string());
                Ok(MintedToken {
                    token: SecretString::from("fake-secret-credential"),
                    id: ID.to_string(),
                    username: "fake-user",
                })
            })
        }
        fn revoke<'a>(&'a mut self, id: &'a str) -> BoxFuture<'a, Result<(), ProviderError>> {
            Box::pin(async move {
                if let Some(kind) = self.revoke_fails {
                    return Err(failure(kind));
                }
                self.live.remove(id);
                self.revoked.push(id.to_string());
                Ok(())
            })
        }
        fn list(&mut self) -> BoxFuture<'_, Result<Vec<registry::TokenEntry>, ProviderError>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn ownership<'a>(
            &'a mut self,
            id: &'a str,
            _credential: Option<&'a SecretString>,
            description: &'a str,
        ) -> BoxFuture<'a, Result<Ownership, ProviderError>> {
            Box::pin(async move {
                Ok(match self.live.get(id) {
                    None => Ownership::Missing,
                    Some(d) if d == description => Ownership::Owned,
                    Some(d) => Ownership::Foreign(d.clone()),
                })
            })
        }
    }

    #[tokio::test]
    async fn a_minted_credential_is_revoked_when_its_write_fails() {
        let mut fake = Fake::default();
        let mut lifecycle = TokenLifecycle::new(&mut fake);
        let (token, window) = lifecycle
            .mint_in_window(Access::ReadOnly, "d")
            .await
            .unwrap();
        assert_eq!(token.username, "fake-user");
        let error = lifecycle
            .undo(&token, anyhow::anyhow!("write refused"))
            .await;
        drop(window);
        let text = format!("{error:#}");
        assert!(text.contains("revoked, nothing was changed"), "{text}");
        assert!(!text.contains("fake-secret-credential"));
        assert_eq!(fake.revoked, [ID]);
        assert_eq!(fake.logins, 1, "the login is refreshed before the window");
    }

    #[tokio::test]
    async fn an_undo_that_cannot_revoke_names_the_command_that_finishes_it() {
        let mut fake = Fake {
            revoke_fails: Some(ErrorKind::Other),
            ..Fake::default()
        };
        let mut lifecycle = TokenLifecycle::new(&mut fake);
        let (token, _window) = lifecycle
            .mint_in_window(Access::ReadOnly, "d")
            .await
            .unwrap();
        let error = lifecycle.undo_changed(&token, anyhow::anyhow!("x")).await;
        let text = format!("{error:#}");
        assert!(
            text.contains("could NOT be revoked") && text.contains(&format!("token revoke {ID}")),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_mint_lost_in_transit_is_reported_as_uncertain() {
        for (kind, uncertain) in [(ErrorKind::Transport, true), (ErrorKind::Other, false)] {
            let mut fake = Fake {
                mint_fails: Some(kind),
                ..Fake::default()
            };
            let error = TokenLifecycle::new(&mut fake)
                .mint_in_window(Access::ReadOnly, "for regcred")
                .await
                .unwrap_err();
            let text = format!("{error:#}");
            assert_eq!(
                text.contains("may have been created anyway"),
                uncertain,
                "{text}"
            );
        }
    }

    #[tokio::test]
    async fn a_revoke_of_a_credential_already_gone_succeeds() {
        let mut fake = Fake {
            revoke_fails: Some(ErrorKind::NotFound),
            ..Fake::default()
        };
        TokenLifecycle::new(&mut fake).revoke(ID).await.unwrap();
        let mut fake = Fake {
            revoke_fails: Some(ErrorKind::Transport),
            ..Fake::default()
        };
        assert!(TokenLifecycle::new(&mut fake).revoke(ID).await.is_err());
    }

    #[tokio::test]
    async fn a_stop_requested_before_the_mint_mints_nothing() {
        let mut fake = Fake::default();
        let cancel = fake.cancel.clone();
        let _outer = cancel.window();
        assert_eq!(
            cancel.request(SIGTERM),
            crate::cancel::Request::Deferred(crate::cancel::CREDENTIAL)
        );
        let error = TokenLifecycle::new(&mut fake)
            .mint_in_window(Access::ReadOnly, "d")
            .await
            .unwrap_err();
        assert!(format!("{error:#}").contains("interrupted by SIGTERM; nothing was minted"));
        assert!(fake.live.is_empty() && fake.revoked.is_empty());
    }

    #[tokio::test]
    async fn a_recorded_id_is_revoked_only_when_it_is_that_objects_own() {
        let mut fake = Fake::default();
        fake.live.insert(
            ID.into(),
            "kubectl-dedicated-registry prod/a/regcred".into(),
        );
        let recorded = |id: &str, description: &str| Recorded {
            id: id.into(),
            credential: None,
            description: description.into(),
            object: "secret a/regcred".into(),
        };
        let mut lifecycle = TokenLifecycle::new(&mut fake);
        // Not an id at all, someone else's, already gone: kept, nothing revoked.
        for r in [
            recorded("../etc", "x"),
            recorded(ID, "kubectl-dedicated-registry prod/b/regcred"),
            recorded("11111111-2222-3333-4444-555555555555", "x"),
        ] {
            assert!(!lifecycle.revoke_recorded(&r).await.unwrap(), "{}", r.id);
        }
        let own = recorded(ID, "kubectl-dedicated-registry prod/a/regcred");
        assert!(lifecycle.revoke_recorded(&own).await.unwrap());
        assert_eq!(fake.revoked, [ID]);
    }
}

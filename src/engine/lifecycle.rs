//! The life of a registry token this run mints: minted inside a Ctrl-C window, verified the way
//! the kubelet will use it, and revoked again when the write it was minted for fails, so that
//! no permanent token is left live and unreported.

// As in `session`: the error carries the registry's details, once per failed command.
#![allow(clippy::result_large_err)]

use secrecy::SecretString;

use crate::cancel::Window;
use crate::registry::{self, Access, MintedToken, Ownership};
use crate::session::{Session, SessionError};

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
        source: SessionError,
    },
    /// Login, keyring or registry failure.
    #[error(transparent)]
    Session(#[from] SessionError),
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
    pub async fn refusal(&self, session: &mut Session) -> Result<Option<String>, SessionError> {
        let (id, object) = (&self.id, &self.object);
        if !registry::is_token_id(id) {
            return Ok(Some(format!(
                "the token id `{}` recorded in {object} is not a token id; it was not revoked",
                crate::text::printable(id)
            )));
        }
        let ownership = session
            .registry_idempotent(async |api| {
                api.ownership(id, self.credential.as_ref(), &self.description)
                    .await
            })
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
    session: &'s mut Session,
}

impl<'s> TokenLifecycle<'s> {
    /// Uses `session`'s login.
    pub fn new(session: &'s mut Session) -> Self {
        TokenLifecycle { session }
    }

    /// The session.
    pub fn session(&mut self) -> &mut Session {
        self.session
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
        self.session.access_token().await?;
        let cancel = self.session.cancel().clone();
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
        let minted = self
            .session
            .registry(async |api| api.mint(true, access, description).await)
            .await
            .map_err(|e| {
                // A request that failed in transit may still have created the token.
                if e.registry()
                    .is_some_and(registry::RegistryError::is_transport)
                {
                    LifecycleError::MintUncertain {
                        description: description.to_string(),
                        source: e,
                    }
                } else {
                    LifecycleError::Session(e)
                }
            })?;
        crate::trace::log(
            1,
            format!(
                "Minted {} token {} at {}",
                access.as_str(),
                minted.id,
                self.session.profile().registry
            ),
        );
        Ok(minted)
    }

    /// Revokes the token `id` (retried when the registry fails transiently; "not found" after
    /// a lost answer means it is already revoked).
    pub async fn revoke(&mut self, id: &str) -> Result<(), SessionError> {
        let outcome = self
            .session
            .registry_idempotent(async |api| api.revoke(id).await)
            .await;
        match outcome {
            Ok(()) => crate::trace::log(1, format!("Revoked token {id}")),
            Err(e)
                if e.registry()
                    .is_some_and(registry::RegistryError::is_not_found) =>
            {
                crate::trace::log(1, format!("Token {id} is not there (already revoked)"));
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Revokes a token recorded in a cluster object once it is known to be that object's own;
    /// otherwise warns and leaves it alone. A failure is returned for the caller to report.
    pub async fn revoke_recorded(&mut self, recorded: &Recorded) -> Result<bool, SessionError> {
        if let Some(refusal) = recorded.refusal(self.session).await? {
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
        let registry = &self.session.profile().registry;
        let outcome = registry::v2::check(
            self.session.http(),
            registry,
            self.session.username(),
            &token.token,
            true,
        )
        .await;
        match (outcome, mode) {
            (Ok(registry::v2::Verified::Accepted), _) => {
                crate::trace::log(1, format!("Token {} accepted by {registry}/v2/", token.id));
            }
            (Ok(registry::v2::Verified::Anonymous), Verification::Require) => {
                return Err(LifecycleError::Anonymous(registry.clone()));
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

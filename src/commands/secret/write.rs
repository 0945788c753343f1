//! The write of a freshly minted token, and what happens when it fails: a certain failure
//! revokes the token; an uncertain one (the answer was lost, a server-side timeout) reads the
//! secret back first; a conflict keeps the token for the next attempt.

use anyhow::bail;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::Api;
use secrecy::ExposeSecret as _;

use super::create::{Attempt, Run, placeholder_secret, pull_secret, with_dry_run, write_verb};
use crate::cli::DryRun;
use crate::cluster::access;
use crate::cluster::objects::{self, WriteFailure};
use crate::cluster::{self, Target};
use crate::interrupt;
use crate::registry::MintedToken;
use crate::{manifests, output};

/// One write of a freshly minted token.
pub(super) struct Write<'a> {
    pub(super) target: &'a Target,
    pub(super) secrets: &'a Api<Secret>,
    pub(super) existing: Option<&'a Secret>,
    /// The token id recorded in the existing secret, to revoke once the write succeeded.
    pub(super) revoke: Option<String>,
    /// Whether this is the last attempt (a conflict is then final).
    pub(super) last: bool,
}

impl Run<'_, '_> {
    /// Carries out a `Mint` plan: a server dry run with the placeholder, or a real mint.
    pub(super) async fn mint(&mut self, write: Write<'_>) -> anyhow::Result<Attempt> {
        let settings = self.settings;
        let name = &settings.spec.name;
        let dry_run = settings.dry_run == DryRun::Server;
        let existing = write.existing;
        let verb = with_dry_run(
            if existing.is_some() {
                "configured"
            } else {
                "created"
            },
            dry_run,
        );
        if dry_run {
            // Validated by the API server with the placeholder; nothing is minted.
            let registry = self.registry();
            let target = write.target;
            let desired = placeholder_secret(settings, &registry, &target.namespace);
            return objects::write_secret(write.secrets, existing, &desired, true)
                .await
                .map(|s| Attempt::Done(Box::new(s), verb))
                .map_err(|f| {
                    target
                        .error(write_verb(&existing), "secret", name, f.error)
                        .into()
                });
        }
        if self.pending.is_none() {
            self.preflight(&write).await?;
        }
        Ok(match self.mint_and_write(write).await? {
            Some(secret) => Attempt::Done(Box::new(secret), verb),
            None => Attempt::Retry,
        })
    }

    /// Before a token exists: the namespace must exist and RBAC must allow the writes
    /// (SelfSubjectAccessReview, as `kubectl auth can-i`), so a write that would be refused
    /// mints nothing. A check the cluster cannot answer (no permission to read namespaces or to
    /// review access) is skipped: the write itself still decides.
    async fn preflight(&self, write: &Write<'_>) -> anyhow::Result<()> {
        let target = write.target;
        let namespace = &target.namespace;
        let namespaces: Api<Namespace> = Api::all(target.client.clone());
        if let Ok(None) = namespaces.get_metadata_opt(namespace).await {
            bail!(
                "namespace `{namespace}` does not exist on {}; {}check -n/--namespace and --context (nothing was minted)",
                target.server,
                target.close_namespace_hint().await
            );
        }
        let name = &self.settings.spec.name;
        let mut needed = vec![(
            write_verb(&write.existing),
            "secrets",
            "secret",
            name.clone(),
        )];
        for account in &self.settings.service_accounts {
            needed.push((
                "update",
                "serviceaccounts",
                "serviceaccount",
                account.clone(),
            ));
        }
        for (verb, resource, kind, object) in needed {
            match access::allowed(&target.client, namespace, verb, resource).await {
                Ok(true) => {}
                Ok(false) => bail!(
                    "Kubernetes denied {verb} of {kind} `{object}` in namespace `{namespace}`: user `{}` of context `{}` may not {verb} {resource} (checked before minting, nothing was minted); ask a cluster admin for this permission or use another --context",
                    target.user.as_deref().unwrap_or("(none)"),
                    target.context.as_deref().unwrap_or("(none)")
                ),
                Err(e) => output::log(
                    1,
                    format!("cannot review access for {verb} {resource} ({e}); the write decides"),
                ),
            }
        }
        Ok(())
    }

    /// A token for this write: the one kept from a conflicted attempt, or a new one, minted
    /// and verified.
    async fn token(&mut self, target: &Target) -> anyhow::Result<(MintedToken, interrupt::Window)> {
        if let Some(kept) = self.pending.take() {
            return Ok(kept);
        }
        let settings = self.settings;
        let description =
            super::description(&settings.spec, target.cluster.as_deref(), &target.namespace);
        let (token, window) = self
            .lifecycle
            .mint_in_window(settings.spec.access, &description)
            .await?;
        if let Err(e) = self
            .lifecycle
            .verify(&token, settings.verify, &settings.spec.name)
            .await
        {
            return Err(self.lifecycle.undo(&token, e.into()).await);
        }
        Ok((token, window))
    }

    /// Mints (or reuses) a token, writes it, and revokes the token it replaced; undoes the mint
    /// when the write fails. `None` when a concurrent writer got in first: the token is kept
    /// for the next attempt.
    async fn mint_and_write(&mut self, write: Write<'_>) -> anyhow::Result<Option<Secret>> {
        let settings = self.settings;
        let name = &settings.spec.name;
        let target = write.target;
        let (token, window) = self.token(target).await?;
        if interrupt::interrupted() {
            return Err(self
                .lifecycle
                .undo(&token, anyhow::anyhow!(interrupt::message()))
                .await);
        }
        let registry = self.registry();
        let desired = pull_secret(
            settings,
            &registry,
            &target.namespace,
            token.token.expose_secret(),
            &token.id,
        );
        let landed =
            match objects::write_secret(write.secrets, write.existing, &desired, false).await {
                Ok(s) => s,
                Err(f) if cluster::is_conflict(&f.error) && !write.last => {
                    // Someone else wrote meanwhile: decide again on fresh state, with this token.
                    output::log(1, format!("secret/{name} changed concurrently; retrying"));
                    self.pending = Some((token, window));
                    return Ok(None);
                }
                Err(f) => self.failed_write(&write, &token, f).await?,
            };
        // The new token is in place. The one it replaced is revoked while the window is still
        // open, so a signal cannot leave it live unreported.
        if let Some(old) = &write.revoke
            && *old != token.id
        {
            self.revoke_replaced(&write, old, &registry).await;
        }
        drop(window);
        if interrupt::interrupted() {
            bail!(
                "{} after secret/{name} was written with the new token {}; the remaining steps were skipped, re-run to finish",
                interrupt::message(),
                token.id
            );
        }
        Ok(Some(landed))
    }

    /// Revokes the token the write replaced, after checking it is that secret's own (the
    /// annotation naming it can be edited by anyone who can edit the secret).
    async fn revoke_replaced(&mut self, write: &Write<'_>, old: &str, registry: &str) {
        let name = &self.settings.spec.name;
        let target = write.target;
        if let Some(existing) = write.existing {
            let at = format!("{}/{name}", target.namespace);
            if !super::last_holder(&target.client, existing, old, &at).await {
                return;
            }
        }
        let recorded = super::recorded(
            old,
            write.existing,
            registry,
            target.cluster.as_deref(),
            &target.namespace,
            name,
        );
        super::revoke_replaced(&mut self.lifecycle, &recorded).await;
    }

    /// A write of a new token failed. When the failure is certain, the token is revoked. When
    /// the server may have stored the write anyway (the answer was lost, or a server-side
    /// timeout), the secret is read back first: a secret that holds the new token was written.
    async fn failed_write(
        &mut self,
        write: &Write<'_>,
        token: &MintedToken,
        failure: WriteFailure,
    ) -> anyhow::Result<Secret> {
        let name = &self.settings.spec.name;
        let verb = write_verb(&write.existing);
        let uncertain = objects::is_uncertain(&failure.error);
        let lost = failure.original_lost;
        let error = anyhow::Error::new(write.target.error(verb, "secret", name, failure.error));
        let error = if lost {
            error.context(format!(
                "secret/{name} was deleted to change its type and could NOT be restored; re-run the command to create it"
            ))
        } else {
            error
        };
        if !uncertain {
            return Err(self.undo(token, error, lost).await);
        }
        match objects::read_back(write.secrets, name).await {
            Some(Some(stored))
                if manifests::annotation(&stored, manifests::ANNOTATION_TOKEN_ID)
                    == Some(token.id.as_str()) =>
            {
                output::warning(format!(
                    "the {verb} of secret/{name} reported an error, but the secret holds the new token: it was written"
                ));
                Ok(stored)
            }
            Some(_) => Err(self.undo(token, error, lost).await),
            None => Err(error.context(format!(
                "it is unknown whether secret/{name} was written; the new token {id} was NOT revoked: check with `kubectl get secret {name}` and run `kubectl dedicated-registry token revoke {id}` if the secret does not use it",
                id = token.id
            ))),
        }
    }

    /// Revokes the new token; "nothing was changed" only when that is true.
    async fn undo(
        &mut self,
        token: &MintedToken,
        error: anyhow::Error,
        lost: bool,
    ) -> anyhow::Error {
        if lost {
            self.lifecycle.undo_changed(token, error).await
        } else {
            self.lifecycle.undo(token, error).await
        }
    }

    /// Revokes a token kept for a retry, when the run fails before using it.
    pub(super) async fn discard_pending(&mut self, error: anyhow::Error) -> anyhow::Error {
        match self.pending.take() {
            Some((token, _window)) => self.lifecycle.undo(&token, error).await,
            None => error,
        }
    }
}

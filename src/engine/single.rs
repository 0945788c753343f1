//! A create in one namespace with that namespace's own credential: read → [`decide`] → mint
//! only then → write, through the one loop ([`converge`]).
//!
//! A credential minted for a write that then fails is revoked before returning; one minted for a
//! write that lost to a concurrent writer is kept for the next attempt (a contended write mints
//! once) and revoked if that attempt does not need it.

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::Api;
use secrecy::{ExposeSecret as _, SecretString};

use super::converge::{Goal, Step, converge};
use super::decide::{Decision, Wanted, decide};
use super::lifecycle::{TokenLifecycle, Verification};
use super::report::{Reporter, Shown};
use super::spec::{CreateSpec, FleetScope};
use crate::cancel::Window;
use crate::cluster::objects::{self, AccountChange, WriteFailure};
use crate::cluster::{self, Target, access};
use crate::manifests::{self, PullSecretSpec};
use crate::providers::Provider;
use crate::registry::{MintedToken, v2};

/// The Secret `settings` asks for in `namespace`, holding `token` (`token_id` recorded).
pub fn pull_secret(
    settings: &CreateSpec,
    registry: &str,
    username: &str,
    namespace: &str,
    token: &str,
    token_id: &str,
) -> Secret {
    manifests::pull_secret(
        &settings.spec.name,
        namespace,
        &PullSecretSpec {
            registry,
            username,
            token,
            token_id,
            email: settings.spec.email(),
            readwrite: settings.spec.access == crate::registry::Access::ReadWrite,
        },
    )
}

/// The Secret a dry run shows: the placeholder where the credential would be.
pub fn placeholder_secret(
    settings: &CreateSpec,
    registry: &str,
    username: &str,
    namespace: &str,
) -> Secret {
    pull_secret(
        settings,
        registry,
        username,
        namespace,
        manifests::PLACEHOLDER_TOKEN,
        "",
    )
}

/// The verb kubectl prints, marked when it was a server dry run.
pub fn with_dry_run(verb: &'static str, dry_run: bool) -> &'static str {
    match (verb, dry_run) {
        (_, false) => verb,
        ("created", true) => "created (server dry run)",
        (_, true) => "configured (server dry run)",
    }
}

/// `create` or `update`, for messages.
pub fn write_verb<T>(existing: &Option<T>) -> &'static str {
    if existing.is_some() {
        "update"
    } else {
        "create"
    }
}

/// One create with namespaces' own credentials: its settings and the credential lifecycle it
/// shares across namespaces.
pub struct Single<'r, 's> {
    settings: &'r CreateSpec,
    lifecycle: TokenLifecycle<'s>,
    reporter: &'r dyn Reporter,
    multi: bool,
    /// A credential minted for a write that lost to a concurrent writer: reused by the next
    /// attempt if it still needs one, revoked otherwise.
    pending: Option<(MintedToken, Window)>,
}

impl<'r, 's> Single<'r, 's> {
    /// A create of `settings` with `provider`'s login, reporting to `reporter`.
    pub fn new(
        settings: &'r CreateSpec,
        provider: &'s mut dyn Provider,
        reporter: &'r dyn Reporter,
    ) -> Self {
        Single {
            settings,
            lifecycle: TokenLifecycle::new(provider),
            reporter,
            multi: false,
            pending: None,
        }
    }

    fn registry(&mut self) -> String {
        self.lifecycle.provider().registry().to_string()
    }

    /// `-A|-l --token-per-namespace`: every selected namespace with its own credential, one
    /// after the other; a failure in one namespace does not stop the others.
    pub async fn create_everywhere(
        &mut self,
        target: &Target,
        fleet: &FleetScope,
    ) -> anyhow::Result<()> {
        let selection = super::select::selection(target, fleet).await?;
        self.multi = true;
        let mut failures = Vec::new();
        let (mut created, mut unchanged) = (0, 0);
        let mut skipped = selection.terminating;
        for namespace in selection.live {
            match self.create_in(&target.in_namespace(&namespace)).await {
                Ok(true) => created += 1,
                Ok(false) => unchanged += 1,
                // It turned Terminating after the list: skipped, not failed (any new token
                // was revoked with the refused write).
                Err(e) if is_terminating(&e) => skipped.push(namespace),
                Err(e) => {
                    crate::trace::note(format!("namespace {namespace} failed: {e:#}"));
                    failures.push(namespace);
                }
            }
        }
        skipped.sort();
        for namespace in &skipped {
            crate::trace::note(format!(
                "namespace {namespace} skipped: it is being terminated (phase Terminating); nothing was written there"
            ));
        }
        let skipped = match skipped.len() {
            0 => String::new(),
            n => format!("{n} skipped, "),
        };
        crate::trace::note(format!(
            "{created} created or configured, {unchanged} unchanged, {skipped}{} failed",
            failures.len()
        ));
        if !failures.is_empty() {
            bail!(
                "secret/{} failed in {} namespace(s): {}; the others are done, re-run to retry",
                self.settings.spec.name,
                failures.len(),
                failures.join(", ")
            );
        }
        Ok(())
    }

    /// The create in one namespace; whether it wrote the secret.
    pub async fn create_in(&mut self, target: &Target) -> anyhow::Result<bool> {
        let settings = self.settings;
        // Fetch phase: everything that can fail before a credential exists.
        let accounts: Api<ServiceAccount> =
            Api::namespaced(target.client.clone(), &target.namespace);
        for account in &settings.service_accounts {
            accounts
                .get(account)
                .await
                .map_err(|e| target.error("get", "serviceaccount", account, e))
                .with_context(|| format!("--service-account {account} cannot be used"))?;
        }
        let secrets: Api<Secret> = Api::namespaced(target.client.clone(), &target.namespace);
        let mut goal = Create {
            run: self,
            target,
            current: None,
            verb: "unchanged",
        };
        let outcome = converge(&mut goal, &secrets, &settings.spec.name, None).await;
        let (written, verb) = match outcome {
            Ok(done) => done,
            // A credential kept for a retry that never came is not left behind.
            Err(e) => return Err(self.discard_pending(e).await),
        };
        let verb = if self.multi {
            format!("{verb} (namespace {})", target.namespace)
        } else {
            verb.to_string()
        };
        let kind_name = format!("secret/{}", settings.spec.name);
        self.reporter
            .object(Shown::Object, &kind_name, &verb, Some(&written))?;
        let secret = &settings.spec.name;
        for name in &settings.service_accounts {
            let change =
                objects::append_pull_secret(&accounts, name, secret, settings.dry_run).await;
            report_account_change(self.reporter, settings, target, name, change)?;
        }
        Ok(!verb.starts_with("unchanged"))
    }

    /// Revokes a credential kept for a retry, when the run fails before using it.
    async fn discard_pending(&mut self, error: anyhow::Error) -> anyhow::Error {
        match self.pending.take() {
            Some((token, _window)) => self.lifecycle.undo(&token, error).await,
            None => error,
        }
    }

    /// Says at the default level what a mint changes about an existing secret's credential.
    fn announce_mint(&self, existing: Option<&Secret>, unrevocable: Option<(String, String)>) {
        let settings = self.settings;
        let name = &settings.spec.name;
        if let Some(current) = existing.filter(|s| manifests::is_managed(s))
            && let Some(old) = manifests::annotation(current, manifests::ANNOTATION_ACCESS)
            && old != settings.spec.access.as_str()
        {
            crate::trace::note(format!(
                "secret/{name}: access {old} -> {}; a new token replaces {}",
                settings.spec.access.as_str(),
                manifests::annotation(current, manifests::ANNOTATION_TOKEN_ID)
                    .unwrap_or("the old one")
            ));
        }
        if let Some((id, other)) = unrevocable {
            crate::trace::warning(format!(
                "secret/{name} holds token {id} of registry {other}; it will be replaced but cannot be revoked with this profile"
            ));
        }
    }

    /// Whether the credential in an up-to-date secret still works for pulling (Docker Registry
    /// v2 authentication with the secret's own credential; no login needed). Only a definite
    /// refusal counts as dead; a registry that cannot be checked leaves the secret as it is.
    async fn still_works(&mut self, secret: &Secret, registry: &str) -> bool {
        let name = &self.settings.spec.name;
        let Some((user, password, _)) = manifests::existing_credential(secret, registry) else {
            return true;
        };
        let id = manifests::annotation(secret, manifests::ANNOTATION_TOKEN_ID).unwrap_or("?");
        let http = self.lifecycle.provider().http().clone();
        let password = SecretString::from(password);
        match v2::check(&http, registry, &user, &password, true).await {
            Ok(_) => true,
            Err(v2::VerifyError::Rejected { status, .. }) => {
                crate::trace::note(format!(
                    "secret/{name}: its token {id} is refused by {registry} (HTTP {status}; revoked?); minting a new one"
                ));
                false
            }
            Err(e) => {
                crate::trace::warning(format!(
                    "cannot check that the token {id} of secret/{name} still works ({e}); left as it is, check later with `kubectl dedicated-registry secret verify {name}`"
                ));
                true
            }
        }
    }

    /// Before a credential exists: the namespace must exist and RBAC must allow the writes
    /// (SelfSubjectAccessReview, as `kubectl auth can-i`), so a write that would be refused
    /// mints nothing. A check the cluster cannot answer (no permission to read namespaces or
    /// to review access) is skipped: the write itself still decides.
    async fn preflight(&self, target: &Target, existing: Option<&Secret>) -> anyhow::Result<()> {
        let namespace = &target.namespace;
        let namespaces: Api<Namespace> = Api::all(target.client.clone());
        let name = &self.settings.spec.name;
        match namespaces.get_metadata_opt(namespace).await {
            Ok(None) => bail!(
                "namespace `{namespace}` does not exist on {}; {}check -n/--namespace and --context (nothing was minted)",
                target.server,
                target.close_namespace_hint().await
            ),
            Ok(Some(ns)) if ns.metadata.deletion_timestamp.is_some() => {
                return Err(cluster::ClusterError::Terminating {
                    verb: write_verb(&existing).into(),
                    resource: "secret".into(),
                    name: name.clone(),
                    namespace: namespace.clone(),
                }
                .into());
            }
            _ => {}
        }
        let mut needed = vec![(write_verb(&existing), "secrets", "secret", name.clone())];
        for account in &self.settings.service_accounts {
            needed.push((
                "update",
                "serviceaccounts",
                "serviceaccount",
                account.clone(),
            ));
        }
        for (verb, resource, kind, object) in needed {
            match access::allowed(&target.client, namespace, verb, resource, Some(&object)).await {
                Ok(true) => {}
                Ok(false) => bail!(
                    "Kubernetes denied {verb} of {kind} `{object}` in namespace `{namespace}`: user `{}` of context `{}` may not {verb} {resource} (checked before minting, nothing was minted); ask a cluster admin for this permission or use another --context",
                    target.user.as_deref().unwrap_or("(none)"),
                    target.context.as_deref().unwrap_or("(none)")
                ),
                Err(e) => crate::trace::log(
                    1,
                    format!("cannot review access for {verb} {resource} ({e}); the write decides"),
                ),
            }
        }
        Ok(())
    }

    /// A credential for this write: the one kept from a conflicted attempt, or a new one,
    /// minted and verified.
    async fn token(&mut self, target: &Target) -> anyhow::Result<(MintedToken, Window)> {
        if let Some(kept) = self.pending.take() {
            return Ok(kept);
        }
        let settings = self.settings;
        let description = super::holders::description(
            &settings.spec,
            target.cluster.as_deref(),
            &target.namespace,
        );
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
}

/// Whether `error` says the namespace is being terminated (found before minting, or the API
/// server refused the create).
fn is_terminating(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        matches!(
            e.downcast_ref::<cluster::ClusterError>(),
            Some(cluster::ClusterError::Terminating { .. })
        )
    })
}

/// Reports what happened to one `--service-account`, or returns the error for its failure.
pub fn report_account_change(
    reporter: &dyn Reporter,
    settings: &CreateSpec,
    target: &Target,
    name: &str,
    change: Result<AccountChange, objects::AccountError>,
) -> anyhow::Result<()> {
    let secret = &settings.spec.name;
    let kind_name = format!("serviceaccount/{name}");
    match change {
        Ok(AccountChange::Unchanged) => {
            reporter.object(Shown::Account, &kind_name, "unchanged", None)
        }
        Ok(AccountChange::Configured) => reporter.object(
            Shown::Account,
            &kind_name,
            if settings.dry_run {
                "configured (server dry run)"
            } else {
                "configured"
            },
            None,
        ),
        Err(objects::AccountError { verb, error }) => {
            let forbidden = cluster::is_forbidden(&error);
            let failure = target.error(verb, "serviceaccount", name, error);
            if verb == "get" {
                return Err(failure.into());
            }
            // Re-running helps after a transient failure, not after a refusal.
            let next = if forbidden {
                "ask for that permission, then re-run"
            } else {
                "re-run the command to retry"
            };
            Err(anyhow::Error::new(failure).context(format!(
                "secret/{secret} is in place but serviceaccount/{name} was not updated; {next}"
            )))
        }
    }
}

/// The credential of the write in flight: minted (or kept) for it, with the one it replaces.
struct Current {
    token: MintedToken,
    window: Window,
    revoke: Option<String>,
}

/// The goal of a one-namespace create.
struct Create<'g, 'r, 's> {
    run: &'g mut Single<'r, 's>,
    target: &'g Target,
    current: Option<Current>,
    verb: &'static str,
}

impl Create<'_, '_, '_> {
    fn name(&self) -> &str {
        &self.run.settings.spec.name
    }

    fn username(&mut self) -> String {
        self.run.lifecycle.provider().username().to_string()
    }

    /// The decision, with an up-to-date secret whose credential the registry refuses treated
    /// as needing a new one (idempotent means "ends in a working state").
    async fn decision(&mut self, existing: Option<&Secret>) -> anyhow::Result<Decision> {
        let settings = self.run.settings;
        let registry = self.run.registry();
        let username = self.username();
        let wanted = Wanted {
            registry: &registry,
            username: &username,
            access: settings.spec.access,
            email: settings.spec.docker_email.as_deref(),
            rotate: settings.rotate,
            overwrite: settings.overwrite,
        };
        let mut decision = decide(existing, &wanted);
        if decision.needs_credential()
            && let Some(current) = existing.filter(|s| manifests::is_managed(s))
            && let Some(problem) = super::kubelet::problem(current, &registry)
        {
            crate::trace::note(format!(
                "secret/{}: {problem}; it is replaced with a working one",
                settings.spec.name
            ));
        }
        if let (Decision::Unchanged, Some(current)) = (&decision, existing)
            && !settings.dry_run
            && settings.verify != Verification::Skip
            && !self.run.still_works(current, &registry).await
        {
            decision = Decision::Mint {
                revoke: None,
                unrevocable: None,
            };
        }
        if !decision.needs_credential()
            && let Some((token, _window)) = self.run.pending.take()
        {
            // The concurrent writer left nothing for the kept credential to do.
            self.run.lifecycle.revoke(&token.id).await?;
        }
        Ok(decision)
    }

    /// A `Mint` decision: the placeholder for a server dry run, else a credential.
    async fn mint(
        &mut self,
        existing: Option<&Secret>,
        revoke: Option<String>,
    ) -> anyhow::Result<Secret> {
        let settings = self.run.settings;
        let target = self.target;
        let registry = self.run.registry();
        let username = self.username();
        self.verb = with_dry_run(
            if existing.is_some() {
                "configured"
            } else {
                "created"
            },
            settings.dry_run,
        );
        if settings.dry_run {
            // Validated by the API server with the placeholder; nothing is minted.
            return Ok(placeholder_secret(
                settings,
                &registry,
                &username,
                &target.namespace,
            ));
        }
        if self.run.pending.is_none() {
            self.run.preflight(target, existing).await?;
        }
        let (token, window) = self.run.token(target).await?;
        let cancel = self.run.lifecycle.provider().cancel().clone();
        if cancel.is_cancelled() {
            let stopped = anyhow::anyhow!(cancel.message());
            return Err(self.run.lifecycle.undo(&token, stopped).await);
        }
        let desired = pull_secret(
            settings,
            &registry,
            token.username,
            &target.namespace,
            token.token.expose_secret(),
            &token.id,
        );
        self.current = Some(Current {
            token,
            window,
            revoke,
        });
        Ok(desired)
    }
}

impl Goal for Create<'_, '_, '_> {
    type Output = (Secret, &'static str);
    type Error = anyhow::Error;

    fn dry_run(&self) -> bool {
        self.run.settings.dry_run
    }

    fn stopped(&mut self) -> Option<anyhow::Error> {
        let cancel = self.run.lifecycle.provider().cancel().clone();
        cancel.is_cancelled().then(|| {
            anyhow::anyhow!(
                "{}; secret/{} was not changed",
                cancel.message(),
                self.name()
            )
        })
    }

    fn read(
        &mut self,
        read: Result<Option<Secret>, kube::Error>,
    ) -> Result<Option<Secret>, anyhow::Error> {
        read.map_err(|e| self.target.error("get", "secret", self.name(), e).into())
    }

    async fn decide(
        &mut self,
        existing: Option<&Secret>,
        _last: bool,
    ) -> anyhow::Result<Step<Self::Output>> {
        let settings = self.run.settings;
        let namespace = &self.target.namespace;
        match self.decision(existing).await? {
            Decision::RefuseUnmanaged => {
                let registry = self.run.registry();
                let broken = existing
                    .and_then(|s| super::kubelet::problem(s, &registry))
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default();
                bail!(
                    "secret `{namespace}/{}` already exists and is not managed by kubectl-dedicated-registry{broken}; pass --overwrite to replace it, or choose another name",
                    self.name()
                )
            }
            Decision::Forbidden(reason) => bail!("{reason}"),
            Decision::Unchanged => Ok(Step::Done((
                existing.cloned().expect("an unchanged secret exists"),
                "unchanged",
            ))),
            Decision::Rewrite {
                token,
                token_id,
                shared,
            } => {
                let registry = self.run.registry();
                let username = self.username();
                let mut desired = pull_secret(
                    settings,
                    &registry,
                    &username,
                    namespace,
                    token.expose_secret(),
                    &token_id,
                );
                if shared {
                    manifests::mark_shared(&mut desired);
                }
                self.verb = with_dry_run("configured", settings.dry_run);
                Ok(Step::Write(Box::new(desired)))
            }
            Decision::Mint {
                revoke,
                unrevocable,
            } => {
                self.run.announce_mint(existing, unrevocable);
                Ok(Step::Write(Box::new(self.mint(existing, revoke).await?)))
            }
        }
    }

    async fn landed(
        &mut self,
        written: Secret,
        existing: Option<&Secret>,
        recovered: bool,
    ) -> anyhow::Result<Self::Output> {
        let name = self.name().to_string();
        if recovered {
            crate::trace::warning(format!(
                "the {} of secret/{name} reported an error, but the secret holds the new token: it was written",
                write_verb(&existing)
            ));
        }
        let Some(Current {
            token,
            window,
            revoke,
        }) = self.current.take()
        else {
            return Ok((written, self.verb));
        };
        // The new credential is in place. The one it replaced is revoked while the window is
        // still open, so a signal cannot leave it live unreported.
        if let Some(old) = revoke.filter(|old| *old != token.id) {
            self.revoke_replaced(existing, &old).await;
        }
        drop(window);
        let cancel = self.run.lifecycle.provider().cancel().clone();
        if cancel.is_cancelled() {
            bail!(
                "{} after secret/{name} was written with the new token {}; the remaining steps were skipped, re-run to finish",
                cancel.message(),
                token.id
            );
        }
        Ok((written, self.verb))
    }

    async fn conflicted(&mut self) {
        if let Some(current) = self.current.take() {
            self.run.pending = Some((current.token, current.window));
        }
    }

    async fn unwritable(&mut self, why: String) -> anyhow::Error {
        let error = anyhow::anyhow!(why);
        match self.current.take() {
            Some(current) => self.run.lifecycle.undo(&current.token, error).await,
            None => error,
        }
    }

    async fn failed(
        &mut self,
        failure: WriteFailure,
        existing: Option<&Secret>,
        known: bool,
    ) -> anyhow::Error {
        let name = self.name().to_string();
        let verb = write_verb(&existing);
        let lost = failure.original_lost;
        let error = anyhow::Error::new(self.target.error(verb, "secret", &name, failure.error));
        let Some(current) = self.current.take() else {
            return error;
        };
        let error = if lost {
            error.context(format!(
                "secret/{name} was deleted to change its type and could NOT be restored; re-run the command to create it"
            ))
        } else {
            error
        };
        let token = &current.token;
        if !known {
            return error.context(format!(
                "it is unknown whether secret/{name} was written; the new token {id} was NOT revoked: check with `kubectl get secret {name}` and run `kubectl dedicated-registry token revoke {id}` if the secret does not use it",
                id = token.id
            ));
        }
        if lost {
            self.run.lifecycle.undo_changed(token, error).await
        } else {
            self.run.lifecycle.undo(token, error).await
        }
    }
}

impl Create<'_, '_, '_> {
    /// Revokes the credential the write replaced, after checking it is that secret's own (the
    /// annotation naming it can be edited by anyone who can edit the secret).
    async fn revoke_replaced(&mut self, existing: Option<&Secret>, old: &str) {
        let name = self.name().to_string();
        let target = self.target;
        if let Some(existing) = existing {
            let at = format!("{}/{name}", target.namespace);
            if !super::holders::last_holder(&target.client, existing, old, &at).await {
                return;
            }
        }
        let registry = self.run.registry();
        let recorded = super::holders::recorded(
            old,
            existing,
            &registry,
            target.cluster.as_deref(),
            &target.namespace,
            &name,
        );
        super::holders::revoke_replaced(&mut self.run.lifecycle, &recorded).await;
    }
}

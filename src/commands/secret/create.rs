//! `secret create`: fetch → decide ([`super::plan`]) → act, per namespace.
//!
//! It reads the existing Secret, decides whether a token must be minted, mints only then, and
//! writes with optimistic concurrency (POST for a new object, PUT with `resourceVersion` for an
//! existing one), so a concurrent writer causes a fresh decision instead of a silent overwrite.
//! A token minted for a write that then fails is revoked before exiting.

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::Api;
use secrecy::{ExposeSecret as _, SecretString};

use super::fleet::Fleet;
use super::plan::{Plan, Wanted, plan};
use super::write::Write;
use crate::cli::settings::{CreateSettings, FleetScope, Scope};
use crate::cli::{DryRun, OutputFormat};
use crate::cluster::objects::{self, AccountChange, MAX_ATTEMPTS};
use crate::cluster::{self, Target};
use crate::commands::Ctx;
use crate::interrupt::{self, Window};
use crate::lifecycle::{TokenLifecycle, Verification};
use crate::manifests::{self, PullSecretSpec};
use crate::output;
use crate::registry::{MintedToken, v2};
use crate::session::Session;
use crate::store::Profile;

/// `secret create`.
pub async fn create(ctx: &Ctx, settings: CreateSettings) -> anyhow::Result<()> {
    let profile = ctx.require_profile()?;
    let resolved = cluster::resolve(&ctx.global.kube).await?;
    manifests::validate_namespace(&resolved.namespace)?;
    super::say_target(
        &resolved,
        match &settings.scope {
            Scope::Fleet(fleet) => Some(fleet),
            Scope::One => None,
        },
    );
    if settings.dry_run == DryRun::Client {
        return client_dry_run(&settings, &profile, &resolved.namespace);
    }
    let target = resolved.connect()?;
    let mut session = Session::new(ctx.profile_name(), profile, ctx.store.clone())?;
    match &settings.scope {
        Scope::Fleet(fleet) if !fleet.per_namespace => {
            let result = Fleet::new(&settings, &target, &session)
                .run(Some(fleet), &mut session)
                .await;
            if !fleet.watch || crate::interrupt::interrupted() {
                return result;
            }
            if let Err(e) = result {
                output::info(format!("error: {e:#}"));
            }
            // After the first pass, a rotation is done: the watch only keeps things as they are.
            let steady = CreateSettings {
                rotate: false,
                ..settings.clone()
            };
            let run = Fleet::new(&steady, &target, &session);
            super::watch::watch(&run, fleet, &mut session).await
        }
        Scope::One if settings.reuse => {
            Fleet::new(&settings, &target, &session)
                .run(None, &mut session)
                .await
        }
        scope => {
            let mut run = Run {
                settings: &settings,
                lifecycle: TokenLifecycle::new(&mut session),
                multi: false,
                pending: None,
            };
            match scope {
                Scope::Fleet(fleet) => run.create_everywhere(&target, fleet).await,
                Scope::One => run.create_in(&target).await.map(drop),
            }
        }
    }
}

/// `--dry-run=client`: the object with a placeholder, no request at all.
fn client_dry_run(
    settings: &CreateSettings,
    profile: &Profile,
    namespace: &str,
) -> anyhow::Result<()> {
    let secret = placeholder_secret(settings, &profile.registry, namespace);
    // The placeholder is no secret, so the object is printed as is.
    print_result(
        &secret,
        "created (dry run)",
        settings,
        true,
        &profile.registry,
    )?;
    for account in &settings.service_accounts {
        report_line(
            settings,
            format!("serviceaccount/{account} configured (dry run)"),
        )?;
    }
    Ok(())
}

/// The Secret a dry run shows: the placeholder where the token would be.
pub(super) fn placeholder_secret(
    settings: &CreateSettings,
    registry: &str,
    namespace: &str,
) -> Secret {
    pull_secret(
        settings,
        registry,
        namespace,
        manifests::PLACEHOLDER_TOKEN,
        "",
    )
}

pub(super) fn pull_secret(
    settings: &CreateSettings,
    registry: &str,
    namespace: &str,
    token: &str,
    token_id: &str,
) -> Secret {
    manifests::pull_secret(
        &settings.spec.name,
        namespace,
        &PullSecretSpec {
            registry,
            token,
            token_id,
            email: settings.spec.email(),
            readwrite: settings.spec.access == crate::registry::Access::ReadWrite,
        },
    )
}

/// Like kubectl, one `kind/name verb` line per object on stdout, unless stdout carries `-o`.
fn report_line(settings: &CreateSettings, line: String) -> anyhow::Result<()> {
    if settings.output.is_some() {
        output::info(line);
        Ok(())
    } else {
        Ok(output::data(&line)?)
    }
}

/// Prints the outcome: `secret/NAME verb`, `secret/NAME` for `-o name`, or the object, whose
/// credential is redacted unless `--show-token` (or it is only the dry-run placeholder).
fn print_result(
    secret: &Secret,
    verb: &str,
    settings: &CreateSettings,
    show_token: bool,
    registry: &str,
) -> anyhow::Result<()> {
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    let format = match settings.output.map(OutputFormat::object_format) {
        None => return Ok(output::data(&format!("secret/{name} {verb}"))?),
        Some(None) => return Ok(output::data(&format!("secret/{name}"))?),
        Some(Some(format)) => format,
    };
    let is_placeholder = manifests::existing_credential(secret, registry)
        .is_some_and(|(_, password, _)| password == manifests::PLACEHOLDER_TOKEN);
    let mut shown = if show_token || is_placeholder {
        secret.clone()
    } else {
        output::warning(
            "the credential was left out of the printed Secret (no `data`), so applying it cannot replace a working one; add --show-token to print it",
        );
        manifests::redacted(secret)
    };
    shown.metadata.managed_fields = None;
    Ok(output::data(&output::render(&shown, format)?)?)
}

/// One `secret create` run: its settings and the token lifecycle it shares across namespaces.
pub(super) struct Run<'r, 's> {
    pub(super) settings: &'r CreateSettings,
    pub(super) lifecycle: TokenLifecycle<'s>,
    pub(super) multi: bool,
    /// A token minted for a write that lost to a concurrent writer: reused by the next attempt
    /// if it still needs one (a contended write mints once), revoked otherwise.
    pub(super) pending: Option<(MintedToken, Window)>,
}

/// What one attempt of the write loop ended in.
pub(super) enum Attempt {
    /// Done: the object as stored (or as the server would store it) and the verb to print.
    Done(Box<Secret>, &'static str),
    /// A concurrent writer changed the secret: decide again on fresh state.
    Retry,
}

impl Run<'_, '_> {
    pub(super) fn registry(&mut self) -> String {
        self.lifecycle.session().profile().registry.clone()
    }

    /// `-A|-l --token-per-namespace`: every selected namespace with its own token, one after
    /// the other; a failure in one namespace does not stop the others.
    async fn create_everywhere(
        &mut self,
        target: &Target,
        fleet: &FleetScope,
    ) -> anyhow::Result<()> {
        let names = super::fleet::select(target, fleet).await?;
        self.multi = true;
        let mut failures = Vec::new();
        let (mut created, mut unchanged) = (0, 0);
        for namespace in names {
            match self.create_in(&target.in_namespace(&namespace)).await {
                Ok(true) => created += 1,
                Ok(false) => unchanged += 1,
                Err(e) => {
                    output::info(format!("namespace {namespace} failed: {e:#}"));
                    failures.push(namespace);
                }
            }
        }
        output::info(format!(
            "{created} created or configured, {unchanged} unchanged, {} failed",
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

    /// `secret create` in one namespace; whether it wrote the secret.
    async fn create_in(&mut self, target: &Target) -> anyhow::Result<bool> {
        let settings = self.settings;
        // Fetch phase: everything that can fail before a token exists.
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
        let (written, verb) = match self.converge(target, &secrets).await {
            Ok(done) => done,
            // A token kept for a retry that never came is not left behind.
            Err(e) => return Err(self.discard_pending(e).await),
        };
        let verb = if self.multi {
            format!("{verb} (namespace {})", target.namespace)
        } else {
            verb.to_string()
        };
        let registry = self.registry();
        print_result(&written, &verb, settings, settings.show_token, &registry)?;
        self.attach_to_service_accounts(target, &accounts).await?;
        Ok(!verb.starts_with("unchanged"))
    }

    /// Decides and writes until the secret is as wanted or a failure is final.
    async fn converge(
        &mut self,
        target: &Target,
        secrets: &Api<Secret>,
    ) -> anyhow::Result<(Secret, &'static str)> {
        let name = &self.settings.spec.name;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if interrupt::interrupted() {
                bail!("{}; secret/{name} was not changed", interrupt::message());
            }
            match self
                .attempt(target, secrets, attempt == MAX_ATTEMPTS)
                .await?
            {
                Attempt::Done(secret, verb) => return Ok((*secret, verb)),
                Attempt::Retry => continue,
            }
        }
    }

    /// Reads the secret, decides, and carries the decision out once.
    async fn attempt(
        &mut self,
        target: &Target,
        secrets: &Api<Secret>,
        last: bool,
    ) -> anyhow::Result<Attempt> {
        let settings = self.settings;
        let name = &settings.spec.name;
        let registry = self.registry();
        let existing = secrets
            .get_opt(name)
            .await
            .map_err(|e| target.error("get", "secret", name, e))?;
        let wanted = Wanted {
            registry: &registry,
            access: settings.spec.access,
            email: settings.spec.docker_email.as_deref(),
            rotate: settings.rotate,
            overwrite: settings.overwrite,
        };
        let dry_run = settings.dry_run == DryRun::Server;
        let mut plan = plan(existing.as_ref(), &wanted);
        if let (Plan::Unchanged, Some(current)) = (&plan, &existing)
            && !dry_run
            && settings.verify != Verification::Skip
            && !self.still_works(current, &registry).await
        {
            // Idempotent means "ends in a working state": a dead token is replaced.
            plan = Plan::Mint {
                revoke: None,
                unrevocable: None,
            };
        }
        if !matches!(plan, Plan::Mint { .. })
            && let Some((token, _window)) = self.pending.take()
        {
            // The concurrent writer left nothing for the kept token to do.
            self.lifecycle.revoke(&token.id).await?;
        }
        match plan {
            Plan::RefuseUnmanaged => bail!(
                "secret `{}/{name}` already exists and is not managed by kubectl-dedicated-registry; pass --overwrite to replace it, or choose another name",
                target.namespace
            ),
            Plan::Unchanged => Ok(Attempt::Done(
                Box::new(existing.expect("an unchanged secret exists")),
                "unchanged",
            )),
            Plan::Rewrite { token, token_id } => {
                let existing = existing.expect("a rewritten secret exists");
                let mut desired = pull_secret(
                    settings,
                    &registry,
                    &target.namespace,
                    token.expose_secret(),
                    &token_id,
                );
                if manifests::is_shared(&existing) {
                    manifests::mark_shared(&mut desired);
                }
                let verb = with_dry_run("configured", dry_run);
                match objects::write_secret(secrets, Some(&existing), &desired, dry_run).await {
                    Ok(s) => Ok(Attempt::Done(Box::new(s), verb)),
                    Err(f) if cluster::is_conflict(&f.error) && !last => Ok(Attempt::Retry),
                    Err(f) => Err(target.error("update", "secret", name, f.error).into()),
                }
            }
            Plan::Mint {
                revoke,
                unrevocable,
            } => {
                self.announce_mint(existing.as_ref(), unrevocable);
                let write = Write {
                    target,
                    secrets,
                    existing: existing.as_ref(),
                    revoke,
                    last,
                };
                self.mint(write).await
            }
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
            output::info(format!(
                "secret/{name}: access {old} -> {}; a new token replaces {}",
                settings.spec.access.as_str(),
                manifests::annotation(current, manifests::ANNOTATION_TOKEN_ID)
                    .unwrap_or("the old one")
            ));
        }
        if let Some((id, other)) = unrevocable {
            output::warning(format!(
                "secret/{name} holds token {id} of registry {other}; it will be replaced but cannot be revoked with this profile"
            ));
        }
    }

    /// Whether the token in an up-to-date secret still works for pulling (Docker Registry v2
    /// authentication with the secret's own credential; no login needed). Only a definite
    /// refusal counts as dead; a registry that cannot be checked leaves the secret as it is.
    async fn still_works(&mut self, secret: &Secret, registry: &str) -> bool {
        let name = &self.settings.spec.name;
        let Some((user, password, _)) = manifests::existing_credential(secret, registry) else {
            return true;
        };
        let id = manifests::annotation(secret, manifests::ANNOTATION_TOKEN_ID).unwrap_or("?");
        let http = self.lifecycle.session().http().clone();
        let password = SecretString::from(password);
        match v2::check(&http, registry, &user, &password, true).await {
            Ok(_) => true,
            Err(v2::VerifyError::Rejected { status, .. }) => {
                output::info(format!(
                    "secret/{name}: its token {id} is refused by {registry} (HTTP {status}; revoked?); minting a new one"
                ));
                false
            }
            Err(e) => {
                output::warning(format!(
                    "cannot check that the token {id} of secret/{name} still works ({e}); left as it is, check later with `kubectl dedicated-registry secret verify {name}`"
                ));
                true
            }
        }
    }

    /// Appends the secret to each `--service-account`'s `imagePullSecrets`.
    async fn attach_to_service_accounts(
        &self,
        target: &Target,
        accounts: &Api<ServiceAccount>,
    ) -> anyhow::Result<()> {
        let settings = self.settings;
        let secret = &settings.spec.name;
        let dry_run = settings.dry_run == DryRun::Server;
        for name in &settings.service_accounts {
            let change = objects::append_pull_secret(accounts, name, secret, dry_run).await;
            report_account_change(settings, target, name, change, dry_run)?;
        }
        Ok(())
    }
}

/// Prints what happened to one `--service-account`, or the error for its failure.
pub(super) fn report_account_change(
    settings: &CreateSettings,
    target: &Target,
    name: &str,
    change: Result<AccountChange, objects::AccountError>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let secret = &settings.spec.name;
    match change {
        Ok(AccountChange::Unchanged) => {
            report_line(settings, format!("serviceaccount/{name} unchanged"))
        }
        Ok(AccountChange::Configured) => report_line(
            settings,
            format!(
                "serviceaccount/{name} configured{}",
                if dry_run { " (server dry run)" } else { "" }
            ),
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

/// The verb kubectl prints, marked when it was a server dry run.
pub(super) fn with_dry_run(verb: &'static str, dry_run: bool) -> &'static str {
    match (verb, dry_run) {
        (_, false) => verb,
        ("created", true) => "created (server dry run)",
        (_, true) => "configured (server dry run)",
    }
}

/// `create` or `update`, for messages.
pub(super) fn write_verb<T>(existing: &Option<T>) -> &'static str {
    if existing.is_some() {
        "update"
    } else {
        "create"
    }
}

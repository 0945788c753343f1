//! `secret create`: fetch → decide ([`super::plan`]) → act, per namespace.
//!
//! It reads the existing Secret, decides whether a token must be minted, mints only then, and
//! writes with optimistic concurrency (POST for a new object, PUT with `resourceVersion` for an
//! existing one), so a concurrent writer causes a fresh decision instead of a silent overwrite.
//! A token minted for a write that then fails is revoked before exiting.

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::{Api, ListParams};
use secrecy::ExposeSecret as _;

use super::namespaces;
use super::plan::{Plan, Wanted, plan};
use crate::cli::settings::{CreateSettings, Scope};
use crate::cli::{DryRun, OutputFormat};
use crate::cluster::objects::{self, AccountChange, MAX_ATTEMPTS};
use crate::cluster::{self, Target};
use crate::commands::Ctx;
use crate::interrupt;
use crate::lifecycle::TokenLifecycle;
use crate::manifests::{self, PullSecretSpec};
use crate::output;
use crate::registry::MintedToken;
use crate::session::Session;
use crate::store::Profile;

/// `secret create`.
pub async fn create(ctx: &Ctx, settings: CreateSettings) -> anyhow::Result<()> {
    let profile = ctx.require_profile()?;
    let resolved = cluster::resolve(&ctx.global.kube).await?;
    manifests::validate_namespace(&resolved.namespace)?;
    output::info(format!(
        "Target: context `{}`, cluster `{}`, namespace {}",
        resolved.context.as_deref().unwrap_or("(none)"),
        resolved.cluster.as_deref().unwrap_or("(none)"),
        match settings.scope {
            Scope::All { .. } => "all (except kube-* and --exclude)".to_string(),
            Scope::One => format!("`{}`", resolved.namespace),
        }
    ));
    if settings.dry_run == DryRun::Client {
        return client_dry_run(&settings, &profile, &resolved.namespace);
    }
    let target = resolved.connect()?;
    let mut session = Session::new(ctx.profile_name(), profile, ctx.store.clone())?;
    let mut run = Run {
        settings: &settings,
        lifecycle: TokenLifecycle::new(&mut session),
        multi: false,
    };
    match &settings.scope {
        Scope::One => run.create_in(&target).await,
        Scope::All { exclude } => run.create_everywhere(&target, exclude).await,
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
fn placeholder_secret(settings: &CreateSettings, registry: &str, namespace: &str) -> Secret {
    pull_secret(
        settings,
        registry,
        namespace,
        manifests::PLACEHOLDER_TOKEN,
        "",
    )
}

fn pull_secret(
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
        manifests::redacted(secret, registry, settings.spec.email())
    };
    shown.metadata.managed_fields = None;
    Ok(output::data(&output::render(&shown, format)?)?)
}

/// One `secret create` run: its settings and the token lifecycle it shares across namespaces.
struct Run<'r, 's> {
    settings: &'r CreateSettings,
    lifecycle: TokenLifecycle<'s>,
    multi: bool,
}

/// What one attempt of the write loop ended in.
enum Attempt {
    /// Done: the object as stored (or as the server would store it) and the verb to print.
    Done(Box<Secret>, &'static str),
    /// A concurrent writer changed the secret: decide again on fresh state.
    Retry,
}

impl Run<'_, '_> {
    fn registry(&mut self) -> String {
        self.lifecycle.session().profile().registry.clone()
    }

    /// `-A`: every namespace but the excluded ones, each with its own secret and token; a
    /// failure in one namespace does not stop the others.
    async fn create_everywhere(
        &mut self,
        target: &Target,
        exclude: &[String],
    ) -> anyhow::Result<()> {
        let all: Api<Namespace> = Api::all(target.client.clone());
        let list = all
            .list(&ListParams::default())
            .await
            .map_err(|e| target.error("list", "namespaces", "*", e))?;
        let (names, patterns) = namespaces::select(
            list.items.into_iter().filter_map(|n| n.metadata.name),
            exclude,
        );
        if names.is_empty() {
            bail!("no namespace left after excluding {}", patterns.join(", "));
        }
        self.multi = true;
        let mut failures = Vec::new();
        for namespace in names {
            if let Err(e) = self.create_in(&target.in_namespace(&namespace)).await {
                output::info(format!("namespace {namespace} failed: {e:#}"));
                failures.push(namespace);
            }
        }
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

    /// `secret create` in one namespace.
    async fn create_in(&mut self, target: &Target) -> anyhow::Result<()> {
        let settings = self.settings;
        let name = &settings.spec.name;
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
        let mut attempt = 0;
        let (written, verb) = loop {
            attempt += 1;
            if interrupt::interrupted() {
                bail!("interrupted by Ctrl-C; secret/{name} was not changed");
            }
            match self
                .attempt(target, &secrets, attempt == MAX_ATTEMPTS)
                .await?
            {
                Attempt::Done(secret, verb) => break (*secret, verb),
                Attempt::Retry => continue,
            }
        };
        let verb = if self.multi {
            format!("{verb} (namespace {})", target.namespace)
        } else {
            verb.to_string()
        };
        let registry = self.registry();
        print_result(&written, &verb, settings, settings.show_token, &registry)?;
        self.attach_to_service_accounts(target, &accounts).await
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
        match plan(existing.as_ref(), &wanted) {
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
                let desired = pull_secret(
                    settings,
                    &registry,
                    &target.namespace,
                    token.expose_secret(),
                    &token_id,
                );
                let verb = with_dry_run("configured", dry_run);
                match objects::write_secret(secrets, Some(&existing), &desired, dry_run).await {
                    Ok(s) => Ok(Attempt::Done(Box::new(s), verb)),
                    Err(e) if cluster::is_conflict(&e) && !last => Ok(Attempt::Retry),
                    Err(e) => Err(target.error("update", "secret", name, e).into()),
                }
            }
            Plan::Mint {
                revoke,
                unrevocable,
            } => {
                if let Some((id, other)) = unrevocable {
                    output::warning(format!(
                        "secret/{name} holds token {id} of registry {other}; it will be replaced but cannot be revoked with this profile"
                    ));
                }
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

    /// Carries out a `Mint` plan: a server dry run with the placeholder, or a real mint.
    async fn mint(&mut self, write: Write<'_>) -> anyhow::Result<Attempt> {
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
                .map_err(|e| {
                    target
                        .error(write_verb(&existing), "secret", name, e)
                        .into()
                });
        }
        Ok(match self.mint_and_write(write).await? {
            Some(secret) => Attempt::Done(Box::new(secret), verb),
            None => Attempt::Retry,
        })
    }

    /// Mints a token, verifies it, writes it, and revokes the token it replaced; undoes the mint
    /// when the write fails. `None` when a concurrent writer got in first (the new token was
    /// revoked; decide again).
    async fn mint_and_write(&mut self, write: Write<'_>) -> anyhow::Result<Option<Secret>> {
        let settings = self.settings;
        let name = &settings.spec.name;
        let target = write.target;
        let description =
            super::description(&settings.spec, target.cluster.as_deref(), &target.namespace);
        let (token, window) = self
            .lifecycle
            .mint_in_window(settings.spec.access, &description)
            .await?;
        if settings.verify
            && let Err(e) = self.lifecycle.verify(&token).await
        {
            return Err(self.lifecycle.undo(&token, e.into()).await);
        }
        if interrupt::interrupted() {
            return Err(self
                .lifecycle
                .undo(&token, anyhow::anyhow!("interrupted by Ctrl-C"))
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
        let landed = match objects::write_secret(write.secrets, write.existing, &desired, false)
            .await
        {
            Ok(s) => s,
            Err(e) if cluster::is_conflict(&e) && !write.last => {
                // Someone else wrote meanwhile: undo and decide again on fresh state.
                output::log(1, format!("secret/{name} changed concurrently; retrying"));
                self.lifecycle.revoke(&token.id).await.map_err(|revoke_error| {
                        anyhow::Error::new(revoke_error).context(format!(
                            "secret/{name} changed concurrently and the new token {id} could NOT be revoked; revoke it with `kubectl dedicated-registry token revoke {id}`",
                            id = token.id
                        ))
                    })?;
                return Ok(None);
            }
            Err(e) => self.failed_write(&write, &token, e).await?,
        };
        // The new token is in place. The one it replaced is revoked while the window is still
        // open, so Ctrl-C cannot leave it live unreported.
        if let Some(old) = write.revoke
            && old != token.id
            && let Err(e) = self.lifecycle.revoke(&old).await
        {
            output::warning(format!(
                "the replaced token {old} could not be revoked ({e:#}); revoke it with `kubectl dedicated-registry token revoke {old}`"
            ));
        }
        drop(window);
        if interrupt::interrupted() {
            bail!(
                "interrupted by Ctrl-C after secret/{name} was written with the new token {}; the remaining steps were skipped, re-run to finish",
                token.id
            );
        }
        Ok(Some(landed))
    }

    /// A write of a new token failed. When the failure is certain, the token is revoked. When
    /// the server may have stored the write anyway (the answer was lost, or a server-side
    /// timeout), the secret is read back first: a secret that holds the new token was written.
    async fn failed_write(
        &mut self,
        write: &Write<'_>,
        token: &MintedToken,
        error: kube::Error,
    ) -> anyhow::Result<Secret> {
        let name = &self.settings.spec.name;
        let verb = write_verb(&write.existing);
        let uncertain = objects::is_uncertain(&error);
        let failure = anyhow::Error::new(write.target.error(verb, "secret", name, error));
        if !uncertain {
            return Err(self.lifecycle.undo(token, failure).await);
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
            Some(_) => Err(self.lifecycle.undo(token, failure).await),
            None => Err(failure.context(format!(
                "it is unknown whether secret/{name} was written; the new token {id} was NOT revoked: check with `kubectl get secret {name}` and run `kubectl dedicated-registry token revoke {id}` if the secret does not use it",
                id = token.id
            ))),
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
            match objects::append_pull_secret(accounts, name, secret, dry_run).await {
                Ok(AccountChange::Unchanged) => {
                    report_line(settings, format!("serviceaccount/{name} unchanged"))?
                }
                Ok(AccountChange::Configured) => report_line(
                    settings,
                    format!(
                        "serviceaccount/{name} configured{}",
                        if dry_run { " (server dry run)" } else { "" }
                    ),
                )?,
                Err(objects::AccountError { verb, error }) => {
                    let failure = target.error(verb, "serviceaccount", name, error);
                    if verb == "get" {
                        return Err(failure.into());
                    }
                    return Err(anyhow::Error::new(failure).context(format!(
                        "secret/{secret} is in place but serviceaccount/{name} was not updated; re-run the command to retry"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// One write of a freshly minted token.
struct Write<'a> {
    target: &'a Target,
    secrets: &'a Api<Secret>,
    existing: Option<&'a Secret>,
    /// The token to revoke once the write succeeded.
    revoke: Option<String>,
    /// Whether this is the last attempt (a conflict is then final).
    last: bool,
}

/// The verb kubectl prints, marked when it was a server dry run.
fn with_dry_run(verb: &'static str, dry_run: bool) -> &'static str {
    match (verb, dry_run) {
        (_, false) => verb,
        ("created", true) => "created (server dry run)",
        (_, true) => "configured (server dry run)",
    }
}

/// `create` or `update`, for messages.
fn write_verb<T>(existing: &Option<T>) -> &'static str {
    if existing.is_some() {
        "update"
    } else {
        "create"
    }
}

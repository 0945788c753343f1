//! `secret create`: the settings become an engine call ([`crate::engine::single`] for a
//! namespace's own credential, [`crate::engine::fleet`] for the cluster's shared one, then
//! the controller's reconciler, [`crate::controller::watch`], with `--watch`), and what the
//! engine reports is printed the kubectl way by [`CliReporter`].

use k8s_openapi::api::core::v1::Secret;

use crate::cli::settings::{CreateSettings, Scope};
use crate::cli::{DryRun, OutputFormat};
use crate::cluster;
use crate::commands::Ctx;
use crate::engine::fleet::Fleet;
use crate::engine::report::{self, Reporter, Shown};
use crate::engine::single::{Single, placeholder_secret};
use crate::manifests;
use crate::output;
use crate::store::Profile;

/// What a stop of an idle watch says (a write or mint in flight says its own).
pub const WATCH_STOPPING: &str = "stopping the watch (no write is cut in half)";

/// `secret create`.
pub async fn create(ctx: &Ctx, settings: CreateSettings) -> anyhow::Result<()> {
    let profile = ctx.require_profile()?;
    let resolved = cluster::resolve(&ctx.global.kube).await?;
    manifests::validate_namespace(&resolved.namespace)?;
    let create = &settings.create;
    super::say_target(
        &resolved,
        match &create.scope {
            Scope::Fleet(fleet) => Some(fleet),
            Scope::One => None,
        },
    );
    let reporter = CliReporter {
        output: settings.output,
        show_token: settings.show_token,
    };
    if settings.dry_run == DryRun::Client {
        return client_dry_run(&settings, &reporter, &profile, &resolved.namespace);
    }
    let target = resolved.connect()?;
    let mut provider = ctx.provider(profile)?;
    let session = &mut *provider;
    match &create.scope {
        Scope::Fleet(fleet) if !fleet.per_namespace => {
            let first = Watching {
                inner: &reporter,
                watch: fleet.watch,
                stamped: false,
            };
            let result = Fleet::new(create, &target, &*session, &first)
                .run(Some(fleet), &mut *session)
                .await
                .and_then(|report| report.summary(true));
            if !fleet.watch || ctx.cancel.is_cancelled() {
                return result;
            }
            if let Err(e) = result {
                output::info(format!("error: {e:#}"));
            }
            // After the first pass, a rotation is done: the watch only keeps things as they are.
            let steady = crate::engine::spec::CreateSpec {
                rotate: false,
                ..create.clone()
            };
            let healing = Watching {
                inner: &reporter,
                watch: true,
                stamped: true,
            };
            let _window = ctx.cancel.window_for(WATCH_STOPPING);
            crate::trace::note(format!(
                "watching namespaces{} and secret/{} everywhere (idle until one changes; what is healed is printed with its time); Ctrl-C or SIGTERM stops",
                fleet
                    .selector
                    .as_deref()
                    .map(|s| format!(" (-l {s})"))
                    .unwrap_or_default(),
                create.spec.name
            ));
            let result = crate::controller::watch(&steady, &target, &mut *session, &healing).await;
            crate::trace::note(format!("{}; stopped watching", ctx.cancel.message()));
            result
        }
        Scope::One if create.reuse => Fleet::new(create, &target, &*session, &reporter)
            .run(None, &mut *session)
            .await
            .and_then(|report| report.summary(true)),
        Scope::Fleet(fleet) => {
            Single::new(create, &mut *session, &reporter)
                .create_everywhere(&target, fleet)
                .await
        }
        Scope::One => Single::new(create, &mut *session, &reporter)
            .create_in(&target)
            .await
            .map(drop),
    }
}

/// `--dry-run=client`: the object with a placeholder, no request at all.
fn client_dry_run(
    settings: &CreateSettings,
    reporter: &CliReporter,
    profile: &Profile,
    namespace: &str,
) -> anyhow::Result<()> {
    let create = &settings.create;
    let username = crate::providers::username_for(profile);
    let secret = placeholder_secret(create, &profile.registry, username, namespace);
    let kind_name = format!("secret/{}", create.spec.name);
    // The placeholder is no secret, so the object is printed as is.
    reporter.object(
        Shown::Object,
        &kind_name,
        "created (dry run)",
        Some(&secret),
    )?;
    for account in &create.service_accounts {
        let kind_name = format!("serviceaccount/{account}");
        reporter.object(Shown::Account, &kind_name, "configured (dry run)", None)?;
    }
    Ok(())
}

/// The reporter of `--watch` (issue 24, friction 8): `unchanged` lines are left out (the
/// summary line counts them), and what the watch heals after its first pass carries the time it
/// was done (`... at 2026-12-07T18:01:02Z`). Without `--watch` it passes everything through.
struct Watching<'r> {
    inner: &'r CliReporter,
    watch: bool,
    stamped: bool,
}

impl Reporter for Watching<'_> {
    fn object(
        &self,
        shown: Shown,
        kind_name: &str,
        verb: &str,
        object: Option<&Secret>,
    ) -> anyhow::Result<()> {
        if !self.watch {
            return self.inner.object(shown, kind_name, verb, object);
        }
        if verb.starts_with("unchanged") {
            return Ok(());
        }
        if !self.stamped {
            return self.inner.object(shown, kind_name, verb, object);
        }
        let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
        self.inner
            .object(shown, kind_name, &format!("{verb} at {now}"), object)
    }

    fn progress(&self, total: usize, kind: &str) -> Box<dyn report::Progress> {
        self.inner.progress(total, kind)
    }
}

/// Prints what the engine reports as kubectl does: `kind/name verb` lines on stdout (only
/// `kind/name` with `-o name`), the object itself for `-o yaml|json` (its credential redacted
/// unless `--show-token`), ServiceAccount lines on stderr when stdout carries `-o`.
pub(super) struct CliReporter {
    output: Option<OutputFormat>,
    show_token: bool,
}

/// The reporter of commands without `-o`: `kind/name verb` lines.
pub(super) fn lines() -> CliReporter {
    CliReporter {
        output: None,
        show_token: false,
    }
}

impl Reporter for CliReporter {
    fn object(
        &self,
        shown: Shown,
        kind_name: &str,
        verb: &str,
        object: Option<&Secret>,
    ) -> anyhow::Result<()> {
        match (shown, self.output) {
            (_, None) => Ok(output::data(&format!("{kind_name} {verb}"))?),
            (Shown::Account, Some(_)) => {
                output::info(format!("{kind_name} {verb}"));
                Ok(())
            }
            (Shown::Line, Some(_)) => Ok(output::data(kind_name)?),
            (Shown::Object, Some(format)) => match (format.object_format(), object) {
                (Some(format), Some(secret)) => self.print_object(secret, format),
                _ => Ok(output::data(kind_name)?),
            },
        }
    }

    fn progress(&self, total: usize, kind: &str) -> Box<dyn report::Progress> {
        Box::new(output::Progress::start(total, kind))
    }
}

impl CliReporter {
    /// The object, whose credential is redacted unless `--show-token` (or it is only the
    /// dry-run placeholder).
    fn print_object(&self, secret: &Secret, format: output::Format) -> anyhow::Result<()> {
        let is_placeholder = secret_is_placeholder(secret);
        let mut shown = if self.show_token || is_placeholder {
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
}

/// Whether the secret holds only the dry-run placeholder for its registry.
fn secret_is_placeholder(secret: &Secret) -> bool {
    let registry = manifests::annotation(secret, manifests::ANNOTATION_REGISTRY).unwrap_or("");
    manifests::existing_credential(secret, registry)
        .is_some_and(|(_, password, _)| password == manifests::PLACEHOLDER_TOKEN)
}

impl report::Progress for output::Progress {
    fn done(&self, failed: bool) {
        output::Progress::done(self, failed);
    }
}

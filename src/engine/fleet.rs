//! The fan-out (`-A|-l`, and `--reuse` in one namespace): one credential for the cluster,
//! written into every selected namespace, `concurrency` namespaces at a time.
//!
//! 1. **Fetch**, at once: the selected namespaces (one LIST, label selector on the server), the
//!    secrets of that name in the whole cluster (one LIST, field selector; per-namespace reads
//!    when RBAC forbids the cluster-wide list) and the cluster-wide access reviews.
//! 2. **Decide**: [`decide`] per namespace; each distinct credential of an up-to-date secret is
//!    checked once against the registry (v2), and a dead one is replaced.
//! 3. **Credential**: the cluster's shared one, reused when a managed secret already holds one
//!    that still works (no login needed), else minted once, after RBAC said some write may
//!    happen ([`super::grants`], asked while the registry is asked or the login refreshed).
//! 4. **Write**: concurrently, each namespace through the one loop ([`converge`]); a failure
//!    stays in its namespace, a conflict re-decides that namespace on fresh state.
//! 5. **After** ([`Fleet::finish`]): a credential the writes replaced is revoked only when no
//!    managed secret in the cluster holds it any more; one minted for writes that all failed is
//!    revoked; the [`FleetReport`] says how each namespace ended.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::bail;
use futures::{StreamExt as _, stream};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::Api;
use secrecy::{ExposeSecret as _, SecretString};

use super::converge::{Goal, Step, converge};
use super::decide::{Decision, Wanted, decide};
use super::grants;
use super::holders::{abbreviate, token_id};
use super::lifecycle::{Recorded, TokenLifecycle, Verification};
use super::report::{Lines, Reporter, Shown};
use super::single::{
    placeholder_secret, pull_secret, report_account_change, with_dry_run, write_verb,
};
use super::spec::{CreateSpec, FleetScope, Scope};
use crate::cancel::{Cancel, Window};
use crate::cluster::Target;
use crate::cluster::objects::{self, WriteFailure};
use crate::providers::{ErrorKind, Provider};
use crate::registry::{self, MintedToken, v2};
use crate::{manifests, registry::Access};

/// Credential checks against the registry at once (each is two or three requests to it).
const CHECKS_AT_ONCE: usize = 4;

/// The secrets of this name found in the cluster.
pub struct Found {
    /// By namespace: the whole cluster when listing secrets everywhere is allowed, else the
    /// selected namespaces.
    secrets: BTreeMap<String, Secret>,
    /// The cluster-wide access reviews, when they were asked with the fetch.
    everywhere: grants::Everywhere,
}

/// The credential written where a namespace needs the shared one.
pub struct SharedToken {
    /// Its id.
    pub id: String,
    /// The credential.
    pub token: SecretString,
    /// Minted by this run (with its Ctrl-C window), so revoked if no write used it.
    minted: Option<(MintedToken, Window)>,
}

/// How one namespace ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The secret was created.
    Created,
    /// The secret was rewritten.
    Configured,
    /// It was as wanted.
    Unchanged,
    /// It could not be written.
    Failed,
    /// The namespace is being terminated: nothing can be created in it, so nothing was
    /// written and nothing is retried (not a failure).
    Skipped,
    /// The write's answer was lost and the secret could not be read back.
    Unknown,
}

/// One namespace's result.
pub struct Done {
    /// The namespace.
    pub namespace: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it failed, for the summary.
    pub reason: Option<String>,
    /// The credential its secret held before, now replaced (a revocation candidate).
    replaced: Option<Replaced>,
    /// Whether it now holds the shared credential.
    pub holds_shared: bool,
    /// Whether its secret was written (even if a `--service-account` failed afterwards).
    written: bool,
    /// Its lines (the secret's, its ServiceAccounts'), printed in namespace order.
    lines: Vec<(Shown, String, String)>,
    /// How many of its `--service-account`s were patched to reference the secret.
    accounts_configured: usize,
    /// It failed by a decision that stands until something in the namespace changes (a secret
    /// of that name this tool does not manage; RBAC refused its read): `--watch` does not
    /// retry it on a timer (issue 24, N7).
    pub for_good: bool,
}

/// A credential a write replaced, with what is needed to check it before revoking it.
struct Replaced {
    id: String,
    recorded: Recorded,
}

/// How every namespace of a fan-out ended.
pub struct FleetReport {
    /// One per namespace.
    pub done: Vec<Done>,
    /// Whether the run covered a selection (lines and summary name namespaces).
    pub multi: bool,
    /// The secret's name.
    pub name: String,
}

/// One run over many namespaces.
pub struct Fleet<'r> {
    settings: &'r CreateSpec,
    target: &'r Target,
    reporter: &'r dyn Reporter,
    registry: String,
    username: &'static str,
    kind: crate::providers::Kind,
    http: reqwest::Client,
    cancel: Cancel,
    concurrency: usize,
    dry_run: bool,
    /// Whether lines name their namespace (more than one namespace).
    multi: bool,
}

impl<'r> Fleet<'r> {
    /// A run of `settings` on `target`'s cluster, with `provider`'s registry.
    pub fn new(
        settings: &'r CreateSpec,
        target: &'r Target,
        provider: &dyn Provider,
        reporter: &'r dyn Reporter,
    ) -> Self {
        let concurrency = match &settings.scope {
            Scope::Fleet(f) => f.concurrency,
            Scope::One => 1,
        };
        Fleet {
            settings,
            target,
            reporter,
            registry: provider.registry().to_string(),
            username: provider.username(),
            kind: provider.kind(),
            http: provider.http().clone(),
            cancel: provider.cancel().clone(),
            concurrency,
            dry_run: settings.dry_run,
            multi: !matches!(settings.scope, Scope::One),
        }
    }

    /// Runs over the namespaces `fleet` selects, or over the target namespace alone.
    pub async fn run(
        &self,
        fleet: Option<&FleetScope>,
        provider: &mut dyn Provider,
    ) -> anyhow::Result<FleetReport> {
        let Some(fleet) = fleet else {
            let names = vec![self.target.namespace.clone()];
            let (done, shared) = self.pass(names, None, true, provider).await?;
            return Ok(self.finish(done, shared, provider).await);
        };
        // The independent set-up at once: the namespaces, the secrets of this name, and the
        // cluster-wide access reviews (one round trip; the reviews are asked only for a write).
        let target = self.target;
        let reviews = async {
            if self.dry_run {
                grants::Everywhere::default()
            } else {
                grants::Everywhere::ask(target, &self.settings.spec.name).await
            }
        };
        let (selection, secrets, everywhere) = futures::join!(
            super::select::selection(target, fleet),
            super::select::list_named(target, &self.settings.spec.name),
            reviews,
        );
        let super::select::Selection {
            live: names,
            terminating,
        } = selection?;
        let found = match secrets? {
            Some(secrets) => Found {
                secrets,
                everywhere,
            },
            None => Found {
                everywhere,
                ..self.fetch_each(&names).await
            },
        };
        let (mut done, shared) = self.pass_found(names, found, None, true, provider).await?;
        done.extend(terminating.into_iter().map(|namespace| {
            Done::skipped(
                namespace,
                "it is being terminated (phase Terminating)".into(),
            )
        }));
        Ok(self.finish(done, shared, provider).await)
    }

    /// Fetch, decide, get the shared credential if needed (`known`, else reused or minted),
    /// write. `check` checks up-to-date secrets' credentials against the registry.
    pub async fn pass(
        &self,
        names: Vec<String>,
        known: Option<(&str, &SecretString)>,
        check: bool,
        provider: &mut dyn Provider,
    ) -> anyhow::Result<(Vec<Done>, Option<SharedToken>)> {
        let found = match known {
            // The watch's passes over a few namespaces (an event, a retry): one GET each, not
            // a cluster-wide list (issue 24, N7).
            Some(_) if names.len() <= 8 => self.fetch_each(&names).await,
            _ => self.fetch(&names).await?,
        };
        self.pass_found(names, found, known, check, provider).await
    }

    /// [`Self::pass`] on what was already fetched.
    async fn pass_found(
        &self,
        names: Vec<String>,
        found: Found,
        known: Option<(&str, &SecretString)>,
        check: bool,
        provider: &mut dyn Provider,
    ) -> anyhow::Result<(Vec<Done>, Option<SharedToken>)> {
        let mut decisions = self.decide_all(&names, &found, check).await;
        let needed = decisions.values().any(Decision::needs_credential) && !self.dry_run;
        let shared = match known {
            Some((id, token)) if needed && !self.settings.rotate => Some(SharedToken {
                id: id.to_string(),
                token: token.clone(),
                minted: None,
            }),
            _ if needed => {
                self.shared_token(&found, &names, &mut decisions, provider)
                    .await?
            }
            _ => None,
        };
        let progress = self.reporter.progress(names.len(), "namespaces");
        // Namespaces finish in any order; their lines are printed in the order of `names`
        // (sorted), each as soon as every namespace before it has finished.
        let mut waiting: BTreeMap<usize, Vec<(Shown, String, String)>> = BTreeMap::new();
        let mut next = 0;
        let done: Vec<Done> = stream::iter(names.into_iter().enumerate())
            .map(|(index, namespace)| {
                let decision = decisions.remove(&namespace).unwrap_or(Decision::Unchanged);
                let existing = found.secrets.get(&namespace).cloned();
                let progress = &progress;
                let shared = shared.as_ref();
                async move {
                    let done = self.converge(namespace, decision, existing, shared).await;
                    progress.done(matches!(done.outcome, Outcome::Failed | Outcome::Unknown));
                    (index, done)
                }
            })
            .buffer_unordered(self.concurrency)
            .map(|(index, mut done)| {
                waiting.insert(index, std::mem::take(&mut done.lines));
                while let Some(lines) = waiting.remove(&next) {
                    self.print(lines);
                    next += 1;
                }
                done
            })
            .collect()
            .await;
        drop(progress);
        Ok((done, shared))
    }

    /// The secrets of this name: one cluster-wide LIST, or one GET per namespace when RBAC
    /// forbids listing secrets everywhere.
    pub async fn fetch(&self, names: &[String]) -> anyhow::Result<Found> {
        let name = &self.settings.spec.name;
        let secrets =
            super::select::fetch_named(self.target, name, names, self.concurrency).await?;
        Ok(Found {
            secrets,
            everywhere: grants::Everywhere::default(),
        })
    }

    /// The secrets of this name, one GET per namespace.
    async fn fetch_each(&self, names: &[String]) -> Found {
        let name = &self.settings.spec.name;
        let secrets =
            super::select::fetch_each_named(self.target, name, names, self.concurrency).await;
        Found {
            secrets,
            everywhere: grants::Everywhere::default(),
        }
    }

    /// The cluster.
    pub fn target_ref(&self) -> &Target {
        self.target
    }

    /// The client.
    pub fn client(&self) -> kube::Client {
        self.target.client.clone()
    }

    /// The secret's name.
    pub fn secret_name(&self) -> &str {
        &self.settings.spec.name
    }

    /// The cancellation token of the run.
    pub fn cancel(&self) -> &Cancel {
        &self.cancel
    }

    /// Whether `secret` is as wanted (nothing to write).
    pub fn is_wanted(&self, secret: &Secret) -> bool {
        matches!(self.decision(Some(secret)), Decision::Unchanged)
    }

    /// What one namespace needs, from its secret alone.
    fn decision(&self, existing: Option<&Secret>) -> Decision {
        let settings = self.settings;
        let wanted = Wanted {
            registry: &self.registry,
            username: self.username,
            access: settings.spec.access,
            email: settings.spec.docker_email.as_deref(),
            rotate: settings.rotate,
            overwrite: settings.overwrite,
        };
        decide(existing, &wanted)
    }

    /// Every namespace's decision; up-to-date secrets whose credential the registry refuses
    /// need a new one.
    async fn decide_all(
        &self,
        names: &[String],
        found: &Found,
        check: bool,
    ) -> HashMap<String, Decision> {
        let mut decisions: HashMap<String, Decision> = names
            .iter()
            .map(|n| (n.clone(), self.decision(found.secrets.get(n))))
            .collect();
        self.announce_access_changes(names, found);
        self.announce_unusable(names, found);
        if !check || self.dry_run || self.settings.verify == Verification::Skip {
            return decisions;
        }
        let unchanged: Vec<&Secret> = names
            .iter()
            .filter(|n| matches!(decisions.get(*n), Some(Decision::Unchanged)))
            .filter_map(|n| found.secrets.get(n))
            .collect();
        let dead = self.dead_tokens(&unchanged).await;
        let mut refused = 0;
        for namespace in names {
            if matches!(decisions.get(namespace), Some(Decision::Unchanged))
                && let Some(id) = found
                    .secrets
                    .get(namespace)
                    .and_then(|s| token_id(s, self.kind))
                && dead.contains(id)
            {
                refused += 1;
                let mint = Decision::Mint {
                    revoke: None,
                    unrevocable: None,
                };
                decisions.insert(namespace.clone(), mint);
            }
        }
        if refused > 0 {
            crate::trace::note(format!(
                "secret/{}: the token of {refused} secret(s) is refused by {} ({}; revoked?); they get a working one",
                self.settings.spec.name,
                self.registry,
                dead.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        decisions
    }

    /// Names each managed secret of the selection that the kubelet cannot use as it is (another
    /// tool edited it): it is replaced with a working one.
    fn announce_unusable(&self, names: &[String], found: &Found) {
        for namespace in names {
            if let Some(secret) = found
                .secrets
                .get(namespace)
                .filter(|s| manifests::is_managed(s))
                && let Some(problem) = super::kubelet::problem(secret, &self.registry)
            {
                crate::trace::note(format!(
                    "secret/{} in namespace {namespace}: {problem}; it is replaced with a working one",
                    self.settings.spec.name
                ));
            }
        }
    }

    /// Says at the default level how many secrets change access (a push credential
    /// downgraded, or a pull credential upgraded), per old access.
    fn announce_access_changes(&self, names: &[String], found: &Found) {
        let wanted = self.settings.spec.access.as_str();
        let mut changes: BTreeMap<&str, usize> = BTreeMap::new();
        for secret in names.iter().filter_map(|n| found.secrets.get(n)) {
            if manifests::is_managed(secret)
                && let Some(old) = manifests::annotation(secret, manifests::ANNOTATION_ACCESS)
                && old != wanted
            {
                *changes.entry(old).or_default() += 1;
            }
        }
        for (old, count) in changes {
            crate::trace::note(format!(
                "secret/{}: access {old} -> {wanted} in {count} namespace(s); their token is replaced",
                self.settings.spec.name
            ));
        }
    }

    /// The ids among `secrets`' credentials that the registry definitely refuses: each
    /// distinct one is checked once (v2 with its own credential). A check that cannot be
    /// carried out counts as working, with a warning.
    async fn dead_tokens(&self, secrets: &[&Secret]) -> BTreeSet<String> {
        let mut distinct: BTreeMap<String, SecretString> = BTreeMap::new();
        for secret in secrets {
            if let (Some(id), Some((_, password, _))) = (
                token_id(secret, self.kind),
                manifests::existing_credential(secret, &self.registry),
            ) {
                distinct
                    .entry(id.to_string())
                    .or_insert_with(|| SecretString::from(password));
            }
        }
        stream::iter(distinct)
            .map(|(id, password)| async move {
                let works = self.works(&id, &password).await;
                (id, works)
            })
            .buffer_unordered(CHECKS_AT_ONCE)
            .filter_map(|(id, works)| async move { (!works).then_some(id) })
            .collect()
            .await
    }

    /// Whether the credential `id` still works for pulling; only a definite refusal says no.
    async fn works(&self, id: &str, password: &SecretString) -> bool {
        let user = self.username;
        match v2::check(&self.http, &self.registry, user, password, true).await {
            Ok(_) => true,
            Err(v2::VerifyError::Rejected { .. }) => false,
            Err(e) => {
                crate::trace::warning(format!(
                    "cannot check that the token {id} still works ({}); it is kept",
                    crate::redact::one_line(&format!("{e:#}"))
                ));
                true
            }
        }
    }

    /// The cluster's shared credential: one a managed secret already holds (the most used one
    /// that still works, same registry and access), else a new one, minted once RBAC said the
    /// writes may happen. `None` when no namespace may be written.
    async fn shared_token(
        &self,
        found: &Found,
        selected: &[String],
        decisions: &mut HashMap<String, Decision>,
        provider: &mut dyn Provider,
    ) -> anyhow::Result<Option<SharedToken>> {
        // At once: the registry (a reusable shared token, else a fresh login for the mint)
        // and RBAC (may some namespace be written?). The mint waits for both.
        let pending: Vec<(String, &'static str)> = selected
            .iter()
            .filter(|n| decisions.get(*n).is_some_and(Decision::needs_credential))
            .map(|n| (n.clone(), write_verb(&found.secrets.get(n))))
            .collect();
        let rotate = self.settings.rotate;
        let registry = async {
            if !rotate && let Some(reused) = self.reusable(found, selected, &mut *provider).await {
                return Ok(Some(reused));
            }
            provider.login().await.map(|()| None)
        };
        let (registry, grants) = futures::join!(
            registry,
            grants::check(
                self.target,
                found.everywhere,
                &pending,
                &self.settings.spec.name
            )
        );
        if let Ok(Some(reused)) = registry {
            return Ok(Some(reused));
        }
        for (namespace, reason) in grants.refused {
            decisions.insert(namespace, Decision::Forbidden(reason));
        }
        if !grants.some {
            return Ok(None);
        }
        registry?;
        let settings = self.settings;
        let description = settings.spec.description.clone().unwrap_or_else(|| {
            registry::default_description(self.target.cluster.as_deref(), "*", &settings.spec.name)
        });
        let mut lifecycle = TokenLifecycle::new(provider);
        let (token, window) = lifecycle
            .mint_in_window(settings.spec.access, &description)
            .await?;
        if let Err(e) = lifecycle
            .verify(&token, settings.verify, &settings.spec.name)
            .await
        {
            return Err(lifecycle.undo(&token, e.into()).await);
        }
        crate::trace::note(format!(
            "token/{} minted for the cluster ({}), shared by the secrets this run writes",
            token.id,
            settings.spec.access.as_str()
        ));
        Ok(Some(SharedToken {
            id: token.id.clone(),
            token: token.token.clone(),
            minted: Some((token, window)),
        }))
    }

    /// A shared credential already in the cluster that still works, and that this tool
    /// minted for this cluster: a secret's labels and annotations are anyone's to write, so a
    /// candidate is adopted only when the registry lists it as a live credential with the
    /// cluster's shared description. Without a login (in-cluster), only secrets of the
    /// `selected` namespaces are candidates. A check that cannot be carried out never adopts.
    pub async fn reusable(
        &self,
        found: &Found,
        selected: &[String],
        provider: &mut dyn Provider,
    ) -> Option<SharedToken> {
        let access = self.settings.spec.access;
        let mut holders: BTreeMap<&str, (usize, String, bool)> = BTreeMap::new();
        for (namespace, secret) in &found.secrets {
            if let Some((id, password)) =
                shared_credential(secret, (&self.registry, self.username, self.kind), access)
            {
                let inside = selected.contains(namespace);
                let entry = holders.entry(id).or_insert((0, password, false));
                entry.0 += 1;
                entry.2 |= inside;
            }
        }
        if holders.is_empty() {
            return None;
        }
        let owned = self.owned(provider).await?;
        let mut candidates: Vec<(usize, &str, String)> = Vec::new();
        for (id, (count, password, inside)) in holders {
            let why_not = match &owned {
                Some(live) if live.contains(id) => None,
                Some(_) => Some("the registry lists no live token of this cluster with that id"),
                None if inside => None,
                None => Some(
                    "it is held only outside the selection and cannot be checked without a login",
                ),
            };
            match why_not {
                None => candidates.push((count, id, password)),
                Some(why) => crate::trace::warning(format!(
                    "token/{id} is offered as the cluster's shared token by {count} secret(s), but {why}; ignored"
                )),
            }
        }
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        for (_, id, password) in candidates {
            let token = SecretString::from(password);
            if self.pulls(id, &token).await {
                crate::trace::log(1, format!("Reusing the cluster's shared token {id}"));
                return Some(SharedToken {
                    id: id.to_string(),
                    token,
                    minted: None,
                });
            }
        }
        None
    }

    /// The ids of the live credentials this tool minted as this cluster's shared one, as the
    /// registry lists them; `Some(None)` when no login is available here (nothing was sent);
    /// `None` when the registry could not be asked (then nothing is adopted).
    async fn owned(&self, provider: &mut dyn Provider) -> Option<Option<BTreeSet<String>>> {
        let settings = self.settings;
        let shared = settings.spec.description.clone().unwrap_or_else(|| {
            registry::default_description(self.target.cluster.as_deref(), "*", &settings.spec.name)
        });
        match provider.list().await {
            Ok(tokens) => Some(Some(
                tokens
                    .into_iter()
                    .filter(|t| !t.revoked && t.description == shared)
                    .map(|t| t.id)
                    .collect(),
            )),
            Err(e) if e.kind == ErrorKind::NoLogin => {
                crate::trace::log(
                    1,
                    "no login here: only the selected namespaces' shared token can be reused",
                );
                Some(None)
            }
            Err(e) => {
                crate::trace::warning(format!(
                    "cannot list the registry's tokens to check the cluster's shared token ({}); a new one is minted",
                    crate::redact::one_line(&format!("{e:#}"))
                ));
                None
            }
        }
    }

    /// Whether the registry definitely accepts the credential `id` for pulling (adoption
    /// needs a yes: a check that cannot be carried out says no).
    async fn pulls(&self, id: &str, password: &SecretString) -> bool {
        match v2::check(&self.http, &self.registry, self.username, password, true).await {
            Ok(_) => true,
            Err(v2::VerifyError::Rejected { .. }) => false,
            Err(e) => {
                crate::trace::warning(format!(
                    "cannot check that the cluster's shared token {id} still works ({}); it is not reused",
                    crate::redact::one_line(&format!("{e:#}"))
                ));
                false
            }
        }
    }
}

/// `(id, password)` of a managed secret holding the cluster's shared credential for `registry`
/// with `access`, as user `username`.
fn shared_credential<'s>(
    secret: &'s Secret,
    (registry, username, kind): (&str, &str, crate::providers::Kind),
    access: Access,
) -> Option<(&'s str, String)> {
    if !manifests::is_managed(secret)
        || !manifests::is_shared(secret)
        || super::kubelet::problem(secret, registry).is_some()
        || manifests::annotation(secret, manifests::ANNOTATION_ACCESS) != Some(access.as_str())
    {
        return None;
    }
    let id = token_id(secret, kind)?;
    let (user, password, _) = manifests::existing_credential(secret, registry)?;
    (user == username).then_some((id, password))
}

/// The goal of one namespace of a fan-out.
struct Namespace<'g, 'r> {
    fleet: &'g Fleet<'r>,
    target: Target,
    /// The decision made before the writes (with the dead-credential check); later attempts
    /// decide again on fresh state.
    first: Option<Decision>,
    shared: Option<&'g SharedToken>,
    /// `Some(revoke)` when the last decision wrote the shared credential.
    wrote_shared: Option<Option<String>>,
}

impl Namespace<'_, '_> {
    fn name(&self) -> &str {
        &self.fleet.settings.spec.name
    }

    /// The secret `decision` asks for; `None` when nothing is to be written.
    fn desired(&self, decision: &Decision) -> Result<Option<Secret>, (Outcome, String)> {
        let fleet = self.fleet;
        let (settings, registry, username) = (fleet.settings, &fleet.registry, fleet.username);
        let namespace = &self.target.namespace;
        let mut secret = match decision {
            Decision::Unchanged => return Ok(None),
            Decision::Forbidden(reason) => return Err((Outcome::Failed, reason.clone())),
            Decision::RefuseUnmanaged => {
                return Err((
                    Outcome::Failed,
                    format!(
                        "secret `{namespace}/{}` exists and is not managed by kubectl-dedicated-registry; pass --overwrite to replace it",
                        self.name()
                    ),
                ));
            }
            Decision::Rewrite {
                token,
                token_id,
                shared,
            } => {
                let token = token.expose_secret();
                let mut secret =
                    pull_secret(settings, registry, username, namespace, token, token_id);
                if *shared {
                    manifests::mark_shared(&mut secret);
                }
                return Ok(Some(secret));
            }
            Decision::Mint { .. } if fleet.dry_run => {
                placeholder_secret(settings, registry, username, namespace)
            }
            Decision::Mint { .. } => {
                let Some(shared) = self.shared else {
                    return Err((
                        Outcome::Failed,
                        "it needs a token and none was minted (see above)".to_string(),
                    ));
                };
                let token = shared.token.expose_secret();
                pull_secret(settings, registry, username, namespace, token, &shared.id)
            }
        };
        manifests::mark_shared(&mut secret);
        Ok(Some(secret))
    }
}

impl Goal for Namespace<'_, '_> {
    type Output = (Secret, Outcome, Option<Replaced>);
    type Error = (Outcome, String);

    fn dry_run(&self) -> bool {
        self.fleet.dry_run
    }

    fn stopped(&mut self) -> Option<Self::Error> {
        let cancel = &self.fleet.cancel;
        cancel.is_cancelled().then(|| {
            (
                Outcome::Failed,
                format!("{}; not written", cancel.message()),
            )
        })
    }

    fn read(
        &mut self,
        read: Result<Option<Secret>, kube::Error>,
    ) -> Result<Option<Secret>, Self::Error> {
        read.map_err(|e| {
            let error = self.target.error("get", "secret", self.name(), e);
            (Outcome::Failed, format!("{:#}", anyhow::Error::new(error)))
        })
    }

    async fn decide(
        &mut self,
        existing: Option<&Secret>,
        _last: bool,
    ) -> Result<Step<Self::Output>, Self::Error> {
        let decision = match self.first.take() {
            Some(decision) => decision,
            None => self.fleet.decision(existing),
        };
        self.wrote_shared = match &decision {
            Decision::Mint { revoke, .. } => Some(revoke.clone()),
            _ => None,
        };
        Ok(match self.desired(&decision)? {
            Some(desired) => Step::Write(Box::new(desired)),
            None => Step::Done((
                existing.cloned().unwrap_or_default(),
                Outcome::Unchanged,
                None,
            )),
        })
    }

    async fn landed(
        &mut self,
        written: Secret,
        existing: Option<&Secret>,
        recovered: bool,
    ) -> Result<Self::Output, Self::Error> {
        let (namespace, name) = (&self.target.namespace, self.name());
        if recovered {
            crate::trace::warning(format!(
                "the write of secret {namespace}/{name} reported an error, but the secret holds the new token: it was written"
            ));
        }
        let outcome = if existing.is_some() {
            Outcome::Configured
        } else {
            Outcome::Created
        };
        let shared = self.shared;
        let replaced = self
            .wrote_shared
            .clone()
            .flatten()
            .filter(|old| shared.is_none_or(|s| s.id != *old))
            .map(|old| Replaced {
                recorded: super::holders::recorded(
                    &old,
                    existing,
                    &self.fleet.registry,
                    self.target.cluster.as_deref(),
                    namespace,
                    name,
                ),
                id: old,
            });
        Ok((written, outcome, replaced))
    }

    async fn unwritable(&mut self, why: String) -> Self::Error {
        (Outcome::Failed, why)
    }

    async fn failed(
        &mut self,
        failure: WriteFailure,
        existing: Option<&Secret>,
        known: bool,
    ) -> Self::Error {
        let verb = write_verb(&existing);
        if crate::cluster::is_namespace_terminating(&failure.error) {
            // It turned Terminating after the selection was listed: a skip, not a failure,
            // and never retried (every create there would be refused the same way).
            let reason =
                "it is being terminated (the API server refused the create: NamespaceTerminating)";
            return (Outcome::Skipped, reason.to_string());
        }
        let error = self
            .target
            .error(verb, "secret", self.name(), failure.error);
        if known {
            (Outcome::Failed, error.to_string())
        } else {
            (
                Outcome::Unknown,
                format!("{error}; it is unknown whether it was written"),
            )
        }
    }
}

impl Fleet<'_> {
    /// The lines of one namespace, to the front end.
    fn print(&self, lines: Vec<(Shown, String, String)>) {
        for (shown, kind_name, verb) in lines {
            if let Err(e) = self.reporter.object(shown, &kind_name, &verb, None) {
                crate::trace::log(1, format!("cannot write to stdout: {e}"));
            }
        }
    }

    /// Brings one namespace to the wanted state through the one loop, then attaches the
    /// `--service-account`s; its lines are kept in the result. Never fails the run by itself.
    async fn converge(
        &self,
        namespace: String,
        decision: Decision,
        existing: Option<Secret>,
        shared: Option<&SharedToken>,
    ) -> Done {
        let lines = Lines::default();
        let mut done = self
            .converge_to(namespace.clone(), decision, existing, shared, &lines)
            .await;
        done.lines = lines.take();
        if self.multi {
            // A ServiceAccount line says its namespace, as the secret's does.
            for (shown, _, verb) in &mut done.lines {
                if *shown == Shown::Account && !verb.contains("(namespace ") {
                    verb.push_str(&format!(" (namespace {namespace})"));
                }
            }
        }
        done.accounts_configured = done
            .lines
            .iter()
            .filter(|(shown, _, verb)| *shown == Shown::Account && verb.starts_with("configured"))
            .count();
        done
    }

    async fn converge_to(
        &self,
        namespace: String,
        decision: Decision,
        existing: Option<Secret>,
        shared: Option<&SharedToken>,
        lines: &Lines,
    ) -> Done {
        let target = self.target.in_namespace(&namespace);
        let secrets: Api<Secret> = Api::namespaced(target.client.clone(), &namespace);
        let mut done = Done {
            namespace: namespace.clone(),
            outcome: Outcome::Unchanged,
            reason: None,
            replaced: None,
            written: false,
            lines: Vec::new(),
            accounts_configured: 0,
            for_good: matches!(decision, Decision::RefuseUnmanaged | Decision::Forbidden(_)),
            holds_shared: existing
                .as_ref()
                .and_then(|s| token_id(s, self.kind))
                .is_some_and(|id| shared.is_some_and(|s| s.id == id)),
        };
        let mut goal = Namespace {
            fleet: self,
            target,
            first: Some(decision),
            shared,
            wrote_shared: None,
        };
        let name = &self.settings.spec.name;
        match converge(&mut goal, &secrets, name, Some(existing)).await {
            Ok((written, outcome, replaced)) => {
                done.outcome = outcome;
                done.written = outcome != Outcome::Unchanged;
                if goal.wrote_shared.is_some() {
                    done.holds_shared = true;
                    done.replaced = replaced;
                }
                self.report(lines, &written, outcome);
            }
            Err((outcome, reason)) => {
                done.outcome = outcome;
                done.reason = Some(reason);
                return done;
            }
        }
        if let Err(e) = self.attach(lines, &goal.target).await {
            return done.fail(format!("{e:#}"));
        }
        done
    }

    /// The kubectl-style line for one namespace.
    fn report(&self, lines: &Lines, written: &Secret, outcome: Outcome) {
        let verb = match outcome {
            Outcome::Created => with_dry_run("created", self.dry_run),
            Outcome::Configured => with_dry_run("configured", self.dry_run),
            _ => "unchanged",
        };
        let verb = if self.multi {
            format!(
                "{verb} (namespace {})",
                written.metadata.namespace.as_deref().unwrap_or_default()
            )
        } else {
            verb.to_string()
        };
        let kind_name = format!("secret/{}", self.settings.spec.name);
        // (Kept in memory: cannot fail.)
        let _ = lines.object(Shown::Line, &kind_name, &verb, None);
    }

    /// Appends the secret to each `--service-account`'s `imagePullSecrets` in one namespace.
    async fn attach(&self, lines: &Lines, target: &Target) -> anyhow::Result<()> {
        let settings = self.settings;
        if settings.service_accounts.is_empty() {
            return Ok(());
        }
        let accounts: Api<ServiceAccount> =
            Api::namespaced(target.client.clone(), &target.namespace);
        for account in &settings.service_accounts {
            let change =
                objects::append_pull_secret(&accounts, account, &settings.spec.name, self.dry_run)
                    .await;
            report_account_change(lines, settings, target, account, change)?;
        }
        Ok(())
    }
}

impl Done {
    /// Whether this namespace did not end as wanted (failed, or unknown).
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed | Outcome::Unknown)
    }

    /// A namespace that was not written because it is being terminated.
    fn skipped(namespace: String, reason: String) -> Done {
        Done {
            namespace,
            outcome: Outcome::Skipped,
            reason: Some(reason),
            replaced: None,
            holds_shared: false,
            written: false,
            lines: Vec::new(),
            accounts_configured: 0,
            for_good: false,
        }
    }

    fn fail(mut self, reason: String) -> Done {
        self.outcome = Outcome::Failed;
        self.reason = Some(reason);
        self
    }
}

impl Fleet<'_> {
    /// After the writes: revocations; the report of how each namespace ended.
    pub async fn finish(
        &self,
        done: Vec<Done>,
        shared: Option<SharedToken>,
        provider: &mut dyn Provider,
    ) -> FleetReport {
        // Ctrl-C waits for the revocations in flight, so no credential is left live unreported.
        let _window = self.cancel.window();
        let mut lifecycle = TokenLifecycle::new(provider);
        if let Some(SharedToken {
            minted: Some((token, _minted)),
            ..
        }) = &shared
        {
            let used = done.iter().any(|d| d.holds_shared);
            let maybe = done.iter().any(|d| d.outcome == Outcome::Unknown);
            if !used && !maybe {
                let error = anyhow::anyhow!("no secret was written with it");
                crate::trace::warning(format!("{:#}", lifecycle.undo(token, error).await));
            } else if !used {
                crate::trace::warning(format!(
                    "the new token {} was NOT revoked: it is unknown whether a secret holds it; check with `kubectl dedicated-registry secret list -A`",
                    token.id
                ));
            }
        }
        self.revoke_replaced(&done, &mut lifecycle).await;
        FleetReport {
            done,
            multi: self.multi,
            name: self.settings.spec.name.clone(),
        }
    }

    /// Revokes each replaced credential that no managed secret in the cluster still holds.
    async fn revoke_replaced(&self, done: &[Done], lifecycle: &mut TokenLifecycle<'_>) {
        let mut replaced: BTreeMap<&str, &Replaced> = BTreeMap::new();
        for d in done {
            if let (Some(r), true) = (&d.replaced, d.written) {
                replaced.entry(r.id.as_str()).or_insert(r);
            }
        }
        if replaced.is_empty() || self.dry_run {
            return;
        }
        let holders = match objects::managed_token_ids(&self.target.client, self.secret_name())
            .await
        {
            Ok(h) => h,
            Err(e) => {
                crate::trace::warning(format!(
                    "cannot list the cluster's managed secrets ({e}), so the replaced token(s) {} were NOT revoked; revoke them with `kubectl dedicated-registry token revoke ID` once unused",
                    replaced.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
                return;
            }
        };
        for (id, r) in replaced {
            let still: Vec<&str> = holders
                .iter()
                .filter(|(_, held)| held.as_deref() == Some(id))
                .map(|(at, _)| at.as_str())
                .collect();
            if !still.is_empty() {
                crate::trace::note(format!(
                    "token/{id} replaced but still held by {} secret(s) ({}); not revoked",
                    still.len(),
                    abbreviate(&still)
                ));
                continue;
            }
            super::holders::revoke_replaced(lifecycle, &r.recorded).await;
        }
    }
}

impl FleetReport {
    /// The failed namespaces' lines and, with `counts`, one line of counts (as status lines);
    /// an error naming the failures if any.
    pub fn summary(self, counts: bool) -> anyhow::Result<()> {
        let done = self.done;
        let count = |o: Outcome| done.iter().filter(|d| d.outcome == o).count();
        let failed: Vec<&Done> = done.iter().filter(|d| d.failed()).collect();
        let name = &self.name;
        let mut skipped: Vec<&Done> = done
            .iter()
            .filter(|d| d.outcome == Outcome::Skipped)
            .collect();
        skipped.sort_by(|a, b| a.namespace.cmp(&b.namespace));
        if !self.multi {
            if let Some(f) = failed.first() {
                bail!("{}", f.reason.as_deref().unwrap_or("failed"));
            }
            // One namespace named on purpose: not writing it is this run's failure.
            if let Some(s) = skipped.first() {
                bail!(
                    "secret/{name} was not written in namespace `{}`: {}; wait until it is gone and create it again, or choose another namespace",
                    s.namespace,
                    s.reason.as_deref().unwrap_or("skipped")
                );
            }
            return Ok(());
        }
        for d in &skipped {
            crate::trace::note(format!(
                "namespace {} skipped: {}; nothing was written there",
                d.namespace,
                d.reason.as_deref().unwrap_or("unknown")
            ));
        }
        let mut failed_names: Vec<&str> = failed.iter().map(|d| d.namespace.as_str()).collect();
        failed_names.sort();
        for d in &failed {
            crate::trace::note(format!(
                "namespace {} failed: {}",
                d.namespace,
                d.reason.as_deref().unwrap_or("unknown")
            ));
        }
        if counts {
            let skipped = match skipped.len() {
                0 => String::new(),
                n => format!("{n} skipped, "),
            };
            // ServiceAccount patches are counted too (friction 14), when there were any.
            let accounts: usize = done.iter().map(|d| d.accounts_configured).sum();
            let accounts = match accounts {
                0 => String::new(),
                n => format!("; {n} serviceaccount(s) configured"),
            };
            crate::trace::note(format!(
                "{} created, {} configured, {} unchanged, {skipped}{} failed{accounts}",
                count(Outcome::Created),
                count(Outcome::Configured),
                count(Outcome::Unchanged),
                failed.len()
            ));
        }
        if !failed.is_empty() {
            bail!(
                "secret/{name} failed in {} namespace(s): {}; the others are done, re-run to retry",
                failed.len(),
                failed_names.join(", ")
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::PullSecretSpec;
    use crate::providers::Kind;

    const ID: &str = "637b3d8c-a087-5af9-a636-16e7efc70967";

    fn secret(readwrite: bool, shared: bool) -> Secret {
        let mut secret = manifests::pull_secret(
            "regcred",
            "team-a",
            &PullSecretSpec {
                registry: "registry.example",
                username: "token",
                token: "the-token",
                token_id: ID,
                email: "",
                readwrite,
            },
        );
        if shared {
            manifests::mark_shared(&mut secret);
        }
        secret
    }

    #[test]
    fn only_a_managed_shared_secret_of_the_same_registry_and_access_offers_its_token() {
        let offered = |s: &Secret, registry: &str, access| {
            shared_credential(s, (registry, "token", Kind::Dedicated), access)
                .map(|(id, p)| (id.to_string(), p))
        };
        let shared = secret(false, true);
        let found = offered(&shared, "registry.example", Access::ReadOnly);
        assert_eq!(found, Some((ID.to_string(), "the-token".to_string())));
        // Another username is another provider's credential.
        assert_eq!(
            shared_credential(
                &shared,
                ("registry.example", "iamapikey", Kind::Dedicated),
                Access::ReadOnly
            ),
            None
        );
        // A namespace's own token is not the cluster's.
        assert_eq!(
            offered(&secret(false, false), "registry.example", Access::ReadOnly),
            None
        );
        // Another access, another registry.
        assert_eq!(
            offered(&secret(false, true), "registry.example", Access::ReadWrite),
            None
        );
        assert_eq!(
            offered(&secret(false, true), "other.example", Access::ReadOnly),
            None
        );
        // An id that is not a token id, or a secret not managed by the plugin.
        let mut edited = secret(false, true);
        edited
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(manifests::ANNOTATION_TOKEN_ID.into(), "../../etc".into());
        assert_eq!(offered(&edited, "registry.example", Access::ReadOnly), None);
        let mut foreign = secret(false, true);
        foreign.metadata.labels = None;
        assert_eq!(
            offered(&foreign, "registry.example", Access::ReadOnly),
            None
        );
    }
}

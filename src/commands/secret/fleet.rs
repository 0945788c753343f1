//! `secret create -A|-l` (and `--reuse` in one namespace): one token for the cluster, written
//! into every selected namespace, `--concurrency` namespaces at a time.
//!
//! 1. **Fetch**: the selected namespaces (one LIST, label selector on the server) and the
//!    secrets of that name in the whole cluster (one LIST, field selector; per-namespace reads
//!    when RBAC forbids the cluster-wide list).
//! 2. **Decide**: [`super::plan`] per namespace; each distinct token of an up-to-date secret is
//!    checked once against the registry (v2), and a dead one is replaced.
//! 3. **Token**: the cluster's shared token, reused when a managed secret already holds one that
//!    still works (no login needed), else minted once, after RBAC said the writes may happen.
//! 4. **Write**: concurrently; a failure stays in its namespace, a conflict re-decides that
//!    namespace on fresh state. 429/503/504 are retried by kube's client (`Retry-After`).
//! 5. **After**: a token that the writes replaced is revoked only when no managed secret in the
//!    cluster holds it any more; a token minted for writes that all failed is revoked; one
//!    summary line `N created, N configured, N unchanged, N failed`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::bail;
use futures::{StreamExt as _, stream};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::{Api, ListParams};
use secrecy::{ExposeSecret as _, SecretString};

use super::create::{pull_secret, report_account_change, with_dry_run};
use super::namespaces;
use super::plan::{Plan, Wanted, plan};
use crate::cli::DryRun;
use crate::cli::settings::{CreateSettings, FleetScope};
use crate::cluster::objects::{self, MAX_ATTEMPTS};
use crate::cluster::{self, Target, access};
use crate::interrupt::{self, Window};
use crate::lifecycle::{Recorded, TokenLifecycle, Verification};
use crate::output::{self, Progress};
use crate::registry::{self, MintedToken, v2};
use crate::session::Session;
use crate::{manifests, registry::Access};

/// Token checks against the registry at once (each is two or three requests to it).
const CHECKS_AT_ONCE: usize = 4;

/// What one namespace needs.
#[derive(Debug)]
enum Need {
    /// Up to date.
    Nothing,
    /// Same token, another e-mail; `shared` keeps the cluster-token mark.
    Rewrite {
        token: SecretString,
        id: String,
        shared: bool,
    },
    /// The cluster's shared token; `revoke` is the token it replaces.
    Shared { revoke: Option<String> },
    /// Cannot be written; the reason.
    Refused(String),
}

/// The secrets of this name found in the cluster.
pub(super) struct Found {
    /// By namespace: the whole cluster when listing secrets everywhere is allowed, else the
    /// selected namespaces.
    secrets: BTreeMap<String, Secret>,
}

/// The token written where a namespace needs the shared one.
pub(super) struct SharedToken {
    pub(super) id: String,
    pub(super) token: SecretString,
    /// Minted by this run (with its Ctrl-C window), so revoked if no write used it.
    minted: Option<(MintedToken, Window)>,
}

/// How one namespace ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Created,
    Configured,
    Unchanged,
    Failed,
    /// The write's answer was lost and the secret could not be read back.
    Unknown,
}

/// One namespace's result.
pub(super) struct Done {
    pub(super) namespace: String,
    outcome: Outcome,
    /// Why it failed, for the summary.
    reason: Option<String>,
    /// The token its secret held before, now replaced (a revocation candidate).
    replaced: Option<Replaced>,
    /// Whether it now holds the shared token.
    pub(super) holds_shared: bool,
    /// Whether its secret was written (even if a `--service-account` failed afterwards).
    written: bool,
}

/// A token a write replaced, with what is needed to check it before revoking it.
struct Replaced {
    id: String,
    recorded: Recorded,
}

/// One run over many namespaces.
pub(super) struct Fleet<'r> {
    settings: &'r CreateSettings,
    target: &'r Target,
    registry: String,
    http: reqwest::Client,
    concurrency: usize,
    dry_run: bool,
    /// Whether lines name their namespace (more than one namespace).
    multi: bool,
}

impl<'r> Fleet<'r> {
    /// A run of `settings` on `target`'s cluster, with `session`'s registry.
    pub(super) fn new(settings: &'r CreateSettings, target: &'r Target, session: &Session) -> Self {
        let concurrency = match &settings.scope {
            crate::cli::settings::Scope::Fleet(f) => f.concurrency,
            crate::cli::settings::Scope::One => 1,
        };
        Fleet {
            settings,
            target,
            registry: session.profile().registry.clone(),
            http: session.http().clone(),
            concurrency,
            dry_run: settings.dry_run == DryRun::Server,
            multi: !matches!(settings.scope, crate::cli::settings::Scope::One),
        }
    }

    /// Runs over the namespaces `fleet` selects, or over the target namespace alone.
    pub(super) async fn run(
        &self,
        fleet: Option<&FleetScope>,
        session: &mut Session,
    ) -> anyhow::Result<()> {
        let names = match fleet {
            Some(f) => self.select(f).await?,
            None => vec![self.target.namespace.clone()],
        };
        let (done, shared) = self.pass(names, None, true, session).await?;
        self.finish(done, shared, session, true).await
    }

    /// Fetch, decide, get the shared token if needed (`known`, else reused or minted), write.
    /// `check` checks up-to-date secrets' tokens against the registry.
    pub(super) async fn pass(
        &self,
        names: Vec<String>,
        known: Option<(&str, &SecretString)>,
        check: bool,
        session: &mut Session,
    ) -> anyhow::Result<(Vec<Done>, Option<SharedToken>)> {
        let found = match known {
            // The watch's single-namespace passes: one GET, not a cluster-wide list.
            Some(_) if names.len() == 1 => self.fetch_each(&names).await,
            _ => self.fetch(&names).await?,
        };
        let mut needs = self.decide(&names, &found, check).await;
        let needed = needs.values().any(|n| matches!(n, Need::Shared { .. })) && !self.dry_run;
        let shared = match known {
            Some((id, token)) if needed && !self.settings.rotate => Some(SharedToken {
                id: id.to_string(),
                token: token.clone(),
                minted: None,
            }),
            _ if needed => self.shared_token(&found, &mut needs, session).await?,
            _ => None,
        };
        let progress = Progress::start(names.len(), "namespaces");
        let done: Vec<Done> = stream::iter(names)
            .map(|namespace| {
                let need = needs.remove(&namespace).unwrap_or(Need::Nothing);
                let existing = found.secrets.get(&namespace).cloned();
                let progress = &progress;
                let shared = shared.as_ref();
                async move {
                    let done = self.converge(namespace, need, existing, shared).await;
                    progress.done(matches!(done.outcome, Outcome::Failed | Outcome::Unknown));
                    done
                }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        drop(progress);
        Ok((done, shared))
    }

    async fn select(&self, fleet: &FleetScope) -> anyhow::Result<Vec<String>> {
        select(self.target, fleet).await
    }

    /// The secrets of this name: one cluster-wide LIST, or one GET per namespace when RBAC
    /// forbids listing secrets everywhere.
    pub(super) async fn fetch(&self, names: &[String]) -> anyhow::Result<Found> {
        let secrets = fetch_named(
            self.target,
            &self.settings.spec.name,
            names,
            self.concurrency,
        )
        .await?;
        Ok(Found { secrets })
    }

    /// The secrets of this name, one GET per namespace.
    async fn fetch_each(&self, names: &[String]) -> Found {
        let secrets = fetch_each_named(
            self.target,
            &self.settings.spec.name,
            names,
            self.concurrency,
        )
        .await;
        Found { secrets }
    }

    /// The client.
    pub(super) fn client(&self) -> kube::Client {
        self.target.client.clone()
    }

    /// The secret's name.
    pub(super) fn secret_name(&self) -> &str {
        &self.settings.spec.name
    }

    /// Whether `secret` is as wanted (nothing to write).
    pub(super) fn is_wanted(&self, secret: &Secret) -> bool {
        let namespace = secret.metadata.namespace.as_deref().unwrap_or_default();
        matches!(self.need(namespace, Some(secret)), Need::Nothing)
    }

    fn wanted(&self) -> Wanted<'_> {
        let settings = self.settings;
        Wanted {
            registry: &self.registry,
            access: settings.spec.access,
            email: settings.spec.docker_email.as_deref(),
            rotate: settings.rotate,
            overwrite: settings.overwrite,
        }
    }

    /// What one namespace needs, from its secret alone.
    fn need(&self, namespace: &str, existing: Option<&Secret>) -> Need {
        match plan(existing, &self.wanted()) {
            Plan::Unchanged => Need::Nothing,
            Plan::Rewrite { token, token_id } => Need::Rewrite {
                token,
                id: token_id,
                shared: existing.is_some_and(manifests::is_shared),
            },
            Plan::Mint { revoke, .. } => Need::Shared { revoke },
            Plan::RefuseUnmanaged => Need::Refused(format!(
                "secret `{namespace}/{}` exists and is not managed by kubectl-dedicated-registry; pass --overwrite to replace it",
                self.settings.spec.name
            )),
        }
    }

    /// Every namespace's need; up-to-date secrets whose token the registry refuses need a new one.
    async fn decide(&self, names: &[String], found: &Found, check: bool) -> HashMap<String, Need> {
        let mut needs: HashMap<String, Need> = names
            .iter()
            .map(|n| (n.clone(), self.need(n, found.secrets.get(n))))
            .collect();
        self.announce_access_changes(names, found);
        if !check || self.dry_run || self.settings.verify == Verification::Skip {
            return needs;
        }
        let unchanged: Vec<&Secret> = names
            .iter()
            .filter(|n| matches!(needs.get(*n), Some(Need::Nothing)))
            .filter_map(|n| found.secrets.get(n))
            .collect();
        let dead = self.dead_tokens(&unchanged).await;
        let mut refused = 0;
        for namespace in names {
            if matches!(needs.get(namespace), Some(Need::Nothing))
                && let Some(id) = found.secrets.get(namespace).and_then(token_id)
                && dead.contains(id)
            {
                refused += 1;
                needs.insert(namespace.clone(), Need::Shared { revoke: None });
            }
        }
        if refused > 0 {
            output::info(format!(
                "secret/{}: the token of {refused} secret(s) is refused by {} ({}; revoked?); they get a working one",
                self.settings.spec.name,
                self.registry,
                dead.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        needs
    }

    /// Says at the default level how many secrets change access (a push token downgraded, or
    /// a pull token upgraded), per old access.
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
            output::info(format!(
                "secret/{}: access {old} -> {wanted} in {count} namespace(s); their token is replaced",
                self.settings.spec.name
            ));
        }
    }

    /// The ids among `secrets`' tokens that the registry definitely refuses: each distinct
    /// token is checked once (v2 with its own credential). A check that cannot be carried out
    /// counts as working, with a warning.
    async fn dead_tokens(&self, secrets: &[&Secret]) -> BTreeSet<String> {
        let mut distinct: BTreeMap<String, SecretString> = BTreeMap::new();
        for secret in secrets {
            if let (Some(id), Some((_, password, _))) = (
                token_id(secret),
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

    /// Whether the token `id` still works for pulling; only a definite refusal says no.
    async fn works(&self, id: &str, password: &SecretString) -> bool {
        let user = manifests::TOKEN_USERNAME;
        match v2::check(&self.http, &self.registry, user, password, true).await {
            Ok(_) => true,
            Err(v2::VerifyError::Rejected { .. }) => false,
            Err(e) => {
                output::warning(format!(
                    "cannot check that the token {id} still works ({}); it is kept",
                    crate::redact::one_line(&format!("{e:#}"))
                ));
                true
            }
        }
    }

    /// The cluster's shared token: one a managed secret already holds (the most used one that
    /// still works, same registry and access), else a new one, minted once RBAC said the
    /// writes may happen. `None` when no namespace may be written.
    async fn shared_token(
        &self,
        found: &Found,
        needs: &mut HashMap<String, Need>,
        session: &mut Session,
    ) -> anyhow::Result<Option<SharedToken>> {
        if !self.settings.rotate
            && let Some(reused) = self.reusable(found).await
        {
            return Ok(Some(reused));
        }
        if !self.writes_allowed(found, needs).await {
            return Ok(None);
        }
        let settings = self.settings;
        let description = settings.spec.description.clone().unwrap_or_else(|| {
            registry::default_description(self.target.cluster.as_deref(), "*", &settings.spec.name)
        });
        let mut lifecycle = TokenLifecycle::new(session);
        let (token, window) = lifecycle
            .mint_in_window(settings.spec.access, &description)
            .await?;
        if let Err(e) = lifecycle
            .verify(&token, settings.verify, &settings.spec.name)
            .await
        {
            return Err(lifecycle.undo(&token, e.into()).await);
        }
        output::info(format!(
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

    /// A shared token already in the cluster that still works.
    pub(super) async fn reusable(&self, found: &Found) -> Option<SharedToken> {
        let access = self.settings.spec.access;
        let mut holders: BTreeMap<&str, (usize, String)> = BTreeMap::new();
        for secret in found.secrets.values() {
            if let Some((id, password)) = shared_credential(secret, &self.registry, access) {
                holders.entry(id).or_insert((0, password)).0 += 1;
            }
        }
        let mut candidates: Vec<(usize, &str, String)> = holders
            .into_iter()
            .map(|(id, (count, password))| (count, id, password))
            .collect();
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        for (_, id, password) in candidates {
            let token = SecretString::from(password);
            if self.works(id, &token).await {
                output::log(1, format!("Reusing the cluster's shared token {id}"));
                return Some(SharedToken {
                    id: id.to_string(),
                    token,
                    minted: None,
                });
            }
        }
        None
    }

    /// Before minting: RBAC must allow the writes (SelfSubjectAccessReview, as `kubectl auth
    /// can-i`). One cluster-wide review; when that says no, one per namespace, and the
    /// namespaces where the write would be refused fail now. False when none is left.
    async fn writes_allowed(&self, found: &Found, needs: &mut HashMap<String, Need>) -> bool {
        let client = &self.target.client;
        let mut verbs: Vec<&str> = vec![];
        for (namespace, need) in needs.iter() {
            if matches!(need, Need::Shared { .. }) {
                let verb = super::create::write_verb(&found.secrets.get(namespace));
                if !verbs.contains(&verb) {
                    verbs.push(verb);
                }
            }
        }
        let mut everywhere = true;
        for verb in &verbs {
            everywhere &= access::allowed(client, "", verb, "secrets")
                .await
                .unwrap_or(true);
        }
        if everywhere {
            return true;
        }
        let pending: Vec<(String, &'static str)> = needs
            .iter()
            .filter(|(_, need)| matches!(need, Need::Shared { .. }))
            .map(|(n, _)| (n.clone(), super::create::write_verb(&found.secrets.get(n))))
            .collect();
        let reviews: Vec<(String, &str, bool)> = stream::iter(pending)
            .map(|(namespace, verb)| async move {
                let ok = access::allowed(client, &namespace, verb, "secrets")
                    .await
                    .unwrap_or(true);
                (namespace, verb, ok)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let target = self.target;
        for (namespace, verb, ok) in reviews {
            if !ok {
                needs.insert(
                    namespace.clone(),
                    Need::Refused(format!(
                        "Kubernetes denied {verb} of secrets in namespace `{namespace}` to user `{}` (checked before minting)",
                        target.user.as_deref().unwrap_or("(none)")
                    )),
                );
            }
        }
        needs.values().any(|n| matches!(n, Need::Shared { .. }))
    }
}

/// The secrets named `name`, by namespace: one cluster-wide LIST (the whole cluster), or one
/// GET per namespace of `names` when RBAC forbids listing secrets everywhere.
pub(super) async fn fetch_named(
    target: &Target,
    name: &str,
    names: &[String],
    concurrency: usize,
) -> anyhow::Result<BTreeMap<String, Secret>> {
    let everywhere: Api<Secret> = Api::all(target.client.clone());
    let params = ListParams::default().fields(&format!("metadata.name={name}"));
    match everywhere.list(&params).await {
        Ok(list) => {
            return Ok(list
                .items
                .into_iter()
                .filter(|s| s.metadata.name.as_deref() == Some(name))
                .filter_map(|s| Some((s.metadata.namespace.clone()?, s)))
                .collect());
        }
        Err(e) if cluster::is_forbidden(&e) => output::log(
            1,
            "listing secrets in all namespaces is forbidden; reading each namespace",
        ),
        Err(e) if objects::is_uncertain(&e) => output::warning(format!(
            "listing secrets in all namespaces failed ({e}); reading each namespace"
        )),
        Err(e) => return Err(target.error("list", "secrets", name, e).into()),
    }
    Ok(fetch_each_named(target, name, names, concurrency).await)
}

/// The secrets named `name` in `names`, one GET per namespace; a namespace that cannot be read
/// is left out (it fails alone, when it is written).
pub(super) async fn fetch_each_named(
    target: &Target,
    name: &str,
    names: &[String],
    concurrency: usize,
) -> BTreeMap<String, Secret> {
    let reads = stream::iter(names)
        .map(|namespace| async move {
            let secrets: Api<Secret> = Api::namespaced(target.client.clone(), namespace);
            (namespace.clone(), secrets.get_opt(name).await)
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    let mut secrets = BTreeMap::new();
    for (namespace, read) in reads {
        if let Ok(Some(secret)) = read {
            secrets.insert(namespace, secret);
        }
    }
    secrets
}

/// The namespaces `-A`/`-l` select, sorted: one LIST (label selector on the server), less
/// `kube-*` (unless the selector names it) and `--exclude`.
pub(super) async fn select(target: &Target, fleet: &FleetScope) -> anyhow::Result<Vec<String>> {
    let all: Api<Namespace> = Api::all(target.client.clone());
    let mut params = ListParams::default();
    if let Some(selector) = &fleet.selector {
        params = params.labels(selector);
    }
    let list = all.list(&params).await.map_err(|e| {
        let what = fleet
            .selector
            .as_deref()
            .map_or("*".to_string(), |s| format!("-l {s}"));
        target.error("list", "namespaces", &what, e)
    })?;
    // `kube-*` is skipped unless the selector names it.
    let skip_kube = namespaces::skips_kube(fleet.selector.as_deref());
    let (names, patterns) = namespaces::select_with(
        list.items.into_iter().filter_map(|n| n.metadata.name),
        &fleet.exclude,
        skip_kube,
    );
    if names.is_empty() {
        match &fleet.selector {
            Some(s) => bail!(
                "no namespace matches -l {s}{}; check the labels with `kubectl get namespaces --show-labels`",
                if patterns.is_empty() {
                    String::new()
                } else {
                    format!(" once {} are excluded", patterns.join(", "))
                }
            ),
            None => bail!("no namespace left after excluding {}", patterns.join(", ")),
        }
    }
    Ok(names)
}

/// The token id a secret records.
fn token_id(secret: &Secret) -> Option<&str> {
    manifests::annotation(secret, manifests::ANNOTATION_TOKEN_ID)
        .filter(|id| registry::is_token_id(id))
}

/// `(id, password)` of a managed secret holding the cluster's shared token for `registry` with
/// `access`.
fn shared_credential<'s>(
    secret: &'s Secret,
    registry: &str,
    access: Access,
) -> Option<(&'s str, String)> {
    if !manifests::is_managed(secret)
        || !manifests::is_shared(secret)
        || manifests::annotation(secret, manifests::ANNOTATION_ACCESS) != Some(access.as_str())
    {
        return None;
    }
    let id = token_id(secret)?;
    let (user, password, _) = manifests::existing_credential(secret, registry)?;
    (user == manifests::TOKEN_USERNAME).then_some((id, password))
}

impl Fleet<'_> {
    /// Brings one namespace to the wanted state: writes (retrying on conflict with a fresh
    /// decision), then attaches the `--service-account`s. Never fails the run by itself.
    async fn converge(
        &self,
        namespace: String,
        mut need: Need,
        mut existing: Option<Secret>,
        shared: Option<&SharedToken>,
    ) -> Done {
        let target = self.target.in_namespace(&namespace);
        let secrets: Api<Secret> = Api::namespaced(target.client.clone(), &namespace);
        let mut done = Done {
            namespace: namespace.clone(),
            outcome: Outcome::Unchanged,
            reason: None,
            replaced: None,
            written: false,
            holds_shared: existing
                .as_ref()
                .and_then(token_id)
                .is_some_and(|id| shared.is_some_and(|s| s.id == id)),
        };
        for attempt in 1..=MAX_ATTEMPTS {
            if interrupt::interrupted() {
                return done.fail(format!("{}; not written", interrupt::message()));
            }
            match self
                .write_once(
                    &target,
                    &secrets,
                    &need,
                    existing.as_ref(),
                    shared,
                    attempt == MAX_ATTEMPTS,
                )
                .await
            {
                Ok(Some((written, outcome))) => {
                    done.outcome = outcome;
                    done.written = outcome != Outcome::Unchanged;
                    if let Need::Shared { revoke } = &need {
                        done.holds_shared = true;
                        done.replaced = revoke
                            .as_ref()
                            .filter(|old| shared.is_none_or(|s| s.id != **old))
                            .map(|old| self.replaced(&target, old, existing.as_ref()));
                    }
                    self.report(&written, outcome);
                    break;
                }
                Ok(None) => {
                    // A concurrent writer: read again and decide again.
                    match secrets.get_opt(&self.settings.spec.name).await {
                        Ok(fresh) => {
                            need = self.need(&namespace, fresh.as_ref());
                            existing = fresh;
                        }
                        Err(e) => {
                            return done.fail(format!(
                                "{:#}",
                                anyhow::Error::new(target.error(
                                    "get",
                                    "secret",
                                    &self.settings.spec.name,
                                    e
                                ))
                            ));
                        }
                    }
                }
                Err((outcome, reason)) => {
                    done.outcome = outcome;
                    done.reason = Some(reason);
                    return done;
                }
            }
        }
        if let Err(e) = self.attach(&target).await {
            return done.fail(format!("{e:#}"));
        }
        done
    }

    /// One write for `need`: `Ok(Some)` when done, `Ok(None)` on a conflict to retry.
    async fn write_once(
        &self,
        target: &Target,
        secrets: &Api<Secret>,
        need: &Need,
        existing: Option<&Secret>,
        shared: Option<&SharedToken>,
        last: bool,
    ) -> Result<Option<(Secret, Outcome)>, (Outcome, String)> {
        let settings = self.settings;
        let name = &settings.spec.name;
        let namespace = &target.namespace;
        let desired = match self.desired(namespace, need, shared)? {
            Some(desired) => desired,
            None => {
                return Ok(Some((
                    existing.cloned().unwrap_or_default(),
                    Outcome::Unchanged,
                )));
            }
        };
        let outcome = if existing.is_some() {
            Outcome::Configured
        } else {
            Outcome::Created
        };
        match objects::write_secret(secrets, existing, &desired, self.dry_run).await {
            Ok(written) => Ok(Some((written, outcome))),
            Err(f) if cluster::is_conflict(&f.error) && !last => Ok(None),
            Err(f) if objects::is_uncertain(&f.error) && !self.dry_run => {
                let error = target.error(
                    super::create::write_verb(&existing),
                    "secret",
                    name,
                    f.error,
                );
                match objects::read_back(secrets, name).await {
                    Some(Some(stored)) if token_id(&stored) == token_id(&desired) => {
                        output::warning(format!(
                            "the write of secret {namespace}/{name} reported an error, but the secret holds the new token: it was written"
                        ));
                        Ok(Some((stored, outcome)))
                    }
                    Some(_) => Err((Outcome::Failed, error.to_string())),
                    None => Err((
                        Outcome::Unknown,
                        format!("{error}; it is unknown whether it was written"),
                    )),
                }
            }
            Err(f) => Err((
                Outcome::Failed,
                target
                    .error(
                        super::create::write_verb(&existing),
                        "secret",
                        name,
                        f.error,
                    )
                    .to_string(),
            )),
        }
    }

    /// The secret `need` asks for; `None` when nothing is to be written.
    fn desired(
        &self,
        namespace: &str,
        need: &Need,
        shared: Option<&SharedToken>,
    ) -> Result<Option<Secret>, (Outcome, String)> {
        let settings = self.settings;
        let desired = match need {
            Need::Nothing => return Ok(None),
            Need::Refused(reason) => return Err((Outcome::Failed, reason.clone())),
            Need::Rewrite { token, id, shared } => {
                let mut secret = pull_secret(
                    settings,
                    &self.registry,
                    namespace,
                    token.expose_secret(),
                    id,
                );
                if *shared {
                    manifests::mark_shared(&mut secret);
                }
                secret
            }
            Need::Shared { .. } if self.dry_run => {
                let mut secret =
                    super::create::placeholder_secret(settings, &self.registry, namespace);
                manifests::mark_shared(&mut secret);
                secret
            }
            Need::Shared { .. } => {
                let Some(shared) = shared else {
                    return Err((
                        Outcome::Failed,
                        "it needs a token and none was minted (see above)".to_string(),
                    ));
                };
                let mut secret = pull_secret(
                    settings,
                    &self.registry,
                    namespace,
                    shared.token.expose_secret(),
                    &shared.id,
                );
                manifests::mark_shared(&mut secret);
                secret
            }
        };
        Ok(Some(desired))
    }

    /// What is needed to revoke `old` safely later.
    fn replaced(&self, target: &Target, old: &str, existing: Option<&Secret>) -> Replaced {
        Replaced {
            id: old.to_string(),
            recorded: super::recorded(
                old,
                existing,
                &self.registry,
                target.cluster.as_deref(),
                &target.namespace,
                &self.settings.spec.name,
            ),
        }
    }

    /// The kubectl-style line for one namespace.
    fn report(&self, written: &Secret, outcome: Outcome) {
        let verb = match outcome {
            Outcome::Created => with_dry_run("created", self.dry_run),
            Outcome::Configured => with_dry_run("configured", self.dry_run),
            _ => "unchanged",
        };
        let name = &self.settings.spec.name;
        let line = match (self.settings.output.is_some(), self.multi) {
            (true, _) => format!("secret/{name}"),
            (false, true) => format!(
                "secret/{name} {verb} (namespace {})",
                written.metadata.namespace.as_deref().unwrap_or_default()
            ),
            (false, false) => format!("secret/{name} {verb}"),
        };
        if let Err(e) = output::data(&line) {
            output::log(1, format!("cannot write to stdout: {e}"));
        }
    }

    /// Appends the secret to each `--service-account`'s `imagePullSecrets` in one namespace.
    async fn attach(&self, target: &Target) -> anyhow::Result<()> {
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
            report_account_change(settings, target, account, change, self.dry_run)?;
        }
        Ok(())
    }
}

impl Done {
    /// Whether this namespace did not end as wanted (failed, or unknown).
    pub(super) fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed | Outcome::Unknown)
    }

    fn fail(mut self, reason: String) -> Done {
        self.outcome = Outcome::Failed;
        self.reason = Some(reason);
        self
    }
}

impl Fleet<'_> {
    /// After the writes: revocations, the summary line, and the exit status.
    pub(super) async fn finish(
        &self,
        done: Vec<Done>,
        shared: Option<SharedToken>,
        session: &mut Session,
        summary: bool,
    ) -> anyhow::Result<()> {
        // Ctrl-C waits for the revocations in flight, so no token is left live unreported.
        let _window = Window::open();
        let mut lifecycle = TokenLifecycle::new(session);
        if let Some(SharedToken {
            minted: Some((token, _minted)),
            ..
        }) = &shared
        {
            let used = done.iter().any(|d| d.holds_shared);
            let maybe = done.iter().any(|d| d.outcome == Outcome::Unknown);
            if !used && !maybe {
                let error = anyhow::anyhow!("no secret was written with it");
                output::warning(format!("{:#}", lifecycle.undo(token, error).await));
            } else if !used {
                output::warning(format!(
                    "the new token {} was NOT revoked: it is unknown whether a secret holds it; check with `kubectl dedicated-registry secret list -A`",
                    token.id
                ));
            }
        }
        self.revoke_replaced(&done, &mut lifecycle).await;
        self.summary(done, summary)
    }

    /// Revokes each replaced token that no managed secret in the cluster still holds.
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
        let holders = match objects::managed_token_ids(&self.target.client).await {
            Ok(h) => h,
            Err(e) => {
                output::warning(format!(
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
                output::info(format!(
                    "token/{id} replaced but still held by {} secret(s) ({}); not revoked",
                    still.len(),
                    abbreviate(&still)
                ));
                continue;
            }
            super::revoke_replaced(lifecycle, &r.recorded).await;
        }
    }

    /// One line of counts on stderr; failures named; exit 1 if any.
    fn summary(&self, done: Vec<Done>, counts: bool) -> anyhow::Result<()> {
        let count = |o: Outcome| done.iter().filter(|d| d.outcome == o).count();
        let failed: Vec<&Done> = done
            .iter()
            .filter(|d| matches!(d.outcome, Outcome::Failed | Outcome::Unknown))
            .collect();
        let name = &self.settings.spec.name;
        if !self.multi {
            if let Some(f) = failed.first() {
                bail!("{}", f.reason.as_deref().unwrap_or("failed"));
            }
            return Ok(());
        }
        let mut failed_names: Vec<&str> = failed.iter().map(|d| d.namespace.as_str()).collect();
        failed_names.sort();
        for d in &failed {
            output::info(format!(
                "namespace {} failed: {}",
                d.namespace,
                d.reason.as_deref().unwrap_or("unknown")
            ));
        }
        if counts {
            output::info(format!(
                "{} created, {} configured, {} unchanged, {} failed",
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

/// `a, b, c +N`.
pub(super) fn abbreviate(items: &[&str]) -> String {
    const SHOWN: usize = 3;
    let mut text = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        text.push_str(&format!(" +{}", items.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::PullSecretSpec;

    const ID: &str = "637b3d8c-a087-5af9-a636-16e7efc70967";

    fn secret(readwrite: bool, shared: bool) -> Secret {
        let mut secret = manifests::pull_secret(
            "regcred",
            "team-a",
            &PullSecretSpec {
                registry: "registry.example",
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
        let shared = secret(false, true);
        let found = shared_credential(&shared, "registry.example", Access::ReadOnly);
        assert_eq!(found, Some((ID, "the-token".to_string())));
        // A namespace's own token is not the cluster's.
        assert_eq!(
            shared_credential(&secret(false, false), "registry.example", Access::ReadOnly),
            None
        );
        // Another access, another registry.
        assert_eq!(
            shared_credential(&secret(false, true), "registry.example", Access::ReadWrite),
            None
        );
        assert_eq!(
            shared_credential(&secret(false, true), "other.example", Access::ReadOnly),
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
        assert_eq!(
            shared_credential(&edited, "registry.example", Access::ReadOnly),
            None
        );
        let mut foreign = secret(false, true);
        foreign.metadata.labels = None;
        assert_eq!(
            shared_credential(&foreign, "registry.example", Access::ReadOnly),
            None
        );
    }

    #[test]
    fn long_holder_lists_are_abbreviated() {
        assert_eq!(abbreviate(&["a/x"]), "a/x");
        assert_eq!(abbreviate(&["a/x", "b/x", "c/x"]), "a/x, b/x, c/x");
        assert_eq!(
            abbreviate(&["a/x", "b/x", "c/x", "d/x", "e/x"]),
            "a/x, b/x, c/x +2"
        );
    }
}

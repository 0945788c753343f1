//! The watch (`secret create NAME -A|-l ... --watch`): after the first pass, keeps the selection converged,
//! the job in-cluster copiers (registry-creds, imagepullsecret-patcher) are run for.
//!
//! Two watches (`kube::runtime::watcher`, re-listing with backoff after errors, not polling):
//! namespaces (with the label selector) and the secrets of this name in every namespace. A
//! namespace that appears or is labelled into the selection gets the secret; a secret that is
//! deleted or edited away from the wanted state is written again. Both use the cluster's
//! shared token, so no registry login is needed once it exists. The whole watch is one Ctrl-C
//! window: SIGTERM or Ctrl-C stops it between two writes, never in the middle of one.

use std::collections::BTreeSet;
use std::pin::pin;

use futures::{StreamExt as _, stream};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::Api;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use secrecy::SecretString;

use super::fleet::Fleet;
use super::select as namespaces;
use super::spec::FleetScope;
use crate::manifests;
use crate::providers::Provider;

/// How often the namespaces that failed are looked at; a namespace that failed waits this
/// long before its first retry, then twice as long after each failure, up to [`RETRY_MAX`].
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);
/// The longest wait between two retries of a namespace that keeps failing.
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(300);

/// When a failed namespace is tried again.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    due: tokio::time::Instant,
}

impl Backoff {
    /// After the `failures`-th failure in a row: 5 s, 10 s, 20 s ... 5 min.
    fn after(failures: u32, now: tokio::time::Instant) -> Backoff {
        let wait = RETRY_AFTER
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
            .min(RETRY_MAX);
        Backoff {
            failures,
            due: now + wait,
        }
    }
}

/// Something the watch saw.
enum Change {
    Namespace(Result<Event<Namespace>, watcher::Error>),
    Secret(Result<Event<Secret>, watcher::Error>),
    /// Time to retry the namespaces that failed.
    Retry,
    Stop,
}

/// Watches until a signal; `fleet` has run its first pass.
/// What a stop of an idle watch says (a write or mint in flight says its own).
pub const STOPPING: &str = "stopping the watch (no write is cut in half)";

pub async fn watch(
    fleet: &Fleet<'_>,
    scope: &FleetScope,
    provider: &mut dyn Provider,
) -> anyhow::Result<()> {
    let cancel = fleet.cancel().clone();
    let _window = cancel.window_for(STOPPING);
    let client = fleet.client();
    let name = fleet.secret_name();
    let mut known = fleet.shared_in_cluster(scope, provider).await;
    let mut config = watcher::Config::default();
    if let Some(selector) = &scope.selector {
        config = config.labels(selector);
    }
    let namespaces = watcher::watcher(Api::<Namespace>::all(client.clone()), config)
        .default_backoff()
        .map(Change::Namespace);
    let secrets = watcher::watcher(
        Api::<Secret>::all(client.clone()),
        watcher::Config::default().fields(&format!("metadata.name={name}")),
    )
    .default_backoff()
    .map(Change::Secret);
    let stop = stream::once(cancel.cancelled()).map(|()| Change::Stop);
    // Namespaces that failed are tried again on the next tick.
    let retries = stream::unfold((), |()| async {
        tokio::time::sleep(RETRY_AFTER).await;
        Some((Change::Retry, ()))
    });
    let mut changes = pin!(stream::select(
        stream::select(namespaces, secrets),
        stream::select(stop, retries)
    ));
    crate::trace::note(format!(
        "watching namespaces{} and secret/{name} everywhere (idle until one changes; what is healed is printed with its time); Ctrl-C or SIGTERM stops",
        scope
            .selector
            .as_deref()
            .map(|s| format!(" (-l {s})"))
            .unwrap_or_default()
    ));
    let mut state = State::new(scope);
    while let Some(change) = changes.next().await {
        let batch = match change {
            Change::Stop => break,
            Change::Retry => state.due(tokio::time::Instant::now()),
            Change::Namespace(Ok(event)) => state.namespace(event),
            Change::Secret(Ok(event)) => {
                // Another shared token in the cluster (a rotation elsewhere): find it again.
                if let Event::Apply(s) = &event
                    && fleet
                        .holds_another_shared_token(s, known.as_ref().map(|(id, _)| id.as_str()))
                {
                    known = None;
                }
                state.secret(event, fleet)
            }
            Change::Namespace(Err(e)) | Change::Secret(Err(e)) => {
                crate::trace::warning(format!("watch interrupted ({e}); resuming"));
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        heal(fleet, batch, &mut known, &mut state, provider).await;
    }
    crate::trace::note(format!("{}; stopped watching", cancel.message()));
    Ok(())
}

/// One pass over `batch` with the known shared token; failures are kept for a retry.
async fn heal(
    fleet: &Fleet<'_>,
    batch: Vec<String>,
    known: &mut Option<(String, SecretString)>,
    state: &mut State<'_>,
    provider: &mut dyn Provider,
) {
    let shared = known.as_ref().map(|(id, token)| (id.as_str(), token));
    match fleet.pass(batch.clone(), shared, false, provider).await {
        Ok((done, shared)) => {
            // A token is kept for later heals only once a secret holds it (a minted token no
            // write used is revoked by `finish`).
            if let Some(s) = &shared
                && done.iter().any(|d| d.holds_shared)
            {
                *known = Some((s.id.clone(), s.token.clone()));
            }
            for d in &done {
                state.ended(&d.namespace, d.failed(), d.for_good);
            }
            if let Err(e) = fleet.finish(done, shared, provider).await.summary(false) {
                crate::trace::note(format!("error: {e:#}"));
            }
        }
        Err(e) => {
            crate::trace::note(format!("error: {e:#}"));
            for namespace in &batch {
                state.ended(namespace, true, false);
            }
        }
    }
}

/// The selected namespaces as the watch sees them.
struct State<'s> {
    scope: &'s FleetScope,
    selected: BTreeSet<String>,
    listing: Vec<String>,
    /// Namespaces whose last pass failed, and when each is tried again.
    retry: std::collections::BTreeMap<String, Backoff>,
    /// Namespaces refused for good: tried again only when their secret or the namespace
    /// changes (an event), never on the timer.
    parked: BTreeSet<String>,
}

impl<'s> State<'s> {
    fn new(scope: &'s FleetScope) -> Self {
        State {
            scope,
            selected: BTreeSet::new(),
            listing: Vec::new(),
            retry: std::collections::BTreeMap::new(),
            parked: BTreeSet::new(),
        }
    }

    /// Records how a namespace's pass ended.
    fn ended(&mut self, namespace: &str, failed: bool, for_good: bool) {
        self.ended_at(namespace, failed, for_good, tokio::time::Instant::now());
    }

    fn ended_at(
        &mut self,
        namespace: &str,
        failed: bool,
        for_good: bool,
        now: tokio::time::Instant,
    ) {
        if !failed {
            self.retry.remove(namespace);
            self.parked.remove(namespace);
        } else if for_good {
            self.retry.remove(namespace);
            if self.parked.insert(namespace.to_string()) {
                crate::trace::note(format!(
                    "namespace {namespace}: not retried until its secret or the namespace changes"
                ));
            }
        } else {
            let failures = self.retry.get(namespace).map_or(0, |b| b.failures) + 1;
            self.retry
                .insert(namespace.to_string(), Backoff::after(failures, now));
        }
    }

    /// The failed namespaces whose wait is over (still selected); parked ones are not.
    fn due(&mut self, now: tokio::time::Instant) -> Vec<String> {
        self.retry
            .retain(|namespace, _| self.selected.contains(namespace));
        self.retry
            .iter()
            .filter(|(_, backoff)| backoff.due <= now)
            .map(|(namespace, _)| namespace.clone())
            .collect()
    }

    /// Whether `--exclude` and the `kube-*` rule let `namespace` in.
    fn admits(&self, namespace: &str) -> bool {
        let skip_kube = namespaces::skips_kube(self.scope.selector.as_deref());
        !namespaces::select_with([namespace.to_string()], &self.scope.exclude, skip_kube)
            .0
            .is_empty()
    }

    /// The namespaces to converge after a namespace event.
    fn namespace(&mut self, event: Event<Namespace>) -> Vec<String> {
        match event {
            Event::Init => {
                self.listing.clear();
                vec![]
            }
            Event::InitApply(ns) => {
                // A namespace being terminated takes no new secret: not selected.
                let live = !namespaces::is_terminating(&ns);
                if let Some(n) = ns.metadata.name.filter(|n| live && self.admits(n)) {
                    self.listing.push(n);
                }
                vec![]
            }
            Event::InitDone => {
                // A (re)list: converge whatever appeared while the watch was away.
                self.selected = self.listing.drain(..).collect();
                self.selected.iter().cloned().collect()
            }
            Event::Apply(ns) => match ns.metadata.name {
                Some(n) if self.admits(&n) && !namespaces::is_terminating(&ns) => {
                    self.selected.insert(n.clone());
                    vec![n]
                }
                Some(n) => {
                    self.selected.remove(&n);
                    vec![]
                }
                None => vec![],
            },
            Event::Delete(ns) => {
                if let Some(n) = ns.metadata.name {
                    self.selected.remove(&n);
                }
                vec![]
            }
        }
    }

    /// The namespace to converge after a secret event: one in the selection whose secret was
    /// deleted or no longer is as wanted.
    fn secret(&self, event: Event<Secret>, fleet: &Fleet<'_>) -> Vec<String> {
        let (secret, deleted) = match event {
            Event::Apply(s) => (s, false),
            Event::Delete(s) => (s, true),
            // A re-list after a disconnect: a secret deleted meanwhile sent no event.
            Event::InitDone => return self.selected.iter().cloned().collect(),
            Event::Init | Event::InitApply(_) => return vec![],
        };
        let Some(namespace) = secret.metadata.namespace.clone() else {
            return vec![];
        };
        if !self.selected.contains(&namespace) || (!deleted && fleet.is_wanted(&secret)) {
            return vec![];
        }
        vec![namespace]
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn failed_namespaces_back_off_and_refused_ones_are_parked() {
        let start = tokio::time::Instant::now();
        let waits: Vec<u64> = [1, 2, 3, 4, 7, 40]
            .into_iter()
            .map(|n| (Backoff::after(n, start).due - start).as_secs())
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 300, 300]);

        let scope = FleetScope {
            selector: None,
            exclude: vec![],
            per_namespace: false,
            concurrency: 1,
            watch: true,
        };
        let mut state = State::new(&scope);
        state.selected = ["a", "b", "c"].into_iter().map(String::from).collect();
        state.ended_at("a", true, false, start);
        state.ended_at("b", true, true, start);
        state.ended_at("c", false, false, start);
        let at = |secs| start + Duration::from_secs(secs);
        assert!(state.due(at(4)).is_empty(), "nothing is due before 5 s");
        assert_eq!(
            state.due(at(5)),
            ["a"],
            "the refused namespace is not retried"
        );
        state.ended_at("a", true, false, at(5));
        assert!(state.due(at(14)).is_empty(), "the second wait is 10 s");
        assert_eq!(state.due(at(15)), ["a"]);
        // Success clears both; a namespace no longer selected is dropped.
        state.ended_at("b", false, false, at(15));
        assert!(state.parked.is_empty());
        state.selected.remove("a");
        assert!(state.due(at(1000)).is_empty());
        assert!(state.retry.is_empty());
    }
}

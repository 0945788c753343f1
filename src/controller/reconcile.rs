//! While leading: `kube::runtime::Controller` over Namespaces (the primary object) and the
//! managed Secret of that name in each (watched by name, mapped back to its namespace), with a
//! resync every `--resync`. Each reconcile hands its namespace to one batcher that runs the
//! engine's fan-out pass ([`Fleet::pass`]) over every namespace due at that moment, with the
//! cluster's shared credential, so a burst (the first list, a resync) is written at the
//! fan-out's concurrency and not one namespace after the other.
//!
//! A namespace being terminated is skipped without a retry; one refused for good (a secret of
//! that name this tool does not manage, RBAC) waits for a change; other failures are retried
//! with the Controller's backoff (5 s doubling to 5 min).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Namespace, ObjectReference, Secret};
use kube::ResourceExt as _;
use kube::api::Api;
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter as EventReporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use secrecy::SecretString;
use tokio::sync::{mpsc, oneshot};

use super::health::Health;
use super::metrics::Metrics;
use super::rotation::Schedule;
use super::{CONTROLLER_NAME, ControllerSpec};
use crate::cluster::Target;
use crate::engine::fleet::{Done, Fleet, Outcome};
use crate::engine::report::{self, Reporter, Shown};
use crate::engine::rotate;
use crate::engine::select;
use crate::engine::spec::RotateSpec;
use crate::manifests;
use crate::providers::Provider;

/// How long the batcher waits for more namespaces after the first one of a batch.
const GATHER: Duration = Duration::from_millis(20);
/// The most namespaces in one batch: the Controller's first reconciles of a whole cluster (10,000
/// namespaces) fit in one, read with one LIST instead of one per 2,000.
const BATCH_MAX: usize = 20_000;
/// The first retry of a failed namespace, doubled after each failure up to [`RETRY_MAX`].
const RETRY_AFTER: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(300);
/// Events written at once.
const EVENTS_AT_ONCE: usize = 16;

/// How a namespace's reconcile ended, as the batcher tells it.
enum Verdict {
    /// As wanted now: looked at again at the next resync.
    Settled,
    /// Refused for good, or being terminated: looked at again when it or its secret changes.
    Parked,
    /// Failed: retried with backoff.
    Retry(String),
}

/// A namespace handed to the batcher.
struct Job {
    namespace: String,
    /// When the namespace was created (Unix seconds), for the time it waited for its secret.
    created: Option<i64>,
    reply: oneshot::Sender<Verdict>,
}

/// A reconcile that did not succeed (retried by [`error_policy`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failed(String);

/// What every reconcile shares.
struct Context {
    jobs: mpsc::Sender<Job>,
    metrics: Arc<Metrics>,
    resync: Duration,
    exclude: Vec<String>,
    skip_kube: bool,
    failures: Mutex<HashMap<String, u32>>,
}

/// Managed secrets seen holding a shared credential other than the one the batcher knows (a
/// rotation made elsewhere): the batcher checks them and finds the cluster's credential again.
#[derive(Default)]
struct Sightings {
    known: Mutex<Option<String>>,
    others: Mutex<Vec<Secret>>,
}

impl Sightings {
    fn saw(&self, secret: &Secret) {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let other = known.is_some_and(|known| {
            manifests::is_managed(secret)
                && manifests::is_shared(secret)
                && manifests::annotation(secret, manifests::ANNOTATION_TOKEN_ID)
                    .is_some_and(|id| id != known)
        });
        if other {
            self.others
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(secret.clone());
        }
    }
}

/// What the front end that runs the reconciler wants besides the writes.
pub struct Front<'a> {
    /// Prints what the engine did per object.
    pub reporter: &'a dyn Reporter,
    /// Events on the Secrets and the Lease (the controller; `secret create --watch` writes
    /// none: its user sees the lines).
    pub events: bool,
    /// Whether the reconciler runs the first pass over the selection itself (the controller),
    /// or its caller did (`secret create --watch`, with its summary line).
    pub first_pass: bool,
}

/// Leads until `lost` resolves or a signal: a first pass over the whole selection (then
/// `/readyz` turns ready), then the Controller.
pub async fn lead(
    spec: &ControllerSpec,
    target: &Target,
    provider: &mut dyn Provider,
    (metrics, health): (Arc<Metrics>, &Health),
    schedule: Option<Schedule>,
    lost: impl std::future::Future<Output = ()> + Send + 'static,
    front: Front<'_>,
) -> anyhow::Result<()> {
    let cancel = provider.cancel().clone();
    let leading_since = unix_seconds(std::time::SystemTime::now()) as i64;
    let recorder = front.events.then(|| {
        Recorder::new(
            target.client.clone(),
            EventReporter {
                controller: CONTROLLER_NAME.to_string(),
                instance: Some(spec.lease.identity.clone()),
            },
        )
    });
    let fleet = Fleet::new(&spec.create, target, &*provider, front.reporter);
    let scope = spec.scope();
    let events = Events {
        recorder: recorder.as_ref(),
        metrics: &metrics,
        name: fleet.secret_name(),
    };
    // The namespaces there at the start: their secrets are not "supplied to a new namespace".
    let mut timed = std::collections::HashSet::new();
    if front.first_pass {
        let first = fleet.run(Some(scope), &mut *provider).await?;
        events.publish(&first.done).await;
        timed.extend(first.done.iter().map(|d| d.namespace.clone()));
        crate::trace::note(format!(
            "first pass done over {} namespace(s); watching for changes",
            first.done.len()
        ));
    }
    health.synced();

    let (jobs, queue) = mpsc::channel(BATCH_MAX);
    let context = Arc::new(Context {
        jobs,
        metrics: metrics.clone(),
        resync: spec.resync,
        exclude: scope.exclude.clone(),
        skip_kube: select::skips_kube(scope.selector.as_deref()),
        failures: Mutex::new(HashMap::new()),
    });
    let sightings = Arc::new(Sightings::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let controller = controller(target, spec, sightings.clone(), stopped, context);
    let stop_on = async {
        tokio::select! {
            () = cancel.cancelled() => {}
            () = lost => {}
        }
        let _ = stop.send(());
    };
    let batcher = Batcher {
        fleet: &fleet,
        events,
        sightings: &sightings,
        known: None,
        stale: true,
        scope,
        schedule,
        leading_since,
        timed,
    };
    tokio::select! {
        ((), ()) = futures::future::join(controller, batcher.run(queue, provider)) => {}
        () = async { stop_on.await; std::future::pending::<()>().await } => {}
    }
    Ok(())
}

/// The Controller's stream, driven until it ends (after `stopped`: the reconciles in flight
/// finish first).
async fn controller(
    target: &Target,
    spec: &ControllerSpec,
    sightings: Arc<Sightings>,
    stopped: oneshot::Receiver<()>,
    context: Arc<Context>,
) {
    let scope = spec.scope();
    let mut namespaces = watcher::Config::default();
    if let Some(selector) = &scope.selector {
        namespaces = namespaces.labels(selector);
    }
    let secrets =
        watcher::Config::default().fields(&format!("metadata.name={}", spec.create.spec.name));
    Controller::new(Api::<Namespace>::all(target.client.clone()), namespaces)
        .watches(
            Api::<Secret>::all(target.client.clone()),
            secrets,
            move |secret: Secret| {
                sightings.saw(&secret);
                secret.namespace().map(|ns| ObjectRef::new(&ns))
            },
        )
        .with_config(Config::default().concurrency(0))
        .graceful_shutdown_on(async move {
            let _ = stopped.await;
        })
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(e) = result {
                crate::trace::log(1, format!("controller: {e}"));
            }
        })
        .await;
}

async fn reconcile(namespace: Arc<Namespace>, context: Arc<Context>) -> Result<Action, Failed> {
    let name = namespace.name_any();
    let admitted = !select::select_with([name.clone()], &context.exclude, context.skip_kube)
        .0
        .is_empty();
    if !admitted {
        context.metrics.skip("excluded");
        return Ok(Action::await_change());
    }
    if select::is_terminating(&namespace) {
        crate::trace::log(1, format!("namespace {name}: being terminated; skipped"));
        context.metrics.skip("namespace_terminating");
        return Ok(Action::await_change());
    }
    let (reply, verdict) = oneshot::channel();
    let job = Job {
        namespace: name.clone(),
        created: namespace
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.as_second()),
        reply,
    };
    let stopping = || Failed("the controller is stopping".into());
    context.jobs.send(job).await.map_err(|_| stopping())?;
    match verdict.await.map_err(|_| stopping())? {
        Verdict::Settled => {
            context.forget(&name);
            Ok(Action::requeue(context.resync))
        }
        Verdict::Parked => {
            context.forget(&name);
            Ok(Action::await_change())
        }
        Verdict::Retry(why) => Err(Failed(why)),
    }
}

fn error_policy(namespace: Arc<Namespace>, error: &Failed, context: Arc<Context>) -> Action {
    let name = namespace.name_any();
    let failures = {
        let mut failures = context.failures.lock().unwrap_or_else(|e| e.into_inner());
        let count = failures.entry(name.clone()).or_insert(0);
        *count += 1;
        *count
    };
    let wait = backoff(failures);
    crate::trace::note(format!(
        "namespace {name}: {error}; retried in {}",
        humantime::format_duration(wait)
    ));
    Action::requeue(wait)
}

/// After the `failures`-th failure in a row: 5 s, 10 s, 20 s ... 5 min.
fn backoff(failures: u32) -> Duration {
    RETRY_AFTER
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(RETRY_MAX)
}

impl Context {
    fn forget(&self, namespace: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(namespace);
    }
}

/// Runs the engine over the namespaces handed in, a batch at a time.
struct Batcher<'f, 'r> {
    fleet: &'f Fleet<'r>,
    events: Events<'f>,
    sightings: &'f Sightings,
    known: Option<(String, SecretString)>,
    /// The shared credential must be looked for again (at the start, after a rotation
    /// elsewhere).
    stale: bool,
    scope: &'f crate::engine::spec::FleetScope,
    /// `--rotate-every`.
    schedule: Option<Schedule>,
    /// When this replica began to lead (Unix seconds): namespaces created since are timed.
    leading_since: i64,
    /// Namespaces timed already, or there at the first pass: each new one is timed once.
    timed: std::collections::HashSet<String>,
}

impl Batcher<'_, '_> {
    async fn run(mut self, mut queue: mpsc::Receiver<Job>, provider: &mut dyn Provider) {
        let mut due = match &self.schedule {
            Some(schedule) => Some(schedule.due().await),
            None => None,
        };
        if let Some(due) = due {
            self.show_rotation(due);
        }
        loop {
            let wait = due.map(|due| {
                due.duration_since(std::time::SystemTime::now())
                    .unwrap_or_default()
            });
            let first = tokio::select! {
                job = queue.recv() => match job {
                    Some(job) => job,
                    None => return,
                },
                () = sleep_or_never(wait) => {
                    due = self.rotate(provider).await;
                    continue;
                }
            };
            let mut jobs = vec![first];
            tokio::time::sleep(GATHER).await;
            while jobs.len() < BATCH_MAX {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            self.batch(jobs, provider).await;
        }
    }

    async fn batch(&mut self, jobs: Vec<Job>, provider: &mut dyn Provider) {
        let started = std::time::Instant::now();
        self.check_sightings();
        if self.stale {
            self.known = self.fleet.shared_in_cluster(self.scope, provider).await;
            self.stale = false;
            self.publish_known();
        }
        let mut waiting: BTreeMap<String, Vec<oneshot::Sender<Verdict>>> = BTreeMap::new();
        let mut created = HashMap::new();
        for job in jobs {
            let new = !self.timed.contains(&job.namespace);
            if let Some(at) = job.created.filter(|at| new && *at >= self.leading_since) {
                created.insert(job.namespace.clone(), at);
            }
            waiting.entry(job.namespace).or_default().push(job.reply);
        }
        let names: Vec<String> = waiting.keys().cloned().collect();
        let known = self.known.as_ref().map(|(id, token)| (id.as_str(), token));
        let verdicts = match self.fleet.pass(names, known, false, provider).await {
            Ok((done, shared)) => {
                if let Some(s) = shared
                    .as_ref()
                    .filter(|_| done.iter().any(|d| d.holds_shared))
                {
                    self.known = Some((s.id.clone(), s.token.clone()));
                    self.publish_known();
                }
                let report = self.fleet.finish(done, shared, provider).await;
                self.events.publish(&report.done).await;
                self.time_supplied(&report.done, &created);
                let verdicts = report
                    .done
                    .iter()
                    .map(|d| (d.namespace.clone(), verdict(d)))
                    .collect::<BTreeMap<_, _>>();
                // Skipped namespaces and failures, as the fan-out says them (no count line).
                if let Err(e) = report.summary(false) {
                    crate::trace::note(format!("error: {e:#}"));
                }
                verdicts
            }
            Err(e) => {
                let why = format!("{e:#}");
                crate::trace::note(format!("error: {why}"));
                waiting
                    .keys()
                    .map(|n| (n.clone(), Verdict::Retry(why.clone())))
                    .collect()
            }
        };
        self.events
            .metrics
            .batch_seconds
            .observe(started.elapsed().as_secs_f64());
        let mut verdicts = verdicts;
        for (namespace, replies) in waiting {
            for reply in replies {
                let verdict = match verdicts.get(&namespace) {
                    Some(Verdict::Settled) => Verdict::Settled,
                    Some(Verdict::Parked) => Verdict::Parked,
                    Some(Verdict::Retry(why)) => Verdict::Retry(why.clone()),
                    None => Verdict::Retry("not reported".into()),
                };
                let _ = reply.send(verdict);
            }
            verdicts.remove(&namespace);
        }
    }

    /// Observes how long each namespace created while leading waited for its secret.
    fn time_supplied(&mut self, done: &[Done], created: &HashMap<String, i64>) {
        let now = unix_seconds(std::time::SystemTime::now());
        for d in done.iter().filter(|d| d.outcome == Outcome::Created) {
            if let Some(at) = created.get(&d.namespace) {
                self.timed.insert(d.namespace.clone());
                // Creation times have whole seconds: the wait is at least that coarse.
                self.events
                    .metrics
                    .supply_seconds
                    .observe((now - *at as f64).max(0.0));
            }
        }
    }

    /// Shows when the shared credential was last rotated (`due` less the period).
    fn show_rotation(&self, due: std::time::SystemTime) {
        if let Some(schedule) = &self.schedule {
            let last = due.checked_sub(schedule.every()).unwrap_or(due);
            self.events
                .metrics
                .last_rotation
                .set(unix_seconds(last) as i64);
        }
    }

    /// The scheduled rotation of the cluster's shared credential (the engine's, with its
    /// undo); the next due time.
    async fn rotate(&mut self, provider: &mut dyn Provider) -> Option<std::time::SystemTime> {
        let schedule = self.schedule.as_ref()?;
        let spec = RotateSpec {
            name: self.fleet.secret_name().to_string(),
            fleet: Some(self.scope.clone()),
            access: None,
            concurrency: self.scope.concurrency,
            dry_run: false,
        };
        let target = self.fleet.target_ref();
        crate::trace::note("rotating the cluster's shared credential (scheduled)");
        let result = match rotate::plan(target, &spec, (provider.registry(), provider.kind())).await
        {
            Ok(groups) => {
                let lines = Logged;
                rotate::Rotation::new(&spec, target, &*provider, &lines)
                    .run(groups, provider)
                    .await
            }
            Err(e) => Err(e),
        };
        // Whatever happened, the cluster's credential is looked for again.
        self.stale = true;
        let now = std::time::SystemTime::now();
        match result {
            Ok(()) => {
                self.events
                    .metrics
                    .rotations
                    .get_or_create(&vec![("result", "rotated")])
                    .inc();
                schedule.mark(now).await;
                self.events
                    .metrics
                    .last_rotation
                    .set(unix_seconds(now) as i64);
                let note = format!(
                    "rotated the cluster's shared credential of secret {}: every holder rewritten, the old one revoked",
                    self.fleet.secret_name()
                );
                self.events
                    .rotation(&schedule.lease(), EventType::Normal, "Rotated", note)
                    .await;
                Some(schedule.due().await)
            }
            Err(e) => {
                self.events
                    .metrics
                    .rotations
                    .get_or_create(&vec![("result", "failed")])
                    .inc();
                let why = format!(
                    "the scheduled rotation failed ({e:#}); every secret keeps a working credential; tried again in 5m"
                );
                crate::trace::warning(&why);
                self.events
                    .rotation(&schedule.lease(), EventType::Warning, "RotationFailed", why)
                    .await;
                Some(now + RETRY_MAX)
            }
        }
    }

    /// A managed secret now holds another shared credential than the known one (rotated
    /// elsewhere): the known one is dropped and the cluster's found again.
    fn check_sightings(&mut self) {
        let seen = std::mem::take(
            &mut *self
                .sightings
                .others
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        let known = self.known.as_ref().map(|(id, _)| id.as_str());
        if seen
            .iter()
            .any(|s| self.fleet.holds_another_shared_token(s, known))
        {
            crate::trace::log(
                1,
                "another shared credential appeared; looking for the cluster's again",
            );
            self.stale = true;
        }
    }

    fn publish_known(&self) {
        *self
            .sightings
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = self.known.as_ref().map(|(id, _)| id.clone());
    }
}

/// Seconds since the Unix epoch.
fn unix_seconds(at: std::time::SystemTime) -> f64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Sleeps `wait`, or forever when there is nothing scheduled.
async fn sleep_or_never(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

fn verdict(done: &Done) -> Verdict {
    match done.outcome {
        Outcome::Created | Outcome::Configured | Outcome::Unchanged => Verdict::Settled,
        Outcome::Skipped => Verdict::Parked,
        Outcome::Failed if done.for_good => {
            crate::trace::note(format!(
                "namespace {}: not retried until its secret or the namespace changes",
                done.namespace
            ));
            Verdict::Parked
        }
        Outcome::Failed | Outcome::Unknown => Verdict::Retry(
            done.reason
                .clone()
                .unwrap_or_else(|| "the write failed".into()),
        ),
    }
}

/// Turns outcomes into Events on the Secrets (namespaced, so `kubectl describe secret` and
/// `kubectl events -n NS` show them) and into metrics.
struct Events<'a> {
    recorder: Option<&'a Recorder>,
    metrics: &'a Metrics,
    name: &'a str,
}

impl Events<'_> {
    async fn publish(&self, done: &[Done]) {
        for d in done {
            self.metrics.reconciled(outcome_label(d.outcome));
        }
        let Some(recorder) = self.recorder else {
            return;
        };
        futures::stream::iter(done.iter().filter_map(|d| self.event(d)))
            .for_each_concurrent(EVENTS_AT_ONCE, |(event, reference)| async move {
                if let Err(e) = recorder.publish(&event, &reference).await {
                    self.metrics.events_failed.inc();
                    crate::trace::log(1, format!("event not written: {e}"));
                }
            })
            .await;
    }

    /// An Event of a scheduled rotation, on the Lease the schedule is kept on.
    async fn rotation(
        &self,
        lease: &ObjectReference,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note.chars().take(1000).collect()),
            action: "Rotate".into(),
            secondary: None,
        };
        let Some(recorder) = self.recorder else {
            return;
        };
        if let Err(e) = recorder.publish(&event, lease).await {
            self.metrics.events_failed.inc();
            crate::trace::log(1, format!("event not written: {e}"));
        }
    }

    fn event(&self, done: &Done) -> Option<(Event, ObjectReference)> {
        let (type_, reason, note) = match done.outcome {
            Outcome::Created => (
                EventType::Normal,
                "Created",
                "created the image pull secret",
            ),
            Outcome::Configured => (
                EventType::Normal,
                "Updated",
                "wrote the image pull secret back to the wanted state",
            ),
            Outcome::Failed | Outcome::Unknown => (
                EventType::Warning,
                "WriteFailed",
                "could not write the image pull secret",
            ),
            Outcome::Unchanged | Outcome::Skipped => return None,
        };
        let note = match &done.reason {
            Some(reason) => format!("{note}: {reason}"),
            None => note.to_string(),
        };
        let reference = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Secret".into()),
            name: Some(self.name.to_string()),
            namespace: Some(done.namespace.clone()),
            ..ObjectReference::default()
        };
        Some((
            Event {
                type_,
                reason: reason.into(),
                // The API server takes at most 1 kB.
                note: Some(note.chars().take(1000).collect()),
                action: "Reconcile".into(),
                secondary: None,
            },
            reference,
        ))
    }
}

fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Created => "created",
        Outcome::Configured => "configured",
        Outcome::Unchanged => "unchanged",
        Outcome::Failed => "failed",
        Outcome::Skipped => "skipped",
        Outcome::Unknown => "unknown",
    }
}

/// The engine's per-object lines, logged with the time (the Events carry them too).
pub struct Logged;

impl Reporter for Logged {
    fn object(
        &self,
        _shown: Shown,
        kind_name: &str,
        verb: &str,
        _object: Option<&Secret>,
    ) -> anyhow::Result<()> {
        if !verb.starts_with("unchanged") {
            let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
            crate::trace::note(format!("{now} {kind_name} {verb}"));
        }
        Ok(())
    }

    fn progress(&self, total: usize, kind: &str) -> Box<dyn report::Progress> {
        report::Silent.progress(total, kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_namespaces_back_off_from_five_seconds_to_five_minutes() {
        let waits: Vec<u64> = [1, 2, 3, 4, 7, 40]
            .into_iter()
            .map(|n| backoff(n).as_secs())
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 300, 300]);
    }
}

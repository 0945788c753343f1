//! The in-cluster controller (`kubectl-dedicated_registry controller`, issue 21): the second
//! front end on the engine, for platform teams who keep many namespaces supplied.
//!
//! - **Leader election** ([`leader`]): a `coordination.k8s.io/v1` Lease through
//!   `kube-lease-manager`; only the holder writes, a standby waits to take over.
//! - **Reconcile** ([`reconcile`]): `kube::runtime::Controller` with the Namespace as the
//!   primary object and the managed Secret of that name watched and mapped back to its
//!   namespace; each reconcile is the engine's fan-out pass ([`crate::engine::fleet::Fleet`])
//!   for that namespace, batched with the others that are due, with the cluster's shared
//!   credential; a periodic resync re-reads everything as a safety net against a deaf watch.
//! - **Health and metrics** ([`health`], [`metrics`]): `/healthz`, `/readyz`, `/metrics`.
//! - **Events** on the Secrets written (`Created`, `Updated`, `WriteFailed`).
//!
//! `secret create --watch` is the same reconciler run from the CLI ([`watch`]): no Lease, no
//! probes, no Events, its lines printed the kubectl way.
//!
//! No clap, no stdout: the CLI builds a [`ControllerSpec`] and renders the diagnostics.

pub mod health;
pub mod leader;
mod metered;
pub mod metrics;
mod reconcile;
mod rotation;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::cluster::Target;
use crate::engine::spec::{CreateSpec, FleetScope, Scope};
use crate::providers::Provider;

/// The Event reporter and Lease field manager name.
pub const CONTROLLER_NAME: &str = "kubectl-dedicated-registry";

/// What a stop says while the controller waits.
pub const STOPPING: &str =
    "stopping the controller (no write is cut in half; the Lease is released)";

/// What the controller is asked to keep true.
#[derive(Debug, Clone)]
pub struct ControllerSpec {
    /// The secret, its ServiceAccounts, how credentials are checked; `scope` is the selection.
    pub create: CreateSpec,
    /// Where `/healthz`, `/readyz` and `/metrics` are served.
    pub listen: SocketAddr,
    /// The Lease.
    pub lease: LeaseSpec,
    /// How often every selected namespace is looked at again, events or not.
    pub resync: Duration,
    /// Rotate the cluster's shared credential this often (`None`: never on a schedule).
    pub rotate_every: Option<Duration>,
}

/// The Lease that elects the replica that writes.
#[derive(Debug, Clone)]
pub struct LeaseSpec {
    /// Its name.
    pub name: String,
    /// Its namespace (`None`: the target namespace, in a Pod its own).
    pub namespace: Option<String>,
    /// This replica's identity (the Pod's name).
    pub identity: String,
    /// Seconds a holder keeps it without renewing.
    pub duration_seconds: u64,
}

impl ControllerSpec {
    /// The selection.
    pub fn scope(&self) -> &FleetScope {
        match &self.create.scope {
            Scope::Fleet(scope) => scope,
            Scope::One => unreachable!("the CLI builds a controller spec with a selection"),
        }
    }
}

/// Runs until a signal: serves the probes, takes part in the election, and while leading keeps
/// the selection supplied. A lost Lease stops the writes after those in flight and waits to
/// lead again; SIGTERM releases the Lease before the exit.
pub async fn run(
    spec: &ControllerSpec,
    target: &Target,
    provider: &mut dyn Provider,
) -> anyhow::Result<()> {
    let cancel = provider.cancel().clone();
    // The whole run is one window: a signal stops it between two writes, and the Lease is
    // released before the exit.
    let _window = cancel.window_for(STOPPING);
    let metrics = Arc::new(metrics::Metrics::new());
    crate::cluster::log::observe_answers({
        let metrics = metrics.clone();
        move |status| metrics.answered(status)
    });
    let health = Arc::new(health::Health::default());
    let stopping = {
        let cancel = cancel.clone();
        async move { cancel.cancelled().await }
    };
    let (bound, server) =
        health::serve(spec.listen, health.clone(), metrics.clone(), stopping).await?;
    crate::trace::note(format!(
        "serving /healthz, /readyz and /metrics on http://{bound}"
    ));
    let namespace = spec
        .lease
        .namespace
        .clone()
        .unwrap_or_else(|| target.namespace.clone());
    let mut election = leader::Election::start(target, &spec.lease, &namespace).await?;
    health.observed();
    let result = lead_while_elected(spec, target, provider, &metrics, &health, &mut election).await;
    election.release().await;
    let _ = server.await;
    crate::trace::note(format!("{}; stopped", cancel.message()));
    result
}

/// `secret create NAME -A|-l ... --watch`, after the caller's first pass: the controller's
/// reconciler on `create`'s selection until a signal, without a Lease (one process, the user's),
/// probes or Events; `reporter` prints what it heals. The caller holds the Ctrl-C window.
pub async fn watch(
    create: &CreateSpec,
    target: &Target,
    provider: &mut dyn Provider,
    reporter: &dyn crate::engine::report::Reporter,
) -> anyhow::Result<()> {
    let spec = ControllerSpec {
        create: create.clone(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        lease: LeaseSpec {
            name: String::new(),
            namespace: None,
            identity: String::new(),
            duration_seconds: 0,
        },
        resync: WATCH_RESYNC,
        rotate_every: None,
    };
    let metrics = Arc::new(metrics::Metrics::new());
    let health = health::Health::default();
    reconcile::lead(
        &spec,
        target,
        provider,
        (metrics, &health),
        None,
        std::future::pending(),
        reconcile::Front {
            reporter,
            events: false,
            first_pass: false,
        },
    )
    .await
}

/// How often `--watch` looks at every selected namespace again, events or not.
const WATCH_RESYNC: Duration = Duration::from_secs(600);

/// Leads each time the Lease is won, until a signal.
async fn lead_while_elected(
    spec: &ControllerSpec,
    target: &Target,
    provider: &mut dyn Provider,
    metrics: &Arc<metrics::Metrics>,
    health: &Arc<health::Health>,
    election: &mut leader::Election,
) -> anyhow::Result<()> {
    let cancel = provider.cancel().clone();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            won = election.won() => won?,
        }
        // The probe's state first: a scraper that sees `leader 1` then sees the true readiness.
        health.leading(true);
        metrics.leader.set(1);
        crate::trace::note(format!(
            "leading (Lease {}/{} held by {})",
            election.namespace(),
            spec.lease.name,
            spec.lease.identity
        ));
        let lost = election.lost();
        let mut metered = metered::Metered {
            inner: &mut *provider,
            metrics,
        };
        let schedule = spec.rotate_every.map(|every| {
            rotation::Schedule::new(target, election.namespace(), &spec.lease.name, every)
        });
        let result = reconcile::lead(
            spec,
            target,
            &mut metered,
            (metrics.clone(), health),
            schedule,
            lost,
            reconcile::Front {
                reporter: &reconcile::Logged,
                events: true,
                first_pass: true,
            },
        )
        .await;
        metrics.leader.set(0);
        health.leading(false);
        if cancel.is_cancelled() {
            return result;
        }
        if let Err(e) = result {
            crate::trace::warning(format!("{e:#}"));
        }
        crate::trace::warning("the Lease was lost; writes stopped, standing by to lead again");
    }
}

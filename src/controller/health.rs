//! The controller's HTTP endpoint (`--listen`): `/healthz` (the process serves), `/readyz`
//! (ready to take over or supplying: see [`Health::ready`]) and `/metrics` (OpenMetrics text).
//! Plain HTTP: in a Pod it is reached by the kubelet's probes and a scraper inside the cluster.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::metrics::Metrics;

/// What the probes read.
#[derive(Default)]
pub struct Health {
    /// The Lease has been read at least once (this replica knows who leads).
    observed: AtomicBool,
    /// This replica holds the Lease.
    leading: AtomicBool,
    /// As the leader, the first pass over the whole selection is done.
    synced: AtomicBool,
}

impl Health {
    /// Ready: a standby once it has read the Lease (it can take over); the leader once its
    /// first pass over the selection is done (before that, namespaces may still lack the secret).
    pub fn ready(&self) -> bool {
        self.observed.load(Ordering::SeqCst)
            && (!self.leading.load(Ordering::SeqCst) || self.synced.load(Ordering::SeqCst))
    }

    /// The Lease was read.
    pub fn observed(&self) {
        self.observed.store(true, Ordering::SeqCst);
    }

    /// This replica took (`true`) or lost the Lease; either way, not synced yet.
    pub fn leading(&self, leading: bool) {
        self.synced.store(false, Ordering::SeqCst);
        self.leading.store(leading, Ordering::SeqCst);
    }

    /// The first pass is done.
    pub fn synced(&self) {
        self.synced.store(true, Ordering::SeqCst);
    }
}

#[derive(Clone)]
struct Shared {
    health: Arc<Health>,
    metrics: Arc<Metrics>,
}

/// Binds `listen` and serves until `stop` resolves; the bound address is returned at once
/// (`--listen 127.0.0.1:0` picks a port).
pub async fn serve(
    listen: SocketAddr,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {listen} ({e}); choose another address with --listen")
    })?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(Shared { health, metrics });
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            crate::trace::warning(format!("the health and metrics endpoint stopped: {e}"));
        }
    });
    Ok((bound, server))
}

async fn readyz(State(shared): State<Shared>) -> impl IntoResponse {
    if shared.health.ready() {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics_text(State(shared): State<Shared>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.text(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_is_ready_only_after_its_first_pass_and_a_standby_once_it_read_the_lease() {
        let health = Health::default();
        assert!(!health.ready(), "nothing read yet");
        health.observed();
        assert!(health.ready(), "a standby that read the Lease");
        health.leading(true);
        assert!(!health.ready(), "a leader before its first pass");
        health.synced();
        assert!(health.ready());
        health.leading(false);
        assert!(health.ready(), "standing by again");
    }
}

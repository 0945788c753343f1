//! The controller's Prometheus metrics (`/metrics`, OpenMetrics text), with `prometheus-client`:
//! what was done per namespace, what was skipped and why, credentials minted, leadership, and
//! Events that could not be written. Never a credential, an id or a namespace name in a label
//! (namespaces are unbounded; their names are in the Events and the log).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// One label, `name="value"`.
type Labels = Vec<(&'static str, &'static str)>;

/// Every metric of the controller, registered under the prefix `kubectl_dedicated_registry`.
pub struct Metrics {
    registry: Registry,
    /// Namespaces reconciled, by outcome (`created`, `configured`, `unchanged`, `failed`,
    /// `unknown`, `skipped`).
    pub reconciles: Family<Labels, Counter>,
    /// Namespaces left alone, by reason (`namespace_terminating`, `excluded`).
    pub skipped: Family<Labels, Counter>,
    /// Pull credentials minted (a new shared credential for the cluster).
    pub minted: Counter,
    /// Pull credentials revoked (replaced ones no secret holds any more, unused new ones).
    pub revoked: Counter,
    /// Scheduled rotations, by result (`rotated`, `failed`).
    pub rotations: Family<Labels, Counter>,
    /// 1 while this replica holds the Lease.
    pub leader: Gauge,
    /// Seconds one batch of namespaces took (read, decide, write, revoke).
    pub batch_seconds: Histogram,
    /// Events the API server did not take.
    pub events_failed: Counter,
    /// Seconds from a namespace's creation to its secret, for namespaces created while this
    /// replica leads.
    pub supply_seconds: Histogram,
    /// Answers of the API server that were errors, by HTTP status (`0`: no answer came).
    pub api_errors: Family<Labels, Counter>,
    /// When the cluster's shared credential was last rotated on schedule (Unix seconds; its
    /// age is `time() - this`).
    pub last_rotation: Gauge,
}

impl Metrics {
    /// The metrics, all at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kubectl_dedicated_registry");
        let metrics = Metrics {
            reconciles: Family::default(),
            skipped: Family::default(),
            minted: Counter::default(),
            revoked: Counter::default(),
            rotations: Family::default(),
            leader: Gauge::default(),
            batch_seconds: Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            events_failed: Counter::default(),
            supply_seconds: Histogram::new([
                0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0,
            ]),
            api_errors: Family::default(),
            last_rotation: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "reconciles",
            "Namespaces reconciled, by outcome",
            metrics.reconciles.clone(),
        );
        registry.register(
            "skipped",
            "Namespaces left alone, by reason",
            metrics.skipped.clone(),
        );
        registry.register(
            "credentials_minted",
            "Pull credentials minted",
            metrics.minted.clone(),
        );
        registry.register(
            "credentials_revoked",
            "Pull credentials revoked",
            metrics.revoked.clone(),
        );
        registry.register(
            "rotations",
            "Scheduled rotations, by result",
            metrics.rotations.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the Lease",
            metrics.leader.clone(),
        );
        registry.register(
            "batch_seconds",
            "Seconds one batch of namespaces took",
            metrics.batch_seconds.clone(),
        );
        registry.register(
            "events_failed",
            "Events the API server did not take",
            metrics.events_failed.clone(),
        );
        registry.register(
            "supply_seconds",
            "Seconds from a namespace's creation to its secret (namespaces created while leading)",
            metrics.supply_seconds.clone(),
        );
        registry.register(
            "api_errors",
            "Error answers of the API server, by HTTP status (0: no answer)",
            metrics.api_errors.clone(),
        );
        registry.register(
            "last_rotation_timestamp_seconds",
            "When the shared credential was last rotated on schedule (Unix seconds)",
            metrics.last_rotation.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// One namespace ended with `outcome`.
    pub fn reconciled(&self, outcome: &'static str) {
        self.reconciles
            .get_or_create(&vec![("outcome", outcome)])
            .inc();
    }

    /// One namespace was left alone for `reason`.
    pub fn skip(&self, reason: &'static str) {
        self.skipped.get_or_create(&vec![("reason", reason)]).inc();
    }

    /// The API server answered `status` (0: no answer came); errors are counted by status.
    pub fn answered(&self, status: u16) {
        if status == 0 || status >= 400 {
            let code: &'static str = match status {
                0 => "0",
                400 => "400",
                401 => "401",
                403 => "403",
                404 => "404",
                409 => "409",
                410 => "410",
                422 => "422",
                429 => "429",
                500 => "500",
                502 => "502",
                503 => "503",
                504 => "504",
                other if other < 500 => "4xx",
                _ => "5xx",
            };
            self.api_errors.get_or_create(&vec![("code", code)]).inc();
        }
    }

    /// The OpenMetrics text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_with_the_prefix_and_labelled_by_outcome() {
        let metrics = Metrics::new();
        metrics.reconciled("created");
        metrics.reconciled("created");
        metrics.skip("namespace_terminating");
        metrics.leader.set(1);
        metrics.answered(200);
        metrics.answered(409);
        metrics.answered(418);
        metrics.answered(0);
        let text = metrics.text();
        assert!(
            text.contains("kubectl_dedicated_registry_api_errors_total{code=\"409\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("kubectl_dedicated_registry_api_errors_total{code=\"4xx\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("kubectl_dedicated_registry_api_errors_total{code=\"0\"} 1"),
            "{text}"
        );
        assert!(!text.contains("code=\"200\""), "{text}");
        assert!(
            text.contains("kubectl_dedicated_registry_reconciles_total{outcome=\"created\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "kubectl_dedicated_registry_skipped_total{reason=\"namespace_terminating\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("kubectl_dedicated_registry_leader 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}

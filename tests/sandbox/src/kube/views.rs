//! Typed test views of the `coordination.k8s.io` Leases and `events.k8s.io` Events in the store,
//! for the controller tests to assert on without decoding JSON.

use serde_json::Value;

use super::KubeState;

/// A stored `coordination.k8s.io/v1` Lease, as [`KubeState::lease`] reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseView {
    /// `spec.holderIdentity` (`None` when released).
    pub holder: Option<String>,
    /// `spec.acquireTime`, a MicroTime (`2026-12-07T20:45:27.123456Z`).
    pub acquire_time: Option<String>,
    /// `spec.renewTime`, a MicroTime.
    pub renew_time: Option<String>,
    /// `spec.leaseDurationSeconds`.
    pub duration_seconds: Option<i64>,
    /// `spec.leaseTransitions` (0 when unset).
    pub transitions: i64,
    /// `metadata.resourceVersion`.
    pub resource_version: String,
    /// The `manager` of every `metadata.managedFields` entry, in order.
    pub managers: Vec<String>,
}

/// A stored `events.k8s.io/v1` Event, as [`KubeState::events`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventView {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `regarding.kind` (`Secret`, `Namespace`).
    pub regarding_kind: String,
    /// `regarding.namespace` (`""` for a cluster-scoped object).
    pub regarding_namespace: String,
    /// `regarding.name`.
    pub regarding_name: String,
    /// `reason`.
    pub reason: String,
    /// `type`: `Normal` or `Warning`.
    pub type_: String,
    /// `note` (`""` when unset).
    pub note: String,
    /// `action`.
    pub action: String,
    /// `reportingController`.
    pub reporting_controller: String,
    /// `reportingInstance`.
    pub reporting_instance: String,
    /// `series.count`, 1 for an Event with no series (seen once).
    pub count: i64,
    /// `eventTime` (MicroTime).
    pub event_time: String,
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl KubeState {
    /// Lease `name` in `namespace`, or `None` when there is none.
    pub fn lease(&self, namespace: &str, name: &str) -> Option<LeaseView> {
        let lease = self.get(namespace, "leases.coordination.k8s.io", name)?;
        let opt = |k: &str| {
            lease
                .pointer(&format!("/spec/{k}"))
                .and_then(Value::as_str)
                .map(String::from)
        };
        let int = |k: &str| lease.pointer(&format!("/spec/{k}")).and_then(Value::as_i64);
        Some(LeaseView {
            holder: opt("holderIdentity"),
            acquire_time: opt("acquireTime"),
            renew_time: opt("renewTime"),
            duration_seconds: int("leaseDurationSeconds"),
            transitions: int("leaseTransitions").unwrap_or(0),
            resource_version: text(&lease, "/metadata/resourceVersion"),
            managers: lease
                .pointer("/metadata/managedFields")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|m| text(m, "/manager"))
                .collect(),
        })
    }

    /// Every `events.k8s.io/v1` Event in `namespace` (`""`: all namespaces), oldest
    /// `eventTime` first.
    pub fn events(&self, namespace: &str) -> Vec<EventView> {
        let mut events: Vec<EventView> = self
            .list(namespace, "events.events.k8s.io")
            .iter()
            .map(|e| EventView {
                namespace: text(e, "/metadata/namespace"),
                name: text(e, "/metadata/name"),
                regarding_kind: text(e, "/regarding/kind"),
                regarding_namespace: text(e, "/regarding/namespace"),
                regarding_name: text(e, "/regarding/name"),
                reason: text(e, "/reason"),
                type_: text(e, "/type"),
                note: text(e, "/note"),
                action: text(e, "/action"),
                reporting_controller: text(e, "/reportingController"),
                reporting_instance: text(e, "/reportingInstance"),
                count: e
                    .pointer("/series/count")
                    .and_then(Value::as_i64)
                    .unwrap_or(1),
                event_time: text(e, "/eventTime"),
            })
            .collect();
        events.sort_by(|a, b| a.event_time.cmp(&b.event_time).then(a.name.cmp(&b.name)));
        events
    }
}

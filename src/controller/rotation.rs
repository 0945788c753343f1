//! Scheduled rotation (`--rotate-every`): the cluster's shared credential is replaced by the
//! engine's rotation (new credential minted, verified and written into every holder before the
//! old one is revoked, undone if a write fails: no dead window). When it last happened is kept
//! on the Lease (annotation [`ROTATED_AT`]), so a restart or a new leader keeps the schedule.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams};

use super::CONTROLLER_NAME;
use crate::cluster::Target;

/// The Lease annotation holding the time of the last scheduled rotation (RFC 3339).
pub const ROTATED_AT: &str = "kubectl-dedicated-registry/rotated-at";

/// When the next rotation is due.
pub struct Schedule {
    leases: Api<Lease>,
    namespace: String,
    lease: String,
    every: Duration,
}

impl Schedule {
    /// The schedule kept on the Lease `namespace/lease`.
    pub fn new(target: &Target, namespace: &str, lease: &str, every: Duration) -> Schedule {
        Schedule {
            leases: Api::namespaced(target.client.clone(), namespace),
            namespace: namespace.to_string(),
            lease: lease.to_string(),
            every,
        }
    }

    /// The Lease the schedule is kept on, for the Events of a rotation.
    pub fn lease(&self) -> k8s_openapi::api::core::v1::ObjectReference {
        k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some("coordination.k8s.io/v1".into()),
            kind: Some("Lease".into()),
            name: Some(self.lease.clone()),
            namespace: Some(self.namespace.clone()),
            ..Default::default()
        }
    }

    /// The period.
    pub fn every(&self) -> Duration {
        self.every
    }

    /// The time the next rotation is due: `every` after the last one; a schedule never started
    /// starts now (the first rotation is `every` from now).
    pub async fn due(&self) -> SystemTime {
        let now = SystemTime::now();
        let last = match self.leases.get_opt(&self.lease).await {
            Ok(Some(lease)) => lease
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ROTATED_AT))
                .and_then(|t| humantime::parse_rfc3339(t).ok()),
            Ok(None) => None,
            Err(e) => {
                crate::trace::warning(format!(
                    "cannot read when the credential was last rotated ({e}); the next rotation is counted from now"
                ));
                return now + self.every;
            }
        };
        match last {
            Some(last) => last + self.every,
            None => {
                self.mark(now).await;
                now + self.every
            }
        }
    }

    /// Records a rotation (or the start of the schedule) at `at`.
    pub async fn mark(&self, at: SystemTime) {
        let patch = serde_json::json!({
            "metadata": {"annotations": {ROTATED_AT: humantime::format_rfc3339_seconds(at).to_string()}}
        });
        let params = PatchParams {
            field_manager: Some(CONTROLLER_NAME.to_string()),
            ..PatchParams::default()
        };
        if let Err(e) = self
            .leases
            .patch(&self.lease, &params, &Patch::Merge(&patch))
            .await
        {
            crate::trace::warning(format!(
                "cannot record the rotation time on the Lease ({e}); a restart counts the schedule from then"
            ));
        }
    }
}

//! Leader election with a `coordination.k8s.io/v1` Lease, by `kube-lease-manager` (kube itself
//! has none; this crate follows kube's major version and takes the Lease with a server-side
//! apply, so two replicas cannot both win it). Only the holder writes.

use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;

use super::{CONTROLLER_NAME, LeaseSpec};
use crate::cluster::Target;

/// This replica's part in the election.
pub struct Election {
    leading: Option<watch::Receiver<bool>>,
    task: Option<
        tokio::task::JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
    >,
    namespace: String,
}

impl Election {
    /// Reads (or creates) the Lease and starts renewing or contending for it.
    pub async fn start(
        target: &Target,
        lease: &LeaseSpec,
        namespace: &str,
    ) -> anyhow::Result<Election> {
        // The holder renews a few seconds before it would expire.
        let grace = (lease.duration_seconds / 3).clamp(1, 10);
        let manager = LeaseManagerBuilder::new(target.client.clone(), &lease.name)
            .with_namespace(namespace)
            .with_identity(&lease.identity)
            .with_duration(lease.duration_seconds)
            .with_grace(grace)
            .with_field_manager(CONTROLLER_NAME)
            .build()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot read or create the Lease {namespace}/{} ({e}); the controller's ServiceAccount needs get, create and update on leases.coordination.k8s.io in namespace {namespace} (deploy/base/role.yaml)",
                    lease.name
                )
            })?;
        let (leading, task) = manager.watch().await;
        Ok(Election {
            leading: Some(leading),
            task: Some(task),
            namespace: namespace.to_string(),
        })
    }

    /// The Lease's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Resolves when this replica holds the Lease.
    pub async fn won(&mut self) -> anyhow::Result<()> {
        let Some(leading) = self.leading.as_mut() else {
            return std::future::pending().await;
        };
        leading
            .wait_for(|leading| *leading)
            .await
            .map(drop)
            .map_err(|_| {
                anyhow::anyhow!("the leader election stopped; restarting the Pod starts it again")
            })
    }

    /// A future that resolves when the Lease is lost (or the election stops).
    pub fn lost(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let leading = self.leading.clone();
        async move {
            match leading {
                Some(mut leading) => {
                    let _ = leading.wait_for(|leading| !*leading).await;
                }
                None => std::future::pending().await,
            }
        }
    }

    /// Gives the Lease up (if held) so a standby takes over at once, not after it expires.
    pub async fn release(&mut self) {
        // Closing the channel makes the manager release the Lease and return.
        self.leading = None;
        let Some(task) = self.task.take() else {
            return;
        };
        match task.await {
            Ok(Ok(_)) => crate::trace::log(1, "the Lease was released"),
            Ok(Err(e)) => crate::trace::warning(format!(
                "the Lease could not be released ({e}); a standby takes over when it expires"
            )),
            Err(e) => crate::trace::warning(format!("the leader election task failed: {e}")),
        }
    }
}

//! The one per-namespace loop of the engine: read → decide → write → on a conflict read again
//! and decide again → on an answer that was lost read back. Single-namespace create, fan-out,
//! watch, rotation and its undo all run it ([`converge`]); what differs between them is the
//! [`Goal`]: what they want the secret to become and what a failure means to them.
//!
//! Writes use optimistic concurrency (POST for a new object, PUT with `resourceVersion` for an
//! existing one), so a concurrent writer causes a fresh decision instead of a silent overwrite.
//! When the outcome of a write of a *new* credential is uncertain (the answer was lost, a
//! server-side timeout), the secret is read back: one that holds the new credential was written.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

use super::holders::recorded_id as token_id;
use crate::cluster::objects::{self, MAX_ATTEMPTS, WriteFailure};

/// What a goal wants after looking at the secret as it is.
pub enum Step<O> {
    /// Nothing (more) to write: done, with this output.
    Done(O),
    /// Write this object over the one read.
    Write(Box<Secret>),
}

/// One kind of work on one namespace's secret.
pub trait Goal {
    /// What a namespace ends in when it went as wanted.
    type Output;
    /// What it ends in otherwise.
    type Error;

    /// Whether writes are a server dry run.
    fn dry_run(&self) -> bool;

    /// The error after a cancellation, if the work was asked to stop.
    fn stopped(&mut self) -> Option<Self::Error>;

    /// The secret as read (first, or again after a conflict), or the error a failed read is.
    fn read(
        &mut self,
        read: Result<Option<Secret>, kube::Error>,
    ) -> Result<Option<Secret>, Self::Error>;

    /// What to do with `existing`; `last` when a conflict would be final.
    async fn decide(
        &mut self,
        existing: Option<&Secret>,
        last: bool,
    ) -> Result<Step<Self::Output>, Self::Error>;

    /// The write landed (`recovered`: its answer was lost, and reading back showed it landed).
    async fn landed(
        &mut self,
        written: Secret,
        existing: Option<&Secret>,
        recovered: bool,
    ) -> Result<Self::Output, Self::Error>;

    /// Whether what this goal writes is checked the way the kubelet reads it first (a
    /// restore puts back whatever was there, and is not).
    fn checks_kubelet(&self) -> bool {
        true
    }

    /// The secret to write is one the kubelet could not use (`why`): nothing was written.
    async fn unwritable(&mut self, why: String) -> Self::Error;

    /// A concurrent writer got in first; the secret is read and decided again.
    async fn conflicted(&mut self) {}

    /// The write failed: certainly (`known`), or it is unknown whether it landed.
    async fn failed(
        &mut self,
        failure: WriteFailure,
        existing: Option<&Secret>,
        known: bool,
    ) -> Self::Error;
}

/// Brings the secret `name` to what `goal` wants. `known` is the secret as already read (by a
/// cluster-wide LIST); `None` reads it first.
pub async fn converge<G: Goal>(
    goal: &mut G,
    secrets: &Api<Secret>,
    name: &str,
    known: Option<Option<Secret>>,
) -> Result<G::Output, G::Error> {
    let mut existing = match known {
        Some(existing) => existing,
        None => goal.read(secrets.get_opt(name).await)?,
    };
    for attempt in 1..=MAX_ATTEMPTS {
        let last = attempt == MAX_ATTEMPTS;
        if let Some(stopped) = goal.stopped() {
            return Err(stopped);
        }
        let desired = match goal.decide(existing.as_ref(), last).await? {
            Step::Done(output) => return Ok(output),
            Step::Write(desired) => *desired,
        };
        if goal.checks_kubelet()
            && let Some(why) = super::kubelet::unwritable(&desired)
        {
            return Err(goal.unwritable(why).await);
        }
        let dry_run = goal.dry_run();
        let failure =
            match objects::write_secret(secrets, existing.as_ref(), &desired, dry_run).await {
                Ok(written) => return goal.landed(written, existing.as_ref(), false).await,
                Err(failure) => failure,
            };
        if crate::cluster::is_conflict(&failure.error) && !last {
            crate::trace::log(1, format!("secret/{name} changed concurrently; retrying"));
            goal.conflicted().await;
            existing = goal.read(secrets.get_opt(name).await)?;
            continue;
        }
        // Only a new credential tells a landed write from one that did not land.
        let new = token_id(&desired).filter(|id| existing.as_ref().and_then(token_id) != Some(id));
        let Some(new) = new.filter(|_| !dry_run && objects::is_uncertain(&failure.error)) else {
            return Err(goal.failed(failure, existing.as_ref(), true).await);
        };
        let new = new.to_string();
        return match objects::read_back(secrets, name).await {
            Some(Some(stored)) if token_id(&stored) == Some(new.as_str()) => {
                goal.landed(stored, existing.as_ref(), true).await
            }
            Some(_) => Err(goal.failed(failure, existing.as_ref(), true).await),
            None => Err(goal.failed(failure, existing.as_ref(), false).await),
        };
    }
    unreachable!("the last attempt returns")
}

//! The engine every front end calls: the CLI's commands and the in-cluster controller.
//!
//! No clap, no stdout or stderr, no keyring, no signal handlers: front ends pass in what it
//! needs ([`spec`] values, a [`report::Reporter`], a [`crate::cancel::Cancel`] token inside the
//! session) and render what it reports. Diagnostics go out as [`crate::trace`] events.
//!
//! - [`decide`]: the one decision ([`decide::Decision`]) about a namespace's secret;
//! - [`converge`]: the one per-namespace loop, run by [`single`], [`fleet`] (and the
//!   controller's passes over it) and [`rotate`] (its writes and its undo); [`known`]: the
//!   cluster's shared credential as a long-running front end keeps finding it;
//! - [`holders`]: the shared-credential and last-holder rules; [`lifecycle`]: a credential from
//!   mint to revocation; [`select`]: which namespaces; [`inventory`]: what the cluster holds;
//!   [`grants`]: whether RBAC lets a fan-out write somewhere before it mints; [`kubelet`]: pull
//!   secrets checked the way the kubelet reads them, before a write and when one is read;
//!   [`pull`]: one image pulled with one secret as the kubelet would (the pre-flight's check);
//!   [`diagnose`]: why pods cannot pull, one verdict per image with its fix.

// The goals of `converge` are used generically inside the crate, never as `dyn`, so the
// `Send`-ness of their futures follows from the concrete types.
#![allow(async_fn_in_trait)]

pub mod converge;
pub mod decide;
pub mod diagnose;
pub mod fleet;
pub mod grants;
pub mod holders;
pub mod inventory;
pub mod known;
pub mod kubelet;
pub mod lifecycle;
pub mod pull;
pub mod report;
pub mod rotate;
pub mod select;
pub mod single;
pub mod spec;

//! A Kubernetes API server emulator: discovery, namespaces, secrets, service accounts, pods.

use std::sync::Arc;

use axum::Router;

use crate::{SandboxConfig, World};

/// Stored Kubernetes objects.
pub struct KubeState {}

impl KubeState {
    /// Seeds namespaces and their `default` ServiceAccounts.
    pub fn new(_config: &SandboxConfig) -> Self {
        KubeState {}
    }
}

/// The API server's routes.
pub fn router(world: Arc<World>) -> Router {
    Router::new().with_state(world)
}

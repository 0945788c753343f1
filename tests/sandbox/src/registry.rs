//! Registry management API `/api/v1` and Docker Registry v2 token auth (protocol.md §5, §6).

use std::sync::Arc;

use axum::Router;

use crate::World;

/// Issued registry tokens.
#[derive(Default)]
pub struct RegistryState {}

/// The registry's routes.
pub fn router(world: Arc<World>) -> Router {
    Router::new().with_state(world)
}

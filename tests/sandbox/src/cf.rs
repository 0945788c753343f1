//! Cloud Foundry Cloud Controller: `GET /v2/info`, `GET /`, org lookup (protocol.md §1.2, §4).

use std::sync::Arc;

use axum::Router;

use crate::World;

/// The Cloud Controller's routes.
pub fn router(world: Arc<World>) -> Router {
    Router::new().with_state(world)
}

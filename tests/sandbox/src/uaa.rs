//! Login server and UAA: `/login`, `/passcode`, `/oauth/token` (protocol.md §2).

use std::sync::Arc;

use axum::Router;

use crate::World;

/// Mutable UAA state: live refresh tokens, issued passcodes.
#[derive(Default)]
pub struct UaaState {}

/// The login/UAA routes (served on the UAA host and under the login path).
pub fn router(world: Arc<World>) -> Router {
    Router::new().with_state(world)
}

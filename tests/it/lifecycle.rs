//! Idempotency, overwrite, dry runs, service accounts, concurrency, and cleanup after failures.

use dedicated_sandbox::{Fault, Service};
use serde_json::json;

use crate::common::{TestContext, live_tokens};

#[test]
fn an_expired_access_token_is_refreshed_once_and_the_mint_retried() {
    let ctx = TestContext::logged_in();
    ctx.sandbox.journal().clear();
    ctx.sandbox.inject(
        Fault::json(
            Service::Registry,
            "POST",
            "/api/v1/tokens",
            401,
            json!({"code":"CRG0014E","message":"An error occurred when authenticating your request.","request-id":"r"}),
        )
        .times(1),
    );
    ctx.run(&["-n", "team-a", "secret", "create", "regcred"], None)
        .ok();
    let journal = ctx.sandbox.journal().entries();
    let mints = journal
        .iter()
        .filter(|e| e.method == "POST" && e.path == "/api/v1/tokens")
        .count();
    let refreshes = journal
        .iter()
        .filter(|e| e.form_field("grant_type") == Some("refresh_token"))
        .count();
    assert_eq!((mints, refreshes), (2, 2), "one retry after one refresh");
    assert_eq!(live_tokens(&ctx), 1);
}

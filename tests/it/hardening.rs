//! Regression tests of the hardening review (issue 9), one per finding, each named after it.
//! Every one failed on the code before its fix. Findings 8, 12 and 13 are also covered by unit
//! tests next to the code (`store::profiles`, `lifecycle` tests, `manifests::pull_secret`).
// See: issue 9.

use dedicated_sandbox::{Fault, Service, seed};
use serde_json::json;

use crate::common::TestContext;

/// Finding 9: an endless or oversized answer is refused with a clear error, not read whole.
#[test]
fn finding_09_response_bodies_are_bounded() {
    let ctx = TestContext::logged_in();
    // A well-formed 17 MiB list: over the list limit.
    let padding = "x".repeat(17 << 20);
    ctx.sandbox.inject(Fault::json(
        Service::Registry,
        "GET",
        "/api/v1/tokens",
        200,
        json!({"tokens": [], "padding": padding}),
    ));
    ctx.run(&["token", "list"], None)
        .fails_with("is larger than");
    ctx.sandbox.clear_faults();
    // A 2 MiB token answer from UAA: over the 1 MiB limit.
    ctx.sandbox.inject(Fault::json(
        Service::Login,
        "POST",
        "/UAALoginServerWAR/oauth/token",
        200,
        json!({"access_token": "x".repeat(2 << 20)}),
    ));
    ctx.run(&["status"], None).fails_with("cannot be refreshed");
}

/// Finding 10: terminal control sequences in server text never reach the terminal.
#[test]
fn finding_10_server_text_is_stripped_of_terminal_controls() {
    let ctx = TestContext::logged_in();
    let evil = "Bad credentials\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m";
    ctx.sandbox.inject(Fault::json(
        Service::Login,
        "POST",
        "/UAALoginServerWAR/oauth/token",
        401,
        json!({"error": "unauthorized", "error_description": evil}),
    ));
    let run = ctx
        .login_password(seed::ALICE, "wrong", seed::DEV_ORG)
        .fails_with("Bad credentials");
    for control in ['\u{1b}', '\u{7}', '\u{9b}'] {
        assert!(!run.stderr.contains(control), "{:?}", run.stderr);
    }
    ctx.sandbox.clear_faults();
    ctx.sandbox.inject(Fault::json(
        Service::Registry,
        "GET",
        "/api/v1/tokens",
        200,
        json!({"tokens": [{"_id": "0f6b1c2e-1111-2222-3333-444455556666",
                           "secondary_owner": evil, "readonly": true}]}),
    ));
    let run = ctx.run(&["token", "list", "--all"], None).ok();
    assert!(run.stdout.contains("Bad credentials"), "{}", run.stdout);
    for control in ['\u{1b}', '\u{7}', '\u{9b}'] {
        assert!(!run.stdout.contains(control), "{:?}", run.stdout);
    }
}

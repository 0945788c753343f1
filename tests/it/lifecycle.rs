//! Idempotency, overwrite, dry runs, service accounts, concurrency, and cleanup after failures.

use dedicated_sandbox::{Fault, FaultAction, Service};
use serde_json::json;

use crate::common::{TestContext, live_tokens, status_body};

#[test]
fn all_namespaces_skips_system_and_excluded_ones_and_reports_partial_failures() {
    let ctx = TestContext::logged_in();
    ctx.kubectl(&["create", "namespace", "scratch-1"]).ok();
    let out = ctx
        .run(
            &[
                "secret",
                "create",
                "regcred",
                "-A",
                "--token-per-namespace",
                "--exclude",
                "scratch-*",
            ],
            None,
        )
        .ok();
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "secret/regcred created (namespace default)",
            "secret/regcred created (namespace team-a)",
            "secret/regcred created (namespace team-b)",
        ]
    );
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("kube-system", "secrets", "regcred")
            .is_none()
    );
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("scratch-1", "secrets", "regcred")
            .is_none()
    );
    assert_eq!(live_tokens(&ctx), 3, "one token per namespace");

    // Idempotent across namespaces; a failure in one does not stop the others.
    ctx.sandbox.inject(Fault::json(
        Service::Kube,
        "POST",
        "/api/v1/namespaces/scratch-1/secrets",
        403,
        status_body(
            403,
            "Forbidden",
            "secrets is forbidden: User \"x\" cannot create resource \"secrets\"",
        ),
    ));
    let run = ctx
        .run(
            &[
                "secret",
                "create",
                "regcred",
                "--all-namespaces",
                "--token-per-namespace",
            ],
            None,
        )
        .fails_with("failed in 1 namespace(s): scratch-1");
    assert_eq!(run.stdout.matches("unchanged").count(), 3, "{}", run.stdout);
    assert_eq!(live_tokens(&ctx), 3, "the token for scratch-1 was revoked");
    ctx.run(
        &["secret", "create", "regcred", "-A", "--dry-run=client"],
        None,
    )
    .fails_with("--dry-run=server");
}

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

/// Waits until the journal shows a `method` request for `path`.
pub fn wait_until_requested(ctx: &TestContext, method: &str, path: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ctx
        .sandbox
        .journal()
        .entries()
        .iter()
        .any(|e| e.method == method && e.path == path)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{method} {path} was never requested"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Sends SIGINT to `pid`.
pub fn interrupt(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Sends SIGINT to `pid` once the journal shows `path` was requested.
fn interrupt_when_requested(ctx: &TestContext, pid: u32, path: &str) {
    let method = if path.ends_with("/tokens") {
        "POST"
    } else {
        "GET"
    };
    wait_until_requested(ctx, method, path);
    interrupt(pid);
}

#[test]
fn ctrl_c_while_a_token_is_in_flight_never_leaves_it_behind() {
    let ctx = TestContext::logged_in();
    let slow = |path: &str| {
        Fault::new(
            Service::Registry,
            "POST",
            path,
            FaultAction::Delay(std::time::Duration::from_secs(4)),
        )
        .times(1)
    };
    // Interrupted while the mint request is in flight: it completes, then the token is revoked.
    ctx.sandbox.inject(slow("/api/v1/tokens"));
    let child = ctx.spawn(&["-n", "team-a", "secret", "create", "regcred"]);
    interrupt_when_requested(&ctx, child.id(), "/api/v1/tokens");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted by Ctrl-C"), "{stderr}");
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 1);
    assert!(
        tokens[0].revoked,
        "the token minted during the interrupt was revoked"
    );
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("team-a", "secrets", "regcred")
            .is_none()
    );

    // Outside the window Ctrl-C stops at once, with the shell's 130.
    let secret_path = "/api/v1/namespaces/team-a/secrets/other";
    ctx.sandbox.inject(
        Fault::new(
            Service::Kube,
            "GET",
            secret_path,
            FaultAction::Delay(std::time::Duration::from_secs(4)),
        )
        .times(1),
    );
    ctx.sandbox.journal().clear();
    let child = ctx.spawn(&["-n", "team-a", "secret", "create", "other"]);
    interrupt_when_requested(&ctx, child.id(), secret_path);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(ctx.tokens().len(), 1, "nothing minted");
}

//! Regression tests of the hardening review (issue 9), one per finding, each named after it.
//! Every one failed on the code before its fix. Findings 8, 12 and 13 are also covered by unit
//! tests next to the code (`store::profiles`, `lifecycle` tests, `manifests::pull_secret`).
// See: issue 9.

use std::time::Duration;

use dedicated_sandbox::{Fault, FaultAction, Service, seed};
use serde_json::json;

use crate::common::{TestContext, scratch_dir};

/// Finding 5: a password inside `--api` is refused, never printed or stored.
#[test]
fn finding_05_credentials_in_url_flags_are_refused() {
    let ctx = TestContext::new();
    let api = ctx
        .sandbox
        .urls()
        .api
        .replacen("https://", "https://alice:hunter2-secret@", 1);
    let run = ctx
        .run(
            &[
                "login",
                "--api",
                &api,
                "--password-stdin",
                "--username",
                "a",
            ],
            Some("pw\n"),
        )
        .fails_with("must not contain a user name or password");
    run.leaks_none(&["hunter2-secret"]);
    assert!(!ctx.config_file().exists(), "nothing stored");
    assert!(ctx.sandbox.journal().entries().is_empty(), "nothing sent");
    for (flag, value) in [
        ("--api", format!("{}/?x=1", ctx.sandbox.urls().api)),
        ("--registry", "registry.example?x=1".to_string()),
        ("--registry", "alice:pw@registry.example".to_string()),
    ] {
        ctx.run(&["login", flag, &value], None)
            .fails_with("invalid");
    }
}

/// Finding 6: two settings files holding the same profile share one keyring entry, so their
/// refreshes take turns: each presents the latest rotated refresh token.
#[test]
fn finding_06_the_refresh_lock_follows_the_keyring_entry() {
    let ctx = TestContext::logged_in();
    let second = scratch_dir(&ctx).join("elsewhere/config.yaml");
    std::fs::create_dir_all(second.parent().unwrap()).unwrap();
    std::fs::copy(ctx.config_file(), &second).unwrap();
    // Slow refreshes make every run overlap with the others.
    ctx.sandbox.inject(Fault::new(
        Service::Login,
        "POST",
        "/UAALoginServerWAR/oauth/token",
        FaultAction::Delay(Duration::from_millis(300)),
    ));
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut cmd = ctx.command(&["status"]);
            if i % 2 == 1 {
                cmd.env("KUBECTL_DEDICATED_REGISTRY_CONFIG", &second);
            }
            cmd.stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    ctx.sandbox.clear_faults();
    ctx.run(&["status"], None).ok();
}

/// Finding 7: concurrent logins of different profiles keep every profile.
#[test]
fn finding_07_concurrent_logins_keep_every_profile() {
    let ctx = TestContext::logged_in();
    // Slow logins overlap: each reads the settings file before another writes it.
    ctx.sandbox.inject(Fault::new(
        Service::Login,
        "POST",
        "/UAALoginServerWAR/oauth/token",
        FaultAction::Delay(Duration::from_millis(300)),
    ));
    let args = ctx.login_args(&[
        "--username",
        seed::BOB,
        "--password-stdin",
        "--org",
        seed::DEV_ORG,
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut cmd = ctx.command(&refs);
            cmd.env("KUBECTL_DEDICATED_REGISTRY_PROFILE", format!("p{i}"))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{}\n", seed::BOB_PASSWORD).as_bytes())
                .unwrap();
            child
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(ctx.config_file()).unwrap();
    for profile in ["p0", "p1", "p2", "p3"] {
        assert!(
            text.contains(&format!("\n  {profile}:")),
            "{profile} lost:\n{text}"
        );
    }
    let profiles = text
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':'))
        .count();
    assert_eq!(
        profiles, 5,
        "the first login's profile is kept too:\n{text}"
    );
}

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

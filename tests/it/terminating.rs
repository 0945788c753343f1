//! Namespaces being terminated (phase `Terminating`) in `secret create -A|-l`,
//! `--token-per-namespace` and `--watch`: skipped before writing when the namespace list already
//! says so, and on the API server's 403 with cause `NamespaceTerminating` when it turned
//! Terminating mid-run; one "skipped" line each, counted in the summary, exit 0 when nothing
//! else failed, never retried, and no credential left live for a write that was skipped.
// See: issue 22.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dedicated_sandbox::{Fault, FaultAction, Service};

use crate::common::{TestContext, journal_lines, mints, namespaces, stored_token};

/// The POSTs of secrets to `namespace` in the journal, with the status each got.
fn creates_in(ctx: &TestContext, namespace: &str) -> Vec<u16> {
    let path = format!("/api/v1/namespaces/{namespace}/secrets");
    ctx.sandbox
        .journal()
        .entries()
        .iter()
        .filter(|e| e.service == Service::Kube && e.method == "POST" && e.path == path)
        .map(|e| e.status)
        .collect()
}

/// The stderr lines that say a namespace was skipped.
fn skipped_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains(" skipped: "))
        .collect()
}

/// A fault that puts `namespace` into phase Terminating just before the API server handles
/// the first create of a secret there (it turned Terminating after the plugin listed it).
fn terminates_at_the_create(namespace: &'static str) -> Fault {
    let path = format!("/api/v1/namespaces/{namespace}/secrets");
    Fault::new(
        Service::Kube,
        "POST",
        &path,
        FaultAction::Meanwhile(Arc::new(move |world| {
            assert!(world.kube.terminate_namespace(namespace));
        })),
    )
    .times(1)
}

#[test]
fn a_namespace_terminating_before_the_run_is_skipped_without_a_write() {
    let ctx = TestContext::logged_in();
    namespaces(&ctx, &["fleet-1", "fleet-2"]);
    assert!(ctx.sandbox.world.kube.terminate_namespace("fleet-2"));
    ctx.sandbox.journal().clear();
    let run = ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    assert_eq!(
        skipped_lines(&run.stderr),
        vec![
            "namespace fleet-2 skipped: it is being terminated (phase Terminating); nothing was written there"
        ],
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("4 created, 0 configured, 0 unchanged, 1 skipped, 0 failed"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("error"), "{}", run.stderr);
    assert_eq!(
        creates_in(&ctx, "fleet-2"),
        Vec::<u16>::new(),
        "nothing is sent to a namespace the list shows Terminating:\n{}",
        journal_lines(&ctx.sandbox)
    );
    assert_eq!(creates_in(&ctx, "fleet-1"), vec![201]);
    assert_eq!(mints(&ctx), 1);

    // A selection holding nothing but a Terminating namespace mints nothing and succeeds.
    ctx.kubectl(&["label", "namespace", "fleet-2", "copy=yes"])
        .ok();
    ctx.sandbox.journal().clear();
    let run = ctx
        .run(&["secret", "create", "regcred", "-l", "copy=yes"], None)
        .ok();
    assert_eq!(skipped_lines(&run.stderr).len(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("0 created, 0 configured, 0 unchanged, 1 skipped, 0 failed"),
        "{}",
        run.stderr
    );
    assert_eq!(mints(&ctx), 0, "{}", journal_lines(&ctx.sandbox));
    assert!(creates_in(&ctx, "fleet-2").is_empty());

    // A single namespace named on purpose is an error, found before anything is minted.
    ctx.sandbox.journal().clear();
    ctx.run(&["-n", "fleet-2", "secret", "create", "regcred"], None)
        .fails_with("namespace `fleet-2`: the namespace is being terminated");
    assert_eq!(mints(&ctx), 0, "{}", journal_lines(&ctx.sandbox));
}

#[test]
fn a_namespace_turning_terminating_mid_run_is_skipped_once_and_not_retried() {
    let ctx = TestContext::logged_in();
    namespaces(&ctx, &["fleet-1", "fleet-2"]);
    ctx.sandbox.inject(terminates_at_the_create("fleet-2"));
    ctx.sandbox.journal().clear();
    let run = ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    assert_eq!(
        skipped_lines(&run.stderr),
        vec![
            "namespace fleet-2 skipped: it is being terminated (the API server refused the create: NamespaceTerminating); nothing was written there"
        ],
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("4 created, 0 configured, 0 unchanged, 1 skipped, 0 failed"),
        "{}",
        run.stderr
    );
    assert_eq!(
        creates_in(&ctx, "fleet-2"),
        vec![403],
        "one refused create, no retry:\n{}",
        journal_lines(&ctx.sandbox)
    );
    // The shared token the other namespaces hold stays live.
    let (shared, _) = stored_token(&ctx, "fleet-1", "regcred");
    assert!(!ctx.token_revoked(&shared));
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("fleet-2", "secrets", "regcred")
            .is_none()
    );
}

#[test]
fn a_token_minted_only_for_skipped_writes_is_revoked() {
    let ctx = TestContext::logged_in();
    namespaces(&ctx, &["fleet-1"]);
    ctx.kubectl(&["label", "namespace", "fleet-1", "copy=yes"])
        .ok();
    ctx.sandbox.inject(terminates_at_the_create("fleet-1"));
    ctx.sandbox.journal().clear();
    let run = ctx
        .run(&["secret", "create", "regcred", "-l", "copy=yes"], None)
        .ok();
    assert_eq!(skipped_lines(&run.stderr).len(), 1, "{}", run.stderr);
    assert_eq!(mints(&ctx), 1, "minted before the create was refused");
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 1);
    assert!(
        ctx.token_revoked(&tokens[0].id),
        "the shared token no secret holds is revoked:\n{}\n{}",
        run.stderr,
        journal_lines(&ctx.sandbox)
    );
    assert!(
        run.stderr.contains("no secret was written with it"),
        "{}",
        run.stderr
    );
}

#[test]
fn token_per_namespace_skips_terminating_namespaces_and_revokes_their_tokens() {
    let ctx = TestContext::logged_in();
    namespaces(&ctx, &["fleet-1", "fleet-2", "fleet-3"]);
    assert!(ctx.sandbox.world.kube.terminate_namespace("fleet-2"));
    ctx.sandbox.inject(terminates_at_the_create("fleet-3"));
    ctx.sandbox.journal().clear();
    let run = ctx
        .run(
            &["secret", "create", "regcred", "-A", "--token-per-namespace"],
            None,
        )
        .ok();
    let skipped = skipped_lines(&run.stderr);
    assert_eq!(skipped.len(), 2, "{}", run.stderr);
    assert!(skipped[0].starts_with("namespace fleet-2 skipped"));
    assert!(skipped[1].starts_with("namespace fleet-3 skipped"));
    assert!(
        run.stderr
            .contains("4 created or configured, 0 unchanged, 2 skipped, 0 failed"),
        "{}",
        run.stderr
    );
    assert!(creates_in(&ctx, "fleet-2").is_empty());
    assert_eq!(creates_in(&ctx, "fleet-3"), vec![403], "no retry");
    // One token per written namespace is live; the one minted for fleet-3 is revoked.
    let live: Vec<String> = ctx
        .tokens()
        .into_iter()
        .filter(|t| !t.revoked)
        .map(|t| t.description)
        .collect();
    assert_eq!(live.len(), 4, "{live:?}");
    assert!(
        !live.iter().any(|d| d.contains("/fleet-3/")),
        "{live:?}\n{}",
        run.stderr
    );
    assert_eq!(mints(&ctx), 5);
}

/// Polls `check` for up to 20 s.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(20), "never: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_watch_skips_terminating_namespaces_and_keeps_watching() {
    let ctx = TestContext::logged_in();
    namespaces(&ctx, &["w-1", "w-2"]);
    for ns in ["w-1", "w-2"] {
        ctx.kubectl(&["label", "namespace", ns, "copy=yes"]).ok();
    }
    assert!(ctx.sandbox.world.kube.terminate_namespace("w-2"));
    let child = ctx.spawn(&["secret", "create", "regcred", "-l", "copy=yes", "--watch"]);
    let kube = &ctx.sandbox.world.kube;
    eventually("first pass", || {
        kube.get("w-1", "secrets", "regcred").is_some()
    });

    // One that turns Terminating between the watch event and the write: refused once.
    ctx.sandbox.inject(terminates_at_the_create("w-3"));
    namespaces(&ctx, &["w-3"]);
    ctx.kubectl(&["label", "namespace", "w-3", "copy=yes"]).ok();
    eventually("the refused create in w-3", || {
        creates_in(&ctx, "w-3") == vec![403]
    });
    // The watch goes on: a later namespace is served.
    namespaces(&ctx, &["w-4"]);
    ctx.kubectl(&["label", "namespace", "w-4", "copy=yes"]).ok();
    eventually("w-4 after the skip", || {
        kube.get("w-4", "secrets", "regcred").is_some()
    });
    // A namespace with the secret turns Terminating and its content goes: the deleted secret
    // is not written again (the namespace left the selection with its Terminating event).
    assert!(kube.terminate_namespace("w-1"));
    std::thread::sleep(Duration::from_millis(500));
    ctx.kubectl(&["-n", "w-1", "delete", "secret", "regcred"])
        .ok();
    // Longer than the watch's retry tick (5 s): a skipped namespace is not retried.
    std::thread::sleep(Duration::from_millis(5_500));
    assert_eq!(
        creates_in(&ctx, "w-3"),
        vec![403],
        "{}",
        journal_lines(&ctx.sandbox)
    );
    assert!(
        creates_in(&ctx, "w-2").is_empty(),
        "Terminating from the start"
    );
    assert_eq!(creates_in(&ctx, "w-1"), vec![201], "only the first pass");

    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("error:"), "{stderr}");
    let skipped = skipped_lines(&stderr);
    assert_eq!(
        skipped.len(),
        2,
        "w-2 by the first pass, w-3 once:\n{stderr}"
    );
    assert!(skipped[0].starts_with("namespace w-2 skipped"), "{stderr}");
    assert!(skipped[1].starts_with("namespace w-3 skipped"), "{stderr}");
}

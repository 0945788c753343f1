//! Fleet scale (`secret create -A|-l`): one token for the cluster, concurrent writes, selectors,
//! failures that stay in their namespace, a shared token revoked only by its last holder, and
//! `--watch`.
// See: issue 10.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use dedicated_sandbox::{Fault, KubeRule, KubeUser, SandboxConfig, Service};
use serde_json::json;

use crate::common::{SELECTED, TestContext, ids, mints, namespaces, require_keyring, stored_token};

#[test]
fn one_token_for_the_cluster_and_reruns_mint_nothing() {
    let ctx = TestContext::logged_in();
    namespaces(&ctx, &["fleet-1", "fleet-2", "fleet-3"]);
    ctx.sandbox.journal().clear();
    let run = ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    assert_eq!(mints(&ctx), 1, "one mint for a fresh cluster");
    let shared = ids(&ctx, SELECTED);
    assert_eq!(shared.len(), 1, "every namespace holds the same token");
    assert_eq!(run.stdout.lines().count(), SELECTED.len(), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("secret/regcred created (namespace fleet-2)")
    );
    assert!(
        run.stderr
            .contains("6 created, 0 configured, 0 unchanged, 0 failed"),
        "{}",
        run.stderr
    );
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("kube-system", "secrets", "regcred")
            .is_none()
    );
    let id = shared.iter().next().unwrap().clone();
    let token = ctx.tokens().into_iter().find(|t| t.id == id).unwrap();
    assert!(
        token.description.ends_with("/*/regcred"),
        "{}",
        token.description
    );

    // A re-run mints nothing and changes nothing.
    ctx.sandbox.journal().clear();
    let run = ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    assert_eq!(mints(&ctx), 0);
    assert!(
        run.stderr
            .contains("0 created, 0 configured, 6 unchanged, 0 failed"),
        "{}",
        run.stderr
    );
    assert!(
        !ctx.sandbox
            .journal()
            .entries()
            .iter()
            .any(|e| e.service == Service::Kube
                && matches!(e.method.as_str(), "POST" | "PUT")
                && e.path.contains("/secrets")),
        "an unchanged re-run writes no secret"
    );

    // New namespaces get the cluster's token: no mint. A 429 from the API server is retried.
    namespaces(&ctx, &["fleet-4", "fleet-5"]);
    ctx.sandbox.inject(
        Fault::json(
            Service::Kube,
            "POST",
            "/api/v1/namespaces/fleet-5/secrets",
            429,
            json!({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","message":"slow down","code":429}),
        )
        .times(1),
    );
    ctx.sandbox.journal().clear();
    let run = ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    assert_eq!(mints(&ctx), 0, "new namespaces reuse the cluster's token");
    assert!(
        run.stderr
            .contains("2 created, 0 configured, 6 unchanged, 0 failed"),
        "{}",
        run.stderr
    );
    assert_eq!(ids(&ctx, &["fleet-4", "fleet-5", "team-a"]), shared);
    run.leaks_none(&[&token.token]);
}

#[test]
fn a_shared_token_is_revoked_only_by_its_last_holder() {
    let ctx = TestContext::logged_in();
    ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    let old = ids(&ctx, &["default", "team-a", "team-b"])
        .pop_first()
        .unwrap();

    // One namespace rotates away from the shared token: the others still hold it.
    let run = ctx
        .run(
            &["-n", "team-a", "secret", "create", "regcred", "--rotate"],
            None,
        )
        .ok();
    assert!(
        run.stderr.contains("still held by 2 other secret(s)"),
        "{}",
        run.stderr
    );
    assert!(!ctx.token_revoked(&old));
    let own = stored_token(&ctx, "team-a", "regcred").0;
    assert_ne!(own, old);
    let team_a = ctx
        .sandbox
        .world
        .kube
        .get("team-a", "secrets", "regcred")
        .unwrap();
    assert!(
        team_a["metadata"]["annotations"]["kubectl-dedicated-registry/token-scope"].is_null(),
        "a namespace's own token is not marked shared: {team_a}"
    );

    // Deleting one holder keeps it too.
    let run = ctx
        .run(&["-n", "team-b", "secret", "delete", "regcred"], None)
        .ok();
    assert!(
        run.stderr.contains("still held by 1 other secret(s)"),
        "{}",
        run.stderr
    );
    assert!(!ctx.token_revoked(&old));

    // A rotation of the whole cluster replaces both and revokes each once nothing holds it.
    let run = ctx
        .run(&["secret", "create", "regcred", "-A", "--rotate"], None)
        .ok();
    let new = ids(&ctx, &["default", "team-a", "team-b"]);
    assert_eq!(new.len(), 1);
    assert!(!new.contains(&old) && !new.contains(&own));
    assert!(ctx.token_revoked(&old), "{}", run.stderr);
    assert!(ctx.token_revoked(&own), "{}", run.stderr);

    // An access change is said, and the read-only token goes once nothing holds it.
    let run = ctx
        .run(&["secret", "create", "regcred", "-A", "--readwrite"], None)
        .ok();
    assert!(
        run.stderr
            .contains("access read-only -> read-write in 3 namespace(s)"),
        "{}",
        run.stderr
    );
    let ro = new.into_iter().next().unwrap();
    assert!(ctx.token_revoked(&ro), "{}", run.stderr);
    let new = ids(&ctx, &["default", "team-a", "team-b"]);
    assert_eq!(new.len(), 1);

    // The last holder's delete revokes it.
    for ns in ["default", "team-a"] {
        ctx.run(&["-n", ns, "secret", "delete", "regcred"], None)
            .ok();
    }
    let last = new.into_iter().next().unwrap();
    assert!(!ctx.token_revoked(&last));
    ctx.run(&["-n", "team-b", "secret", "delete", "regcred"], None)
        .ok();
    assert!(ctx.token_revoked(&last));
}

#[test]
fn token_per_namespace_and_reuse() {
    let ctx = TestContext::logged_in();
    ctx.sandbox.journal().clear();
    ctx.run(
        &["secret", "create", "regcred", "-A", "--token-per-namespace"],
        None,
    )
    .ok();
    assert_eq!(ids(&ctx, &["default", "team-a", "team-b"]).len(), 3);
    assert_eq!(mints(&ctx), 3);

    // `--reuse` in one namespace takes the cluster's shared token (here: mints one, once).
    let ctx = TestContext::logged_in();
    ctx.run(
        &["-n", "team-a", "secret", "create", "regcred", "--reuse"],
        None,
    )
    .ok();
    ctx.sandbox.journal().clear();
    ctx.run(
        &["-n", "team-b", "secret", "create", "regcred", "--reuse"],
        None,
    )
    .ok();
    assert_eq!(mints(&ctx), 0);
    assert_eq!(ids(&ctx, &["team-a", "team-b"]).len(), 1);
}

#[test]
fn selectors_choose_namespaces_and_dry_runs_mint_nothing() {
    let ctx = TestContext::logged_in();
    namespaces(&ctx, &["pay-1", "pay-2", "web-1"]);
    for ns in ["pay-1", "pay-2"] {
        ctx.kubectl(&["label", "namespace", ns, "team=payments"])
            .ok();
    }
    ctx.sandbox.journal().clear();
    let run = ctx
        .run(
            &[
                "secret",
                "create",
                "regcred",
                "-l",
                "team=payments",
                "--dry-run=server",
            ],
            None,
        )
        .ok();
    assert_eq!(mints(&ctx), 0);
    assert!(
        run.stdout
            .contains("created (server dry run) (namespace pay-1)"),
        "{}",
        run.stdout
    );
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("pay-1", "secrets", "regcred")
            .is_none()
    );

    ctx.run(
        &["secret", "create", "regcred", "-l", "team=payments"],
        None,
    )
    .ok();
    assert_eq!(ids(&ctx, &["pay-1", "pay-2"]).len(), 1);
    for ns in ["web-1", "team-a", "default"] {
        assert!(
            ctx.sandbox
                .world
                .kube
                .get(ns, "secrets", "regcred")
                .is_none(),
            "{ns}"
        );
    }
    ctx.run(&["secret", "create", "regcred", "-l", "team=nobody"], None)
        .fails_with("no namespace matches -l team=nobody");
    ctx.run(
        &["-n", "team-a", "secret", "create", "regcred", "--watch"],
        None,
    )
    .fails_with("add -A or -l");
}

/// A user who may create secrets in team-a and team-b only, and read namespaces.
fn partial_rights() -> SandboxConfig {
    let mut config = SandboxConfig::default();
    let all = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut rules = vec![KubeRule {
        namespace: None,
        resources: all(&["namespaces"]),
        verbs: all(&["get", "list"]),
    }];
    for ns in ["team-a", "team-b"] {
        rules.push(KubeRule {
            namespace: Some(ns.into()),
            resources: all(&["secrets"]),
            verbs: all(&["*"]),
        });
    }
    config.kube_users.push(KubeUser {
        name: "fleet-op".into(),
        token: "fleet-op-token-0123456789".into(),
        rules,
    });
    config
}

#[test]
fn a_forbidden_namespace_fails_alone_and_is_named() {
    require_keyring();
    let ctx = TestContext::with_config(partial_rights());
    ctx.login_alice();
    ctx.sandbox.journal().clear();
    let run = ctx
        .run(
            &["--context", "fleet-op", "secret", "create", "regcred", "-A"],
            None,
        )
        .fails_with("failed in 1 namespace(s): default");
    assert!(
        run.stderr
            .contains("namespace default failed: Kubernetes denied create"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("2 created, 0 configured, 0 unchanged, 1 failed"),
        "{}",
        run.stderr
    );
    assert_eq!(mints(&ctx), 1);
    let shared = ids(&ctx, &["team-a", "team-b"]);
    assert_eq!(shared.len(), 1);
    assert!(
        !ctx.token_revoked(shared.first().unwrap()),
        "the shared token is in use"
    );

    // Nowhere allowed: nothing is minted.
    let ctx = TestContext::with_config(partial_rights());
    ctx.login_alice();
    ctx.sandbox.journal().clear();
    ctx.run(
        &[
            "--context",
            "fleet-op",
            "secret",
            "create",
            "regcred",
            "-A",
            "--exclude",
            "team-*",
        ],
        None,
    )
    .fails_with("failed in 1 namespace(s): default");
    assert_eq!(
        mints(&ctx),
        0,
        "a write RBAC refuses everywhere mints nothing"
    );
}

/// Polls `check` for up to 20 s (the margin is for a loaded CI machine); the time it took is
/// printed (`--no-capture` shows it), not asserted: timings are measured, not tested.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not healed: {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("healed in {} ms: {what}", start.elapsed().as_millis());
}

#[test]
fn watch_heals_new_relabelled_and_deleted_secrets_and_stops_on_sigterm() {
    let ctx = TestContext::logged_in();
    namespaces(&ctx, &["w-1"]);
    ctx.kubectl(&["label", "namespace", "w-1", "copy=yes"]).ok();
    let child = ctx.spawn(&["secret", "create", "regcred", "-l", "copy=yes", "--watch"]);
    let kube = &ctx.sandbox.world.kube;
    eventually("first pass", || {
        kube.get("w-1", "secrets", "regcred").is_some()
    });
    let shared = stored_token(&ctx, "w-1", "regcred").0;
    let mints_before = mints(&ctx);

    // A namespace created with the label, one labelled later, a secret deleted, one edited.
    ctx.kubectl(&["create", "namespace", "w-2"]).ok();
    ctx.kubectl(&["label", "namespace", "w-2", "copy=yes"]).ok();
    eventually("labelled namespace", || {
        kube.get("w-2", "secrets", "regcred").is_some()
    });
    let uid = |ns: &str| {
        kube.get(ns, "secrets", "regcred").map(|s| {
            s["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
    };
    let before = uid("w-1").expect("written by the first pass");
    ctx.kubectl(&["-n", "w-1", "delete", "secret", "regcred"])
        .ok();
    eventually("deleted secret", || uid("w-1").is_some_and(|u| u != before));
    ctx.kubectl(&[
        "-n",
        "w-2",
        "annotate",
        "--overwrite",
        "secret",
        "regcred",
        "kubectl-dedicated-registry/token-access=read-write",
    ])
    .ok();
    eventually("edited secret", || {
        kube.get("w-2", "secrets", "regcred").is_some_and(|s| {
            s["metadata"]["annotations"]["kubectl-dedicated-registry/token-access"] == "read-only"
        })
    });
    assert_eq!(ids(&ctx, &["w-1", "w-2"]), BTreeSet::from([shared.clone()]));
    assert_eq!(
        mints(&ctx),
        mints_before,
        "the watch copies the shared token"
    );
    assert!(
        kube.get("team-a", "secrets", "regcred").is_none(),
        "outside the selection"
    );

    // A write that fails is tried again (here: one server error on a new namespace).
    ctx.sandbox.inject(
        Fault::json(
            Service::Kube,
            "POST",
            "/api/v1/namespaces/w-3/secrets",
            500,
            json!({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"InternalError","message":"etcd hiccup","code":500}),
        )
        .times(1),
    );
    ctx.kubectl(&["create", "namespace", "w-3"]).ok();
    ctx.kubectl(&["label", "namespace", "w-3", "copy=yes"]).ok();
    eventually("a failed write, retried", || {
        kube.get("w-3", "secrets", "regcred").is_some()
    });

    // A rotation elsewhere replaces the cluster's token: the watch follows it.
    let rotation = ctx
        .run(
            &["secret", "create", "regcred", "-l", "copy=yes", "--rotate"],
            None,
        )
        .ok();
    let rotated = ids(&ctx, &["w-1", "w-2", "w-3"]);
    assert_eq!(rotated.len(), 1, "{}", rotation.stderr);
    assert!(!rotated.contains(&shared));
    ctx.kubectl(&["create", "namespace", "w-4"]).ok();
    ctx.kubectl(&["label", "namespace", "w-4", "copy=yes"]).ok();
    eventually("a namespace after the rotation", || {
        kube.get("w-4", "secrets", "regcred").is_some()
    });
    assert_eq!(
        ids(&ctx, &["w-4"]),
        rotated,
        "the new token, not the revoked one"
    );

    // SIGTERM stops it cleanly.
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("interrupted by SIGTERM; stopped watching"),
        "{stderr}"
    );
}

#[test]
fn new_namespaces_get_the_shared_token_without_any_login() {
    let ctx = TestContext::logged_in();
    ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    let shared = ids(&ctx, &["default", "team-a", "team-b"]);
    // The settings file as a ConfigMap would carry it into a Pod: a profile whose login is in
    // no keyring (the keyring entry is keyed by profile name).
    let settings = std::fs::read_to_string(ctx.config_file()).unwrap();
    let renamed = settings.replacen(&format!("  {}:", ctx.profile), "  in-cluster:", 1);
    assert_ne!(settings, renamed, "the profile was renamed");
    let copy = ctx.home.path().join("mounted-config.yaml");
    std::fs::write(&copy, renamed).unwrap();
    namespaces(&ctx, &["late-1"]);
    ctx.sandbox.journal().clear();
    let mut cmd = ctx.command(&["secret", "create", "regcred", "-A"]);
    cmd.env("KUBECTL_DEDICATED_REGISTRY_CONFIG", &copy)
        .env("KUBECTL_DEDICATED_REGISTRY_PROFILE", "in-cluster");
    let run = ctx.run_with(cmd, None).ok();
    assert!(
        run.stderr.contains("1 created, 0 configured, 3 unchanged"),
        "{}",
        run.stderr
    );
    assert_eq!(ids(&ctx, &["late-1"]), shared);
    assert!(
        !ctx.sandbox
            .journal()
            .entries()
            .iter()
            .any(|e| matches!(e.service, Service::Uaa | Service::Login)
                || e.path == "/api/v1/tokens"),
        "no login, no mint"
    );

    // A namespace that needs a new token (here: a rotation) cannot get one without a login,
    // and says so.
    let mut cmd = ctx.command(&["secret", "create", "regcred", "-A", "--rotate"]);
    cmd.env("KUBECTL_DEDICATED_REGISTRY_CONFIG", &copy)
        .env("KUBECTL_DEDICATED_REGISTRY_PROFILE", "in-cluster");
    ctx.run_with(cmd, None).fails_with("login");
    assert_eq!(
        ids(&ctx, &["default", "team-a", "team-b", "late-1"]),
        shared
    );
}

#[test]
fn a_terminal_gets_a_progress_bar_and_a_pipe_does_not() {
    let ctx = TestContext::logged_in();
    namespaces(&ctx, &["bar-1", "bar-2", "bar-3", "bar-4", "bar-5"]);
    let cmd = ctx.command(&["secret", "create", "regcred", "-A"]);
    let mut session = rexpect::session::spawn_command(cmd, Some(30_000)).expect("pty session");
    let transcript = session.exp_eof().unwrap();
    assert!(transcript.contains("/8 namespaces, "), "{transcript}");
    assert!(
        transcript.contains("8 created, 0 configured, 0 unchanged, 0 failed"),
        "{transcript}"
    );
    // Without a terminal (the harness captures both streams): lines only.
    let run = ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    assert!(!run.stderr.contains(" namespaces, "), "{}", run.stderr);
    assert!(
        run.stderr.contains("0 created, 0 configured, 8 unchanged"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_failed_service_account_update_still_releases_the_replaced_token() {
    let ctx = TestContext::logged_in();
    ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    let old = ids(&ctx, &["default", "team-a", "team-b"])
        .pop_first()
        .unwrap();
    // The secrets are rotated, then the ServiceAccount step fails in every namespace.
    let run = ctx
        .run(
            &[
                "secret",
                "create",
                "regcred",
                "-A",
                "--rotate",
                "--service-account",
                "no-such-account",
            ],
            None,
        )
        .fails_with("failed in 3 namespace(s)");
    let new = ids(&ctx, &["default", "team-a", "team-b"]);
    assert_eq!(new.len(), 1);
    assert!(!new.contains(&old), "the secrets were written");
    assert!(
        ctx.token_revoked(&old),
        "nothing holds the old token any more: {}",
        run.stderr
    );
    assert!(!ctx.token_revoked(new.first().unwrap()));
}

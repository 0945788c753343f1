//! Fleet scale (`secret create -A|-l`): one token for the cluster, concurrent writes, selectors,
//! `--token-per-namespace` and `--reuse`, `kube-*` and `--exclude` skipped, failures that stay in
//! their namespace, a shared token revoked only by its last holder, new namespaces served
//! without a login, and a progress bar only on a terminal.
// See: issue 10.

use dedicated_sandbox::{Fault, KubeRule, KubeUser, SandboxConfig, Service};
use serde_json::json;

use crate::common::{
    SELECTED, TestContext, ids, journal_lines, live_tokens, mints, namespaces, shared_cluster,
    status_body, stored_token,
};

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
        resource_names: vec![],
    }];
    for ns in ["team-a", "team-b"] {
        rules.push(KubeRule {
            namespace: Some(ns.into()),
            resources: all(&["secrets"]),
            verbs: all(&["*"]),
            resource_names: vec![],
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
    let ctx = TestContext::logged_in_with(partial_rights());
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
    let ctx = TestContext::logged_in_with(partial_rights());
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

/// The settings file as a ConfigMap would carry it into a Pod: the profile renamed
/// `in-cluster`, so its login is in no keyring (the keyring entry is keyed by profile name).
fn in_cluster_settings(ctx: &TestContext) -> std::path::PathBuf {
    let settings = std::fs::read_to_string(ctx.config_file()).unwrap();
    let renamed = settings.replacen(&format!("  {}:", ctx.profile), "  in-cluster:", 1);
    assert_ne!(settings, renamed, "the profile was renamed");
    let copy = ctx.home.path().join("mounted-config.yaml");
    std::fs::write(&copy, renamed).unwrap();
    copy
}

#[test]
fn new_namespaces_get_the_shared_token_without_any_login() {
    let ctx = TestContext::logged_in();
    ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    let shared = ids(&ctx, &["default", "team-a", "team-b"]);
    let copy = in_cluster_settings(&ctx);
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

/// Issue 25: the fan-out adopts the cluster's shared token only after the registry said it
/// still works. A revoked shared token is replaced everywhere, and a new namespace never gets
/// it. Asserted on what the registry and the API server hold, not on output.
#[test]
fn a_revoked_shared_token_is_never_adopted_again() {
    let ctx = TestContext::logged_in();
    let (old, old_token) = shared_cluster(&ctx);
    assert!(ctx.sandbox.world.registry.revoke(&old));
    namespaces(&ctx, &["fleet-4"]);
    ctx.sandbox.journal().clear();
    let run = ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    let mut everywhere: Vec<&str> = SELECTED.to_vec();
    everywhere.push("fleet-4");
    let held = ids(&ctx, &everywhere);
    assert_eq!(held.len(), 1, "one shared token everywhere: {held:?}");
    let new = held.into_iter().next().unwrap();
    assert_ne!(new, old, "the revoked token was adopted again");
    assert!(
        !ctx.token_revoked(&new),
        "the token every secret holds is live"
    );
    assert_eq!(mints(&ctx), 1, "{}", journal_lines(&ctx.sandbox));
    // The old token was checked (v2, with its own credential) before the new one was minted.
    let entries = ctx.sandbox.journal().entries();
    let mint = entries
        .iter()
        .position(|e| e.method == "POST" && e.path == "/api/v1/tokens")
        .expect("a mint");
    assert!(
        entries[..mint].iter().any(|e| e.path.starts_with("/v2")),
        "{}",
        journal_lines(&ctx.sandbox)
    );
    run.leaks_none(&[&old_token]);
}

/// Issue 25 (bug 1, a second test): exactly one other secret still holds the cluster's shared
/// token when a namespace rotates away from it; the registry sees no revocation until that last
/// holder is deleted too (journal order and final state, not output).
#[test]
fn with_exactly_one_other_holder_the_shared_token_stays_live() {
    let ctx = TestContext::logged_in();
    for namespace in ["team-a", "team-b"] {
        ctx.kubectl(&["label", "namespace", namespace, "pair=yes"])
            .ok();
    }
    ctx.run(&["secret", "create", "regcred", "-l", "pair=yes"], None)
        .ok();
    let shared = ids(&ctx, &["team-a", "team-b"]);
    assert_eq!(shared.len(), 1, "{shared:?}");
    let old = shared.into_iter().next().unwrap();
    let revocation = format!("/api/v1/tokens/{old}");
    let revoked_in_journal = || {
        ctx.sandbox
            .journal()
            .entries()
            .iter()
            .any(|e| e.method == "DELETE" && e.path == revocation)
    };
    ctx.run(
        &["-n", "team-a", "secret", "create", "regcred", "--rotate"],
        None,
    )
    .ok();
    assert_ne!(stored_token(&ctx, "team-a", "regcred").0, old);
    assert_eq!(stored_token(&ctx, "team-b", "regcred").0, old);
    assert!(
        !revoked_in_journal() && !ctx.token_revoked(&old),
        "revoked while team-b holds it: {}",
        journal_lines(&ctx.sandbox)
    );
    ctx.run(&["-n", "team-b", "secret", "delete", "regcred"], None)
        .ok();
    assert!(revoked_in_journal(), "{}", journal_lines(&ctx.sandbox));
    assert!(ctx.token_revoked(&old));
}

/// Issue 25 (bug 3, a second test): the registry's token list still shows the cluster's shared
/// token as live, but its v2 realm refuses it (a revocation the list does not show yet; both
/// the early check and the one before adoption are refused): the fan-out mints a new one and
/// spreads that, never the refused one.
#[test]
fn a_shared_token_the_registry_refuses_is_not_adopted_even_when_listed_live() {
    let ctx = TestContext::logged_in();
    let (old, old_token) = shared_cluster(&ctx);
    namespaces(&ctx, &["fleet-4"]);
    ctx.sandbox.journal().clear();
    ctx.sandbox.inject(
        Fault::json(
            Service::Registry,
            "GET",
            "/oauth/token",
            401,
            json!({"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}),
        )
        .times(2),
    );
    let run = ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    assert!(!ctx.token_revoked(&old), "listed live all along");
    let entries = ctx.sandbox.journal().entries();
    let mint = entries
        .iter()
        .position(|e| e.method == "POST" && e.path == "/api/v1/tokens")
        .unwrap_or_else(|| panic!("a new token: {}", journal_lines(&ctx.sandbox)));
    assert!(
        entries[..mint]
            .iter()
            .any(|e| e.path == "/oauth/token" && e.status == 401),
        "the shared token was checked with the registry before the mint: {}",
        journal_lines(&ctx.sandbox)
    );
    let held = ids(&ctx, &["fleet-4"]);
    assert!(
        !held.contains(&old),
        "the refused token was copied into a new namespace"
    );
    assert_eq!(mints(&ctx), 1);
    run.leaks_none(&[&old_token]);
}

/// Issue 25 (bug 3, without a login, as in a Pod): the selection's shared token was revoked;
/// with no login the registry's list cannot be asked, so only the v2 check stands between the
/// revoked token and a new namespace. It is not copied; the run fails, naming the login.
#[test]
fn a_revoked_shared_token_is_not_copied_without_a_login() {
    let ctx = TestContext::logged_in();
    let (old, old_token) = shared_cluster(&ctx);
    assert!(ctx.sandbox.world.registry.revoke(&old));
    let copy = in_cluster_settings(&ctx);
    namespaces(&ctx, &["late-1"]);
    ctx.sandbox.journal().clear();
    let mut cmd = ctx.command(&["secret", "create", "regcred", "-A"]);
    cmd.env("KUBECTL_DEDICATED_REGISTRY_CONFIG", &copy)
        .env("KUBECTL_DEDICATED_REGISTRY_PROFILE", "in-cluster");
    let run = ctx.run_with(cmd, None).fails_with("login");
    let entries = ctx.sandbox.journal().entries();
    assert!(
        entries.iter().any(|e| e.path.starts_with("/oauth/token")),
        "checked with the registry: {}",
        journal_lines(&ctx.sandbox)
    );
    assert!(
        !entries
            .iter()
            .any(|e| e.method == "POST" && e.path == "/api/v1/namespaces/late-1/secrets"),
        "nothing written into late-1: {}",
        journal_lines(&ctx.sandbox)
    );
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("late-1", "secrets", "regcred")
            .is_none()
    );
    run.leaks_none(&[&old_token]);
}

/// Issue 24, N1: a tenant's secret outside the selection that claims to hold the cluster's
/// shared token (managed label, `token-scope: cluster`, a live token of the org, but not one
/// this tool minted for the cluster) is not adopted: the selection gets a token of its own, and
/// the run says what it ignored.
#[test]
fn a_planted_shared_token_outside_the_selection_is_not_adopted() {
    let ctx = TestContext::logged_in();
    namespaces(&ctx, &["ns-0500"]);
    ctx.kubectl(&["label", "namespace", "team-a", "team=a"])
        .ok();
    // The tenant renders a secret of its own (its token is described for ns-0500) and marks it
    // as the cluster's shared token.
    let rendered = ctx
        .run(
            &["-n", "ns-0500", "secret", "render", "hij", "-o", "json"],
            None,
        )
        .ok();
    let mut planted: serde_json::Value = serde_json::from_str(&rendered.stdout).unwrap();
    planted["metadata"]["annotations"]["kubectl-dedicated-registry/token-scope"] = json!("cluster");
    let planted_id = planted["metadata"]["annotations"]["kubectl-dedicated-registry/token-id"]
        .as_str()
        .unwrap()
        .to_string();
    let file = ctx.home.path().join("planted.json");
    std::fs::write(&file, planted.to_string()).unwrap();
    ctx.kubectl(&["apply", "-f", file.to_str().unwrap()]).ok();
    ctx.sandbox.journal().clear();
    let run = ctx
        .run(&["secret", "create", "hij", "-l", "team=a"], None)
        .ok();
    let (held, _) = stored_token(&ctx, "team-a", "hij");
    assert_ne!(held, planted_id, "the tenant's token was adopted");
    assert_eq!(mints(&ctx), 1, "{}", journal_lines(&ctx.sandbox));
    assert!(
        !ctx.token_revoked(&planted_id),
        "the tenant's token is not ours to revoke"
    );
    assert!(
        run.stderr.lines().any(|l| l.starts_with("warning: ")
            && l.contains(&planted_id)
            && l.contains("ignored")),
        "{}",
        run.stderr
    );
}

const REVIEWS: &str = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";

/// Issue 23: a user whose rights come from per-namespace RoleBindings (the cluster-wide review
/// says no) waits for one batch of reviews, not one review per namespace, before the mint;
/// the namespaces it may not write fail alone, by review or by their write's own 403.
#[test]
fn per_namespace_grants_mint_once_after_a_few_reviews() {
    let granted: Vec<String> = (1..=30).map(|i| format!("grant-{i:02}")).collect();
    let mut config = SandboxConfig::default();
    config.namespaces.extend(granted.iter().cloned());
    config.kube_users.push(KubeUser::namespace_writer(&granted));
    let ctx = TestContext::logged_in_with(config);
    ctx.sandbox.journal().clear();
    let context = dedicated_sandbox::seed::KUBE_NS_WRITER;
    let run = ctx
        .run(
            &["--context", context, "secret", "create", "regcred", "-A"],
            None,
        )
        .fails_with("failed in 3 namespace(s): default, team-a, team-b");
    assert_eq!(mints(&ctx), 1, "{}", journal_lines(&ctx.sandbox));
    let entries = ctx.sandbox.journal().entries();
    let reviews = entries.iter().filter(|e| e.path == REVIEWS).count();
    assert!(
        reviews < 10,
        "{reviews} reviews\n{}",
        journal_lines(&ctx.sandbox)
    );
    let first_write = entries
        .iter()
        .position(|e| e.method == "POST" && e.path.ends_with("/secrets"))
        .expect("a write");
    let reviews_before = entries[..first_write]
        .iter()
        .filter(|e| e.path == REVIEWS)
        .count();
    assert!(
        reviews_before < 10,
        "{reviews_before} reviews before the first write"
    );
    let names: Vec<&str> = granted.iter().map(String::as_str).collect();
    assert_eq!(
        ids(&ctx, &names).len(),
        1,
        "one shared token everywhere allowed"
    );
    for ns in ["default", "team-a", "team-b"] {
        assert!(
            run.stderr
                .contains(&format!("namespace {ns} failed: Kubernetes denied create")),
            "{}",
            run.stderr
        );
    }
    assert!(
        run.stderr
            .contains("30 created, 0 configured, 0 unchanged, 3 failed"),
        "{}",
        run.stderr
    );
}

/// Issue 23: the set-up overlaps. The namespace LIST and the first per-namespace access review
/// are held by the server; what does not depend on them is sent while they are in flight (the
/// journal records, for each request, which requests were unanswered when it arrived), and
/// the mint waits for the review.
#[test]
fn the_set_up_steps_overlap_and_the_mint_waits_for_rbac() {
    let granted: Vec<String> = (1..=6).map(|i| format!("grant-{i}")).collect();
    let mut config = SandboxConfig::default();
    config.namespaces.extend(granted.iter().cloned());
    config.kube_users.push(KubeUser::namespace_writer(&granted));
    let ctx = TestContext::logged_in_with(config);
    let hold = std::time::Duration::from_millis(1500);
    ctx.sandbox.inject(
        Fault::new(
            Service::Kube,
            "GET",
            "/api/v1/namespaces",
            dedicated_sandbox::FaultAction::Delay(hold),
        )
        .times(1),
    );
    // The two cluster-wide reviews pass; the first per-namespace one is held.
    ctx.sandbox.inject(
        Fault::new(
            Service::Kube,
            "POST",
            REVIEWS,
            dedicated_sandbox::FaultAction::Delay(hold),
        )
        .after(2)
        .times(1),
    );
    ctx.sandbox.journal().clear();
    let context = dedicated_sandbox::seed::KUBE_NS_WRITER;
    ctx.run(
        &["--context", context, "secret", "create", "regcred", "-A"],
        None,
    )
    .fails_with("failed in 3 namespace(s)");
    let entries = ctx.sandbox.journal().entries();
    let lines = journal_lines(&ctx.sandbox);
    let at = |pred: &dyn Fn(&dedicated_sandbox::Entry) -> bool| {
        entries
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("{lines}"))
    };
    let namespace_list = at(&|e| e.method == "GET" && e.path == "/api/v1/namespaces");
    let secret_list = at(&|e| e.method == "GET" && e.path == "/api/v1/secrets");
    // `request` did not wait for `held`'s answer: it reached the server first (the two are sent
    // together and either may arrive first), or while `held` was still unanswered.
    let without_waiting_for =
        |request: usize, held: usize| request < held || entries[request].in_flight.contains(&held);
    assert!(
        without_waiting_for(secret_list, namespace_list),
        "the secret LIST goes out with the namespace LIST\n{lines}"
    );
    let reviews: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].path == REVIEWS)
        .collect();
    assert!(reviews.len() >= 3, "{lines}");
    for &review in &reviews[..2] {
        assert!(
            without_waiting_for(review, namespace_list),
            "the cluster-wide reviews go out with the namespace LIST\n{lines}"
        );
    }
    let held_review = reviews[2];
    let refresh = at(&|e| e.form_field("grant_type") == Some("refresh_token"));
    assert!(
        without_waiting_for(refresh, held_review),
        "the login is refreshed while RBAC is asked\n{lines}"
    );
    let mint = at(&|e| e.method == "POST" && e.path == "/api/v1/tokens");
    assert!(
        mint > held_review && !entries[mint].in_flight.contains(&held_review),
        "the mint waits for the access review\n{lines}"
    );
    assert_eq!(mints(&ctx), 1);
}

/// Issue 24, N8: `--concurrency` above what the open-files limit allows is lowered, with a
/// warning naming the limit, and every namespace is written. (On the code before the fix, 256
/// requests at once under a limit of 160 failed with EMFILE in many namespaces, worded as an
/// unreachable API server.) The hard limit is lowered too, so the plugin cannot raise it.
#[test]
fn concurrency_is_clamped_to_the_open_files_limit() {
    let mut config = SandboxConfig {
        latency: std::time::Duration::from_millis(60),
        ..SandboxConfig::default()
    };
    config
        .namespaces
        .extend((1..=300).map(|i| format!("ns-{i:04}")));
    let ctx = TestContext::logged_in_with(config);
    let plugin = ctx.command(&["secret", "create", "regcred", "-A", "--concurrency", "256"]);
    let mut cmd = std::process::Command::new("prlimit");
    cmd.arg("--nofile=160:160")
        .arg("--")
        .arg(plugin.get_program());
    cmd.args(plugin.get_args());
    for (key, value) in plugin.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    let run = ctx.run_with(cmd, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "warning: --concurrency 256 lowered to 96: the open-files limit is 160 (`ulimit -n`)"
        ),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("cannot reach"), "{}", run.stderr);
    let written = ctx
        .sandbox
        .world
        .kube
        .list("", "secrets")
        .iter()
        .filter(|s| s["metadata"]["name"] == "regcred")
        .count();
    assert!(written >= 300, "{written} secrets written");
}

/// Issue 24, friction 14: the lines of `-A` come in namespace order whatever order the
/// namespaces finish in (the first namespace's write is held so it finishes last), and the
/// summary counts the ServiceAccounts patched.
#[test]
fn fan_out_lines_are_in_namespace_order_and_the_summary_counts_service_accounts() {
    let ctx = TestContext::logged_in();
    ctx.sandbox.inject(
        Fault::new(
            Service::Kube,
            "POST",
            "/api/v1/namespaces/default/secrets",
            dedicated_sandbox::FaultAction::Delay(std::time::Duration::from_millis(800)),
        )
        .times(1),
    );
    let run = ctx
        .run(
            &[
                "secret",
                "create",
                "regcred",
                "-A",
                "--service-account",
                "default",
            ],
            None,
        )
        .ok();
    let secrets: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("secret/"))
        .collect();
    assert_eq!(
        secrets,
        [
            "secret/regcred created (namespace default)",
            "secret/regcred created (namespace team-a)",
            "secret/regcred created (namespace team-b)",
        ],
        "{}",
        run.stdout
    );
    // Each namespace's ServiceAccount line follows its secret's.
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{}", run.stdout);
    assert_eq!(
        lines[1], "serviceaccount/default configured (namespace default)",
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains(
            "3 created, 0 configured, 0 unchanged, 0 failed; 3 serviceaccount(s) configured"
        ),
        "{}",
        run.stderr
    );
}

//! `secret rotate` (issue 11, point 4): every secret holding a token gets the new one before the
//! old one is revoked; a failed write puts every secret back on the old, still-live token and
//! revokes the new one; `--readwrite`; `-n`; `--dry-run` changes nothing; no token in any output.
//! (Ctrl-C during the writes: `signals::ctrl_c_during_the_writes_*`.)
// See: issue 11.

use dedicated_sandbox::{Fault, FaultAction, KubeRule, KubeUser, SandboxConfig, Service, seed};
use serde_json::Value;

use crate::common::{
    SELECTED, TestContext, assert_order, ids, journal_lines, mints, namespaces, shared_cluster,
    status_body, stored_token, token_value,
};

/// The stored `regcred` of `namespace`.
fn stored(ctx: &TestContext, namespace: &str) -> Value {
    ctx.sandbox
        .world
        .kube
        .get(namespace, "secrets", "regcred")
        .expect("the secret exists")
}

fn annotation(secret: &Value, key: &str) -> Option<String> {
    secret["metadata"]["annotations"][format!("kubectl-dedicated-registry/{key}")]
        .as_str()
        .map(str::to_string)
}

#[test]
fn rotate_all_replaces_the_shared_token_everywhere_and_revokes_it_after_the_last_write() {
    let ctx = TestContext::logged_in();
    let (old, old_token) = shared_cluster(&ctx);
    ctx.sandbox.journal().clear();
    let run = ctx.run(&["secret", "rotate", "regcred", "-A"], None).ok();

    assert_eq!(mints(&ctx), 1, "one new shared token");
    let held = ids(&ctx, SELECTED);
    assert_eq!(
        held.len(),
        1,
        "every secret holds the same new token: {held:?}"
    );
    let new = held.into_iter().next().unwrap();
    assert_ne!(new, old);
    assert!(ctx.token_revoked(&old), "the old token is revoked");
    assert!(!ctx.token_revoked(&new));
    let info = ctx.tokens().into_iter().find(|t| t.id == new).unwrap();
    assert!(
        info.description.ends_with("/*/regcred"),
        "{}",
        info.description
    );
    assert!(info.readonly, "the access of the old token is kept");
    for ns in SELECTED {
        let secret = stored(&ctx, ns);
        assert_eq!(
            annotation(&secret, "token-scope").as_deref(),
            Some("cluster")
        );
        assert_eq!(
            annotation(&secret, "token-access").as_deref(),
            Some("read-only")
        );
        assert_eq!(stored_token(&ctx, ns, "regcred").1, info.token, "{ns}");
    }
    assert_eq!(run.stdout.lines().count(), SELECTED.len(), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("secret/regcred rotated (namespace fleet-2)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("1 tokens rotated, 6 secrets rewritten, 0 failed"),
        "{}",
        run.stderr
    );

    // The order: mint, verify, every write, and only then the revocation of the old token.
    let revoke_old = format!("/api/v1/tokens/{old}");
    let steps = assert_order(
        &ctx.sandbox,
        &[
            ("POST", "/api/v1/tokens"),
            ("GET", "/v2/"),
            ("PUT", "/api/v1/namespaces/*"),
            ("DELETE", &revoke_old),
        ],
    );
    let entries = ctx.sandbox.journal().entries();
    let writes: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.method == "PUT" && e.path.ends_with("/secrets/regcred"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        writes.len(),
        SELECTED.len(),
        "{}",
        journal_lines(&ctx.sandbox)
    );
    assert!(
        writes.iter().all(|&i| entries[i].status == 200),
        "{}",
        journal_lines(&ctx.sandbox)
    );
    assert!(
        *writes.last().unwrap() < steps[3],
        "the old token was revoked before the last write:\n{}",
        journal_lines(&ctx.sandbox)
    );
    assert!(
        !entries
            .iter()
            .any(|e| e.method == "DELETE" && e.path == format!("/api/v1/tokens/{new}")),
        "the new token was revoked"
    );

    run.leaks_none(&[&old_token, &info.token, seed::ALICE_PASSWORD]);
    run.shows_no_jwt();
    // Positive control: the same search finds the new token in what kubectl prints.
    ctx.kubectl(&["-n", "fleet-2", "get", "secret", "regcred", "-o", "json"])
        .ok()
        .stdout_holds(&info.token);
}

#[test]
fn a_failed_write_puts_every_secret_back_on_the_old_live_token_and_revokes_the_new_one() {
    let cases = [
        (
            403,
            status_body(
                403,
                "Forbidden",
                "secrets \"regcred\" is forbidden: User \"x\" cannot update resource \"secrets\" in API group \"\" in the namespace \"fleet-2\"",
            ),
            "Kubernetes denied update",
        ),
        (
            500,
            status_body(500, "InternalError", "etcd is sad"),
            "etcd is sad",
        ),
    ];
    for (code, body, reason) in cases {
        let ctx = TestContext::logged_in();
        let (old, old_token) = shared_cluster(&ctx);
        let before: Vec<(String, String)> = SELECTED
            .iter()
            .map(|ns| stored_token(&ctx, ns, "regcred"))
            .collect();
        ctx.sandbox.inject(Fault::json(
            Service::Kube,
            "PUT",
            "/api/v1/namespaces/fleet-2/secrets/regcred",
            code,
            body,
        ));
        ctx.sandbox.journal().clear();
        let run = ctx
            .run(&["secret", "rotate", "regcred", "-A"], None)
            .fails_with("fleet-2");
        let after: Vec<(String, String)> = SELECTED
            .iter()
            .map(|ns| stored_token(&ctx, ns, "regcred"))
            .collect();
        assert_eq!(
            after, before,
            "{code}: every secret holds the old token again"
        );
        assert!(
            !ctx.token_revoked(&old),
            "{code}: the old token still works"
        );
        assert_eq!(mints(&ctx), 1, "{code}");
        let new = ctx
            .tokens()
            .into_iter()
            .rfind(|t| t.id != old)
            .expect("the new token");
        assert!(
            ctx.token_revoked(&new.id),
            "{code}: the new token is revoked"
        );
        assert!(
            run.stderr
                .lines()
                .any(|l| l.starts_with("namespace fleet-2 failed") && l.contains(reason)),
            "{code}: {}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("0 tokens rotated, 0 secrets rewritten, 1 failed"),
            "{code}: {}",
            run.stderr
        );
        assert!(
            run.stdout.is_empty(),
            "{code}: nothing reported rotated: {}",
            run.stdout
        );
        // The other secrets were written, then put back, before the new token was revoked.
        let entries = ctx.sandbox.journal().entries();
        let revoke_new = entries
            .iter()
            .position(|e| e.method == "DELETE" && e.path == format!("/api/v1/tokens/{}", new.id))
            .expect("the new token's revocation");
        let last_put = entries
            .iter()
            .rposition(|e| e.method == "PUT" && e.path.ends_with("/secrets/regcred"))
            .unwrap();
        assert!(last_put < revoke_new, "{}", journal_lines(&ctx.sandbox));
        let puts = entries
            .iter()
            .filter(|e| {
                e.method == "PUT" && e.path.ends_with("/secrets/regcred") && e.status == 200
            })
            .count();
        assert_eq!(
            puts,
            2 * (SELECTED.len() - 1),
            "five writes and five restores: {}",
            journal_lines(&ctx.sandbox)
        );
        assert!(
            !entries
                .iter()
                .any(|e| e.method == "DELETE" && e.path == format!("/api/v1/tokens/{old}")),
            "{code}: the old token was revoked"
        );
        run.leaks_none(&[&old_token, &new.token]);
        run.shows_no_jwt();
    }
}

#[test]
fn readwrite_changes_the_access_of_a_namespaces_own_token() {
    let ctx = TestContext::with_secret("team-a", "regcred");
    let (old, old_token) = stored_token(&ctx, "team-a", "regcred");
    ctx.sandbox.journal().clear();
    let run = ctx
        .run(
            &["-n", "team-a", "secret", "rotate", "regcred", "--readwrite"],
            None,
        )
        .ok();
    assert_eq!(run.stdout, "secret/regcred rotated (namespace team-a)\n");
    assert!(
        run.stderr.contains("read-only -> read-write"),
        "{}",
        run.stderr
    );
    let (new, new_token) = stored_token(&ctx, "team-a", "regcred");
    assert_ne!(new, old);
    assert!(ctx.token_revoked(&old));
    let info = ctx.tokens().into_iter().find(|t| t.id == new).unwrap();
    assert!(!info.readonly, "the new token can push");
    assert!(
        info.description.ends_with("/team-a/regcred"),
        "{}",
        info.description
    );
    let secret = stored(&ctx, "team-a");
    assert_eq!(
        annotation(&secret, "token-access").as_deref(),
        Some("read-write")
    );
    assert_eq!(
        annotation(&secret, "token-scope"),
        None,
        "still its own token"
    );

    // Back to read-only with --readonly; without either flag the access is kept.
    ctx.run(
        &["-n", "team-a", "secret", "rotate", "regcred", "--readonly"],
        None,
    )
    .ok();
    let (ro, _) = stored_token(&ctx, "team-a", "regcred");
    assert!(
        ctx.tokens()
            .into_iter()
            .find(|t| t.id == ro)
            .unwrap()
            .readonly
    );
    ctx.run(&["-n", "team-a", "secret", "rotate", "regcred"], None)
        .ok();
    let (kept, _) = stored_token(&ctx, "team-a", "regcred");
    assert_ne!(kept, ro);
    assert!(
        ctx.tokens()
            .into_iter()
            .find(|t| t.id == kept)
            .unwrap()
            .readonly
    );
    assert!(ctx.token_revoked(&ro));
    run.leaks_none(&[&old_token, &new_token]);
    ctx.kubectl(&["-n", "team-a", "get", "secret", "regcred", "-o", "yaml"])
        .ok()
        .stdout_holds(&stored_token(&ctx, "team-a", "regcred").1);
}

#[test]
fn dry_run_shows_the_plan_and_a_shared_token_is_rotated_outside_the_selection_too() {
    let ctx = TestContext::logged_in();
    let (shared, shared_token) = shared_cluster(&ctx);
    // team-a gets its own token; `plain` holds a secret the plugin does not manage.
    ctx.run(&["-n", "team-a", "secret", "delete", "regcred"], None)
        .ok();
    ctx.create_secret("team-a", "regcred");
    let (own, _) = stored_token(&ctx, "team-a", "regcred");
    namespaces(&ctx, &["plain"]);
    ctx.kubectl(&[
        "-n",
        "plain",
        "create",
        "secret",
        "generic",
        "regcred",
        "--from-literal=a=b",
    ])
    .ok();
    let before: Vec<(String, String)> = SELECTED
        .iter()
        .map(|ns| stored_token(&ctx, ns, "regcred"))
        .collect();

    ctx.sandbox.journal().clear();
    let plan = ctx
        .run(&["secret", "rotate", "regcred", "-A", "--dry-run"], None)
        .ok();
    let changes = ctx
        .sandbox
        .journal()
        .entries()
        .into_iter()
        .filter(|e| e.method != "GET" && !e.path.contains("selfsubject"));
    assert_eq!(changes.count(), 0, "{}", journal_lines(&ctx.sandbox));
    assert_eq!(mints(&ctx), 0);
    let after: Vec<(String, String)> = SELECTED
        .iter()
        .map(|ns| stored_token(&ctx, ns, "regcred"))
        .collect();
    assert_eq!(after, before, "a dry run changes nothing");
    let lines: Vec<&str> = plan.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", plan.stdout);
    assert!(lines[0].starts_with("TOKEN"), "{}", plan.stdout);
    let row = |id: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(id))
            .copied()
            .unwrap_or_default()
    };
    assert!(row(&shared).contains("cluster"), "{}", plan.stdout);
    assert!(row(&shared).contains(" 5 "), "{}", plan.stdout);
    assert!(row(&own).contains("namespace"), "{}", plan.stdout);
    assert!(row(&own).contains("team-a"), "{}", plan.stdout);
    assert!(
        plan.stderr.contains(
            "warning: secret plain/regcred is not managed by kubectl-dedicated-registry; skipped"
        ),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("Dry run"), "{}", plan.stderr);

    // One namespace's secret holds the shared token: the plan names its other holders ...
    let one = ctx
        .run(
            &["-n", "default", "secret", "rotate", "regcred", "--dry-run"],
            None,
        )
        .ok();
    assert!(
        one.stderr
            .contains("also held by 4 secret(s) outside the selection"),
        "{}",
        one.stderr
    );
    // ... and the rotation replaces it in all five, leaving team-a's own token alone.
    ctx.sandbox.journal().clear();
    let run = ctx
        .run(&["-n", "default", "secret", "rotate", "regcred"], None)
        .ok();
    assert_eq!(mints(&ctx), 1);
    assert_eq!(run.stdout.lines().count(), 5, "{}", run.stdout);
    let others = ["default", "fleet-1", "fleet-2", "fleet-3", "team-b"];
    let now = ids(&ctx, &others);
    assert_eq!(now.len(), 1);
    assert!(!now.contains(&shared));
    assert!(ctx.token_revoked(&shared));
    assert_eq!(stored_token(&ctx, "team-a", "regcred").0, own);
    assert!(!ctx.token_revoked(&own));
    for output in [&plan, &one, &run] {
        output.leaks_none(&[&shared_token, &token_value(&ctx, &own)]);
    }
}

#[test]
fn nothing_to_rotate_is_an_error_that_says_so() {
    let ctx = TestContext::logged_in();
    ctx.run(&["-n", "team-a", "secret", "rotate", "regcred"], None)
        .fails_with("secret/regcred not found in namespace team-a");
    ctx.kubectl(&[
        "-n",
        "team-a",
        "create",
        "secret",
        "generic",
        "regcred",
        "--from-literal=a=b",
    ])
    .ok();
    let run = ctx
        .run(&["-n", "team-a", "secret", "rotate", "regcred"], None)
        .fails_with("no managed secret/regcred");
    assert!(run.stderr.contains("not managed"), "{}", run.stderr);
    assert_eq!(mints(&ctx), 0);
}

/// A user who may read namespaces, do anything with the secrets of team-a and team-b, and only
/// read those of `default`.
fn partial_rights() -> SandboxConfig {
    let mut config = SandboxConfig::default();
    let all = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut rules = vec![
        KubeRule {
            namespace: None,
            resources: all(&["namespaces"]),
            verbs: all(&["get", "list"]),
            resource_names: vec![],
        },
        KubeRule {
            namespace: Some("default".into()),
            resources: all(&["secrets"]),
            verbs: all(&["get", "list"]),
            resource_names: vec![],
        },
    ];
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
fn rbac_is_checked_before_minting_and_a_partial_view_revokes_nothing() {
    let ctx = TestContext::logged_in_with(partial_rights());
    ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    let (old, old_token) = stored_token(&ctx, "default", "regcred");
    let all = ["default", "team-a", "team-b"];
    let before: Vec<(String, String)> = all
        .iter()
        .map(|ns| stored_token(&ctx, ns, "regcred"))
        .collect();

    // The shared token is also in `default`, which this user may read but not update: the
    // rotation fails before anything is minted, naming the namespace.
    ctx.sandbox.journal().clear();
    let run = ctx
        .run(
            &["--context", "fleet-op", "secret", "rotate", "regcred", "-A"],
            None,
        )
        .fails_with("default");
    assert!(
        run.stderr.contains("checked before minting"),
        "{}",
        run.stderr
    );
    assert_eq!(mints(&ctx), 0, "{}", journal_lines(&ctx.sandbox));
    let after: Vec<(String, String)> = all
        .iter()
        .map(|ns| stored_token(&ctx, ns, "regcred"))
        .collect();
    assert_eq!(after, before);

    // In team-a alone: this user cannot list the cluster's secrets, so the other holders are
    // unknown; team-a gets a new token and the old one, still held elsewhere, is NOT revoked.
    let run = ctx
        .run(
            &[
                "--context",
                "fleet-op",
                "-n",
                "team-a",
                "secret",
                "rotate",
                "regcred",
            ],
            None,
        )
        .ok();
    assert!(run.stderr.contains("NOT revoked"), "{}", run.stderr);
    assert_eq!(mints(&ctx), 1);
    assert!(!ctx.token_revoked(&old), "the old token is still in use");
    assert_ne!(stored_token(&ctx, "team-a", "regcred").0, old);
    for ns in ["default", "team-b"] {
        assert_eq!(
            stored_token(&ctx, ns, "regcred"),
            (old.clone(), old_token.clone())
        );
    }
    run.leaks_none(&[&old_token]);
}

#[test]
fn tokens_are_independent_one_failing_does_not_undo_another() {
    let ctx = TestContext::logged_in();
    for ns in ["team-a", "team-b"] {
        ctx.create_secret(ns, "regcred");
    }
    let (a_old, _) = stored_token(&ctx, "team-a", "regcred");
    let b_before = stored_token(&ctx, "team-b", "regcred");
    ctx.sandbox.inject(Fault::json(
        Service::Kube,
        "PUT",
        "/api/v1/namespaces/team-b/secrets/regcred",
        422,
        status_body(422, "Invalid", "admission webhook said no"),
    ));
    ctx.sandbox.journal().clear();
    let run = ctx
        .run(&["secret", "rotate", "regcred", "-A"], None)
        .fails_with("team-b");
    assert_eq!(mints(&ctx), 2, "a namespace's own token each");
    assert_eq!(run.stdout, "secret/regcred rotated (namespace team-a)\n");
    assert!(
        run.stderr
            .contains("1 tokens rotated, 1 secrets rewritten, 1 failed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("namespace team-b failed")
                && l.contains("admission webhook said no")),
        "{}",
        run.stderr
    );
    let (a_new, _) = stored_token(&ctx, "team-a", "regcred");
    assert_ne!(a_new, a_old);
    assert!(ctx.token_revoked(&a_old) && !ctx.token_revoked(&a_new));
    let a_info = ctx.tokens().into_iter().find(|t| t.id == a_new).unwrap();
    assert!(a_info.description.ends_with("/team-a/regcred"));
    assert_eq!(stored_token(&ctx, "team-b", "regcred"), b_before);
    assert!(
        !ctx.token_revoked(&b_before.0),
        "team-b's token still works"
    );
    let b_new = ctx
        .tokens()
        .into_iter()
        .find(|t| t.description.ends_with("/team-b/regcred") && t.id != b_before.0)
        .expect("the token minted for team-b");
    assert!(ctx.token_revoked(&b_new.id), "and its new one is revoked");
    run.leaks_none(&[&a_info.token, &b_new.token, &b_before.1]);
}

/// Issue 25: a rotation group fails while one of its writes has an unknown outcome (the write
/// landed, its answer was lost and the read-back failed too). The undo must read that secret
/// again and put it back before the new token is revoked: no secret may end up holding a
/// revoked token. Asserted on the stored secrets and the registry, and on the journal's order.
#[test]
fn a_failed_group_puts_back_a_write_whose_outcome_was_unknown() {
    let ctx = TestContext::logged_in();
    let (old, old_token) = shared_cluster(&ctx);
    let before: Vec<(String, String)> = SELECTED
        .iter()
        .map(|ns| stored_token(&ctx, ns, "regcred"))
        .collect();
    let lost = "/api/v1/namespaces/fleet-1/secrets/regcred";
    let mut landed = Fault::new(Service::Kube, "PUT", lost, FaultAction::RunThenDrop);
    landed.times = Some(1);
    ctx.sandbox.inject(landed);
    // The read-back after the lost answer fails (three tries), the undo's read works.
    let mut unreadable = Fault::json(
        Service::Kube,
        "GET",
        lost,
        500,
        status_body(500, "InternalError", "etcd is sad"),
    );
    unreadable.times = Some(3);
    ctx.sandbox.inject(unreadable);
    ctx.sandbox.inject(Fault::json(
        Service::Kube,
        "PUT",
        "/api/v1/namespaces/fleet-2/secrets/regcred",
        403,
        status_body(403, "Forbidden", "secrets \"regcred\" is forbidden"),
    ));
    ctx.sandbox.journal().clear();
    let run = ctx
        .run(&["secret", "rotate", "regcred", "-A"], None)
        .fails_with("fleet-2");
    let after: Vec<(String, String)> = SELECTED
        .iter()
        .map(|ns| stored_token(&ctx, ns, "regcred"))
        .collect();
    assert_eq!(after, before, "every secret holds the old token again");
    assert!(!ctx.token_revoked(&old), "the old token still works");
    let new = ctx
        .tokens()
        .into_iter()
        .rfind(|t| t.id != old)
        .expect("the new token");
    assert!(ctx.token_revoked(&new.id), "the new token is revoked");
    // fleet-1 was written (the lost answer), read again and put back, all before the revocation.
    let entries = ctx.sandbox.journal().entries();
    let revoke_new = entries
        .iter()
        .position(|e| e.method == "DELETE" && e.path == format!("/api/v1/tokens/{}", new.id))
        .expect("the new token's revocation");
    let put_back = entries
        .iter()
        .rposition(|e| e.method == "PUT" && e.path == lost && e.status == 200)
        .expect("fleet-1 put back");
    let writes = entries
        .iter()
        .filter(|e| e.method == "PUT" && e.path == lost)
        .count();
    assert_eq!(
        writes,
        2,
        "the rotation's write and the undo: {}",
        journal_lines(&ctx.sandbox)
    );
    assert!(put_back < revoke_new, "{}", journal_lines(&ctx.sandbox));
    assert!(
        run.stderr.contains("it is unknown whether it was written"),
        "the outcome of fleet-1's write was unknown: {}",
        run.stderr
    );
    run.leaks_none(&[&old_token, &new.token]);
}

/// Issue 24, N2: a forged holder (an Opaque secret labelled as managed, recording the shared
/// token's id but not holding it) neither vetoes `secret rotate -A` nor keeps the replaced
/// token alive; the run names what it did not count.
#[test]
fn a_forged_holder_does_not_block_the_rotation_of_the_shared_token() {
    let ctx = TestContext::logged_in();
    let (old, old_token) = shared_cluster(&ctx);
    let forged = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": "decoy",
            "namespace": "fleet-3",
            "labels": {"app.kubernetes.io/managed-by": "kubectl-dedicated-registry"},
            "annotations": {"kubectl-dedicated-registry/token-id": old, "kubectl-dedicated-registry/token-scope": "cluster"}
        },
        "data": {"x": "eA=="}
    });
    let file = ctx.home.path().join("decoy.json");
    std::fs::write(&file, forged.to_string()).unwrap();
    ctx.kubectl(&["apply", "-f", file.to_str().unwrap()]).ok();
    let run = ctx.run(&["secret", "rotate", "regcred", "-A"], None).ok();
    let held = ids(&ctx, SELECTED);
    assert_eq!(held.len(), 1, "one new shared token everywhere: {held:?}");
    assert!(!held.contains(&old), "every secret was rotated");
    assert!(
        ctx.token_revoked(&old),
        "the replaced token was revoked despite the decoy"
    );
    assert!(
        run.stderr.lines().any(|l| l.starts_with("warning: ")
            && l.contains("fleet-3/decoy")
            && l.contains("not counted")),
        "{}",
        run.stderr
    );
    run.leaks_none(&[&old_token]);
}

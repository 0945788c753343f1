//! `secret delete`: the secret and its own token go together (unless `--keep-token`), the login
//! is checked before anything is deleted, a token the annotation merely names is not revoked,
//! the ServiceAccount reference `--service-account` added is removed and the Pods still using
//! the secret are named. (Deleting a secret revokes its token in `token::tokens_are_listed_*`
//! too; a shared token's last holder in `secret_fleet`.)
//! The `finding_NN_*` tests are regressions of the hardening review (issue 9), each failed on
//! the code before its fix.
// See: issue 13, points 4 and 9; issue 9, findings 3 and 4.

use dedicated_sandbox::Service;

use crate::common::{
    CREATE, TestContext, live_tokens, managed_secret_exists, require_keyring, stored_token,
};

/// "`secret delete` ... `--keep-token` keeps it".
#[test]
fn delete_with_keep_token_leaves_the_token_live() {
    let ctx = TestContext::with_secret("team-a", "regcred");
    let id = ctx.tokens()[0].id.clone();
    ctx.sandbox.journal().clear();
    let out = ctx
        .run(
            &[
                "-n",
                "team-a",
                "secret",
                "delete",
                "regcred",
                "--keep-token",
            ],
            None,
        )
        .ok();
    assert_eq!(out.stdout.trim(), "secret/regcred deleted");
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("team-a", "secrets", "regcred")
            .is_none()
    );
    assert!(!ctx.token_revoked(&id));
    assert!(
        ctx.sandbox
            .journal()
            .for_service(Service::Registry)
            .is_empty(),
        "the registry is not contacted"
    );
}

/// Issue 13, points 4 and 9: `pod apply --no-check` warns about a missing pull secret (without
/// `--no-check` the pull pre-flight refuses it, issue 11); `secret delete` removes the
/// ServiceAccount reference `--service-account` added and names the Pods still using it.
#[test]
fn delete_detaches_service_accounts_and_names_pods() {
    let ctx = TestContext::logged_in();
    let pod = [
        "-n",
        "team-a",
        "pod",
        "apply",
        "--image",
        "demo/hello:v1",
        "--secret",
        "regcred",
    ];
    ctx.run(&pod, None)
        .fails_with("secret/regcred does not exist in namespace `team-a`");
    let mut unchecked = pod.to_vec();
    unchecked.push("--no-check");
    let run = ctx.run(&unchecked, None).ok();
    assert!(
        run.stderr
            .contains("warning: secret/regcred does not exist in namespace `team-a`"),
        "{}",
        run.stderr
    );
    let mut with_account = CREATE.to_vec();
    with_account.extend(["--service-account", "default"]);
    ctx.run(&with_account, None).ok();
    assert!(
        ctx.image_pull_secrets("team-a", "default")
            .contains(&"regcred".to_string())
    );
    // With the secret in place, no warning.
    let run = ctx.run(&pod, None).ok();
    assert!(!run.stderr.contains("warning:"), "{}", run.stderr);

    let run = ctx
        .run(&["-n", "team-a", "secret", "delete", "regcred"], None)
        .ok();
    assert!(
        run.stdout.contains("serviceaccount/default configured"),
        "{}",
        run.stdout
    );
    assert!(
        !ctx.image_pull_secrets("team-a", "default")
            .contains(&"regcred".to_string())
    );
    assert!(
        run.stderr
            .contains("1 pod(s) still reference secret/regcred")
            && run.stderr.contains("hello"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.starts_with("Target: "), "{}", run.stderr);
}

/// Issue 9, finding 3: with a broken login (the CA file moved), `secret delete` fails before
/// deleting, so the secret, the only record of its token id, is kept.
#[test]
fn finding_03_delete_checks_the_login_before_deleting() {
    require_keyring();
    let ctx = TestContext::new();
    let ca = ctx.login_alice_with_ca_copy("moved-ca.pem");
    ctx.create_secret("team-a", "regcred");
    std::fs::remove_file(&ca).unwrap();
    ctx.run(&["-n", "team-a", "secret", "delete", "regcred"], None)
        .fails_with("moved-ca.pem");
    assert!(
        managed_secret_exists(&ctx, "team-a", "regcred"),
        "the secret was kept"
    );
    assert_eq!(live_tokens(&ctx), 1);
}

/// Issue 9, finding 4: a token id in the annotation that names another secret's token is not
/// revoked by `secret delete` or `--rotate`; `token revoke` refuses what is not an id.
#[test]
fn finding_04_revocation_does_not_trust_the_annotation() {
    let ctx = TestContext::with_secret("team-a", "mine");
    ctx.create_secret("team-a", "theirs");
    let theirs = stored_token(&ctx, "team-a", "theirs").0;
    let point_at = |target: &str| {
        ctx.kubectl(&[
            "-n",
            "team-a",
            "annotate",
            "secret",
            "mine",
            &format!("kubectl-dedicated-registry/token-id={target}"),
            "--overwrite",
        ])
        .ok();
    };
    let live = |id: &str| ctx.tokens().iter().any(|t| t.id == id && !t.revoked);

    // --rotate: the new token is written, the other secret's token stays live.
    point_at(&theirs);
    let run = ctx
        .run(
            &["-n", "team-a", "secret", "create", "mine", "--rotate"],
            None,
        )
        .ok();
    assert!(run.stderr.contains("NOT revoked"), "{}", run.stderr);
    assert!(live(&theirs), "another secret's token was revoked");

    // delete: same.
    point_at(&theirs);
    let run = ctx
        .run(&["-n", "team-a", "secret", "delete", "mine"], None)
        .ok();
    assert!(run.stderr.contains("NOT revoked"), "{}", run.stderr);
    assert!(!run.stdout.contains("revoked"), "{}", run.stdout);
    assert!(live(&theirs));

    // Positive control: the secret's own token is still revoked on delete.
    let run = ctx
        .run(&["-n", "team-a", "secret", "delete", "theirs"], None)
        .ok();
    assert!(run.stdout.contains(&format!("token/{theirs} revoked")));
    assert!(!live(&theirs));

    // `token revoke` refuses path-like and non-id arguments before any request.
    for bad in [".", "..", "../tokens", "a b"] {
        ctx.sandbox.journal().clear();
        ctx.run(&["token", "revoke", bad], None)
            .fails_with("invalid token id");
        assert!(ctx.sandbox.journal().entries().is_empty(), "{bad}");
    }
}

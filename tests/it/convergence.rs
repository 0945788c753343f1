//! The operator's experience (issue 13, the parts built so far): a re-run ends in a working
//! state, credential changes are said at the default level, and `secret delete` leaves no
//! dangling references behind.
// See: issue 13, points 1, 4, 8 and 9.

use crate::common::{CREATE, TestContext};

fn stored_id(ctx: &TestContext) -> String {
    crate::common::stored_token(ctx, "team-a", "regcred").0
}

/// Point 1: "unchanged" must mean "works": a revoked token is replaced on the next run.
#[test]
fn a_rerun_replaces_a_revoked_token() {
    let ctx = TestContext::logged_in();
    ctx.run(CREATE, None).ok();
    let old = stored_id(&ctx);
    // Positive control: an up-to-date secret with a live token stays unchanged, nothing minted.
    assert_eq!(
        ctx.run(CREATE, None).ok().stdout.trim(),
        "secret/regcred unchanged"
    );
    assert_eq!(ctx.tokens().len(), 1);
    ctx.run(&["token", "revoke", &old], None).ok();
    let run = ctx.run(CREATE, None).ok();
    assert_eq!(run.stdout.trim(), "secret/regcred configured");
    assert!(
        run.stderr.contains(&old) && run.stderr.contains("refused"),
        "{}",
        run.stderr
    );
    let new = stored_id(&ctx);
    assert_ne!(new, old);
    assert!(ctx.tokens().iter().any(|t| t.id == new && !t.revoked));
    ctx.run(&["-n", "team-a", "secret", "verify", "regcred"], None)
        .ok();
    // And it converged: the next run is unchanged again.
    assert_eq!(
        ctx.run(CREATE, None).ok().stdout.trim(),
        "secret/regcred unchanged"
    );
}

/// Point 8: a change of access and the revocation of the replaced token are said on stderr.
#[test]
fn access_changes_and_revocations_are_said() {
    let ctx = TestContext::logged_in();
    let mut readwrite = CREATE.to_vec();
    readwrite.push("--readwrite");
    ctx.run(&readwrite, None).ok();
    let push_token = stored_id(&ctx);
    let run = ctx.run(CREATE, None).ok();
    assert_eq!(run.stdout.trim(), "secret/regcred configured");
    assert!(
        run.stderr.contains("access read-write -> read-only"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("token/{push_token} revoked (replaced)")),
        "{}",
        run.stderr
    );
    let before = stored_id(&ctx);
    let mut rotate = CREATE.to_vec();
    rotate.push("--rotate");
    let run = ctx.run(&rotate, None).ok();
    assert!(
        run.stderr
            .contains(&format!("token/{before} revoked (replaced)")),
        "{}",
        run.stderr
    );
}

/// Points 4 and 9: `pod apply --no-check` warns about a missing pull secret (without
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

/// Point 2: the printed object, applied with the real kubectl, cannot break the secret.
#[test]
fn printed_yaml_applied_with_kubectl_keeps_the_credential() {
    let ctx = TestContext::logged_in();
    let mut yaml = CREATE.to_vec();
    yaml.extend(["-o", "yaml"]);
    let run = ctx.run(&yaml, None).ok();
    assert!(
        run.stderr.contains("warning: the credential was left out"),
        "{}",
        run.stderr
    );
    let before = ctx.dockerconfigjson("team-a", "regcred").expect("written");
    let file = ctx
        .config_file()
        .parent()
        .unwrap()
        .join("printed-secret.yaml");
    std::fs::write(&file, &run.stdout).unwrap();
    ctx.kubectl(&["apply", "-f", file.to_str().unwrap()]).ok();
    assert_eq!(
        ctx.dockerconfigjson("team-a", "regcred")
            .expect("still there"),
        before,
        "the working credential survived kubectl apply"
    );
    ctx.run(&["-n", "team-a", "secret", "verify", "regcred"], None)
        .ok();
}

/// Point 3: what can be checked before minting is checked before minting, and the error leads
/// with the cause (no token id: none was minted).
#[test]
fn a_missing_namespace_or_permission_mints_nothing() {
    let ctx = TestContext::logged_in();
    let run = ctx
        .run(&["-n", "team-c", "secret", "create", "regcred"], None)
        .fails_with("namespace `team-c` does not exist");
    assert!(run.stderr.contains("nothing was minted"), "{}", run.stderr);
    let viewer = ctx
        .run(
            &[
                "--context",
                "sandbox-viewer",
                "-n",
                "team-a",
                "secret",
                "create",
                "regcred",
            ],
            None,
        )
        .fails_with("Kubernetes denied create of secret `regcred` in namespace `team-a`");
    assert!(
        viewer.stderr.starts_with("Target: ") && !viewer.stderr.contains("revoked"),
        "{}",
        viewer.stderr
    );
    assert!(ctx.tokens().is_empty(), "nothing minted");
}

/// Point 4: one default name everywhere: `secret create` without a name and `pod apply`
/// without `--secret` meet, and no warning is needed.
#[test]
fn the_default_secret_name_is_the_same_everywhere() {
    let ctx = TestContext::logged_in();
    let run = ctx.run(&["-n", "team-a", "secret", "create"], None).ok();
    assert_eq!(run.stdout.trim(), "secret/dedicated-registry created");
    let run = ctx
        .run(
            &["-n", "team-a", "pod", "apply", "--image", "demo/hello:v1"],
            None,
        )
        .ok();
    assert!(!run.stderr.contains("warning:"), "{}", run.stderr);
    let pod = ctx
        .sandbox
        .world
        .kube
        .get("team-a", "pods", "hello")
        .unwrap();
    assert_eq!(
        pod["spec"]["imagePullSecrets"][0]["name"],
        "dedicated-registry"
    );
    ctx.run(&["-n", "team-a", "secret", "verify"], None).ok();
    ctx.run(&["-n", "team-a", "secret", "delete"], None).ok();
}

//! The operator's experience (issue 13, the parts built so far): a re-run ends in a working
//! state, credential changes are said at the default level, and `secret delete` leaves no
//! dangling references behind.
// See: issue 13, points 1, 4, 8 and 9.

use crate::common::{CREATE, TestContext};

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

//! The plugin targets exactly what kubectl would: merged KUBECONFIG lists, --context, --cluster,
//! --user, -n, and impersonation.

use dedicated_sandbox::Service;

use crate::common::TestContext;

#[test]
fn kubeconfig_lists_and_override_flags_resolve_like_kubectl() {
    let ctx = TestContext::logged_in();
    // A first file that only adds a context (and wins current-context); the sandbox's file
    // second. kubectl merges them, first value winning.
    let first = ctx.sandbox.dir().join("first.kubeconfig");
    std::fs::write(
        &first,
        "apiVersion: v1\nkind: Config\ncurrent-context: ctx-a\ncontexts:\n- name: ctx-a\n  context:\n    cluster: sandbox\n    user: sandbox-dev\n    namespace: team-a\n",
    )
    .unwrap();
    let list =
        std::env::join_paths([first.as_path(), ctx.sandbox.kubeconfig_path().as_path()]).unwrap();
    let mut cmd = ctx.command(&["secret", "create", "merged"]);
    cmd.env("KUBECONFIG", &list);
    let out = ctx.run_with(cmd, None).ok();
    assert!(out.stderr.contains("context `ctx-a`"), "{}", out.stderr);
    assert!(out.stderr.contains("namespace `team-a`"), "{}", out.stderr);
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("team-a", "secrets", "merged")
            .is_some()
    );
    // kubectl agrees on the target.
    let mut kubectl_view = std::process::Command::new(crate::common::kubectl());
    kubectl_view
        .args([
            "config",
            "view",
            "--minify",
            "-o",
            "jsonpath={.contexts[0].name}",
        ])
        .env("KUBECONFIG", &list);
    let name = kubectl_view.output().unwrap();
    assert_eq!(String::from_utf8_lossy(&name.stdout), "ctx-a");

    // --user replaces the context's user: the viewer may not write.
    ctx.run(
        &[
            "--user",
            "sandbox-viewer",
            "-n",
            "team-a",
            "secret",
            "create",
            "viewer",
        ],
        None,
    )
    .fails_with("sandbox-viewer");
    // --cluster must exist.
    ctx.run(&["--cluster", "nope", "secret", "create", "x"], None)
        .fails_with("cannot load the Kubernetes configuration");

    // --as / --as-group: requests carry the impersonation headers, and RBAC applies to the
    // impersonated user.
    ctx.sandbox.journal().clear();
    ctx.run(
        &[
            "--as",
            "sandbox-dev",
            "--as-group",
            "devs",
            "-n",
            "team-b",
            "secret",
            "create",
            "as-dev",
        ],
        None,
    )
    .fails_with("Kubernetes denied get");
    let kube = ctx.sandbox.journal().for_service(Service::Kube);
    assert!(!kube.is_empty());
    for entry in &kube {
        assert_eq!(entry.header("impersonate-user"), Some("sandbox-dev"));
        assert_eq!(entry.header("impersonate-group"), Some("devs"));
    }
    // Only the secret that was written holds a live token.
    for token in ctx.tokens() {
        assert_eq!(
            !token.revoked,
            token.description.ends_with("/merged"),
            "{token:?}"
        );
    }
}

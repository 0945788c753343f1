//! The plugin targets exactly what kubectl would: merged KUBECONFIG lists, --context, --cluster,
//! --user, -n, and impersonation. Kubernetes and selection flags work before or after the
//! subcommand, only on commands that talk to Kubernetes; kubectl flags the plugin does not take
//! are refused with what to do instead.

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

/// Issue 13, points 11 and 12: Kubernetes and selection flags work before and after the
/// subcommand, only on commands that talk to Kubernetes; kubectl flags the plugin does not take
/// are refused with one line saying what to do (never a closest-name guess, never the value).
#[test]
fn kube_and_selection_flags_work_in_both_positions_only_where_they_apply() {
    let ctx = TestContext::logged_in();
    // `-A` before the subcommand, as `-n` already was.
    let out = ctx
        .run(
            &[
                "-A",
                "-l",
                "kubernetes.io/metadata.name",
                "secret",
                "create",
                "regcred",
                "--exclude",
                "team-a",
            ],
            None,
        )
        .ok();
    for namespace in ["default", "team-b"] {
        assert!(
            ctx.dockerconfigjson(namespace, "regcred").is_some(),
            "no secret in {namespace}: {}",
            out.stderr
        );
    }
    assert!(ctx.dockerconfigjson("team-a", "regcred").is_none());
    assert!(ctx.dockerconfigjson("kube-system", "regcred").is_none());
    // Kube flags before and after give the same target.
    let before = ctx
        .run(
            &["--context", "sandbox-dev", "-n", "team-b", "status"],
            None,
        )
        .ok();
    let after = ctx
        .run(
            &["status", "--context", "sandbox-dev", "-n", "team-b"],
            None,
        )
        .ok();
    assert_eq!(before.stdout, after.stdout);
    assert!(before.stdout.contains("sandbox-dev"), "{}", before.stdout);
    assert!(before.stdout.contains("team-b"), "{}", before.stdout);

    // Kubernetes flags only where a command talks to Kubernetes.
    let login_help = ctx.run(&["login", "--help"], None).ok().stdout;
    assert!(!login_help.contains("--context"), "{login_help}");
    assert!(!login_help.contains("Kubernetes flags"), "{login_help}");
    let token_help = ctx.run(&["token", "revoke", "--help"], None).ok().stdout;
    assert!(!token_help.contains("--namespace"), "{token_help}");
    // `token list` reads the cluster for IN-USE, so it takes them.
    let token_help = ctx.run(&["token", "list", "--help"], None).ok().stdout;
    assert!(token_help.contains("--context <NAME>"), "{token_help}");
    let create_help = ctx.run(&["secret", "create", "--help"], None).ok().stdout;
    assert!(create_help.contains("Kubernetes flags:"), "{create_help}");
    assert!(create_help.contains("--context <NAME>"), "{create_help}");
    assert!(create_help.contains("Selection flags:"), "{create_help}");
    ctx.run(&["-n", "team-a", "token", "revoke", "x"], None)
        .fails_with("`token revoke` does not talk to Kubernetes and takes no `-n`");
    ctx.run(&["login", "--context", "sandbox-dev"], None)
        .fails_with("unexpected argument '--context'");

    // Unsupported kubectl flags: what to do instead, not `did you mean --user`.
    let out = ctx
        .run(
            &["--server", "https://10.0.0.1:6443", "secret", "create", "x"],
            None,
        )
        .fails_with("`--server` is a kubectl flag this plugin does not take");
    assert!(out.stderr.contains("--context"), "{}", out.stderr);
    assert!(!out.stderr.contains("--user"), "{}", out.stderr);
    let token = "eyJhbGciOiJSUzI1NiJ9.not-a-real-bearer-token.c2ln";
    let out = ctx
        .run(&["status", &format!("--token={token}")], None)
        .fails_with("`--token` is a kubectl flag this plugin does not take");
    assert!(out.stderr.contains("--user NAME"), "{}", out.stderr);
    out.leaks_none(&[token]);
    ctx.run(
        &[
            "-n",
            "team-a",
            "secret",
            "verify",
            "x",
            "--certificate-authority",
            "/ca.pem",
        ],
        None,
    )
    .fails_with("`kubectl config set-cluster NAME --certificate-authority FILE`");
    // Nothing was minted by the refused commands.
    assert_eq!(ctx.tokens().len(), 1, "one token for the cluster (-A)");
}

/// Issue 24, N9: a kubeconfig user's token for a plain `http://` API server is not sent in clear
/// text (kubectl 1.36 sends no Authorization header there either): the run stops before
/// connecting, and says what to do. Without credentials (a local `kubectl proxy`) plain HTTP is
/// used. (On the code before the fix the token went to the listener.)
#[test]
fn credentials_are_never_sent_to_a_plain_http_api_server() {
    use std::io::Read as _;
    let ctx = TestContext::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let write = |name: &str, user: &str| {
        let path = ctx.sandbox.dir().join(name);
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n{user}"
            ),
        )
        .unwrap();
        path.to_string_lossy().into_owned()
    };
    let with_token = write("token.yaml", "    token: kube-bearer-0123456789\n");
    let run = ctx.run(
        &[
            "--kubeconfig",
            &with_token,
            "--request-timeout",
            "2s",
            "secret",
            "list",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("is plain http://")
            && run.stderr.contains("use the server's https:// address"),
        "{}",
        run.stderr
    );
    run.leaks_none(&["kube-bearer-0123456789"]);
    assert!(
        listener.accept().is_err(),
        "nothing may connect to the plain-HTTP server"
    );
    // Positive control: without credentials the same server is asked (and answers nothing).
    let anonymous = write("anonymous.yaml", "    {}\n");
    let _ = ctx.run(
        &[
            "--kubeconfig",
            &anonymous,
            "--request-timeout",
            "1s",
            "secret",
            "list",
        ],
        None,
    );
    let (mut conn, _) = listener.accept().expect("an anonymous request was sent");
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(1)))
        .unwrap();
    let mut head = [0u8; 512];
    let n = conn.read(&mut head).unwrap_or(0);
    let head = String::from_utf8_lossy(&head[..n]).to_lowercase();
    assert!(head.starts_with("get "), "{head}");
    assert!(!head.contains("authorization"), "{head}");
}

//! `version`: the plugin's version, the Kubernetes API it supports and the server's; an
//! unreachable cluster is a warning.
// See: issue 13, point 15.

use crate::common::TestContext;

#[test]
fn version_names_the_plugin_the_api_and_the_server() {
    let ctx = TestContext::new();
    let client = ctx.run(&["version", "--client"], None).ok();
    assert_eq!(
        client.stdout,
        format!(
            "Plugin Version: v{}\nKubernetes API: v1.33 and newer\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert!(
        ctx.sandbox.journal().entries().is_empty(),
        "--client asks nobody"
    );
    let full = ctx.run(&["version", "-o", "json"], None).ok();
    let value: serde_json::Value = serde_json::from_str(&full.stdout).unwrap();
    assert_eq!(value["plugin"], format!("v{}", env!("CARGO_PKG_VERSION")));
    assert!(
        value["server"].as_str().is_some_and(|v| v.starts_with('v')),
        "{}",
        full.stdout
    );
    // An unreachable cluster is a warning, not a failure.
    let mut cmd = ctx.command(&["version"]);
    cmd.env("KUBECONFIG", "/nonexistent/kubeconfig");
    let run = ctx.run_with(cmd, None).ok();
    assert!(
        run.stderr.starts_with("warning: cannot reach the cluster"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.starts_with("Plugin Version: "), "{}", run.stdout);
}

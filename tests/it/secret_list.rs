//! `secret list` (issue 11, point 1): the managed secrets and the tokens they hold (table, `-A`,
//! wide, json/yaml/name, `--verify`), never a token in any form; a user who may not list
//! secrets cluster-wide gets each namespace it may list.
// See: issue 11.

use dedicated_sandbox::Service;
use serde_json::{Value, json};

use crate::common::{TestContext, copy_secret, journal_lines, rows, token_of};

#[test]
fn secret_list_shows_the_managed_secrets_and_their_tokens_never_a_token() {
    let ctx = TestContext::logged_in();
    ctx.run(
        &[
            "-n",
            "team-a",
            "secret",
            "create",
            "regcred",
            "--service-account",
            "default",
        ],
        None,
    )
    .ok();
    ctx.run(
        &["-n", "team-b", "secret", "create", "pusher", "--readwrite"],
        None,
    )
    .ok();
    // A copy of team-a's secret in team-b (three days old): the same token, SHARED-BY 2.
    copy_secret(
        &ctx,
        ("team-a", "regcred"),
        ("team-b", "regcred"),
        3 * 86400,
        false,
    );
    // Not managed by the plugin: never listed.
    ctx.kubectl(&[
        "-n",
        "team-a",
        "create",
        "secret",
        "generic",
        "theirs",
        "--from-literal=a=b",
    ])
    .ok();
    let tokens = ctx.tokens();
    let values: Vec<&str> = tokens.iter().map(|t| t.token.as_str()).collect();
    let shared = token_of(&ctx, "team-a", "regcred");
    let pusher = token_of(&ctx, "team-b", "pusher");
    let registry_host = ctx.sandbox.urls().registry_host.clone();
    let registry = registry_host.as_str();
    let (shared, pusher) = (shared.as_str(), pusher.as_str());

    // -n: no NAMESPACE column, one namespace only.
    let one = ctx.run(&["-n", "team-a", "secret", "list"], None).ok();
    one.leaks_none(&values);
    let table = rows(&one.stdout);
    assert_eq!(
        table[0],
        ["NAME", "REGISTRY", "TOKEN", "ACCESS", "SHARED-BY", "AGE"],
        "{}",
        one.stdout
    );
    assert_eq!(table.len(), 2, "{}", one.stdout);
    assert_eq!(
        table[1][..5],
        ["regcred", registry, shared, "read-only", "1"]
    );
    assert!(
        regex::Regex::new(r"^\d+s$").unwrap().is_match(&table[1][5]),
        "{}",
        one.stdout
    );

    // -A: NAMESPACE first, sorted, the copy shares the token (and is 3d old, as kubectl says).
    let all = ctx.run(&["secret", "list", "-A"], None).ok();
    all.leaks_none(&values);
    let table = rows(&all.stdout);
    assert_eq!(table[0][0], "NAMESPACE", "{}", all.stdout);
    let lines: Vec<Vec<&str>> = table[1..]
        .iter()
        .map(|r| r.iter().map(String::as_str).collect())
        .collect();
    assert_eq!(lines.len(), 3, "{}", all.stdout);
    assert_eq!(
        lines[0][..6],
        ["team-a", "regcred", registry, shared, "read-only", "2"]
    );
    assert_eq!(
        lines[1][..6],
        ["team-b", "pusher", registry, pusher, "read-write", "1"]
    );
    assert_eq!(
        lines[2][..6],
        ["team-b", "regcred", registry, shared, "read-only", "2"]
    );
    assert_eq!(lines[2][6], "3d", "{}", all.stdout);
    assert!(!all.stdout.contains("theirs"));

    // -o wide: the ServiceAccounts that reference each secret and the token's description.
    let wide = ctx.run(&["secret", "list", "-A", "-o", "wide"], None).ok();
    wide.leaks_none(&values);
    let table = rows(&wide.stdout);
    assert_eq!(
        table[0][7..],
        ["SERVICE-ACCOUNTS", "DESCRIPTION"],
        "{}",
        wide.stdout
    );
    assert_eq!(
        table[1][7..],
        [
            "default",
            "kubectl-dedicated-registry sandbox/team-a/regcred"
        ]
    );
    assert_eq!(
        table[2][7..],
        ["<none>", "kubectl-dedicated-registry sandbox/team-b/pusher"]
    );

    // -o json: a kubectl List of the Secrets, without their credential.
    let json = ctx.run(&["secret", "list", "-A", "-o", "json"], None).ok();
    json.leaks_none(&values);
    // Positive control: the same search finds the token in what kubectl prints of the secret.
    let token_value = ctx
        .tokens()
        .into_iter()
        .find(|t| t.id == shared)
        .unwrap()
        .token;
    ctx.kubectl(&["-n", "team-a", "get", "secret", "regcred", "-o", "json"])
        .ok()
        .stdout_holds(&token_value);
    json.shows_no_jwt();
    let list: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(
        items
            .iter()
            .all(|i| i["kind"] == "Secret" && i.get("data").is_none())
    );
    assert_eq!(
        items[1]["metadata"]["annotations"]["kubectl-dedicated-registry/token-id"],
        pusher
    );
    let yaml = ctx
        .run(&["-n", "team-b", "secret", "list", "-o", "yaml"], None)
        .ok();
    yaml.leaks_none(&values);
    assert!(
        yaml.stdout.starts_with("apiVersion: v1\nitems:"),
        "{}",
        yaml.stdout
    );
    let names = ctx
        .run(&["-n", "team-b", "secret", "list", "-o", "name"], None)
        .ok();
    assert_eq!(names.stdout, "secret/pusher\nsecret/regcred\n");
    // An empty namespace says so as kubectl does.
    let empty = ctx.run(&["-n", "default", "secret", "list"], None).ok();
    assert_eq!(empty.stdout, "");
    assert!(
        empty
            .stderr
            .contains("No resources found in default namespace.")
    );
    let empty = ctx
        .run(&["-n", "default", "secret", "list", "-o", "json"], None)
        .ok();
    let list: Value = serde_json::from_str(&empty.stdout).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"], json!([]));
    let empty = ctx
        .run(&["-n", "default", "secret", "list", "-o", "name"], None)
        .ok();
    assert_eq!((empty.stdout.as_str(), empty.stderr.as_str()), ("", ""));

    // Without a login, -o wide still lists; the descriptions are <unknown> with one warning.
    ctx.run(&["logout"], None).ok();
    let wide = ctx.run(&["secret", "list", "-A", "-o", "wide"], None).ok();
    assert_eq!(
        wide.stderr.matches("warning: ").count(),
        1,
        "{}",
        wide.stderr
    );
    assert!(
        rows(&wide.stdout)[1..].iter().all(|r| r[8] == "<unknown>"),
        "{}",
        wide.stdout
    );
}

#[test]
fn secret_list_verify_checks_each_token_once_and_shows_a_revoked_one_refused() {
    let ctx = TestContext::with_secret("team-a", "regcred");
    ctx.create_secret("team-b", "regcred");
    copy_secret(&ctx, ("team-a", "regcred"), ("team-b", "copy"), 60, false);
    let values: Vec<String> = ctx.tokens().into_iter().map(|t| t.token).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let revoked = token_of(&ctx, "team-b", "regcred");
    assert!(ctx.sandbox.world.registry.revoke(&revoked));
    ctx.sandbox.journal().clear();

    let out = ctx.run(&["secret", "list", "-A", "--verify"], None).ok();
    out.leaks_none(&values);
    let table = rows(&out.stdout);
    assert_eq!(table[0][6], "STATUS", "{}", out.stdout);
    let status: Vec<(&str, &str)> = table[1..]
        .iter()
        .map(|r| (r[1].as_str(), r[6].as_str()))
        .collect();
    assert_eq!(
        status,
        [
            ("regcred", "works"),
            ("copy", "works"),
            ("regcred", "refused")
        ],
        "{}",
        out.stdout
    );
    // Two distinct tokens, two checks: the realm was asked twice, not three times.
    let realm = ctx
        .sandbox
        .journal()
        .for_service(Service::Registry)
        .iter()
        .filter(|e| e.path == "/oauth/token")
        .count();
    assert_eq!(realm, 2, "{}", journal_lines(&ctx.sandbox));
    // At the highest verbosity, still no token in any form.
    let verbose = ctx
        .run(
            &["-v", "9", "secret", "list", "-A", "--verify", "-o", "wide"],
            None,
        )
        .ok();
    verbose.leaks_none(&values);
    verbose.shows_no_jwt();
    assert!(verbose.stdout.contains("refused"), "{}", verbose.stdout);
    // --verify with an object format is refused before any request.
    ctx.run(&["secret", "list", "-A", "--verify", "-o", "json"], None)
        .fails_with("--verify");
}

#[test]
fn secret_list_across_namespaces_falls_back_to_each_namespace_when_rbac_refuses() {
    let mut config = dedicated_sandbox::SandboxConfig::default();
    // May list namespaces, and secrets in team-a only.
    config.kube_users.push(dedicated_sandbox::KubeUser {
        name: "ns-reader".into(),
        token: "ns-reader-token".into(),
        rules: vec![
            dedicated_sandbox::KubeRule {
                namespace: None,
                resources: vec!["namespaces".into()],
                verbs: vec!["list".into()],
                resource_names: vec![],
            },
            dedicated_sandbox::KubeRule {
                namespace: Some("team-a".into()),
                resources: vec!["secrets".into()],
                verbs: vec!["list".into()],
                resource_names: vec![],
            },
        ],
    });
    let ctx = TestContext::logged_in_with(config);
    ctx.create_secret("team-a", "regcred");
    ctx.create_secret("team-b", "regcred");
    let out = ctx
        .run(&["--context", "ns-reader", "secret", "list", "-A"], None)
        .ok();
    let table = rows(&out.stdout);
    assert_eq!(table.len(), 2, "{}", out.stdout);
    assert_eq!(table[1][..2], ["team-a", "regcred"]);
    assert_eq!(out.stderr.matches("warning: ").count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "not allowed to list secrets in 3 namespace(s), not shown: default, kube-system, team-b"
        ),
        "{}",
        out.stderr
    );
    // A user who may list neither: one clear line with the way out.
    ctx.run(&["--context", "sandbox-dev", "secret", "list", "-A"], None)
        .fails_with("list one namespace with -n NAME");
    ctx.run(&["--context", "sandbox-dev", "secret", "list"], None)
        .ok();
}

//! Issue 11, points 1-3: the token inventory of a cluster. `secret list` (table, `-A`, wide,
//! json/yaml/name, `--verify`), `token list` IN-USE and `--unused`, and `token prune` (only
//! unused tokens this plugin minted for this cluster; plan, confirmation, `--yes`,
//! `--dry-run`, a complete view of the cluster or nothing).

use dedicated_sandbox::{Fault, FaultAction, Service, seed};
use serde_json::{Value, json};

use crate::common::{TestContext, copy_secret, journal_lines, require_keyring, rows, token_of};

/// Mints a permanent token by hand (IBM's documented curl) with `description`; returns its id.
fn mint_by_hand(ctx: &TestContext, description: &str) -> String {
    let access = ctx.sandbox.world.mint_uaa_access_token(seed::ALICE);
    let url = format!(
        "{}/api/v1/tokens?permanent=true&description={}",
        ctx.sandbox.urls().registry,
        url_encode(description)
    );
    let ca = reqwest::Certificate::from_pem(ctx.sandbox.pki.ca_pem.as_bytes()).unwrap();
    let status = ctx.runtime.block_on(async {
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .no_proxy()
            .build()
            .unwrap()
            .post(&url)
            .bearer_auth(&access)
            .header("Organization", seed::DEV_ORG_GUID)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert!(status.is_success(), "{status}");
    ctx.tokens()
        .into_iter()
        .rev()
        .find(|t| t.description == description)
        .expect("the token just minted")
        .id
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn registry_deletes(ctx: &TestContext) -> usize {
    ctx.sandbox
        .journal()
        .for_service(Service::Registry)
        .iter()
        .filter(|e| e.method == "DELETE")
        .count()
}

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
    let ctx = TestContext::logged_in();
    ctx.run(&["-n", "team-a", "secret", "create", "regcred"], None)
        .ok();
    ctx.run(&["-n", "team-b", "secret", "create", "regcred"], None)
        .ok();
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
fn token_list_shows_where_each_token_is_used_and_unused_filters() {
    let ctx = TestContext::logged_in();
    ctx.run(&["-n", "team-a", "secret", "create", "regcred"], None)
        .ok();
    copy_secret(&ctx, ("team-a", "regcred"), ("team-b", "copy"), 60, true);
    let used = token_of(&ctx, "team-a", "regcred");
    let stale = mint_by_hand(&ctx, "kubectl-dedicated-registry sandbox/gone/regcred");
    let values: Vec<String> = ctx.tokens().into_iter().map(|t| t.token).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();

    let out = ctx.run(&["token", "list"], None).ok();
    out.leaks_none(&values);
    let table = rows(&out.stdout);
    assert_eq!(
        table[0],
        ["ID", "ACCESS", "EXPIRES", "IN-USE", "DESCRIPTION"],
        "{}",
        out.stdout
    );
    let in_use = |id: &str| {
        table
            .iter()
            .find(|r| r[0] == id)
            .unwrap_or_else(|| panic!("{id} listed: {}", out.stdout))[3]
            .clone()
    };
    // The unmanaged copy holds the same token (its credential's jti): counted.
    assert_eq!(in_use(&used), "team-a/regcred +1");
    assert_eq!(in_use(&stale), "-");

    let unused = ctx.run(&["token", "list", "--unused"], None).ok();
    assert!(
        unused.stdout.contains(&stale) && !unused.stdout.contains(&used),
        "{}",
        unused.stdout
    );
    let json = ctx.run(&["token", "list", "-o", "json"], None).ok();
    json.leaks_none(&values);
    let listed: Value = serde_json::from_str(&json.stdout).unwrap();
    let of = |id: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()["in_use"]
            .clone()
    };
    assert_eq!(of(&used), json!(["team-a/regcred", "team-b/copy"]));
    assert_eq!(of(&stale), json!([]));

    // A user who may not list secrets cluster-wide: one warning, IN-USE <unknown>; --unused
    // cannot answer and fails.
    let limited = ctx
        .run(&["--context", "sandbox-dev", "token", "list"], None)
        .ok();
    assert_eq!(
        limited.stderr.matches("warning: ").count(),
        1,
        "{}",
        limited.stderr
    );
    assert!(
        limited.stderr.contains("IN-USE shows <unknown>"),
        "{}",
        limited.stderr
    );
    assert!(
        rows(&limited.stdout)[1..]
            .iter()
            .all(|r| r[3] == "<unknown>")
    );
    ctx.run(
        &["--context", "sandbox-dev", "token", "list", "--unused"],
        None,
    )
    .fails_with("--unused needs every pull secret");
    // A cluster that does not answer: the tokens are listed anyway, IN-USE <unknown>.
    ctx.sandbox.inject(Fault::new(
        Service::Kube,
        "GET",
        "/api/v1/secrets",
        FaultAction::Delay(std::time::Duration::from_secs(20)),
    ));
    let slow = ctx
        .run(&["--request-timeout", "1s", "token", "list"], None)
        .ok();
    assert!(slow.stdout.contains(&used), "{}", slow.stdout);
    assert!(rows(&slow.stdout)[1..].iter().all(|r| r[3] == "<unknown>"));
    assert_eq!(
        slow.stderr.matches("warning: ").count(),
        1,
        "{}",
        slow.stderr
    );
}

/// The scene for prune: team-a/regcred in use; team-b's secret gone with its namespace; a token
/// of this cluster whose managed secret was deleted with kubectl but whose credential was
/// copied into an unmanaged secret; tokens of another cluster and one not minted by the plugin.
struct Scene {
    in_use: String,
    stale: String,
    copied: String,
    other_cluster: String,
    not_ours: String,
    ours_custom: String,
}

fn prune_scene(ctx: &TestContext) -> Scene {
    ctx.run(&["-n", "team-a", "secret", "create", "regcred"], None)
        .ok();
    ctx.run(&["-n", "team-b", "secret", "create", "regcred"], None)
        .ok();
    ctx.run(&["-n", "team-a", "secret", "create", "copied"], None)
        .ok();
    copy_secret(ctx, ("team-a", "copied"), ("team-a", "plain"), 60, true);
    let scene = Scene {
        in_use: token_of(ctx, "team-a", "regcred"),
        stale: token_of(ctx, "team-b", "regcred"),
        copied: token_of(ctx, "team-a", "copied"),
        other_cluster: mint_by_hand(ctx, "kubectl-dedicated-registry other/team-b/regcred"),
        not_ours: mint_by_hand(ctx, "ci pipeline for sandbox/team-b/regcred"),
        ours_custom: {
            ctx.run(
                &[
                    "-n",
                    "team-a",
                    "secret",
                    "create",
                    "custom",
                    "--description",
                    "mine",
                ],
                None,
            )
            .ok();
            ctx.tokens().last().unwrap().id.clone()
        },
    };
    ctx.kubectl(&["-n", "team-a", "delete", "secret", "copied", "custom"])
        .ok();
    ctx.kubectl(&["delete", "namespace", "team-b"]).ok();
    scene
}

#[test]
fn token_prune_revokes_only_unused_tokens_it_minted_for_this_cluster() {
    let ctx = TestContext::logged_in();
    let scene = prune_scene(&ctx);
    let values: Vec<String> = ctx.tokens().into_iter().map(|t| t.token).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    ctx.sandbox.journal().clear();

    // --dry-run shows the plan and revokes nothing.
    let dry = ctx.run(&["token", "prune", "--dry-run"], None).ok();
    dry.leaks_none(&values);
    let plan = rows(&dry.stdout);
    assert_eq!(
        plan[0],
        ["ID", "ACCESS", "DESCRIPTION", "REASON"],
        "{}",
        dry.stdout
    );
    assert_eq!(plan.len(), 2, "only the stale token: {}", dry.stdout);
    assert_eq!(plan[1][0], scene.stale);
    assert_eq!(plan[1][3], "namespace team-b no longer exists");
    assert!(
        dry.stderr.contains("Dry run: nothing was revoked"),
        "{}",
        dry.stderr
    );
    assert!(
        dry.stderr
            .contains("kept 2 in use, 1 of other clusters, 2 not minted by this plugin"),
        "{}",
        dry.stderr
    );
    assert_eq!(registry_deletes(&ctx), 0, "{}", journal_lines(&ctx.sandbox));
    assert!(!ctx.token_revoked(&scene.stale));

    // Without a terminal, --yes is required: exit 1, one line, nothing revoked.
    ctx.run(&["token", "prune"], None)
        .fails_with("re-run with --yes");
    assert_eq!(registry_deletes(&ctx), 0);

    // --yes revokes the stale token, and only it.
    let out = ctx.run(&["token", "prune", "--yes"], None).ok();
    out.leaks_none(&values);
    assert!(
        out.stdout
            .contains(&format!("token/{} revoked", scene.stale)),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("1 revoked, 0 failed"), "{}", out.stderr);
    assert!(ctx.token_revoked(&scene.stale));
    for (what, id) in [
        ("in use", &scene.in_use),
        ("held by an unmanaged copy", &scene.copied),
        ("of another cluster", &scene.other_cluster),
        ("not minted by the plugin", &scene.not_ours),
        ("described by the user", &scene.ours_custom),
    ] {
        assert!(!ctx.token_revoked(id), "a token {what} was revoked");
    }
    assert_eq!(registry_deletes(&ctx), 1, "{}", journal_lines(&ctx.sandbox));
    // Nothing left to prune.
    let again = ctx.run(&["token", "prune", "--yes"], None).ok();
    assert_eq!(again.stdout, "");
    assert!(
        again.stderr.contains("0 token(s) to revoke"),
        "{}",
        again.stderr
    );
}

#[test]
fn token_prune_revokes_nothing_without_a_complete_view_and_reports_failures() {
    let ctx = TestContext::logged_in();
    let scene = prune_scene(&ctx);
    ctx.sandbox.journal().clear();
    // A user who cannot list every namespace's secrets: nothing is revoked, and it says why.
    ctx.run(
        &["--context", "sandbox-dev", "token", "prune", "--yes"],
        None,
    )
    .fails_with("nothing was revoked: without every pull secret of cluster `sandbox`");
    // An API server failing the list: the same.
    ctx.sandbox
        .inject(Fault::fail_next_get(Service::Kube, "/api/v1/secrets").times(10));
    ctx.run(&["token", "prune", "--yes"], None)
        .fails_with("nothing was revoked");
    ctx.sandbox.clear_faults();
    assert_eq!(registry_deletes(&ctx), 0, "{}", journal_lines(&ctx.sandbox));

    // A revocation that fails: the summary line, exit 1, the id to retry.
    ctx.sandbox.inject(Fault::json(
        Service::Registry,
        "DELETE",
        &format!("/api/v1/tokens/{}", scene.stale),
        500,
        json!({"code": "CRG0001E", "message": "internal error"}),
    ));
    ctx.run(&["token", "prune", "--yes"], None)
        .fails_with(&format!(
            "0 revoked, 1 failed: retry with `kubectl dedicated-registry token revoke {}`",
            scene.stale
        ));
    assert!(!ctx.token_revoked(&scene.stale));
    assert!(!ctx.token_revoked(&scene.in_use));
}

#[test]
fn token_prune_asks_on_the_terminal() {
    require_keyring();
    let ctx = TestContext::logged_in();
    let scene = prune_scene(&ctx);
    let prompt = "token(s) of cluster `sandbox`? [y/N]: ";
    // "n" (or anything but y/yes): nothing revoked, exit 1.
    let mut session =
        rexpect::session::spawn_command(ctx.command(&["token", "prune"]), Some(15_000))
            .expect("pty session");
    let before = session.exp_string(prompt).unwrap();
    assert!(
        before.contains(&scene.stale),
        "the plan comes first: {before}"
    );
    session.send_line("n").unwrap();
    let rest = session.exp_eof().unwrap();
    assert!(
        rest.contains("not confirmed: nothing was revoked"),
        "{rest}"
    );
    assert!(!ctx.token_revoked(&scene.stale));
    // While the question waits, someone writes the stale token into a new secret: the cluster
    // is read again after "y", and the token is kept.
    let mut session =
        rexpect::session::spawn_command(ctx.command(&["token", "prune"]), Some(15_000))
            .expect("pty session");
    session.exp_string(prompt).unwrap();
    let value = ctx
        .tokens()
        .into_iter()
        .find(|t| t.id == scene.stale)
        .unwrap()
        .token;
    let host = ctx.sandbox.urls().registry_host.clone();
    let config = json!({"auths": {host: {"username": "token", "password": value}}});
    ctx.sandbox.world.kube.put_raw(json!({
        "kind": "Secret",
        "metadata": {"name": "late", "namespace": "team-a"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            config.to_string(),
        )},
    }));
    session.send_line("y").unwrap();
    let rest = session.exp_eof().unwrap();
    assert!(
        rest.contains(&format!(
            "token {} is now held by team-a/late; it was kept",
            scene.stale
        )),
        "{rest}"
    );
    assert!(
        rest.contains("0 revoked, 0 failed, 1 kept (now in use)"),
        "{rest}"
    );
    assert!(!ctx.token_revoked(&scene.stale));
    ctx.kubectl(&["-n", "team-a", "delete", "secret", "late"])
        .ok();
    // "y": revoked.
    let mut session =
        rexpect::session::spawn_command(ctx.command(&["token", "prune"]), Some(15_000))
            .expect("pty session");
    session.exp_string(prompt).unwrap();
    session.send_line("y").unwrap();
    let rest = session.exp_eof().unwrap();
    assert!(rest.contains("1 revoked, 0 failed"), "{rest}");
    assert!(ctx.token_revoked(&scene.stale));
    assert!(!ctx.token_revoked(&scene.in_use));
}

#[test]
fn secret_list_across_namespaces_falls_back_to_each_namespace_when_rbac_refuses() {
    require_keyring();
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
            },
            dedicated_sandbox::KubeRule {
                namespace: Some("team-a".into()),
                resources: vec!["secrets".into()],
                verbs: vec!["list".into()],
            },
        ],
    });
    let ctx = TestContext::with_config(config);
    ctx.login_alice();
    ctx.run(&["-n", "team-a", "secret", "create", "regcred"], None)
        .ok();
    ctx.run(&["-n", "team-b", "secret", "create", "regcred"], None)
        .ok();
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

//! Registry tokens (issue 11, points 2 and 3): `token list` (the plugin's own unless `--all`,
//! expiry, IN-USE, `--unused`, never a value), `token revoke` (ids only, checked before any
//! request), `token prune` (only unused tokens this plugin minted for this cluster; plan,
//! confirmation, `--yes`, `--dry-run`, a complete view of the cluster or nothing), and the
//! `Organization` header fallback of list and revoke.
// See: issue 11.

use dedicated_sandbox::Variant::OrgHeaderListRejected;
use dedicated_sandbox::{Fault, FaultAction, Service, seed};
use serde_json::{Value, json};

use crate::common::{TestContext, copy_secret, journal_lines, require_keyring, rows, token_of};

#[test]
fn tokens_are_listed_without_their_values_and_revoked_with_their_secret() {
    let ctx = TestContext::with_secret("team-a", "one");
    ctx.run(
        &["-n", "team-b", "secret", "create", "two", "--readwrite"],
        None,
    )
    .ok();
    let tokens = ctx.tokens();
    let secrets: Vec<&str> = tokens.iter().map(|t| t.token.as_str()).collect();

    let table = ctx.run(&["token", "list"], None).ok();
    table.leaks_none(&secrets);
    for t in &tokens {
        assert!(table.stdout.contains(&t.id), "{}", table.stdout);
    }
    assert!(table.stdout.contains("read-only") && table.stdout.contains("read-write"));
    assert!(table.stdout.contains("team-a/one") && table.stdout.contains("never"));

    let json = ctx.run(&["token", "list", "-o", "json"], None).ok();
    json.leaks_none(&secrets);
    let listed: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // Deleting the secret revokes its token, and only that one.
    let id_one = tokens
        .iter()
        .find(|t| t.description.ends_with("/one"))
        .unwrap()
        .id
        .clone();
    let out = ctx
        .run(&["-n", "team-a", "secret", "delete", "one"], None)
        .ok();
    assert!(out.stdout.contains("secret/one deleted"));
    assert!(out.stdout.contains(&format!("token/{id_one} revoked")));
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("team-a", "secrets", "one")
            .is_none()
    );
    let after = ctx.tokens();
    assert!(after.iter().find(|t| t.id == id_one).unwrap().revoked);
    assert_eq!(after.iter().filter(|t| !t.revoked).count(), 1);

    ctx.run(&["-n", "team-a", "secret", "delete", "one"], None)
        .fails_with("not found");
    ctx.run(
        &[
            "-n",
            "team-a",
            "secret",
            "delete",
            "one",
            "--ignore-not-found",
        ],
        None,
    )
    .ok();
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
    ctx.run(&["-n", "team-a", "secret", "delete", "theirs"], None)
        .fails_with("not managed");

    // Revoke by id; a token pasted by mistake is refused without being echoed.
    let id_two = after.iter().find(|t| !t.revoked).unwrap().id.clone();
    ctx.run(&["token", "revoke", "--force", &id_two], None).ok();
    assert!(ctx.tokens().iter().all(|t| t.revoked));
    let pasted = tokens[0].token.clone();
    ctx.run(&["token", "revoke", &pasted], None)
        .fails_with("not the token itself")
        .leaks_none(&[&pasted]);
    ctx.run(&["token", "revoke", "no-such-id"], None)
        .fails_with("404");
}

/// "`token list` shows the org's registry tokens minted by this plugin (`--all`: every token)
/// ... (`-o json|yaml` for scripts)".
#[test]
fn token_list_filters_to_the_plugins_tokens_unless_all() {
    let ctx = TestContext::with_secret("team-a", "regcred");
    // A token someone minted by hand (IBM's documented curl), not described by the plugin.
    let access = ctx.sandbox.world.mint_uaa_access_token(seed::ALICE);
    let url = format!(
        "{}/api/v1/tokens?permanent=false&description=ci-pipeline",
        ctx.sandbox.urls().registry
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
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 2);
    let (mine, theirs) = (&tokens[0], &tokens[1]);
    assert_eq!(theirs.description, "ci-pipeline");
    let secrets = [mine.token.as_str(), theirs.token.as_str()];

    let table = ctx.run(&["token", "list"], None).ok();
    assert!(table.stdout.contains(&mine.id), "{}", table.stdout);
    assert!(!table.stdout.contains(&theirs.id), "{}", table.stdout);
    table.leaks_none(&secrets);
    let all = ctx.run(&["token", "list", "--all"], None).ok();
    assert!(all.stdout.contains(&mine.id) && all.stdout.contains(&theirs.id));
    // The expiring token (24 h) shows its expiry, the plugin's permanent one "never".
    let expiry = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(theirs.expiry.expect("expiring")),
    )
    .to_string();
    let line = |id: &str| {
        all.stdout
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        line(&theirs.id),
        [theirs.id.as_str(), "read-only", &expiry, "-", "ci-pipeline"]
    );
    assert_eq!(
        line(&mine.id)[..3],
        [mine.id.as_str(), "read-only", "never"]
    );
    all.leaks_none(&secrets);

    let yaml = ctx.run(&["token", "list", "-o", "yaml"], None).ok();
    yaml.leaks_none(&secrets);
    let listed: Value = serde_saphyr::from_str(&yaml.stdout).unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine.id.as_str()]);
    let yaml_all = ctx
        .run(&["token", "list", "--all", "-o", "yaml"], None)
        .ok();
    yaml_all.leaks_none(&secrets);
    let listed: Value = serde_saphyr::from_str(&yaml_all.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{}", yaml_all.stdout);
}

#[test]
fn token_list_shows_where_each_token_is_used_and_unused_filters() {
    let ctx = TestContext::with_secret("team-a", "regcred");
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

#[test]
fn token_revoke_refuses_what_is_not_a_token_id_before_any_request() {
    let ctx = TestContext::logged_in();
    ctx.sandbox.journal().clear();
    for bad in ["a/b", "x?y", "id#frag"] {
        ctx.run(&["token", "revoke", bad], None)
            .fails_with(&format!("invalid token id `{bad}`"));
    }
    assert!(
        ctx.sandbox.journal().entries().is_empty(),
        "nothing was sent: {}",
        crate::common::journal_lines(&ctx.sandbox)
    );
}

#[test]
fn organization_header_fallback_is_remembered() {
    require_keyring();
    let ctx = TestContext::with_variants(&[OrgHeaderListRejected]);
    ctx.login_alice();
    ctx.run(
        &["-n", "team-a", "secret", "create", "regcred", "--rotate"],
        None,
    )
    .ok();
    ctx.run(
        &["-n", "team-a", "secret", "create", "regcred", "--rotate"],
        None,
    )
    .ok();
    let config = std::fs::read_to_string(ctx.config_file()).unwrap();
    assert!(config.contains("org-header-on-manage: false"), "{config}");
    // Learnt once: later lists go without the header at once.
    let rejected = |ctx: &TestContext| {
        ctx.sandbox
            .journal()
            .for_service(Service::Registry)
            .iter()
            .filter(|e| e.status == 400)
            .count()
    };
    let before = rejected(&ctx);
    assert_eq!(before, 1, "one 400 before the form was learnt");
    ctx.run(&["token", "list"], None).ok();
    ctx.run(&["-n", "team-a", "secret", "delete", "regcred"], None)
        .ok();
    assert_eq!(rejected(&ctx), before);
    assert!(ctx.tokens().iter().all(|t| t.revoked));
}

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
    ctx.create_secret("team-a", "regcred");
    ctx.create_secret("team-b", "regcred");
    ctx.create_secret("team-a", "copied");
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
            "0 revoked, 1 failed: retry with `kubectl dedicated-registry --profile {} token revoke {}`",
            ctx.profile, scene.stale
        ));
    assert!(!ctx.token_revoked(&scene.stale));
    assert!(!ctx.token_revoked(&scene.in_use));
}

/// Someone writes token `id` into a new secret `team-a/late` (not managed), as another tool
/// would.
fn plant_late_holder(ctx: &TestContext, id: &str) {
    let value = ctx.tokens().into_iter().find(|t| t.id == id).unwrap().token;
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
    plant_late_holder(&ctx, &scene.stale);
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

/// Issue 24, friction 1: `token revoke` of a token that pull secrets of the current cluster
/// hold is refused, naming the holders, and the token stays live; `--force` revokes it.
#[test]
fn a_held_token_is_revoked_only_with_force() {
    let ctx = TestContext::logged_in();
    ctx.run(&["-n", "team-a", "secret", "create", "regcred"], None)
        .ok();
    let id = ctx.tokens()[0].id.clone();
    let run = ctx
        .run(&["token", "revoke", &id], None)
        .fails_with("held by 1 pull secret(s) of the current cluster (team-a/regcred)");
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert!(!ctx.token_revoked(&id), "the held token still works");
    let run = ctx.run(&["token", "revoke", "--force", &id], None).ok();
    assert_eq!(run.stdout.trim(), format!("token/{id} revoked"));
    assert!(ctx.token_revoked(&id));
}

/// Issue 25 (bug 2, a second test, no terminal): `token prune --yes` reads the cluster again
/// just before revoking. The second read is held back 2 s by the sandbox; meanwhile the stale
/// token is written into a new secret. The registry sees no revocation of it.
#[test]
fn token_prune_reads_the_cluster_again_just_before_revoking() {
    let ctx = TestContext::logged_in();
    let scene = prune_scene(&ctx);
    ctx.sandbox.journal().clear();
    ctx.sandbox.inject(
        Fault::new(
            Service::Kube,
            "GET",
            "/api/v1/secrets",
            FaultAction::Delay(std::time::Duration::from_secs(2)),
        )
        .after(1)
        .times(1),
    );
    let mut cmd = ctx.command(&["token", "prune", "--yes"]);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("prune starts");
    let start = std::time::Instant::now();
    let first_read = || {
        ctx.sandbox
            .journal()
            .entries()
            .iter()
            .any(|e| e.method == "GET" && e.path == "/api/v1/secrets")
    };
    while !first_read() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "no first read"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    plant_late_holder(&ctx, &scene.stale);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let reads = ctx
        .sandbox
        .journal()
        .entries()
        .iter()
        .filter(|e| e.method == "GET" && e.path == "/api/v1/secrets")
        .count();
    assert_eq!(
        reads, 2,
        "read before the plan and again before revoking: {stderr}"
    );
    let revocation = format!("/api/v1/tokens/{}", scene.stale);
    assert!(
        !ctx.sandbox
            .journal()
            .entries()
            .iter()
            .any(|e| e.method == "DELETE" && e.path == revocation),
        "the token taken meanwhile was revoked: {}",
        journal_lines(&ctx.sandbox)
    );
    assert!(!ctx.token_revoked(&scene.stale));
    assert!(!ctx.token_revoked(&scene.in_use));
}

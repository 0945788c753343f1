//! The icr.io provider (issue 20) against the sandbox's IAM, Identity, Policy and icr.io
//! emulation, with the real Secret Service and the real kubectl: login with an API key, one
//! service ID + Reader policy + API key per cluster, idempotent re-runs (counted in the
//! journal), a key deleted by hand, paginated lists, both Policy API versions, IAM's errors,
//! and the leak searches.
// See: issue 20.

use std::process::Command;

use dedicated_sandbox::{Service, holds_secret, seed};
use serde_json::{Value, json};

use crate::common::{Run, TestContext, assert_sent_only_to, require_keyring};

/// The registry `host:port` of `us.icr.io` as the plugin addresses it on the sandbox.
fn us(ctx: &TestContext) -> String {
    ctx.sandbox
        .icr_url("us.icr.io")
        .trim_start_matches("https://")
        .to_string()
}

/// A plugin command with the icr.io names pinned to the sandbox.
fn icr_command(ctx: &TestContext, args: &[&str]) -> Command {
    let mut cmd = ctx.command(args);
    cmd.env(
        "KUBECTL_DEDICATED_REGISTRY_RESOLVE",
        ctx.sandbox.icr_resolve(),
    );
    cmd
}

fn icr_run(ctx: &TestContext, args: &[&str]) -> Run {
    ctx.run_with(icr_command(ctx, args), None)
}

/// `login --registry us.icr.io:P --iam-url <sandbox> --ca-file <ca>` plus `extra`.
fn icr_login_args(ctx: &TestContext, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "login".into(),
        "--registry".into(),
        us(ctx),
        "--iam-url".into(),
        ctx.sandbox.urls().iam.clone(),
        "--ca-file".into(),
        ctx.sandbox.ca_file().display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Logs in with `key` on stdin and `extra` flags.
fn icr_login(ctx: &TestContext, key: &str, extra: &[&str]) -> Run {
    let args = icr_login_args(ctx, extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ctx.run_with(icr_command(ctx, &refs), Some(key))
}

/// A context with dana logged in (keyring), pull policy on `team-ns`.
fn dana(extra: &[&str]) -> TestContext {
    require_keyring();
    let ctx = TestContext::new();
    let mut flags = vec![
        "--apikey-stdin",
        "--registry-namespace",
        seed::ICR_NAMESPACE,
    ];
    flags.extend_from_slice(extra);
    icr_login(&ctx, seed::DANA_API_KEY, &flags).ok();
    ctx
}

/// How many requests `method path` the journal holds, and with which statuses.
fn requests(ctx: &TestContext, method: &str, path: &str) -> Vec<u16> {
    ctx.sandbox
        .journal()
        .entries()
        .into_iter()
        .filter(|e| e.service == Service::Iam && e.method == method && e.path == path)
        .map(|e| e.status)
        .collect()
}

/// The creates counted in the journal: (service IDs, policies v1+v2, API keys), 2xx only.
fn creates(ctx: &TestContext) -> (usize, usize, usize) {
    let ok = |v: Vec<u16>| v.into_iter().filter(|s| (200..300).contains(s)).count();
    (
        ok(requests(ctx, "POST", "/v1/serviceids/")),
        ok(requests(ctx, "POST", "/v1/policies")) + ok(requests(ctx, "POST", "/v2/policies")),
        ok(requests(ctx, "POST", "/v1/apikeys")),
    )
}

/// The annotations of secret `namespace/name` (as the real kubectl reads them).
fn key_id_of(ctx: &TestContext, namespace: &str, name: &str) -> String {
    let out = ctx
        .kubectl(&["-n", namespace, "get", "secret", name, "-o", "json"])
        .ok();
    let secret: Value = serde_json::from_str(&out.stdout).unwrap();
    secret["metadata"]["annotations"]["kubectl-dedicated-registry/token-id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The value of the API key `id` (the sandbox keeps it).
fn key_value(ctx: &TestContext, id: &str) -> String {
    ctx.sandbox
        .world
        .iam
        .api_keys()
        .into_iter()
        .find(|k| k.id == id)
        .expect("the key was created")
        .value
}

/// The `.dockerconfigjson` bytes of `namespace/name`, read with the real kubectl, and what
/// `kubectl create secret docker-registry --docker-username=iamapikey` writes for its key.
fn bytes_and_reference(ctx: &TestContext, namespace: &str, name: &str) -> (Vec<u8>, Vec<u8>) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let out = ctx
        .kubectl(&["-n", namespace, "get", "secret", name, "-o", "json"])
        .ok();
    let secret: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    let bytes = b64
        .decode(secret["data"][".dockerconfigjson"].as_str().unwrap())
        .unwrap();
    let value = key_value(ctx, &key_id_of(ctx, namespace, name));
    let server = format!("--docker-server={}", us(ctx));
    let password = format!("--docker-password={value}");
    let reference = ctx
        .kubectl(&[
            "create",
            "secret",
            "docker-registry",
            "reference",
            &server,
            "--docker-username=iamapikey",
            &password,
            "--dry-run=client",
            "-o",
            "json",
        ])
        .ok();
    let reference: Value = serde_json::from_str(&reference.stdout).unwrap();
    let reference = b64
        .decode(reference["data"][".dockerconfigjson"].as_str().unwrap())
        .unwrap();
    (bytes, reference)
}

/// The live service IDs this plugin made (by the name it gives them).
fn plugin_service_ids(ctx: &TestContext) -> Vec<dedicated_sandbox::iam::state::ServiceId> {
    ctx.sandbox
        .world
        .iam
        .service_ids()
        .into_iter()
        .filter(|s| {
            !s.deleted
                && s.description
                    .ends_with("managed by kubectl-dedicated-registry")
        })
        .collect()
}

/// Issue 20, must show: login with an API key (kept in the real keyring, never in the
/// settings file), `secret create -A` and a single namespace; the bytes are those of
/// `kubectl create secret docker-registry --docker-username=iamapikey`; re-runs create no
/// second service ID, policy or key.
#[test]
fn login_create_and_rerun_make_one_service_id_policy_and_key() {
    let ctx = dana(&[]);
    // The key is in the keyring under the profile and IAM URL, and nowhere in the settings.
    let account = format!("{}@{}", ctx.profile, ctx.sandbox.urls().iam);
    let stored = Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            "kubectl-dedicated-registry",
            "username",
            &account,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&stored.stdout).trim(),
        seed::DANA_API_KEY
    );
    let config = std::fs::read_to_string(ctx.config_file()).unwrap();
    assert!(config.contains("provider: icr"), "{config}");
    assert!(
        !holds_secret(config.as_bytes(), seed::DANA_API_KEY),
        "{config}"
    );

    let run = icr_run(&ctx, &["secret", "create", "regcred", "-A"]).ok();
    assert!(
        run.stdout
            .contains("secret/regcred created (namespace team-a)"),
        "{}",
        run.stdout
    );
    assert_eq!(creates(&ctx), (1, 1, 1), "{}", run.stderr);
    let shared = key_id_of(&ctx, "team-a", "regcred");
    assert!(shared.starts_with("ApiKey-"), "{shared}");
    assert_eq!(
        key_id_of(&ctx, "team-b", "regcred"),
        shared,
        "one key per cluster"
    );
    let (bytes, reference) = bytes_and_reference(&ctx, "team-b", "regcred");
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        String::from_utf8_lossy(&reference)
    );
    // The key is IAM's, not stored by IAM, and its policy is Reader on team-ns only.
    let key = ctx
        .sandbox
        .world
        .iam
        .api_keys()
        .into_iter()
        .find(|k| k.id == shared)
        .unwrap();
    assert!(!key.store_value);
    let policies = ctx.sandbox.world.iam.policies();
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].subject, key.iam_id);
    assert!(policies[0].roles[0].ends_with("container-registry::::serviceRole:Reader"));
    assert!(
        policies[0]
            .attributes
            .iter()
            .any(|a| a.key == "resource" && a.value == json!(seed::ICR_NAMESPACE))
    );

    // Re-runs: nothing new.
    let again = icr_run(&ctx, &["secret", "create", "regcred", "-A"]).ok();
    assert!(
        again
            .stderr
            .contains("0 created, 0 configured, 3 unchanged"),
        "{}",
        again.stderr
    );
    // A namespace that lost its secret gets the cluster's key back (`--reuse`).
    ctx.kubectl(&["-n", "team-a", "delete", "secret", "regcred"])
        .ok();
    let reuse = icr_run(
        &ctx,
        &["-n", "team-a", "secret", "create", "regcred", "--reuse"],
    )
    .ok();
    assert!(
        reuse.stdout.contains("secret/regcred created"),
        "{}",
        reuse.stdout
    );
    assert_eq!(key_id_of(&ctx, "team-a", "regcred"), shared);
    assert_eq!(creates(&ctx), (1, 1, 1), "{}", again.stderr);

    // One namespace's own key: a second key of the same service ID, policy reused.
    icr_run(&ctx, &["-n", "team-a", "secret", "create", "own"]).ok();
    let own = key_id_of(&ctx, "team-a", "own");
    assert_ne!(own, shared);
    assert_eq!(creates(&ctx), (1, 1, 2));
    icr_run(&ctx, &["-n", "team-a", "secret", "create", "own"]).ok();
    assert_eq!(
        creates(&ctx),
        (1, 1, 2),
        "a re-run in one namespace mints nothing"
    );
    assert_eq!(plugin_service_ids(&ctx).len(), 1);
    // A Dedicated profile lives beside it.
    let status = icr_run(&ctx, &["status"]).ok();
    assert!(
        status.stdout.contains("icr.io (IBM Cloud IAM)"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains(seed::IBM_ACCOUNT),
        "{}",
        status.stdout
    );
}

/// Issue 20, must show: a key deleted by hand (in IAM) converges to a new one on the next
/// run: the realm's 400 to `iamapikey` is a refusal, the shared key is not listed live, so a
/// new key of the same service ID is minted and written everywhere.
/// Planted: the realm's 400 left inconclusive (the secrets stayed on the dead key).
#[test]
fn a_key_deleted_by_hand_converges_to_a_new_one() {
    let ctx = dana(&[]);
    icr_run(&ctx, &["secret", "create", "regcred", "-A"]).ok();
    let old = key_id_of(&ctx, "team-a", "regcred");
    assert!(ctx.sandbox.world.iam.delete_api_key(&old));
    let run = icr_run(&ctx, &["secret", "create", "regcred", "-A"]).ok();
    assert!(
        run.stderr.contains("0 created, 3 configured"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let new = key_id_of(&ctx, "team-a", "regcred");
    assert_ne!(new, old);
    assert_eq!(key_id_of(&ctx, "team-b", "regcred"), new);
    assert_eq!(
        creates(&ctx),
        (1, 1, 2),
        "same service ID and policy, one new key"
    );
    let again = icr_run(&ctx, &["secret", "create", "regcred", "-A"]).ok();
    assert!(again.stderr.contains("3 unchanged"), "{}", again.stderr);
}

/// POSTs `body` to `path` of the sandbox IAM as dana (what another tool or a person does).
fn iam_post(ctx: &TestContext, path: &str, body: Value) -> Value {
    let token = ctx
        .sandbox
        .world
        .mint_iam_access_token(seed::DANA, seed::IBM_ACCOUNT);
    let url = format!("{}{path}", ctx.sandbox.urls().iam);
    let ca = reqwest::Certificate::from_pem(ctx.sandbox.pki.ca_pem.as_bytes()).unwrap();
    ctx.runtime.block_on(async {
        let client = reqwest::Client::builder()
            .tls_certs_only([ca])
            .no_proxy()
            .build()
            .unwrap();
        let answer = client
            .post(&url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{}", answer.status());
        answer.json().await.unwrap()
    })
}

/// Issue 20, must show: pagination. With pages of one item, the plugin's service ID comes
/// after two others of the same name (names are not unique) and its shared key after two
/// foreign keys: both are found on later pages, so nothing is created again.
/// Planted: `all_pages` stopping after the first page (a second service ID and a new key).
#[test]
fn lists_of_service_ids_and_keys_are_followed_page_by_page() {
    let ctx = dana(&[]);
    let name = "kubectl-dedicated-registry sandbox";
    for i in 0..2 {
        iam_post(
            &ctx,
            "/v1/serviceids/",
            json!({"account_id": seed::IBM_ACCOUNT, "name": name, "description": format!("someone else's {i}")}),
        );
    }
    let paged = |args: &[&str]| {
        let mut cmd = icr_command(&ctx, args);
        cmd.env("KUBECTL_DEDICATED_REGISTRY_IAM_PAGE_SIZE", "1");
        ctx.run_with(cmd, None).ok()
    };
    paged(&["secret", "create", "regcred", "-A"]);
    let ours = plugin_service_ids(&ctx);
    assert_eq!(ours.len(), 1);
    for i in 0..2 {
        iam_post(
            &ctx,
            "/v1/apikeys",
            json!({"name": format!("foreign {i}"), "iam_id": ours[0].iam_id, "description": format!("foreign {i}")}),
        );
    }
    // The service ID is found again on page 3 of the name search; its 4th key is minted.
    paged(&["secret", "create", "second", "-A"]);
    assert_eq!(plugin_service_ids(&ctx).len(), 1, "no second service ID");
    let second = key_id_of(&ctx, "team-b", "second");
    let keys = creates(&ctx).2;
    // Reusing it needs every page of the service IDs (ours is 3rd) and of its keys (4th).
    ctx.kubectl(&["-n", "team-a", "delete", "secret", "second"])
        .ok();
    let run = paged(&[
        "-v", "6", "-n", "team-a", "secret", "create", "second", "--reuse",
    ]);
    assert_eq!(
        key_id_of(&ctx, "team-a", "second"),
        second,
        "{}",
        run.stderr
    );
    assert_eq!(creates(&ctx).2, keys, "no new key");
    let followed = |what: &str| {
        run.stderr
            .lines()
            .filter(|l| l.contains(what) && l.contains("pagetoken="))
            .count()
    };
    assert!(followed("/v1/apikeys?") >= 3, "{}", run.stderr);
    assert!(followed("/v1/serviceids/?") >= 2, "{}", run.stderr);
}

/// Issue 20, must show: both Policy API versions. A v1 profile writes a v1 policy and reuses
/// it; switched to v1 over an existing v2 policy (which a v1 list shows only as a
/// placeholder), IAM's 409 conflict means "exists", and no second policy is made.
#[test]
fn both_policy_api_versions_write_one_policy_and_reuse_it() {
    let ctx = dana(&["--policy-api", "v1"]);
    icr_run(&ctx, &["secret", "create", "regcred", "-A"]).ok();
    assert_eq!(requests(&ctx, "POST", "/v1/policies"), vec![201]);
    assert!(requests(&ctx, "POST", "/v2/policies").is_empty());
    icr_run(&ctx, &["-n", "team-a", "secret", "create", "own"]).ok();
    assert_eq!(
        requests(&ctx, "POST", "/v1/policies"),
        vec![201],
        "reused from the v1 list"
    );

    let ctx = dana(&[]);
    icr_run(&ctx, &["secret", "create", "regcred", "-A"]).ok();
    assert_eq!(requests(&ctx, "POST", "/v2/policies"), vec![201]);
    icr_login(
        &ctx,
        seed::DANA_API_KEY,
        &[
            "--apikey-stdin",
            "--registry-namespace",
            seed::ICR_NAMESPACE,
            "--policy-api",
            "v1",
        ],
    )
    .ok();
    icr_run(&ctx, &["-n", "team-a", "secret", "create", "own"]).ok();
    assert_eq!(requests(&ctx, "POST", "/v1/policies"), vec![409]);
    let live = ctx.sandbox.world.iam.policies();
    assert_eq!(live.iter().filter(|p| !p.deleted).count(), 1);
    let own = key_id_of(&ctx, "team-a", "own");
    assert!(own.starts_with("ApiKey-"));
}

/// Issue 20: IAM's two error shapes as one line with the IBM message code, and the missing
/// right named.
#[test]
fn iam_errors_are_one_line_with_the_ibm_code() {
    require_keyring();
    let ctx = TestContext::new();
    icr_login(
        &ctx,
        "not-a-key-0123456789abcdefghijklmnopqrstuv",
        &["--apikey-stdin", "--account-wide"],
    )
    .fails_with("BXNIM0415E");
    // Erin may log in, but may not create service IDs.
    icr_login(
        &ctx,
        seed::ERIN_API_KEY,
        &["--apikey-stdin", "--account-wide"],
    )
    .ok();
    let run = icr_run(&ctx, &["-n", "team-a", "secret", "create", "regcred"])
        .fails_with("HTTP 403 BXNIM0513E");
    assert!(run.stderr.contains("Service ID creator"), "{}", run.stderr);
    // Dedicated-only flags are refused for icr.io, and icr.io-only ones for Dedicated.
    icr_login(
        &ctx,
        seed::DANA_API_KEY,
        &["--apikey-stdin", "--org", "dev-org"],
    )
    .fails_with("--org is for Bluemix Dedicated");
    ctx.login(&["--account-wide"], None)
        .fails_with("are for icr.io");
}

/// Issue 20, must show: the leak searches. Dana's API key, the minted API key and every IAM
/// access token are in no output at `-v 6`, `8` and `9`, in any form, nor in the settings
/// file; each is found where it must be (positive controls): the API key in the token
/// request, the IAM token in the Identity API requests, the minted key at the icr.io realm
/// and, with `--show-token`, on stdout.
#[test]
fn no_api_key_or_iam_token_in_any_output() {
    let ctx = TestContext::new();
    require_keyring();
    let mut runs = Vec::new();
    for level in ["6", "8", "9"] {
        let args = icr_login_args(
            &ctx,
            &[
                "-v",
                level,
                "--apikey-stdin",
                "--registry-namespace",
                seed::ICR_NAMESPACE,
            ],
        );
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        runs.push(
            ctx.run_with(icr_command(&ctx, &refs), Some(seed::DANA_API_KEY))
                .ok(),
        );
        let name = format!("regcred-{level}");
        runs.push(icr_run(&ctx, &["-v", level, "secret", "create", &name, "-A"]).ok());
        let own = format!("own-{level}");
        runs.push(
            icr_run(
                &ctx,
                &["-v", level, "-n", "team-a", "secret", "create", &own],
            )
            .ok(),
        );
    }
    let minted: Vec<String> = ctx
        .sandbox
        .world
        .iam
        .api_keys()
        .into_iter()
        .filter(|k| k.iam_id.starts_with("iam-ServiceId-"))
        .map(|k| k.value)
        .collect();
    assert_eq!(minted.len(), 6, "a shared and an own key per level");
    let tokens = ctx.sandbox.world.iam.access_tokens();
    assert!(tokens.len() >= 9, "{}", tokens.len());
    let mut secrets: Vec<&str> = vec![seed::DANA_API_KEY];
    secrets.extend(minted.iter().map(String::as_str));
    secrets.extend(tokens.iter().map(String::as_str));
    for run in &runs {
        run.leaks_none(&secrets);
        run.shows_no_jwt();
    }
    // -v took effect: the requests and (at 8) their masked bodies are there.
    assert!(
        runs[4].stderr.contains("POST https://"),
        "{}",
        runs[4].stderr
    );
    assert!(
        runs[4].stderr.contains("Request Body:"),
        "{}",
        runs[4].stderr
    );
    let config = std::fs::read_to_string(ctx.config_file()).unwrap();
    for s in &secrets {
        assert!(!holds_secret(config.as_bytes(), s), "{config}");
    }
    // Positive controls: each secret is found where it must be.
    assert_sent_only_to(
        &ctx.sandbox,
        seed::DANA_API_KEY,
        |(service, _, path)| *service == Service::Iam && path == "/identity/token",
        &[(Service::Iam, "POST", "/identity/token")],
    );
    for token in &tokens {
        assert_sent_only_to(
            &ctx.sandbox,
            token,
            |(service, _, _)| *service == Service::Iam,
            &[],
        );
    }
    assert!(
        tokens
            .iter()
            .any(|t| crate::common::sent_to(&ctx.sandbox, t)
                .iter()
                .any(|(s, m, p)| *s == Service::Iam && m == "POST" && p == "/v1/apikeys")),
        "positive control: an IAM token is found in the API key creates"
    );
    for key in &minted {
        assert_sent_only_to(
            &ctx.sandbox,
            key,
            |(service, _, _)| matches!(service, Service::Icr | Service::Kube),
            &[(Service::Icr, "GET", "/oauth/token")],
        );
    }
    let shown = icr_run(
        &ctx,
        &[
            "-n",
            "team-a",
            "secret",
            "create",
            "regcred-6",
            "-o",
            "json",
            "--show-token",
        ],
    )
    .ok();
    let own = key_value(&ctx, &key_id_of(&ctx, "team-a", "regcred-6"));
    shown.stdout_holds(&own);
}

/// Issue 20, must show: rotation order. `secret rotate -A` creates the new key, writes every
/// secret with it (the real kubectl reads the new one back), and only then deletes the old
/// key; the service ID and policy are reused.
/// Planted: the old key revoked before the writes (the order assertion failed).
#[test]
fn rotation_writes_the_new_key_everywhere_before_deleting_the_old() {
    let ctx = dana(&[]);
    icr_run(&ctx, &["secret", "create", "regcred", "-A"]).ok();
    let old = key_id_of(&ctx, "team-a", "regcred");
    let before = ctx.sandbox.journal().entries().len();
    let run = icr_run(&ctx, &["secret", "rotate", "regcred", "-A"]).ok();
    assert!(run.stderr.contains("3 secrets rewritten"), "{}", run.stderr);
    let new = key_id_of(&ctx, "team-a", "regcred");
    assert_ne!(new, old);
    for ns in ["default", "team-b"] {
        assert_eq!(key_id_of(&ctx, ns, "regcred"), new);
    }
    let (bytes, reference) = bytes_and_reference(&ctx, "team-b", "regcred");
    assert_eq!(bytes, reference);
    let delete = format!("/v1/apikeys/{old}");
    let entries = ctx.sandbox.journal().entries();
    let at = |f: &dyn Fn(&dedicated_sandbox::Entry) -> bool| -> Vec<usize> {
        (before..entries.len())
            .filter(|i| f(&entries[*i]))
            .collect()
    };
    let minted =
        at(&|e| e.service == Service::Iam && e.method == "POST" && e.path == "/v1/apikeys");
    let writes = at(&|e| {
        e.service == Service::Kube && e.method == "PUT" && e.path.ends_with("/secrets/regcred")
    });
    let deleted = at(&|e| e.service == Service::Iam && e.method == "DELETE" && e.path == delete);
    assert_eq!(
        (minted.len(), writes.len(), deleted.len()),
        (1, 3, 1),
        "{writes:?}"
    );
    assert!(
        minted[0] < writes[0],
        "the new key exists before the first write"
    );
    assert!(
        writes[2] < deleted[0],
        "every secret holds the new key before the old one goes"
    );
    let live = ctx
        .sandbox
        .world
        .iam
        .live_api_keys(&plugin_service_ids(&ctx)[0].iam_id);
    assert_eq!(
        live.iter().map(|k| k.id.clone()).collect::<Vec<_>>(),
        vec![new]
    );
    assert_eq!(creates(&ctx), (1, 1, 2));
}

/// Issue 20: `token list` shows the plugin's API keys with where each is used, and `token
/// prune` deletes the one no secret holds any more.
#[test]
fn token_list_and_prune_see_the_plugins_api_keys() {
    let ctx = dana(&[]);
    icr_run(&ctx, &["secret", "create", "regcred", "-A"]).ok();
    icr_run(&ctx, &["-n", "team-a", "secret", "create", "own"]).ok();
    let shared = key_id_of(&ctx, "team-b", "regcred");
    let own = key_id_of(&ctx, "team-a", "own");
    let list = icr_run(&ctx, &["token", "list"]).ok();
    assert!(
        list.stdout.contains(&shared) && list.stdout.contains(&own),
        "{}",
        list.stdout
    );
    assert!(list.stdout.contains("team-a/own"), "{}", list.stdout);
    ctx.kubectl(&["-n", "team-a", "delete", "secret", "own"])
        .ok();
    let prune = icr_run(&ctx, &["token", "prune", "--yes"]).ok();
    assert!(
        prune.stdout.contains(&format!("token/{own} revoked")),
        "{}",
        prune.stdout
    );
    let live: Vec<String> = ctx
        .sandbox
        .world
        .iam
        .live_api_keys(&plugin_service_ids(&ctx)[0].iam_id)
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(live, vec![shared]);
}

/// Issue 20: IAM policy propagation. A new key the registry refuses a few times is checked
/// again with a bounded backoff and then written; one refused for longer than the bound is
/// deleted again and the run fails with one line, nothing written.
/// Planted: no retry (`fresh_refusals` 0): the first case failed.
#[test]
fn a_fresh_key_refused_while_policies_propagate_is_retried_within_a_bound() {
    require_keyring();
    let mut config = dedicated_sandbox::SandboxConfig::default();
    config.ibm.new_key_refusals = 3;
    let ctx = TestContext::with_config(config);
    let login = [
        "--apikey-stdin",
        "--registry-namespace",
        seed::ICR_NAMESPACE,
    ];
    icr_login(&ctx, seed::DANA_API_KEY, &login).ok();
    let run = icr_run(&ctx, &["-v", "1", "secret", "create", "regcred", "-A"]).ok();
    assert!(
        run.stderr.contains("may not have reached the registry yet"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("3 created"), "{}", run.stderr);

    let mut config = dedicated_sandbox::SandboxConfig::default();
    config.ibm.new_key_refusals = 50;
    let ctx = TestContext::with_config(config);
    icr_login(&ctx, seed::DANA_API_KEY, &login).ok();
    icr_run(&ctx, &["-n", "team-a", "secret", "create", "regcred"])
        .fails_with("does not work for pulling");
    let sid = &plugin_service_ids(&ctx)[0].iam_id;
    assert!(
        ctx.sandbox.world.iam.live_api_keys(sid).is_empty(),
        "the refused key was deleted"
    );
    assert!(ctx.dockerconfigjson("team-a", "regcred").is_none());
}

/// Issue 20: `secret delete` deletes the secret's own API key once it is its last holder,
/// and `token revoke` deletes a key by id (refusing one held by a secret without --force).
#[test]
fn secret_delete_and_token_revoke_delete_api_keys() {
    let ctx = dana(&[]);
    icr_run(&ctx, &["secret", "create", "regcred", "-A"]).ok();
    icr_run(&ctx, &["-n", "team-a", "secret", "create", "own"]).ok();
    let shared = key_id_of(&ctx, "team-b", "regcred");
    let own = key_id_of(&ctx, "team-a", "own");
    icr_run(&ctx, &["-n", "team-a", "secret", "delete", "own"]).ok();
    let sid = plugin_service_ids(&ctx)[0].iam_id.clone();
    let live = |ctx: &TestContext| -> Vec<String> {
        ctx.sandbox
            .world
            .iam
            .live_api_keys(&sid)
            .into_iter()
            .map(|k| k.id)
            .collect()
    };
    assert_eq!(
        live(&ctx),
        vec![shared.clone()],
        "{own} was deleted with its secret"
    );
    icr_run(&ctx, &["token", "revoke", &shared]).fails_with("is held by 3 pull secret(s)");
    icr_run(
        &ctx,
        &["token", "revoke", "637b3d8c-a087-5af9-a636-16e7efc70967"],
    )
    .fails_with("HTTP 404 BXNIM0102E");
    let run = icr_run(&ctx, &["token", "revoke", &shared, "--force"]).ok();
    assert!(
        run.stdout.contains(&format!("token/{shared} revoked")),
        "{}",
        run.stdout
    );
    assert!(live(&ctx).is_empty());
}

/// Issue 20, "Must show": `bash tests/demo-icr.sh` runs the icr.io job end to end on the sandbox
/// (login with an API key, `secret create -A`, a re-run, token list, rotate, prune, read back with
/// the real kubectl), as the README says.
#[test]
fn the_icr_demo_script_runs_end_to_end() {
    crate::common::require_keyring();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("bash")
        .arg(root.join("tests/demo-icr.sh"))
        .current_dir(root)
        .env("DEMO_INSIDE_KEYRING", "1")
        .env("KUBECTL_DIR", crate::main_job::kubectl_dir())
        .env_remove("KUBECTL_DEDICATED_REGISTRY_PROFILE")
        .env_remove("KUBECTL_DEDICATED_REGISTRY_CONFIG")
        .env_remove("IBMCLOUD_API_KEY")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed\n{stdout}\n{stderr}");
    assert!(stdout.contains("demo-icr: OK"), "{stdout}");
    assert!(
        stdout.contains("secret/regcred created (namespace team-b)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("secret/regcred unchanged (namespace team-b)"),
        "{stdout}"
    );
    assert!(stdout.contains("'iamapikey'"), "{stdout}");
}

//! Idempotency, overwrite, dry runs, service accounts, concurrency, and cleanup after failures.

use dedicated_sandbox::{Fault, FaultAction, Service, seed};
use serde_json::{Value, json};

use crate::common::{
    TestContext, assert_order, journal_lines, live_tokens, require_keyring, status_body,
    stored_token,
};

/// `secret create regcred` in team-a, appending to the `default` ServiceAccount.
const CREATE_WITH_SA: &[&str] = &[
    "-n",
    "team-a",
    "secret",
    "create",
    "regcred",
    "--service-account",
    "default",
];

/// The journal shows the replacement of `old` by `new` in the safe order: mint, verify, write
/// the secret (PUT, accepted), and only then revoke the old token.
fn assert_replaced_in_order(ctx: &TestContext, old: &str, new: &str) {
    let revoke_old = format!("/api/v1/tokens/{old}");
    let steps = assert_order(
        &ctx.sandbox,
        &[
            ("GET", "/api/v1/namespaces/team-a/secrets/regcred"),
            ("POST", "/api/v1/tokens"),
            ("GET", "/v2/"),
            ("PUT", "/api/v1/namespaces/team-a/secrets/regcred"),
            ("DELETE", &revoke_old),
        ],
    );
    let entries = ctx.sandbox.journal().entries();
    assert_eq!(entries[steps[3]].status, 200, "the write succeeded first");
    assert!(
        !entries[..steps[3]]
            .iter()
            .any(|e| e.method == "DELETE" && e.path.starts_with("/api/v1/tokens")),
        "a token was revoked before the write:\n{}",
        journal_lines(&ctx.sandbox)
    );
    assert!(
        !entries
            .iter()
            .any(|e| e.method == "DELETE" && e.path == format!("/api/v1/tokens/{new}")),
        "the new token was revoked"
    );
}

#[test]
fn rerun_is_unchanged_and_never_mints_again() {
    let ctx = TestContext::logged_in();
    let create = ["-n", "team-a", "secret", "create", "regcred"];
    assert_eq!(
        ctx.run(&create, None).ok().stdout.trim(),
        "secret/regcred created"
    );
    let before = ctx.dockerconfigjson("team-a", "regcred").unwrap();
    for _ in 0..2 {
        assert_eq!(
            ctx.run(&create, None).ok().stdout.trim(),
            "secret/regcred unchanged"
        );
    }
    assert_eq!(ctx.tokens().len(), 1, "no token sprawl");
    assert_eq!(ctx.dockerconfigjson("team-a", "regcred").unwrap(), before);

    // Another e-mail rewrites the secret with the same token.
    let mut with_email = create.to_vec();
    with_email.extend(["--docker-email", "ops@example.com"]);
    assert_eq!(
        ctx.run(&with_email, None).ok().stdout.trim(),
        "secret/regcred configured"
    );
    assert_eq!(ctx.tokens().len(), 1);
    let after = String::from_utf8(ctx.dockerconfigjson("team-a", "regcred").unwrap()).unwrap();
    assert!(after.contains("ops@example.com"));

    // --rotate mints a new token and revokes the old one after the write: in this order, so
    // the secret never holds a dead token.
    let old_id = ctx.tokens()[0].id.clone();
    let mut rotate = create.to_vec();
    rotate.push("--rotate");
    ctx.sandbox.journal().clear();
    assert_eq!(
        ctx.run(&rotate, None).ok().stdout.trim(),
        "secret/regcred configured"
    );
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 2);
    assert!(tokens.iter().find(|t| t.id == old_id).unwrap().revoked);
    assert_eq!(live_tokens(&ctx), 1);
    let new_id = tokens.iter().find(|t| !t.revoked).unwrap().id.clone();
    assert_replaced_in_order(&ctx, &old_id, &new_id);

    // Asking for push access replaces the read-only token, in the same order.
    let mut rw = create.to_vec();
    rw.push("--readwrite");
    ctx.sandbox.journal().clear();
    assert_eq!(
        ctx.run(&rw, None).ok().stdout.trim(),
        "secret/regcred configured"
    );
    let live: Vec<_> = ctx.tokens().into_iter().filter(|t| !t.revoked).collect();
    assert_eq!(live.len(), 1);
    assert!(!live[0].readonly);
    assert!(ctx.token_revoked(&new_id));
    assert_replaced_in_order(&ctx, &new_id, &live[0].id);
    let (_, stored_token) = stored_token(&ctx, "team-a", "regcred");
    assert_eq!(
        stored_token, live[0].token,
        "the secret holds the new token"
    );
    let writes: Vec<_> = ctx
        .sandbox
        .journal()
        .for_service(Service::Registry)
        .into_iter()
        .filter(|e| e.query_param("write") == Some("true"))
        .collect();
    assert_eq!(writes.len(), 1);
}

#[test]
fn unmanaged_secret_is_replaced_only_with_overwrite() {
    let ctx = TestContext::logged_in();
    ctx.kubectl(&[
        "-n",
        "team-a",
        "create",
        "secret",
        "generic",
        "regcred",
        "--from-literal=a=b",
    ])
    .ok();
    ctx.run(&["-n", "team-a", "secret", "create", "regcred"], None)
        .fails_with("--overwrite");
    assert_eq!(ctx.tokens().len(), 0, "nothing minted for a refused write");
    let out = ctx
        .run(
            &["-n", "team-a", "secret", "create", "regcred", "--overwrite"],
            None,
        )
        .ok();
    assert_eq!(out.stdout.trim(), "secret/regcred configured");
    let secret = ctx
        .sandbox
        .world
        .kube
        .get("team-a", "secrets", "regcred")
        .unwrap();
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    assert_eq!(live_tokens(&ctx), 1);
}

#[test]
fn dry_runs_mint_nothing_and_write_nothing() {
    let ctx = TestContext::logged_in();
    ctx.sandbox.journal().clear();
    let client = ctx
        .run(
            &[
                "-n",
                "team-a",
                "secret",
                "create",
                "regcred",
                "--dry-run=client",
                "-o",
                "yaml",
            ],
            None,
        )
        .ok();
    assert!(client.stdout.contains("kind: Secret"), "{}", client.stdout);
    assert!(
        ctx.sandbox.journal().entries().is_empty(),
        "client dry run sends nothing"
    );

    let server = ctx
        .run(
            &[
                "-n",
                "team-a",
                "secret",
                "create",
                "regcred",
                "--dry-run=server",
                "-o",
                "json",
            ],
            None,
        )
        .ok();
    let printed: Value = serde_json::from_str(&server.stdout).unwrap();
    assert_eq!(printed["kind"], "Secret");
    let dry: Vec<_> = ctx
        .sandbox
        .journal()
        .for_service(Service::Kube)
        .into_iter()
        .filter(|e| e.method == "POST")
        .collect();
    assert_eq!(dry.len(), 1);
    assert_eq!(dry[0].query_param("dryRun"), Some("All"));
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("team-a", "secrets", "regcred")
            .is_none()
    );
    assert!(ctx.tokens().is_empty(), "no token minted by a dry run");
    assert!(
        ctx.sandbox
            .journal()
            .for_service(Service::Registry)
            .is_empty(),
        "the registry is not contacted"
    );
    // The placeholder is visible in the printed credential.
    let data = printed["data"][".dockerconfigjson"].as_str().unwrap();
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    assert!(String::from_utf8(decoded).unwrap().contains("dry run"));
    // Pod dry runs too.
    ctx.run(
        &[
            "-n",
            "team-a",
            "pod",
            "apply",
            "--image",
            "demo/hello",
            "--dry-run=server",
            // No pull secret exists here; the pre-flight is `preflight::*`'s subject.
            "--no-check",
        ],
        None,
    )
    .ok();
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("team-a", "pods", "hello")
            .is_none()
    );
}

#[test]
fn service_accounts_get_the_secret_appended_with_conflict_retries() {
    let ctx = TestContext::logged_in();
    ctx.kubectl(&[
        "-n",
        "team-a",
        "patch",
        "serviceaccount",
        "default",
        "--type=merge",
        "-p",
        r#"{"imagePullSecrets":[{"name":"other"}]}"#,
    ])
    .ok();
    // A concurrent writer wins the first update.
    ctx.sandbox.inject(
        Fault::json(
            Service::Kube,
            "PUT",
            "/api/v1/namespaces/team-a/serviceaccounts/default",
            409,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                   "message":"Operation cannot be fulfilled on serviceaccounts \"default\": the object has been modified; please apply your changes to the latest version and try again",
                   "reason":"Conflict","details":{"name":"default","kind":"serviceaccounts"},"code":409}),
        )
        .times(1),
    );
    ctx.run(CREATE_WITH_SA, None).ok();
    let names = ctx.image_pull_secrets("team-a", "default");
    assert_eq!(names, ["other", "regcred"]);
    let puts = ctx
        .sandbox
        .journal()
        .entries()
        .into_iter()
        .filter(|e| e.method == "PUT" && e.path.ends_with("/serviceaccounts/default"))
        .count();
    assert_eq!(puts, 2, "one conflict, one retry");
    // Re-running changes nothing.
    let again = ctx.run(CREATE_WITH_SA, None).ok();
    assert!(
        again.stdout.contains("serviceaccount/default unchanged"),
        "{}",
        again.stdout
    );
    // A missing service account is reported before any token is minted.
    ctx.run(
        &[
            "-n",
            "team-a",
            "secret",
            "create",
            "other2",
            "--service-account",
            "nope",
        ],
        None,
    )
    .fails_with("serviceaccount `nope`");
    assert_eq!(ctx.tokens().len(), 1);
}

#[test]
fn concurrent_writers_lose_no_service_account_entry() {
    let ctx = TestContext::logged_in();
    let children: Vec<_> = (0..3)
        .map(|i| {
            let name = format!("cred-{i}");
            ctx.spawn(&[
                "-n",
                "team-b",
                "secret",
                "create",
                &name,
                "--service-account",
                "default",
            ])
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut names = ctx.image_pull_secrets("team-b", "default");
    names.sort();
    assert_eq!(names, ["cred-0", "cred-1", "cred-2"]);
}

#[test]
fn a_failed_write_revokes_the_new_token() {
    require_keyring();
    let path = "/api/v1/namespaces/team-a/secrets";
    let cases: Vec<(&str, FaultAction, &str)> = vec![
        (
            "rbac",
            FaultAction::Respond {
                status: 403,
                content_type: "application/json".into(),
                body: status_body(403, "Forbidden", "secrets \"regcred\" is forbidden: User \"x\" cannot create resource \"secrets\" in API group \"\" in the namespace \"team-a\"").to_string(),
            },
            "Kubernetes denied create",
        ),
        (
            "server error",
            FaultAction::Respond {
                status: 500,
                content_type: "application/json".into(),
                body: status_body(500, "InternalError", "etcd is sad").to_string(),
            },
            "etcd is sad",
        ),
        (
            "invalid",
            FaultAction::Respond {
                status: 422,
                content_type: "application/json".into(),
                body: status_body(422, "Invalid", "Secret \"regcred\" is invalid: admission webhook said no").to_string(),
            },
            "admission webhook said no",
        ),
        ("dropped connection", FaultAction::Drop, "Kubernetes"),
    ];
    for (what, action, expected) in cases {
        let ctx = TestContext::new();
        ctx.login_alice();
        ctx.sandbox
            .inject(Fault::new(Service::Kube, "POST", path, action));
        let run = ctx
            .run(
                &[
                    "-n",
                    "team-a",
                    "secret",
                    "create",
                    "regcred",
                    "--request-timeout",
                    "5s",
                ],
                None,
            )
            .fails_with(expected);
        let tokens = ctx.tokens();
        assert_eq!(tokens.len(), 1, "{what}: one token minted");
        assert!(
            tokens[0].revoked,
            "{what}: token revoked after the failed write"
        );
        assert!(run.stderr.contains(&tokens[0].id), "{what}: {}", run.stderr);
        assert!(run.stderr.contains("was revoked"), "{what}: {}", run.stderr);
        run.leaks_none(&[&tokens[0].token, seed::ALICE_PASSWORD]);
        let revoke = format!("/api/v1/tokens/{}", tokens[0].id);
        let read_back = (what == "dropped connection" || what == "server error")
            .then_some(("GET", "/api/v1/namespaces/team-a/secrets/regcred"));
        let mut steps = vec![("POST", "/api/v1/tokens"), ("POST", path)];
        steps.extend(read_back);
        steps.push(("DELETE", revoke.as_str()));
        assert_order(&ctx.sandbox, &steps);
    }
}

#[test]
fn a_failed_revocation_names_the_token_to_remove() {
    let ctx = TestContext::logged_in();
    ctx.sandbox.inject(Fault::json(
        Service::Kube,
        "POST",
        "/api/v1/namespaces/team-a/secrets",
        500,
        status_body(500, "InternalError", "boom"),
    ));
    ctx.sandbox.inject(Fault::json(
        Service::Registry,
        "DELETE",
        "/api/v1/tokens/*",
        500,
        json!({"code":"CRG0003E","message":"internal error","request-id":"x"}),
    ));
    let run = ctx
        .run(&["-n", "team-a", "secret", "create", "regcred"], None)
        .fails_with("could NOT be revoked");
    let token = &ctx.tokens()[0];
    assert!(!token.revoked);
    assert!(
        run.stderr.contains(&format!("token revoke {}", token.id)),
        "{}",
        run.stderr
    );
}

#[test]
fn rbac_denials_name_verb_resource_namespace_and_user() {
    let ctx = TestContext::logged_in();
    // sandbox-dev may only use team-a: the read fails before anything is minted.
    let run = ctx
        .run(
            &[
                "--context",
                "sandbox-dev",
                "-n",
                "team-b",
                "secret",
                "create",
                "regcred",
            ],
            None,
        )
        .fails_with("Kubernetes denied get of secret `regcred` in namespace `team-b`");
    assert!(run.stderr.contains("sandbox-dev"), "{}", run.stderr);
    assert!(ctx.tokens().is_empty());
    // It may write secrets in team-a but not service accounts. See: issue 13, point 3: that is
    // found before minting (SelfSubjectAccessReview), so nothing is minted or written, and the
    // error states the cause and the user.
    let run = ctx
        .run(
            &[
                "--context",
                "sandbox-dev",
                "secret",
                "create",
                "regcred",
                "--service-account",
                "default",
            ],
            None,
        )
        .fails_with("Kubernetes denied update of serviceaccount `default` in namespace `team-a`");
    assert!(run.stderr.contains("sandbox-dev"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was minted"), "{}", run.stderr);
    assert!(ctx.tokens().is_empty(), "nothing minted");
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("team-a", "secrets", "regcred")
            .is_none()
    );
    // Without the account it may do the job.
    ctx.run(
        &["--context", "sandbox-dev", "secret", "create", "regcred"],
        None,
    )
    .ok();
}

#[test]
fn all_namespaces_skips_system_and_excluded_ones_and_reports_partial_failures() {
    let ctx = TestContext::logged_in();
    ctx.kubectl(&["create", "namespace", "scratch-1"]).ok();
    let out = ctx
        .run(
            &[
                "secret",
                "create",
                "regcred",
                "-A",
                "--token-per-namespace",
                "--exclude",
                "scratch-*",
            ],
            None,
        )
        .ok();
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "secret/regcred created (namespace default)",
            "secret/regcred created (namespace team-a)",
            "secret/regcred created (namespace team-b)",
        ]
    );
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("kube-system", "secrets", "regcred")
            .is_none()
    );
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("scratch-1", "secrets", "regcred")
            .is_none()
    );
    assert_eq!(live_tokens(&ctx), 3, "one token per namespace");

    // Idempotent across namespaces; a failure in one does not stop the others.
    ctx.sandbox.inject(Fault::json(
        Service::Kube,
        "POST",
        "/api/v1/namespaces/scratch-1/secrets",
        403,
        status_body(
            403,
            "Forbidden",
            "secrets is forbidden: User \"x\" cannot create resource \"secrets\"",
        ),
    ));
    let run = ctx
        .run(
            &[
                "secret",
                "create",
                "regcred",
                "--all-namespaces",
                "--token-per-namespace",
            ],
            None,
        )
        .fails_with("failed in 1 namespace(s): scratch-1");
    assert_eq!(run.stdout.matches("unchanged").count(), 3, "{}", run.stdout);
    assert_eq!(live_tokens(&ctx), 3, "the token for scratch-1 was revoked");
    ctx.run(
        &["secret", "create", "regcred", "-A", "--dry-run=client"],
        None,
    )
    .fails_with("--dry-run=server");
}

#[test]
fn an_expired_access_token_is_refreshed_once_and_the_mint_retried() {
    let ctx = TestContext::logged_in();
    ctx.sandbox.journal().clear();
    ctx.sandbox.inject(
        Fault::json(
            Service::Registry,
            "POST",
            "/api/v1/tokens",
            401,
            json!({"code":"CRG0014E","message":"An error occurred when authenticating your request.","request-id":"r"}),
        )
        .times(1),
    );
    ctx.run(&["-n", "team-a", "secret", "create", "regcred"], None)
        .ok();
    let journal = ctx.sandbox.journal().entries();
    let mints = journal
        .iter()
        .filter(|e| e.method == "POST" && e.path == "/api/v1/tokens")
        .count();
    let refreshes = journal
        .iter()
        .filter(|e| e.form_field("grant_type") == Some("refresh_token"))
        .count();
    assert_eq!((mints, refreshes), (2, 2), "one retry after one refresh");
    assert_eq!(live_tokens(&ctx), 1);
}

/// Waits until the journal shows a `method` request for `path`.
pub fn wait_until_requested(ctx: &TestContext, method: &str, path: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !ctx
        .sandbox
        .journal()
        .entries()
        .iter()
        .any(|e| e.method == method && e.path == path)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{method} {path} was never requested"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Sends SIGINT to `pid`.
pub fn interrupt(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Sends SIGINT to `pid` once the journal shows `path` was requested.
fn interrupt_when_requested(ctx: &TestContext, pid: u32, path: &str) {
    let method = if path.ends_with("/tokens") {
        "POST"
    } else {
        "GET"
    };
    wait_until_requested(ctx, method, path);
    interrupt(pid);
}

#[test]
fn ctrl_c_while_a_token_is_in_flight_never_leaves_it_behind() {
    let ctx = TestContext::logged_in();
    let slow = |path: &str| {
        Fault::new(
            Service::Registry,
            "POST",
            path,
            FaultAction::Delay(std::time::Duration::from_secs(4)),
        )
        .times(1)
    };
    // Interrupted while the mint request is in flight: it completes, then the token is revoked.
    ctx.sandbox.inject(slow("/api/v1/tokens"));
    let child = ctx.spawn(&["-n", "team-a", "secret", "create", "regcred"]);
    interrupt_when_requested(&ctx, child.id(), "/api/v1/tokens");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted by Ctrl-C"), "{stderr}");
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 1);
    assert!(
        tokens[0].revoked,
        "the token minted during the interrupt was revoked"
    );
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("team-a", "secrets", "regcred")
            .is_none()
    );

    // Outside the window Ctrl-C stops at once, with the shell's 130.
    let secret_path = "/api/v1/namespaces/team-a/secrets/other";
    ctx.sandbox.inject(
        Fault::new(
            Service::Kube,
            "GET",
            secret_path,
            FaultAction::Delay(std::time::Duration::from_secs(4)),
        )
        .times(1),
    );
    ctx.sandbox.journal().clear();
    let child = ctx.spawn(&["-n", "team-a", "secret", "create", "other"]);
    interrupt_when_requested(&ctx, child.id(), secret_path);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(ctx.tokens().len(), 1, "nothing minted");
}

#[test]
fn timeouts_and_endless_conflicts_leave_no_live_token() {
    require_keyring();
    // The write hangs past --request-timeout: the secret is read back (absent), then the token
    // is revoked.
    let ctx = TestContext::new();
    ctx.login_alice();
    ctx.sandbox.inject(Fault::new(
        Service::Kube,
        "POST",
        "/api/v1/namespaces/team-a/secrets",
        FaultAction::Delay(std::time::Duration::from_secs(3)),
    ));
    let run = ctx
        .run(
            &[
                "-n",
                "team-a",
                "secret",
                "create",
                "regcred",
                "--request-timeout",
                "1s",
            ],
            None,
        )
        .fails_with("timed out");
    assert!(run.stderr.contains("was revoked"), "{}", run.stderr);
    assert_eq!(ctx.tokens().len(), 1);
    assert_eq!(live_tokens(&ctx), 0);
    // The token was revoked only after the secret was read back and found absent. (Whether
    // an abandoned write can land later is the server's business: see `writes.rs` for a write
    // committed after the client gave up.)
    let steps = assert_order(
        &ctx.sandbox,
        &[
            ("POST", "/api/v1/tokens"),
            ("POST", "/api/v1/namespaces/team-a/secrets"),
            ("GET", "/api/v1/namespaces/team-a/secrets/regcred"),
            ("DELETE", "/api/v1/tokens/*"),
        ],
    );
    assert_eq!(ctx.sandbox.journal().entries()[steps[2]].status, 404);

    // Every write conflicts: the command gives up after its retries, and every token it
    // minted on the way is revoked.
    let ctx = TestContext::new();
    ctx.login_alice();
    ctx.sandbox.inject(Fault::json(
        Service::Kube,
        "POST",
        "/api/v1/namespaces/team-a/secrets",
        409,
        status_body(409, "AlreadyExists", "secrets \"regcred\" already exists"),
    ));
    ctx.run(&["-n", "team-a", "secret", "create", "regcred"], None)
        .fails_with("already exists");
    let creates = ctx
        .sandbox
        .journal()
        .entries()
        .iter()
        .filter(|e| e.method == "POST" && e.path == "/api/v1/namespaces/team-a/secrets")
        .count();
    assert_eq!(creates, 5, "it retried up to its limit");
    // See: issue 9, finding 12. A contended write mints once and reuses the token.
    assert_eq!(ctx.tokens().len(), 1, "one mint for all attempts");
    assert_eq!(live_tokens(&ctx), 0);
}

#[test]
fn output_name_prints_kind_and_name_only() {
    let ctx = TestContext::logged_in();
    let out = ctx
        .run(
            &["-n", "team-a", "secret", "create", "regcred", "-o", "name"],
            None,
        )
        .ok();
    assert_eq!(out.stdout, "secret/regcred\n");
    let out = ctx
        .run(
            &[
                "-n",
                "team-a",
                "pod",
                "apply",
                "--image",
                "demo/hello",
                "--secret",
                "regcred",
                "-o",
                "name",
            ],
            None,
        )
        .ok();
    assert_eq!(out.stdout, "pod/hello\n");
}

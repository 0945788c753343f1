//! `profile list` and `version` (issue 13, point 15): every saved login at a glance, and what
//! talks to what, as kubectl plugins commonly offer.
// See: issue 13, point 15.

use dedicated_sandbox::seed;

use crate::common::TestContext;

/// Point 13 (part) and 14 (part): hints carry the flags in use and suggest close names; a moved
/// CA file names the profile setting, without the cause repeated.
#[test]
fn hints_carry_the_flags_and_suggest_close_names() {
    let ctx = TestContext::logged_in();
    let mut cmd = ctx.command(&["status"]);
    cmd.env("KUBECTL_DEDICATED_REGISTRY_PROFILE", "prod");
    let run = ctx
        .run_with(cmd, None)
        .fails_with("run `kubectl dedicated-registry --profile prod login");
    assert!(run.stderr.contains("saved profiles: "), "{}", run.stderr);
    let run = ctx
        .run(
            &[
                "--context",
                "sandbox-admn",
                "-n",
                "team-a",
                "secret",
                "create",
                "x",
            ],
            None,
        )
        .fails_with("no context `sandbox-admn`; did you mean `--context sandbox-admin`?");
    assert!(ctx.tokens().is_empty(), "{}", run.stderr);

    // A CA file that moved after login: the profile setting is named, the cause said once.
    let ctx = TestContext::new();
    let dir = ctx
        .config_file()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("scratch");
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::copy(ctx.sandbox.ca_file(), &ca).unwrap();
    let mut args = ctx.login_args(&[
        "--username",
        seed::ALICE,
        "--password-stdin",
        "--org",
        seed::DEV_ORG,
    ]);
    let at = args.iter().position(|a| a == "--ca-file").unwrap() + 1;
    args[at] = ca.display().to_string();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ctx.run(&refs, Some(&format!("{}\n", seed::ALICE_PASSWORD)))
        .ok();
    std::fs::remove_file(&ca).unwrap();
    let run = ctx
        .run(&["token", "list"], None)
        .fails_with("the `ca-file` of profile");
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap();
    assert_eq!(
        line.matches("No such file or directory").count(),
        1,
        "the cause once: {line}"
    );
}

/// Point 14 (part): `-v 6` shows one line per request to the environment, as kubectl does
/// (method, URL, status, time), never a credential; below 6, none.
#[test]
fn verbose_6_logs_one_line_per_request() {
    let ctx = TestContext::logged_in();
    let run = ctx.run(&["-v", "6", "token", "list"], None).ok();
    let requests: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.ends_with(" milliseconds"))
        .collect();
    assert!(
        requests
            .iter()
            .any(|l| l.starts_with("POST https://") && l.contains("/oauth/token 200 OK in ")),
        "{}",
        run.stderr
    );
    assert!(
        requests
            .iter()
            .any(|l| l.starts_with("GET https://") && l.contains("/api/v1/tokens 200 OK")),
        "{}",
        run.stderr
    );
    run.leaks_none(&[seed::ALICE_PASSWORD]);
    run.shows_no_jwt();
    let quiet = ctx.run(&["-v", "5", "token", "list"], None).ok();
    assert!(!quiet.stderr.contains(" milliseconds"), "{}", quiet.stderr);
}

/// Issue 13, point 14: `-v 8` (and 9) adds headers and bodies, credentials masked, for the
/// environment's endpoints and the Kubernetes client; the Kubernetes client logs one line per
/// request at `-v 6` like the others. No level shows a password, token or refresh token.
#[test]
fn verbose_8_shows_headers_and_bodies_with_credentials_masked() {
    crate::common::require_keyring();
    let ctx = TestContext::new();
    let login = ctx
        .login(
            &[
                "-v",
                "9",
                "-u",
                seed::ALICE,
                "--password-stdin",
                "--org",
                seed::DEV_ORG,
            ],
            Some(&format!("{}\n", seed::ALICE_PASSWORD)),
        )
        .ok();
    // Positive controls: the bodies and headers are there, their credentials masked.
    assert!(
        login.stderr.contains("Request Headers:"),
        "{}",
        login.stderr
    );
    assert!(
        login.stderr.contains("Response Headers:"),
        "{}",
        login.stderr
    );
    assert!(
        login.stderr.contains("password=<masked>"),
        "{}",
        login.stderr
    );
    assert!(
        login.stderr.contains(r#""refresh_token":"<masked>""#),
        "{}",
        login.stderr
    );
    login.leaks_none(&[seed::ALICE_PASSWORD]);
    login.shows_no_jwt();

    let create = ctx
        .run(
            &["-v", "9", "-n", "team-a", "secret", "create", "regcred"],
            None,
        )
        .ok();
    let (_, token) = crate::common::stored_token(&ctx, "team-a", "regcred");
    assert!(
        create.stderr.contains("authorization: <masked>"),
        "{}",
        create.stderr
    );
    assert!(
        create.stderr.contains(r#""token":"<masked>""#),
        "{}",
        create.stderr
    );
    // The Kubernetes client's requests, one line each.
    let kube_line = regex::Regex::new(
        r"(?m)^POST https://127\.0\.0\.1:\d+/api/v1/namespaces/team-a/secrets\S* 201 Created in \d+ milliseconds$",
    )
    .unwrap();
    assert!(kube_line.is_match(&create.stderr), "{}", create.stderr);
    create.leaks_none(&[&token, seed::ALICE_PASSWORD]);
    create.shows_no_jwt();
    // Below 8, no headers.
    let six = ctx
        .run(
            &["-v", "6", "-n", "team-a", "secret", "verify", "regcred"],
            None,
        )
        .ok();
    assert!(!six.stderr.contains("Headers:"), "{}", six.stderr);
    assert!(
        six.stderr
            .contains("/api/v1/namespaces/team-a/secrets/regcred 200 OK in "),
        "{}",
        six.stderr
    );
    six.leaks_none(&[&token]);
}

/// Issue 13, point 13: close names are suggested for namespaces (from the cluster's list, before
/// anything is minted) and orgs (from the user's orgs).
#[test]
fn close_namespaces_and_orgs_are_suggested() {
    let ctx = TestContext::logged_in();
    let out = ctx
        .run(&["-n", "team-bb", "secret", "create", "regcred"], None)
        .fails_with("namespace `team-bb` does not exist");
    assert!(
        out.stderr.contains("did you mean `-n team-b`?"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("nothing was minted"), "{}", out.stderr);
    assert!(ctx.tokens().is_empty(), "a token was minted");
    // Nothing close: no guess.
    let out = ctx
        .run(&["-n", "production", "secret", "create", "regcred"], None)
        .fails_with("namespace `production` does not exist");
    assert!(!out.stderr.contains("did you mean"), "{}", out.stderr);

    let ctx = TestContext::new();
    let out = ctx
        .login_password(seed::ALICE, seed::ALICE_PASSWORD, "ops-orgg")
        .fails_with("org `ops-orgg` was not found");
    assert!(
        out.stderr.contains("did you mean `--org ops-org`?"),
        "{}",
        out.stderr
    );
    out.leaks_none(&[seed::ALICE_PASSWORD]);
}

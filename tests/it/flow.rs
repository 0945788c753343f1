//! The whole job end to end: login with each grant, secret create, pod apply, and the real
//! kubectl reading back what the plugin wrote.

use dedicated_sandbox::{Service, seed};

use crate::common::{
    TestContext, create_secret_and_pod, kubectl_reference_bytes, passcode, require_keyring,
    stored_refresh_token, token_via_kubectl,
};

#[test]
fn sso_passcode_login_works_once() {
    require_keyring();
    let ctx = TestContext::new();
    let urls = ctx.sandbox.urls().clone();
    let code = passcode(&ctx);
    let run = ctx.login(&["--sso"], Some(&format!("{code}\n"))).ok();
    // The prompt text the login server gives, with its /passcode URL, is shown.
    assert!(
        run.stderr.contains(&format!("{}/passcode", urls.login)),
        "{}",
        run.stderr
    );
    run.leaks_none(&[&code]);
    assert!(run.stderr.contains(seed::CAROL), "{}", run.stderr);
    create_secret_and_pod(&ctx, "team-a", "sso-cred", "demo/hello:v1");
    // The same passcode cannot be used again.
    ctx.login(&["--sso"], Some(&format!("{code}\n")))
        .fails_with("login refused");
}

#[test]
fn api_key_login_from_stdin_and_from_environment() {
    require_keyring();
    let ctx = TestContext::new();
    let urls = ctx.sandbox.urls().clone();
    let ca = ctx.sandbox.ca_file();
    let base = [
        "login",
        "--api",
        &urls.api,
        "--registry",
        &urls.registry_host,
        "--ca-file",
        ca.to_str().unwrap(),
        "--org",
        seed::OPS_ORG,
    ];
    let mut args = base.to_vec();
    args.push("--apikey-stdin");
    ctx.run(&args, Some(seed::ALICE_API_KEY))
        .ok()
        .leaks_none(&[seed::ALICE_API_KEY]);
    let api_key_grants: Vec<_> = ctx
        .sandbox
        .journal()
        .entries()
        .into_iter()
        .filter(|e| e.form_field("username") == Some("apikey"))
        .collect();
    assert_eq!(api_key_grants.len(), 1);
    create_secret_and_pod(&ctx, "team-a", "ops-cred", "ops/tools:1.0");
    assert_eq!(ctx.tokens()[0].org, seed::OPS_ORG_GUID);

    // Non-interactive, when asked with --apikey-env: the key comes from IBMCLOUD_API_KEY on
    // every run and is never stored. (Issue 8: the variable is no longer picked up silently.)
    let mut env_login = base.to_vec();
    env_login.push("--apikey-env");
    let mut cmd = ctx.command(&env_login);
    cmd.env("IBMCLOUD_API_KEY", seed::ALICE_API_KEY);
    let run = ctx.run_with(cmd, None).ok();
    assert!(run.stderr.contains("IBMCLOUD_API_KEY"), "{}", run.stderr);
    let config = std::fs::read_to_string(ctx.config_file()).unwrap();
    assert!(config.contains("credential: environment"), "{config}");
    assert!(!config.contains(seed::ALICE_API_KEY));
    let mut cmd = ctx.command(&["-n", "team-b", "secret", "create", "env-cred"]);
    cmd.env("IBMCLOUD_API_KEY", seed::ALICE_API_KEY);
    ctx.run_with(cmd, None).ok();
    let (bytes, token) = token_via_kubectl(&ctx, "team-b", "env-cred");
    assert_eq!(bytes, kubectl_reference_bytes(&ctx, &token, None));
    let mut cmd = ctx.command(&[
        "-n",
        "team-b",
        "pod",
        "apply",
        "--image",
        "ops/tools:1.0",
        "--secret",
        "env-cred",
    ]);
    cmd.env("IBMCLOUD_API_KEY", seed::ALICE_API_KEY);
    assert_eq!(
        ctx.run_with(cmd, None).ok().stdout.trim(),
        "pod/tools created"
    );
    // Without the variable the profile cannot authenticate, and says why.
    ctx.run(&["secret", "create", "env-cred-2"], None)
        .fails_with("IBMCLOUD_API_KEY");
}

#[test]
fn status_and_logout() {
    let ctx = TestContext::logged_in();
    let login_path = format!("{}/oauth/token", dedicated_sandbox::LOGIN_PATH);
    // Every run rotates the refresh token, so the leak check looks for the token the run used
    // (read before it) and the one it stored (read after it), with a positive control that the
    // used one really went to the login server.
    for args in [
        &["--context", "sandbox-dev", "status"][..],
        &["-v", "9", "status"][..],
    ] {
        let used = stored_refresh_token(&ctx);
        assert!(!used.is_empty(), "the keyring holds the refresh token");
        ctx.sandbox.journal().clear();
        let status = ctx.run(args, None).ok();
        let stored = stored_refresh_token(&ctx);
        assert_ne!(used, stored, "the refresh token was rotated and stored");
        status.leaks_none(&[&used, &stored]);
        status.shows_no_jwt();
        crate::common::assert_sent_only_to(
            &ctx.sandbox,
            &used,
            |(service, _, _)| *service == Service::Login,
            &[(Service::Login, "POST", &login_path)],
        );
        assert!(
            status.stdout.contains(seed::DEV_ORG_GUID),
            "{}",
            status.stdout
        );
        assert!(
            status
                .stdout
                .contains("Login:        valid (refreshed just now)"),
            "{}",
            status.stdout
        );
        // The rotated one is stored and keeps working: only it is live.
        assert_eq!(ctx.sandbox.world.uaa.live_refresh_tokens(seed::ALICE), 1);
        if args[0] == "--context" {
            assert!(
                status.stdout.contains("namespace `team-a`"),
                "{}",
                status.stdout
            );
        }
    }

    // An unusable login: status still prints what it knows, says why, and exits 1. (The login
    // server echoes the dead refresh token in its error; it must not reach the output.)
    let dead = stored_refresh_token(&ctx);
    ctx.sandbox.world.uaa.revoke_refresh_tokens(seed::ALICE);
    let broken = ctx
        .run(&["status"], None)
        .fails_with("cannot be refreshed; run `kubectl dedicated-registry login` again");
    assert!(
        broken.stdout.contains("Login:        NOT usable"),
        "{}",
        broken.stdout
    );
    broken.shows_no_jwt();
    broken.leaks_none(&[&dead]);
    ctx.login_alice();

    ctx.run(&["logout"], None).ok();
    assert!(
        stored_refresh_token(&ctx).is_empty(),
        "logout removes the keyring entry"
    );
    ctx.run(&["status"], None).fails_with("not logged in");
    ctx.run(&["secret", "create", "x"], None)
        .fails_with("login");
}

#[test]
fn org_can_be_given_by_guid() {
    require_keyring();
    let ctx = TestContext::new();
    let urls = ctx.sandbox.urls().clone();
    let ca = ctx.sandbox.ca_file();
    let login = |user: &str, password: &str, extra: &[&str]| {
        let mut args = vec![
            "login",
            "--api",
            &urls.api,
            "--registry",
            &urls.registry_host,
            "--username",
            user,
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        ctx.run(&args, Some(password))
    };
    let ca_flag = ["--ca-file", ca.to_str().unwrap()];
    let mut with_guid = ca_flag.to_vec();
    with_guid.extend(["--org-guid", seed::OPS_ORG_GUID]);
    let out = login(seed::ALICE, seed::ALICE_PASSWORD, &with_guid).ok();
    assert!(out.stderr.contains("org ops-org"), "{}", out.stderr);
    let mut unknown = ca_flag.to_vec();
    unknown.extend(["--org-guid", "00000000-0000-0000-0000-000000000000"]);
    login(seed::ALICE, seed::ALICE_PASSWORD, &unknown).fails_with("org GUID");
    let mut foreign = ca_flag.to_vec();
    foreign.extend(["--org-guid", seed::DEV_ORG_GUID]);
    login(seed::MALLORY, seed::MALLORY_PASSWORD, &foreign).fails_with("org GUID");
}

#[test]
fn insecure_tls_is_an_explicit_loud_choice() {
    require_keyring();
    let ctx = TestContext::new();
    let urls = ctx.sandbox.urls().clone();
    let login = |user: &str, password: &str, extra: &[&str]| {
        let mut args = vec![
            "login",
            "--api",
            &urls.api,
            "--registry",
            &urls.registry_host,
            "--username",
            user,
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        ctx.run(&args, Some(password))
    };
    // Without the CA the login is refused; with --insecure-skip-tls-verify it works, is
    // remembered, and every run says loudly that it is insecure.
    login(seed::BOB, seed::BOB_PASSWORD, &[]).fails_with("--ca-file");
    let out = login(
        seed::BOB,
        seed::BOB_PASSWORD,
        &["--insecure-skip-tls-verify"],
    )
    .ok();
    assert!(
        out.stderr.contains("verification is disabled"),
        "{}",
        out.stderr
    );
    let config = std::fs::read_to_string(ctx.config_file()).unwrap();
    assert!(
        config.contains("insecure-skip-tls-verify: true"),
        "{config}"
    );
    let out = ctx.run(&["secret", "create", "insecure"], None).ok();
    assert!(
        out.stderr.contains("verification is disabled"),
        "{}",
        out.stderr
    );
}

#[test]
fn newer_cloud_controllers_without_v2_are_understood() {
    require_keyring();
    let ctx = TestContext::new();
    for path in ["/v2/info", "/v2/organizations"] {
        ctx.sandbox.inject(dedicated_sandbox::Fault::new(
            Service::CloudController,
            "GET",
            path,
            dedicated_sandbox::FaultAction::Respond {
                status: 404,
                content_type: "text/plain".into(),
                body: "404 Not Found".into(),
            },
        ));
    }
    ctx.login_alice();
    let cc: Vec<String> = ctx
        .sandbox
        .journal()
        .for_service(Service::CloudController)
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert!(cc.contains(&"/".to_string()), "{cc:?}");
    assert!(cc.contains(&"/v3/organizations".to_string()), "{cc:?}");
    let config = std::fs::read_to_string(ctx.config_file()).unwrap();
    assert!(config.contains(seed::DEV_ORG_GUID), "{config}");
    assert!(config.contains(dedicated_sandbox::LOGIN_PATH), "{config}");
}

/// Every grant at `-v 9`: the credential it sends, the refresh token it stores and the one it
/// uses are in no output, in any form; each is found where it must be (positive control).
#[test]
fn every_login_grant_at_v9_keeps_its_secrets_out_of_the_output() {
    require_keyring();
    let login_path = format!("{}/oauth/token", dedicated_sandbox::LOGIN_PATH);
    let to_login_only = |ctx: &TestContext, secret: &str| {
        crate::common::assert_sent_only_to(
            &ctx.sandbox,
            secret,
            |(service, _, _)| *service == Service::Login,
            &[(Service::Login, "POST", &login_path)],
        );
    };
    let check = |ctx: &TestContext, run: &crate::common::Run, secrets: &[&str]| {
        run.leaks_none(secrets);
        run.shows_no_jwt();
        // -v took effect: the detail of the grant is there.
        assert!(
            run.stderr.contains("Authenticating at ")
                || run.stderr.contains("Refreshing the login for "),
            "{}",
            run.stderr
        );
        let config = std::fs::read_to_string(ctx.config_file()).unwrap();
        for s in secrets {
            assert!(
                !dedicated_sandbox::holds_secret(config.as_bytes(), s),
                "secret in the settings file: {config}"
            );
        }
    };

    // Password grant.
    let ctx = TestContext::new();
    let run = ctx
        .login(
            &[
                "-v",
                "9",
                "--username",
                seed::ALICE,
                "--password-stdin",
                "--org",
                seed::DEV_ORG,
            ],
            Some(&format!("{}\n", seed::ALICE_PASSWORD)),
        )
        .ok();
    let stored = stored_refresh_token(&ctx);
    check(&ctx, &run, &[seed::ALICE_PASSWORD, &stored]);
    to_login_only(&ctx, seed::ALICE_PASSWORD);

    // Refresh grant (secret create), with the registry token it mints.
    let used = stored;
    let run = ctx
        .run(
            &["-v", "9", "-n", "team-a", "secret", "create", "regcred"],
            None,
        )
        .ok();
    let stored = stored_refresh_token(&ctx);
    let token = ctx.tokens()[0].token.clone();
    check(&ctx, &run, &[&used, &stored, &token]);
    to_login_only(&ctx, &used);

    // SSO passcode grant.
    let ctx = TestContext::new();
    let code = passcode(&ctx);
    let run = ctx
        .login(&["-v", "9", "--sso"], Some(&format!("{code}\n")))
        .ok();
    let stored = stored_refresh_token(&ctx);
    check(&ctx, &run, &[&code, &stored]);
    to_login_only(&ctx, &code);

    // API key grant, from stdin.
    let ctx = TestContext::new();
    let run = ctx
        .login(
            &["-v", "9", "--apikey-stdin", "--org", seed::DEV_ORG],
            Some(seed::ALICE_API_KEY),
        )
        .ok();
    let stored = stored_refresh_token(&ctx);
    check(&ctx, &run, &[seed::ALICE_API_KEY, &stored]);
    to_login_only(&ctx, seed::ALICE_API_KEY);

    // API key grant from the environment, on every run.
    let ctx = TestContext::new();
    let args = ctx.login_args(&["-v", "9", "--apikey-env", "--org", seed::DEV_ORG]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = ctx.command(&refs);
    cmd.env("IBMCLOUD_API_KEY", seed::ALICE_API_KEY);
    let run = ctx.run_with(cmd, None).ok();
    check(&ctx, &run, &[seed::ALICE_API_KEY]);
    let mut cmd = ctx.command(&["-v", "9", "-n", "team-a", "secret", "create", "regcred"]);
    cmd.env("IBMCLOUD_API_KEY", seed::ALICE_API_KEY);
    let run = ctx.run_with(cmd, None).ok();
    let token = ctx.tokens()[0].token.clone();
    check(&ctx, &run, &[seed::ALICE_API_KEY, &token]);
    to_login_only(&ctx, seed::ALICE_API_KEY);
    assert!(
        stored_refresh_token(&ctx).is_empty(),
        "nothing is stored in the keyring for an environment credential"
    );
}

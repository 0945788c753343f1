//! The whole job end to end: login with each grant, secret create, pod apply, and the real
//! kubectl reading back what the plugin wrote.

use dedicated_sandbox::{Service, seed};

use crate::common::{TestContext, passcode, require_keyring, stored_refresh_token};

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

//! `login` with every grant and route (password, SSO passcode, API key from stdin or from the
//! environment, through IAM), its org and TLS flags, URL flags checked; `status` and `logout`;
//! profiles (`--profile`, `profile list`, a moved settings file); and the session: the rotated
//! refresh token stored, concurrent runs and logins taking turns, the access token refreshed
//! once when the registry refuses it.
//! The `finding_NN_*` tests are regressions of the hardening review (issue 9), each failed on
//! the code before its fix.
// See: issue 8; issue 9, findings 5 to 7; issue 13, points 5, 6 and 15.

use std::time::Duration;

use dedicated_sandbox::Variant::{ApikeyIamOnly, IamExchangeOnly, LoginHtml, OrgCase};
use dedicated_sandbox::{Fault, FaultAction, Service, seed};
use serde_json::json;

use crate::common::{
    TestContext, create_secret_and_pod, kubectl_reference_bytes, live_tokens, passcode,
    require_keyring, scratch_dir, stored_refresh_token, stored_token, token_via_kubectl, warnings,
};
use crate::main_job::Login::ApiKeyEnv;
use crate::main_job::{KEY_VAR, run};

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

/// Issue 13, point 5 (part): a pasted passcode with blanks around it works, and a refused passcode
/// gets a hint for passcodes, not "log in with --sso" (which was given).
#[test]
fn pasted_passcodes_are_trimmed_and_hints_fit_the_route() {
    crate::common::require_keyring();
    let ctx = TestContext::new();
    let code = crate::common::passcode(&ctx);
    ctx.login(&["--sso"], Some(&format!("  {code} \n"))).ok();
    let run = ctx
        .login(&["--sso"], Some(&format!("{code}\n")))
        .fails_with("get a new one-time passcode");
    assert!(
        !run.stderr.contains("log in with `--sso`"),
        "{}",
        run.stderr
    );
    let run = ctx
        .login_password(seed::ALICE, "wrong-password", seed::DEV_ORG)
        .fails_with("check the user name and password");
    assert!(run.stderr.contains("--sso"), "{}", run.stderr);
}

#[test]
fn sso_without_login_prompts_uses_the_default_prompt() {
    require_keyring();
    let ctx = TestContext::with_variants(&[LoginHtml]);
    let code = passcode(&ctx);
    let out = ctx
        .login(
            &["--sso", "--org", seed::DEV_ORG],
            Some(&format!("{code}\n")),
        )
        .ok();
    let warned = warnings(&out);
    assert_eq!(warned.len(), 1, "{}", out.stderr);
    assert!(warned[0].contains("no passcode prompt"), "{}", warned[0]);
    let passcode_url = format!("{}/passcode", ctx.sandbox.urls().login);
    assert!(
        out.stderr
            .contains(&format!("One Time Code (Get one at {passcode_url})")),
        "{}",
        out.stderr
    );
    out.leaks_none(&[&code]);
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

/// "`--apikey-env [NAME]` (IBM's `IBMCLOUD_API_KEY` by default; the older `BLUEMIX_API_KEY` works
/// when named)".
#[test]
fn bluemix_api_key_works_like_ibmcloud_api_key() {
    require_keyring();
    let ctx = TestContext::new();
    let mut cmd = ctx.login_command(&["--apikey-env", "BLUEMIX_API_KEY", "--org", seed::DEV_ORG]);
    cmd.env("BLUEMIX_API_KEY", seed::ALICE_API_KEY);
    let run = ctx.run_with(cmd, None).ok();
    run.leaks_none(&[seed::ALICE_API_KEY]);
    let config = std::fs::read_to_string(ctx.config_file()).unwrap();
    assert!(config.contains("credential: environment"), "{config}");
    assert!(!config.contains(seed::ALICE_API_KEY));
    let mut cmd = ctx.command(&["-n", "team-a", "secret", "create", "regcred"]);
    cmd.env("BLUEMIX_API_KEY", seed::ALICE_API_KEY);
    assert_eq!(
        ctx.run_with(cmd, None).ok().stdout.trim(),
        "secret/regcred created"
    );
    // The key went to the login server as the API key grant, on both runs.
    let grants = ctx
        .sandbox
        .journal()
        .entries()
        .into_iter()
        .filter(|e| e.form_field("username") == Some("apikey"))
        .count();
    assert_eq!(grants, 2);
    crate::common::assert_sent_only_to_login(&ctx.sandbox, seed::ALICE_API_KEY);
}

#[test]
fn api_key_in_the_environment_is_used_only_when_asked() {
    require_keyring();
    let ctx = TestContext::new();
    // IBMCLOUD_API_KEY set, no --apikey-env: not used (no terminal to ask for a user name).
    let mut cmd = ctx.login_command(&["--org", seed::DEV_ORG]);
    cmd.env("IBMCLOUD_API_KEY", seed::ALICE_API_KEY);
    let out = ctx.run_with(cmd, None).fails_with("no terminal");
    assert!(out.stderr.contains("pass --apikey-env"), "{}", out.stderr);
    assert!(
        ctx.sandbox
            .journal()
            .containing(seed::ALICE_API_KEY)
            .is_empty()
    );
    // Asked for, from another variable: an environment profile naming that variable.
    let args = ctx.login_args(&["--org", seed::DEV_ORG, "--apikey-env", KEY_VAR]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ctx.run(&refs, None).fails_with("CI_KEY is not set");
    let out = run(&ctx, ApiKeyEnv, &refs).ok();
    out.leaks_none(&[seed::ALICE_API_KEY]);
    let config = std::fs::read_to_string(ctx.config_file()).unwrap();
    assert!(
        config.contains("credential: environment") && config.contains("api-key-env: CI_KEY"),
        "{config}"
    );
    assert!(!config.contains(seed::ALICE_API_KEY));
    run(
        &ctx,
        ApiKeyEnv,
        &["-n", "team-a", "secret", "create", "env-cred"],
    )
    .ok();
    ctx.run(&["-n", "team-a", "secret", "create", "env-cred-2"], None)
        .fails_with("CI_KEY, which is not set");
}

/// Every output of the IAM route, and the settings file, searched for the API key and the
/// IAM token; only the UAA refresh token is in the keyring.
#[test]
fn api_key_through_iam_exchange_is_journaled_and_never_stored() {
    require_keyring();
    let ctx = TestContext::with_variants(&[ApikeyIamOnly, IamExchangeOnly]);
    let iam = ctx.sandbox.urls().iam.clone();
    let login = ctx
        .login(
            &[
                "--apikey-stdin",
                "--iam-url",
                &iam,
                "--org",
                seed::DEV_ORG,
                "-v",
                "9",
            ],
            Some(seed::ALICE_API_KEY),
        )
        .ok();
    assert!(
        login.stderr.contains("trying IBM Cloud IAM"),
        "{}",
        login.stderr
    );
    let journal = ctx.sandbox.journal().entries();
    let token_requests: Vec<_> = journal
        .iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("/token"))
        .collect();
    // 1. the UAA refuses username=apikey, 2. IAM, 3. the exchange at the UAA.
    assert_eq!(token_requests.len(), 3, "{token_requests:#?}");
    let (uaa_apikey, iam_request, exchange) =
        (token_requests[0], token_requests[1], token_requests[2]);
    assert_eq!(uaa_apikey.form_field("username"), Some("apikey"));
    assert_eq!(uaa_apikey.status, 401);
    assert_eq!(iam_request.service, Service::Iam);
    assert_eq!(iam_request.path, "/identity/token");
    let basic_bx = format!("Basic bx: {}", dedicated_sandbox::fingerprint("bx"));
    assert_eq!(iam_request.header("authorization"), Some(basic_bx.as_str()));
    assert_eq!(
        iam_request.form_field("grant_type"),
        Some("urn:ibm:params:oauth:grant-type:apikey")
    );
    assert_eq!(
        iam_request.form_field("apikey"),
        Some(dedicated_sandbox::fingerprint(seed::ALICE_API_KEY).as_str())
    );
    assert_eq!(
        iam_request.form_field("response_type"),
        Some("cloud_iam,uaa")
    );
    assert_eq!(iam_request.form_field("uaa_client_id"), Some("cf"));
    assert_eq!(iam_request.form_field("uaa_client_secret"), Some(""));
    assert_eq!(iam_request.status, 200);
    assert_eq!(exchange.service, Service::Uaa);
    assert_eq!(exchange.path, "/oauth/token");
    assert_eq!(exchange.header("authorization"), Some("Basic cf: (empty)"));
    assert_eq!(exchange.form_field("grant_type"), Some("iam_token"));
    assert_eq!(exchange.form_field("response_type"), Some("uaa"));
    assert_eq!(exchange.form_field("scope"), Some(""));
    let iam_tokens = ctx.sandbox.world.uaa.iam_tokens();
    assert_eq!(iam_tokens.len(), 1);
    assert_eq!(
        exchange.form_field("iam_token"),
        Some(dedicated_sandbox::fingerprint(&iam_tokens[0]).as_str())
    );
    assert_eq!(exchange.status, 200);

    // The job works with the refresh token the exchange gave, at every -v level.
    let create = ctx
        .run(
            &["-v", "9", "-n", "team-a", "secret", "create", "regcred"],
            None,
        )
        .ok();
    let status = ctx.run(&["-v", "9", "status"], None).ok();
    let secrets = [seed::ALICE_API_KEY, iam_tokens[0].as_str()];
    for out in [&login, &create, &status] {
        out.leaks_none(&secrets);
    }
    let config = std::fs::read_to_string(ctx.config_file()).unwrap();
    for secret in secrets {
        assert!(
            !config.contains(secret),
            "settings file holds a secret:\n{config}"
        );
    }
    assert!(config.contains("api-key-route: iam"), "{config}");
    assert!(config.contains(&format!("iam-url: {iam}")), "{config}");
    // The keyring holds the UAA refresh token, nothing else.
    let account = format!("{}@{}", ctx.profile, ctx.sandbox.urls().api);
    let stored = std::process::Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            "kubectl-dedicated-registry",
            "username",
            &account,
        ])
        .output()
        .expect("secret-tool is installed by .ci/install-deps");
    let stored = String::from_utf8(stored.stdout).unwrap();
    let claims = jwt_claims(stored.trim());
    assert_eq!(claims["token_kind"], "refresh", "{claims}");
    assert_eq!(claims["user_name"], seed::ALICE);
    assert!(
        ctx.sandbox
            .journal()
            .containing(seed::ALICE_API_KEY)
            .iter()
            .all(|e| { e.service == Service::Iam || e.form_field("username") == Some("apikey") })
    );
}

/// The claims of a JWT (no signature check).
fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// IAM returns the UAA pair itself (`response_type=cloud_iam,uaa`): no exchange needed.
#[test]
fn api_key_through_iam_uses_its_uaa_tokens_and_auth_flag_forces_a_route() {
    require_keyring();
    let ctx = TestContext::with_variants(&[ApikeyIamOnly]);
    let iam = ctx.sandbox.urls().iam.clone();
    ctx.login(
        &["--apikey-stdin", "--iam-url", &iam, "--org", seed::DEV_ORG],
        Some(seed::ALICE_API_KEY),
    )
    .ok();
    let grants: Vec<String> = ctx
        .sandbox
        .journal()
        .entries()
        .iter()
        .filter_map(|e| e.form_field("grant_type").map(str::to_string))
        .collect();
    assert_eq!(
        grants,
        ["password", "urn:ibm:params:oauth:grant-type:apikey"]
    );
    // --auth=iam skips the UAA attempt; --auth=uaa does not try IAM.
    let before = ctx.sandbox.journal().entries().len();
    ctx.login(
        &["--apikey-stdin", "--auth", "iam", "--org", seed::DEV_ORG],
        Some(seed::ALICE_API_KEY),
    )
    .ok();
    let later = &ctx.sandbox.journal().entries()[before..];
    assert!(
        later
            .iter()
            .all(|e| e.form_field("username") != Some("apikey"))
    );
    assert!(
        later.iter().any(|e| e.service == Service::Iam),
        "--iam-url was remembered"
    );
    ctx.login(
        &["--apikey-stdin", "--auth", "uaa", "--org", seed::DEV_ORG],
        Some(seed::ALICE_API_KEY),
    )
    .fails_with("Bad credentials");
    // A wrong key is IAM's refusal, with its code's description.
    ctx.login(
        &["--apikey-stdin", "--org", seed::DEV_ORG],
        Some("not-a-key"),
    )
    .fails_with("Provided API key could not be found");
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
fn org_names_match_without_case_when_one_matches() {
    require_keyring();
    let ctx = TestContext::with_variants(&[OrgCase]);
    let out = ctx
        .login_password(seed::ALICE, seed::ALICE_PASSWORD, "dev-org")
        .ok();
    assert!(out.stderr.contains("Using org `DEV-ORG`"), "{}", out.stderr);
    let config = std::fs::read_to_string(ctx.config_file()).unwrap();
    assert!(config.contains(seed::DEV_ORG_GUID), "{config}");
    ctx.login_password(seed::ALICE, seed::ALICE_PASSWORD, "qa-org")
        .fails_with("org `qa-org` was not found");
}

/// Issue 13, point 6 (part): `login --org` on an existing login switches the org with the stored
/// refresh token: nothing is asked again, no password is sent.
#[test]
fn login_with_another_org_uses_the_stored_login() {
    let ctx = TestContext::logged_in();
    ctx.sandbox.journal().clear();
    let run = ctx.run(&["login", "--org", seed::OPS_ORG], None).ok();
    assert!(run.stderr.contains("Switched profile"), "{}", run.stderr);
    let grants: Vec<String> = ctx
        .sandbox
        .journal()
        .entries()
        .iter()
        .filter_map(|e| e.form_field("grant_type").map(str::to_string))
        .collect();
    assert_eq!(grants, ["refresh_token"], "only the stored login was used");
    let status = ctx.run(&["status"], None).ok();
    assert!(
        status.stdout.contains(seed::OPS_ORG_GUID),
        "{}",
        status.stdout
    );
    // A new login with a credential is still a full login, and says what it is for.
    let run = ctx.login_password(seed::ALICE, seed::ALICE_PASSWORD, seed::DEV_ORG);
    assert!(run.stderr.contains("Logging in to "), "{}", run.stderr);
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

/// Issue 9, finding 5: a password inside `--api` is refused, never printed or stored.
#[test]
fn finding_05_credentials_in_url_flags_are_refused() {
    let ctx = TestContext::new();
    let api = ctx
        .sandbox
        .urls()
        .api
        .replacen("https://", "https://alice:hunter2-secret@", 1);
    let run = ctx
        .run(
            &[
                "login",
                "--api",
                &api,
                "--password-stdin",
                "--username",
                "a",
            ],
            Some("pw\n"),
        )
        .fails_with("must not contain a user name or password");
    run.leaks_none(&["hunter2-secret"]);
    assert!(!ctx.config_file().exists(), "nothing stored");
    assert!(ctx.sandbox.journal().entries().is_empty(), "nothing sent");
    for (flag, value) in [
        ("--api", format!("{}/?x=1", ctx.sandbox.urls().api)),
        ("--registry", "registry.example?x=1".to_string()),
        ("--registry", "alice:pw@registry.example".to_string()),
    ] {
        ctx.run(&["login", flag, &value], None)
            .fails_with("invalid");
    }
}

/// "no redirect is followed".
#[test]
fn redirects_are_not_followed_with_credentials() {
    require_keyring();
    let ctx = TestContext::new();
    // The login server answers the password grant with a redirect elsewhere (here: the
    // Kubernetes server): following it would send the password there.
    let target = format!("{}/oauth/token", ctx.sandbox.urls().kube);
    ctx.sandbox.inject(Fault::new(
        Service::Login,
        "POST",
        &format!("{}/oauth/token", dedicated_sandbox::LOGIN_PATH),
        FaultAction::Redirect {
            status: 307,
            location: target,
        },
    ));
    let run = ctx.login(
        &[
            "--username",
            seed::ALICE,
            "--password-stdin",
            "--org",
            seed::DEV_ORG,
        ],
        Some(seed::ALICE_PASSWORD),
    );
    let journal = crate::common::journal_lines(&ctx.sandbox);
    assert!(
        ctx.sandbox.journal().for_service(Service::Kube).is_empty(),
        "the redirect was followed:\n{journal}"
    );
    assert_eq!(run.code, 1, "{run:?}\n{journal}");
    let run = run.fails_with("307");
    run.leaks_none(&[seed::ALICE_PASSWORD]);
    // Positive control: the password was sent, once, to where it was asked for.
    let places = crate::common::sent_to(&ctx.sandbox, seed::ALICE_PASSWORD);
    assert_eq!(places.len(), 1, "{places:?}\n{journal}");
    assert_eq!(places[0].0, Service::Login);

    // Redirected discovery documents are not followed either (`/v2/info`, then the root
    // document newer Cloud Controllers serve).
    let ctx = TestContext::new();
    for path in ["/v2/info", "/"] {
        ctx.sandbox.inject(Fault::new(
            Service::CloudController,
            "GET",
            path,
            FaultAction::Redirect {
                status: 302,
                location: format!("{}{path}", ctx.sandbox.urls().kube),
            },
        ));
    }
    let run = ctx.login(
        &[
            "--username",
            seed::ALICE,
            "--password-stdin",
            "--org",
            seed::DEV_ORG,
        ],
        Some(seed::ALICE_PASSWORD),
    );
    let journal = crate::common::journal_lines(&ctx.sandbox);
    assert!(
        ctx.sandbox.journal().for_service(Service::Kube).is_empty(),
        "the redirect was followed:\n{journal}"
    );
    assert_eq!(run.code, 1, "{run:?}\n{journal}");
    run.fails_with("302");
    assert!(
        ctx.sandbox
            .journal()
            .containing(seed::ALICE_PASSWORD)
            .is_empty()
    );
}

#[test]
fn status_and_logout() {
    let ctx = TestContext::logged_in();
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
        crate::common::assert_sent_only_to_login(&ctx.sandbox, &used);
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
    // The hint carries the profile in use (issue 24, friction 3: it used to omit it).
    let broken = ctx.run(&["status"], None).fails_with(&format!(
        "cannot be refreshed; run `kubectl dedicated-registry --profile {} login` again",
        ctx.profile
    ));
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

/// "`--profile NAME` (or `KUBECTL_DEDICATED_REGISTRY_PROFILE`) keeps several environments apart".
#[test]
fn profiles_keep_environments_apart() {
    let ctx = TestContext::logged_in();
    let other = TestContext::new();
    let urls = other.sandbox.urls().clone();
    let ca = other.sandbox.ca_file().display().to_string();
    let profile = format!("{}-other", ctx.profile);
    // Same HOME and settings file, a second environment under another profile.
    ctx.run(
        &[
            "--profile",
            &profile,
            "login",
            "--api",
            &urls.api,
            "--registry",
            &urls.registry_host,
            "--ca-file",
            &ca,
            "--username",
            seed::BOB,
            "--password-stdin",
        ],
        Some(seed::BOB_PASSWORD),
    )
    .ok();
    ctx.create_secret("team-a", "first");
    ctx.run(
        &[
            "--profile",
            &profile,
            "-n",
            "team-a",
            "secret",
            "create",
            "second",
        ],
        None,
    )
    .ok();
    // Each secret holds a token of its own environment's registry, minted there only.
    assert_eq!(ctx.tokens().len(), 1);
    assert_eq!(other.tokens().len(), 1);
    assert_eq!(stored_token(&ctx, "team-a", "first").0, ctx.tokens()[0].id);
    assert_eq!(
        stored_token(&ctx, "team-a", "second").0,
        other.tokens()[0].id
    );
    let second = ctx
        .sandbox
        .world
        .kube
        .get("team-a", "secrets", "second")
        .unwrap();
    assert_eq!(
        second["metadata"]["annotations"]["kubectl-dedicated-registry/registry"],
        urls.registry_host.as_str()
    );
    // Each status shows its own environment; the default profile's login is untouched.
    let mine = ctx.run(&["status"], None).ok();
    assert!(mine.stdout.contains(seed::ALICE), "{}", mine.stdout);
    let theirs = ctx.run(&["--profile", &profile, "status"], None).ok();
    assert!(theirs.stdout.contains(seed::BOB), "{}", theirs.stdout);
    assert!(theirs.stdout.contains(&urls.api), "{}", theirs.stdout);
    ctx.run(&["--profile", &profile, "logout"], None).ok();
    ctx.run(&["status"], None).ok();
}

#[test]
fn profile_list_shows_every_saved_login_and_marks_the_current_one() {
    let ctx = TestContext::logged_in();
    let mut other = ctx.command(
        &ctx.login_args(&[
            "--username",
            seed::BOB,
            "--password-stdin",
            "--org",
            seed::DEV_ORG,
        ])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    other.env("KUBECTL_DEDICATED_REGISTRY_PROFILE", "second");
    ctx.run_with(other, Some(&format!("{}\n", seed::BOB_PASSWORD)))
        .ok();
    let run = ctx.run(&["profile", "list"], None).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert!(
        lines[0].starts_with("CURRENT   NAME") && lines[0].ends_with("CREDENTIAL"),
        "{}",
        run.stdout
    );
    let current: Vec<&&str> = lines.iter().filter(|l| l.starts_with('*')).collect();
    assert_eq!(current.len(), 1, "{}", run.stdout);
    assert!(current[0].contains(seed::ALICE), "{}", run.stdout);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("second") && l.contains(seed::BOB)),
        "{}",
        run.stdout
    );
    // Columns line up: every row's NAME starts where the header's does.
    let name_at = lines[0].find("NAME").unwrap();
    for line in &lines[1..] {
        assert!(!line[name_at..].starts_with(' '), "{}", run.stdout);
        assert!(line[..name_at].trim().len() <= 1, "{}", run.stdout);
    }
    run.leaks_none(&[seed::ALICE_PASSWORD, seed::BOB_PASSWORD]);
    let json = ctx.run(&["profile", "list", "-o", "json"], None).ok();
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let items = value.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .any(|p| p["name"] == "second" && p["current"] == false)
    );
    assert!(items.iter().all(|p| p["credential"] == "keyring"));
    let names = ctx.run(&["profile", "list", "-o", "name"], None).ok();
    assert!(
        names.stdout.lines().any(|l| l == "profile/second"),
        "{}",
        names.stdout
    );
}

/// Issue 24, friction 2: logging in again to the same environment, password piped, without
/// --username or --org, keeps the saved user name and org (alice is in two orgs, so choosing
/// again would fail without a terminal); --org still switches.
#[test]
fn a_re_login_keeps_the_saved_user_and_org() {
    let ctx = TestContext::new();
    require_keyring();
    ctx.login_password(seed::ALICE, seed::ALICE_PASSWORD, seed::OPS_ORG)
        .ok();
    let again = ctx
        .login(
            &["--password-stdin"],
            Some(&format!("{}\n", seed::ALICE_PASSWORD)),
        )
        .ok();
    assert!(
        again
            .stderr
            .contains("Using the saved user name `alice@example.com`"),
        "{}",
        again.stderr
    );
    assert!(
        again.stderr.contains("Keeping the saved org `ops-org`"),
        "{}",
        again.stderr
    );
    let settings = std::fs::read_to_string(ctx.config_file()).unwrap();
    assert!(settings.contains(seed::OPS_ORG_GUID), "{settings}");
    assert!(!settings.contains(seed::DEV_ORG_GUID), "{settings}");
    // The saved org cannot be looked up (the org list fails once): chosen again, here refused
    // for want of a terminal, with the reason.
    ctx.sandbox.inject(
        Fault::json(
            Service::CloudController,
            "GET",
            "/v2/organizations",
            500,
            json!({"code": 10001, "description": "internal error", "error_code": "CF-Unknown"}),
        )
        .times(1),
    );
    let out = ctx
        .login(
            &["--password-stdin"],
            Some(&format!("{}\n", seed::ALICE_PASSWORD)),
        )
        .fails_with("choose one with --org");
    assert!(
        out.stderr.contains("the saved org `ops-org` was not kept"),
        "{}",
        out.stderr
    );
    out.leaks_none(&[seed::ALICE_PASSWORD]);
}

/// Issue 24, friction 6: `profile use NAME` makes a saved profile the one commands use without
/// `--profile` (the CURRENT column of `profile list` follows); `--profile` and its variable still
/// win; an unknown name is refused with the close one, and nothing changes.
#[test]
fn profile_use_switches_the_current_profile() {
    let ctx = TestContext::logged_in();
    let without_profile = |args: &[&str]| {
        let mut cmd = ctx.command(args);
        cmd.env_remove("KUBECTL_DEDICATED_REGISTRY_PROFILE");
        ctx.run_with(cmd, None)
    };
    // Before: no profile `default` here, so a command without --profile has no login.
    without_profile(&["status"]).fails_with("kubectl dedicated-registry login");
    let switched = without_profile(&["profile", "use", &ctx.profile]).ok();
    assert_eq!(
        switched.stdout.trim_end(),
        format!("Switched to profile \"{}\".", ctx.profile)
    );
    let status = without_profile(&["status"]).ok();
    assert!(status.stdout.contains(seed::ALICE), "{}", status.stdout);
    let list = without_profile(&["profile", "list", "-o", "json"]).ok();
    let rows: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(rows[0]["name"], ctx.profile.as_str());
    assert_eq!(rows[0]["current"], true, "{}", list.stdout);
    // --profile still wins over the choice.
    let mut other = ctx.command(&["--profile", "other", "status"]);
    other.env_remove("KUBECTL_DEDICATED_REGISTRY_PROFILE");
    ctx.run_with(other, None)
        .fails_with("--profile other login");
    // A typo: refused with the close name, and the choice stays.
    let typo = format!("{}x", ctx.profile);
    without_profile(&["profile", "use", &typo])
        .fails_with(&format!("no profile `{typo}`"))
        .stderr
        .contains(&format!("did you mean `{}`?", ctx.profile))
        .then_some(())
        .expect("the close name is suggested");
    assert!(
        without_profile(&["status"])
            .ok()
            .stdout
            .contains(seed::ALICE)
    );
    // Back to `default`, which needs no saved profile.
    without_profile(&["profile", "use", "default"]).ok();
    without_profile(&["status"]).fails_with("kubectl dedicated-registry login");
}

/// "Settings ... `$XDG_CONFIG_HOME/...` (mode 0600, or `KUBECTL_DEDICATED_REGISTRY_CONFIG`)".
#[test]
fn the_settings_file_can_be_moved_by_environment_variable() {
    use std::os::unix::fs::PermissionsExt as _;
    require_keyring();
    let ctx = TestContext::new();
    let moved = ctx.sandbox.dir().join("elsewhere/settings.yaml");
    let with_config = |args: &[&str]| {
        let mut cmd = ctx.command(args);
        cmd.env("KUBECTL_DEDICATED_REGISTRY_CONFIG", &moved);
        cmd
    };
    let args = ctx.login_args(&[
        "--username",
        seed::ALICE,
        "--password-stdin",
        "--org",
        seed::DEV_ORG,
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ctx.run_with(with_config(&refs), Some(seed::ALICE_PASSWORD))
        .ok();
    let text = std::fs::read_to_string(&moved).expect("the settings went to the given path");
    assert!(text.contains(seed::DEV_ORG_GUID), "{text}");
    assert!(!text.contains(seed::ALICE_PASSWORD));
    let mode = std::fs::metadata(&moved).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    assert!(
        !ctx.config_file().exists(),
        "nothing written to the default path"
    );
    // Other commands read it from there, and without the variable the profile is unknown.
    ctx.run_with(with_config(&["status"]), None).ok();
    ctx.run(&["status"], None).fails_with("not logged in");
    ctx.run_with(with_config(&["logout"]), None).ok();
}

/// "concurrent runs take turns (a per-profile lock) so rotation never breaks a parallel run".
#[test]
fn parallel_runs_of_one_profile_take_turns_with_the_refresh_token() {
    let ctx = TestContext::logged_in();
    ctx.sandbox.journal().clear();
    let children: Vec<_> = (0..4).map(|_| ctx.spawn(&["status"])).collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a parallel run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Four refreshes, each with the token the previous one stored: all succeeded.
    let refreshes: Vec<u16> = ctx
        .sandbox
        .journal()
        .entries()
        .into_iter()
        .filter(|e| e.form_field("grant_type") == Some("refresh_token"))
        .map(|e| e.status)
        .collect();
    assert_eq!(refreshes, [200, 200, 200, 200]);
    assert_eq!(ctx.sandbox.world.uaa.live_refresh_tokens(seed::ALICE), 1);
    ctx.run(&["status"], None).ok();
}

/// Issue 9, finding 6: two settings files holding the same profile share one keyring entry, so
/// their refreshes take turns: each presents the latest rotated refresh token.
#[test]
fn finding_06_the_refresh_lock_follows_the_keyring_entry() {
    let ctx = TestContext::logged_in();
    let second = scratch_dir(&ctx).join("elsewhere/config.yaml");
    std::fs::create_dir_all(second.parent().unwrap()).unwrap();
    std::fs::copy(ctx.config_file(), &second).unwrap();
    // Slow refreshes make every run overlap with the others.
    ctx.sandbox.inject(Fault::new(
        Service::Login,
        "POST",
        "/UAALoginServerWAR/oauth/token",
        FaultAction::Delay(Duration::from_millis(300)),
    ));
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut cmd = ctx.command(&["status"]);
            if i % 2 == 1 {
                cmd.env("KUBECTL_DEDICATED_REGISTRY_CONFIG", &second);
            }
            cmd.stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    ctx.sandbox.clear_faults();
    ctx.run(&["status"], None).ok();
}

/// Issue 9, finding 7: concurrent logins of different profiles keep every profile.
#[test]
fn finding_07_concurrent_logins_keep_every_profile() {
    let ctx = TestContext::logged_in();
    // Slow logins overlap: each reads the settings file before another writes it.
    ctx.sandbox.inject(Fault::new(
        Service::Login,
        "POST",
        "/UAALoginServerWAR/oauth/token",
        FaultAction::Delay(Duration::from_millis(300)),
    ));
    let args = ctx.login_args(&[
        "--username",
        seed::BOB,
        "--password-stdin",
        "--org",
        seed::DEV_ORG,
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut cmd = ctx.command(&refs);
            cmd.env("KUBECTL_DEDICATED_REGISTRY_PROFILE", format!("p{i}"))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{}\n", seed::BOB_PASSWORD).as_bytes())
                .unwrap();
            child
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
    let text = std::fs::read_to_string(ctx.config_file()).unwrap();
    for profile in ["p0", "p1", "p2", "p3"] {
        assert!(
            text.contains(&format!("\n  {profile}:")),
            "{profile} lost:\n{text}"
        );
    }
    let profiles = text
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':'))
        .count();
    assert_eq!(
        profiles, 5,
        "the first login's profile is kept too:\n{text}"
    );
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
    ctx.create_secret("team-a", "regcred");
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

/// Issue 24, friction 13: `status` for an `--apikey-env` profile whose variable is not set says
/// so (nothing is stored, so "the stored login cannot be refreshed" was untrue).
#[test]
fn status_of_an_api_key_profile_without_its_variable_names_the_variable() {
    require_keyring();
    let ctx = TestContext::new();
    let mut cmd = ctx.login_command(&["--apikey-env", "--org", seed::DEV_ORG]);
    cmd.env("IBMCLOUD_API_KEY", seed::ALICE_API_KEY);
    ctx.run_with(cmd, None).ok();
    let run = ctx
        .run(&["status"], None)
        .fails_with("authenticates with an API key from IBMCLOUD_API_KEY, which is not set");
    assert!(!run.stderr.contains("stored login"), "{}", run.stderr);
    assert!(
        run.stdout
            .contains("Credential:   IBMCLOUD_API_KEY environment variable"),
        "{}",
        run.stdout
    );
}

//! Issue 8: the main job against environments that differ from the sandbox's defaults. One
//! table ([`MATRIX`]) runs the whole job (login, `secret create`, re-run unchanged, `pod apply`,
//! `secret delete`) against every sandbox variant and the combinations that make sense,
//! asserting success and no live token left behind; the other tests show the behaviours the
//! issue asks for in detail.
// See: issue 8.

use dedicated_sandbox::{SandboxConfig, Service, Variant, seed};

use crate::common::{TestContext, passcode, require_keyring, warnings};
use crate::main_job::{KEY_VAR, Login::ApiKeyEnv, run};
use dedicated_sandbox::Variant::*;

/// A sandbox with `variants` on.
fn context(variants: &[Variant]) -> TestContext {
    let mut config = SandboxConfig::default();
    config.variants.extend(variants.iter().copied());
    TestContext::with_config(config)
}

/// Every output of the IAM route, and the settings file, searched for the API key and the
/// IAM token; only the UAA refresh token is in the keyring.
#[test]
fn api_key_through_iam_exchange_is_journaled_and_never_stored() {
    require_keyring();
    let ctx = context(&[ApikeyIamOnly, IamExchangeOnly]);
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

/// IAM returns the UAA pair itself (`response_type=cloud_iam,uaa`): no exchange needed.
#[test]
fn api_key_through_iam_uses_its_uaa_tokens_and_auth_flag_forces_a_route() {
    require_keyring();
    let ctx = context(&[ApikeyIamOnly]);
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
fn api_key_in_the_environment_is_used_only_when_asked() {
    require_keyring();
    let ctx = TestContext::new();
    // IBMCLOUD_API_KEY set, no --apikey-env: not used (no terminal to ask for a user name).
    let args = ctx.login_args(&["--org", seed::DEV_ORG]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = ctx.command(&refs);
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

#[test]
fn sso_without_login_prompts_uses_the_default_prompt() {
    require_keyring();
    let ctx = context(&[LoginHtml]);
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
fn org_names_match_without_case_when_one_matches() {
    require_keyring();
    let ctx = context(&[OrgCase]);
    let out = ctx
        .login_password(seed::ALICE, seed::ALICE_PASSWORD, "dev-org")
        .ok();
    assert!(out.stderr.contains("Using org `DEV-ORG`"), "{}", out.stderr);
    let config = std::fs::read_to_string(ctx.config_file()).unwrap();
    assert!(config.contains(seed::DEV_ORG_GUID), "{config}");
    ctx.login_password(seed::ALICE, seed::ALICE_PASSWORD, "qa-org")
        .fails_with("org `qa-org` was not found");
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

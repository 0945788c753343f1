//! README promises that need a test of their own: each test names the promise it checks
//! (`tests/README.md` maps every promise to its test).

use dedicated_sandbox::{Fault, FaultAction, Service, seed};

use crate::common::{TestContext, require_keyring, stored_token};

/// "`--apikey-env [NAME]` (IBM's `IBMCLOUD_API_KEY` by default; the older `BLUEMIX_API_KEY` works
/// when named)".
#[test]
fn bluemix_api_key_works_like_ibmcloud_api_key() {
    require_keyring();
    let ctx = TestContext::new();
    let args = ctx.login_args(&["--apikey-env", "BLUEMIX_API_KEY", "--org", seed::DEV_ORG]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = ctx.command(&refs);
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
    crate::common::assert_sent_only_to(
        &ctx.sandbox,
        seed::ALICE_API_KEY,
        |(service, _, _)| *service == Service::Login,
        &[(
            Service::Login,
            "POST",
            &format!("{}/oauth/token", dedicated_sandbox::LOGIN_PATH),
        )],
    );
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
    ctx.run(&["-n", "team-a", "secret", "create", "first"], None)
        .ok();
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

//! The main job end to end: log in, `secret create`, `pod apply`, and the real kubectl reading back
//! what the plugin wrote. With the password grant in detail (byte for byte what `kubectl create
//! secret docker-registry` writes, the wire protocol, where each secret went); against every
//! sandbox variant and the combinations that make sense (issue 8: one table, [`MATRIX`], runs
//! login, `secret create`, re-run unchanged, `pod apply`, `secret delete`, asserting success and
//! no live token left behind); and through `bash tests/demo.sh`.
// See: issue 8.

use base64::Engine as _;
use dedicated_sandbox::{Service, Variant, seed};
use serde_json::Value;

use crate::common::{
    Run, TestContext, kubectl_reference_bytes, passcode, require_keyring, token_via_kubectl,
    warnings,
};

/// Checks the plugin's requests against protocol.md through the journal.
fn assert_wire_protocol(ctx: &TestContext, org_guid: &str) {
    let journal = ctx.sandbox.journal();
    let token_calls: Vec<_> = journal
        .entries()
        .into_iter()
        .filter(|e| e.path.ends_with("/oauth/token") && e.method == "POST")
        .collect();
    assert!(!token_calls.is_empty());
    for call in &token_calls {
        assert_eq!(
            call.service,
            Service::Login,
            "grants go to the authorization_endpoint"
        );
        assert!(
            call.path.starts_with(dedicated_sandbox::LOGIN_PATH),
            "the login path is kept: {}",
            call.path
        );
        assert_eq!(call.header("authorization"), Some("Basic cf: (empty)"));
        assert_eq!(call.form_field("scope"), Some(""));
    }
    // Org lookup: the CC v2 query with the UAA bearer token.
    let org_queries: Vec<_> = journal
        .for_service(Service::CloudController)
        .into_iter()
        .filter(|e| e.path == "/v2/organizations")
        .collect();
    assert!(!org_queries.is_empty());
    assert_eq!(org_queries[0].query_param("q"), Some("name:dev-org"));
    assert!(
        org_queries[0]
            .header("authorization")
            .is_some_and(|a| a.to_lowercase().starts_with("bearer sha256:"))
    );
    let mints: Vec<_> = journal
        .for_service(Service::Registry)
        .into_iter()
        .filter(|e| e.method == "POST" && e.path == "/api/v1/tokens")
        .collect();
    assert!(!mints.is_empty(), "a token was minted");
    for mint in &mints {
        assert_eq!(mint.query_param("permanent"), Some("true"));
        assert_eq!(
            mint.query_param("write"),
            None,
            "read-only unless --readwrite"
        );
        assert_eq!(mint.header("organization"), Some(org_guid));
        assert!(
            mint.header("authorization")
                .is_some_and(|a| a.starts_with("Bearer sha256:")),
            "{:?}",
            mint.header("authorization")
        );
        assert_eq!(mint.status, 200);
    }
}

#[test]
fn password_login_then_secret_and_pod_match_kubectl() {
    require_keyring();
    let ctx = TestContext::new();
    let login = ctx
        .login_password(seed::ALICE, seed::ALICE_PASSWORD, seed::DEV_ORG)
        .ok();
    assert!(login.stderr.contains("Logged in"), "{}", login.stderr);
    login.leaks_none(&[seed::ALICE_PASSWORD]);

    let create = ctx
        .run(
            &[
                "-n",
                "team-a",
                "secret",
                "create",
                "regcred",
                "--docker-email",
                "a@b.c",
            ],
            None,
        )
        .ok();
    assert_eq!(create.stdout.trim(), "secret/regcred created");
    assert!(
        create.stderr.contains("namespace `team-a`"),
        "{}",
        create.stderr
    );

    // The real kubectl reads it back, byte for byte what kubectl itself would have written.
    let (bytes, token) = token_via_kubectl(&ctx, "team-a", "regcred");
    assert_eq!(bytes, kubectl_reference_bytes(&ctx, &token, Some("a@b.c")));
    create.leaks_none(&[&token]);

    // The token is the one the registry issued: read-only, permanent, described without PII.
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].token, token);
    assert!(tokens[0].readonly && tokens[0].permanent && !tokens[0].revoked);
    assert_eq!(tokens[0].org, seed::DEV_ORG_GUID);
    // `kubectl-dedicated-registry <cluster>/<namespace>/<secret>`: no personal data.
    assert_eq!(
        tokens[0].description,
        "kubectl-dedicated-registry sandbox/team-a/regcred"
    );

    // Labels and annotations, never the token.
    let secret = ctx
        .sandbox
        .world
        .kube
        .get("team-a", "secrets", "regcred")
        .unwrap();
    assert_eq!(
        secret["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "kubectl-dedicated-registry"
    );
    // Exactly the registry, the token id (JWT `jti`) and its access; never the token.
    assert_eq!(
        secret["metadata"]["annotations"],
        serde_json::json!({
            "kubectl-dedicated-registry/registry": ctx.sandbox.urls().registry_host,
            "kubectl-dedicated-registry/token-id": tokens[0].id,
            "kubectl-dedicated-registry/token-access": "read-only",
        })
    );
    let jti: Value = {
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(jti["jti"], tokens[0].id.as_str(), "the id is the JWT jti");
    let annotations = secret["metadata"]["annotations"].to_string();
    assert!(!dedicated_sandbox::holds_secret(
        annotations.as_bytes(),
        &token
    ));

    // A pod that pulls with it.
    let pod = ctx
        .run(
            &[
                "-n",
                "team-a",
                "pod",
                "apply",
                "--image",
                "demo/hello:v1",
                "--secret",
                "regcred",
            ],
            None,
        )
        .ok();
    assert_eq!(pod.stdout.trim(), "pod/hello created");
    let got = ctx
        .kubectl(&["-n", "team-a", "get", "pod", "hello", "-o", "json"])
        .ok();
    let pod: Value = serde_json::from_str(&got.stdout).unwrap();
    assert_eq!(pod["spec"]["imagePullSecrets"][0]["name"], "regcred");
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        format!("{}/demo/hello:v1", ctx.sandbox.urls().registry_host)
    );

    assert_wire_protocol(&ctx, seed::DEV_ORG_GUID);

    // Where the secrets went: the token only into the Kubernetes secret, the password only to
    // the login server, and neither into the settings file.
    // The search looks into the base64 `.dockerconfigjson` and the Basic `token:<jwt>`
    // credential, so it must find the token in the secret's POST and at the registry's own v2
    // token realm (which sees it when the new token is verified): the positive controls.
    crate::common::assert_sent_only_to(
        &ctx.sandbox,
        &token,
        |(service, _, path)| {
            *service == Service::Kube || (*service == Service::Registry && path == "/oauth/token")
        },
        &[
            (Service::Kube, "POST", "/api/v1/namespaces/team-a/secrets"),
            (Service::Registry, "GET", "/oauth/token"),
        ],
    );
    crate::common::assert_sent_only_to_login(&ctx.sandbox, seed::ALICE_PASSWORD);
    let config = std::fs::read_to_string(ctx.config_file()).unwrap();
    assert!(!config.contains(seed::ALICE_PASSWORD) && !config.contains(&token));
    assert!(config.contains(seed::DEV_ORG_GUID));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(ctx.config_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "settings file mode {mode:o}");
}

/// How a matrix row logs in.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Login {
    /// `--username alice --password-stdin`.
    Password,
    /// `--apikey-stdin`.
    ApiKeyStdin,
    /// `--apikey-env CI_KEY` (an environment profile: the key is read on every run).
    ApiKeyEnv,
    /// `--sso` with a passcode from the login server's `/passcode` page.
    Sso,
}

/// One row: the variants switched on, how to log in, and whether `secret create` must warn
/// that the pull could not be verified.
struct Row {
    variants: &'static [Variant],
    login: Login,
    unverified: bool,
}

const fn row(variants: &'static [Variant], login: Login, unverified: bool) -> Row {
    Row {
        variants,
        login,
        unverified,
    }
}

use Login::{ApiKeyEnv, ApiKeyStdin, Password, Sso};

use Variant::*;

/// THE matrix: every variant alone, then combinations a real environment may have together.
const MATRIX: &[Row] = &[
    row(&[], Password, false),
    row(&[], ApiKeyStdin, false),
    row(&[], ApiKeyEnv, false),
    row(&[], Sso, false),
    row(&[ApikeyIamOnly], ApiKeyStdin, false),
    row(&[ApikeyIamOnly], ApiKeyEnv, false),
    row(&[ApikeyIamOnly, IamExchangeOnly], ApiKeyStdin, false),
    row(&[ApikeyIamOnly, IamExchangeOnly], ApiKeyEnv, false),
    row(&[IamExchangeOnly], ApiKeyStdin, false),
    row(&[NoV2], Password, true),
    row(&[V2Html], Password, true),
    row(&[RealmUnquoted], Password, false),
    row(&[RealmOtherHost], Password, true),
    row(&[MultiChallenge], Password, false),
    row(&[UnknownChallenge], Password, true),
    row(&[OrgHeaderListRejected], Password, false),
    row(&[LoginHtml], Sso, false),
    row(&[OrgCase], Password, false),
    row(&[NoV3], Password, false),
    row(&[NoOrgByGuid], Password, false),
    row(&[NoRoot], Password, false),
    row(&[RefreshNotRotated], Password, false),
    row(&[OtherStatusCodes], Password, false),
    row(&[ListMinimal], Password, false),
    // The second emulator of issue 8: no /v2/, list and revoke without the header, SSO page.
    row(&[NoV2, OrgHeaderListRejected, LoginHtml], Sso, true),
    // An IBMid environment of 2018: IAM exchange, old CC, case-changed org, terse registry.
    row(
        &[
            ApikeyIamOnly,
            IamExchangeOnly,
            OrgCase,
            NoV3,
            NoRoot,
            OrgHeaderListRejected,
            OtherStatusCodes,
            ListMinimal,
        ],
        ApiKeyEnv,
        false,
    ),
    // An icr.io-style registry behind a UAA that does not rotate refresh tokens.
    row(
        &[
            RealmUnquoted,
            MultiChallenge,
            OtherStatusCodes,
            ListMinimal,
            RefreshNotRotated,
        ],
        ApiKeyStdin,
        false,
    ),
];

/// The variable the environment-profile rows keep the API key in.
pub(crate) const KEY_VAR: &str = "CI_KEY";

/// Runs the plugin with the API key in [`KEY_VAR`] when the profile reads it from there.
pub(crate) fn run(ctx: &TestContext, login: Login, args: &[&str]) -> Run {
    let mut cmd = ctx.command(args);
    if matches!(login, ApiKeyEnv) {
        cmd.env(KEY_VAR, seed::ALICE_API_KEY);
    }
    ctx.run_with(cmd, None)
}

/// Logs in the way `login` says, into dev-org.
fn log_in(ctx: &TestContext, login: Login) -> Run {
    let iam = ctx.sandbox.urls().iam.clone();
    match login {
        Password => ctx.login_password(seed::ALICE, seed::ALICE_PASSWORD, seed::DEV_ORG),
        ApiKeyStdin => ctx.login(
            &["--apikey-stdin", "--iam-url", &iam, "--org", seed::DEV_ORG],
            Some(seed::ALICE_API_KEY),
        ),
        ApiKeyEnv => {
            let args = ctx.login_args(&[
                "--apikey-env",
                KEY_VAR,
                "--iam-url",
                &iam,
                "--org",
                seed::DEV_ORG,
            ]);
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            run(ctx, login, &refs)
        }
        Sso => {
            let code = passcode(ctx);
            ctx.login(
                &["--sso", "--org", seed::DEV_ORG],
                Some(&format!("{code}\n")),
            )
        }
    }
}

/// The main job in one sandbox; panics with the row's name on any failure.
fn main_job(row: &Row) {
    let name = format!("{:?} with {:?}", row.variants, row.login);
    let ctx = TestContext::with_variants(row.variants);
    let login = row.login;
    let out = log_in(&ctx, login);
    assert_eq!(out.code, 0, "{name}: login\n{}", out.stderr);
    out.leaks_none(&[seed::ALICE_API_KEY, seed::ALICE_PASSWORD]);
    let create = run(
        &ctx,
        login,
        &["-n", "team-a", "secret", "create", "regcred"],
    );
    assert_eq!(create.code, 0, "{name}: secret create\n{}", create.stderr);
    assert_eq!(create.stdout.trim(), "secret/regcred created", "{name}");
    let warned = warnings(&create);
    if row.unverified {
        assert_eq!(warned.len(), 1, "{name}: one warning\n{}", create.stderr);
        assert!(
            warned[0].contains("could not be verified"),
            "{name}: {}",
            warned[0]
        );
    } else {
        assert!(warned.is_empty(), "{name}: no warning\n{}", create.stderr);
    }
    assert!(
        ctx.dockerconfigjson("team-a", "regcred").is_some(),
        "{name}"
    );
    let again = run(
        &ctx,
        login,
        &["-n", "team-a", "secret", "create", "regcred"],
    );
    assert_eq!(
        again.stdout.trim(),
        "secret/regcred unchanged",
        "{name}\n{}",
        again.stderr
    );
    let pod = run(
        &ctx,
        login,
        &[
            "-n",
            "team-a",
            "pod",
            "apply",
            "--image",
            "demo/hello:v1",
            "--secret",
            "regcred",
        ],
    );
    assert_eq!(
        pod.stdout.trim(),
        "pod/hello created",
        "{name}\n{}",
        pod.stderr
    );
    let delete = run(
        &ctx,
        login,
        &["-n", "team-a", "secret", "delete", "regcred"],
    );
    assert_eq!(delete.code, 0, "{name}: secret delete\n{}", delete.stderr);
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 1, "{name}: one token minted");
    assert!(
        tokens.iter().all(|t| t.revoked),
        "{name}: live orphan tokens {tokens:?}"
    );
    for out in [&create, &again, &pod, &delete] {
        out.leaks_none(&[seed::ALICE_API_KEY, tokens[0].token.as_str()]);
    }
}

#[test]
fn main_job_against_every_variant() {
    require_keyring();
    // Three rows at a time: each has its own sandbox, HOME and profile.
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(row) = MATRIX.get(i) else { break };
                    main_job(row);
                }
            });
        }
    });
}

/// "`bash tests/demo.sh`: run the main job end to end on the local sandbox".
#[test]
fn the_demo_script_runs_end_to_end() {
    require_keyring();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // The script runs the binaries of target/debug: they must be the ones under test.
    assert_eq!(
        std::path::Path::new(crate::common::BIN),
        root.join("target/debug/kubectl-dedicated_registry"),
        "tests/demo.sh uses target/debug; run the suite without CARGO_TARGET_DIR (.ci/test)"
    );
    assert!(
        root.join("target/debug/dedicated-sandbox").exists(),
        "the dedicated-sandbox binary is built by `cargo nextest run --workspace` (.ci/test)"
    );
    // The suite already runs inside a keyring session with the binaries built, which is the
    // branch of the script that does the work (the outer branch installs and builds).
    let out = std::process::Command::new("bash")
        .arg(root.join("tests/demo.sh"))
        .current_dir(root)
        .env("DEMO_INSIDE_KEYRING", "1")
        .env("KUBECTL_DIR", kubectl_dir())
        .env_remove("KUBECTL_DEDICATED_REGISTRY_PROFILE")
        .env_remove("KUBECTL_DEDICATED_REGISTRY_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed\n{stdout}\n{stderr}");
    assert!(stdout.contains("demo: OK"), "{stdout}");
    assert!(stdout.contains("secret/regcred created"), "{stdout}");
    assert!(stdout.contains("secret/regcred unchanged"), "{stdout}");
    assert!(stdout.contains("pod/hello created"), "{stdout}");
    assert!(stdout.contains("regcred 127.0.0.1:"), "{stdout}");
    assert!(!stdout.contains("alice-password") && !stderr.contains("alice-password"));
}

/// The directory of the kubectl the suite uses (the script links `$KUBECTL_DIR/kubectl`).
pub(crate) fn kubectl_dir() -> std::path::PathBuf {
    let kubectl = crate::common::kubectl();
    let resolved = if kubectl.is_absolute() {
        kubectl
    } else {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join(&kubectl))
            .find(|p| p.exists())
            .expect("kubectl on PATH")
    };
    resolved.parent().unwrap().to_path_buf()
}

/// Issue 24, friction 7: on a machine without the binaries, `bash tests/demo.sh` says that it
/// is building and that the first build takes minutes, and cargo's own progress shows (no
/// `--quiet`). Run on a copy of the script whose installer, cargo and keyring session are
/// stand-ins that record what they were asked; with the binaries there, nothing is said.
#[test]
fn the_demo_says_it_is_building_on_a_fresh_machine() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path();
    std::fs::create_dir_all(copy.join("tests")).unwrap();
    std::fs::create_dir_all(copy.join(".ci")).unwrap();
    std::fs::create_dir_all(copy.join("stubs")).unwrap();
    std::fs::copy(root.join("tests/demo.sh"), copy.join("tests/demo.sh")).unwrap();
    let log = copy.join("calls.log");
    let stub = |path: std::path::PathBuf, name: &str| {
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho \"{name} $*\" >> '{}'\n", log.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    stub(copy.join(".ci/install-deps"), "install-deps");
    stub(copy.join("stubs/cargo"), "cargo");
    stub(copy.join("stubs/dbus-run-session"), "dbus-run-session");
    let path = format!(
        "{}:{}",
        copy.join("stubs").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = || {
        let out = std::process::Command::new("bash")
            .arg(copy.join("tests/demo.sh"))
            .env("PATH", &path)
            .env_remove("DEMO_INSIDE_KEYRING")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("bash runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = run();
    assert!(
        stderr.contains("demo: building the plugin and the sandbox (first time: about 6 minutes"),
        "{stderr}"
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains("cargo build --locked --bins --workspace\n"),
        "cargo's progress is shown (no --quiet): {calls}"
    );
    assert!(calls.contains("install-deps"), "{calls}");
    // Built already: the build is quick and nothing is announced.
    std::fs::create_dir_all(copy.join("target/debug")).unwrap();
    for binary in ["kubectl-dedicated_registry", "dedicated-sandbox"] {
        stub(copy.join("target/debug").join(binary), binary);
    }
    let stderr = run();
    assert!(!stderr.contains("demo: building"), "{stderr}");
}

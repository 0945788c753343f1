//! Pull credentials are checked the way a kubelet uses them (v2 authentication at the registry):
//! `secret verify` on any dockerconfigjson secret (the emulated registry and the real Docker
//! registry, every registry of a secret), and the same check `secret create` runs on a new token
//! before writing it (`--verify=require|auto|skip`, a registry without `/v2/`, one on port 443).

use dedicated_sandbox::Variant::NoV2;
use dedicated_sandbox::docker_registry::DockerRegistry;
use dedicated_sandbox::{Fault, Service};
use serde_json::json;

use crate::common::{TestContext, require_keyring, warnings};

#[test]
fn new_tokens_are_verified_before_they_are_written() {
    let ctx = TestContext::with_secret("team-a", "regcred");
    let journal = ctx.sandbox.journal().for_service(Service::Registry);
    let realm = journal
        .iter()
        .find(|e| e.path == "/oauth/token")
        .expect("the token realm was asked");
    assert!(
        realm
            .header("authorization")
            .is_some_and(|a| a.starts_with("Basic token: sha256:")),
        "{:?}",
        realm.header("authorization")
    );
    assert!(journal.iter().any(|e| e.path == "/v2/" && e.status == 200));

    // `secret verify` on the stored secret.
    let out = ctx
        .run(&["-n", "team-a", "secret", "verify", "regcred"], None)
        .ok();
    assert!(out.stdout.contains("accepted"), "{}", out.stdout);
    // Revoked at the registry: the kubelet could not pull any more, and verify says so.
    let id = ctx.tokens()[0].id.clone();
    assert!(ctx.sandbox.world.registry.revoke(&id));
    ctx.run(&["-n", "team-a", "secret", "verify", "regcred"], None)
        .fails_with("rejected the credential of user `token`");

    // A token the registry will not honour is revoked and never written.
    ctx.sandbox.inject(Fault::json(
        Service::Registry,
        "GET",
        "/oauth/token",
        401,
        json!({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}),
    ));
    ctx.run(&["-n", "team-a", "secret", "create", "other"], None)
        .fails_with("does not work for pulling");
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("team-a", "secrets", "other")
            .is_none()
    );
    assert!(ctx.tokens().iter().all(|t| t.revoked));
    // --skip-verify writes it anyway: no v2 request at all, the token is live and in the secret.
    ctx.sandbox.journal().clear();
    let out = ctx
        .run(
            &["-n", "team-a", "secret", "create", "other", "--skip-verify"],
            None,
        )
        .ok();
    assert_eq!(out.stdout, "secret/other created\n");
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    let registry: Vec<String> = ctx
        .sandbox
        .journal()
        .for_service(Service::Registry)
        .into_iter()
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    assert_eq!(registry, ["POST /api/v1/tokens"], "only the mint");
    let live: Vec<_> = ctx.tokens().into_iter().filter(|t| !t.revoked).collect();
    assert_eq!(live.len(), 1);
    assert_eq!(
        crate::common::stored_token(&ctx, "team-a", "other"),
        (live[0].id.clone(), live[0].token.clone())
    );
    out.leaks_none(&[&live[0].token]);
}

#[test]
fn registry_without_v2_writes_with_one_warning_and_require_revokes() {
    require_keyring();
    let ctx = TestContext::with_variants(&[NoV2]);
    ctx.login_alice();
    let out = ctx.create_secret("team-a", "regcred");
    let warned = warnings(&out);
    assert_eq!(warned.len(), 1, "{}", out.stderr);
    assert!(
        warned[0].contains("could not be verified")
            && warned[0].contains("404")
            && warned[0].contains("secret verify regcred"),
        "{}",
        warned[0]
    );
    assert!(ctx.dockerconfigjson("team-a", "regcred").is_some());
    assert!(ctx.tokens().iter().all(|t| !t.revoked));
    // CI demands proof: nothing written, the token revoked.
    ctx.run(
        &[
            "-n",
            "team-a",
            "secret",
            "create",
            "strict",
            "--verify=require",
        ],
        None,
    )
    .fails_with("could not be verified, and --verify=require demands it");
    assert!(ctx.dockerconfigjson("team-a", "strict").is_none());
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 2);
    assert!(tokens[1].revoked, "the unproven token was revoked");
    // The hidden alias still skips the check.
    let skipped = ctx
        .run(
            &[
                "-n",
                "team-a",
                "secret",
                "create",
                "skipped",
                "--skip-verify",
            ],
            None,
        )
        .ok();
    assert!(warnings(&skipped).is_empty(), "{}", skipped.stderr);
}

/// A registry on the default port, as IBM's `registry.<domain>`: its host and the token realm
/// it names have no port, and the new token is verified there, not refused as "elsewhere".
#[test]
fn a_registry_on_the_default_port_is_verified() {
    crate::common::require_keyring();
    // A loopback address of its own (all of 127.0.0.0/8 is loopback), so port 443 is free
    // whatever else runs on the machine; derived from the process id for parallel runs.
    let pid = std::process::id();
    let ip = std::net::Ipv4Addr::new(127, 77, (pid >> 8) as u8, (pid as u8).max(1));
    let ctx = TestContext::with_config(dedicated_sandbox::SandboxConfig {
        registry_on_port_443: Some(ip),
        ..Default::default()
    });
    assert_eq!(ctx.sandbox.urls().registry_host, ip.to_string());
    ctx.login_alice();
    let out = ctx.create_secret("team-a", "regcred");
    assert_eq!(out.stdout, "secret/regcred created\n");
    let registry: Vec<(String, String, u16)> = ctx
        .sandbox
        .journal()
        .for_service(Service::Registry)
        .into_iter()
        .map(|e| (e.method, e.path, e.status))
        .collect();
    assert!(
        registry.contains(&("GET".into(), "/oauth/token".into(), 200))
            && registry.contains(&("GET".into(), "/v2/".into(), 200)),
        "the token was verified at the port-less realm: {registry:?}"
    );
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 1);
    assert!(!tokens[0].revoked);
    let config: serde_json::Value =
        serde_json::from_slice(&ctx.dockerconfigjson("team-a", "regcred").unwrap()).unwrap();
    assert_eq!(
        config["auths"][ip.to_string()]["password"],
        tokens[0].token.as_str()
    );
}

#[test]
fn any_pull_secret_is_verified_against_the_real_docker_registry() {
    let ctx = TestContext::logged_in();
    let registry = ctx
        .runtime
        .block_on(DockerRegistry::try_start(&ctx.sandbox.pki))
        .expect("Debian's docker-registry must be installed (run .ci/install-deps)");
    let ca = ctx.sandbox.ca_file();
    let server = format!("--docker-server={}", registry.host());
    let good_user = format!("--docker-username={}", registry.username());
    let good_password = format!("--docker-password={}", registry.password());
    ctx.kubectl(&[
        "create",
        "secret",
        "docker-registry",
        "real",
        &server,
        &good_user,
        &good_password,
    ])
    .ok();
    let out = ctx
        .run(
            &[
                "secret",
                "verify",
                "real",
                "--ca-file",
                ca.to_str().unwrap(),
            ],
            None,
        )
        .ok();
    assert!(
        out.stdout.contains(&format!(
            "{}: credential of `{}` accepted",
            registry.host(),
            registry.username()
        )),
        "{}",
        out.stdout
    );
    out.leaks_none(&[registry.password()]);
    ctx.kubectl(&[
        "create",
        "secret",
        "docker-registry",
        "wrong",
        &server,
        &good_user,
        "--docker-password=not-the-password",
    ])
    .ok();
    let run = ctx
        .run(
            &[
                "secret",
                "verify",
                "wrong",
                "--ca-file",
                ca.to_str().unwrap(),
            ],
            None,
        )
        .fails_with("rejected the credential");
    run.leaks_none(&["not-the-password", registry.password()]);
    // A secret that is no pull secret is reported as such.
    ctx.kubectl(&["create", "secret", "generic", "plain", "--from-literal=a=b"])
        .ok();
    ctx.run(&["secret", "verify", "plain"], None)
        .fails_with("holds no registry credential");
}

/// "`secret verify` ... checks every registry credential in an existing pull secret ... prints
/// one line per registry; exit 1 if any is rejected".
#[test]
fn secret_verify_checks_every_registry_of_a_secret() {
    use base64::Engine as _;
    use dedicated_sandbox::docker_registry::DockerRegistry;
    let ctx = TestContext::with_secret("team-a", "regcred");
    let token = ctx.tokens()[0].token.clone();
    let docker = ctx
        .runtime
        .block_on(DockerRegistry::try_start(&ctx.sandbox.pki))
        .expect("Debian's docker-registry must be installed (run .ci/install-deps)");
    let ours = ctx.sandbox.urls().registry_host.clone();
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    let config = |docker_password: &str| {
        serde_json::json!({"auths": {
            ours.clone(): {"username": "token", "password": token, "auth": b64(format!("token:{token}"))},
            docker.host(): {"username": docker.username(), "password": docker_password,
                             "auth": b64(format!("{}:{docker_password}", docker.username()))},
        }})
        .to_string()
    };
    let ca = ctx.sandbox.ca_file().display().to_string();
    for (name, password) in [("both", docker.password()), ("one-bad", "wrong-password")] {
        let file = ctx.sandbox.dir().join(format!("{name}.json"));
        std::fs::write(&file, config(password)).unwrap();
        ctx.kubectl(&[
            "-n",
            "team-a",
            "create",
            "secret",
            "generic",
            name,
            "--type=kubernetes.io/dockerconfigjson",
            &format!("--from-file=.dockerconfigjson={}", file.display()),
        ])
        .ok();
    }
    let out = ctx
        .run(
            &["-n", "team-a", "secret", "verify", "both", "--ca-file", &ca],
            None,
        )
        .ok();
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort();
    let mut expected = vec![
        format!("{ours}: credential of `token` accepted"),
        format!(
            "{}: credential of `{}` accepted",
            docker.host(),
            docker.username()
        ),
    ];
    expected.sort();
    assert_eq!(lines, expected);
    out.leaks_none(&[&token, docker.password()]);

    let run = ctx
        .run(
            &[
                "-n",
                "team-a",
                "secret",
                "verify",
                "one-bad",
                "--ca-file",
                &ca,
            ],
            None,
        )
        .fails_with("rejected the credential");
    assert!(
        run.stdout
            .contains(&format!("{ours}: credential of `token` accepted")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("{}: FAILED", docker.host())),
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    run.leaks_none(&[&token, docker.password(), "wrong-password"]);
}

/// `secret verify` reads a secret the way the kubelet does: `auth` wins over `username` and
/// `password` (a warning says so), a key the kubelet ignores is a warning, and an `auth` it
/// cannot decode fails the secret, since every pull of a Pod using it would fail.
#[test]
fn secret_verify_reads_the_secret_as_the_kubelet_does() {
    use base64::Engine as _;
    let ctx = TestContext::with_secret("team-a", "regcred");
    let token = ctx.tokens()[0].token.clone();
    let host = ctx.sandbox.urls().registry_host.clone();
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    let configs = [
        (
            "auth-wins",
            json!({"auths": {
                host.clone(): {"username": "token", "password": "stale-password", "auth": b64(format!("token:{token}"))},
                "bad host:5000": {"auth": b64("a:b".into())},
            }}),
        ),
        (
            "bad-auth",
            json!({"auths": {host.clone(): {"username": "token", "password": token, "auth": "%%%"}}}),
        ),
    ];
    for (name, config) in &configs {
        let file = ctx.sandbox.dir().join(format!("{name}.json"));
        std::fs::write(&file, config.to_string()).unwrap();
        ctx.kubectl(&[
            "-n",
            "team-a",
            "create",
            "secret",
            "generic",
            name,
            "--type=kubernetes.io/dockerconfigjson",
            &format!("--from-file=.dockerconfigjson={}", file.display()),
        ])
        .ok();
    }
    let ok = ctx
        .run(&["-n", "team-a", "secret", "verify", "auth-wins"], None)
        .ok();
    assert_eq!(
        ok.stdout,
        format!("{host}: credential of `token` accepted\n"),
        "the credential in `auth` was checked, the ignored key not at all"
    );
    let warned = warnings(&ok);
    assert_eq!(warned.len(), 2, "{}", ok.stderr);
    assert!(
        warned[0].contains("the kubelet uses `auth`"),
        "{}",
        warned[0]
    );
    assert!(
        warned[1].contains("entry `bad host:5000`")
            && warned[1].contains("the kubelet ignores this entry"),
        "{}",
        warned[1]
    );
    ctx.sandbox.journal().clear();
    let bad = ctx
        .run(&["-n", "team-a", "secret", "verify", "bad-auth"], None)
        .fails_with("the kubelet cannot read secret `team-a/bad-auth`");
    assert!(
        bad.stderr.contains("is not unpadded standard base64"),
        "{}",
        bad.stderr
    );
    assert!(
        ctx.sandbox
            .journal()
            .for_service(Service::Registry)
            .is_empty(),
        "nothing is checked with a secret the kubelet refuses"
    );
    for run in [&ok, &bad] {
        run.leaks_none(&[&token, "stale-password"]);
    }
}

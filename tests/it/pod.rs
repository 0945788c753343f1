//! `pod apply` and `pod render`: server-side apply with the plugin's field manager, and the pull
//! pre-flight (issue 11, point 5): before a Pod exists, the image is resolved at the registry
//! with the pull secret's own credential, the way the kubelet will (v2 challenge, realm, `HEAD`
//! of the manifest with the kubelet's media types).
// See: issue 11 (point 5).

use dedicated_sandbox::docker_registry::DockerRegistry;
use dedicated_sandbox::{SandboxConfig, Service, Variant, seed};

use crate::common::{Run, TestContext, require_keyring, warnings};

/// "`apply` uses server-side apply with field manager `kubectl-dedicated-registry`".
#[test]
fn pod_apply_is_server_side_apply_with_the_plugins_field_manager() {
    let ctx = TestContext::logged_in();
    ctx.sandbox.journal().clear();
    ctx.run(
        &[
            "-n",
            "team-a",
            "pod",
            "apply",
            "--image",
            "demo/hello:v1",
            "--secret",
            "regcred",
            // No pull secret exists here; the pre-flight is the subject of the tests below.
            "--no-check",
        ],
        None,
    )
    .ok();
    let patches: Vec<_> = ctx
        .sandbox
        .journal()
        .for_service(Service::Kube)
        .into_iter()
        .filter(|e| e.path == "/api/v1/namespaces/team-a/pods/hello")
        .collect();
    let methods: Vec<&str> = patches.iter().map(|e| e.method.as_str()).collect();
    assert!(
        !methods.contains(&"PUT") && !methods.contains(&"POST"),
        "{methods:?}"
    );
    let applies: Vec<_> = patches.iter().filter(|e| e.method == "PATCH").collect();
    assert_eq!(applies.len(), 1, "one apply: {methods:?}");
    let apply = applies[0];
    assert_eq!(
        apply.header("content-type"),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(
        apply.query_param("fieldManager"),
        Some("kubectl-dedicated-registry")
    );
    let pod = ctx
        .sandbox
        .world
        .kube
        .get("team-a", "pods", "hello")
        .unwrap();
    let managers: Vec<(&str, &str)> = pod["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["manager"].as_str().unwrap(),
                m["operation"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(managers, [("kubectl-dedicated-registry", "Apply")]);
    // The real kubectl sees the same owner.
    let out = ctx
        .kubectl(&[
            "-n",
            "team-a",
            "get",
            "pod",
            "hello",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ])
        .ok();
    assert_eq!(out.stdout, "kubectl-dedicated-registry");
}

/// `-n team-a pod apply --image IMAGE --secret SECRET` plus `extra`.
fn apply(ctx: &TestContext, image: &str, secret: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "-n", "team-a", "pod", "apply", "--image", image, "--secret", secret,
    ];
    args.extend_from_slice(extra);
    ctx.run(&args, None)
}

/// Whether any request reached the API server's pods.
fn pods_touched(ctx: &TestContext) -> bool {
    ctx.sandbox
        .journal()
        .entries()
        .iter()
        .any(|e| e.path.contains("/pods"))
}

fn pod_image(ctx: &TestContext, name: &str) -> String {
    let pod = ctx
        .sandbox
        .world
        .kube
        .get("team-a", "pods", name)
        .expect("the Pod exists");
    pod["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn pod_apply_resolves_the_image_with_the_secrets_credential_before_any_pod_exists() {
    let ctx = TestContext::with_secret("team-a", "regcred");
    let token = ctx.tokens()[0].token.clone();
    let host = ctx.sandbox.urls().registry_host.clone();
    assert_eq!(
        ctx.sandbox.world.registry.tags("demo/hello"),
        ["latest", "v1"],
        "the seeded tags"
    );

    // A tag that does not exist: exit 1 before any Pod request, the nearest tags listed.
    ctx.sandbox.journal().clear();
    let nope = apply(&ctx, "demo/hello:nope", "regcred", &[])
        .fails_with("not found: repository `demo/hello`");
    assert!(
        nope.stderr.contains("nearest existing tags: ")
            && nope.stderr.contains("v1")
            && nope.stderr.contains("latest"),
        "{}",
        nope.stderr
    );
    assert!(
        !pods_touched(&ctx),
        "no Pod request before the check failed"
    );
    let listed = ctx
        .kubectl(&["-n", "team-a", "get", "pods", "-o", "name"])
        .ok();
    assert_eq!(listed.stdout, "", "kubectl sees no Pod");
    let registry = ctx.sandbox.journal().for_service(Service::Registry);
    let head = registry
        .iter()
        .find(|e| e.method == "HEAD" && e.path == "/v2/demo/hello/manifests/nope")
        .expect("HEAD of the manifest");
    assert_eq!(head.status, 404);
    let accept = head.header("accept").unwrap_or_default();
    for media_type in [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ] {
        assert!(accept.contains(media_type), "{media_type} in {accept}");
    }
    assert!(
        head.header("authorization")
            .is_some_and(|a| a.starts_with("Bearer ")),
        "the realm's token for the repository"
    );
    let realm = registry
        .iter()
        .find(|e| e.path == "/oauth/token")
        .expect("the realm was asked");
    assert_eq!(
        realm.query_param("scope"),
        Some("repository:demo/hello:pull")
    );
    assert!(
        registry
            .iter()
            .any(|e| e.method == "GET" && e.path == "/v2/demo/hello/tags/list" && e.status == 200)
    );

    // No such repository.
    apply(&ctx, "demo/helo:v1", "regcred", &[]).fails_with("has no repository `demo/helo`");
    // A repository of another org's namespace: the token may not pull it.
    apply(&ctx, "ops/tools:1.0", "regcred", &[]).fails_with("cannot pull");
    // A missing secret is an error now, naming the command that creates it; --no-check is the
    // way around (with the warning of before).
    let missing = apply(&ctx, "demo/hello:v1", "nosuch", &[])
        .fails_with("secret/nosuch does not exist in namespace `team-a`");
    assert!(
        missing.stderr.contains(&format!(
            "kubectl dedicated-registry --profile {} -n team-a secret create nosuch",
            ctx.profile
        )),
        "{}",
        missing.stderr
    );
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("team-a", "pods", "hello")
            .is_none()
    );

    // Found: the digest on stderr; --pin-digest writes the digest HEAD returned.
    let digest = ctx
        .sandbox
        .world
        .registry
        .digest("demo/hello", "v1")
        .expect("seeded");
    ctx.sandbox.journal().clear();
    let found = apply(&ctx, "demo/hello:v1", "regcred", &["--pin-digest"]).ok();
    assert_eq!(found.stdout, "pod/hello created\n");
    assert!(
        found.stderr.contains(&format!("resolved to {digest}"))
            && found.stderr.contains("secret team-a/regcred"),
        "{}",
        found.stderr
    );
    assert_eq!(
        pod_image(&ctx, "hello"),
        format!("{host}/demo/hello@{digest}")
    );
    crate::common::assert_order(
        &ctx.sandbox,
        &[
            ("GET", "/api/v1/namespaces/team-a/secrets/regcred"),
            ("HEAD", "/v2/demo/hello/manifests/v1"),
            ("PATCH", "/api/v1/namespaces/team-a/pods/hello"),
        ],
    );
    // Without --pin-digest the reference stays as given.
    apply(&ctx, "demo/hello:latest", "regcred", &["--name", "plain"]).ok();
    assert_eq!(
        pod_image(&ctx, "plain"),
        format!("{host}/demo/hello:latest")
    );
    // --no-check: no registry request at all, and a missing secret is only the warning.
    ctx.sandbox.journal().clear();
    let unchecked = apply(
        &ctx,
        "demo/hello:nope",
        "nosuch",
        &["--name", "unchecked", "--no-check"],
    )
    .ok();
    assert_eq!(warnings(&unchecked).len(), 1, "{}", unchecked.stderr);
    assert!(
        ctx.sandbox
            .journal()
            .for_service(Service::Registry)
            .is_empty()
    );
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("team-a", "pods", "unchecked")
            .is_some()
    );

    // pod render --check: the same check, and --pin-digest in the printed Pod.
    let rendered = ctx
        .run(
            &[
                "-n",
                "team-a",
                "pod",
                "render",
                "--image",
                "demo/hello:v1",
                "--secret",
                "regcred",
                "--check",
                "--pin-digest",
            ],
            None,
        )
        .ok();
    assert!(
        rendered
            .stdout
            .contains(&format!("{host}/demo/hello@{digest}")),
        "{}",
        rendered.stdout
    );
    ctx.run(
        &[
            "-n",
            "team-a",
            "pod",
            "render",
            "--image",
            "demo/hello:nope",
            "--secret",
            "regcred",
            "--check",
        ],
        None,
    )
    .fails_with("nearest existing tags");

    // An image on a registry the secret holds no credential for: nothing to check with, one
    // warning, and the Pod is applied (the kubelet pulls it without a credential).
    ctx.sandbox.journal().clear();
    let elsewhere = apply(
        &ctx,
        "other.example/team/app:2",
        "regcred",
        &["--name", "elsewhere"],
    )
    .ok();
    let warned = warnings(&elsewhere);
    assert_eq!(warned.len(), 1, "{}", elsewhere.stderr);
    assert!(
        warned[0].contains("holds no credential for other.example"),
        "{}",
        warned[0]
    );
    assert!(
        ctx.sandbox
            .journal()
            .for_service(Service::Registry)
            .is_empty()
    );
    assert_eq!(pod_image(&ctx, "elsewhere"), "other.example/team/app:2");

    // The credential refused (its token revoked): exit 1 naming the secret and the way out.
    assert!(ctx.sandbox.world.registry.revoke(&ctx.tokens()[0].id));
    let refused = apply(&ctx, "demo/hello:v1", "regcred", &["--name", "refused"])
        .fails_with("pull secret team-a/regcred would not work");
    assert!(
        refused.stderr.contains(&format!(
            "kubectl dedicated-registry --profile {} -n team-a secret create regcred --rotate",
            ctx.profile
        )),
        "{}",
        refused.stderr
    );
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("team-a", "pods", "refused")
            .is_none()
    );
    for run in [
        &nope, &missing, &found, &unchecked, &rendered, &elsewhere, &refused,
    ] {
        run.leaks_none(&[&token, seed::ALICE_PASSWORD]);
        run.shows_no_jwt();
    }
}

/// Registries that do not answer as the check expects: a warning, and the Pod is applied.
#[test]
fn a_registry_without_v2_is_a_warning_and_the_pod_is_applied() {
    let mut config = SandboxConfig::default();
    config.variants.insert(Variant::NoV2);
    let ctx = TestContext::logged_in_with(config);
    ctx.run(
        &[
            "-n",
            "team-a",
            "secret",
            "create",
            "regcred",
            "--verify=skip",
        ],
        None,
    )
    .ok();
    let out = apply(&ctx, "demo/hello:nope", "regcred", &["--pin-digest"]).ok();
    assert_eq!(out.stdout, "pod/hello created\n");
    let warned = warnings(&out);
    assert_eq!(warned.len(), 2, "{}", out.stderr);
    assert!(
        warned[0].contains("could not check") && warned[0].contains("404"),
        "{}",
        warned[0]
    );
    assert!(warned[1].contains("--pin-digest"), "{}", warned[1]);
    assert!(pod_image(&ctx, "hello").ends_with("/demo/hello:nope"));
}

/// A registry whose manifest answers carry no `Docker-Content-Digest`: the digest is the
/// sha256 of the manifest a `GET` returns, the same one.
#[test]
fn without_a_digest_header_the_manifest_is_fetched_and_hashed() {
    let mut config = SandboxConfig::default();
    config.variants.insert(Variant::NoDigestHeader);
    let ctx = TestContext::logged_in_with(config);
    ctx.create_secret("team-a", "regcred");
    let digest = ctx
        .sandbox
        .world
        .registry
        .digest("demo/hello", "v1")
        .expect("seeded");
    ctx.sandbox.journal().clear();
    let out = apply(&ctx, "demo/hello:v1", "regcred", &["--pin-digest"]).ok();
    assert!(warnings(&out).is_empty(), "{}", out.stderr);
    let host = ctx.sandbox.urls().registry_host.clone();
    assert_eq!(
        pod_image(&ctx, "hello"),
        format!("{host}/demo/hello@{digest}")
    );
    crate::common::assert_order(
        &ctx.sandbox,
        &[
            ("HEAD", "/v2/demo/hello/manifests/v1"),
            ("GET", "/v2/demo/hello/manifests/v1"),
            ("PATCH", "/api/v1/namespaces/team-a/pods/hello"),
        ],
    );
}

/// The same checks against distribution itself (Debian's docker-registry, Basic auth), as the
/// profile's registry: tags, digests and not-found as a real registry answers them.
#[test]
fn the_pre_flight_against_the_real_docker_registry() {
    require_keyring();
    let ctx = TestContext::new();
    let registry = ctx
        .runtime
        .block_on(DockerRegistry::try_start(&ctx.sandbox.pki))
        .expect("Debian's docker-registry must be installed (run .ci/install-deps)");
    let v1 = ctx
        .runtime
        .block_on(registry.push_image("demo/hello", "v1"))
        .expect("push v1");
    ctx.runtime
        .block_on(registry.push_image("demo/hello", "latest"))
        .expect("push latest");
    let urls = ctx.sandbox.urls();
    let ca = ctx.sandbox.ca_file().display().to_string();
    let host = registry.host();
    ctx.run(
        &[
            "login",
            "--api",
            &urls.api,
            "--registry",
            &host,
            "--ca-file",
            &ca,
            "--username",
            seed::ALICE,
            "--password-stdin",
            "--org",
            seed::DEV_ORG,
        ],
        Some(&format!("{}\n", seed::ALICE_PASSWORD)),
    )
    .ok();
    let server = format!("--docker-server={host}");
    let user = format!("--docker-username={}", registry.username());
    let password = format!("--docker-password={}", registry.password());
    ctx.kubectl(&[
        "-n",
        "team-a",
        "create",
        "secret",
        "docker-registry",
        "real",
        &server,
        &user,
        &password,
    ])
    .ok();
    ctx.kubectl(&[
        "-n",
        "team-a",
        "create",
        "secret",
        "docker-registry",
        "wrong",
        &server,
        &user,
        "--docker-password=not-the-password",
    ])
    .ok();

    let found = apply(&ctx, "demo/hello:v1", "real", &["--pin-digest"]).ok();
    assert!(
        found.stderr.contains(&format!("resolved to {v1}")),
        "{}",
        found.stderr
    );
    assert_eq!(pod_image(&ctx, "hello"), format!("{host}/demo/hello@{v1}"));
    let nope = apply(&ctx, "demo/hello:nope", "real", &["--name", "nope"])
        .fails_with("nearest existing tags");
    assert!(
        nope.stderr.contains("v1") && nope.stderr.contains("latest"),
        "{}",
        nope.stderr
    );
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("team-a", "pods", "nope")
            .is_none()
    );
    apply(&ctx, "demo/none:v1", "real", &["--name", "none"])
        .fails_with("has no repository `demo/none`");
    let refused = apply(&ctx, "demo/hello:v1", "wrong", &["--name", "wrong"])
        .fails_with("pull secret team-a/wrong would not work");
    assert!(refused.stderr.contains("--overwrite"), "{}", refused.stderr);
    for run in [&found, &nope, &refused] {
        run.leaks_none(&[registry.password(), "not-the-password"]);
    }
}

/// "nearest tags" read the whole tag list: the registry pages it (`n`, `Link` with `last`) and
/// every page is followed, so a tag on the last page is still named.
#[test]
fn nearest_tags_follow_every_page_of_the_tag_list() {
    let ctx = TestContext::with_secret("team-a", "regcred");
    for i in 0..150 {
        let tag = format!("build-{i:03}");
        ctx.sandbox
            .world
            .registry
            .seed_image("demo/hello", &tag, &tag);
    }
    ctx.sandbox.journal().clear();
    let run = apply(&ctx, "demo/hello:v1.0", "regcred", &[]).fails_with("not found");
    assert!(
        run.stderr.contains("nearest existing tags: v1, "),
        "`v1` is on the last page: {}",
        run.stderr
    );
    let pages: Vec<(Option<String>, Option<String>)> = ctx
        .sandbox
        .journal()
        .for_service(Service::Registry)
        .into_iter()
        .filter(|e| e.path == "/v2/demo/hello/tags/list")
        .map(|e| {
            assert_eq!(e.status, 200);
            (
                e.query_param("n").map(str::to_string),
                e.query_param("last").map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        pages,
        [
            (Some("100".to_string()), None),
            (Some("100".to_string()), Some("build-099".to_string())),
        ]
    );
    assert!(!pods_touched(&ctx));
}

/// A pull secret written by another tool, read the way the kubelet reads it: a key the kubelet
/// would not use for the image is named with the rule that failed (the pre-flight then has no
/// credential to check with); an `auth` the kubelet cannot decode stops `pod apply`.
#[test]
fn the_pre_flight_matches_and_reads_secrets_as_the_kubelet_does() {
    use base64::Engine as _;
    let ctx = TestContext::with_secret("team-a", "regcred");
    let token = ctx.tokens()[0].token.clone();
    let host = ctx.sandbox.urls().registry_host.clone();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("token:{token}"));
    let (name, port) = host
        .rsplit_once(':')
        .expect("the sandbox registry has a port");
    let other_port: u16 = port.parse::<u16>().unwrap().wrapping_add(1).max(1);
    let configs = [
        // The host without its port: ports must be equal.
        (
            "no-port",
            serde_json::json!({"auths": {name: {"auth": auth}}}),
        ),
        // Another registry namespace: the path is a prefix the image does not have.
        (
            "other-path",
            serde_json::json!({"auths": {format!("{host}/ops"): {"auth": auth}}}),
        ),
        // `*` for the first label of 127.0.0.1 and the wrong port.
        (
            "wildcard",
            serde_json::json!({"auths": {format!("*.0.0.1:{other_port}"): {"auth": auth}}}),
        ),
        // The right key, with a scheme and `/v1/`, and a namespace path: the kubelet uses it.
        (
            "scoped",
            serde_json::json!({"auths": {format!("https://{host}/v1/"): {"auth": "bm8tY29sb24="},
                                          format!("{host}/demo"): {"auth": auth}}}),
        ),
    ];
    for (secret, config) in &configs {
        let file = ctx.sandbox.dir().join(format!("{secret}.json"));
        std::fs::write(&file, config.to_string()).unwrap();
        ctx.kubectl(&[
            "-n",
            "team-a",
            "create",
            "secret",
            "generic",
            secret,
            "--type=kubernetes.io/dockerconfigjson",
            &format!("--from-file=.dockerconfigjson={}", file.display()),
        ])
        .ok();
    }
    for (secret, rule) in [
        ("no-port", "port differs"),
        ("other-path", "path prefix"),
        ("wildcard", "port differs"),
    ] {
        ctx.sandbox.journal().clear();
        let run = apply(&ctx, "demo/hello:v1", secret, &["--name", secret]).ok();
        run.leaks_none(&[&token]);
        let warned = warnings(&run);
        assert_eq!(warned.len(), 1, "{secret}: {}", run.stderr);
        assert!(
            warned[0].contains(&format!("secret/{secret} holds no credential for {host}"))
                && warned[0].contains(rule),
            "{secret}: {}",
            warned[0]
        );
        assert!(
            ctx.sandbox
                .journal()
                .for_service(Service::Registry)
                .is_empty(),
            "{secret}: nothing to check with"
        );
    }
    // `bm8tY29sb24=` is base64 of text without `:`: the kubelet refuses the whole secret.
    let refused = apply(&ctx, "demo/hello:v1", "scoped", &["--name", "scoped"])
        .fails_with("the kubelet cannot read secret/scoped");
    assert!(refused.stderr.contains("without `:`"), "{}", refused.stderr);
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("team-a", "pods", "scoped")
            .is_none()
    );
    refused.leaks_none(&[&token]);
    refused.shows_no_jwt();
}

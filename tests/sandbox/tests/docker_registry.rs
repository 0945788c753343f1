//! The real Docker registry (Debian's `docker-registry`, distribution 2.8) with TLS and htpasswd:
//! push an image, then pull its manifest with, without and with wrong credentials.
//!
//! A missing `docker-registry` or `htpasswd` fails these tests (it is never a skip): run
//! `.ci/install-deps`.

use dedicated_sandbox::docker_registry::{DockerRegistry, ManifestError};
use dedicated_sandbox::tls::Pki;

fn pki() -> Pki {
    Pki::generate().expect("generate the test PKI")
}

#[tokio::test]
async fn push_then_pull_manifest_with_and_without_credentials() {
    let registry = DockerRegistry::start(&pki()).await;
    assert_eq!(registry.url(), format!("https://{}", registry.host()));
    assert!(registry.host().starts_with("127.0.0.1:"));

    let digest = registry
        .push_image("demo/hello", "v1")
        .await
        .expect("push demo/hello:v1");
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "unexpected digest {digest}"
    );

    // With the right credentials: 200, and the digest is the one pushed (checked against the body).
    let creds = Some((registry.username(), registry.password()));
    let pulled = registry
        .manifest_digest("demo/hello", "v1", creds)
        .await
        .expect("pull with credentials");
    assert_eq!(pulled, digest);
    let by_digest = registry
        .manifest_digest("demo/hello", &digest, creds)
        .await
        .expect("pull by digest");
    assert_eq!(by_digest, digest);

    // Without credentials: 401 with a Basic challenge.
    let anonymous = registry
        .manifest_digest("demo/hello", "v1", None)
        .await
        .expect_err("anonymous pull must fail");
    match &anonymous {
        ManifestError::Status {
            status: 401,
            www_authenticate: Some(challenge),
            body,
        } => {
            assert_eq!(challenge, r#"Basic realm="dedicated-sandbox""#);
            assert!(body.contains("UNAUTHORIZED"), "body: {body}");
        }
        other => panic!("expected 401 with a challenge, got {other:?}"),
    }

    // Wrong password, and an unknown user: 401.
    let wrong = registry
        .manifest_digest("demo/hello", "v1", Some((registry.username(), "wrong")))
        .await
        .expect_err("wrong password must fail");
    assert_eq!(wrong.status(), Some(401), "{wrong}");
    let stranger = registry
        .manifest_digest("demo/hello", "v1", Some(("stranger", registry.password())))
        .await
        .expect_err("unknown user must fail");
    assert_eq!(stranger.status(), Some(401), "{stranger}");

    // Authenticated but absent: 404.
    let missing = registry
        .manifest_digest("demo/hello", "nope", creds)
        .await
        .expect_err("unknown tag must fail");
    assert_eq!(missing.status(), Some(404), "{missing}");
}

#[tokio::test]
async fn pushes_are_deterministic_and_distinct_per_tag() {
    let registry = DockerRegistry::start(&pki()).await;
    let first = registry.push_image("demo/hello", "v1").await.expect("push");
    let again = registry
        .push_image("demo/hello", "v1")
        .await
        .expect("push again");
    let other = registry
        .push_image("demo/hello", "v2")
        .await
        .expect("push v2");
    assert_eq!(first, again, "same name and tag must give the same digest");
    assert_ne!(first, other, "another tag has other content");

    // A second registry (fresh storage) yields the same digest for the same image.
    let second = DockerRegistry::start(&pki()).await;
    assert_ne!(second.port(), registry.port());
    let elsewhere = second.push_image("demo/hello", "v1").await.expect("push");
    assert_eq!(first, elsewhere);
}

#[tokio::test]
async fn extra_users_can_pull() {
    // The shape of a pull secret minted by the plugin: user `token`, password = a registry token.
    let registry = DockerRegistry::start_with_users(&pki(), &[("token", "minted-token-123")]).await;
    let digest = registry.push_image("org/app", "1.0").await.expect("push");
    let pulled = registry
        .manifest_digest("org/app", "1.0", Some(("token", "minted-token-123")))
        .await
        .expect("pull as the extra user");
    assert_eq!(pulled, digest);
    let wrong = registry
        .manifest_digest("org/app", "1.0", Some(("token", "minted-token-124")))
        .await
        .expect_err("wrong token must fail");
    assert_eq!(wrong.status(), Some(401));
}

#[tokio::test]
async fn tls_is_real_and_drop_stops_the_process() {
    let registry = DockerRegistry::start(&pki()).await;
    let url = format!("{}/v2/", registry.url());

    // A client that does not trust the sandbox CA is refused.
    let untrusting = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    assert!(
        untrusting.get(&url).send().await.is_err(),
        "a client without the sandbox CA must not connect"
    );
    let ok = registry
        .client()
        .get(&url)
        .basic_auth(registry.username(), Some(registry.password()))
        .send()
        .await
        .expect("GET /v2/");
    assert_eq!(ok.status(), 200);

    // Debug output never shows the password.
    let debug = format!("{registry:?}");
    assert!(!debug.contains(registry.password()), "{debug}");
    assert!(debug.contains("<redacted>"));

    let pid = registry.pid();
    let client = registry.client().clone();
    drop(registry);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "docker-registry (pid {pid}) still running after drop"
    );
    assert!(
        client.get(&url).send().await.is_err(),
        "port still answers after drop"
    );
}

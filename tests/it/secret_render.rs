//! `secret render` and `pod render`: the manifest is printed (the Secret with the real token, on
//! stdout only) and no cluster is contacted; a manifest nobody reads has its token revoked.

use base64::Engine as _;
use dedicated_sandbox::Service;
use serde_json::Value;

use crate::common::TestContext;

#[test]
fn render_prints_manifests_without_touching_the_cluster() {
    let ctx = TestContext::logged_in();
    ctx.sandbox.journal().clear();
    let out = ctx
        .run(
            &["-n", "team-a", "secret", "render", "regcred", "-o", "yaml"],
            None,
        )
        .ok();
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 1);
    assert!(!tokens[0].revoked);
    let manifest: Value = serde_saphyr::from_str(&out.stdout).unwrap();
    assert_eq!(manifest["kind"], "Secret");
    assert_eq!(manifest["metadata"]["namespace"], "team-a");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(manifest["data"][".dockerconfigjson"].as_str().unwrap())
        .unwrap();
    // The user asked for the manifest, so the real token is in it (and only on stdout).
    assert!(String::from_utf8(bytes).unwrap().contains(&tokens[0].token));
    assert!(!out.stderr.contains(&tokens[0].token));
    assert!(
        ctx.sandbox.journal().for_service(Service::Kube).is_empty(),
        "no cluster request"
    );

    // The real kubectl accepts the rendered manifest as is.
    let file = ctx.sandbox.dir().join("rendered.yaml");
    std::fs::write(&file, &out.stdout).unwrap();
    ctx.kubectl(&["apply", "--server-side", "-f", file.to_str().unwrap()])
        .ok();
    assert!(ctx.dockerconfigjson("team-a", "regcred").is_some());

    // Nobody reads the manifest: the token is revoked and the command fails.
    let mut child = ctx.spawn(&["secret", "render", "lost"]);
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 2);
    assert!(tokens[1].revoked, "the undelivered token is revoked");

    // pod render needs no cluster and no request at all for a full reference.
    let pod = ctx
        .run(
            &[
                "pod",
                "render",
                "--image",
                "other.example/team/app:2",
                "-o",
                "json",
            ],
            None,
        )
        .ok();
    let pod: Value = serde_json::from_str(&pod.stdout).unwrap();
    assert_eq!(pod["kind"], "Pod");
    assert_eq!(pod["metadata"]["name"], "app");
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        "other.example/team/app:2"
    );
    assert_eq!(
        pod["spec"]["imagePullSecrets"][0]["name"],
        "dedicated-registry"
    );
}

//! The secrets the plugin writes and the tokens they hold: reading them back, the scenes
//! several tests start from, and what the real kubectl writes for the same input.

use std::collections::BTreeSet;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::TestContext;

/// The secrets collection of team-a.
pub const SECRETS: &str = "/api/v1/namespaces/team-a/secrets";
/// team-a's `regcred`.
pub const REGCRED: &str = "/api/v1/namespaces/team-a/secrets/regcred";
/// `secret create regcred` in team-a.
pub const CREATE: &[&str] = &["-n", "team-a", "secret", "create", "regcred"];

/// The namespaces `secret create -A` selects in [`shared_cluster`] (every one but `kube-*`).
pub const SELECTED: &[&str] = &[
    "default", "fleet-1", "fleet-2", "fleet-3", "team-a", "team-b",
];

/// The stored secret's token id annotation and the token in its `.dockerconfigjson`.
pub fn stored_token(ctx: &TestContext, namespace: &str, name: &str) -> (String, String) {
    let secret = ctx
        .sandbox
        .world
        .kube
        .get(namespace, "secrets", name)
        .expect("the secret exists");
    let id = secret["metadata"]["annotations"]["kubectl-dedicated-registry/token-id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let config: Value =
        serde_json::from_slice(&ctx.dockerconfigjson(namespace, name).unwrap()).unwrap();
    let host = ctx.sandbox.urls().registry_host.clone();
    let token = config["auths"][&host]["password"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (id, token)
}

/// The token ids held by `regcred` in `names`.
pub fn ids(ctx: &TestContext, names: &[&str]) -> BTreeSet<String> {
    names
        .iter()
        .map(|n| stored_token(ctx, n, "regcred").0)
        .collect()
}

/// The token value of the registry token `id`.
pub fn token_value(ctx: &TestContext, id: &str) -> String {
    ctx.tokens()
        .into_iter()
        .find(|t| t.id == id)
        .expect("the token")
        .token
}

/// The id of the live token described for `namespace/name` of the sandbox cluster.
pub fn token_of(ctx: &TestContext, namespace: &str, name: &str) -> String {
    let description = format!("kubectl-dedicated-registry sandbox/{namespace}/{name}");
    ctx.tokens()
        .into_iter()
        .find(|t| t.description == description && !t.revoked)
        .unwrap_or_else(|| panic!("no live token described `{description}`"))
        .id
}

/// How many of the registry tokens the sandbox issued are live.
pub fn live_tokens(ctx: &TestContext) -> usize {
    ctx.tokens().iter().filter(|t| !t.revoked).count()
}

/// Whether the secret `namespace/name` exists.
pub fn managed_secret_exists(ctx: &TestContext, namespace: &str, name: &str) -> bool {
    ctx.sandbox
        .world
        .kube
        .get(namespace, "secrets", name)
        .is_some()
}

/// Creates the namespaces `names` with the real kubectl.
pub fn namespaces(ctx: &TestContext, names: &[&str]) {
    for name in names {
        ctx.kubectl(&["create", "namespace", name]).ok();
    }
}

/// A cluster where `secret create regcred -A` wrote one shared token into six namespaces;
/// returns `(id, token)`.
pub fn shared_cluster(ctx: &TestContext) -> (String, String) {
    namespaces(ctx, &["fleet-1", "fleet-2", "fleet-3"]);
    ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    let held = ids(ctx, SELECTED);
    assert_eq!(held.len(), 1, "one shared token");
    let id = held.into_iter().next().unwrap();
    let token = token_value(ctx, &id);
    (id, token)
}

/// Copies a stored secret to `namespace/name`, as `kubectl get -o yaml | edit | apply` would,
/// created `age_secs` ago; `unmanaged` drops the plugin's label and annotations.
pub fn copy_secret(
    ctx: &TestContext,
    from: (&str, &str),
    to: (&str, &str),
    age_secs: u64,
    unmanaged: bool,
) {
    let mut secret = ctx
        .sandbox
        .world
        .kube
        .get(from.0, "secrets", from.1)
        .expect("the secret to copy");
    let created = std::time::SystemTime::now() - std::time::Duration::from_secs(age_secs);
    secret["metadata"] = json!({
        "name": to.1,
        "namespace": to.0,
        "creationTimestamp": humantime::format_rfc3339_seconds(created).to_string(),
    });
    if !unmanaged {
        let original = ctx
            .sandbox
            .world
            .kube
            .get(from.0, "secrets", from.1)
            .unwrap();
        secret["metadata"]["labels"] = original["metadata"]["labels"].clone();
        secret["metadata"]["annotations"] = original["metadata"]["annotations"].clone();
    }
    ctx.sandbox.world.kube.put_raw(secret);
}

/// A Kubernetes `Status` failure body about the secret `regcred`.
pub fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
           "message":message,"reason":reason,"details":{"name":"regcred","kind":"secrets"},"code":code})
}

/// The token stored in a secret, read back through the real kubectl.
pub fn token_via_kubectl(ctx: &TestContext, namespace: &str, name: &str) -> (Vec<u8>, String) {
    let out = ctx
        .kubectl(&["-n", namespace, "get", "secret", name, "-o", "json"])
        .ok();
    let secret: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(secret["data"][".dockerconfigjson"].as_str().unwrap())
        .unwrap();
    let parsed: Value = serde_json::from_slice(&bytes).unwrap();
    let host = ctx.sandbox.urls().registry_host.clone();
    let token = parsed["auths"][&host]["password"]
        .as_str()
        .unwrap()
        .to_string();
    (bytes, token)
}

/// What the real `kubectl create secret docker-registry --dry-run=client` writes for the same
/// input.
pub fn kubectl_reference_bytes(ctx: &TestContext, token: &str, email: Option<&str>) -> Vec<u8> {
    let host = ctx.sandbox.urls().registry_host.clone();
    let server = format!("--docker-server={host}");
    let password = format!("--docker-password={token}");
    let mut args = vec![
        "create",
        "secret",
        "docker-registry",
        "reference",
        server.as_str(),
        "--docker-username=token",
        password.as_str(),
        "--dry-run=client",
        "-o",
        "json",
    ];
    let email_flag;
    if let Some(e) = email {
        email_flag = format!("--docker-email={e}");
        args.push(&email_flag);
    }
    let out = ctx.kubectl(&args).ok();
    let secret: Value = serde_json::from_str(&out.stdout).unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(secret["data"][".dockerconfigjson"].as_str().unwrap())
        .unwrap()
}

/// After a login: `secret create` then `pod apply` in `namespace`, and the real kubectl reads
/// back exactly the bytes its own `create secret docker-registry` would write.
/// The Pod pulls `image`, which the secret's org may pull (the pull pre-flight checks it).
pub fn create_secret_and_pod(ctx: &TestContext, namespace: &str, secret: &str, image: &str) {
    let out = ctx
        .run(&["-n", namespace, "secret", "create", secret], None)
        .ok();
    assert_eq!(out.stdout.trim(), format!("secret/{secret} created"));
    let (bytes, token) = token_via_kubectl(ctx, namespace, secret);
    assert_eq!(bytes, kubectl_reference_bytes(ctx, &token, None));
    out.leaks_none(&[&token]);
    let pod = ctx
        .run(
            &[
                "-n", namespace, "pod", "apply", "--image", image, "--secret", secret,
            ],
            None,
        )
        .ok();
    let name = image
        .rsplit('/')
        .next()
        .and_then(|n| n.split(':').next())
        .unwrap_or_default();
    assert_eq!(pod.stdout.trim(), format!("pod/{name} created"));
    let got = ctx
        .kubectl(&[
            "-n",
            namespace,
            "get",
            "pod",
            name,
            "-o",
            "jsonpath={.spec.imagePullSecrets[0].name}",
        ])
        .ok();
    assert_eq!(got.stdout, secret);
}

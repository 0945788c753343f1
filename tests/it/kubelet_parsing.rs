//! The plugin's own secrets, read back the way the kubelet reads them (`config.go`: a
//! non-empty `auth` wins over `username`/`password`; an `auth` that is not base64 of
//! `user:password` makes the kubelet refuse the whole secret). A managed secret another tool
//! broke is never "unchanged" and never offers the cluster's shared token: it is named, with
//! what is done, and replaced; an unmanaged broken one is named in the refusal. (`secret
//! verify` and `pod apply`'s pre-flight: `secret_verify::secret_verify_reads_the_secret_as_the_kubelet_does`,
//! `pod::the_pre_flight_matches_and_reads_secrets_as_the_kubelet_does`.)
// See: issue 22.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::{TestContext, journal_lines, mints, namespaces, stored_token};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Replaces the `.dockerconfigjson` of `namespace/name` with `config`, as another tool would
/// (labels and annotations kept).
fn rewrite_config(ctx: &TestContext, namespace: &str, name: &str, config: &Value) {
    let kube = &ctx.sandbox.world.kube;
    let mut secret = kube.get(namespace, "secrets", name).expect("the secret");
    secret["data"][".dockerconfigjson"] = json!(b64(&config.to_string()));
    kube.put_raw(secret);
}

#[test]
fn fleet_replaces_managed_secrets_the_kubelet_reads_otherwise() {
    let ctx = TestContext::logged_in();
    namespaces(&ctx, &["fleet-1", "fleet-2"]);
    ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    let (shared, token) = stored_token(&ctx, "fleet-1", "regcred");
    let host = ctx.sandbox.urls().registry_host.clone();
    // team-a: the fields still hold the shared token, but `auth` (what the kubelet uses) not.
    rewrite_config(
        &ctx,
        "team-a",
        "regcred",
        &json!({"auths": {&host: {"username": "token", "password": &token, "auth": b64("token:stale")}}}),
    );
    // team-b: an `auth` that is not base64: the kubelet refuses the whole secret.
    rewrite_config(
        &ctx,
        "team-b",
        "regcred",
        &json!({"auths": {&host: {"username": "token", "password": &token, "auth": "%%%"}}}),
    );
    ctx.sandbox.journal().clear();
    let run = ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    let named: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("it is replaced with a working one"))
        .collect();
    assert_eq!(named.len(), 2, "{}", run.stderr);
    assert!(
        named[0].starts_with("secret/regcred in namespace team-a: entry `")
            && named[0].contains("the kubelet uses `auth`"),
        "{}",
        named[0]
    );
    assert!(
        named[1].starts_with("secret/regcred in namespace team-b: the kubelet cannot read it")
            && named[1].contains("`auth` is not unpadded standard base64"),
        "{}",
        named[1]
    );
    assert!(
        run.stderr
            .contains("0 created, 2 configured, 3 unchanged, 0 failed"),
        "{}",
        run.stderr
    );
    // Repaired with the shared token the healthy secrets hold (no mint), and now as written.
    assert_eq!(mints(&ctx), 0, "{}", journal_lines(&ctx.sandbox));
    for ns in ["team-a", "team-b"] {
        assert_eq!(
            stored_token(&ctx, ns, "regcred"),
            (shared.clone(), token.clone())
        );
        let config: Value =
            serde_json::from_slice(&ctx.dockerconfigjson(ns, "regcred").unwrap()).unwrap();
        assert_eq!(
            config["auths"][&host]["auth"],
            json!(b64(&format!("token:{token}")))
        );
    }
    run.leaks_none(&[&token, "stale"]);
}

#[test]
fn a_broken_shared_secret_is_not_adopted() {
    let ctx = TestContext::logged_in();
    namespaces(&ctx, &["fleet-1"]);
    ctx.kubectl(&["label", "namespace", "fleet-1", "copy=yes"])
        .ok();
    let select = ["secret", "create", "regcred", "-l", "copy=yes"];
    ctx.run(&select, None).ok();
    let (old, token) = stored_token(&ctx, "fleet-1", "regcred");
    let host = ctx.sandbox.urls().registry_host.clone();
    // The only holder: its fields hold the token, its `auth` a credential without a colon.
    rewrite_config(
        &ctx,
        "fleet-1",
        "regcred",
        &json!({"auths": {&host: {"username": "token", "password": &token, "auth": b64("nocolon")}}}),
    );
    ctx.sandbox.journal().clear();
    let run = ctx.run(&select, None).ok();
    assert!(
        run.stderr.contains("`auth` decodes to text without `:`"),
        "{}",
        run.stderr
    );
    assert_eq!(mints(&ctx), 1, "not adopted: a new shared token");
    let (new, _) = stored_token(&ctx, "fleet-1", "regcred");
    assert_ne!(new, old);
    assert!(ctx.token_revoked(&old), "its last holder was replaced");
}

#[test]
fn single_create_replaces_a_broken_managed_secret_and_names_a_broken_foreign_one() {
    let ctx = TestContext::logged_in();
    let create = ["-n", "team-a", "secret", "create", "regcred"];
    ctx.run(&create, None).ok();
    let (old, token) = stored_token(&ctx, "team-a", "regcred");
    let host = ctx.sandbox.urls().registry_host.clone();
    rewrite_config(
        &ctx,
        "team-a",
        "regcred",
        &json!({"auths": {&host: {"username": "token", "password": &token, "auth": b64("token")}}}),
    );
    let run = ctx.run(&create, None).ok();
    assert_eq!(
        run.stdout.trim(),
        "secret/regcred configured",
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("secret/regcred: the kubelet cannot read it (entry `")
            && run.stderr.contains("it is replaced with a working one"),
        "{}",
        run.stderr
    );
    let (new, _) = stored_token(&ctx, "team-a", "regcred");
    assert_ne!(new, old);
    assert!(ctx.token_revoked(&old));

    // Another tool's secret of that name, broken: the refusal says so, and the fix.
    let config = json!({"auths": {&host: {"auth": "not base64!"}}});
    ctx.sandbox.world.kube.put_raw(json!({
        "kind": "Secret", "metadata": {"name": "theirs", "namespace": "team-a"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": b64(&config.to_string())}}));
    ctx.run(&["-n", "team-a", "secret", "create", "theirs"], None)
        .fails_with(
            "is not managed by kubectl-dedicated-registry (the kubelet cannot read it (entry `",
        );
    let run = ctx
        .run(
            &["-n", "team-a", "secret", "create", "theirs", "--overwrite"],
            None,
        )
        .ok();
    assert_eq!(
        run.stdout.trim(),
        "secret/theirs configured",
        "{}",
        run.stderr
    );
}

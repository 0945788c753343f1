//! `diagnose pod`: why a pod cannot pull, the way the kubelet sees it. One test per verdict,
//! each building the broken state in the sandbox (pods stored with the container statuses a
//! kubelet reports, secrets and ServiceAccounts as other tools leave them) and asserting the
//! verdict, the fix text and the `-o json` evidence; `-A` over a Terminating namespace; no
//! credential in any output.
// See: issue 22.

use dedicated_sandbox::seed;
use serde_json::{Value, json};

use crate::common::{Run, TestContext, rows};

/// Stores pod `name` in `namespace` pulling `images` (the first an init container when
/// `init` is given) with `secrets` as its `imagePullSecrets`, and a kubelet's status: every
/// container waiting in `waiting` (`ImagePullBackOff`, ...), or running when `None`.
fn seed_pod(
    ctx: &TestContext,
    namespace: &str,
    name: &str,
    image: &str,
    secrets: &[&str],
    waiting: Option<&str>,
) {
    seed_pod_with(
        ctx,
        namespace,
        name,
        &[("app", image)],
        &[],
        secrets,
        waiting,
    );
}

fn seed_pod_with(
    ctx: &TestContext,
    namespace: &str,
    name: &str,
    containers: &[(&str, &str)],
    init: &[(&str, &str)],
    secrets: &[&str],
    waiting: Option<&str>,
) {
    let spec_of = |list: &[(&str, &str)]| -> Vec<Value> {
        list.iter()
            .map(|(n, i)| json!({"name": n, "image": i}))
            .collect()
    };
    let mut spec = json!({"containers": spec_of(containers)});
    if !init.is_empty() {
        spec["initContainers"] = json!(spec_of(init));
    }
    if !secrets.is_empty() {
        let refs: Vec<Value> = secrets.iter().map(|s| json!({"name": s})).collect();
        spec["imagePullSecrets"] = json!(refs);
    }
    let state = |image: &str| match waiting {
        Some(reason) => {
            json!({"waiting": {"reason": reason, "message": format!("Back-off pulling image \"{image}\"")}})
        }
        None => json!({"running": {"startedAt": "2026-12-07T00:00:00Z"}}),
    };
    let statuses = |list: &[(&str, &str)]| -> Vec<Value> {
        list.iter()
            .map(|(n, i)| json!({"name": n, "image": i, "imageID": "", "ready": false, "restartCount": 0, "state": state(i)}))
            .collect()
    };
    let phase = if waiting.is_some() {
        "Pending"
    } else {
        "Running"
    };
    // The sandbox keeps a seeded status, as a kubelet's report would be.
    ctx.sandbox.world.kube.put_raw(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": spec,
        "status": {"phase": phase, "containerStatuses": statuses(containers), "initContainerStatuses": statuses(init)},
    }));
}

/// Stores a core v1 Event of the kubelet about pod `pod` of team-a.
fn seed_event(ctx: &TestContext, pod: &str, reason: &str, message: &str) {
    let uid = ctx.sandbox.world.kube.get("team-a", "pods", pod).unwrap()["metadata"]["uid"].clone();
    ctx.sandbox.world.kube.put_raw(json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{pod}.{reason}"), "namespace": "team-a"},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": "team-a", "uid": uid, "apiVersion": "v1"},
        "reason": reason, "message": message, "type": "Warning", "count": 4,
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-12-07T00:00:00Z", "lastTimestamp": "2026-12-07T00:05:00Z",
    }));
}

/// `image` in the sandbox registry (`<host>/<repository:tag>`).
fn image(ctx: &TestContext, reference: &str) -> String {
    format!("{}/{reference}", ctx.sandbox.urls().registry_host)
}

/// `-n team-a diagnose pod` plus `args`.
fn diagnose(ctx: &TestContext, args: &[&str]) -> Run {
    let mut all = vec!["-n", "team-a", "diagnose", "pod"];
    all.extend_from_slice(args);
    ctx.run(&all, None)
}

/// The `-o json` items, checked to leak nothing of `secrets`.
fn items(ctx: &TestContext, args: &[&str], secrets: &[&str]) -> Vec<Value> {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let run = diagnose(ctx, &all);
    run.leaks_none(secrets);
    run.shows_no_jwt();
    let report: Value = serde_json::from_str(&run.stdout).expect(&run.stderr);
    report["items"].as_array().cloned().unwrap_or_default()
}

/// The table's rows as maps from column to cell.
fn table(run: &Run) -> Vec<std::collections::BTreeMap<String, String>> {
    let all = rows(&run.stdout);
    let header = all[0].clone();
    all[1..]
        .iter()
        .map(|row| header.iter().cloned().zip(row.iter().cloned()).collect())
        .collect()
}

/// A `kubernetes.io/dockerconfigjson` secret written by another tool, with `auths`.
fn foreign_secret(ctx: &TestContext, name: &str, auths: Value) {
    use base64::Engine as _;
    let bytes = serde_json::to_vec(&json!({"auths": auths})).unwrap();
    ctx.sandbox.world.kube.put_raw(json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": name, "namespace": "team-a"},
        "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(bytes)},
    }));
}

/// `auth` of `token:<token>`.
fn auth(token: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("token:{token}"))
}

/// The one item of `items`.
#[track_caller]
fn only(items: &[Value]) -> &Value {
    assert_eq!(items.len(), 1, "{items:#?}");
    &items[0]
}

/// Plant: the verdict taken from the first credential tried instead of the first that pulls.
#[test]
fn ok_when_a_later_credential_of_the_pod_pulls_in_the_kubelets_order() {
    let ctx = TestContext::with_secret("team-a", "regcred");
    let token = ctx.tokens()[0].token.clone();
    let host = ctx.sandbox.urls().registry_host.clone();
    // Listed first, same key: the kubelet tries it first, is refused, then uses regcred.
    foreign_secret(
        &ctx,
        "stale",
        json!({&host: {"auth": auth("not-a-registry-token")}}),
    );
    let hello = image(&ctx, "demo/hello:v1");
    seed_pod(&ctx, "team-a", "web", &hello, &["stale", "regcred"], None);
    // A running pod is not failing: without a name or -l it is not diagnosed.
    let none = diagnose(&ctx, &[]).ok();
    assert_eq!(none.stdout, "", "{}", none.stderr);
    assert!(
        none.stderr
            .contains("No pod in namespace team-a fails to pull")
    );
    let run = diagnose(&ctx, &["-l", "app=web"]).ok();
    let row = &table(&run)[0];
    assert_eq!(row["POD"], "web");
    assert_eq!(row["VERDICT"], "OK", "{}", run.stdout);
    assert_eq!(row["SECRET"], "regcred");
    let items = items(&ctx, &["web"], &[&token]);
    let item = only(&items);
    assert_eq!(item["verdict"]["kind"], "ok");
    assert_eq!(item["broken"], false);
    let outcomes: Vec<(&str, &str)> = item["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["secret"].as_str().unwrap(),
                c["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [("stale", "credential-refused"), ("regcred", "found")]
    );
    let digest = ctx
        .sandbox
        .world
        .registry
        .digest("demo/hello", "v1")
        .unwrap();
    assert_eq!(item["verdict"]["digest"], digest.as_str());
}

/// Plant: a referenced secret that does not exist taken as no secret at all.
#[test]
fn a_referenced_secret_that_does_not_exist_is_created() {
    let ctx = TestContext::logged_in();
    let hello = image(&ctx, "demo/hello:v1");
    seed_pod(
        &ctx,
        "team-a",
        "web",
        &hello,
        &["regcred"],
        Some("ImagePullBackOff"),
    );
    seed_event(
        &ctx,
        "web",
        "FailedToRetrieveImagePullSecret",
        "Unable to retrieve some image pull secrets (regcred); attempting to pull the image may not succeed.",
    );
    seed_pod(&ctx, "team-a", "fine", "busybox", &[], None);
    // No waiting state reported yet, but the kubelet's Event says the pull failed.
    seed_pod(&ctx, "team-a", "quiet", &hello, &["regcred"], None);
    seed_event(&ctx, "quiet", "Failed", "Error: ErrImagePull");
    let run = diagnose(&ctx, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let table = table(&run);
    let pods: Vec<&str> = table.iter().map(|r| r["POD"].as_str()).collect();
    assert_eq!(
        pods,
        ["quiet", "web"],
        "only the failing pods: {}",
        run.stdout
    );
    for row in &table {
        assert_eq!(row["VERDICT"], "SecretMissing");
        assert_eq!(
            row["FIX"],
            "create it: `kubectl dedicated-registry secret create regcred -n team-a`"
        );
    }
    assert!(
        run.stderr
            .contains("error: 2 image(s) of 2 pod(s) cannot be pulled"),
        "{}",
        run.stderr
    );
    let items = items(&ctx, &["web"], &[]);
    let item = only(&items);
    assert_eq!(item["podSecrets"][0]["state"], "missing");
    assert_eq!(item["waiting"]["reason"], "ImagePullBackOff");
    assert_eq!(
        item["events"][0]["reason"],
        "FailedToRetrieveImagePullSecret"
    );
    assert_eq!(item["events"][0]["count"], 4);
    assert_eq!(item["verdict"]["secrets"], json!(["regcred"]));
}

/// Plant: the ServiceAccount's secrets ignored (only the pod's own references looked at).
#[test]
fn a_pod_older_than_its_service_accounts_secret_is_recreated() {
    let ctx = TestContext::logged_in();
    let hello = image(&ctx, "demo/hello:v1");
    // The pod was created first (listing no secret), then the ServiceAccount got one.
    seed_pod_with(
        &ctx,
        "team-a",
        "web",
        &[("app", &hello)],
        &[("setup", &image(&ctx, "demo/hello:latest"))],
        &[],
        Some("ErrImagePull"),
    );
    ctx.run(
        &[
            "-n",
            "team-a",
            "secret",
            "create",
            "regcred",
            "--service-account",
            "default",
        ],
        None,
    )
    .ok();
    let token = ctx.tokens()[0].token.clone();
    let run = diagnose(&ctx, &["web"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let table = table(&run);
    let containers: Vec<&str> = table.iter().map(|r| r["CONTAINER"].as_str()).collect();
    assert_eq!(containers, ["setup (init)", "app"], "init containers first");
    for row in &table {
        assert_eq!(row["VERDICT"], "PodPredatesSecret", "{}", run.stdout);
        assert_eq!(row["SECRET"], "regcred");
        assert!(
            row["FIX"].starts_with("recreate the pod: its ServiceAccount `default` has secret/regcred now, but the pod predates it (ServiceAccount admission copies imagePullSecrets only when a pod is created, and only when the pod lists none)"),
            "{}",
            row["FIX"]
        );
    }
    let items = items(&ctx, &["web"], &[&token]);
    assert_eq!(items.len(), 2);
    let app = &items[1];
    assert_eq!(app["podSecrets"], json!([]));
    assert_eq!(app["serviceAccountSecrets"][0]["name"], "regcred");
    assert_eq!(app["serviceAccountSecrets"][0]["managed"], true);
    assert_eq!(app["serviceAccountChecks"][0]["outcome"], "found");
    assert_eq!(app["verdict"]["podListsNone"], true);
}

/// Plant: the port rule ignored (a key without a port taken for the image's host and port).
#[test]
fn a_key_without_the_registrys_port_is_fixed_naming_the_port_rule() {
    let ctx = TestContext::with_secret("team-a", "regcred");
    let token = ctx.tokens()[0].token.clone();
    let host = ctx.sandbox.urls().registry_host.clone();
    let (name, _) = host.rsplit_once(':').unwrap();
    foreign_secret(&ctx, "noport", json!({name: {"auth": auth(&token)}}));
    let hello = image(&ctx, "demo/hello:v1");
    seed_pod(
        &ctx,
        "team-a",
        "web",
        &hello,
        &["noport"],
        Some("ImagePullBackOff"),
    );
    let run = diagnose(&ctx, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let row = &table(&run)[0];
    assert_eq!(row["VERDICT"], "KeyMismatch", "{}", run.stdout);
    assert!(
        row["FIX"].starts_with(&format!(
            "fix the key of secret/noport: the kubelet would not use it (key `{name}`: port differs"
        )),
        "{}",
        row["FIX"]
    );
    let items = items(&ctx, &[], &[&token]);
    let item = only(&items);
    assert_eq!(item["keys"][0]["rule"], "port");
    assert_eq!(item["keys"][0]["matched"], false);
    assert_eq!(item["checks"], json!([]));
}

/// Plant: a secret the kubelet cannot read taken as one without a matching key.
#[test]
fn a_secret_the_kubelet_cannot_read_is_replaced() {
    let ctx = TestContext::logged_in();
    let host = ctx.sandbox.urls().registry_host.clone();
    // base64 of text without `:`.
    foreign_secret(&ctx, "broken", json!({&host: {"auth": "bm8tY29sb24="}}));
    let hello = image(&ctx, "demo/hello:v1");
    seed_pod(
        &ctx,
        "team-a",
        "web",
        &hello,
        &["broken"],
        Some("ErrImagePull"),
    );
    let run = diagnose(&ctx, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let row = &table(&run)[0];
    assert_eq!(row["VERDICT"], "SecretUnreadable", "{}", run.stdout);
    assert!(row["FIX"].contains("`auth` decodes to text without `:`"));
    assert!(row["FIX"].ends_with(
        "so every pull of the pod fails; replace it: `kubectl dedicated-registry secret create broken -n team-a --overwrite`"
    ));
    let item = items(&ctx, &[], &[]);
    assert_eq!(only(&item)["podSecrets"][0]["state"], "malformed");
}

/// Plant: the registry's reason dropped from a refusal.
#[test]
fn a_refused_credential_says_what_the_registry_said_and_rotates() {
    let ctx = TestContext::with_secret("team-a", "regcred");
    let token = ctx.tokens()[0].token.clone();
    let id = ctx.tokens()[0].id.clone();
    assert!(ctx.sandbox.world.registry.revoke(&id));
    let hello = image(&ctx, "demo/hello:v1");
    seed_pod(
        &ctx,
        "team-a",
        "web",
        &hello,
        &["regcred"],
        Some("ImagePullBackOff"),
    );
    let run = diagnose(&ctx, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.leaks_none(&[&token, seed::ALICE_PASSWORD]);
    let row = &table(&run)[0];
    assert_eq!(row["VERDICT"], "CredentialRefused", "{}", run.stdout);
    assert_eq!(
        row["FIX"],
        "the registry refuses the credential of secret/regcred (HTTP 401: \"registry token revoked\"); give it a new one: `kubectl dedicated-registry secret rotate regcred -n team-a`"
    );
    let items = items(&ctx, &[], &[&token]);
    let item = only(&items);
    assert_eq!(item["checks"][0]["reason"], "registry token revoked");
    assert_eq!(item["podSecrets"][0]["tokenId"], id.as_str());
    assert_eq!(item["checks"][0]["username"], "token");
}

/// Plant: the nearest tags not looked up.
#[test]
fn a_tag_that_does_not_exist_names_the_nearest_tags() {
    let ctx = TestContext::with_secret("team-a", "regcred");
    let nope = image(&ctx, "demo/hello:v1.0");
    seed_pod(
        &ctx,
        "team-a",
        "web",
        &nope,
        &["regcred"],
        Some("ErrImagePull"),
    );
    let run = diagnose(&ctx, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let row = &table(&run)[0];
    assert_eq!(row["VERDICT"], "TagNotFound", "{}", run.stdout);
    assert_eq!(
        row["FIX"],
        "tag `v1.0` does not exist (nearest existing tags: v1, latest): fix the image"
    );
    let items = items(&ctx, &[], &[]);
    assert_eq!(only(&items)["verdict"]["nearest"], json!(["v1", "latest"]));
}

/// Plant: a repository of another org's namespace taken for a refused credential.
#[test]
fn a_repository_the_credential_may_not_pull_is_not_authorized() {
    let ctx = TestContext::with_secret("team-a", "regcred");
    let tools = image(&ctx, "ops/tools:1.0");
    seed_pod(
        &ctx,
        "team-a",
        "web",
        &tools,
        &["regcred"],
        Some("ErrImagePull"),
    );
    let run = diagnose(&ctx, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let row = &table(&run)[0];
    assert_eq!(row["VERDICT"], "NotAuthorized", "{}", run.stdout);
    assert!(
        row["FIX"]
            .starts_with("the credential of secret/regcred may not pull `ops/tools` (HTTP 401)"),
        "{}",
        row["FIX"]
    );
}

/// Plant: a connection that fails taken as an unexpected answer.
#[test]
fn a_registry_that_cannot_be_reached_is_unreachable() {
    let ctx = TestContext::logged_in();
    // A listener that drops every connection: the TLS handshake fails, nothing answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    let host = format!("127.0.0.1:{port}");
    foreign_secret(&ctx, "elsewhere", json!({&host: {"auth": auth("x")}}));
    seed_pod(
        &ctx,
        "team-a",
        "web",
        &format!("{host}/team/app:1"),
        &["elsewhere"],
        Some("ErrImagePull"),
    );
    let run = diagnose(&ctx, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let row = &table(&run)[0];
    assert_eq!(row["VERDICT"], "RegistryUnreachable", "{}", run.stdout);
    assert!(
        row["FIX"].starts_with("the registry cannot be reached from here"),
        "{}",
        row["FIX"]
    );
}

/// `-A` over a namespace being terminated: one "skipped" line, its pods not read, exit 0 when
/// nothing else is broken. Plant: the Terminating namespace diagnosed like any other.
#[test]
fn all_namespaces_skips_a_terminating_namespace_in_one_line() {
    let ctx = TestContext::with_secret("team-a", "regcred");
    crate::common::namespaces(&ctx, &["fleet-2"]);
    let hello = image(&ctx, "demo/hello:v1");
    // Recovered: the secret exists now, the kubelet's back-off will retry.
    seed_pod(
        &ctx,
        "team-a",
        "web",
        &hello,
        &["regcred"],
        Some("ImagePullBackOff"),
    );
    seed_pod(
        &ctx,
        "fleet-2",
        "gone",
        &hello,
        &["nosuch"],
        Some("ImagePullBackOff"),
    );
    assert!(ctx.sandbox.world.kube.terminate_namespace("fleet-2"));
    ctx.sandbox.journal().clear();
    let run = ctx.run(&["diagnose", "pod", "-A"], None).ok();
    let skipped: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(" skipped: "))
        .collect();
    assert_eq!(
        skipped,
        [
            "namespace fleet-2 skipped: it is being terminated (phase Terminating); its pods were not diagnosed"
        ]
    );
    let table = table(&run);
    assert_eq!(table.len(), 1, "{}", run.stdout);
    assert_eq!(table[0]["NAMESPACE"], "team-a");
    assert_eq!(table[0]["VERDICT"], "OK");
    assert!(
        table[0]["FIX"].contains("the kubelet retries within 5 minutes"),
        "{}",
        table[0]["FIX"]
    );
    let touched = ctx
        .sandbox
        .journal()
        .entries()
        .iter()
        .any(|e| e.path.starts_with("/api/v1/namespaces/fleet-2/"));
    assert!(!touched, "nothing read in the Terminating namespace");
}

/// Plant: a missing repository taken for a missing tag.
#[test]
fn a_repository_that_does_not_exist_points_at_the_image_list() {
    let ctx = TestContext::with_secret("team-a", "regcred");
    let helo = image(&ctx, "demo/helo:v1");
    seed_pod(
        &ctx,
        "team-a",
        "web",
        &helo,
        &["regcred"],
        Some("ErrImagePull"),
    );
    let run = diagnose(&ctx, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let row = &table(&run)[0];
    assert_eq!(row["VERDICT"], "RepositoryNotFound", "{}", run.stdout);
    assert_eq!(
        row["FIX"],
        "repository `demo/helo` does not exist: fix the image (`kubectl dedicated-registry image list` shows the images)"
    );
}

/// Neither the pod nor its ServiceAccount has a pull secret; an image name the kubelet cannot
/// parse is said so. Plant: the ServiceAccount's name taken as `default` whatever the pod says.
#[test]
fn no_pull_secret_anywhere_and_an_invalid_image_name() {
    let ctx = TestContext::logged_in();
    let hello = image(&ctx, "demo/hello:v1");
    ctx.kubectl(&["-n", "team-a", "create", "serviceaccount", "builder"])
        .ok();
    seed_pod_with(
        &ctx,
        "team-a",
        "web",
        &[("app", &hello), ("bad", "Demo/Hello")],
        &[],
        &[],
        Some("ErrImagePull"),
    );
    let mut pod = ctx.sandbox.world.kube.get("team-a", "pods", "web").unwrap();
    pod["spec"]["serviceAccountName"] = json!("builder");
    ctx.sandbox.world.kube.put_raw(pod);
    let run = diagnose(&ctx, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let table = table(&run);
    assert_eq!(table[0]["VERDICT"], "NoPullSecret", "{}", run.stdout);
    assert_eq!(table[0]["SECRET"], "<none>");
    assert_eq!(
        table[0]["FIX"],
        "no pull secret for this registry: create one and give it to the ServiceAccount (`kubectl dedicated-registry secret create dedicated-registry -n team-a --service-account builder`), then recreate the pod"
    );
    assert_eq!(table[1]["VERDICT"], "InvalidImageName");
    assert!(
        table[1]["FIX"].contains("must be lowercase"),
        "{}",
        table[1]["FIX"]
    );
    assert!(
        run.stderr.contains("2 image(s) of 1 pod(s)"),
        "{}",
        run.stderr
    );
}

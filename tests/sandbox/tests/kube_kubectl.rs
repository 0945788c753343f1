//! The real kubectl (1.36) against the emulated Kubernetes API server.
//!
//! kubectl comes from `$KUBECTL`, else `kubectl` on PATH, which must then report v1.36 (see
//! `shared/docs/test-environment.md` §2.2 for installing it). A missing kubectl fails the test.

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use dedicated_sandbox::Sandbox;
use serde_json::Value;

/// The kubectl binary to use.
fn kubectl_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KUBECTL") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "KUBECTL={} does not exist; install kubectl 1.36 (test-environment.md §2.2)",
            path.display()
        );
        return path;
    }
    let output = std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .unwrap_or_else(|e| {
            panic!("KUBECTL is unset and `kubectl` is not on PATH ({e}); set KUBECTL to a kubectl 1.36 binary (test-environment.md §2.2)")
        });
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("Client Version: v1.36"),
        "KUBECTL is unset and `kubectl` on PATH is not v1.36 ({text}); set KUBECTL to a kubectl 1.36 binary"
    );
    PathBuf::from("kubectl")
}

/// Runs kubectl against one sandbox with an isolated HOME (kubectl caches discovery there).
struct Kubectl {
    binary: PathBuf,
    kubeconfig: PathBuf,
    home: PathBuf,
}

impl Kubectl {
    fn new(sandbox: &Sandbox) -> Kubectl {
        let home = sandbox
            .dir()
            .join(format!("home-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&home).expect("temp HOME");
        Kubectl {
            binary: kubectl_binary(),
            kubeconfig: sandbox.kubeconfig_path(),
            home,
        }
    }

    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        cmd.env("HOME", &self.home).env_remove("KUBECONFIG");
        for var in [
            "http_proxy",
            "https_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
            "no_proxy",
            "NO_PROXY",
        ] {
            cmd.env_remove(var);
        }
        cmd.stdin(std::process::Stdio::null());
        cmd.output().await.expect("kubectl runs")
    }

    /// Runs kubectl and asserts success; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 stdout")
    }

    /// Runs kubectl and asserts failure; returns stderr.
    async fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            !out.status.success(),
            "kubectl {args:?} unexpectedly succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).expect("UTF-8 stderr")
    }
}

async fn start() -> (Sandbox, Kubectl) {
    let sandbox = Sandbox::start().await.expect("sandbox starts");
    let kubectl = Kubectl::new(&sandbox);
    (sandbox, kubectl)
}

fn rv(obj: &Value) -> String {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .expect("resourceVersion")
        .to_string()
}

/// `kubectl -n <ns> create secret generic <name> <literal>` arguments.
fn create_generic_secret<'a>(ns: &'a str, name: &'a str, literal: &'a str) -> [&'a str; 7] {
    ["-n", ns, "create", "secret", "generic", name, literal]
}

/// `kubectl -n team-a create secret docker-registry <name> <flags…>` arguments.
fn create_docker_registry_secret<'a>(name: &'a str, flags: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["-n", "team-a", "create", "secret", "docker-registry", name];
    args.extend_from_slice(flags);
    args
}

/// `kubectl apply --server-side -f <manifest>` arguments.
fn apply_server_side_args(manifest: &str) -> [&str; 4] {
    ["apply", "--server-side", "-f", manifest]
}

/// `args` run as the kubeconfig context `context`.
fn in_context<'a>(context: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--context", context];
    all.extend_from_slice(args);
    all
}

/// The (manager, operation) pairs of an object's managedFields, in order.
fn managers(object: &Value) -> Vec<(&str, &str)> {
    object["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["manager"].as_str().unwrap(),
                m["operation"].as_str().unwrap(),
            )
        })
        .collect()
}

/// Whether the sandbox stores the secret `ns/name`.
fn secret_stored(sandbox: &Sandbox, ns: &str, name: &str) -> bool {
    sandbox.world.kube.get(ns, "secrets", name).is_some()
}

/// The whitespace-separated cells of a table's first data row.
fn first_row(table: &str) -> Vec<&str> {
    table
        .lines()
        .nth(1)
        .expect("row")
        .split_whitespace()
        .collect()
}

/// Asserts that kubectl's output (usually stderr) contains `needle`.
fn assert_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn get_namespaces_and_service_accounts() {
    let (_sandbox, kubectl) = start().await;
    let table = kubectl.ok(&["get", "ns"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "STATUS", "AGE"]
    );
    for ns in ["default", "kube-system", "team-a", "team-b"] {
        assert!(
            lines
                .iter()
                .any(|l| l.split_whitespace().take(2).eq([ns, "Active"])),
            "{ns} missing from:\n{table}"
        );
    }
    let list: Value = serde_json::from_str(&kubectl.ok(&["get", "namespaces", "-o", "json"]).await)
        .expect("JSON list");
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["metadata"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["default", "kube-system", "team-a", "team-b"]);
    let sas = kubectl.ok(&["-n", "team-a", "get", "sa"]).await;
    assert!(
        sas.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("default ")),
        "{sas}"
    );
    let by_label = kubectl
        .ok(&[
            "get",
            "ns",
            "-l",
            "kubernetes.io/metadata.name=team-b",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(by_label, "namespace/team-b\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_docker_registry_secret_then_get_it() {
    let (sandbox, kubectl) = start().await;
    let out = kubectl
        .ok(&create_docker_registry_secret(
            "pull",
            &[
                "--docker-server=registry.sandbox.dedicated.test",
                "--docker-username=token",
                "--docker-password=registry-token-value",
                "--docker-email=alice@example.com",
            ],
        ))
        .await;
    assert_eq!(out, "secret/pull created\n");

    // kubectl sent protobuf; the server decoded it.
    let post = sandbox
        .journal()
        .entries()
        .into_iter()
        .find(|e| e.method == "POST" && e.path == "/api/v1/namespaces/team-a/secrets")
        .expect("POST recorded");
    assert_eq!(
        post.header("content-type"),
        Some("application/vnd.kubernetes.protobuf")
    );
    assert_eq!(post.query_param("fieldManager"), Some("kubectl-create"));

    let secret: Value = serde_json::from_str(
        &kubectl
            .ok(&["-n", "team-a", "get", "secret", "pull", "-o", "json"])
            .await,
    )
    .expect("secret JSON");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(secret["data"][".dockerconfigjson"].as_str().expect("data"))
        .expect("base64");
    let auth = base64::engine::general_purpose::STANDARD.encode("token:registry-token-value");
    let expected = format!(
        r#"{{"auths":{{"registry.sandbox.dedicated.test":{{"username":"token","password":"registry-token-value","email":"alice@example.com","auth":"{auth}"}}}}}}"#
    );
    assert_eq!(String::from_utf8(bytes.clone()).expect("UTF-8"), expected);
    let stored = sandbox
        .world
        .kube
        .secret_data("team-a", "pull")
        .expect("stored");
    assert_eq!(stored[".dockerconfigjson"], bytes);
    let object = sandbox
        .world
        .kube
        .get("team-a", "secrets", "pull")
        .expect("stored");
    assert_eq!(managers(&object)[0], ("kubectl-create", "Update"));

    let err = kubectl
        .fails(&create_generic_secret(
            "team-a",
            "pull",
            "--from-literal=a=b",
        ))
        .await;
    assert_contains(&err, r#"secrets "pull" already exists"#);

    // Table output carries the type and the number of keys.
    let table = kubectl.ok(&["-n", "team-a", "get", "secrets"]).await;
    let row = first_row(&table);
    assert_eq!(&row[..3], ["pull", "kubernetes.io/dockerconfigjson", "1"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_dry_run_create_stores_nothing() {
    let (sandbox, kubectl) = start().await;
    let before = sandbox.world.kube.resource_version();
    let out = kubectl
        .ok(&create_docker_registry_secret(
            "dry",
            &[
                "--docker-server=registry.example",
                "--docker-username=token",
                "--docker-password=pw",
                "--docker-email=a@example.com",
                "--dry-run=server",
                "-o",
                "json",
            ],
        ))
        .await;
    let secret: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(secret["metadata"]["name"], "dry");
    assert!(secret["metadata"]["uid"].is_string());
    assert!(!secret_stored(&sandbox, "team-a", "dry"));
    assert_eq!(sandbox.world.kube.resource_version(), before);
    let err = kubectl
        .fails(&["-n", "team-a", "get", "secret", "dry"])
        .await;
    assert_contains(&err, r#"secrets "dry" not found"#);
}

const MANIFEST: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: app-config
  namespace: team-a
  labels:
    app: demo
type: Opaque
stringData:
  password: hunter2
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: team-a
  labels:
    app: demo
spec:
  imagePullSecrets:
  - name: pull
  containers:
  - name: web
    image: registry.sandbox.dedicated.test/demo/hello:v1
";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("manifest written");
    path.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_server_side() {
    let (sandbox, kubectl) = start().await;
    let kube = &sandbox.world.kube;
    let manifest = write(sandbox.dir(), "m.yaml", MANIFEST);

    // --dry-run=server first: nothing is written.
    let out = kubectl
        .ok(&[
            "apply",
            "--server-side",
            "--dry-run=server",
            "-f",
            &manifest,
        ])
        .await;
    assert!(
        out.contains("secret/app-config serverside-applied (server dry run)"),
        "{out}"
    );
    assert!(kube.get("team-a", "secrets", "app-config").is_none());
    assert!(kube.get("team-a", "pods", "web").is_none());

    let out = kubectl.ok(&apply_server_side_args(&manifest)).await;
    assert_eq!(
        out,
        "secret/app-config serverside-applied\npod/web serverside-applied\n"
    );
    let secret = kube.get("team-a", "secrets", "app-config").expect("secret");
    assert_eq!(
        kube.secret_data("team-a", "app-config").expect("data")["password"],
        b"hunter2"
    );
    assert!(secret.get("stringData").is_none());
    let managed = &secret["metadata"]["managedFields"][0];
    assert_eq!(managed["manager"], "kubectl");
    assert_eq!(managed["operation"], "Apply");
    assert!(
        managed["fieldsV1"]["f:data"]["f:password"].is_object(),
        "{managed}"
    );
    let pod = kube.get("team-a", "pods", "web").expect("pod");
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["metadata"]["generation"], 1);

    // Re-applying the same manifest changes nothing, not even managedFields times.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    kubectl.ok(&apply_server_side_args(&manifest)).await;
    assert_eq!(
        rv(&kube.get("team-a", "secrets", "app-config").unwrap()),
        rv(&secret)
    );
    assert_eq!(rv(&kube.get("team-a", "pods", "web").unwrap()), rv(&pod));

    // A changed manifest is applied; the dropped label is removed.
    let changed = MANIFEST
        .replacen(
            "  labels:\n    app: demo\ntype",
            "  labels:\n    tier: web\ntype",
            1,
        )
        .replace("hunter2", "correct-horse");
    let manifest2 = write(sandbox.dir(), "m2.yaml", &changed);
    kubectl.ok(&apply_server_side_args(&manifest2)).await;
    let secret2 = kube.get("team-a", "secrets", "app-config").expect("secret");
    assert_ne!(rv(&secret2), rv(&secret));
    assert_eq!(
        secret2["metadata"]["labels"],
        serde_json::json!({"tier": "web"})
    );
    assert_eq!(
        kube.secret_data("team-a", "app-config").unwrap()["password"],
        b"correct-horse"
    );

    // The pod listing shows the server-side table.
    let pods = kubectl
        .ok(&["-n", "team-a", "get", "pods", "-l", "app=demo"])
        .await;
    let row = first_row(&pods);
    assert_eq!(&row[..4], ["web", "0/1", "Pending", "0"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_secret() {
    let (sandbox, kubectl) = start().await;
    kubectl
        .ok(&create_generic_secret(
            "team-a",
            "gone",
            "--from-literal=k=v",
        ))
        .await;
    assert!(secret_stored(&sandbox, "team-a", "gone"));
    let out = kubectl
        .ok(&["-n", "team-a", "delete", "secret", "gone"])
        .await;
    assert!(out.starts_with(r#"secret "gone" deleted"#), "{out}");
    assert!(!secret_stored(&sandbox, "team-a", "gone"));
    let err = kubectl
        .fails(&["-n", "team-a", "delete", "secret", "gone"])
        .await;
    assert_contains(&err, r#"secrets "gone" not found"#);
}

#[tokio::test(flavor = "multi_thread")]
async fn rbac_denials_and_bad_tokens() {
    let (sandbox, kubectl) = start().await;
    let err = kubectl
        .fails(&in_context(
            "sandbox-dev",
            &create_generic_secret("team-b", "x", "--from-literal=a=b"),
        ))
        .await;
    assert_contains(
        &err,
        r#"secrets is forbidden: User "sandbox-dev" cannot create resource "secrets" in API group "" in the namespace "team-b""#,
    );
    assert!(!secret_stored(&sandbox, "team-b", "x"));
    // The same user may work in team-a.
    kubectl
        .ok(&in_context(
            "sandbox-dev",
            &["create", "secret", "generic", "x", "--from-literal=a=b"],
        ))
        .await;
    assert!(secret_stored(&sandbox, "team-a", "x"));

    let err = kubectl
        .fails(&in_context(
            "sandbox-viewer",
            &["-n", "team-a", "delete", "secret", "x"],
        ))
        .await;
    assert_contains(
        &err,
        r#"secrets "x" is forbidden: User "sandbox-viewer" cannot delete resource "secrets" in API group "" in the namespace "team-a""#,
    );

    // The admin may impersonate; the impersonated user's rules apply.
    let err = kubectl
        .fails(&["--as", "sandbox-dev", "-n", "team-b", "get", "secrets"])
        .await;
    assert_contains(
        &err,
        r#"User "sandbox-dev" cannot list resource "secrets" in API group "" in the namespace "team-b""#,
    );
    let err = kubectl
        .fails(&in_context(
            "sandbox-dev",
            &["--as", "sandbox-admin", "get", "ns"],
        ))
        .await;
    assert_contains(&err, r#"cannot impersonate resource "users""#);

    // `kubectl auth can-i` asks the server (SelfSubjectAccessReview).
    let yes = kubectl
        .ok(&in_context(
            "sandbox-dev",
            &["auth", "can-i", "create", "secrets"],
        ))
        .await;
    assert_eq!(yes, "yes\n");
    let no = kubectl
        .run(&in_context(
            "sandbox-dev",
            &["auth", "can-i", "create", "secrets", "-n", "team-b"],
        ))
        .await;
    assert_eq!(
        (no.status.code(), no.stdout.as_slice()),
        (Some(1), b"no\n".as_slice())
    );

    let err = kubectl
        .fails(&["--token", "not-a-token", "get", "ns"])
        .await;
    assert_contains(&err, "You must be logged in to the server (Unauthorized)");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_names_are_rejected() {
    let (_sandbox, kubectl) = start().await;
    let err = kubectl
        .fails(&create_generic_secret(
            "team-a",
            "Bad_Name",
            "--from-literal=a=b",
        ))
        .await;
    assert_contains(
        &err,
        r#"Secret "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of"#,
    );
    let err = kubectl.fails(&["create", "namespace", "a.b"]).await;
    assert_contains(
        &err,
        r#"Namespace "a.b" is invalid: metadata.name: Invalid value: "a.b": a lowercase RFC 1123 label must consist of"#,
    );
    let err = kubectl
        .fails(&create_generic_secret("nowhere", "s", "--from-literal=a=b"))
        .await;
    assert_contains(&err, r#"namespaces "nowhere" not found"#);
    kubectl.ok(&["create", "namespace", "team-c"]).await;
    let sa = kubectl
        .ok(&["-n", "team-c", "get", "sa", "default", "-o", "name"])
        .await;
    assert_eq!(sa, "serviceaccount/default\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_conflicts_with_kubectl_create_until_forced() {
    let (sandbox, kubectl) = start().await;
    kubectl
        .ok(&create_generic_secret(
            "team-a",
            "shared",
            "--from-literal=key=created",
        ))
        .await;
    let manifest = write(
        sandbox.dir(),
        "shared.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shared\n  namespace: team-a\nstringData:\n  key: applied\n",
    );
    let err = kubectl.fails(&apply_server_side_args(&manifest)).await;
    assert_contains(
        &err,
        r#"Apply failed with 1 conflict: conflict with "kubectl-create" using v1: .data.key"#,
    );
    assert_eq!(
        sandbox.world.kube.secret_data("team-a", "shared").unwrap()["key"],
        b"created"
    );
    kubectl
        .ok(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &manifest,
        ])
        .await;
    assert_eq!(
        sandbox.world.kube.secret_data("team-a", "shared").unwrap()["key"],
        b"applied"
    );
    let secret = sandbox
        .world
        .kube
        .get("team-a", "secrets", "shared")
        .unwrap();
    // kubectl-create keeps `type`; kubectl (Apply) now owns the key.
    assert_eq!(
        managers(&secret),
        [("kubectl-create", "Update"), ("kubectl", "Apply")]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn client_side_apply_patch_and_strict_validation() {
    let (sandbox, kubectl) = start().await;
    let kube = &sandbox.world.kube;
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: cp\n  namespace: team-a\nspec:\n  containers:\n  - name: a\n    image: busybox:1\n    env:\n    - name: X\n      value: \"1\"\n  - name: b\n    image: busybox:1\n";
    let first = write(sandbox.dir(), "cp.yaml", pod);
    assert_eq!(
        kubectl.ok(&["apply", "-f", &first]).await,
        "pod/cp created\n"
    );
    let second = write(
        sandbox.dir(),
        "cp2.yaml",
        &pod.replacen("busybox:1", "busybox:2", 1),
    );
    assert_eq!(
        kubectl.ok(&["apply", "-f", &second]).await,
        "pod/cp configured\n"
    );
    let stored = kube.get("team-a", "pods", "cp").expect("pod");
    // The strategic merge patch kept container b and a's env.
    assert_eq!(stored["spec"]["containers"][0]["image"], "busybox:2");
    assert_eq!(stored["spec"]["containers"][0]["env"][0]["name"], "X");
    assert_eq!(stored["spec"]["containers"][1]["image"], "busybox:1");
    assert_eq!(stored["metadata"]["generation"], 2);
    assert_eq!(
        kubectl.ok(&["apply", "-f", &second]).await,
        "pod/cp unchanged\n"
    );

    kubectl
        .ok(&["-n", "team-a", "set", "image", "pod/cp", "b=busybox:3"])
        .await;
    assert_eq!(
        kube.get("team-a", "pods", "cp").unwrap()["spec"]["containers"][1]["image"],
        "busybox:3"
    );
    kubectl
        .ok(&["-n", "team-a", "label", "pod", "cp", "tier=web"])
        .await;
    let out = kubectl
        .ok(&[
            "-n", "team-a", "get", "pods", "-l", "tier=web", "-o", "name",
        ])
        .await;
    assert_eq!(out, "pod/cp\n");

    let bad = write(
        sandbox.dir(),
        "bad.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bad\n  namespace: team-a\nspec:\n  x: 1\n",
    );
    let err = kubectl.fails(&["create", "-f", &bad]).await;
    assert_contains(
        &err,
        r#"Secret in version "v1" cannot be handled as a Secret: strict decoding error: unknown field "spec""#,
    );
    assert!(kube.get("team-a", "secrets", "bad").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn get_leases_and_events_of_the_named_groups() {
    let (sandbox, kubectl) = start().await;
    sandbox.world.kube.put_raw(serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "controller-leader", "namespace": "team-a"},
        "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15,
            "renewTime": "2026-12-07T20:45:27.123456Z", "leaseTransitions": 1}
    }));
    sandbox.world.kube.put_raw(serde_json::json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "pull.187f", "namespace": "team-b"},
        "eventTime": "2026-12-07T20:45:27.123456Z", "reportingController": "dedicated-registry",
        "reportingInstance": "pod-a", "action": "Mint", "reason": "MintFailed", "type": "Warning",
        "note": "the registry refused", "regarding": {"kind": "Secret", "namespace": "team-b", "name": "pull"}
    }));
    let table = kubectl.ok(&["get", "leases", "-n", "team-a"]).await;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "HOLDER", "AGE"], "{table}");
    assert_eq!(
        first_row(&table)[..2],
        ["controller-leader", "pod-a"],
        "{table}"
    );
    let lease: Value = serde_json::from_str(
        &kubectl
            .ok(&[
                "get",
                "lease",
                "controller-leader",
                "-n",
                "team-a",
                "-o",
                "json",
            ])
            .await,
    )
    .expect("JSON");
    assert_eq!(lease["apiVersion"], "coordination.k8s.io/v1");
    assert_eq!(lease["spec"]["renewTime"], "2026-12-07T20:45:27.123456Z");
    let events = kubectl.ok(&["get", "events.events.k8s.io", "-A"]).await;
    let header: Vec<&str> = events.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAMESPACE",
            "LAST",
            "SEEN",
            "TYPE",
            "REASON",
            "OBJECT",
            "MESSAGE"
        ],
        "{events}"
    );
    let row = first_row(&events);
    assert_eq!(row[0], "team-b", "{events}");
    assert_eq!(
        row[2..5],
        ["Warning", "MintFailed", "secret/pull"],
        "{events}"
    );
    assert!(events.contains("the registry refused"), "{events}");
    // RBAC per group: the dev user's rules name core resources only.
    let no = kubectl
        .run(&in_context(
            "sandbox-dev",
            &[
                "auth",
                "can-i",
                "get",
                "leases.coordination.k8s.io",
                "-n",
                "team-a",
            ],
        ))
        .await;
    assert_eq!(String::from_utf8_lossy(&no.stdout).trim(), "no");
    let denied = kubectl
        .fails(&in_context(
            "sandbox-dev",
            &["get", "leases", "-n", "team-a"],
        ))
        .await;
    assert_contains(
        &denied,
        "leases.coordination.k8s.io is forbidden: User \"sandbox-dev\" cannot list resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"team-a\"",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn create_and_apply_leases_without_disabling_validation() {
    let (sandbox, kubectl) = start().await;
    let lease = |holder: &str| {
        format!(
            "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: demo\n  namespace: team-a\nspec:\n  holderIdentity: {holder}\n  leaseDurationSeconds: 10\n  renewTime: \"2026-12-07T20:45:27.123456Z\"\n"
        )
    };
    let mine = write(sandbox.dir(), "lease.yaml", &lease("me"));
    let out = kubectl.ok(&apply_server_side_args(&mine)).await;
    assert_contains(&out, "lease.coordination.k8s.io/demo serverside-applied");
    let view = sandbox.world.kube.lease("team-a", "demo").expect("lease");
    assert_eq!(view.holder.as_deref(), Some("me"));
    assert_eq!(view.managers, ["kubectl"]);
    let theirs = write(sandbox.dir(), "other.yaml", &lease("other"));
    let mut args = apply_server_side_args(&theirs).to_vec();
    args.push("--field-manager=other");
    let err = kubectl.fails(&args).await;
    assert_contains(
        &err,
        "Apply failed with 1 conflict: conflict with \"kubectl\": .spec.holderIdentity",
    );
    args.push("--force-conflicts");
    kubectl.ok(&args).await;
    let view = sandbox.world.kube.lease("team-a", "demo").unwrap();
    assert_eq!(view.holder.as_deref(), Some("other"));
    kubectl
        .ok(&["delete", "lease", "demo", "-n", "team-a"])
        .await;
    let out = kubectl.ok(&["create", "-f", &mine]).await;
    assert_contains(&out, "lease.coordination.k8s.io/demo created");
}

#[tokio::test(flavor = "multi_thread")]
async fn config_maps_and_core_events_with_kubectl() {
    let (sandbox, kubectl) = start().await;
    // A typed create (protobuf body), then the table and a dry run that stores nothing.
    let out = kubectl
        .ok(&[
            "-n",
            "team-a",
            "create",
            "configmap",
            "settings",
            "--from-literal=mode=fast",
            "--from-literal=level=2",
        ])
        .await;
    assert_contains(&out, "configmap/settings created");
    let cm = sandbox
        .world
        .kube
        .get("team-a", "configmaps", "settings")
        .expect("stored");
    assert_eq!(
        cm["data"],
        serde_json::json!({"level": "2", "mode": "fast"})
    );
    let table = kubectl.ok(&["-n", "team-a", "get", "cm"]).await;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "DATA", "AGE"], "{table}");
    assert_eq!(first_row(&table)[..2], ["settings", "2"], "{table}");
    let out = kubectl
        .ok(&[
            "-n",
            "team-a",
            "create",
            "configmap",
            "other",
            "--from-literal=a=b",
            "--dry-run=server",
        ])
        .await;
    assert_contains(&out, "configmap/other created (server dry run)");
    assert!(
        sandbox
            .world
            .kube
            .get("team-a", "configmaps", "other")
            .is_none()
    );
    // Core events: `kubectl get events` and `kubectl describe pod` show them.
    sandbox.world.kube.put_raw(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "team-a"},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]}
    }));
    let uid = sandbox.world.kube.get("team-a", "pods", "web").unwrap()["metadata"]["uid"].clone();
    sandbox.world.kube.put_raw(serde_json::json!({
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.187f", "namespace": "team-a"},
        "involvedObject": {"kind": "Pod", "namespace": "team-a", "name": "web", "uid": uid,
            "apiVersion": "v1", "fieldPath": "spec.containers{app}"},
        "reason": "Failed", "type": "Warning", "count": 4,
        "message": "Failed to pull image \"registry.example/app:1\": unauthorized",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-12-07T09:00:00Z", "lastTimestamp": "2026-12-07T09:05:00Z"
    }));
    let events = kubectl.ok(&["-n", "team-a", "get", "events"]).await;
    let header: Vec<&str> = events.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        "{events}"
    );
    assert_eq!(
        first_row(&events)[1..4],
        ["Warning", "Failed", "pod/web"],
        "{events}"
    );
    let described = kubectl
        .ok(&["-n", "team-a", "describe", "pod", "web"])
        .await;
    assert!(
        described.contains("Warning  Failed") && described.contains("unauthorized"),
        "{described}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rollout_restart_and_get_of_a_deployment() {
    let (sandbox, kubectl) = start().await;
    let manifest = write(
        sandbox.dir(),
        "deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: team-a\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: app\n          image: registry.example/app:1\n",
    );
    let out = kubectl.ok(&["apply", "-f", &manifest]).await;
    assert_contains(&out, "deployment.apps/web created");
    let out = kubectl
        .ok(&["-n", "team-a", "rollout", "restart", "deployment/web"])
        .await;
    assert_contains(&out, "deployment.apps/web restarted");
    let stored = sandbox
        .world
        .kube
        .get("team-a", "deployments.apps", "web")
        .expect("stored");
    let restarted =
        &stored["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"];
    assert!(restarted.is_string(), "{stored}");
    assert_eq!(stored["metadata"]["generation"], 2);
    let managers: Vec<&str> = managers(&stored).into_iter().map(|(m, _)| m).collect();
    assert!(managers.contains(&"kubectl-rollout"), "{managers:?}");
    let table = kubectl
        .ok(&["-n", "team-a", "get", "deploy", "-o", "wide"])
        .await;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ],
        "{table}"
    );
    let row = first_row(&table);
    assert_eq!(
        [row[0], row[1], row[5], row[6], row[7]],
        ["web", "0/2", "app", "registry.example/app:1", "app=web"],
        "{table}"
    );
    // A selector that does not match the template is refused as the real server says it.
    let bad = write(
        sandbox.dir(),
        "bad.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\n  namespace: team-a\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: api}\n    spec:\n      containers:\n        - name: app\n          image: registry.example/app:1\n",
    );
    let err = kubectl.fails(&["apply", "-f", &bad]).await;
    assert_contains(
        &err,
        "The Deployment \"bad\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"api\"}: `selector` does not match template `labels`",
    );
}

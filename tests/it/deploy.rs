//! The shipped manifests (`deploy/`) applied with the real kubectl 1.36 to the sandbox, which
//! serves every kind they use (apps/v1, rbac.authorization.k8s.io/v1,
//! admissionregistration.k8s.io/v1, core ConfigMaps): a server-side dry run of the base and of
//! both overlays is accepted object by object and stores nothing; a real apply stores them,
//! a second apply changes nothing, and `kubectl get` lists them.
//!
//! The sandbox is seeded with the controller's namespace: a server-side dry run cannot create
//! a namespace and then objects in it (NamespaceLifecycle finds no namespace, as on a real
//! cluster), so the Namespace object is `configured`, every other object `created`.

use std::path::PathBuf;

use dedicated_sandbox::SandboxConfig;

use crate::common::TestContext;

const NS: &str = "kubectl-dedicated-registry";

fn context() -> TestContext {
    let mut config = SandboxConfig::default();
    config.namespaces.push(NS.into());
    TestContext::with_config(config)
}

fn kustomization(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

/// The objects of every kustomization, as kubectl names them.
const BASE: &[&str] = &[
    "namespace/kubectl-dedicated-registry",
    "serviceaccount/kubectl-dedicated-registry",
    "role.rbac.authorization.k8s.io/kubectl-dedicated-registry-leader-election",
    "clusterrole.rbac.authorization.k8s.io/kubectl-dedicated-registry-controller",
    "rolebinding.rbac.authorization.k8s.io/kubectl-dedicated-registry-leader-election",
    "clusterrolebinding.rbac.authorization.k8s.io/kubectl-dedicated-registry-controller",
    "configmap/kubectl-dedicated-registry-config-",
    "deployment.apps/kubectl-dedicated-registry-controller",
    "validatingadmissionpolicy.admissionregistration.k8s.io/kubectl-dedicated-registry-secret-writes",
    "validatingadmissionpolicybinding.admissionregistration.k8s.io/kubectl-dedicated-registry-secret-writes",
];

/// What an overlay adds to the base.
fn overlay(name: &str) -> Vec<String> {
    let mut all: Vec<String> = BASE.iter().map(|s| s.to_string()).collect();
    all.push(format!(
        "clusterrole.rbac.authorization.k8s.io/kubectl-dedicated-registry-{name}"
    ));
    all.push(format!(
        "clusterrolebinding.rbac.authorization.k8s.io/kubectl-dedicated-registry-{name}"
    ));
    all
}

/// Asserts that kubectl reported each of `objects` (a configmap by its name prefix: the
/// generator appends a hash) exactly once with `verb`, and nothing else.
#[track_caller]
fn assert_reported(stdout: &str, objects: &[String], verb: impl Fn(&str) -> &'static str) {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), objects.len(), "{stdout}");
    for object in objects {
        let line = lines
            .iter()
            .find(|l| l.starts_with(object.as_str()))
            .unwrap_or_else(|| panic!("{object} not reported:\n{stdout}"));
        let expected = verb(object);
        assert!(
            line.ends_with(expected),
            "{object}: expected {expected:?} in {line:?}\n{stdout}"
        );
    }
}

/// Asserts kubectl warned of nothing but the seeded namespace's missing last-applied
/// annotation (it was not created by `kubectl apply`; kubectl adds the annotation).
#[track_caller]
fn assert_quiet(what: &str, stderr: &str) {
    let seeded = format!(
        "Warning: resource namespaces/{NS} is missing the kubectl.kubernetes.io/last-applied-configuration annotation"
    );
    let other: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with(&seeded))
        .collect();
    assert!(other.is_empty(), "{what}: {stderr}");
}

fn dry_run_verb(object: &str) -> &'static str {
    if object.starts_with("namespace/") {
        " configured (server dry run)"
    } else {
        " created (server dry run)"
    }
}

/// The resources the manifests create, group-qualified as the sandbox stores them.
const STORED: &[&str] = &[
    "serviceaccounts",
    "configmaps",
    "deployments.apps",
    "roles.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io",
    "clusterroles.rbac.authorization.k8s.io",
    "clusterrolebindings.rbac.authorization.k8s.io",
    "validatingadmissionpolicies.admissionregistration.k8s.io",
    "validatingadmissionpolicybindings.admissionregistration.k8s.io",
];

#[track_caller]
fn assert_nothing_stored(ctx: &TestContext, revision: u64) {
    let kube = &ctx.sandbox.world.kube;
    assert_eq!(
        kube.resource_version(),
        revision,
        "a dry run wrote something"
    );
    for resource in STORED {
        let names: Vec<String> = kube
            .list(NS, resource)
            .iter()
            .filter_map(|o| o["metadata"]["name"].as_str().map(String::from))
            .filter(|n| n != "default")
            .collect();
        assert!(
            names.is_empty(),
            "{resource} stored by a dry run: {names:?}"
        );
    }
    let ns = kube.get("", "namespaces", NS).expect("seeded namespace");
    assert!(
        ns["metadata"]["labels"]
            .get("pod-security.kubernetes.io/enforce")
            .is_none()
    );
}

#[test]
fn server_dry_runs_of_the_base_and_both_overlays_are_accepted_and_store_nothing() {
    let ctx = context();
    for (dir, objects) in [
        ("deploy/base", BASE.iter().map(|s| s.to_string()).collect()),
        (
            "deploy/overlays/service-accounts",
            overlay("service-accounts"),
        ),
        ("deploy/overlays/prune", overlay("prune")),
    ] {
        let revision = ctx.sandbox.world.kube.resource_version();
        let run = ctx
            .kubectl(&["apply", "--dry-run=server", "-k", &kustomization(dir)])
            .ok();
        assert_quiet(dir, &run.stderr);
        assert_reported(&run.stdout, &objects, dry_run_verb);
        assert_nothing_stored(&ctx, revision);
    }
}

#[test]
fn the_base_applies_then_reapplies_unchanged_and_kubectl_lists_it() {
    let ctx = context();
    let base: Vec<String> = BASE.iter().map(|s| s.to_string()).collect();
    let run = ctx
        .kubectl(&["apply", "-k", &kustomization("deploy/base")])
        .ok();
    assert_quiet("apply", &run.stderr);
    assert_reported(&run.stdout, &base, |o| {
        if o.starts_with("namespace/") {
            " configured"
        } else {
            " created"
        }
    });
    let kube = &ctx.sandbox.world.kube;
    let deployment = kube
        .get(
            NS,
            "deployments.apps",
            "kubectl-dedicated-registry-controller",
        )
        .expect("stored");
    assert_eq!(deployment["metadata"]["generation"], 1);
    assert_eq!(deployment["spec"]["replicas"], 2);
    let image = &deployment["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(
        image,
        "ghcr.io/kubectl-dedicated-registry/kubectl-dedicated-registry:v0.1.0"
    );
    let volumes = &deployment["spec"]["template"]["spec"]["volumes"];
    let config_map = volumes[0]["configMap"]["name"].as_str().expect("name");
    assert!(
        kube.get(NS, "configmaps", config_map).is_some(),
        "{config_map}"
    );
    assert!(
        kube.get(
            "",
            "validatingadmissionpolicybindings.admissionregistration.k8s.io",
            "kubectl-dedicated-registry-secret-writes"
        )
        .is_some()
    );
    let revision = kube.resource_version();
    let again = ctx
        .kubectl(&["apply", "-k", &kustomization("deploy/base")])
        .ok();
    assert!(again.stderr.trim().is_empty(), "re-apply: {}", again.stderr);
    assert_reported(&again.stdout, &base, |_| " unchanged");
    assert_eq!(
        kube.resource_version(),
        revision,
        "a re-apply wrote something"
    );
    let table = ctx
        .kubectl(&[
            "get",
            "deploy,role,rolebinding,clusterrole,clusterrolebinding,cm",
            "-A",
        ])
        .ok();
    for needle in [
        "deployment.apps/kubectl-dedicated-registry-controller   0/2",
        "role.rbac.authorization.k8s.io/kubectl-dedicated-registry-leader-election",
        "rolebinding.rbac.authorization.k8s.io/kubectl-dedicated-registry-leader-election   Role/kubectl-dedicated-registry-leader-election",
        "clusterrole.rbac.authorization.k8s.io/kubectl-dedicated-registry-controller",
        "clusterrolebinding.rbac.authorization.k8s.io/kubectl-dedicated-registry-controller   ClusterRole/kubectl-dedicated-registry-controller",
        "configmap/kubectl-dedicated-registry-config-",
    ] {
        assert!(
            table.stdout.contains(needle),
            "{needle} missing:\n{}",
            table.stdout
        );
    }
}

/// Issue 24, N6: the shipped Deployment's memory limit covers the controller's measured peak at
/// 10,000 namespaces (README, "At scale", from `tests/bench-controller.sh`) with a quarter to
/// spare. The old limit, 64Mi, was below what the watch used at 5,000 namespaces (71.9 MB).
#[test]
fn the_memory_limit_covers_the_measured_peak() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("deploy/base/deployment.yaml")).unwrap();
    let deployment: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let limit =
        deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
            .as_str()
            .expect("a memory limit");
    let limit_mib: f64 = limit
        .strip_suffix("Mi")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a limit in Mi: {limit}"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let row = readme
        .lines()
        .find(|l| l.starts_with("| 10003 | "))
        .expect("the controller's 10,000-namespace row in the README");
    let peak: f64 = row
        .split('|')
        .map(str::trim)
        .nth(5)
        .and_then(|c| c.strip_suffix(" MiB").and_then(|n| n.parse().ok()))
        .unwrap_or_else(|| panic!("a peak RSS cell: {row}"));
    assert!(
        limit_mib >= peak * 1.25,
        "limit {limit} is below 1.25 x the measured peak {peak} MiB"
    );
}

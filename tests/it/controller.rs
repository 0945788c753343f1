//! `controller`: the in-cluster front end (issue 21), run as a process against the sandbox as
//! it would run in a Pod: a profile whose API key comes from a variable (no keyring), a Lease,
//! probes and metrics on a local port, Events on the Secrets it writes.
// See: issue 21.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dedicated_sandbox::{Fault, Service, seed};
use serde_json::Value;

use crate::common::{TestContext, ids, mints, namespaces};

const LEASE: &str = "kubectl-dedicated-registry-controller";

/// Polls `check` for up to 30 s (a loaded CI machine); the time it took is printed, not
/// asserted.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(30), "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("after {} ms: {what}", start.elapsed().as_millis());
}

/// A logged-in context whose profile reads its API key from `IBMCLOUD_API_KEY` on every run
/// (as a Pod gets it from a Secret): the controller needs no keyring.
fn api_key_context() -> TestContext {
    crate::common::require_keyring();
    let ctx = TestContext::new();
    let args = ctx.login_args(&["--org", seed::DEV_ORG, "--apikey-env"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = ctx.command(&refs);
    cmd.env("IBMCLOUD_API_KEY", seed::ALICE_API_KEY);
    ctx.run_with(cmd, None).ok();
    ctx
}

/// A controller process and what it printed on stderr so far.
struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut text = sink.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    text
}

impl Running {
    fn start(ctx: &TestContext, identity: &str, extra: &[&str]) -> Running {
        let mut args = vec![
            "controller",
            "regcred",
            "-A",
            "--listen",
            "127.0.0.1:0",
            "--lease-namespace",
            "default",
            "--identity",
            identity,
            "--lease-duration",
            "3",
        ];
        args.extend_from_slice(extra);
        Running::start_with(ctx, &args)
    }

    /// The controller with exactly `args` (after the binary).
    fn start_with(ctx: &TestContext, args: &[&str]) -> Running {
        let mut cmd = ctx.command(args);
        cmd.env("IBMCLOUD_API_KEY", seed::ALICE_API_KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("controller starts");
        let stderr = collect(child.stderr.take().unwrap());
        let stdout = collect(child.stdout.take().unwrap());
        Running {
            child,
            stderr,
            stdout,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The address it serves on (from its first line).
    fn address(&self) -> String {
        eventually("the controller says where it serves", || {
            self.stderr().contains("on http://")
        });
        let text = self.stderr();
        let line = text.lines().find(|l| l.contains("on http://")).unwrap();
        // A text line ends with the address; a JSON one (`--log-format json`) goes on.
        line.rsplit("http://")
            .next()
            .unwrap()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == ':')
            .collect()
    }

    /// `GET path`: the status code and the body.
    fn get(&self, path: &str) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(self.address()).expect("connects");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// The value of the metric line starting with `name` (with its labels), if present.
    fn metric(&self, name: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics");
        body.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait(mut self) -> (std::process::ExitStatus, String, String) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                let out = self.stdout.lock().unwrap().clone();
                return (status, self.stderr(), out);
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the controller did not stop: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Lease as the real kubectl reads it.
fn lease(ctx: &TestContext) -> Value {
    let run = ctx.kubectl(&["-n", "default", "get", "lease", LEASE, "-o", "json"]);
    serde_json::from_str(&run.stdout).unwrap_or(Value::Null)
}

fn holder(ctx: &TestContext) -> Option<String> {
    lease(ctx)["spec"]["holderIdentity"]
        .as_str()
        .map(String::from)
}

fn secret_uid(ctx: &TestContext, namespace: &str) -> Option<String> {
    ctx.sandbox
        .world
        .kube
        .get(namespace, "secrets", "regcred")
        .map(|s| {
            s["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
}

/// The Events in `namespace` as the real kubectl reads them (events.k8s.io/v1).
fn events(ctx: &TestContext, namespace: &str) -> Vec<Value> {
    let run = ctx.kubectl(&[
        "-n",
        namespace,
        "get",
        "events.v1.events.k8s.io",
        "-o",
        "json",
    ]);
    let list: Value = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
    list["items"].as_array().cloned().unwrap_or_default()
}

/// Secret creations (POST) the API server answered with `status` (any when `None`) in
/// `namespace`.
fn posts_in(ctx: &TestContext, namespace: &str, status: Option<u16>) -> usize {
    let path = format!("/api/v1/namespaces/{namespace}/secrets");
    ctx.sandbox
        .journal()
        .for_service(Service::Kube)
        .iter()
        .filter(|e| e.method == "POST" && e.path == path)
        .filter(|e| status.is_none_or(|s| e.status == s))
        .count()
}

fn creates_in(ctx: &TestContext, namespace: &str) -> usize {
    posts_in(ctx, namespace, Some(201))
}

#[test]
fn the_controller_supplies_repairs_skips_and_reports() {
    let ctx = api_key_context();
    namespaces(&ctx, &["c-1", "c-doomed"]);
    assert!(ctx.sandbox.world.kube.terminate_namespace("c-doomed"));
    let controller = Running::start(&ctx, "one", &["--log-format", "json"]);
    eventually("the first pass", || {
        controller.get("/readyz").0 == 200 && secret_uid(&ctx, "c-1").is_some()
    });
    assert_eq!(holder(&ctx).as_deref(), Some("one"), "it holds the Lease");
    assert_eq!(controller.get("/healthz").0, 200);
    let shared = ids(&ctx, &["team-a", "team-b", "c-1"]);
    assert_eq!(shared.len(), 1, "one credential for the cluster");
    assert_eq!(mints(&ctx), 1);

    // A new namespace (its first write refused by a server error, then retried), a deleted
    // secret, an edited one.
    ctx.sandbox.inject(
        Fault::json(
            Service::Kube,
            "POST",
            "/api/v1/namespaces/c-new/secrets",
            500,
            serde_json::json!({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"InternalError","message":"etcd hiccup","code":500}),
        )
        .times(1),
    );
    ctx.kubectl(&["create", "namespace", "c-new"]).ok();
    eventually("a new namespace is supplied", || {
        secret_uid(&ctx, "c-new").is_some()
    });
    let before = secret_uid(&ctx, "c-1").unwrap();
    ctx.kubectl(&["-n", "c-1", "delete", "secret", "regcred"])
        .ok();
    eventually("a deleted secret is written again", || {
        secret_uid(&ctx, "c-1").is_some_and(|uid| uid != before)
    });
    ctx.kubectl(&[
        "-n",
        "team-a",
        "annotate",
        "--overwrite",
        "secret",
        "regcred",
        "kubectl-dedicated-registry/token-access=read-write",
    ])
    .ok();
    eventually("an edited secret is repaired", || {
        ctx.sandbox
            .world
            .kube
            .get("team-a", "secrets", "regcred")
            .is_some_and(|s| {
                s["metadata"]["annotations"]["kubectl-dedicated-registry/token-access"]
                    == "read-only"
            })
    });
    assert_eq!(ids(&ctx, &["team-a", "c-1", "c-new"]), shared);
    assert_eq!(mints(&ctx), 1, "healing copies the shared credential");

    // The Terminating namespace: skipped, never written, counted.
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("c-doomed", "secrets", "regcred")
            .is_none()
    );
    assert_eq!(
        posts_in(&ctx, "c-doomed", None),
        0,
        "no write was even tried"
    );
    assert!(
        controller
            .metric("kubectl_dedicated_registry_skipped_total{reason=\"namespace_terminating\"}")
            .is_some_and(|n| n >= 1.0),
        "{}",
        controller.get("/metrics").1
    );
    // Metrics after the known sequence.
    let metric = |name: &str| controller.metric(name).unwrap_or(0.0);
    assert_eq!(
        metric("kubectl_dedicated_registry_credentials_minted_total"),
        1.0
    );
    assert_eq!(metric("kubectl_dedicated_registry_leader"), 1.0);
    assert!(
        metric("kubectl_dedicated_registry_reconciles_total{outcome=\"created\"}") >= 4.0,
        "team-a, team-b, c-1, c-new at least: {}",
        controller.get("/metrics").1
    );
    assert!(metric("kubectl_dedicated_registry_reconciles_total{outcome=\"configured\"}") >= 1.0);
    assert!(
        metric("kubectl_dedicated_registry_api_errors_total{code=\"500\"}") >= 1.0,
        "the refused write: {}",
        controller.get("/metrics").1
    );
    assert_eq!(
        metric("kubectl_dedicated_registry_supply_seconds_count"),
        1.0,
        "c-new, the one namespace created while it leads: {}",
        controller.get("/metrics").1
    );

    // Events on the Secrets, as kubectl shows them.
    let created = events(&ctx, "c-new");
    assert!(
        created.iter().any(|e| e["reason"] == "Created"
            && e["type"] == "Normal"
            && e["regarding"]["kind"] == "Secret"
            && e["regarding"]["name"] == "regcred"
            && e["reportingController"] == "kubectl-dedicated-registry"
            && e["reportingInstance"] == "one"),
        "{created:?}"
    );
    assert!(
        events(&ctx, "team-a")
            .iter()
            .any(|e| e["reason"] == "Updated"),
        "the repair"
    );
    assert!(
        created
            .iter()
            .any(|e| e["reason"] == "WriteFailed" && e["type"] == "Warning"),
        "the refused write: {created:?}"
    );

    // SIGTERM: exit 0, the Lease released at once (no wait for its expiry).
    controller.signal("-TERM");
    let (status, stderr, stdout) = controller.wait();
    assert!(status.success(), "{stderr}");
    assert_eq!(holder(&ctx), None, "released: {:?}", lease(&ctx));
    // Nothing secret in what it printed; the positive control: the credential is in the secret.
    let token = crate::common::stored_token(&ctx, "c-1", "regcred").1;
    assert!(!token.is_empty());
    // `--log-format json`: every line one object a collector can parse.
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert!(lines.len() >= 3, "{stderr}");
    for line in &lines {
        let object: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            object["ts"].is_string() && object["level"].is_string() && object["msg"].is_string(),
            "{line}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"level\":\"warning\"") || l.contains("\"level\":\"info\"")),
        "{stderr}"
    );
    for text in [&stderr, &stdout] {
        assert!(!text.contains(&token), "{text}");
        assert!(!text.contains(seed::ALICE_API_KEY), "{text}");
        assert!(!text.contains("eyJ"), "{text}");
    }
    // The API key went only to the login server (its token request).
    crate::common::assert_sent_only_to_login(&ctx.sandbox, seed::ALICE_API_KEY);
}

#[test]
fn a_standby_takes_over_when_the_leader_is_killed_and_mints_nothing() {
    let ctx = api_key_context();
    let first = Running::start(&ctx, "first", &[]);
    eventually("the first leads and is ready", || {
        holder(&ctx).as_deref() == Some("first") && first.get("/readyz").0 == 200
    });
    let second = Running::start(&ctx, "second", &[]);
    eventually("the standby is ready (it read the Lease)", || {
        second.get("/readyz").0 == 200
    });
    assert_eq!(
        second.metric("kubectl_dedicated_registry_leader"),
        Some(0.0)
    );
    ctx.kubectl(&["create", "namespace", "t-before"]).ok();
    eventually("the leader supplies a new namespace", || {
        secret_uid(&ctx, "t-before").is_some()
    });
    assert_eq!(
        holder(&ctx).as_deref(),
        Some("first"),
        "the standby never took it"
    );

    // Killed, no release: the standby takes over once the 3 s Lease expires.
    first.signal("-KILL");
    drop(first);
    ctx.kubectl(&["create", "namespace", "t-after"]).ok();
    let killed = Instant::now();
    eventually("the standby leads and supplies the namespace", || {
        secret_uid(&ctx, "t-after").is_some()
    });
    eprintln!("taken over in {} ms", killed.elapsed().as_millis());
    assert_eq!(holder(&ctx).as_deref(), Some("second"));
    assert_eq!(
        second.metric("kubectl_dedicated_registry_leader"),
        Some(1.0)
    );
    assert_eq!(
        mints(&ctx),
        1,
        "the new leader reuses the cluster's credential"
    );
    for namespace in ["team-a", "team-b", "t-before", "t-after"] {
        assert_eq!(creates_in(&ctx, namespace), 1, "{namespace} written once");
    }
    for namespace in ["t-before", "t-after"] {
        assert_eq!(
            posts_in(&ctx, namespace, None),
            1,
            "{namespace}: one writer only (a second would have been refused as AlreadyExists)"
        );
    }
    assert_eq!(ids(&ctx, &["team-a", "t-before", "t-after"]).len(), 1);
}

#[test]
fn a_controller_without_a_selection_or_profile_says_what_to_do() {
    let ctx = TestContext::new();
    ctx.run(&["controller", "regcred"], None)
        .fails_with("controller needs a selection: add -A (every namespace) or -l SELECTOR");
    let missing = ctx.home.path().join("nope.yaml");
    ctx.run(
        &[
            "controller",
            "regcred",
            "-A",
            "--config",
            missing.to_str().unwrap(),
        ],
        None,
    )
    .fails_with("does not exist; point --config at the file `login` wrote");
}

/// The shipped Deployment's args and the shipped settings file are what the `controller`
/// command takes: it gets past both and stops only at the (here missing) cluster.
#[test]
fn the_shipped_deployment_args_and_config_are_accepted() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("deploy/base/deployment.yaml")).unwrap();
    let deployment: Value = serde_saphyr::from_str(&text).unwrap();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mut args: Vec<String> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    // The image's configuration path is this checkout's copy.
    for arg in &mut args {
        if let Some(path) = arg.strip_prefix("--config=") {
            assert_eq!(path, "/etc/kubectl-dedicated-registry/config.yaml");
            *arg = format!(
                "--config={}",
                root.join("deploy/base/config.yaml").display()
            );
        }
    }
    let env: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(env, ["POD_NAMESPACE", "POD_NAME", "IBMCLOUD_API_KEY"]);
    let ctx = TestContext::new();
    let mut all = vec!["controller".to_string()];
    all.extend(args);
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let mut cmd = ctx.command(&refs);
    let missing = ctx.home.path().join("no-kubeconfig");
    cmd.env("KUBECONFIG", &missing)
        .env_remove("KUBECTL_DEDICATED_REGISTRY_PROFILE")
        .env("POD_NAMESPACE", "kubectl-dedicated-registry")
        .env("POD_NAME", "controller-0");
    let run = ctx.run_with(cmd, None);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("no-kubeconfig"),
        "it got as far as the cluster: {}",
        run.stderr
    );
}

#[test]
fn a_scheduled_rotation_writes_every_holder_before_it_revokes_the_old_credential() {
    let ctx = api_key_context();
    let controller = Running::start(&ctx, "rotor", &["--rotate-every", "3s"]);
    eventually("the first pass", || {
        controller.metric("kubectl_dedicated_registry_leader") == Some(1.0)
            && controller.get("/readyz").0 == 200
    });
    let kube = &ctx.sandbox.world.kube;
    let holders: Vec<String> = kube
        .list("", "namespaces")
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str().map(String::from))
        .filter(|n| kube.get(n, "secrets", "regcred").is_some())
        .collect();
    assert!(holders.len() >= 2, "{holders:?}");
    let names: Vec<&str> = holders.iter().map(String::as_str).collect();
    let first = ids(&ctx, &names);
    assert_eq!(first.len(), 1);
    let old = first.into_iter().next().unwrap();
    eventually("the old credential is rotated out and revoked", || {
        ctx.token_revoked(&old)
    });
    // No dead window: every holder was rewritten before the old credential was revoked.
    let entries = ctx.sandbox.journal().entries();
    let revoked = entries
        .iter()
        .position(|e| e.method == "DELETE" && e.path == format!("/api/v1/tokens/{old}"))
        .expect("the revocation");
    for namespace in &holders {
        let path = format!("/api/v1/namespaces/{namespace}/secrets/regcred");
        assert!(
            entries[..revoked]
                .iter()
                .any(|e| e.method == "PUT" && e.path == path && e.status == 200),
            "{namespace} rewritten before the old credential was revoked"
        );
    }
    // The schedule is kept on the Lease, and counted.
    let annotations = &lease(&ctx)["metadata"]["annotations"];
    assert!(
        annotations["kubectl-dedicated-registry/rotated-at"].is_string(),
        "{annotations}"
    );
    assert!(
        controller
            .metric("kubectl_dedicated_registry_rotations_total{result=\"rotated\"}")
            .is_some_and(|n| n >= 1.0)
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let last = controller
        .metric("kubectl_dedicated_registry_last_rotation_timestamp_seconds")
        .unwrap_or(0.0);
    assert!(
        (now - last).abs() < 60.0,
        "rotated just now: {last} vs {now}"
    );
    // An Event on the Lease says so.
    eventually("a Rotated Event on the Lease", || {
        events(&ctx, "default").iter().any(|e| {
            e["reason"] == "Rotated"
                && e["type"] == "Normal"
                && e["regarding"]["kind"] == "Lease"
                && e["regarding"]["name"] == LEASE
        })
    });
    // A namespace created after a rotation gets the cluster's current, live credential.
    ctx.kubectl(&["create", "namespace", "r-new"]).ok();
    let mut all = names.clone();
    all.push("r-new");
    eventually("one live credential everywhere", || {
        secret_uid(&ctx, "r-new").is_some() && {
            let now = ids(&ctx, &all);
            now.len() == 1 && !ctx.token_revoked(now.iter().next().unwrap())
        }
    });
    controller.signal("-TERM");
    let (status, stderr, _) = controller.wait();
    assert!(status.success(), "{stderr}");
}

#[test]
fn readyz_is_false_until_the_leaders_first_pass_is_done() {
    let ctx = api_key_context();
    // The first pass's namespace list answers after 3 s.
    ctx.sandbox.inject(
        Fault::new(
            Service::Kube,
            "GET",
            "/api/v1/namespaces",
            dedicated_sandbox::FaultAction::Delay(Duration::from_secs(3)),
        )
        .times(1),
    );
    let controller = Running::start(&ctx, "slow", &[]);
    eventually("it leads", || {
        controller.metric("kubectl_dedicated_registry_leader") == Some(1.0)
    });
    assert!(
        secret_uid(&ctx, "team-a").is_none(),
        "the pass is still waiting"
    );
    let (status, body) = controller.get("/readyz");
    assert_eq!(
        (status, body.as_str()),
        (503, "not ready\n"),
        "leading, first pass not done"
    );
    assert_eq!(controller.get("/healthz").0, 200, "alive all the same");
    eventually("ready once the first pass is done", || {
        controller.get("/readyz").0 == 200
    });
    assert!(secret_uid(&ctx, "team-a").is_some());
}

/// The RBAC rules of the shipped ClusterRole and Role (`deploy/base`), as the sandbox's rules:
/// a core resource bare, a named group's qualified, `resourceNames` kept, the Role's in its
/// namespace.
fn shipped_rules() -> Vec<dedicated_sandbox::KubeRule> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/base");
    let mut rules = Vec::new();
    for file in ["clusterrole.yaml", "role.yaml"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let role: Value = serde_saphyr::from_str(&text).unwrap();
        let namespace = role["metadata"]["namespace"].as_str();
        for rule in role["rules"].as_array().unwrap() {
            let strings = |key: &str| -> Vec<String> {
                rule[key]
                    .as_array()
                    .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                    .unwrap_or_default()
            };
            for group in strings("apiGroups") {
                let resources: Vec<String> = strings("resources")
                    .into_iter()
                    .map(|r| {
                        if group.is_empty() {
                            r
                        } else {
                            format!("{r}.{group}")
                        }
                    })
                    .collect();
                rules.push(dedicated_sandbox::KubeRule {
                    namespace: namespace.map(String::from),
                    resources,
                    verbs: strings("verbs"),
                    resource_names: strings("resourceNames"),
                });
            }
        }
    }
    assert!(
        rules.iter().any(|r| !r.resource_names.is_empty()),
        "the managed secret is granted by name: {rules:?}"
    );
    rules
}

/// Issue 24 N3 and issue 21: the controller runs with exactly the shipped RBAC (secrets only by
/// the managed name, creates of any name, no other secret readable): it supplies every selected
/// namespace, writes its Events, holds its Lease, and rotates on schedule (the holders are
/// counted among the secrets of its name when the cluster-wide list is refused). The same
/// identity cannot read another secret or list secrets across the cluster.
#[test]
fn the_controller_works_with_exactly_the_shipped_rbac() {
    const NS: &str = "kubectl-dedicated-registry";
    const SA: &str = "system:serviceaccount:kubectl-dedicated-registry:kubectl-dedicated-registry";
    crate::common::require_keyring();
    let mut config = dedicated_sandbox::SandboxConfig::default();
    config
        .kube_users
        .push(dedicated_sandbox::KubeUser::service_account(
            NS,
            NS,
            "controller-sa-token-0123456789",
            shipped_rules(),
        ));
    let ctx = TestContext::with_config(config);
    let args = ctx.login_args(&["--org", seed::DEV_ORG, "--apikey-env"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = ctx.command(&refs);
    cmd.env("IBMCLOUD_API_KEY", seed::ALICE_API_KEY);
    ctx.run_with(cmd, None).ok();
    namespaces(&ctx, &[NS]);
    let controller = Running::start_with(
        &ctx,
        &[
            "--context",
            SA,
            "controller",
            "dedicated-registry",
            "-A",
            "--exclude",
            NS,
            "--listen",
            "127.0.0.1:0",
            "--lease-namespace",
            NS,
            "--identity",
            "controller-0",
            "--lease-duration",
            "3",
            "--rotate-every",
            "3s",
        ],
    );
    let kube = &ctx.sandbox.world.kube;
    let held = |ns: &str| {
        kube.get(ns, "secrets", "dedicated-registry").and_then(|s| {
            s["metadata"]["annotations"]["kubectl-dedicated-registry/token-id"]
                .as_str()
                .map(String::from)
        })
    };
    eventually("every selected namespace supplied", || {
        controller.get("/readyz").0 == 200
            && ["default", "team-a", "team-b"]
                .iter()
                .all(|n| held(n).is_some())
    });
    assert!(held(NS).is_none(), "its own namespace is excluded");
    let first = held("team-a").unwrap();
    assert!(
        events(&ctx, "team-a")
            .iter()
            .any(|e| e["reason"] == "Created"),
        "Events written"
    );
    // The scheduled rotation: every holder rewritten, the old credential revoked.
    let start = Instant::now();
    while !(ctx.token_revoked(&first)
        && ["default", "team-a", "team-b"]
            .iter()
            .all(|n| held(n).is_some_and(|id| id != first)))
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never rotated and revoked:\n{}",
            controller.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        controller
            .metric("kubectl_dedicated_registry_rotations_total{result=\"rotated\"}")
            .is_some_and(|n| n >= 1.0),
        "{}",
        controller.get("/metrics").1
    );
    let stderr = controller.stderr();
    assert!(!stderr.contains("were NOT revoked"), "{stderr}");
    controller.signal("-TERM");
    let (status, stderr, _) = controller.wait();
    assert!(status.success(), "{stderr}");

    // Least privilege, as the real kubectl sees it with the controller's identity.
    ctx.kubectl(&[
        "-n",
        "team-a",
        "create",
        "secret",
        "generic",
        "other",
        "--from-literal=k=v",
    ])
    .ok();
    let read = ctx.kubectl(&["--context", SA, "-n", "team-a", "get", "secret", "other"]);
    assert!(
        read.code != 0 && read.stderr.contains("Forbidden"),
        "another secret is not readable: {}",
        read.stderr
    );
    let list = ctx.kubectl(&["--context", SA, "get", "secrets", "-A"]);
    assert!(
        list.code != 0 && list.stderr.contains("Forbidden"),
        "secrets are not listable across the cluster: {}",
        list.stderr
    );
    let own = ctx.kubectl(&[
        "--context",
        SA,
        "-n",
        "team-a",
        "get",
        "secret",
        "dedicated-registry",
        "-o",
        "name",
    ]);
    assert!(own.code == 0, "the managed secret is: {}", own.stderr);
}

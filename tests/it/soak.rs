//! The soak test: rounds of a random mix of commands over seven namespaces (the seed's
//! `default`, `team-a`, `team-b` and four created at the start), each run with faults injected at
//! random into every service (5xx, dropped connections, delays, conflicts, `Retry-After`, writes
//! that land but lose their reply or report a failure after the commit). The mix:
//! `secret create regcred -A` (the cluster's shared token), `secret rotate regcred -A` (groups:
//! one failure undoes many writes), `secret create regcred -A --rotate`,
//! `-n NS secret create regcred --rotate`, `-n NS secret delete regcred`, `token prune --yes`.
//!
//! After EVERY run (not only at the end), the registry's state and the cluster's agree:
//! - every managed secret holds a credential the registry issued, live, whose id is the one
//!   its annotation records (no secret holds a revoked credential);
//! - every live credential this tool minted (description `kubectl-dedicated-registry ...`) is
//!   held by some managed secret, or the run reported it as left behind: by id (`token revoke
//!   ID`, `NOT revoked`, ...), or, for a mint whose reply was lost (no id to give), by its
//!   description (`a token described ... may have been created anyway`). A reported token stays
//!   accepted while no secret holds it; once a secret holds it again, leaving it again must be
//!   reported again.
//!
//! The generator is biased towards grouped undo: a third of the rotations (`secret rotate -A`,
//! `-n NS ... --rotate`) also get a write whose outcome is unknown ([`lost_and_unreadable`]: the
//! PUT lands, its reply is lost, the secret cannot be read back), on top of the random faults,
//! which may fail another member of the same group. Without that bias the planted bug
//! `tests/planted/rotate-undo-skips-unknown-write.patch` went through 60 rounds (seed 1)
//! unseen; with it, seed 1 fails at round 7, run 0 (a secret holds the revoked new token).
//!
//! A run may exit 1 (faults); a panic, another exit code, a run over [`RUN_LIMIT`] or a broken
//! invariant fails the test with the seed, the round and the run. At the end, with the faults
//! gone, `secret create regcred -A` and `token prune --yes` succeed and leave exactly the held
//! credentials live, and the login still refreshes.
//!
//! CI runs a short version (`SOAK_RUNS`, default 24 rounds); `bash tests/soak.sh` runs the long one
//! (SOAK_RUNS=200). SOAK_SEED replays a run exactly (the seed is printed on failure and at the
//! end).
// See: issue 9 ("Also": a soak test), issue 26 (the fleet, grouped rotations, every round).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use dedicated_sandbox::{Fault, FaultAction, Service};
use serde_json::{Value, json};

use crate::common::{Run, TestContext, mints, namespaces};

/// A small deterministic generator (xorshift64*), so a seed replays a run exactly.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// The namespaces created at the start.
const CREATED: &[&str] = &["soak-1", "soak-2", "soak-3", "soak-4"];
/// Every namespace `-A` selects (all but `kube-*`).
const NAMESPACES: &[&str] = &[
    "default", "team-a", "team-b", "soak-1", "soak-2", "soak-3", "soak-4",
];
/// The longest a run may take (faults add delays and read-back retries of a few seconds).
const RUN_LIMIT: Duration = Duration::from_secs(60);
const MANAGER: &str = "kubectl-dedicated-registry";

/// One command of the mix.
#[derive(Clone, Copy, Debug)]
enum Step {
    CreateAll,
    RotateAll,
    CreateAllRotate,
    RotateOne(&'static str),
    DeleteOne(&'static str),
    Prune,
}

impl Step {
    fn random(random: &mut Random) -> Step {
        let namespace = NAMESPACES[random.below(NAMESPACES.len())];
        match random.below(12) {
            0 | 1 => Step::CreateAll,
            2..=5 => Step::RotateAll,
            6 => Step::CreateAllRotate,
            7 | 8 => Step::RotateOne(namespace),
            9 | 10 => Step::DeleteOne(namespace),
            _ => Step::Prune,
        }
    }

    fn args(self) -> Vec<&'static str> {
        match self {
            Step::CreateAll => vec!["secret", "create", "regcred", "-A"],
            Step::RotateAll => vec!["secret", "rotate", "regcred", "-A"],
            Step::CreateAllRotate => vec!["secret", "create", "regcred", "-A", "--rotate"],
            Step::RotateOne(ns) => vec!["-n", ns, "secret", "create", "regcred", "--rotate"],
            Step::DeleteOne(ns) => vec!["-n", ns, "secret", "delete", "regcred"],
            Step::Prune => vec!["token", "prune", "--yes"],
        }
    }

    /// The namespaces its faults aim at.
    fn namespaces(self) -> Vec<&'static str> {
        match self {
            Step::RotateOne(ns) | Step::DeleteOne(ns) => vec![ns],
            _ => NAMESPACES.to_vec(),
        }
    }
}

fn kube_status(code: u16, reason: &str, message: &str) -> String {
    json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
           "message":message,"reason":reason,"details":{"name":"regcred","kind":"secrets"},"code":code})
    .to_string()
}

/// A random fault on one of the endpoints the mix uses, and the name of its kind.
fn random_fault(random: &mut Random, namespaces: &[&str]) -> (Fault, &'static str) {
    let ns = random.pick(namespaces);
    let secret = format!("/api/v1/namespaces/{ns}/secrets/regcred");
    let endpoints: [(Service, &str, String); 16] = [
        (
            Service::Login,
            "POST",
            "/UAALoginServerWAR/oauth/token".into(),
        ),
        (Service::Registry, "POST", "/api/v1/tokens".into()),
        (Service::Registry, "GET", "/api/v1/tokens".into()),
        (Service::Registry, "DELETE", "/api/v1/tokens/*".into()),
        (Service::Registry, "GET", "/v2/".into()),
        (Service::Registry, "GET", "/oauth/token".into()),
        (Service::Kube, "GET", "/api/v1/namespaces".into()),
        (Service::Kube, "GET", "/api/v1/secrets".into()),
        (
            Service::Kube,
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews".into(),
        ),
        (Service::Kube, "GET", secret.clone()),
        (Service::Kube, "PUT", secret.clone()),
        (Service::Kube, "PUT", secret.clone()),
        (Service::Kube, "DELETE", secret),
        (
            Service::Kube,
            "POST",
            format!("/api/v1/namespaces/{ns}/secrets"),
        ),
        (Service::Kube, "GET", format!("/api/v1/namespaces/{ns}")),
        (
            Service::Kube,
            "GET",
            format!("/api/v1/namespaces/{ns}/pods"),
        ),
    ];
    let (service, method, path) = endpoints[random.below(endpoints.len())].clone();
    let write = method != "GET" && service != Service::Login;
    let kube = service == Service::Kube;
    let error_body = |status: u16| {
        if kube {
            kube_status(status, "InternalError", "injected failure")
        } else {
            json!({"message": "injected failure"}).to_string()
        }
    };
    let (action, kind) = match random.below(if write { 9 } else { 6 }) {
        0 => (
            FaultAction::Respond {
                status: 500,
                content_type: "application/json".into(),
                body: error_body(500),
            },
            "500",
        ),
        1 => (FaultAction::Drop, "dropped connection"),
        2 => (FaultAction::Delay(Duration::from_millis(150)), "delay"),
        3 => (
            FaultAction::RetryAfter {
                status: 429,
                seconds: 1,
                body: error_body(429),
            },
            "429 Retry-After",
        ),
        4 if kube => (
            FaultAction::Respond {
                status: 409,
                content_type: "application/json".into(),
                body: kube_status(409, "Conflict", "the object has been modified"),
            },
            "409 conflict",
        ),
        4 | 5 => (
            FaultAction::Respond {
                status: 503,
                content_type: "text/html".into(),
                body: "<html>Service Unavailable</html>".into(),
            },
            "503 html",
        ),
        // A 500 after a landed mint is said as a lost reply is ("may have been created
        // anyway"): a finding of this soak at seed 1796691975865258483 round 39, when the
        // plugin took a mint's 500 as a refusal and left the token live and unreported.
        6 | 7 => (FaultAction::RunThenDrop, "write landed, reply lost"),
        _ => (
            FaultAction::RunThenRespond {
                status: 500,
                content_type: "application/json".into(),
                body: error_body(500),
            },
            "write landed, 500 answered",
        ),
    };
    let times = 1 + random.below(3);
    let fault = Fault::new(service, method, &path, action).times(times);
    // A later request of a run-wide endpoint (the second mint, the third revocation) too.
    let after = match (service, method) {
        (Service::Registry, "POST" | "DELETE") | (Service::Kube, "GET") => random.below(3),
        _ => 0,
    };
    (fault.after(after), kind)
}

/// The fault that makes a write's outcome unknown: the PUT of `ns`'s secret lands but its reply
/// is lost (or a 500 comes back after the commit), and the secret cannot be read back (its next
/// three GETs, all a read-back tries, fail), as when the API server goes away right after
/// committing. A rotation group must then treat that secret as possibly written: read it again
/// when undoing, put it back or keep the new token it holds.
fn lost_and_unreadable(random: &mut Random, ns: &str) -> [Fault; 2] {
    let secret = format!("/api/v1/namespaces/{ns}/secrets/regcred");
    let lost = if random.below(2) == 0 {
        FaultAction::RunThenDrop
    } else {
        FaultAction::RunThenRespond {
            status: 500,
            content_type: "application/json".into(),
            body: kube_status(500, "InternalError", "injected failure after the commit"),
        }
    };
    [
        Fault::new(Service::Kube, "PUT", &secret, lost).times(1),
        Fault::fail_next_get(Service::Kube, &secret).times(3),
    ]
}

/// Runs the plugin with stdin empty; `Err` with what it printed when it outlives `limit`.
fn run_bounded(ctx: &TestContext, args: &[&str], limit: Duration) -> Result<Run, String> {
    let mut cmd = ctx.command(args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("plugin binary starts");
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the plugin") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    match status {
        Some(status) => Ok(Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        }),
        None => Err(format!(
            "still running after {limit:?}\nstdout: {stdout}\nstderr: {stderr}"
        )),
    }
}

/// What a run said it left behind: token ids, and descriptions of mints whose reply was lost.
#[derive(Default)]
struct Reported {
    ids: BTreeSet<String>,
    descriptions: BTreeSet<String>,
}

impl Reported {
    /// The ids on the lines that say a token was not revoked (`NOT revoked`, `could not be
    /// revoked`, `token revoke ID`, `is still valid`), except those saying it is still held
    /// (`held by`: no report of a leftover), and the descriptions of possible lost mints.
    fn from(run: &Run) -> Reported {
        let uuid =
            regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
                .unwrap();
        let described =
            regex::Regex::new(r"a token described `([^`]*)` may have been created anyway").unwrap();
        let mut reported = Reported::default();
        for line in run.stdout.lines().chain(run.stderr.lines()) {
            let lower = line.to_lowercase();
            let left = [
                "not revoked",
                "not be revoked",
                "token revoke",
                "still valid",
            ]
            .iter()
            .any(|s| lower.contains(s));
            if left && !lower.contains("held by") {
                reported
                    .ids
                    .extend(uuid.find_iter(line).map(|m| m.as_str().to_string()));
            }
            for c in described.captures_iter(line) {
                reported.descriptions.insert(c[1].to_string());
            }
        }
        reported
    }
}

/// The managed secrets of the cluster (`namespace/name`) and the credential each holds: the id
/// of the registry token whose value its `.dockerconfigjson` carries. Errors: a secret holding
/// no credential, one the registry never issued, a revoked one, or another than its annotation
/// records.
fn holders(ctx: &TestContext) -> (BTreeMap<String, String>, Vec<String>) {
    let tokens = ctx.tokens();
    let host = ctx.sandbox.urls().registry_host.clone();
    let (mut held, mut errors) = (BTreeMap::new(), Vec::new());
    for secret in ctx.sandbox.world.kube.list("", "secrets") {
        let meta = &secret["metadata"];
        if meta["labels"]["app.kubernetes.io/managed-by"] != MANAGER {
            continue;
        }
        let (ns, name) = (
            meta["namespace"].as_str().unwrap_or_default(),
            meta["name"].as_str().unwrap_or_default(),
        );
        let at = format!("{ns}/{name}");
        let recorded = meta["annotations"]["kubectl-dedicated-registry/token-id"]
            .as_str()
            .unwrap_or_default();
        let config: Option<Value> = ctx
            .dockerconfigjson(ns, name)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let Some(value) = config
            .as_ref()
            .and_then(|c| c["auths"][&host]["password"].as_str())
        else {
            errors.push(format!("{at} holds no credential for {host}"));
            continue;
        };
        let Some(token) = tokens.iter().find(|t| t.token == value) else {
            errors.push(format!("{at} holds a credential the registry never issued"));
            continue;
        };
        if token.revoked {
            errors.push(format!("{at} holds the REVOKED token {}", token.id));
        }
        if token.id != recorded {
            errors.push(format!(
                "{at} holds token {} but its annotation records {recorded}",
                token.id
            ));
        }
        held.insert(at, token.id.clone());
    }
    (held, errors)
}

/// The invariant after one run (see the module doc); `accepted` carries the reported leftovers
/// no secret has held since. Returns the errors.
fn check(
    ctx: &TestContext,
    before: &BTreeSet<String>,
    run: &Run,
    accepted: &mut BTreeSet<String>,
) -> Vec<String> {
    let (held, mut errors) = holders(ctx);
    let held: BTreeSet<&String> = held.values().collect();
    let reported = Reported::from(run);
    for token in ctx.tokens() {
        if token.revoked || !token.description.starts_with(MANAGER) {
            continue;
        }
        if held.contains(&token.id) {
            accepted.remove(&token.id);
        } else if reported.ids.contains(&token.id)
            || accepted.contains(&token.id)
            || (!before.contains(&token.id) && reported.descriptions.contains(&token.description))
        {
            accepted.insert(token.id);
        } else {
            errors.push(format!(
                "token {} (`{}`) is live, held by no secret, and the run did not report it",
                token.id, token.description
            ));
        }
    }
    errors
}

/// What the soak counted.
#[derive(Default)]
struct Tally {
    runs: usize,
    failed: usize,
    faults: BTreeMap<&'static str, usize>,
    commands: BTreeMap<String, usize>,
}

fn seed_from_env() -> u64 {
    std::env::var("SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        })
}

#[test]
fn a_random_mix_under_random_faults_keeps_every_secret_on_a_live_token_after_every_run() {
    let rounds: usize = std::env::var("SOAK_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let seed = seed_from_env();
    let mut random = Random(seed);
    let started = Instant::now();
    let ctx = TestContext::logged_in();
    namespaces(&ctx, CREATED);
    ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    let mut accepted = BTreeSet::new();
    let mut tally = Tally::default();
    for round in 0..rounds {
        for step in 0..=random.below(3) {
            let command = Step::random(&mut random);
            ctx.sandbox.clear_faults();
            let mut injected = Vec::new();
            for _ in 0..random.below(4) {
                let (fault, kind) = random_fault(&mut random, &command.namespaces());
                injected.push(format!("{kind}: {fault:?}"));
                *tally.faults.entry(kind).or_default() += 1;
                ctx.sandbox.inject(fault);
            }
            // The generator's bias (issue 26): a third of the rotations get a write whose
            // outcome is unknown, on top of the random faults (which may fail another member
            // of the same group).
            if matches!(command, Step::RotateAll | Step::RotateOne(_)) && random.below(3) == 0 {
                let ns = random.pick(&command.namespaces());
                let kind = "write landed, reply lost, secret unreadable";
                for fault in lost_and_unreadable(&mut random, ns) {
                    injected.push(format!("{kind}: {fault:?}"));
                    ctx.sandbox.inject(fault);
                }
                *tally.faults.entry(kind).or_default() += 1;
            }
            let before: BTreeSet<String> = ctx.tokens().into_iter().map(|t| t.id).collect();
            let args = command.args();
            let what = format!(
                "seed {seed}, round {round}, run {step}: `{}` with faults {injected:#?}",
                args.join(" ")
            );
            let run = run_bounded(&ctx, &args, RUN_LIMIT).unwrap_or_else(|e| panic!("{what}: {e}"));
            ctx.sandbox.clear_faults();
            assert!(
                (run.code == 0 || run.code == 1) && !run.stderr.contains("panicked"),
                "{what}: exit {}\nstdout: {}\nstderr: {}",
                run.code,
                run.stdout,
                run.stderr
            );
            tally.runs += 1;
            tally.failed += usize::from(run.code != 0);
            let name = format!("{command:?}");
            let name = name.split('(').next().unwrap_or_default().to_string();
            *tally.commands.entry(name).or_default() += 1;
            let errors = check(&ctx, &before, &run, &mut accepted);
            assert!(
                errors.is_empty(),
                "{what}: the invariant is broken:\n  {}\nexit {}\nstdout: {}\nstderr: {}",
                errors.join("\n  "),
                run.code,
                run.stdout,
                run.stderr
            );
        }
    }
    // Without faults, the fleet converges and the leftovers are pruned: exactly the held
    // tokens stay live.
    ctx.run(&["secret", "create", "regcred", "-A"], None).ok();
    ctx.run(&["token", "prune", "--yes"], None).ok();
    let (held, errors) = holders(&ctx);
    assert!(errors.is_empty(), "seed {seed}, at the end: {errors:?}");
    let live: BTreeSet<String> = ctx
        .tokens()
        .into_iter()
        .filter(|t| !t.revoked && t.description.starts_with(MANAGER))
        .map(|t| t.id)
        .collect();
    let held_ids: BTreeSet<String> = held.values().cloned().collect();
    assert_eq!(
        live, held_ids,
        "seed {seed}, at the end: live tokens vs held ones ({held:?})"
    );
    assert_eq!(held.len(), NAMESPACES.len(), "seed {seed}: {held:?}");
    ctx.run(&["status"], None).ok();
    eprintln!(
        "soak: seed {seed}, {rounds} rounds, {} runs ({:?}), {} faults injected ({:?}), {} runs \
         failed, {} tokens minted, at the end {} live tokens held by {} secrets; {:.0?}",
        tally.runs,
        tally.commands,
        tally.faults.values().sum::<usize>(),
        tally.faults,
        tally.failed,
        mints(&ctx),
        live.len(),
        held.len(),
        started.elapsed()
    );
}

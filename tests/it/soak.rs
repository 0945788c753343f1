//! The soak test: `secret create --rotate` again and again against the sandbox, with faults
//! injected at random into every service (5xx, dropped connections, delays, conflicts). After
//! all runs, the registry holds exactly one live token per managed secret, each secret holds a
//! live token, and the login still refreshes.
//!
//! CI runs a short version; `bash tests/soak.sh` runs the long one (SOAK_RUNS=200). SOAK_SEED
//! replays a run (the seed is printed on failure).
// See: issue 9 ("Also": a soak test).

use std::time::Duration;

use dedicated_sandbox::{Fault, FaultAction, Service};
use serde_json::json;

use crate::common::TestContext;

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
}

const SECRETS: &[&str] = &["soak-a", "soak-b", "soak-c"];

/// A random fault on one of the endpoints a rotation uses.
fn random_fault(random: &mut Random, secret: &str) -> Fault {
    let secret_path = format!("/api/v1/namespaces/team-a/secrets/{secret}");
    let endpoints: [(Service, &str, String); 9] = [
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
        (Service::Kube, "GET", secret_path.clone()),
        (Service::Kube, "PUT", secret_path),
        (
            Service::Kube,
            "POST",
            "/api/v1/namespaces/team-a/secrets".into(),
        ),
    ];
    let (service, method, path) = endpoints[random.below(endpoints.len())].clone();
    let action = match random.below(4) {
        0 => FaultAction::Respond {
            status: 500,
            content_type: "application/json".into(),
            body: json!({"message": "injected failure"}).to_string(),
        },
        1 => FaultAction::Drop,
        2 => FaultAction::Delay(Duration::from_millis(150)),
        _ if service == Service::Kube => FaultAction::Respond {
            status: 409,
            content_type: "application/json".into(),
            body: json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                         "message":"the object has been modified","reason":"Conflict",
                         "details":{"name":secret,"kind":"secrets"},"code":409})
            .to_string(),
        },
        _ => FaultAction::Respond {
            status: 503,
            content_type: "text/html".into(),
            body: "<html>Service Unavailable</html>".into(),
        },
    };
    Fault::new(service, method, &path, action).times(1)
}

#[test]
fn rotations_under_random_faults_leave_one_live_token_per_secret() {
    let runs: usize = std::env::var("SOAK_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let seed: u64 = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    let mut random = Random(seed);
    let ctx = TestContext::logged_in();
    let (mut faults, mut failed_runs) = (0, 0);
    for run in 0..runs {
        let secret = SECRETS[run % SECRETS.len()];
        ctx.sandbox.clear_faults();
        for _ in 0..=random.below(2) {
            ctx.sandbox.inject(random_fault(&mut random, secret));
            faults += 1;
        }
        let out = ctx.run(
            &["-n", "team-a", "secret", "create", secret, "--rotate"],
            None,
        );
        assert!(
            out.code == 0 || out.code == 1,
            "seed {seed}, run {run}: exit {}\n{}",
            out.code,
            out.stderr
        );
        assert!(
            !out.stderr.contains("panicked"),
            "seed {seed}: {}",
            out.stderr
        );
        if out.code != 0 {
            failed_runs += 1;
        }
    }
    ctx.sandbox.clear_faults();
    // Converge: one clean run per secret (a failed run may have left a secret unwritten).
    for secret in SECRETS {
        ctx.run(&["-n", "team-a", "secret", "create", secret], None)
            .ok();
    }
    let live: Vec<String> = ctx
        .tokens()
        .into_iter()
        .filter(|t| !t.revoked)
        .map(|t| t.id)
        .collect();
    let held: Vec<String> = SECRETS
        .iter()
        .map(|name| {
            let secret = ctx
                .sandbox
                .world
                .kube
                .get("team-a", "secrets", name)
                .unwrap();
            secret["metadata"]["annotations"]["kubectl-dedicated-registry/token-id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    eprintln!(
        "soak: seed {seed}, {runs} runs, {faults} faults injected, {failed_runs} runs failed, \
         {} tokens minted, {} live, {} secrets",
        ctx.tokens().len(),
        live.len(),
        held.len()
    );
    for id in &held {
        assert!(
            live.contains(id),
            "seed {seed}: a secret holds a dead token {id}"
        );
    }
    assert_eq!(
        live.len(),
        held.len(),
        "seed {seed}: live tokens {live:?}, held by secrets {held:?}"
    );
    ctx.run(&["status"], None).ok();
}

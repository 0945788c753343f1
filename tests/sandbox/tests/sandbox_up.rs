//! The `dedicated-sandbox up` binary: prints usable connection details, starts fast, serves
//! HTTPS with the CA it wrote, and stops cleanly on SIGTERM.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dedicated-sandbox");

struct Running {
    child: std::process::Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn terminate(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

fn wait_exit(running: &mut Running) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = running.child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "sandbox did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sandbox-up-test-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn up_json_reports_everything_and_serves() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = temp_dir();
    let mut running = Running {
        child: Command::new(BIN)
            .args(["up", "--json", "--access-token-ttl", "120", "--dir"])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dedicated-sandbox"),
    };
    let mut stdout = BufReader::new(running.child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read the JSON line");
    let summary: Value = serde_json::from_str(&line).expect("one JSON object line");
    // Start-up time is reported, not asserted: on a loaded 2-core machine any bound is a race.
    // (Measured in the README: 3-10 ms; `tests/bench.sh` is the place for timings.)
    assert!(
        summary["startup_ms"].is_u64(),
        "startup_ms is a whole number of milliseconds: {}",
        summary["startup_ms"]
    );
    for key in [
        "api",
        "login",
        "uaa",
        "registry",
        "registry_host",
        "kube",
        "passcode_url",
    ] {
        assert!(summary[key].is_string(), "{key}");
    }
    assert!(
        summary["login"]
            .as_str()
            .unwrap()
            .ends_with("/UAALoginServerWAR")
    );
    assert_eq!(
        summary["ca_file"].as_str().unwrap(),
        dir.join("ca.pem").to_str().unwrap()
    );
    assert!(dir.join("kubeconfig").is_file());
    assert_eq!(summary["current_context"], "sandbox-admin");
    assert_eq!(summary["kube_contexts"].as_array().unwrap().len(), 3);
    let alice = &summary["users"][0];
    assert_eq!(alice["username"], dedicated_sandbox::seed::ALICE);
    assert_eq!(alice["password"], dedicated_sandbox::seed::ALICE_PASSWORD);
    assert_eq!(
        summary["orgs"][0]["guid"],
        dedicated_sandbox::seed::DEV_ORG_GUID
    );
    assert!(
        summary["images"]
            .as_array()
            .unwrap()
            .contains(&"demo/hello:v1".into())
    );

    // The icr.io front: where to pin every icr.io name, and the IBM Cloud seed.
    let icr = &summary["icr"];
    let address = icr["address"].as_str().unwrap();
    assert!(address.starts_with("127.0.0.1:"), "{icr}");
    assert_eq!(icr["resolve_env"], "KUBECTL_DEDICATED_REGISTRY_RESOLVE");
    let resolve = icr["resolve"].as_str().unwrap();
    assert!(
        resolve.contains(&format!("us.icr.io={address}")),
        "{resolve}"
    );
    assert!(
        resolve.contains(&format!("private.de.icr.io={address}")),
        "{resolve}"
    );
    assert_eq!(
        resolve.split(',').count(),
        icr["domains"].as_array().unwrap().len()
    );
    assert_eq!(
        icr["users"][0]["api_key"],
        dedicated_sandbox::seed::DANA_API_KEY
    );
    assert_eq!(
        icr["accounts"][0]["id"],
        dedicated_sandbox::seed::IBM_ACCOUNT
    );

    // The servers answer over HTTPS with the written CA, and the TTL flag took effect.
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .build()
        .unwrap();
    let info: Value = client
        .get(format!("{}/v2/info", summary["api"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["authorization_endpoint"], summary["login"]);
    let token: Value = client
        .post(format!("{}/oauth/token", summary["uaa"].as_str().unwrap()))
        .header("authorization", "Basic Y2Y6")
        .form(&[
            ("grant_type", "password"),
            ("username", dedicated_sandbox::seed::BOB),
            ("password", dedicated_sandbox::seed::BOB_PASSWORD),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["expires_in"], 120);

    terminate(running.child.id());
    let status = wait_exit(&mut running);
    assert!(status.success(), "exit status {status:?}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.is_empty(), "--json prints one line only: {rest}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn up_text_output_names_what_a_client_needs() {
    let mut running = Running {
        child: Command::new(BIN)
            .arg("up")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn dedicated-sandbox"),
    };
    let mut stdout = BufReader::new(running.child.stdout.take().unwrap());
    let mut text = String::new();
    // The text block ends with the kubectl example line.
    while !text.contains("kubectl get namespaces") {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "output ended: {text}"
        );
        text.push_str(&line);
    }
    for needle in [
        "API endpoint (Cloud Controller): https://127.0.0.1:",
        "/UAALoginServerWAR",
        "CA file:",
        "Kubeconfig:",
        "sandbox-admin (namespace default, current)",
        "alice@example.com",
        "alice-password",
        "SSO only",
        "dev-org",
        "0d5a3bd1-6f64-4f65-9b8a-4b3f2b8f6a01",
        "export KUBECTL_DEDICATED_REGISTRY_RESOLVE=icr.io=127.0.0.1:",
        ",us.icr.io=127.0.0.1:",
        "dana@example.com",
        "registry namespace team-ns",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    // Without --dir the files live in a temporary directory that is removed on exit.
    let ca_line = text.lines().find(|l| l.starts_with("CA file:")).unwrap();
    let ca_file = std::path::PathBuf::from(ca_line.trim_start_matches("CA file:").trim());
    assert!(ca_file.is_file());
    terminate(running.child.id());
    assert!(wait_exit(&mut running).success());
    assert!(!ca_file.exists(), "temporary directory removed on exit");
}

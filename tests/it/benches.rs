//! The benchmark scripts the README names, in short versions on the debug build, so they cannot
//! rot between the runs by hand (the figures come from the full runs on the release build; here
//! only what they report is checked, never a time).

use std::path::Path;
use std::process::Command;

use crate::common::require_keyring;

/// A benchmark script inside the suite's keyring session, on the binaries under test.
fn bench(script: &str, env: &[(&str, &str)]) -> String {
    require_keyring();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin_dir = Path::new(crate::common::BIN).parent().unwrap();
    assert!(
        bin_dir.join("dedicated-sandbox").exists(),
        "the dedicated-sandbox binary is built by `cargo nextest run --workspace` (.ci/test)"
    );
    let mut cmd = Command::new("bash");
    cmd.arg(root.join(script))
        .current_dir(root)
        .env("BENCH_INSIDE_KEYRING", "1")
        .env("BENCH_BIN_DIR", bin_dir)
        .env("KUBECTL_DIR", crate::main_job::kubectl_dir())
        .env_remove("KUBECTL_DEDICATED_REGISTRY_PROFILE")
        .env_remove("KUBECTL_DEDICATED_REGISTRY_CONFIG")
        .stdin(std::process::Stdio::null());
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.output().expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} failed\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `tests/bench-fanout.sh`: one mint for the fresh fan-out, none for the re-run or the added
/// namespaces, and a peak RSS.
#[test]
fn the_fan_out_benchmark_runs_short() {
    let out = bench(
        "tests/bench-fanout.sh",
        &[
            ("NAMESPACES", "20"),
            ("LATENCIES", "0"),
            ("ADDED", "3"),
            ("KUBECTL_LOOP", "0"),
        ],
    );
    let row = out
        .lines()
        .find(|l| l.starts_with("| 0 ms | 20 |"))
        .unwrap_or_else(|| panic!("no result row\n{out}"));
    assert!(row.contains("| 1 / 0 / 0 |"), "{row}");
    assert!(row.trim_end().ends_with("MiB |"), "{row}");
}

/// `tests/bench-watch.sh` (issue 24, N6): the watch converges every namespace, stops on SIGTERM
/// and its peak RSS is reported.
#[test]
fn the_watch_memory_benchmark_runs_short() {
    let out = bench(
        "tests/bench-watch.sh",
        &[("NAMESPACES", "20"), ("IDLE", "1")],
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("bench-watch: "))
        .unwrap_or_else(|| panic!("no result line\n{out}"));
    // 20 extra namespaces and the seeded default, team-a, team-b (kube-system is skipped).
    assert!(line.contains("23 namespaces converged in"), "{line}");
    assert!(line.contains("peak RSS of --watch:"), "{line}");
}

/// `tests/bench-controller.sh` (issue 21): the controller's first pass over every namespace,
/// new namespaces supplied one after the other, its memory, and a single mint.
#[test]
fn the_controller_benchmark_runs_short() {
    let out = bench(
        "tests/bench-controller.sh",
        &[("SIZES", "20"), ("ROUNDS", "2")],
    );
    // 20 extra namespaces and the seeded default, team-a, team-b (kube-system is skipped).
    let row = out
        .lines()
        .find(|l| l.starts_with("| 23 | "))
        .unwrap_or_else(|| panic!("no result row\n{out}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(cells.len(), 8, "{row}");
    assert!(cells[2].ends_with(" s"), "first pass: {row}");
    assert!(cells[3].contains(" s / "), "new namespaces: {row}");
    assert!(
        cells[4].ends_with("MiB") && cells[5].ends_with("MiB"),
        "{row}"
    );
    assert_eq!(cells[6], "1", "one mint for the cluster: {row}");
}

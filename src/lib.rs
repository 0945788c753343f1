//! `kubectl dedicated-registry`: log in to an IBM Cloud Dedicated environment, mint
//! least-privilege registry tokens and write Kubernetes image pull secrets.
//!
//! [`run`] is the whole program: it parses arguments, runs one command on a Tokio runtime and
//! maps the outcome to an exit code (0 success, 1 any failure, as kubectl). Errors are printed
//! once, on one line, as `error: ...`; they never contain secrets.

pub mod cli;
pub mod cluster;
pub mod commands;
pub mod complete;
pub mod config;
pub mod env;
pub mod http;
pub mod interrupt;
pub mod manifests;
pub mod redact;
pub mod registry;
pub mod secrets;
pub mod session;
pub mod uaa;
pub mod verify;

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

/// Runs the plugin with these arguments (`args[0]` is the program name).
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    // Completion requests carry half-typed words; they bypass argument validation entirely.
    if args.get(1).is_some_and(|a| a == "__complete") {
        let words = args[2..]
            .iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect();
        return commands::complete_raw(words);
    }
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are successes; usage errors exit 1 like kubectl.
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(commands::dispatch(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed stdout (`... | head`) is not a failure.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {}", redact::one_line(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}

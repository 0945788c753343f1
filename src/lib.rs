//! `kubectl dedicated-registry`: log in to an IBM Cloud Dedicated environment, mint
//! least-privilege registry tokens and write Kubernetes image pull secrets.
//!
//! [`run`] is the whole program: it parses arguments, runs one command on a Tokio runtime and
//! maps the outcome to an exit code (0 success, 1 any failure, as kubectl). Errors are printed
//! once, on one line, as `error: ...`; they never contain secrets.

// Layers, lowest first; a module uses only modules of lower layers (docs/architecture.md,
// "Layout"; checked by `tests/it/layout.rs`).
pub mod env;
pub mod jwt;
pub mod limits;
pub mod redact;
pub mod text;
pub mod trace;

pub mod output;

pub mod cancel;

pub mod http;
pub mod manifests;

pub mod cluster;
pub mod registry;
pub mod store;

pub mod providers;

pub mod engine;

pub mod controller;

pub mod cli;

pub mod commands;

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;

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
    let args = {
        use clap::CommandFactory as _;
        let mut root = cli::Cli::command();
        root.build();
        match cli::argv::normalize(&root, args) {
            Ok(args) => args,
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "error: {}", output::printable(&e));
                return ExitCode::from(1);
            }
        }
    };
    let parsed = cli::command()
        .try_get_matches_from(args)
        .and_then(|matches| <cli::Cli as clap::FromArgMatches>::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are successes; usage errors exit 1 like kubectl.
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // Go programs (kubectl too) run with the soft open-files limit raised to the hard one.
    limits::raise_open_files();
    let profile = cli
        .profile
        .clone()
        .filter(|p| p != store::DEFAULT_PROFILE && !p.is_empty());
    let result = cli::settings::Settings::from_cli(cli).and_then(|settings| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
        runtime.block_on(commands::dispatch(settings))
    });
    exit_code(result, profile.as_deref())
}

/// Prints a failure once, on one line, scrubbed; a closed stdout (`... | head`) is success.
fn exit_code(result: anyhow::Result<()>, profile: Option<&str>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            let mut stderr = std::io::stderr().lock();
            let line = output::printable(&redact::one_line(&format!("{e:#}")));
            let line = with_profile_flag(&line, profile);
            let _ = writeln!(stderr, "error: {line}");
            ExitCode::from(cancel::Cancel::process().exit_code().unwrap_or(1))
        }
    }
}

/// The error's `kubectl dedicated-registry ...` hints with the user's `--profile` (any but the
/// default), so they can be run as written (issue 24, friction 3).
fn with_profile_flag(line: &str, profile: Option<&str>) -> String {
    const COMMAND: &str = "`kubectl dedicated-registry ";
    match profile {
        Some(profile) if !line.contains("--profile") => {
            line.replace(COMMAND, &format!("{COMMAND}--profile {profile} "))
        }
        _ => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hints_carry_the_profile_flag() {
        let line = "the stored login has expired; run `kubectl dedicated-registry login` again";
        assert_eq!(
            super::with_profile_flag(line, Some("prod")),
            "the stored login has expired; run `kubectl dedicated-registry --profile prod login` again"
        );
        assert_eq!(super::with_profile_flag(line, None), line);
        let named = "run `kubectl dedicated-registry --profile x login`";
        assert_eq!(super::with_profile_flag(named, Some("prod")), named);
    }
}

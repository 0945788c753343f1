//! Ctrl-C, SIGTERM and SIGHUP for the CLI: the process's [`Cancel`] token is asked to stop, and
//! the handler exits at once when no credential window is open (exit 128 + the signal, as
//! without a handler). A cancelled CI job (SIGTERM), `timeout`, or a closed terminal (SIGHUP)
//! are treated like Ctrl-C. A second signal inside a window exits at once, with a warning, for
//! a request that hangs. Only the CLI installs signal handlers; the engine gets the token.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::cancel::{self, Cancel, Request, SIGHUP, SIGINT, SIGTERM};

static INSTALLED: AtomicBool = AtomicBool::new(false);

fn on_signal(token: &Cancel, signal: i32) {
    let name = cancel::signal_name(signal);
    match token.request(signal) {
        Request::StopNow => std::process::exit(128 + signal),
        Request::Again => {
            crate::output::warning(format!(
                "{name} again: exiting now; a registry token in flight may be left behind, check with `kubectl dedicated-registry token list`"
            ));
            std::process::exit(128 + signal);
        }
        Request::Deferred(finishing) => {
            crate::output::info(format!("interrupted by {name}: {finishing}"))
        }
    }
}

/// Starts handling Ctrl-C, SIGTERM and SIGHUP for the process's token (once per process). The
/// handlers are registered before this returns, so no signal can slip through between the call
/// and the first window. Must run inside the Tokio runtime.
pub fn install() {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    let token = Cancel::process();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        for (kind, number) in [
            (SignalKind::interrupt(), SIGINT),
            (SignalKind::terminate(), SIGTERM),
            (SignalKind::hangup(), SIGHUP),
        ] {
            match signal(kind) {
                Ok(mut stream) => {
                    let token = token.clone();
                    tokio::spawn(async move {
                        while stream.recv().await.is_some() {
                            on_signal(&token, number);
                        }
                    });
                }
                Err(e) => crate::output::warning(format!(
                    "cannot handle {} ({e}); it may leave a registry token behind",
                    cancel::signal_name(number)
                )),
            }
        }
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            on_signal(&token, SIGINT);
        }
    });
}

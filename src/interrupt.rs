//! Ctrl-C, SIGTERM and SIGHUP while a credential operation must not cut it in half.
//!
//! Outside a window, a signal ends the process at once (exit 130, 143 or 129: 128 + the signal),
//! as without this module. Inside one (a refresh-token rotation and its write-back; a registry
//! token from minting until it is in place or revoked), the request in flight is allowed to
//! finish, so the plugin knows what happened and can clean up; the command then stops with an
//! error instead of going on. A cancelled CI job (SIGTERM), `timeout`, or a closed terminal
//! (SIGHUP) are treated like Ctrl-C.
//!
//! The decision "exit now" and the opening of a window share one lock, so a window can never
//! open between the handler's check and its exit. A second signal inside a window exits at once
//! (with a warning), for a request that hangs.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Wakes [`signalled`] waiters.
static NOTIFY: tokio::sync::Notify = tokio::sync::Notify::const_new();
/// Open windows; the lock also serializes the handler's decision.
static WINDOWS: Mutex<usize> = Mutex::new(0);
/// The signal received inside a window (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// SIGINT (Ctrl-C).
pub const SIGINT: i32 = 2;
/// SIGTERM (`kill`, `timeout`, a cancelled CI job).
pub const SIGTERM: i32 = 15;
/// SIGHUP (the terminal closed).
pub const SIGHUP: i32 = 1;

fn on_signal(signal: i32) {
    let windows = WINDOWS.lock().unwrap_or_else(|e| e.into_inner());
    if *windows == 0 {
        std::process::exit(128 + signal);
    }
    if SIGNAL
        .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        // A second signal while the first is honoured: the user insists (a request may hang).
        crate::output::warning(format!(
            "{} again: exiting now; a registry token in flight may be left behind, check with `kubectl dedicated-registry token list`",
            name(signal)
        ));
        std::process::exit(128 + signal);
    }
    {
        crate::output::info(format!(
            "interrupted by {}: finishing the credential request in flight so it can be cleaned up",
            name(signal)
        ));
        NOTIFY.notify_one();
    }
}

/// Resolves once a signal arrives inside a window (for long-running commands that hold a
/// window for their whole life and stop cleanly between two steps).
pub async fn signalled() {
    while !interrupted() {
        NOTIFY.notified().await;
    }
}

/// How a signal is named in messages.
fn name(signal: i32) -> &'static str {
    match signal {
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "Ctrl-C",
    }
}

/// Starts handling Ctrl-C, SIGTERM and SIGHUP (once per process). The handlers are registered
/// before this returns, so no signal can slip through between the call and the first window.
/// Must run inside the Tokio runtime.
pub fn install() {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
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
                    tokio::spawn(async move {
                        while stream.recv().await.is_some() {
                            on_signal(number);
                        }
                    });
                }
                Err(e) => crate::output::warning(format!(
                    "cannot handle {} ({e}); it may leave a registry token behind",
                    name(number)
                )),
            }
        }
    }
    #[cfg(not(unix))]
    tokio::spawn(async {
        while tokio::signal::ctrl_c().await.is_ok() {
            on_signal(SIGINT);
        }
    });
}

/// Whether a signal arrived inside a window.
pub fn interrupted() -> bool {
    SIGNAL.load(Ordering::SeqCst) != 0
}

/// `interrupted by Ctrl-C` (or SIGTERM, SIGHUP), for the error that stops the command.
pub fn message() -> String {
    format!("interrupted by {}", name(SIGNAL.load(Ordering::SeqCst)))
}

/// The exit code after a deferred SIGTERM or SIGHUP (143, 129), so a supervisor sees the signal;
/// `None` otherwise (a deferred Ctrl-C is reported as a failure, exit 1).
pub fn exit_code() -> Option<u8> {
    match SIGNAL.load(Ordering::SeqCst) {
        s @ (SIGTERM | SIGHUP) => Some(128 + s as u8),
        _ => None,
    }
}

/// A critical window; Ctrl-C is deferred while one is alive.
pub struct Window(());

impl Window {
    /// Opens a window.
    pub fn open() -> Window {
        *WINDOWS.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Window(())
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        *WINDOWS.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
    }
}

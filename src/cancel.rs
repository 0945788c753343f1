//! Cancellation as a value: a [`Cancel`] token is passed to whatever may be stopped (the CLI
//! hands the process's token to the engine; the controller makes its own), and a [`Window`]
//! keeps a credential operation from being cut in half.
//!
//! Outside a window, a request to stop ends the process at once (the CLI's signal handler,
//! `cli::signals`, exits 128 + the signal). Inside one (a refresh-token rotation and its
//! write-back; a registry credential from minting until it is in place or revoked), the request
//! in flight is allowed to finish, so the caller knows what happened and can clean up, then
//! stops with an error instead of going on.
//!
//! The decision "exit now or defer" and the opening of a window share one lock, so a window can
//! never open between the decision and the exit. This module installs no signal handler and
//! prints nothing: it is a leaf every layer may use.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// SIGINT (Ctrl-C).
pub const SIGINT: i32 = 2;
/// SIGTERM (`kill`, `timeout`, a cancelled CI job, a Pod being stopped).
pub const SIGTERM: i32 = 15;
/// SIGHUP (the terminal closed).
pub const SIGHUP: i32 = 1;

#[derive(Default)]
struct State {
    /// What each open window is finishing, innermost last; the lock also serializes
    /// [`Cancel::request`].
    windows: Mutex<Vec<&'static str>>,
    /// The signal received inside a window (0: none).
    signal: AtomicI32,
    /// Wakes [`Cancel::cancelled`] waiters.
    notify: tokio::sync::Notify,
}

/// A cancellation token; clones share one state.
#[derive(Clone, Default)]
pub struct Cancel(Arc<State>);

/// What a request to stop ([`Cancel::request`]) amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// No window is open: stop now.
    StopNow,
    /// Deferred: the operation in flight (what the innermost window finishes) ends first,
    /// then the work stops.
    Deferred(&'static str),
    /// A second request while the first is honoured: the caller insists.
    Again,
}

impl Cancel {
    /// A fresh token (for tests and for each controller task tree).
    pub fn new() -> Self {
        Self::default()
    }

    /// The process's token: the one the CLI's signal handlers cancel.
    pub fn process() -> Cancel {
        static PROCESS: OnceLock<Cancel> = OnceLock::new();
        PROCESS.get_or_init(Cancel::new).clone()
    }

    /// Asks to stop because of `signal` (a signal number, for messages and the exit code).
    pub fn request(&self, signal: i32) -> Request {
        let windows = self.0.windows.lock().unwrap_or_else(|e| e.into_inner());
        let Some(&finishing) = windows.last() else {
            return Request::StopNow;
        };
        if self
            .0
            .signal
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Request::Again;
        }
        self.0.notify.notify_waiters();
        Request::Deferred(finishing)
    }

    /// Whether a stop was requested (and deferred by a window).
    pub fn is_cancelled(&self) -> bool {
        self.0.signal.load(Ordering::SeqCst) != 0
    }

    /// Resolves once a stop is requested inside a window (for long-running work that holds a
    /// window for its whole life and stops cleanly between two steps).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.0.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    /// `interrupted by Ctrl-C` (or SIGTERM, SIGHUP), for the error that stops the work.
    pub fn message(&self) -> String {
        format!(
            "interrupted by {}",
            signal_name(self.0.signal.load(Ordering::SeqCst))
        )
    }

    /// The exit code after a deferred SIGTERM or SIGHUP (143, 129), so a supervisor sees the
    /// signal; `None` otherwise (a deferred Ctrl-C is reported as a failure, exit 1).
    pub fn exit_code(&self) -> Option<u8> {
        match self.0.signal.load(Ordering::SeqCst) {
            s @ (SIGTERM | SIGHUP) => Some(128 + s as u8),
            _ => None,
        }
    }

    /// Opens a window for a registry credential: a stop requested while it is alive is
    /// deferred until the request in flight has finished.
    pub fn window(&self) -> Window {
        self.window_for(CREDENTIAL)
    }

    /// Opens a window that finishes `what` (said when a stop is deferred: "interrupted by
    /// Ctrl-C: {what}").
    pub fn window_for(&self, what: &'static str) -> Window {
        self.0
            .windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(what);
        Window(self.0.clone(), what)
    }
}

/// How a signal is named in messages.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "Ctrl-C",
    }
}

/// What a credential window finishes.
pub const CREDENTIAL: &str = "finishing the credential request in flight so it can be cleaned up";

/// A critical window of a [`Cancel`] token; a stop is deferred while one is alive.
pub struct Window(Arc<State>, &'static str);

impl std::fmt::Debug for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Window")
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        let mut windows = self.0.windows.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = windows.iter().rposition(|w| *w == self.1) {
            windows.remove(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_is_deferred_only_inside_a_window() {
        let cancel = Cancel::new();
        assert_eq!(cancel.request(SIGTERM), Request::StopNow);
        assert!(!cancel.is_cancelled());
        let window = cancel.window();
        assert_eq!(cancel.request(SIGTERM), Request::Deferred(CREDENTIAL));
        assert!(cancel.is_cancelled());
        assert_eq!(cancel.message(), "interrupted by SIGTERM");
        assert_eq!(cancel.exit_code(), Some(143));
        assert_eq!(cancel.request(SIGINT), Request::Again);
        drop(window);
        // Tokens are independent: another one is not cancelled.
        assert!(!Cancel::new().is_cancelled());
    }

    /// Issue 24, friction 9: an idle watch holds only its own window, so a stop names that, not
    /// a credential request; a credential window opened inside it is named while it is open.
    #[test]
    fn a_deferred_stop_names_what_the_innermost_window_finishes() {
        const WATCH: &str = "stopping the watch";
        let cancel = Cancel::new();
        let watch = cancel.window_for(WATCH);
        let mint = cancel.window();
        let innermost = |c: &Cancel| c.0.windows.lock().unwrap().last().copied();
        assert_eq!(innermost(&cancel), Some(CREDENTIAL));
        drop(mint);
        assert_eq!(innermost(&cancel), Some(WATCH));
        assert_eq!(cancel.request(SIGINT), Request::Deferred(WATCH));
        drop(watch);
        assert!(cancel.0.windows.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn waiters_wake_on_a_deferred_stop() {
        let cancel = Cancel::new();
        let _window = cancel.window();
        let waiter = tokio::spawn({
            let cancel = cancel.clone();
            async move { cancel.cancelled().await }
        });
        tokio::task::yield_now().await;
        assert_eq!(cancel.request(SIGINT), Request::Deferred(CREDENTIAL));
        waiter.await.expect("the waiter wakes");
        assert_eq!(cancel.exit_code(), None);
    }
}

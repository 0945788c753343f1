//! Ctrl-C while a credential operation must not be cut in half.
//!
//! Outside a window, Ctrl-C ends the process at once (exit 130), as without this module. Inside
//! one (a refresh-token rotation and its write-back; a registry token from minting until it is in
//! place or revoked), the request in flight is allowed to finish, so the plugin knows what
//! happened and can clean up; the command then stops with an error instead of going on.
//!
//! The decision "exit now" and the opening of a window share one lock, so a window can never
//! open between the handler's check and its exit.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Open windows; the lock also serializes the handler's decision.
static WINDOWS: Mutex<usize> = Mutex::new(0);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static INSTALLED: AtomicBool = AtomicBool::new(false);

fn on_interrupt() {
    let windows = WINDOWS.lock().unwrap_or_else(|e| e.into_inner());
    if *windows == 0 {
        std::process::exit(130);
    }
    if !INTERRUPTED.swap(true, Ordering::SeqCst) {
        crate::output::info(
            "interrupted: finishing the credential request in flight so it can be cleaned up",
        );
    }
}

/// Starts handling Ctrl-C (once per process). The handler is registered before this returns,
/// so no interrupt can slip through between the call and the first window. Must run inside the
/// Tokio runtime.
pub fn install() {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::interrupt()) {
            Ok(mut stream) => {
                tokio::spawn(async move {
                    while stream.recv().await.is_some() {
                        on_interrupt();
                    }
                });
            }
            Err(e) => crate::output::warning(format!(
                "cannot handle Ctrl-C ({e}); an interrupt may leave a registry token behind"
            )),
        }
    }
    #[cfg(not(unix))]
    tokio::spawn(async {
        while tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt();
        }
    });
}

/// Whether Ctrl-C was pressed inside a window.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
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

//! Ctrl-C while a registry token exists but is not yet in place.
//!
//! Outside such a window, Ctrl-C ends the process at once (exit 130), as without this module.
//! Inside one (from minting until the secret is written), the request in flight is allowed to
//! finish, so the plugin knows whether the token was used and can revoke it if not; the command
//! then stops with an error instead of going on.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static OPEN_WINDOWS: AtomicUsize = AtomicUsize::new(0);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Starts listening for Ctrl-C (once per process). Must run inside the Tokio runtime.
pub fn install() {
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    tokio::spawn(async {
        while tokio::signal::ctrl_c().await.is_ok() {
            if OPEN_WINDOWS.load(Ordering::SeqCst) == 0 {
                std::process::exit(130);
            }
            if !INTERRUPTED.swap(true, Ordering::SeqCst) {
                crate::commands::warn(
                    "interrupted: finishing the registry token request in flight so it can be cleaned up (Ctrl-C again is ignored)",
                );
            }
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
        OPEN_WINDOWS.fetch_add(1, Ordering::SeqCst);
        Window(())
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        OPEN_WINDOWS.fetch_sub(1, Ordering::SeqCst);
    }
}

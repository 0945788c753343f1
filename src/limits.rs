//! The process's open-files limit, which bounds how many requests can be in flight at once.
//!
//! Every concurrent Kubernetes request holds a socket. Under a low limit (macOS's default soft
//! limit is 256) `--concurrency 256` made hundreds of requests fail with EMFILE, worded as an
//! unreachable API server (issue 24, N8). So the soft limit is raised to the hard limit at start
//! (as Go programs, kubectl among them, do), and the concurrency is clamped below what is left.

/// File descriptors kept for everything but the fan-out's sockets: stdio, the keyring's D-Bus
/// connection, the registry's connections, the kubeconfig and lock files.
pub const RESERVED: u64 = 64;

/// Raises the soft open-files limit to the hard limit; returns the soft limit in force after
/// (`None` where the platform has no such limit or it cannot be read).
pub fn raise_open_files() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        let soft = limit.current?;
        if limit.maximum.is_none_or(|hard| hard > soft) {
            // macOS refuses more than OPEN_MAX for an unlimited hard limit: then keep the soft.
            let raised = Rlimit {
                current: limit.maximum.or(Some(soft)),
                maximum: limit.maximum,
            };
            if setrlimit(Resource::Nofile, raised).is_ok() {
                return getrlimit(Resource::Nofile).current;
            }
        }
        Some(soft)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The open-files soft limit in force now (`None`: none known).
pub fn open_files() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// `wanted` requests at once, lowered so they fit in `limit` open files with [`RESERVED`] to
/// spare; `Some(lowered)` when it had to be lowered.
pub fn clamp_concurrency(wanted: usize, limit: Option<u64>) -> Option<usize> {
    let limit = limit?;
    let room = usize::try_from(limit.saturating_sub(RESERVED).max(1)).unwrap_or(usize::MAX);
    (wanted > room).then_some(room)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_fits_in_the_open_files_limit() {
        assert_eq!(clamp_concurrency(256, Some(256)), Some(192));
        assert_eq!(clamp_concurrency(16, Some(256)), None);
        assert_eq!(clamp_concurrency(192, Some(256)), None);
        assert_eq!(clamp_concurrency(8, Some(10)), Some(1));
        assert_eq!(clamp_concurrency(10_000, None), None);
    }
}

//! Diagnostics every layer may emit, as [`tracing`] events: where they go is the front end's
//! choice, not the emitter's. The CLI prints them kubectl-style on stderr (`-v N` logs, status
//! lines, `warning: ` lines, scrubbed of secrets); the in-cluster controller writes them as JSON
//! log lines.
//!
//! Three kinds, one function each:
//! - [`log`]: a `-v N` diagnostic (kubectl's levels: 1 decisions, 6 one line per request, 8
//!   masked headers and bodies). Each level is its own `tracing` target, `TARGET::vN`, at
//!   `DEBUG` (`TRACE` from 8 on), so a subscriber can tell the level without reading fields and
//!   [`enabled`] can skip expensive formatting.
//! - [`note`]: a status line a user running the command should see (`INFO`).
//! - [`warning`]: something went not quite as asked, but the job goes on (`WARN`).
//!
//! Messages must never contain a secret: the typed paths keep credentials in `SecretString`s,
//! and the CLI's printer scrubs registered secrets as a second line of defence.

/// The target prefix of every event this crate emits.
pub const TARGET: &str = "kubectl_dedicated_registry";

/// The highest `-v` level with a target of its own; higher levels log as this one.
pub const MAX_LEVEL: u8 = 9;

macro_rules! by_level {
    ($level:expr, $macro:ident, $($arg:tt)*) => {
        match $level {
            0 | 1 => tracing::$macro!(target: "kubectl_dedicated_registry::v1", $($arg)*),
            2 => tracing::$macro!(target: "kubectl_dedicated_registry::v2", $($arg)*),
            3 => tracing::$macro!(target: "kubectl_dedicated_registry::v3", $($arg)*),
            4 => tracing::$macro!(target: "kubectl_dedicated_registry::v4", $($arg)*),
            5 => tracing::$macro!(target: "kubectl_dedicated_registry::v5", $($arg)*),
            6 => tracing::$macro!(target: "kubectl_dedicated_registry::v6", $($arg)*),
            7 => tracing::$macro!(target: "kubectl_dedicated_registry::v7", $($arg)*),
            8 => tracing::$macro!(target: "kubectl_dedicated_registry::v8", $($arg)*),
            _ => tracing::$macro!(target: "kubectl_dedicated_registry::v9", $($arg)*),
        }
    };
}

/// The `-v` level of an event's target (`kubectl_dedicated_registry::v6` → 6); `None` for
/// notes, warnings and other crates' events.
pub fn level_of(target: &str) -> Option<u8> {
    let level = target.strip_prefix(TARGET)?.strip_prefix("::v")?;
    level.parse().ok().filter(|l| (1..=MAX_LEVEL).contains(l))
}

/// Logs `message` at `-v level`.
pub fn log(level: u8, message: impl AsRef<str>) {
    let message = message.as_ref();
    if level >= 8 {
        by_level!(level, trace, "{message}");
    } else {
        by_level!(level, debug, "{message}");
    }
}

/// Whether a [`log`] at `level` would be shown (to skip building expensive messages).
pub fn enabled(level: u8) -> bool {
    macro_rules! at {
        ($target:literal) => {
            if level >= 8 {
                tracing::enabled!(target: $target, tracing::Level::TRACE)
            } else {
                tracing::enabled!(target: $target, tracing::Level::DEBUG)
            }
        };
    }
    match level {
        0 | 1 => at!("kubectl_dedicated_registry::v1"),
        2 => at!("kubectl_dedicated_registry::v2"),
        3 => at!("kubectl_dedicated_registry::v3"),
        4 => at!("kubectl_dedicated_registry::v4"),
        5 => at!("kubectl_dedicated_registry::v5"),
        6 => at!("kubectl_dedicated_registry::v6"),
        7 => at!("kubectl_dedicated_registry::v7"),
        8 => at!("kubectl_dedicated_registry::v8"),
        _ => at!("kubectl_dedicated_registry::v9"),
    }
}

/// A status line for the person running the command.
pub fn note(message: impl AsRef<str>) {
    tracing::info!(target: TARGET, "{}", message.as_ref());
}

/// A warning: the job goes on, but not quite as asked.
pub fn warning(message: impl AsRef<str>) {
    tracing::warn!(target: TARGET, "{}", message.as_ref());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_read_from_targets() {
        assert_eq!(level_of("kubectl_dedicated_registry::v6"), Some(6));
        assert_eq!(level_of("kubectl_dedicated_registry::v9"), Some(9));
        assert_eq!(level_of("kubectl_dedicated_registry"), None);
        assert_eq!(level_of("kubectl_dedicated_registry::v0"), None);
        assert_eq!(level_of("hyper::proto"), None);
    }
}

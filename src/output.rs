//! Everything the plugin writes, in one leaf module every layer may use.
//!
//! - stdout carries data only: kubectl-style `kind/name verb` lines, tables, YAML/JSON
//!   ([`data`], [`render`]);
//! - stderr carries progress ([`info`]), warnings ([`warning`], always prefixed `warning: `) and
//!   `-v` logs ([`log`]); every stderr line passes through the scrubber ([`crate::redact`]).
//!
//! It imports nothing from the plugin but [`crate::redact`], so no lower module needs `commands`.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The `-v` level, set once at start-up.
static VERBOSITY: AtomicU8 = AtomicU8::new(0);

/// Set for `__complete`: nothing at all goes to stderr (a shell's completion would show it).
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Silences [`info`], [`warning`] and [`log`] for the rest of the run.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Sets the `-v` level for [`log`].
pub fn set_verbosity(level: u8) {
    VERBOSITY.store(level, Ordering::Relaxed);
}

/// Whether messages at `level` are shown.
pub fn enabled(level: u8) -> bool {
    VERBOSITY.load(Ordering::Relaxed) >= level
}

/// Text from a server made safe for a terminal: C0 and C1 control characters (escape
/// sequences, carriage returns, bells) are dropped, except newline and tab.
pub fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}

/// The progress bar on screen, if any: every line written meanwhile is printed above it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Runs `write` with the progress bar (if one is on screen) lifted, so lines never mix with it.
fn above_bar<T>(write: impl FnOnce() -> T) -> T {
    let bar = BAR.lock().ok().and_then(|b| b.clone());
    match bar {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// A progress bar on stderr for long multi-object work: shown only when stderr is a terminal
/// and there are more than a handful of objects, so logs and pipes stay clean.
pub struct Progress {
    bar: Option<ProgressBar>,
    failed: std::sync::atomic::AtomicUsize,
}

impl Progress {
    /// Objects below this count get no bar.
    const MIN_OBJECTS: usize = 6;

    /// Starts a bar over `total` objects of `kind` (e.g. `namespaces`), when it is worth one.
    pub fn start(total: usize, kind: &str) -> Progress {
        let bar = (total >= Self::MIN_OBJECTS && std::io::stderr().is_terminal()).then(|| {
            let style = ProgressStyle::with_template(&format!(
                "{{bar:30}} {{pos}}/{{len}} {kind}, {{msg}}, {{elapsed}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            let bar = ProgressBar::with_draw_target(
                Some(total as u64),
                ProgressDrawTarget::stderr_with_hz(10),
            )
            .with_style(style)
            .with_message("0 failed");
            if let Ok(mut slot) = BAR.lock() {
                *slot = Some(bar.clone());
            }
            bar
        });
        Progress {
            bar,
            failed: Default::default(),
        }
    }

    /// One object done (`failed` if it failed).
    pub fn done(&self, failed: bool) {
        let failures = self
            .failed
            .fetch_add(usize::from(failed), Ordering::Relaxed)
            + usize::from(failed);
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{failures} failed"));
            bar.inc(1);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            if let Ok(mut slot) = BAR.lock() {
                *slot = None;
            }
        }
    }
}

/// Writes a progress or status line to stderr, scrubbed of secrets and of terminal controls.
pub fn info(message: impl AsRef<str>) {
    if QUIET.load(Ordering::Relaxed) {
        return;
    }
    let line = printable(&crate::redact::scrub(message.as_ref()));
    above_bar(|| eprintln!("{line}"));
}

/// Writes `warning: <message>` to stderr, scrubbed of secrets.
pub fn warning(message: impl AsRef<str>) {
    info(format!("warning: {}", message.as_ref()));
}

/// Logs to stderr at `level` (`-v`) and above. Never pass secrets (they would be scrubbed,
/// but the typed paths must not rely on that).
pub fn log(level: u8, message: impl AsRef<str>) {
    if enabled(level) {
        info(message);
    }
}

/// Writes data to stdout, with a final newline (broken pipes surface as errors that
/// [`crate::run`] treats as success).
pub fn data(text: &str) -> std::io::Result<()> {
    above_bar(|| data_now(text))
}

fn data_now(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// The closest of `candidates` to a mistyped `name` (edit distance at most a third of its
/// length), for "did you mean" hints.
pub fn did_you_mean<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(name, c), *c))
        .filter(|(distance, _)| *distance > 0 && *distance <= (name.len() / 3).max(1))
        .min()
        .map(|(_, c)| c)
}

/// The two object formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML.
    Yaml,
    /// Indented JSON with a final newline.
    Json,
}

/// An object that cannot be rendered (a bug: every rendered type is plain data).
#[derive(Debug, thiserror::Error)]
#[error("cannot render the object as {format}: {detail}")]
pub struct RenderError {
    format: &'static str,
    detail: String,
}

/// Renders an object for `-o yaml|json` (both include `apiVersion` and `kind`).
pub fn render<T: serde::Serialize>(object: &T, format: Format) -> Result<String, RenderError> {
    match format {
        Format::Yaml => serde_saphyr::to_string(object).map_err(|e| RenderError {
            format: "YAML",
            detail: e.to_string(),
        }),
        Format::Json => serde_json::to_string_pretty(object)
            .map(|json| json + "\n")
            .map_err(|e| RenderError {
                format: "JSON",
                detail: e.to_string(),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_yaml_and_json() {
        let value = serde_json::json!({"apiVersion": "v1", "kind": "Secret"});
        assert_eq!(
            render(&value, Format::Json).unwrap(),
            "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Secret\"\n}\n"
        );
        assert_eq!(
            render(&value, Format::Yaml).unwrap(),
            "apiVersion: v1\nkind: Secret\n"
        );
    }

    #[test]
    fn printable_drops_terminal_controls() {
        assert_eq!(
            printable("a\u{1b}[31mred\u{1b}[0m\r\u{7}\u{9b}2J\u{7f}b\n\tc"),
            "a[31mred[0m2Jb\n\tc"
        );
        assert_eq!(printable("plain: ünïcode"), "plain: ünïcode");
    }

    #[test]
    fn close_names_are_suggested() {
        let contexts = ["sandbox-admin", "sandbox-dev", "prod"];
        assert_eq!(
            did_you_mean("sandbox-admn", &contexts),
            Some("sandbox-admin")
        );
        assert_eq!(did_you_mean("prd", &contexts), Some("prod"));
        assert_eq!(did_you_mean("staging", &contexts), None);
        assert_eq!(
            did_you_mean("prod", &contexts),
            None,
            "an exact name is no typo"
        );
    }

    #[test]
    fn verbosity_gates_logs() {
        set_verbosity(0);
        assert!(!enabled(1));
        set_verbosity(6);
        assert!(enabled(6) && !enabled(7));
        set_verbosity(0);
    }
}

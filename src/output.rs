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

pub use crate::text::{did_you_mean, printable};

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

/// Whether stderr lines are JSON objects (`controller --log-format json`).
static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From now on every status, warning and log line is written as one JSON object
/// (`{"ts":…,"level":…,"msg":…}`), scrubbed as the text lines are.
pub fn json_logs() {
    JSON_LOGS.store(true, Ordering::Relaxed);
}

/// Writes a progress or status line to stderr, scrubbed of secrets and of terminal controls.
pub fn info(message: impl AsRef<str>) {
    emit("info", message.as_ref());
}

/// Writes `warning: <message>` to stderr, scrubbed of secrets.
pub fn warning(message: impl AsRef<str>) {
    if JSON_LOGS.load(Ordering::Relaxed) {
        emit("warning", message.as_ref());
    } else {
        info(format!("warning: {}", message.as_ref()));
    }
}

/// Logs to stderr at `level` (`-v`) and above. Never pass secrets (they would be scrubbed,
/// but the typed paths must not rely on that).
pub fn log(level: u8, message: impl AsRef<str>) {
    if enabled(level) {
        emit("debug", message.as_ref());
    }
}

/// One stderr line: text (controls made printable) or a JSON object (controls escaped).
fn emit(level: &str, message: &str) {
    if QUIET.load(Ordering::Relaxed) {
        return;
    }
    let scrubbed = crate::redact::scrub(message);
    let line = if JSON_LOGS.load(Ordering::Relaxed) {
        let ts = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
        serde_json::json!({"ts": ts, "level": level, "msg": scrubbed}).to_string()
    } else {
        printable(&scrubbed)
    };
    above_bar(|| eprintln!("{line}"));
}

/// Prints the plugin's [`crate::trace`] events the kubectl way: notes as status lines,
/// warnings as `warning: ` lines, `-v N` logs when `-v` is at least N. Other crates' events
/// (kube, hyper) are not shown: the plugin logs their requests itself at `-v 6`.
struct Printer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Printer {
    fn enabled(
        &self,
        metadata: &tracing::Metadata<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        let target = metadata.target();
        match crate::trace::level_of(target) {
            Some(level) => enabled(level),
            None => target == crate::trace::TARGET,
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let metadata = event.metadata();
        match crate::trace::level_of(metadata.target()) {
            Some(level) => log(level, message.0),
            None if *metadata.level() == tracing::Level::WARN => warning(message.0),
            None => info(message.0),
        }
    }
}

/// The `message` field of an event.
struct Message(String);

impl tracing::field::Visit for Message {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// Sets the `-v` level and makes [`crate::trace`] events print through this module, for the
/// rest of the process (once; later calls only change the level).
pub fn install(verbosity: u8) {
    use tracing_subscriber::layer::SubscriberExt as _;
    set_verbosity(verbosity);
    let subscriber = tracing_subscriber::registry().with(Printer);
    let _ = tracing::subscriber::set_global_default(subscriber);
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

/// Left-aligned columns separated by three spaces, as kubectl's tabwriter prints them.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let last = cells.len() - 1;
        let mut text = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                text.push_str(&cell);
            } else {
                let pad = widths[i] - cell.chars().count() + 3;
                text.push_str(&cell);
                text.push_str(&" ".repeat(pad));
            }
        }
        text.trim_end().to_string() + "\n"
    };
    let mut text = line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        text.push_str(&line(row.clone()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_like_kubectl() {
        let text = table(
            &["CURRENT", "NAME", "API"],
            &[
                vec!["*".into(), "default".into(), "https://api.x".into()],
                vec!["".into(), "prod".into(), "https://api.longer.y".into()],
            ],
        );
        assert_eq!(
            text,
            "CURRENT   NAME      API\n*         default   https://api.x\n          prod      https://api.longer.y\n"
        );
    }

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
    fn verbosity_gates_logs() {
        set_verbosity(0);
        assert!(!enabled(1));
        set_verbosity(6);
        assert!(enabled(6) && !enabled(7));
        set_verbosity(0);
    }
}

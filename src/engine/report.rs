//! How the engine tells a front end what it did, object by object: a [`Reporter`] passed in.
//! The CLI prints kubectl-style lines and a progress bar; the controller turns the same calls
//! into Events and metrics. Status lines and warnings go through [`crate::trace`] instead.

use k8s_openapi::api::core::v1::Secret;

/// One object's outcome, as kubectl says it (`secret/regcred configured`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// The object itself may be printed (`-o yaml|json`): one namespace's create.
    Object,
    /// A line among many (fan-out, rotation): `-o` prints only `kind/name`.
    Line,
    /// A ServiceAccount change.
    Account,
}

/// Receives each object's outcome and the progress of a multi-object run.
pub trait Reporter: Send + Sync {
    /// `kind/name verb` for `object` (the Secret written, or as it is); `verb` already carries
    /// its ` (namespace NS)` and dry-run marks.
    fn object(
        &self,
        shown: Shown,
        kind_name: &str,
        verb: &str,
        object: Option<&Secret>,
    ) -> anyhow::Result<()>;

    /// A progress tracker over `total` objects of `kind`.
    fn progress(&self, total: usize, kind: &str) -> Box<dyn Progress>;
}

/// The progress of one multi-object run; dropped when it ends.
pub trait Progress: Send + Sync {
    /// One object done (`failed` if it failed).
    fn done(&self, failed: bool);
}

/// A reporter that drops everything (tests, and work whose results are read from the report).
pub struct Silent;

struct NoProgress;

impl Progress for NoProgress {
    fn done(&self, _failed: bool) {}
}

impl Reporter for Silent {
    fn object(&self, _: Shown, _: &str, _: &str, _: Option<&Secret>) -> anyhow::Result<()> {
        Ok(())
    }

    fn progress(&self, _total: usize, _kind: &str) -> Box<dyn Progress> {
        Box::new(NoProgress)
    }
}

/// A reporter that keeps one namespace's lines (objects without a body) so a fan-out can print
/// them in namespace order whatever order the namespaces finish in (issue 24, friction 14).
#[derive(Default)]
pub struct Lines(std::sync::Mutex<Vec<(Shown, String, String)>>);

impl Lines {
    /// The lines kept, in the order they were reported.
    pub fn take(&self) -> Vec<(Shown, String, String)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Reporter for Lines {
    fn object(
        &self,
        shown: Shown,
        kind_name: &str,
        verb: &str,
        _: Option<&Secret>,
    ) -> anyhow::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push((
            shown,
            kind_name.to_string(),
            verb.to_string(),
        ));
        Ok(())
    }

    fn progress(&self, _total: usize, _kind: &str) -> Box<dyn Progress> {
        Box::new(NoProgress)
    }
}

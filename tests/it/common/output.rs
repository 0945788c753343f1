//! Reading what the plugin printed: warnings, table cells.

use crate::common::Run;

/// The `warning: ` lines of stderr.
pub fn warnings(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect()
}

/// The table's data lines as cells (split on runs of spaces; no cell here holds two spaces).
pub fn rows(table: &str) -> Vec<Vec<String>> {
    let split = regex::Regex::new(r" {2,}").unwrap();
    table
        .lines()
        .map(|l| split.split(l.trim_end()).map(str::to_string).collect())
        .collect()
}

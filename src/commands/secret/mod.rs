//! `secret create|render|verify|delete|list|rotate`, one file each: each turns its settings into
//! an engine call and renders what the engine reports.

mod create;
mod delete;
mod list;
mod render;
mod rotate;
mod verify;

pub use create::create;
pub use delete::delete;
pub use list::list;
pub use render::render;
pub use rotate::rotate;
pub use verify::verify;

/// Prints the `Target:` line of `secret create` and `secret rotate`: context, cluster, and the
/// namespace or the selection.
fn say_target(
    resolved: &crate::cluster::Resolved,
    fleet: Option<&crate::engine::spec::FleetScope>,
) {
    crate::output::info(format!(
        "Target: context `{}`, cluster `{}`, namespace {}",
        resolved.context.as_deref().unwrap_or("(none)"),
        resolved.cluster.as_deref().unwrap_or("(none)"),
        match fleet {
            Some(f) => match &f.selector {
                Some(s) => format!("-l {s} (except --exclude)"),
                None => "all (except kube-* and --exclude)".to_string(),
            },
            None => format!("`{}`", resolved.namespace),
        }
    ));
}

//! `diagnose pod`: why pods cannot pull, the way the kubelet sees it (the engine's
//! [`crate::engine::diagnose`]), printed as kubectl prints objects: a table, or `-o json|yaml`
//! with the whole evidence. Exit 1 when an image cannot be pulled.

use anyhow::bail;

use super::Ctx;
use crate::cli::settings::DiagnoseSettings;
use crate::cluster;
use crate::engine::diagnose::{self, Report};
use crate::output;

/// The longest FIX cell of the table (the whole fix is in `-o yaml`).
const FIX_WIDTH: usize = 400;

/// The table: NAMESPACE (with `-A`), POD, CONTAINER, IMAGE, SECRET, VERDICT, FIX.
fn table(report: &Report, all_namespaces: bool) -> String {
    let mut header = vec!["POD", "CONTAINER", "IMAGE", "SECRET", "VERDICT", "FIX"];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    let rows: Vec<Vec<String>> = report
        .items
        .iter()
        .map(|d| {
            let e = &d.evidence;
            let container = if e.init {
                format!("{} (init)", e.container)
            } else {
                e.container.clone()
            };
            let secret = d.secret();
            let mut row = vec![
                e.pod.clone(),
                container,
                e.image.clone(),
                if secret.is_empty() {
                    "<none>".into()
                } else {
                    secret
                },
                d.reason.to_string(),
                d.fix.chars().take(FIX_WIDTH).collect(),
            ];
            if all_namespaces {
                row.insert(0, e.namespace.clone());
            }
            row.iter()
                .map(|c| output::printable(&crate::redact::one_line(c)))
                .collect()
        })
        .collect();
    output::table(&header, &rows)
}

/// `diagnose pod [NAME] [-l SELECTOR] [-n NS | -A] [-o json|yaml]`.
pub async fn pod(ctx: &Ctx, settings: DiagnoseSettings) -> anyhow::Result<()> {
    let target = cluster::resolve(&ctx.global.kube).await?.connect()?;
    let registries = ctx.registries()?;
    let selection = &settings.selection;
    let report = diagnose::diagnose(&target, selection, &registries).await?;
    for skipped in &report.skipped {
        output::info(format!(
            "namespace {} skipped: {}",
            skipped.namespace, skipped.reason
        ));
    }
    match settings.format {
        Some(format) => output::data(&output::render(&report, format)?)?,
        None if report.items.is_empty() => {
            let scope = if selection.all_namespaces {
                "in any namespace".to_string()
            } else {
                format!("in namespace {}", target.namespace)
            };
            let which = if selection.selector.is_some() {
                "matches the selector"
            } else {
                "fails to pull"
            };
            output::info(format!("No pod {scope} {which}."));
        }
        None => output::data(table(&report, selection.all_namespaces).trim_end())?,
    }
    let broken = report.broken();
    if broken > 0 {
        let pods: std::collections::BTreeSet<(&str, &str)> = report
            .items
            .iter()
            .filter(|d| d.broken)
            .map(|d| (d.evidence.namespace.as_str(), d.evidence.pod.as_str()))
            .collect();
        let see = if settings.format.is_some() {
            "each item's `fix` says what to do"
        } else {
            "the FIX column says what to do (-o yaml shows the evidence)"
        };
        bail!(
            "{broken} image(s) of {} pod(s) cannot be pulled; {see}",
            pods.len()
        );
    }
    Ok(())
}

//! Which namespaces a multi-namespace run writes to (every namespace except `kube-*` and the
//! `--exclude` patterns, `*` matching anything; or those of a label selector), and the secrets
//! of one name in them. The rules are pure and unit-tested.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;
use futures::{StreamExt as _, stream};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ListParams};

use super::spec::FleetScope;
use crate::cluster::{self, Target, objects};

/// The namespaces selected from `all`, sorted; and the patterns applied, for messages.
/// Whether `kube-*` namespaces are left out: always with `-A`, and with `-l` unless the selector
/// names them.
pub fn skips_kube(selector: Option<&str>) -> bool {
    !selector.is_some_and(|s| s.contains("kube-"))
}

/// `kube-*` is skipped only when `skip_kube` (a selector may name those namespaces on purpose).
pub fn select_with(
    all: impl IntoIterator<Item = String>,
    exclude: &[String],
    skip_kube: bool,
) -> (Vec<String>, Vec<String>) {
    let mut patterns = if skip_kube {
        vec!["kube-*".to_string()]
    } else {
        vec![]
    };
    patterns.extend(exclude.iter().cloned());
    let mut names: Vec<String> = all
        .into_iter()
        .filter(|n| !patterns.iter().any(|p| glob_match(p, n)))
        .collect();
    names.sort();
    (names, patterns)
}

/// `*` wildcard matching for `--exclude`.
fn glob_match(pattern: &str, text: &str) -> bool {
    let regex = format!(
        "^{}$",
        pattern
            .split('*')
            .map(regex::escape)
            .collect::<Vec<_>>()
            .join(".*")
    );
    regex::Regex::new(&regex).is_ok_and(|r| r.is_match(text))
}

/// The secrets named `name`, by namespace: one cluster-wide LIST (the whole cluster), or one
/// GET per namespace of `names` when RBAC forbids listing secrets everywhere.
pub async fn fetch_named(
    target: &Target,
    name: &str,
    names: &[String],
    concurrency: usize,
) -> anyhow::Result<BTreeMap<String, Secret>> {
    match list_named(target, name).await? {
        Some(secrets) => Ok(secrets),
        None => Ok(fetch_each_named(target, name, names, concurrency).await),
    }
}

/// The secrets named `name` in the whole cluster (one LIST, field selector); `None` when RBAC
/// forbids listing secrets everywhere or the list failed on the server's side (then each
/// namespace is read).
pub async fn list_named(
    target: &Target,
    name: &str,
) -> anyhow::Result<Option<BTreeMap<String, Secret>>> {
    let everywhere: Api<Secret> = Api::all(target.client.clone());
    let params = ListParams::default().fields(&format!("metadata.name={name}"));
    match everywhere.list(&params).await {
        Ok(list) => Ok(Some(
            list.items
                .into_iter()
                .filter(|s| s.metadata.name.as_deref() == Some(name))
                .filter_map(|s| Some((s.metadata.namespace.clone()?, s)))
                .collect(),
        )),
        Err(e) if cluster::is_forbidden(&e) => {
            crate::trace::log(
                1,
                "listing secrets in all namespaces is forbidden; reading each namespace",
            );
            Ok(None)
        }
        Err(e) if objects::is_uncertain(&e) => {
            crate::trace::warning(format!(
                "listing secrets in all namespaces failed ({e}); reading each namespace"
            ));
            Ok(None)
        }
        Err(e) => Err(target
            .in_namespace("*")
            .error("list", "secrets", name, e)
            .into()),
    }
}

/// The secrets named `name` in `names`, one GET per namespace; a namespace that cannot be read
/// is left out (it fails alone, when it is written).
pub async fn fetch_each_named(
    target: &Target,
    name: &str,
    names: &[String],
    concurrency: usize,
) -> BTreeMap<String, Secret> {
    let reads = stream::iter(names)
        .map(|namespace| async move {
            let secrets: Api<Secret> = Api::namespaced(target.client.clone(), namespace);
            (namespace.clone(), secrets.get_opt(name).await)
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    let mut secrets = BTreeMap::new();
    for (namespace, read) in reads {
        if let Ok(Some(secret)) = read {
            secrets.insert(namespace, secret);
        }
    }
    secrets
}

/// The namespaces `-A`/`-l` select, sorted: one LIST (label selector on the server), less
/// `kube-*` (unless the selector names it) and `--exclude`. Terminating namespaces included.
pub async fn select(target: &Target, fleet: &FleetScope) -> anyhow::Result<Vec<String>> {
    let selection = selection(target, fleet).await?;
    let mut names = selection.live;
    names.extend(selection.terminating);
    names.sort();
    Ok(names)
}

/// The namespaces a selection holds, apart by whether anything can be created in them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Those to write, sorted.
    pub live: Vec<String>,
    /// Those being terminated (phase `Terminating` or a `deletionTimestamp`), sorted: the API
    /// server refuses every create there, so they are skipped, not written.
    pub terminating: Vec<String>,
}

/// Whether `namespace` is being terminated.
pub fn is_terminating(namespace: &Namespace) -> bool {
    namespace.metadata.deletion_timestamp.is_some()
        || namespace
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|p| p == "Terminating")
}

/// [`select`], with the namespaces being terminated apart.
pub async fn selection(target: &Target, fleet: &FleetScope) -> anyhow::Result<Selection> {
    let all: Api<Namespace> = Api::all(target.client.clone());
    let mut params = ListParams::default();
    if let Some(selector) = &fleet.selector {
        params = params.labels(selector);
    }
    let list = all.list(&params).await.map_err(|e| {
        let what = fleet
            .selector
            .as_deref()
            .map_or("*".to_string(), |s| format!("-l {s}"));
        target.error("list", "namespaces", &what, e)
    })?;
    let terminating: BTreeSet<String> = list
        .items
        .iter()
        .filter(|n| is_terminating(n))
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    // `kube-*` is skipped unless the selector names it.
    let skip_kube = skips_kube(fleet.selector.as_deref());
    let (names, patterns) = select_with(
        list.items.into_iter().filter_map(|n| n.metadata.name),
        &fleet.exclude,
        skip_kube,
    );
    if names.is_empty() {
        match &fleet.selector {
            Some(s) => bail!(
                "no namespace matches -l {s}{}; check the labels with `kubectl get namespaces --show-labels`",
                if patterns.is_empty() {
                    String::new()
                } else {
                    format!(" once {} are excluded", patterns.join(", "))
                }
            ),
            None => bail!("no namespace left after excluding {}", patterns.join(", ")),
        }
    }
    let (terminating, live) = names.into_iter().partition(|n| terminating.contains(n));
    Ok(Selection { live, terminating })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kube_namespaces_and_patterns_are_excluded_and_the_rest_sorted() {
        let (names, patterns) = select_with(
            strings(&[
                "team-b",
                "kube-system",
                "sandbox-1",
                "default",
                "team-a",
                "kube",
            ]),
            &strings(&["sandbox-*"]),
            true,
        );
        assert_eq!(names, strings(&["default", "kube", "team-a", "team-b"]));
        assert_eq!(patterns, strings(&["kube-*", "sandbox-*"]));
    }

    #[test]
    fn a_selector_naming_kube_namespaces_keeps_them() {
        let (names, patterns) = select_with(
            strings(&["kube-system", "kube-public", "team-a"]),
            &strings(&["kube-public"]),
            false,
        );
        assert_eq!(names, strings(&["kube-system", "team-a"]));
        assert_eq!(patterns, strings(&["kube-public"]));
    }

    #[test]
    fn globs_match_whole_names_with_literal_dots() {
        assert!(glob_match("a*c", "abbc"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a*c", "abcd"));
        assert!(!glob_match("a.c", "abc"), "a dot is literal");
        assert!(glob_match("team-?", "team-?"), "only * is special");
        assert!(!glob_match("team-?", "team-a"));
    }
}

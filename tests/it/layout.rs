//! The architecture rule of `docs/architecture.md` ("Layout"), checked on the source: every
//! top-level module of `src/` belongs to a layer, and uses only modules of lower layers. So no
//! module below `commands/` imports `commands/`, and no two modules import each other.
// See: issue 7 (restructure).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers, lowest first. Keep in step with `src/lib.rs` and `docs/architecture.md`.
const LAYERS: &[&[&str]] = &[
    &["cancel", "env", "jwt", "limits", "redact", "text", "trace"],
    &["output"],
    &["http", "manifests"],
    &["cluster", "registry", "store"],
    &["providers"],
    &["engine"],
    &["controller"],
    &["cli"],
    &["commands"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules named after `crate::` in the code of `text` (comments are skipped):
/// `crate::a::b`, `crate::{a, b::c}`.
fn crate_references(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let text = code.as_str();
    let mut found = Vec::new();
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (index, _) in text.match_indices("crate::") {
        let rest = &text[index + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.push(ident(&group[start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(ident(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.push(ident(rest));
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

#[test]
fn modules_use_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src/");
        let first = relative.components().next().expect("a path");
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            violations.push(format!(
                "{}: module `{module}` has no layer",
                relative.display()
            ));
            continue;
        };
        *seen.entry(module.clone()).or_default() += 1;
        let text = std::fs::read_to_string(file).expect("readable source");
        for used in crate_references(&text) {
            if used == module {
                continue;
            }
            match layer_of(&used) {
                Some(layer) if layer < own => {}
                Some(_) => violations.push(format!(
                    "{}: `{module}` (layer {own}) uses `crate::{used}` of the same or a higher layer",
                    relative.display()
                )),
                None => violations.push(format!(
                    "{}: uses `crate::{used}`, which has no layer",
                    relative.display()
                )),
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    // Positive control: the scan saw every layer's modules.
    for layer in LAYERS {
        for module in *layer {
            assert!(seen.contains_key(*module), "no source found for `{module}`");
        }
    }
}

#[test]
fn references_are_read_from_paths_and_groups() {
    let text = "use crate::output;\nuse crate::{cluster::{self, Target}, manifests};\n/// [`crate::commands`]\nlet x = crate::redact::scrub(y);";
    assert_eq!(
        crate_references(text),
        ["output", "cluster", "manifests", "redact"]
    );
}

/// The module path of a source file: `engine/fleet.rs` → `engine::fleet`,
/// `commands/secret/mod.rs` → `commands::secret`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The module paths a file refers to, `crate::`- and `super::`-relative, with `{}` groups
/// expanded: `use super::{fleet::Fleet, select}` in `engine/watch.rs` gives `engine::fleet::Fleet`
/// and `engine::select`.
fn paths_used(own: &[String], text: &str) -> Vec<Vec<String>> {
    let code: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut found = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let text: String = bytes.iter().collect();
    for start in ["crate::", "super::"] {
        for (index, _) in text.match_indices(start) {
            if index > 0
                && text[..index]
                    .chars()
                    .last()
                    .is_some_and(|c| is_ident(c) || c == ':')
            {
                continue;
            }
            let mut base: Vec<String> = if start == "crate::" {
                Vec::new()
            } else {
                own[..own.len().saturating_sub(1)].to_vec()
            };
            let mut rest = &text[index + start.len()..];
            while let Some(more) = rest.strip_prefix("super::") {
                base.pop();
                rest = more;
            }
            expand(base, rest, &mut found);
        }
    }
    found
}

/// Reads `a::b::{c, d::e}` at the start of `rest` into paths prefixed by `base`.
fn expand(base: Vec<String>, rest: &str, out: &mut Vec<Vec<String>>) {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut path = base;
    let mut rest = rest.trim_start();
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        expand(path.clone(), &group[start..i], out);
                        return;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(path.clone(), &group[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            return;
        }
        let ident: String = rest.chars().take_while(|c| is_ident(*c)).collect();
        if ident.is_empty() || ident == "self" {
            break;
        }
        path.push(ident.clone());
        rest = &rest[ident.len()..];
        match rest.strip_prefix("::") {
            Some(more) => rest = more.trim_start(),
            None => break,
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
}

/// Every folder's import graph between its own modules (files and sub-folders; the folder's
/// `mod.rs` is its interface and not a node): `folder → (from → to)`.
fn folder_graphs(
    files: &[(Vec<String>, String)],
) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let modules: std::collections::BTreeSet<Vec<String>> =
        files.iter().map(|(path, _)| path.clone()).collect();
    let mut graphs: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for (own, text) in files {
        for used in paths_used(own, text) {
            let common = own.iter().zip(&used).take_while(|(a, b)| a == b).count();
            if common >= own.len() || common >= used.len() {
                continue; // Itself, its own children, or its parent folder's interface.
            }
            let sibling: Vec<String> = used[..=common].to_vec();
            if !modules.iter().any(|m| m.starts_with(&sibling)) {
                continue; // An item of the folder's `mod.rs`, not a module.
            }
            let folder = own[..common].join("::");
            let edges = graphs.entry(folder).or_default();
            let targets = edges.entry(own[common].clone()).or_default();
            if !targets.contains(&used[common]) {
                targets.push(used[common].clone());
            }
        }
    }
    graphs
}

/// A circle in `graph`, if there is one (as `a -> b -> a`).
fn circle(graph: &BTreeMap<String, Vec<String>>) -> Option<String> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, Vec<String>>,
        stack: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<String> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut path = stack[at..].to_vec();
            path.push(node.to_string());
            return Some(path.join(" -> "));
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, stack, done) {
                return Some(found);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = std::collections::BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn sources() -> Vec<(Vec<String>, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .iter()
        .map(|file| {
            let relative = file.strip_prefix(&src).expect("under src/");
            let text = std::fs::read_to_string(file).expect("readable source");
            (module_path(relative), text)
        })
        .filter(|(path, _)| path.first().is_some_and(|p| p != "lib" && p != "main"))
        .collect()
}

/// What the engine must not use: front-end modules, the keyring, signal installation, stdout.
const ENGINE_FORBIDS: &[&str] = &[
    "cli",
    "commands",
    "output",
    "store::keyring",
    "store::OsKeyring",
];

fn engine_violations(files: &[(Vec<String>, String)]) -> Vec<String> {
    let mut violations = Vec::new();
    for (own, text) in files
        .iter()
        .filter(|(p, _)| p.first().is_some_and(|p| p == "engine"))
    {
        for used in paths_used(own, text) {
            let joined = used.join("::");
            if let Some(rule) = ENGINE_FORBIDS
                .iter()
                .find(|f| joined == **f || joined.starts_with(&format!("{f}::")))
            {
                violations.push(format!("{} uses crate::{joined} ({rule})", own.join("::")));
            }
        }
    }
    violations
}

#[test]
fn no_folder_has_an_import_circle() {
    let files = sources();
    let graphs = folder_graphs(&files);
    // `LAYOUT_GRAPH=1 cargo nextest run --test it -E 'test(layout::)' --no-capture` prints the
    // graphs (the import graph `docs/architecture.md` describes).
    if std::env::var_os("LAYOUT_GRAPH").is_some() {
        for (folder, graph) in &graphs {
            eprintln!("{}:", if folder.is_empty() { "src" } else { folder });
            for (from, to) in graph {
                eprintln!("  {from} -> {}", to.join(", "));
            }
        }
    }
    let circles: Vec<String> = graphs
        .iter()
        .filter_map(|(folder, graph)| circle(graph).map(|c| format!("in `{folder}`: {c}")))
        .collect();
    assert!(circles.is_empty(), "{}", circles.join("\n"));
    // Positive control: the scan sees the folders and their edges.
    let engine = graphs.get("engine").expect("the engine folder is scanned");
    assert!(
        engine["fleet"].contains(&"single".to_string()),
        "{engine:?}"
    );
    assert!(graphs.contains_key("commands::secret") || graphs.contains_key("commands"));
    assert!(
        graphs.contains_key("providers::dedicated"),
        "{:?}",
        graphs.keys()
    );
}

#[test]
fn the_engine_uses_no_front_end() {
    let violations = engine_violations(&sources());
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn circles_and_engine_violations_are_found() {
    let file = |path: &str, text: &str| {
        (
            path.split("::").map(str::to_string).collect::<Vec<_>>(),
            text.to_string(),
        )
    };
    // create ↔ fleet through `super::` and `crate::` paths, as before the engine existed.
    let files = vec![
        file("commands::secret::create", "use super::fleet::Fleet;"),
        file(
            "commands::secret::fleet",
            "use crate::commands::secret::{create::Run};",
        ),
        file(
            "engine::watch",
            "use crate::{output, cluster};\nuse crate::store::keyring::OsKeyring;",
        ),
    ];
    let graphs = folder_graphs(&files);
    let found = circle(&graphs["commands::secret"]).expect("the circle is found");
    assert!(
        found.contains("create -> fleet -> create") || found.contains("fleet -> create -> fleet"),
        "{found}"
    );
    let violations = engine_violations(&files);
    assert_eq!(violations.len(), 2, "{violations:?}");
    assert_eq!(
        paths_used(
            &["engine".into(), "watch".into()],
            "use super::{fleet::Fleet, select};"
        ),
        vec![
            vec!["engine".to_string(), "fleet".into(), "Fleet".into()],
            vec!["engine".to_string(), "select".into()]
        ]
    );
}

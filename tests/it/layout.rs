//! The architecture rule of the README's "Layout" section, checked on the source: every
//! top-level module of `src/` belongs to a layer, and uses only modules of lower layers. So no
//! module below `commands/` imports `commands/`, and no two modules import each other.
// See: issue 7 (restructure).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers, lowest first. Keep in step with `src/lib.rs` and the README.
const LAYERS: &[&[&str]] = &[
    &["cancel", "env", "jwt", "redact", "text", "trace"],
    &["output"],
    &["http", "manifests"],
    &["cf", "cluster", "registry", "store"],
    &["session"],
    &["engine"],
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

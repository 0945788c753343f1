//! Krew packaging: the manifest against krew's validation rules, version consistency, and an
//! install done the way `kubectl krew install --manifest --archive` does it, followed by the real
//! kubectl 1.36 discovering, running and completing the plugin.
//!
//! Krew itself cannot be installed on these machines, so [`validate`] implements every rule of
//! krew v0.4.5's `ValidatePlugin` and krew-index's CI checks, as listed in
//! `shared/docs/kubectl-and-krew.md` §5.2, and the deliberately broken manifests below prove that
//! each rule rejects what it should.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::common;

const API_VERSION: &str = "krew.googlecontainertools.github.com/v1alpha2";
const PLUGIN_NAME: &str = "dedicated-registry";
const BIN: &str = "kubectl-dedicated_registry";
const SHIM: &str = "kubectl_complete-dedicated_registry";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `<os, arch>` pairs krew knows (`allPlatforms` in krew's validation).
const SUPPORTED_PAIRS: &[(&str, &str)] = &[
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("darwin", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
];

/// The platforms this plugin must ship (issue #4).
const REQUIRED_PAIRS: &[(&str, &str)] = &[
    ("linux", "amd64"),
    ("linux", "arm64"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
    ("windows", "amd64"),
];

const WINDOWS_RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// One krew validation rule; every violation names the rule it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    /// The file is not YAML describing an object.
    Parse,
    /// `apiVersion` is not `krew.googlecontainertools.github.com/v1alpha2`.
    ApiVersion,
    /// `kind` is not `Plugin`.
    Kind,
    /// `metadata.name` does not match `^[\w-]+$`.
    NameFormat,
    /// `metadata.name` is a Windows reserved device name.
    NameReserved,
    /// `metadata.name` is not the file name minus `.yaml`.
    NameMatchesFile,
    /// The file name does not end in `.yaml`.
    FileExtension,
    /// `shortDescription` is empty or spans lines.
    ShortDescription,
    /// No platform.
    Platforms,
    /// `version` is empty, lacks the `v`, or is not full semver.
    Version,
    /// A platform's `uri` is empty.
    Uri,
    /// A platform's `sha256` is not 64 lowercase hex digits.
    Sha256,
    /// A platform's `bin` is empty or points outside the install directory.
    Bin,
    /// A Windows platform's `bin` is not an `.exe`.
    BinWindowsExe,
    /// `files` is present but empty, or an entry lacks `from`/`to` or escapes its directory.
    Files,
    /// A selector is missing or empty, uses keys other than `os`/`arch`, or has empty criteria.
    Selector,
    /// A platform matches no supported `<os, arch>` pair.
    UnsupportedPlatform,
    /// A supported `<os, arch>` pair is matched by two platforms.
    OverlappingSelectors,
}

/// A rule violation with krew's wording where it has one.
#[derive(Debug)]
struct Violation {
    rule: Rule,
    message: String,
}

fn violation(rule: Rule, message: impl Into<String>) -> Violation {
    Violation {
        rule,
        message: message.into(),
    }
}

/// Validates a manifest file: its name and extension, then its content.
fn validate_file(path: &Path) -> Vec<Violation> {
    let mut out = Vec::new();
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let stem = match file_name.strip_suffix(".yaml") {
        Some(stem) => stem,
        None => {
            out.push(violation(
                Rule::FileExtension,
                format!("manifest {file_name:?} must have the .yaml extension"),
            ));
            file_name
                .rsplit_once('.')
                .map_or(file_name, |(stem, _)| stem)
        }
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            out.push(violation(
                Rule::Parse,
                format!("cannot read {}: {e}", path.display()),
            ));
            return out;
        }
    };
    match serde_saphyr::from_str::<Value>(&text) {
        Ok(document) => out.extend(validate(&document, stem)),
        Err(e) => out.push(violation(Rule::Parse, format!("invalid YAML: {e}"))),
    }
    out
}

/// Validates a parsed manifest whose file is `<file_stem>.yaml`.
fn validate(document: &Value, file_stem: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    let text = |value: &Value, pointer: &str| -> String {
        value
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    if !document.is_object() {
        out.push(violation(Rule::Parse, "manifest is not a YAML mapping"));
        return out;
    }

    let api_version = text(document, "/apiVersion");
    if api_version != API_VERSION {
        out.push(violation(
            Rule::ApiVersion,
            format!("plugin manifest has apiVersion={api_version:?}, not {API_VERSION}"),
        ));
    }
    let kind = text(document, "/kind");
    if kind != "Plugin" {
        out.push(violation(
            Rule::Kind,
            format!("plugin manifest has kind={kind:?}, not Plugin"),
        ));
    }

    let name = text(document, "/metadata/name");
    let well_formed = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !well_formed {
        out.push(violation(
            Rule::NameFormat,
            format!("plugin name {name:?} is invalid"),
        ));
    }
    if WINDOWS_RESERVED
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(&name))
    {
        out.push(violation(
            Rule::NameReserved,
            format!("plugin name {name:?} is a reserved name on Windows"),
        ));
    }
    if name != file_stem {
        out.push(violation(
            Rule::NameMatchesFile,
            format!("plugin should be named {file_stem:?}, not {name:?}"),
        ));
    }

    let short = text(document, "/spec/shortDescription");
    if short.is_empty() {
        out.push(violation(
            Rule::ShortDescription,
            "should have a short description",
        ));
    }
    if short.contains('\r') || short.contains('\n') {
        out.push(violation(
            Rule::ShortDescription,
            "should not have a multiline short description",
        ));
    }

    let version = text(document, "/spec/version");
    if version.is_empty() {
        out.push(violation(Rule::Version, "should have a version specified"));
    } else if !version.starts_with('v') {
        out.push(violation(
            Rule::Version,
            format!("version string {version:?} not starting with 'v'"),
        ));
    } else if let Err(e) = parse_semantic(&version[1..]) {
        out.push(violation(
            Rule::Version,
            format!("failed to parse version {version:?}: {e}"),
        ));
    }

    let platforms = document
        .pointer("/spec/platforms")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if platforms.is_empty() {
        out.push(violation(
            Rule::Platforms,
            "should have a platform specified",
        ));
    }
    for (index, platform) in platforms.iter().enumerate() {
        out.extend(validate_platform(index, platform));
    }

    // Index-only checks (krew-index CI): every platform installs somewhere, and no supported
    // <os, arch> is claimed by two platforms.
    for (index, platform) in platforms.iter().enumerate() {
        if !SUPPORTED_PAIRS
            .iter()
            .any(|pair| selector_matches(platform.get("selector"), *pair))
        {
            out.push(violation(
                Rule::UnsupportedPlatform,
                format!("platform {index} does not match any supported os/arch"),
            ));
        }
    }
    for pair in SUPPORTED_PAIRS {
        let matching = platforms
            .iter()
            .filter(|platform| selector_matches(platform.get("selector"), *pair))
            .count();
        if matching > 1 {
            out.push(violation(
                Rule::OverlappingSelectors,
                format!(
                    "{}/{} is matched by {matching} platforms (overlapping selectors)",
                    pair.0, pair.1
                ),
            ));
        }
    }
    out
}

fn validate_platform(index: usize, platform: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let field = |name: &str| {
        platform
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };

    if field("uri").is_empty() {
        out.push(violation(
            Rule::Uri,
            format!("platform {index}: `uri` has to be set"),
        ));
    }
    if platform
        .get("sha256")
        .is_some_and(|v| !v.is_string() && !v.is_null())
    {
        out.push(violation(
            Rule::Sha256,
            format!("platform {index}: sha256 is not a string (an unquoted all-digit digest is a YAML number)"),
        ));
    }
    let sha256 = field("sha256");
    if sha256.len() != 64
        || !sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        out.push(violation(
            Rule::Sha256,
            format!("platform {index}: sha256 {sha256:?} must match ^[a-f0-9]{{64}}$"),
        ));
    }

    let bin = field("bin");
    if bin.is_empty() {
        out.push(violation(
            Rule::Bin,
            format!("platform {index}: `bin` has to be set"),
        ));
    } else if !stays_inside(bin) {
        out.push(violation(
            Rule::Bin,
            format!("platform {index}: bin {bin:?} is not inside the installation directory"),
        ));
    }

    match platform.get("files") {
        None | Some(Value::Null) => {}
        Some(Value::Array(files)) if files.is_empty() => out.push(violation(
            Rule::Files,
            format!("platform {index}: `files` is present but empty"),
        )),
        Some(Value::Array(files)) => {
            for file in files {
                let from = file.get("from").and_then(Value::as_str).unwrap_or_default();
                let to = file.get("to").and_then(Value::as_str).unwrap_or_default();
                if from.is_empty() || to.is_empty() {
                    out.push(violation(
                        Rule::Files,
                        format!("platform {index}: `from` and `to` are required in files"),
                    ));
                } else if !stays_inside(from) || !stays_inside(to) {
                    out.push(violation(
                        Rule::Files,
                        format!("platform {index}: move {from:?} -> {to:?} leaves its directory"),
                    ));
                }
            }
        }
        Some(_) => out.push(violation(
            Rule::Files,
            format!("platform {index}: `files` is not a list"),
        )),
    }

    match platform.get("selector") {
        None | Some(Value::Null) => out.push(violation(
            Rule::Selector,
            format!("platform {index}: nil selector is not supported"),
        )),
        Some(Value::Object(selector)) => {
            let labels = selector.get("matchLabels");
            let expressions = selector.get("matchExpressions");
            let present = |v: Option<&Value>| v.is_some_and(|v| !v.is_null());
            if !present(labels) && !present(expressions) {
                out.push(violation(
                    Rule::Selector,
                    format!("platform {index}: empty selector is not supported"),
                ));
            }
            let mut keys = Vec::new();
            if let Some(labels) = labels.filter(|v| !v.is_null()) {
                match labels.as_object() {
                    Some(map) if !map.is_empty() => keys.extend(map.keys().cloned()),
                    _ => out.push(violation(
                        Rule::Selector,
                        format!("platform {index}: matchLabels is present but empty"),
                    )),
                }
            }
            if let Some(expressions) = expressions.filter(|v| !v.is_null()) {
                match expressions.as_array() {
                    Some(list) if !list.is_empty() => {
                        for expression in list {
                            keys.push(
                                expression
                                    .get("key")
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_string(),
                            );
                            let operator = expression
                                .get("operator")
                                .and_then(Value::as_str)
                                .unwrap_or_default();
                            if !matches!(operator, "In" | "NotIn" | "Exists" | "DoesNotExist") {
                                out.push(violation(
                                    Rule::Selector,
                                    format!("platform {index}: invalid operator {operator:?}"),
                                ));
                            }
                        }
                    }
                    _ => out.push(violation(
                        Rule::Selector,
                        format!("platform {index}: matchExpressions is present but empty"),
                    )),
                }
            }
            for key in keys {
                if key != "os" && key != "arch" {
                    out.push(violation(
                        Rule::Selector,
                        format!("platform {index}: selector key {key:?} is not os or arch"),
                    ));
                }
            }
        }
        Some(_) => out.push(violation(
            Rule::Selector,
            format!("platform {index}: selector is not a mapping"),
        )),
    }

    let windows_only = ["amd64", "386", "arm64"]
        .iter()
        .any(|arch| selector_matches(platform.get("selector"), ("windows", arch)));
    if windows_only && !bin.is_empty() && !bin.ends_with(".exe") {
        out.push(violation(
            Rule::BinWindowsExe,
            format!(
                "platform {index}: only .exe entrypoints are supported on Windows, not {bin:?}"
            ),
        ));
    }
    out
}

/// `version.ParseSemantic` of k8s.io/apimachinery for the part after `v`: exactly
/// MAJOR.MINOR.PATCH without zero-prefixed components, then optional `-pre.release` and `+build`.
fn parse_semantic(version: &str) -> Result<(), String> {
    let numeric_end = version
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(version.len());
    let (numeric, extra) = version.split_at(numeric_end);
    let components: Vec<&str> = numeric.split('.').collect();
    if components.len() != 3 {
        return Err(format!("{version:?} is not in semantic version format"));
    }
    for component in &components {
        if component.is_empty() {
            return Err(format!("empty version component in {version:?}"));
        }
        if component.starts_with('0') && *component != "0" {
            return Err(format!(
                "illegal zero-prefixed version component {component:?}"
            ));
        }
    }
    let identifiers_ok = |part: &str| {
        !part.is_empty()
            && part.split('.').all(|identifier| {
                !identifier.is_empty()
                    && identifier
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    };
    let (pre_release, build) = match extra.split_once('+') {
        Some((pre, build)) => (pre, Some(build)),
        None => (extra, None),
    };
    if !pre_release.is_empty() {
        match pre_release.strip_prefix('-') {
            Some(pre) if identifiers_ok(pre) => {}
            _ => return Err(format!("illegal version string {version:?}")),
        }
    }
    if let Some(build) = build
        && !identifiers_ok(build)
    {
        return Err(format!("illegal version string {version:?}"));
    }
    Ok(())
}

/// A relative path that cannot leave its base directory (krew's `IsSubPath` / `isMoveAllowed`).
fn stays_inside(path: &str) -> bool {
    let path = path.replace('\\', "/");
    if path.starts_with('/') || path.chars().nth(1) == Some(':') {
        return false;
    }
    let mut depth = 0i32;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => depth += 1,
        }
    }
    true
}

/// Whether a metav1.LabelSelector matches the labels `{os, arch}`.
fn selector_matches(selector: Option<&Value>, (os, arch): (&str, &str)) -> bool {
    let Some(Value::Object(selector)) = selector else {
        return false;
    };
    let labels = |key: &str| match key {
        "os" => Some(os),
        "arch" => Some(arch),
        _ => None,
    };
    let mut criteria = 0;
    if let Some(Value::Object(map)) = selector.get("matchLabels") {
        for (key, value) in map {
            criteria += 1;
            if labels(key) != value.as_str() {
                return false;
            }
        }
    }
    if let Some(Value::Array(expressions)) = selector.get("matchExpressions") {
        for expression in expressions {
            criteria += 1;
            let key = expression
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let values: Vec<&str> = expression
                .get("values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let label = labels(key);
            let ok = match expression.get("operator").and_then(Value::as_str) {
                Some("In") => label.is_some_and(|l| values.contains(&l)),
                Some("NotIn") => label.is_none_or(|l| !values.contains(&l)),
                Some("Exists") => label.is_some(),
                Some("DoesNotExist") => label.is_none(),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
    }
    criteria > 0
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn committed_manifest() -> PathBuf {
    repo()
        .join("plugin-manifest")
        .join(format!("{PLUGIN_NAME}.yaml"))
}

fn load(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

fn rules(violations: &[Violation]) -> BTreeSet<Rule> {
    violations.iter().map(|v| v.rule).collect()
}

fn assert_valid(path: &Path) {
    let violations = validate_file(path);
    let report: Vec<String> = violations
        .iter()
        .map(|v| format!("{:?}: {}", v.rule, v.message))
        .collect();
    assert!(
        report.is_empty(),
        "{} is not a valid krew manifest:\n{}",
        path.display(),
        report.join("\n")
    );
}

/// Runs a krew/ script with bash and returns its stdout, failing the test on error.
fn script(name: &str, args: &[&str]) -> String {
    let output = Command::new("bash")
        .arg(repo().join("krew").join(name))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run krew/{name}: {e}"));
    assert!(
        output.status.success(),
        "krew/{name} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("script output is UTF-8")
}

/// Renders the manifest with `sums` into `dir/dedicated-registry.yaml`.
fn render(dir: &Path, sums: &str) -> PathBuf {
    let sums_file = dir.join("SHA256SUMS");
    std::fs::write(&sums_file, sums).expect("write sums");
    let output = dir.join(format!("{PLUGIN_NAME}.yaml"));
    script(
        "render-manifest.sh",
        &[
            "--sums",
            sums_file.to_str().expect("UTF-8 path"),
            "--output",
            output.to_str().expect("UTF-8 path"),
        ],
    );
    output
}

fn asset(target: &str) -> String {
    let extension = if target.contains("windows") {
        "zip"
    } else {
        "tar.gz"
    };
    format!("kubectl-dedicated-registry_v{VERSION}_{target}.{extension}")
}

const TARGETS: &[&str] = &[
    "x86_64-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "x86_64-pc-windows-msvc",
];

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = dedicated_sandbox::docker_registry::sha256_digest(bytes);
    digest.trim_start_matches("sha256:").to_string()
}

#[test]
fn committed_manifest_passes_every_krew_rule() {
    assert_valid(&committed_manifest());
    let manifest = load(&committed_manifest());
    let platforms = manifest["spec"]["platforms"].as_array().expect("platforms");
    for pair in REQUIRED_PAIRS {
        let matching: Vec<&Value> = platforms
            .iter()
            .filter(|p| selector_matches(p.get("selector"), *pair))
            .collect();
        assert_eq!(matching.len(), 1, "exactly one platform for {pair:?}");
        let expected_bin = if pair.0 == "windows" {
            format!("{BIN}.exe")
        } else {
            BIN.to_string()
        };
        assert_eq!(matching[0]["bin"], json!(expected_bin));
    }
    assert_eq!(platforms.len(), REQUIRED_PAIRS.len());
}

#[test]
fn committed_manifest_is_the_rendered_template() {
    // `--check` renders template + Cargo.toml version + plugin-manifest/SHA256SUMS and diffs it
    // against the committed file: nothing in it can drift by hand.
    script("render-manifest.sh", &["--check"]);
}

#[test]
fn freshly_rendered_manifest_passes_every_krew_rule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sums: String = TARGETS
        .iter()
        .map(|target| format!("{}  {}\n", sha256_hex(target.as_bytes()), asset(target)))
        .collect();
    let rendered = render(dir.path(), &sums);
    assert_valid(&rendered);
    let manifest = load(&rendered);
    for (platform, target) in manifest["spec"]["platforms"]
        .as_array()
        .expect("platforms")
        .iter()
        .zip(TARGETS)
    {
        assert_eq!(platform["sha256"], json!(sha256_hex(target.as_bytes())));
        assert!(
            platform["uri"]
                .as_str()
                .expect("uri")
                .ends_with(&format!("/v{VERSION}/{}", asset(target)))
        );
    }
}

#[test]
fn rendering_fails_without_a_checksum_for_every_archive() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sums_file = dir.path().join("SHA256SUMS");
    std::fs::write(
        &sums_file,
        format!("{}  {}\n", "a".repeat(64), asset(TARGETS[0])),
    )
    .expect("write");
    let output = Command::new("bash")
        .arg(repo().join("krew/render-manifest.sh"))
        .args([
            "--sums",
            sums_file.to_str().expect("UTF-8"),
            "--output",
            "-",
        ])
        .output()
        .expect("run render-manifest.sh");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no checksum for"));
    // An uppercase checksum is refused before krew would refuse it.
    std::fs::write(
        &sums_file,
        TARGETS
            .iter()
            .map(|t| format!("{}  {}\n", "A".repeat(64), asset(t)))
            .collect::<String>(),
    )
    .expect("write");
    let output = Command::new("bash")
        .arg(repo().join("krew/render-manifest.sh"))
        .args([
            "--sums",
            sums_file.to_str().expect("UTF-8"),
            "--output",
            "-",
        ])
        .output()
        .expect("run render-manifest.sh");
    assert!(!output.status.success());
}

#[test]
fn template_is_what_krew_release_bot_expects() {
    let template = std::fs::read_to_string(repo().join("krew/.krew.yaml")).expect("read template");
    assert_eq!(template.matches("{{addURIAndSha \"").count(), TARGETS.len());
    assert!(template.contains("version: {{ .TagName }}"));
    // The bot's ownership check: the homepage is on the GitHub account that owns the repository.
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).expect("read Cargo.toml");
    let repository = cargo
        .lines()
        .find_map(|l| l.strip_prefix("repository = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("repository in Cargo.toml");
    let owner = repository
        .strip_prefix("https://github.com/")
        .and_then(|r| r.split('/').next())
        .expect("a GitHub repository");
    let manifest = load(&committed_manifest());
    let homepage = manifest["spec"]["homepage"].as_str().expect("homepage");
    assert!(
        homepage.starts_with(&format!("https://github.com/{owner}/")),
        "{homepage}"
    );
    for platform in manifest["spec"]["platforms"].as_array().expect("platforms") {
        let uri = platform["uri"].as_str().expect("uri");
        assert!(
            uri.starts_with(&format!("{repository}/releases/download/v{VERSION}/")),
            "{uri}"
        );
    }
}

/// A change applied to a valid manifest.
type Mutation = fn(&mut Value);

#[test]
fn broken_manifests_are_rejected_one_rule_each() {
    let valid = load(&committed_manifest());
    assert!(validate(&valid, PLUGIN_NAME).is_empty());

    let cases: Vec<(&str, Rule, Mutation)> = vec![
        ("old apiVersion", Rule::ApiVersion, |m| {
            m["apiVersion"] = json!("krew.googlecontainertools.github.com/v1alpha1")
        }),
        ("kind", Rule::Kind, |m| m["kind"] = json!("Plugins")),
        ("name with a space", Rule::NameFormat, |m| {
            m["metadata"]["name"] = json!("dedicated registry")
        }),
        ("name with a dot", Rule::NameFormat, |m| {
            m["metadata"]["name"] = json!("dedicated.registry")
        }),
        ("empty name", Rule::NameFormat, |m| {
            m["metadata"]["name"] = json!("")
        }),
        ("name differs from file", Rule::NameMatchesFile, |m| {
            m["metadata"]["name"] = json!("dedicated-registries")
        }),
        ("empty shortDescription", Rule::ShortDescription, |m| {
            m["spec"]["shortDescription"] = json!("")
        }),
        ("multi-line shortDescription", Rule::ShortDescription, |m| {
            m["spec"]["shortDescription"] = json!("Create pull secrets\nfor Dedicated")
        }),
        (
            "carriage return in shortDescription",
            Rule::ShortDescription,
            |m| m["spec"]["shortDescription"] = json!("Create pull secrets\r"),
        ),
        ("no platforms", Rule::Platforms, |m| {
            m["spec"]["platforms"] = json!([])
        }),
        ("platforms missing", Rule::Platforms, |m| {
            m["spec"].as_object_mut().expect("spec").remove("platforms");
        }),
        ("version without v", Rule::Version, |m| {
            m["spec"]["version"] = json!("0.1.0")
        }),
        ("empty version", Rule::Version, |m| {
            m["spec"]["version"] = json!("")
        }),
        ("two-part version", Rule::Version, |m| {
            m["spec"]["version"] = json!("v0.1")
        }),
        ("zero-prefixed version", Rule::Version, |m| {
            m["spec"]["version"] = json!("v01.0.0")
        }),
        ("empty pre-release", Rule::Version, |m| {
            m["spec"]["version"] = json!("v1.0.0-")
        }),
        ("garbage after version", Rule::Version, |m| {
            m["spec"]["version"] = json!("v1.0.0_beta")
        }),
        ("empty uri", Rule::Uri, |m| {
            m["spec"]["platforms"][0]["uri"] = json!("")
        }),
        ("uppercase sha256", Rule::Sha256, |m| {
            let sha = m["spec"]["platforms"][0]["sha256"]
                .as_str()
                .expect("sha")
                .to_string();
            m["spec"]["platforms"][0]["sha256"] = json!(format!("ABCDEF{}", &sha[6..]));
        }),
        ("short sha256", Rule::Sha256, |m| {
            m["spec"]["platforms"][0]["sha256"] = json!("a".repeat(63))
        }),
        ("numeric sha256", Rule::Sha256, |m| {
            m["spec"]["platforms"][0]["sha256"] = json!(0)
        }),
        ("missing sha256", Rule::Sha256, |m| {
            m["spec"]["platforms"][0]
                .as_object_mut()
                .expect("platform")
                .remove("sha256");
        }),
        ("empty bin", Rule::Bin, |m| {
            m["spec"]["platforms"][0]["bin"] = json!("")
        }),
        ("bin outside the archive", Rule::Bin, |m| {
            m["spec"]["platforms"][0]["bin"] = json!("../kubectl-dedicated_registry")
        }),
        ("absolute bin", Rule::Bin, |m| {
            m["spec"]["platforms"][0]["bin"] = json!("/usr/bin/kubectl")
        }),
        ("windows bin without .exe", Rule::BinWindowsExe, |m| {
            m["spec"]["platforms"][4]["bin"] = json!("kubectl-dedicated_registry")
        }),
        ("empty files", Rule::Files, |m| {
            m["spec"]["platforms"][0]["files"] = json!([])
        }),
        ("files entry without to", Rule::Files, |m| {
            m["spec"]["platforms"][0]["files"] = json!([{"from": "*"}])
        }),
        ("files escaping the archive", Rule::Files, |m| {
            m["spec"]["platforms"][0]["files"] = json!([{"from": "../../etc/passwd", "to": "."}])
        }),
        ("missing selector", Rule::Selector, |m| {
            m["spec"]["platforms"][0]
                .as_object_mut()
                .expect("platform")
                .remove("selector");
        }),
        ("empty selector", Rule::Selector, |m| {
            m["spec"]["platforms"][0]["selector"] = json!({})
        }),
        ("empty matchLabels", Rule::Selector, |m| {
            m["spec"]["platforms"][0]["selector"] = json!({"matchLabels": {}})
        }),
        ("empty matchExpressions", Rule::Selector, |m| {
            m["spec"]["platforms"][0]["selector"] =
                json!({"matchLabels": {"os": "linux", "arch": "amd64"}, "matchExpressions": []})
        }),
        ("selector key other than os/arch", Rule::Selector, |m| {
            m["spec"]["platforms"][0]["selector"]["matchLabels"]["distro"] = json!("debian")
        }),
        ("expression key other than os/arch", Rule::Selector, |m| {
            m["spec"]["platforms"][0]["selector"] = json!({"matchExpressions": [
                {"key": "os", "operator": "In", "values": ["linux"]},
                {"key": "libc", "operator": "In", "values": ["musl"]}
            ]})
        }),
        ("unsupported arch", Rule::UnsupportedPlatform, |m| {
            m["spec"]["platforms"][0]["selector"]["matchLabels"]["arch"] = json!("s390x")
        }),
        ("unsupported os", Rule::UnsupportedPlatform, |m| {
            m["spec"]["platforms"][0]["selector"]["matchLabels"]["os"] = json!("freebsd")
        }),
        ("duplicate platform", Rule::OverlappingSelectors, |m| {
            let first = m["spec"]["platforms"][0].clone();
            m["spec"]["platforms"]
                .as_array_mut()
                .expect("platforms")
                .push(first);
        }),
        (
            "os-only selector overlapping linux/amd64",
            Rule::OverlappingSelectors,
            |m| m["spec"]["platforms"][1]["selector"] = json!({"matchLabels": {"os": "linux"}}),
        ),
        (
            "expression overlapping darwin",
            Rule::OverlappingSelectors,
            |m| m["spec"]["platforms"][2]["selector"] = json!({"matchExpressions": [{"key": "os", "operator": "In", "values": ["darwin", "linux"]}]}),
        ),
    ];

    let mut covered = BTreeSet::new();
    for (what, rule, mutate) in &cases {
        let mut broken = valid.clone();
        mutate(&mut broken);
        let violations = validate(&broken, PLUGIN_NAME);
        assert!(
            rules(&violations).contains(rule),
            "{what}: expected a {rule:?} violation, got {violations:#?}"
        );
        covered.insert(*rule);
    }

    // Rules about the file itself.
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(committed_manifest()).expect("read manifest");
    let misnamed = dir.path().join("registry.yaml");
    std::fs::write(&misnamed, &text).expect("write");
    assert!(rules(&validate_file(&misnamed)).contains(&Rule::NameMatchesFile));
    let yml = dir.path().join(format!("{PLUGIN_NAME}.yml"));
    std::fs::write(&yml, &text).expect("write");
    assert!(rules(&validate_file(&yml)).contains(&Rule::FileExtension));
    covered.insert(Rule::FileExtension);
    let reserved = dir.path().join("lpt1.yaml");
    std::fs::write(
        &reserved,
        text.replace("name: dedicated-registry", "name: lpt1"),
    )
    .expect("write");
    let reserved_rules = rules(&validate_file(&reserved));
    assert!(
        reserved_rules.contains(&Rule::NameReserved),
        "{reserved_rules:?}"
    );
    assert!(!reserved_rules.contains(&Rule::NameMatchesFile));
    covered.insert(Rule::NameReserved);
    let garbage = dir.path().join(format!("{PLUGIN_NAME}.yaml"));
    std::fs::write(&garbage, "apiVersion: [unclosed\n").expect("write");
    assert!(rules(&validate_file(&garbage)).contains(&Rule::Parse));
    covered.insert(Rule::Parse);

    let all = [
        Rule::Parse,
        Rule::ApiVersion,
        Rule::Kind,
        Rule::NameFormat,
        Rule::NameReserved,
        Rule::NameMatchesFile,
        Rule::FileExtension,
        Rule::ShortDescription,
        Rule::Platforms,
        Rule::Version,
        Rule::Uri,
        Rule::Sha256,
        Rule::Bin,
        Rule::BinWindowsExe,
        Rule::Files,
        Rule::Selector,
        Rule::UnsupportedPlatform,
        Rule::OverlappingSelectors,
    ];
    assert_eq!(
        covered,
        all.into_iter().collect(),
        "every rule has a broken manifest"
    );
}

#[test]
fn valid_variants_are_accepted() {
    let valid = load(&committed_manifest());
    let variants: Vec<(&str, Mutation)> = vec![
        ("pre-release and build", |m| {
            m["spec"]["version"] = json!("v1.2.3-rc.1+build.5")
        }),
        (
            "explicit files",
            |m| m["spec"]["platforms"][0]["files"] = json!([{"from": "kubectl-dedicated_registry", "to": "."}, {"from": "LICENSE", "to": "."}]),
        ),
        ("bin in a subdirectory", |m| {
            m["spec"]["platforms"][0]["bin"] = json!("./bin/../kubectl-dedicated_registry")
        }),
        ("matchExpressions selector", |m| {
            m["spec"]["platforms"][0]["selector"] = json!({"matchExpressions": [
                {"key": "os", "operator": "In", "values": ["linux"]},
                {"key": "arch", "operator": "In", "values": ["amd64"]}
            ]})
        }),
        ("extra 386 platform", |m| {
            let mut extra = m["spec"]["platforms"][0].clone();
            extra["selector"] = json!({"matchLabels": {"os": "linux", "arch": "386"}});
            m["spec"]["platforms"]
                .as_array_mut()
                .expect("platforms")
                .push(extra);
        }),
    ];
    for (what, mutate) in variants {
        let mut variant = valid.clone();
        mutate(&mut variant);
        let violations = validate(&variant, PLUGIN_NAME);
        assert!(violations.is_empty(), "{what}: {violations:#?}");
    }
}

#[test]
fn versions_agree_between_cargo_manifest_and_binary() {
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).expect("read Cargo.toml");
    let cargo_version = cargo
        .lines()
        .skip_while(|l| l.trim() != "[package]")
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("[package] version");
    assert_eq!(cargo_version, VERSION);

    let manifest = load(&committed_manifest());
    assert_eq!(manifest["spec"]["version"], json!(format!("v{VERSION}")));

    let output = Command::new(env!("CARGO_BIN_EXE_kubectl-dedicated_registry"))
        .arg("--version")
        .output()
        .expect("run --version");
    assert!(output.status.success(), "--version failed: {output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.split_whitespace().last(),
        Some(VERSION),
        "--version printed {stdout:?}"
    );
}

fn run_in(
    path_dirs: &[&Path],
    home: &Path,
    krew_root: &Path,
    program: &Path,
    args: &[&str],
) -> Output {
    let path = std::env::join_paths(path_dirs).expect("PATH");
    Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("KREW_ROOT", krew_root)
        .env("KUBECONFIG", home.join("no-such-kubeconfig"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {} {args:?}: {e}", program.display()))
}

fn assert_success(what: &str, output: &Output) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `kubectl krew install --manifest=dedicated-registry.yaml --archive=<local archive>` for
/// linux/amd64, done by hand (krew cannot be installed here), then the real kubectl uses it.
#[test]
fn krew_style_install_then_kubectl_lists_runs_and_completes_the_plugin() {
    let kubectl = common::kubectl();
    let work = tempfile::tempdir().expect("temp dir");
    let dist = work.path().join("dist");

    // 1. The release archive, packed by the release script from the binary under test.
    let target = "x86_64-unknown-linux-musl";
    let archive = PathBuf::from(
        script(
            "release.sh",
            &[
                target,
                "--binary",
                env!("CARGO_BIN_EXE_kubectl-dedicated_registry"),
                "--out-dir",
                dist.to_str().expect("UTF-8 path"),
                "--fast",
            ],
        )
        .trim(),
    );
    assert_eq!(
        archive.file_name().and_then(|n| n.to_str()),
        Some(asset(target).as_str())
    );
    let bytes = std::fs::read(&archive).expect("read archive");
    let sha256 = sha256_hex(&bytes);
    let sums_line = std::fs::read_to_string(dist.join(format!("{}.sha256", asset(target))))
        .expect("read .sha256");
    assert_eq!(sums_line, format!("{sha256}  {}\n", asset(target)));

    // 2. The manifest, rendered with that checksum (other platforms: checksums of other bytes).
    let sums: String = TARGETS
        .iter()
        .map(|t| {
            let sum = if *t == target {
                sha256.clone()
            } else {
                sha256_hex(t.as_bytes())
            };
            format!("{sum}  {}\n", asset(t))
        })
        .collect();
    let manifest_path = render(work.path(), &sums);
    assert_valid(&manifest_path);
    let manifest = load(&manifest_path);

    // 3. What krew does: pick the one platform matching linux/amd64, check the archive's sha256,
    //    sniff it as gzip, extract it into store/<name>/<version>, check `bin` stays inside and
    //    exists, link it into bin/ as kubectl-<name with _>, and write the receipt.
    let platforms = manifest["spec"]["platforms"].as_array().expect("platforms");
    let matching: Vec<&Value> = platforms
        .iter()
        .filter(|p| selector_matches(p.get("selector"), ("linux", "amd64")))
        .collect();
    assert_eq!(matching.len(), 1, "one platform for linux/amd64");
    let platform = matching[0];
    assert_eq!(
        platform["sha256"],
        json!(sha256),
        "downloaded archive checksum mismatch"
    );
    assert_eq!(
        &bytes[..2],
        &[0x1f_u8, 0x8b],
        "krew only accepts gzip or zip archives"
    );
    let version = manifest["spec"]["version"].as_str().expect("version");
    let krew_root = work.path().join("krew");
    let install_dir = krew_root.join("store").join(PLUGIN_NAME).join(version);
    std::fs::create_dir_all(&install_dir).expect("create store dir");
    let extract = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&install_dir)
        .output()
        .expect("run tar");
    assert_success("tar -xzf", &extract);
    let mut entries: Vec<String> = std::fs::read_dir(&install_dir)
        .expect("list store dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        ["LICENSE", BIN],
        "archive root must hold exactly the binary and LICENSE"
    );
    assert_eq!(
        std::fs::read(install_dir.join("LICENSE")).expect("LICENSE"),
        std::fs::read(repo().join("LICENSE")).expect("repo LICENSE")
    );
    let bin = platform["bin"].as_str().expect("bin");
    assert!(stays_inside(bin));
    let bin_path = install_dir.join(bin);
    assert!(bin_path.is_file(), "bin {bin} not found after extraction");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&bin_path)
            .expect("stat bin")
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "bin must be executable");
    }
    let bin_dir = krew_root.join("bin");
    std::fs::create_dir_all(&bin_dir).expect("create bin dir");
    let link_name = format!("kubectl-{}", PLUGIN_NAME.replace('-', "_"));
    assert_eq!(link_name, BIN);
    std::os::unix::fs::symlink(&bin_path, bin_dir.join(&link_name)).expect("link bin");
    let receipts = krew_root.join("receipts");
    std::fs::create_dir_all(&receipts).expect("create receipts dir");
    std::fs::copy(&manifest_path, receipts.join(format!("{PLUGIN_NAME}.yaml")))
        .expect("write receipt");

    // 4. The real kubectl with only krew's bin and kubectl's own directory on PATH.
    let kubectl_dir = kubectl.parent().expect("kubectl's directory");
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).expect("create home");
    let path = [bin_dir.as_path(), kubectl_dir];
    let run = |args: &[&str]| run_in(&path, &home, &krew_root, &kubectl, args);

    let list = assert_success("kubectl plugin list", &run(&["plugin", "list"]));
    assert!(
        list.lines()
            .any(|l| l.trim() == bin_dir.join(BIN).to_string_lossy()),
        "kubectl plugin list does not show the plugin:\n{list}"
    );

    let help = assert_success(
        "kubectl dedicated-registry --help",
        &run(&[PLUGIN_NAME, "--help"]),
    );
    assert!(help.contains("Usage: kubectl dedicated-registry"), "{help}");
    for subcommand in ["login", "secret", "pod", "completion"] {
        assert!(
            help.contains(subcommand),
            "--help does not mention {subcommand}:\n{help}"
        );
    }

    let version_out = assert_success(
        "kubectl dedicated-registry --version",
        &run(&[PLUGIN_NAME, "--version"]),
    );
    assert_eq!(
        version_out.split_whitespace().last(),
        Some(VERSION),
        "{version_out}"
    );
    assert_eq!(format!("v{VERSION}"), version);

    // Completion: without the shim kubectl has nothing to ask; the plugin installs it into
    // the directory of the plugin on PATH (krew's bin) by default, after which `kubectl dedicated-registry se<TAB>` gives `secret`.
    let install = assert_success(
        "kubectl dedicated-registry completion kubectl-shim",
        &run(&[PLUGIN_NAME, "completion", "kubectl-shim"]),
    );
    assert!(
        install.is_empty(),
        "installing the shim printed to stdout: {install}"
    );
    let shim = bin_dir.join(SHIM);
    assert!(shim.is_file(), "{} not installed", shim.display());
    let list = assert_success("kubectl plugin list (with shim)", &run(&["plugin", "list"]));
    assert!(
        !list.contains(SHIM),
        "the shim must not look like a plugin:\n{list}"
    );

    let completion = assert_success(
        "kubectl __complete",
        &run(&["__complete", PLUGIN_NAME, "se"]),
    );
    let lines: Vec<&str> = completion.lines().collect();
    let candidates: Vec<&str> = lines
        .iter()
        .filter(|l| !l.starts_with(':'))
        .map(|l| l.split('\t').next().unwrap_or_default())
        .collect();
    assert_eq!(candidates, ["secret"], "completion output:\n{completion}");
    assert_eq!(
        lines.last(),
        Some(&":4"),
        "completion output:\n{completion}"
    );

    let all = assert_success(
        "kubectl __complete (all)",
        &run(&["__complete", PLUGIN_NAME, ""]),
    );
    for expected in ["login\t", "secret\t", "pod\t", "completion\t"] {
        assert!(all.contains(expected), "{expected:?} missing:\n{all}");
    }
    assert!(
        !all.contains("__complete"),
        "hidden command offered:\n{all}"
    );
    let nested = assert_success(
        "kubectl __complete secret",
        &run(&["__complete", PLUGIN_NAME, "secret", "create", "x", "-o", ""]),
    );
    assert!(nested.starts_with("yaml\t"), "{nested}");
}

#[test]
fn release_archives_are_reproducible_and_hold_binary_and_license_at_the_root() {
    let work = tempfile::tempdir().expect("temp dir");
    let pack = |out: &str| {
        let dir = work.path().join(out);
        let path = script(
            "release.sh",
            &[
                "x86_64-unknown-linux-musl",
                "--binary",
                env!("CARGO_BIN_EXE_kubectl-dedicated_registry"),
                "--out-dir",
                dir.to_str().expect("UTF-8 path"),
                "--fast",
            ],
        );
        std::fs::read(path.trim()).expect("read archive")
    };
    let first = pack("a");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = pack("b");
    assert_eq!(
        sha256_hex(&first),
        sha256_hex(&second),
        "packing the same binary twice gives the same bytes"
    );
    let listing = Command::new("tar")
        .args([
            "-tzf",
            work.path()
                .join("a")
                .join(asset("x86_64-unknown-linux-musl"))
                .to_str()
                .unwrap(),
        ])
        .output()
        .expect("tar runs");
    let mut entries: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    entries.sort();
    assert_eq!(entries, ["LICENSE", "kubectl-dedicated_registry"]);
}

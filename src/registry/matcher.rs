//! The kubelet's pull-secret matching, exactly: how it reads a `.dockerconfigjson` (or legacy
//! `.dockercfg`) — what makes it fail every pull of the Pod, what it silently ignores — which
//! `auths` keys it uses for an image and in which order, and, for every key it does not use,
//! which rule failed, so a diagnosis can say why.
//!
//! Ported from kubernetes/kubernetes `pkg/credentialprovider` (v1.35): `keyring.go`
//! (`BasicDockerKeyring.Add` and `Lookup`, `URLsMatch`, `isDefaultRegistryMatch`), `config.go`
//! (`DockerConfigEntry.UnmarshalJSON`, `decodeDockerConfigFieldAuth`), `secrets/secrets.go`
//! (`MakeDockerKeyring`), and `pkg/util/parsers.ParseImageName` with distribution's
//! `reference.ParseNormalizedNamed` (v0.6). The Go library parts are in [`go`].
//! `docs/kubelet-and-controllers.md` §1 (R1–R6) summarises the rules.
//!
//! A leaf: it knows bytes, JSON and Secrets, nothing of commands or output.

mod go;
#[cfg(test)]
mod tests;

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use k8s_openapi::api::core::v1::Secret;
use regex::Regex;
use serde_json::Value;

/// The key the kubelet falls back to for Docker Hub images (`defaultRegistryHost`).
pub const DOCKER_HUB_FALLBACK: &str = "index.docker.io";
/// The secret type, and its data key, the kubelet reads (besides the legacy pair).
pub const DOCKERCONFIGJSON_TYPE: &str = "kubernetes.io/dockerconfigjson";
/// The legacy secret type, with data key `.dockercfg`.
pub const DOCKERCFG_TYPE: &str = "kubernetes.io/dockercfg";

// ---------------------------------------------------------------------------------------------
// Image references (distribution/reference v0.6, as the kubelet's ParseImageName uses it)

static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let alphanumeric = "[a-z0-9]+";
    let separator = "(?:[._]|__|[-]+)";
    let component = format!("{alphanumeric}(?:{separator}{alphanumeric})*");
    let label = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let host = format!(r"(?:{label}(?:\.{label})*|\[[a-fA-F0-9:]+\])");
    let domain = format!("{host}(?::[0-9]+)?");
    let tag = "[0-9A-Za-z_][0-9A-Za-z_.-]{0,127}";
    let digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    Regex::new(&format!(
        r"^(?:(?P<domain>{domain})/)?(?P<path>{component}(?:/{component})*)(?::(?P<tag>{tag}))?(?:@(?P<digest>{digest}))?$"
    ))
    .expect("valid regex")
});

/// An image reference as the kubelet looks it up: `docker.io/library/nginx` for `nginx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    /// What the keyring is asked for (`named.Name()`): `domain/path`, no tag or digest.
    pub name: String,
    /// The registry: `docker.io` for Docker Hub (never `index.docker.io`), port kept.
    pub domain: String,
    /// The repository path, `library/` added for official Docker Hub images.
    pub path: String,
    /// The tag, if one was written.
    pub tag: Option<String>,
    /// The digest, if one was written.
    pub digest: Option<String>,
}

impl ImageReference {
    /// What a pull resolves: the digest, else the tag, else `latest` (`ParseImageName`).
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

/// Why the kubelet cannot parse an image name (the Pod then fails with `InvalidImageName`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// Empty.
    #[error("repository name must have at least one component")]
    Empty,
    /// 64 hex characters, an image id.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexIdentifier(String),
    /// Upper case in the repository path.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    UpperCase(String),
    /// Does not follow the grammar.
    #[error("invalid reference format")]
    Format,
    /// Longer than 255 characters.
    #[error("repository name must not be more than 255 characters")]
    TooLong,
    /// A digest of an unknown algorithm.
    #[error("unsupported digest algorithm")]
    DigestUnsupported,
    /// A digest of the wrong length or case.
    #[error("invalid checksum digest format")]
    DigestInvalid,
}

/// `splitDockerDomain`: the domain (Docker Hub unless the first component looks like a host:
/// `localhost`, a `.` or `:`, or upper case) and the rest, `library/` added on Docker Hub.
fn split_docker_domain(name: &str) -> (String, String) {
    let (domain, rest) = match name.split_once('/') {
        None => ("docker.io", name),
        Some(("localhost", rest)) => ("localhost", rest),
        Some(("index.docker.io", rest)) => ("docker.io", rest),
        Some((first, rest)) if first.contains(['.', ':']) || first.to_lowercase() != first => {
            (first, rest)
        }
        Some(_) => ("docker.io", name),
    };
    let rest = if domain == "docker.io" && !rest.contains('/') {
        format!("library/{rest}")
    } else {
        rest.to_string()
    };
    (domain.to_string(), rest)
}

/// go-digest's `Digest.Validate` for the algorithms the kubelet links in.
fn validate_digest(digest: &str) -> Result<(), ImageError> {
    let (algorithm, hex) = digest.split_once(':').ok_or(ImageError::DigestInvalid)?;
    let size = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(ImageError::DigestUnsupported),
    };
    let lower_hex = hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex.len() != size || !lower_hex {
        return Err(ImageError::DigestInvalid);
    }
    Ok(())
}

/// Parses an image as the kubelet does (`ParseImageName` → `ParseNormalizedNamed`):
/// `nginx` → `docker.io/library/nginx`, `index.docker.io/x/y` → `docker.io/x/y`, ports kept.
pub fn parse_image(image: &str) -> Result<ImageReference, ImageError> {
    if image.is_empty() {
        return Err(ImageError::Empty);
    }
    if image.len() == 64
        && image
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(ImageError::HexIdentifier(image.to_string()));
    }
    let (domain, rest) = split_docker_domain(image);
    let remote = rest.split_once(':').map_or(rest.as_str(), |(r, _)| r);
    if remote.to_lowercase() != remote {
        return Err(ImageError::UpperCase(remote.to_string()));
    }
    let full = format!("{domain}/{rest}");
    let caps = REFERENCE.captures(&full).ok_or(ImageError::Format)?;
    let path = caps.name("path").map_or("", |m| m.as_str());
    // A "domain" outside the host grammar (e.g. `my_host.io`) is read as a path component.
    let domain = caps.name("domain").map_or("", |m| m.as_str());
    let name = if domain.is_empty() {
        path.to_string()
    } else {
        format!("{domain}/{path}")
    };
    if name.len() > 255 {
        return Err(ImageError::TooLong);
    }
    let digest = caps.name("digest").map(|m| m.as_str().to_string());
    if let Some(d) = &digest {
        validate_digest(d)?;
    }
    Ok(ImageReference {
        name,
        domain: domain.to_string(),
        path: path.to_string(),
        tag: caps.name("tag").map(|m| m.as_str().to_string()),
        digest,
    })
}

// ---------------------------------------------------------------------------------------------
// Reading a docker config as config.go does

/// The two shapes of docker config the kubelet reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `{"auths": {...}}` (`.dockerconfigjson`).
    DockerConfigJson,
    /// The legacy map of servers (`.dockercfg`).
    DockerCfg,
}

/// A credential as the kubelet uses it (`Add` keeps only these three fields). Its `Debug`
/// never shows the password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credential {
    /// User name.
    pub username: String,
    /// Password (registered with the scrubber when read).
    pub password: String,
    /// E-mail.
    pub email: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("email", &self.email)
            .finish()
    }
}

/// One `auths` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The key as written, e.g. `https://index.docker.io/v1/`.
    pub server: String,
    /// The kubelet's index key (scheme and `/v1/`, `/v2/` dropped, path kept), or why Go's
    /// URL parser refused the key (the kubelet then ignores the entry).
    pub key: Result<String, String>,
    /// The credential (`auth` decoded when present).
    pub credential: Credential,
}

/// What is wrong with a docker config, as the kubelet sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The secret is of another type: the kubelet ignores it.
    NotAPullSecret {
        /// Its type.
        secret_type: String,
    },
    /// The type's data key is missing or empty: the kubelet ignores the secret.
    MissingData {
        /// The key the type requires.
        key: &'static str,
    },
    /// Not JSON (fatal).
    NotJson {
        /// The parser's message (positions, no content).
        detail: String,
    },
    /// A field holds the wrong JSON type (fatal).
    WrongType {
        /// The field (`auths`, `HttpHeaders`, `username`, ..., or `entry`).
        field: String,
        /// What Go expects there.
        expected: &'static str,
    },
    /// `auth` is not base64 in the encoding the kubelet picks (fatal).
    AuthNotBase64 {
        /// Whether it was read as padded (it ends in `=`).
        padded: bool,
    },
    /// `auth` decodes to text without `:` (fatal).
    AuthWithoutColon,
    /// No `auths` (or an empty one): the secret offers no credential at all.
    NoAuths,
    /// A `.dockerconfigjson` in the legacy shape (servers at the top level, no `auths`): the
    /// kubelet finds no credential in it.
    LegacyShape,
    /// A `.dockercfg` holding the `{"auths": ...}` shape: the kubelet reads `auths` as a
    /// registry named `auths`, and finds no credential for any other.
    AuthsInDockerCfg,
    /// The key's path starts with `/v1/` or `/v2/` followed by more: the kubelet drops that
    /// prefix (Docker's API version, not a repository), so `r.io/v2/team` is key `r.io/team`.
    VersionPrefixDropped {
        /// The key the kubelet uses.
        key: String,
    },
    /// Go's URL parser refuses the key: the kubelet ignores the entry.
    InvalidKey {
        /// Go's reason.
        detail: String,
    },
    /// `auth` decodes to another user name or password than the fields: `auth` wins.
    AuthOverridesFields,
    /// A field the kubelet does not use (`identitytoken`, `registrytoken`).
    IgnoredField {
        /// The field.
        field: String,
    },
    /// Neither user name nor password: the kubelet pulls as if anonymous.
    NoCredential,
    /// Another entry has the same kubelet key; both are tried, in Go's random map order.
    DuplicateKey {
        /// The shared key.
        key: String,
        /// The other entry's server.
        other: String,
    },
    /// Upper case in the key's host: keys are compared case-sensitively (INFERRED: such a
    /// key only matches an image written with the same case).
    UpperCaseHost,
}

impl Problem {
    /// Whether the kubelet refuses the whole secret: `MakeDockerKeyring` fails, and with it
    /// every pull of every Pod that references the secret.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Problem::NotJson { .. }
                | Problem::WrongType { .. }
                | Problem::AuthNotBase64 { .. }
                | Problem::AuthWithoutColon
        )
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::NotAPullSecret { secret_type } => write!(
                f,
                "type `{secret_type}` is not {DOCKERCONFIGJSON_TYPE}: the kubelet ignores this secret"
            ),
            Problem::MissingData { key } => write!(
                f,
                "`{key}` is missing or empty: the kubelet ignores this secret"
            ),
            Problem::NotJson { detail } => write!(f, "it is not JSON ({detail})"),
            Problem::WrongType { field, expected } => {
                write!(f, "`{field}` must be {expected}")
            }
            Problem::AuthNotBase64 { padded: true } => {
                write!(f, "`auth` ends in `=` but is not padded standard base64")
            }
            Problem::AuthNotBase64 { padded: false } => write!(
                f,
                "`auth` is not unpadded standard base64 (the kubelet reads a value without a trailing `=` as unpadded)"
            ),
            Problem::AuthWithoutColon => write!(
                f,
                "`auth` decodes to text without `:`; it must be base64(username:password)"
            ),
            Problem::NoAuths => write!(f, "it has no `auths` entries: it offers no credential"),
            Problem::LegacyShape => write!(
                f,
                "it has registries at the top level, the legacy .dockercfg shape, but no `auths`: the kubelet finds no credential in it"
            ),
            Problem::AuthsInDockerCfg => write!(
                f,
                "it is a .dockercfg holding the `auths` shape of .dockerconfigjson: the kubelet reads `auths` as a registry name"
            ),
            Problem::VersionPrefixDropped { key } => write!(
                f,
                "the kubelet drops the `/v1/` or `/v2/` at the start of the path: the key is `{key}`"
            ),
            Problem::InvalidKey { detail } => write!(
                f,
                "the key is not a URL Go can parse ({detail}): the kubelet ignores this entry"
            ),
            Problem::AuthOverridesFields => write!(
                f,
                "`auth` holds another user name or password than `username`/`password`: the kubelet uses `auth`"
            ),
            Problem::IgnoredField { field } => {
                write!(f, "`{field}` is not used by the kubelet")
            }
            Problem::NoCredential => write!(
                f,
                "no user name or password: the kubelet pulls as if anonymous"
            ),
            Problem::DuplicateKey { key, other } => write!(
                f,
                "`{other}` has the same kubelet key `{key}`: both are tried, in no fixed order"
            ),
            Problem::UpperCaseHost => write!(
                f,
                "upper case in the host: keys are compared case-sensitively, image hosts are normally lower case"
            ),
        }
    }
}

/// A [`Problem`], with the entry (`auths` key as written) it is about, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The entry's server, `None` for the whole config.
    pub server: Option<String>,
    /// What is wrong.
    pub problem: Problem,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.server {
            Some(server) => write!(f, "entry `{server}`: {}", self.problem),
            None => write!(f, "{}", self.problem),
        }
    }
}

/// A docker config as the kubelet reads it: its entries (in the order written) and what is
/// wrong with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerConfig {
    /// The entries.
    pub entries: Vec<ConfigEntry>,
    /// Problems, fatal ones ([`Problem::is_fatal`]) and silently ignored ones.
    pub findings: Vec<Finding>,
}

impl DockerConfig {
    fn problem(problem: Problem) -> Self {
        DockerConfig {
            entries: Vec::new(),
            findings: vec![Finding {
                server: None,
                problem,
            }],
        }
    }

    /// The first problem that makes the kubelet refuse the secret, if any.
    pub fn fatal(&self) -> Option<&Finding> {
        self.findings.iter().find(|f| f.problem.is_fatal())
    }
}

/// Go's `StdEncoding` (padding required) and `RawStdEncoding` (no padding), both accepting
/// non-zero trailing bits as Go's non-strict decoders do.
const GO_PADDED: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);
const GO_RAW: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    general_purpose::NO_PAD
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

/// `decodeDockerConfigFieldAuth`: padded base64 when the trimmed value ends in `=`, unpadded
/// otherwise (Go skips `\r` and `\n`), then `user:password` split at the first `:`.
pub fn decode_auth(field: &str) -> Result<(String, String), Problem> {
    let padded = field.trim().ends_with('=');
    let cleaned: String = field
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .collect();
    let engine = if padded { &GO_PADDED } else { &GO_RAW };
    let bytes = engine
        .decode(cleaned)
        .map_err(|_| Problem::AuthNotBase64 { padded })?;
    let text = String::from_utf8_lossy(&bytes);
    let (username, password) = text.split_once(':').ok_or(Problem::AuthWithoutColon)?;
    Ok((username.to_string(), password.to_string()))
}

/// The host and path Go parses from an `auths` key (`https://` added unless `http(s)://` is
/// there), and whether the path starts with `/v1/` or `/v2/`.
fn key_parts(server: &str) -> Result<(String, String, bool), String> {
    let rest = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    let (host, path) = go::parse_schemeless(rest)?;
    let versioned = path.starts_with("/v2/") || path.starts_with("/v1/");
    Ok((host, path, versioned))
}

/// The kubelet's index key for an `auths` key (`BasicDockerKeyring.Add`): `https://` added
/// unless `http(s)://` is there, parsed as a URL; a `/v1/` or `/v2/` path prefix dropped; the
/// host (port kept) plus the path unless it is empty or `/`.
pub fn normalize_key(server: &str) -> Result<String, String> {
    let (host, path, versioned) = key_parts(server)?;
    let path = if versioned { &path[3..] } else { path.as_str() };
    Ok(if path.is_empty() || path == "/" {
        host
    } else {
        format!("{host}{path}")
    })
}

/// A `string` field of Go's `dockerConfigEntryWithAuth`: the value, `None` for `null`.
fn string_field(
    value: &Value,
    field: &str,
    findings: &mut Vec<Finding>,
    server: &str,
) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        _ => {
            findings.push(Finding {
                server: Some(server.to_string()),
                problem: Problem::WrongType {
                    field: field.to_string(),
                    expected: "a string",
                },
            });
            None
        }
    }
}

/// The four fields Go reads of an entry object (keys matched case-insensitively, a later key
/// overwriting an earlier one, `null` leaving the field alone).
#[derive(Default)]
struct RawEntry {
    username: Option<String>,
    password: Option<String>,
    email: Option<String>,
    auth: Option<String>,
}

fn raw_entry(server: &str, value: &Value, findings: &mut Vec<Finding>) -> RawEntry {
    let mut raw = RawEntry::default();
    let fields = match value {
        Value::Object(fields) => fields,
        Value::Null => return raw,
        _ => {
            findings.push(Finding {
                server: Some(server.to_string()),
                problem: Problem::WrongType {
                    field: "entry".into(),
                    expected: "an object",
                },
            });
            return raw;
        }
    };
    for (name, value) in fields {
        let slot = match name.to_ascii_lowercase().as_str() {
            "username" => &mut raw.username,
            "password" => &mut raw.password,
            "email" => &mut raw.email,
            "auth" => &mut raw.auth,
            "identitytoken" | "registrytoken" => {
                findings.push(Finding {
                    server: Some(server.to_string()),
                    problem: Problem::IgnoredField {
                        field: name.clone(),
                    },
                });
                continue;
            }
            _ => continue,
        };
        if let Some(s) = string_field(value, name, findings, server) {
            *slot = Some(s);
        }
    }
    raw
}

fn note(findings: &mut Vec<Finding>, server: &str, problem: Problem) {
    findings.push(Finding {
        server: Some(server.to_string()),
        problem,
    });
}

/// The credential of an entry as `DockerConfigEntry.UnmarshalJSON` reads it: a non-empty
/// `auth` replaces the user name and password (both empty when it cannot be decoded).
fn credential(server: &str, raw: RawEntry, findings: &mut Vec<Finding>) -> Credential {
    let mut credential = Credential {
        username: raw.username.clone().unwrap_or_default(),
        password: raw.password.clone().unwrap_or_default(),
        email: raw.email.unwrap_or_default(),
    };
    let Some(auth) = raw.auth.filter(|a| !a.is_empty()) else {
        return credential;
    };
    match decode_auth(&auth) {
        Ok((username, password)) => {
            let differs = raw.username.is_some_and(|u| !u.is_empty() && u != username)
                || raw.password.is_some_and(|p| !p.is_empty() && p != password);
            if differs {
                note(findings, server, Problem::AuthOverridesFields);
            }
            credential.username = username;
            credential.password = password;
        }
        Err(problem) => {
            credential.username.clear();
            credential.password.clear();
            note(findings, server, problem);
        }
    }
    credential
}

/// One entry: its credential, its kubelet key, and what is wrong with it.
fn entry(server: &str, value: &Value, findings: &mut Vec<Finding>) -> ConfigEntry {
    let fatal_before = findings.iter().filter(|f| f.problem.is_fatal()).count();
    let raw = raw_entry(server, value, findings);
    let credential = credential(server, raw, findings);
    crate::redact::register(&credential.password);
    let fatal = findings.iter().filter(|f| f.problem.is_fatal()).count() > fatal_before;
    if credential.username.is_empty() && credential.password.is_empty() && !fatal {
        note(findings, server, Problem::NoCredential);
    }
    let key = normalize_key(server);
    match &key {
        Err(detail) => note(
            findings,
            server,
            Problem::InvalidKey {
                detail: detail.clone(),
            },
        ),
        Ok(key) => {
            if key_parts(server).is_ok_and(|(_, path, versioned)| versioned && path.len() > 4) {
                let key = key.clone();
                note(findings, server, Problem::VersionPrefixDropped { key });
            }
            if key
                .split('/')
                .next()
                .is_some_and(|h| h.chars().any(|c| c.is_ascii_uppercase()))
            {
                note(findings, server, Problem::UpperCaseHost);
            }
        }
    }
    ConfigEntry {
        server: server.to_string(),
        key,
        credential,
    }
}

/// The `auths` map of a `.dockerconfigjson` object (Go's `DockerConfigJSON`: `auths` and
/// `HttpHeaders`, matched case-insensitively).
fn auths_of(
    top: &serde_json::Map<String, Value>,
    findings: &mut Vec<Finding>,
) -> Option<serde_json::Map<String, Value>> {
    let mut auths: Option<serde_json::Map<String, Value>> = None;
    let wrong = |field: &str, expected| Finding {
        server: None,
        problem: Problem::WrongType {
            field: field.to_string(),
            expected,
        },
    };
    for (name, value) in top {
        match (name.to_ascii_lowercase().as_str(), value) {
            (_, Value::Null) => {}
            ("auths", Value::Object(map)) => auths.get_or_insert_default().extend(map.clone()),
            ("auths", _) => findings.push(wrong(name, "an object")),
            ("httpheaders", Value::Object(headers))
                if headers.values().all(|v| v.is_string() || v.is_null()) => {}
            ("httpheaders", _) => findings.push(wrong(name, "an object of strings")),
            _ => {}
        }
    }
    auths
}

/// Whether a `.dockerconfigjson` without `auths` holds registry entries at the top level.
fn looks_legacy(top: &serde_json::Map<String, Value>) -> bool {
    top.values().any(|v| {
        v.as_object().is_some_and(|o| {
            o.keys().any(|k| {
                matches!(
                    k.to_ascii_lowercase().as_str(),
                    "auth" | "username" | "password"
                )
            })
        })
    })
}

/// Reads a docker config as the kubelet does (`json.Unmarshal` into `DockerConfigJSON` or
/// `DockerConfig`), collecting every problem rather than stopping at the first.
pub fn parse_config(format: Format, bytes: &[u8]) -> DockerConfig {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            return DockerConfig::problem(Problem::NotJson {
                detail: e.to_string(),
            });
        }
    };
    let top = match value {
        Value::Object(top) => top,
        Value::Null => serde_json::Map::new(),
        _ => {
            return DockerConfig::problem(Problem::WrongType {
                field: "the document".into(),
                expected: "an object",
            });
        }
    };
    let mut findings = Vec::new();
    let auths = match format {
        Format::DockerCfg => Some(top.clone()),
        Format::DockerConfigJson => auths_of(&top, &mut findings),
    };
    let auths = auths.unwrap_or_default();
    if auths.is_empty() && findings.is_empty() {
        let problem = if format == Format::DockerConfigJson && looks_legacy(&top) {
            Problem::LegacyShape
        } else {
            Problem::NoAuths
        };
        return DockerConfig::problem(problem);
    }
    if format == Format::DockerCfg && auths.keys().any(|k| k.eq_ignore_ascii_case("auths")) {
        findings.push(Finding {
            server: None,
            problem: Problem::AuthsInDockerCfg,
        });
    }
    let mut entries: Vec<ConfigEntry> = Vec::new();
    for (server, value) in &auths {
        let entry = entry(server, value, &mut findings);
        if let Ok(key) = &entry.key
            && let Some(other) = entries.iter().find(|e| e.key.as_ref() == Ok(key))
        {
            findings.push(Finding {
                server: Some(server.clone()),
                problem: Problem::DuplicateKey {
                    key: key.clone(),
                    other: other.server.clone(),
                },
            });
        }
        entries.push(entry);
    }
    DockerConfig { entries, findings }
}

/// A Secret as `MakeDockerKeyring` reads it: type `kubernetes.io/dockerconfigjson` with
/// `.dockerconfigjson`, or `kubernetes.io/dockercfg` with `.dockercfg`; anything else is
/// ignored (a [`Problem::NotAPullSecret`] or [`Problem::MissingData`] finding, no entries).
pub fn secret_config(secret: &Secret) -> DockerConfig {
    let data = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| b.0.as_slice())
            .filter(|b| !b.is_empty())
    };
    let (format, key) = match secret.type_.as_deref() {
        Some(DOCKERCONFIGJSON_TYPE) => (Format::DockerConfigJson, ".dockerconfigjson"),
        Some(DOCKERCFG_TYPE) => (Format::DockerCfg, ".dockercfg"),
        other => {
            return DockerConfig::problem(Problem::NotAPullSecret {
                secret_type: other.unwrap_or("Opaque").to_string(),
            });
        }
    };
    match data(key) {
        Some(bytes) => parse_config(format, bytes),
        None => DockerConfig::problem(Problem::MissingData { key }),
    }
}

// ---------------------------------------------------------------------------------------------
// The keyring and its lookup (keyring.go)

/// One credential in the keyring, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringEntry {
    /// The source (a secret's name), as given to [`Keyring::add`].
    pub source: String,
    /// The `auths` key as written.
    pub server: String,
    /// The kubelet's index key.
    pub key: String,
    /// The credential.
    pub credential: Credential,
}

/// The kubelet's `BasicDockerKeyring`: every usable entry of a Pod's pull secrets, indexed by
/// key in reverse lexicographic order (so longer keys come before their prefixes, and
/// non-wildcard keys before wildcard ones).
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    entries: Vec<KeyringEntry>,
    index: Vec<String>,
}

/// Why a key does not give its credential for an image, in the order `URLsMatch` checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissReason {
    /// Ports differ (an absent port is a port: it matches only an absent one).
    PortDiffers {
        /// The key's port, empty for none.
        key: String,
        /// The image's port, empty for none.
        image: String,
    },
    /// The hosts have different numbers of DNS labels (`*` stands for exactly one).
    LabelCount {
        /// Labels of the key's host.
        key: usize,
        /// Labels of the image's host.
        image: usize,
    },
    /// The image's path does not start with the key's path (a plain string prefix).
    PathPrefix {
        /// The key's path.
        key: String,
        /// The image's path.
        image: String,
    },
    /// A label of the host does not match the key's (glob) label.
    HostDiffers {
        /// The key's label.
        pattern: String,
        /// The image's label.
        label: String,
    },
    /// The key's label is not a valid glob (Go's `ErrBadPattern`): never matches.
    InvalidPattern {
        /// The label.
        pattern: String,
    },
    /// Go's URL parser refuses the key or image.
    Unparseable {
        /// Go's reason.
        detail: String,
    },
    /// `index.docker.io` serves Docker Hub images only when no other key matches.
    FallbackUnused,
}

impl std::fmt::Display for MissReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MissReason::PortDiffers { key, image } if key.is_empty() => write!(
                f,
                "port differs: the image has port {image}, the key none (ports must be equal)"
            ),
            MissReason::PortDiffers { key, image } if image.is_empty() => write!(
                f,
                "port differs: the key has port {key}, the image none (ports must be equal)"
            ),
            MissReason::PortDiffers { key, image } => {
                write!(f, "port differs: the key has {key}, the image {image}")
            }
            MissReason::LabelCount { key, image } => write!(
                f,
                "wildcard label count: the key's host has {key} DNS labels, the image's {image} (`*` matches exactly one label)"
            ),
            MissReason::PathPrefix { key, image } => write!(
                f,
                "path prefix: the image path `{image}` does not start with the key's `{key}`"
            ),
            MissReason::HostDiffers { pattern, label } => {
                write!(f, "host differs: `{label}` does not match `{pattern}`")
            }
            MissReason::InvalidPattern { pattern } => write!(
                f,
                "host differs: `{pattern}` is not a valid pattern, so it matches nothing"
            ),
            MissReason::Unparseable { detail } => write!(f, "not a URL Go can parse ({detail})"),
            MissReason::FallbackUnused => write!(
                f,
                "`{DOCKER_HUB_FALLBACK}` is only used for Docker Hub images when no other key matches"
            ),
        }
    }
}

/// A key that was not used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    /// The index key.
    pub key: String,
    /// The first rule that failed.
    pub reason: MissReason,
}

/// What the keyring gives for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup<'k> {
    /// The credentials the kubelet tries, in its order; it stops at the first pull that
    /// works, and pulls without a credential when this is empty.
    pub matches: Vec<&'k KeyringEntry>,
    /// Whether they came from the `index.docker.io` fallback.
    pub fallback: bool,
    /// Every key not used, in index order, with the reason.
    pub misses: Vec<Miss>,
}

impl Lookup<'_> {
    /// `` `key`: reason; ... `` for messages.
    pub fn why_not(&self) -> String {
        self.misses
            .iter()
            .map(|m| format!("key `{}`: {}", m.key, m.reason))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A URL split as `URLsMatch` compares it: DNS labels, port, path.
struct Parts {
    labels: Vec<String>,
    port: String,
    path: String,
}

/// `parseSchemelessURL` then `splitURL`.
fn split_url(s: &str) -> Result<Parts, String> {
    let (host, path) = go::parse_schemeless(s)?;
    let (name, port) = go::split_host_port(&host).unwrap_or((host.as_str(), ""));
    Ok(Parts {
        labels: name.split('.').map(str::to_string).collect(),
        port: port.to_string(),
        path,
    })
}

/// `URLsMatch(glob, target)`: `Ok` when `key` matches, else the first rule that fails.
fn urls_match(key: &str, target: &Parts) -> Result<(), MissReason> {
    let glob = split_url(key).map_err(|detail| MissReason::Unparseable { detail })?;
    if glob.port != target.port {
        return Err(MissReason::PortDiffers {
            key: glob.port,
            image: target.port.clone(),
        });
    }
    if glob.labels.len() != target.labels.len() {
        return Err(MissReason::LabelCount {
            key: glob.labels.len(),
            image: target.labels.len(),
        });
    }
    if !target.path.starts_with(&glob.path) {
        return Err(MissReason::PathPrefix {
            key: glob.path,
            image: target.path.clone(),
        });
    }
    for (pattern, label) in glob.labels.iter().zip(&target.labels) {
        match go::glob_match(pattern, label) {
            Ok(true) => {}
            Ok(false) => {
                return Err(MissReason::HostDiffers {
                    pattern: pattern.clone(),
                    label: label.clone(),
                });
            }
            Err(()) => {
                return Err(MissReason::InvalidPattern {
                    pattern: pattern.clone(),
                });
            }
        }
    }
    Ok(())
}

/// `isDefaultRegistryMatch`: whether `image` (a looked-up name) pulls from Docker Hub by its
/// shape: one component, or a first component `docker.io`/`index.docker.io` or without `.`
/// and `:`.
pub fn is_default_registry_match(image: &str) -> bool {
    match image.split_once('/') {
        _ if image.is_empty() || image.starts_with('/') => false,
        None => true,
        Some((first, _)) => {
            first == "docker.io" || first == "index.docker.io" || !first.contains(['.', ':'])
        }
    }
}

impl Keyring {
    /// Adds the usable entries of `config` (from `source`) as `BasicDockerKeyring.Add` does:
    /// entries whose key Go cannot parse are left out; the index is de-duplicated and sorted
    /// in reverse. The caller decides what a fatal config means ([`DockerConfig::fatal`]).
    pub fn add(&mut self, source: &str, config: &DockerConfig) {
        for entry in &config.entries {
            let Ok(key) = &entry.key else { continue };
            self.entries.push(KeyringEntry {
                source: source.to_string(),
                server: entry.server.clone(),
                key: key.clone(),
                credential: entry.credential.clone(),
            });
            if !self.index.contains(key) {
                self.index.push(key.clone());
            }
        }
        self.index.sort_by(|a, b| b.cmp(a));
    }

    /// The keys, in the order the kubelet tries them.
    pub fn index(&self) -> &[String] {
        &self.index
    }

    /// Every entry, in the order added.
    pub fn entries(&self) -> &[KeyringEntry] {
        &self.entries
    }

    /// The source of the first entry with index key `key`.
    pub fn source_of(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.source.as_str())
    }

    fn with_key<'k>(&'k self, key: &'k str) -> impl Iterator<Item = &'k KeyringEntry> + 'k {
        self.entries.iter().filter(move |e| e.key == key)
    }

    /// `BasicDockerKeyring.Lookup(image.name)`: every entry whose key matches, keys in index
    /// order; when none does and the image is Docker Hub's, the `index.docker.io` entries.
    pub fn lookup(&self, image: &ImageReference) -> Lookup<'_> {
        self.lookup_name(&image.name)
    }

    /// [`Keyring::lookup`] of a name as the kubelet passes it (`host[:port]/path`).
    pub fn lookup_name(&self, name: &str) -> Lookup<'_> {
        let mut lookup = Lookup {
            matches: Vec::new(),
            fallback: false,
            misses: Vec::new(),
        };
        let target = split_url(name);
        for key in &self.index {
            let outcome = match &target {
                Ok(target) => urls_match(key, target),
                Err(detail) => Err(MissReason::Unparseable {
                    detail: detail.clone(),
                }),
            };
            match outcome {
                Ok(()) => lookup.matches.extend(self.with_key(key)),
                Err(reason) => lookup.misses.push(Miss {
                    key: key.clone(),
                    reason,
                }),
            }
        }
        if is_default_registry_match(name) {
            let fallback = lookup
                .misses
                .iter()
                .position(|m| m.key == DOCKER_HUB_FALLBACK);
            match fallback {
                Some(i) if lookup.matches.is_empty() => {
                    lookup.misses.remove(i);
                    lookup.matches.extend(self.with_key(DOCKER_HUB_FALLBACK));
                    lookup.fallback = true;
                }
                Some(i) => lookup.misses[i].reason = MissReason::FallbackUnused,
                None => {}
            }
        }
        lookup
    }
}

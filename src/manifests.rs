//! Pure builders and validators: the dockerconfigjson bytes, the Secret, the Pod, Kubernetes
//! names and image references. No I/O here, so everything is unit-tested.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Container, LocalObjectReference, Pod, PodSpec, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use regex::Regex;

/// Field manager and `app.kubernetes.io/managed-by` value.
pub const MANAGER: &str = "kubectl-dedicated-registry";
/// The managed-by label key.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Annotation: the registry host the secret is for.
pub const ANNOTATION_REGISTRY: &str = "kubectl-dedicated-registry/registry";
/// Annotation: the id (JWT `jti`) of the token in the secret.
pub const ANNOTATION_TOKEN_ID: &str = "kubectl-dedicated-registry/token-id";
/// Annotation: `read-only` or `read-write`.
pub const ANNOTATION_ACCESS: &str = "kubectl-dedicated-registry/token-access";
/// kubectl's client-side apply annotation, which holds a full copy of the applied object.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Secret type of pull secrets.
pub const DOCKERCONFIGJSON_TYPE: &str = "kubernetes.io/dockerconfigjson";
/// Data key of pull secrets.
pub const DOCKERCONFIGJSON_KEY: &str = ".dockerconfigjson";
/// The registry user name for token authentication.
pub const TOKEN_USERNAME: &str = "token";
/// What `--dry-run` puts where the token would go.
pub const PLACEHOLDER_TOKEN: &str = "<token minted when not a dry run>";

/// Invalid user input, found before any network call.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    /// A Kubernetes object name is not valid.
    #[error("invalid {kind} name `{name}`: {reason}")]
    Name {
        /// `secret`, `namespace`, ...
        kind: &'static str,
        /// The name given.
        name: String,
        /// Why.
        reason: String,
    },
    /// An image reference is not valid.
    #[error(
        "invalid image reference `{reference}`: {reason}; use `<namespace>/<image>[:tag]` or a full `<registry>/<path>[:tag|@digest]`"
    )]
    Image {
        /// The reference given.
        reference: String,
        /// Why.
        reason: String,
    },
    /// An e-mail address is not usable.
    #[error("invalid e-mail `{0}`: it must be a single line without spaces")]
    Email(String),
}

/// Go's `json.Marshal` string escaping: like serde_json, plus `<`, `>`, `&`, U+2028 and U+2029.
fn go_json_string(s: &str) -> String {
    let json = serde_json::to_string(s).expect("strings always serialize");
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// The exact `.dockerconfigjson` bytes `kubectl create secret docker-registry` writes
/// (protocol.md §7.1): compact, fields `username, password, email, auth`, `email` omitted when
/// empty, `auth` = standard base64 of `username:password`.
pub fn docker_config_json(server: &str, username: &str, password: &str, email: &str) -> Vec<u8> {
    let auth = STANDARD.encode(format!("{username}:{password}"));
    let mut entry = format!(
        "\"username\":{},\"password\":{}",
        go_json_string(username),
        go_json_string(password)
    );
    if !email.is_empty() {
        entry.push_str(&format!(",\"email\":{}", go_json_string(email)));
    }
    entry.push_str(&format!(",\"auth\":{}", go_json_string(&auth)));
    format!("{{\"auths\":{{{}:{{{entry}}}}}}}", go_json_string(server)).into_bytes()
}

/// What goes into a pull secret besides its name.
#[derive(Clone)]
pub struct PullSecretSpec<'a> {
    /// Registry host (the `auths` key).
    pub registry: &'a str,
    /// The token, or [`PLACEHOLDER_TOKEN`].
    pub token: &'a str,
    /// Token id for the annotation; empty for a placeholder.
    pub token_id: &'a str,
    /// Optional e-mail.
    pub email: &'a str,
    /// Whether the token can push.
    pub readwrite: bool,
}

/// The pull Secret, labelled and annotated as managed by this plugin.
pub fn pull_secret(name: &str, namespace: &str, spec: &PullSecretSpec<'_>) -> Secret {
    let bytes = docker_config_json(spec.registry, TOKEN_USERNAME, spec.token, spec.email);
    if spec.token != PLACEHOLDER_TOKEN {
        // A server may echo the object back in an error: scrub its encodings too.
        crate::redact::register(&String::from_utf8_lossy(&bytes));
    }
    let mut annotations = BTreeMap::from([
        (ANNOTATION_REGISTRY.to_string(), spec.registry.to_string()),
        (
            ANNOTATION_ACCESS.to_string(),
            if spec.readwrite {
                "read-write"
            } else {
                "read-only"
            }
            .to_string(),
        ),
    ]);
    if !spec.token_id.is_empty() {
        annotations.insert(ANNOTATION_TOKEN_ID.to_string(), spec.token_id.to_string());
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                MANAGED_BY.to_string(),
                MANAGER.to_string(),
            )])),
            annotations: Some(annotations),
            ..Default::default()
        },
        type_: Some(DOCKERCONFIGJSON_TYPE.to_string()),
        data: Some(BTreeMap::from([(
            DOCKERCONFIGJSON_KEY.to_string(),
            ByteString(bytes),
        )])),
        ..Default::default()
    }
}

/// A copy of `secret` whose credential is replaced, for printing without `--show-token`.
pub fn redacted(secret: &Secret, registry: &str, email: &str) -> Secret {
    let mut copy = secret.clone();
    copy.data = Some(BTreeMap::from([(
        DOCKERCONFIGJSON_KEY.to_string(),
        ByteString(docker_config_json(
            registry,
            TOKEN_USERNAME,
            "<redacted: use --show-token to print>",
            email,
        )),
    )]));
    copy.metadata.managed_fields = None;
    // `kubectl apply` keeps the whole previous object, credential included, in this annotation.
    if let Some(annotations) = copy.metadata.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
    copy
}

/// The `auths` entry for `registry` in a pull secret: `(username, password, email)`.
pub fn existing_credential(secret: &Secret, registry: &str) -> Option<(String, String, String)> {
    credentials(secret)
        .into_iter()
        .find(|c| c.host == registry)
        .map(|c| (c.username, c.password, c.email))
}

/// One registry credential of a pull secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Registry host (scheme and path stripped from the `auths` key).
    pub host: String,
    /// User name.
    pub username: String,
    /// Password (registered with the scrubber when read).
    pub password: String,
    /// E-mail, empty when absent.
    pub email: String,
}

/// Every credential in a pull secret, in both the current `.dockerconfigjson` form and the
/// legacy `.dockercfg` form (protocol.md §7.2). `auth` is used when the username or password
/// fields are missing.
pub fn credentials(secret: &Secret) -> Vec<Credential> {
    let Some(data) = secret.data.as_ref() else {
        return Vec::new();
    };
    let auths = if let Some(b) = data.get(DOCKERCONFIGJSON_KEY) {
        serde_json::from_slice::<serde_json::Value>(&b.0)
            .ok()
            .and_then(|v| v.get("auths").cloned())
    } else if let Some(b) = data.get(".dockercfg") {
        serde_json::from_slice::<serde_json::Value>(&b.0).ok()
    } else {
        None
    };
    let Some(serde_json::Value::Object(auths)) = auths else {
        return Vec::new();
    };
    let field = |entry: &serde_json::Value, names: &[&str]| {
        names
            .iter()
            .find_map(|n| entry.get(*n).and_then(|v| v.as_str()))
            .unwrap_or_default()
            .to_string()
    };
    auths
        .iter()
        .filter_map(|(server, entry)| {
            let host = server
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()?
                .to_string();
            let mut username = field(entry, &["username", "Username"]);
            let mut password = field(entry, &["password", "Password"]);
            if (username.is_empty() || password.is_empty())
                && let Some(auth) = entry.get("auth").and_then(|a| a.as_str())
                && let Ok(decoded) = STANDARD.decode(auth)
                && let Ok(text) = String::from_utf8(decoded)
                && let Some((u, p)) = text.split_once(':')
            {
                username = u.to_string();
                password = p.to_string();
            }
            crate::redact::register(&password);
            let email = field(entry, &["email", "Email"]);
            (!host.is_empty() && !username.is_empty()).then_some(Credential {
                host,
                username,
                password,
                email,
            })
        })
        .collect()
}

/// Whether this plugin manages `secret`.
pub fn is_managed(secret: &Secret) -> bool {
    secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY))
        .is_some_and(|v| v == MANAGER)
}

/// A Pod running `image` with `secret` as its pull secret.
pub fn pod(name: &str, namespace: &str, image: &str, secret: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([
                ("app.kubernetes.io/name".to_string(), name.to_string()),
                (MANAGED_BY.to_string(), MANAGER.to_string()),
            ])),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: name.to_string(),
                image: Some(image.to_string()),
                ..Default::default()
            }],
            image_pull_secrets: Some(vec![LocalObjectReference {
                name: secret.to_string(),
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

static DNS1123_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        .expect("valid regex")
});
static DNS1123_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("valid regex"));

/// Validates a Secret, Pod or ServiceAccount name (RFC 1123 subdomain, as the API server does).
pub fn validate_object_name(kind: &'static str, name: &str) -> Result<(), InputError> {
    let err = |reason: &str| InputError::Name {
        kind,
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(err("must not be empty"));
    }
    if name.len() > 253 {
        return Err(err("must be no more than 253 characters"));
    }
    if !DNS1123_SUBDOMAIN.is_match(name) {
        return Err(err(
            "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        ));
    }
    Ok(())
}

/// Validates a namespace name (RFC 1123 label).
pub fn validate_namespace(name: &str) -> Result<(), InputError> {
    let err = |reason: &str| InputError::Name {
        kind: "namespace",
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() || name.len() > 63 {
        return Err(err("must be 1 to 63 characters"));
    }
    if !DNS1123_LABEL.is_match(name) {
        return Err(err(
            "must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        ));
    }
    Ok(())
}

/// Validates a `--docker-email` value.
pub fn validate_email(email: &str) -> Result<(), InputError> {
    if email.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(InputError::Email(email.escape_debug().to_string()));
    }
    Ok(())
}

// The grammar of docker/distribution `reference/regexp.go`.
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let alnum = "[a-z0-9]+";
    let separator = "(?:[._]|__|[-]+)";
    let component = format!("{alnum}(?:{separator}{alnum})*");
    let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let domain =
        format!(r"(?:{domain_component}(?:\.{domain_component})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?");
    let tag = r"[\w][\w.-]{0,127}";
    let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    Regex::new(&format!(
        r"^(?:(?P<domain>{domain})/)?(?P<path>{component}(?:/{component})*)(?::(?P<tag>{tag}))?(?:@(?P<digest>{digest}))?$"
    ))
    .expect("valid regex")
});

/// A resolved image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The full reference to put in the Pod, e.g. `registry.x/ns/app:latest`.
    pub full: String,
    /// The last path component, e.g. `app` (the default Pod name).
    pub name: String,
}

/// Resolves `--image`: a full reference (first component has a `.` or `:` or is `localhost`),
/// or `<namespace>/<image>[:tag]` in `registry`. The tag defaults to `latest` unless a digest
/// is given.
pub fn resolve_image(input: &str, registry: &str) -> Result<ImageRef, InputError> {
    let err = |reason: &str| InputError::Image {
        reference: input.to_string(),
        reason: reason.to_string(),
    };
    if input.is_empty() {
        return Err(err("it is empty"));
    }
    let caps = REFERENCE
        .captures(input)
        .ok_or_else(|| err("it does not follow the image reference grammar (lower-case path components, optional :tag or @sha256:digest)"))?;
    let path = caps.name("path").map(|m| m.as_str()).unwrap_or_default();
    let (domain, path) = match caps.name("domain").map(|m| m.as_str()) {
        // distribution's rule: the first component is a registry only if it looks like a host.
        Some(d) if d.contains('.') || d.contains(':') || d == "localhost" => {
            (d.to_string(), path.to_string())
        }
        Some(d) => (registry.to_string(), format!("{d}/{path}")),
        None => (registry.to_string(), path.to_string()),
    };
    if domain == registry && !path.contains('/') {
        return Err(err(
            "images in the registry live in a namespace: use `<namespace>/<image>`",
        ));
    }
    if path.len() > 255 {
        return Err(err("the repository name is longer than 255 characters"));
    }
    let mut full = format!("{domain}/{path}");
    if let Some(tag) = caps.name("tag") {
        full.push(':');
        full.push_str(tag.as_str());
    }
    if let Some(digest) = caps.name("digest") {
        full.push('@');
        full.push_str(digest.as_str());
    } else if caps.name("tag").is_none() {
        full.push_str(":latest");
    }
    let name = path.rsplit('/').next().unwrap_or(&path).to_string();
    Ok(ImageRef { full, name })
}

/// A valid Pod name derived from an image name (`my_app` → `my-app`).
pub fn pod_name_for(image_name: &str) -> String {
    let mut name: String = image_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_matches('-').to_string();
    name.truncate(63);
    let name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        "app".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerconfigjson_matches_kubectl_bytes() {
        // Reference from protocol.md §7.1 (kubectl 1.12 capture, fluxcd/flux#1596).
        let got = docker_config_json("private.dockerrepo.com", "xxxxx", "xxxxx", "xxx@xyz.cim");
        assert_eq!(
            String::from_utf8(got).unwrap(),
            r#"{"auths":{"private.dockerrepo.com":{"username":"xxxxx","password":"xxxxx","email":"xxx@xyz.cim","auth":"eHh4eHg6eHh4eHg="}}}"#
        );
        let no_email = docker_config_json("r.example", "token", "t", "");
        assert_eq!(
            String::from_utf8(no_email).unwrap(),
            r#"{"auths":{"r.example":{"username":"token","password":"t","auth":"dG9rZW46dA=="}}}"#
        );
    }

    #[test]
    fn dockerconfigjson_escapes_like_go() {
        let got = String::from_utf8(docker_config_json("r", "u", "p", "a<b>&c@d")).unwrap();
        assert!(
            got.contains(r#""email":"a\u003cb\u003e\u0026c@d""#),
            "{got}"
        );
    }

    #[test]
    fn secret_round_trips_its_credential() {
        let spec = PullSecretSpec {
            registry: "registry.x",
            token: "tok",
            token_id: "id-1",
            email: "",
            readwrite: false,
        };
        let secret = pull_secret("regcred", "team-a", &spec);
        assert!(is_managed(&secret));
        assert_eq!(secret.type_.as_deref(), Some(DOCKERCONFIGJSON_TYPE));
        assert_eq!(
            existing_credential(&secret, "registry.x"),
            Some(("token".into(), "tok".into(), String::new()))
        );
        let red = redacted(&secret, "registry.x", "");
        let bytes = &red.data.as_ref().unwrap()[DOCKERCONFIGJSON_KEY].0;
        let shown = String::from_utf8(bytes.clone()).unwrap();
        assert!(!shown.contains("\"tok\""), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
        let yaml = serde_saphyr::to_string(&secret).unwrap();
        assert!(
            yaml.contains("apiVersion: v1") && yaml.contains("kind: Secret"),
            "{yaml}"
        );
    }

    #[test]
    fn credentials_are_read_from_every_format() {
        let secret = pull_secret(
            "s",
            "ns",
            &PullSecretSpec {
                registry: "r.x:5000",
                token: "t0k",
                token_id: "",
                email: "",
                readwrite: false,
            },
        );
        let one = |host: &str, username: &str, password: &str, email: &str| Credential {
            host: host.into(),
            username: username.into(),
            password: password.into(),
            email: email.into(),
        };
        assert_eq!(
            credentials(&secret),
            vec![one("r.x:5000", "token", "t0k", "")]
        );
        // Legacy .dockercfg with only `auth`, and a scheme in the key.
        let legacy = Secret {
            data: Some(BTreeMap::from([(
                ".dockercfg".to_string(),
                ByteString(br#"{"https://old.example/v1/":{"auth":"dTpw","email":"e"}}"#.to_vec()),
            )])),
            ..Default::default()
        };
        assert_eq!(
            credentials(&legacy),
            vec![one("old.example", "u", "p", "e")]
        );
        assert!(credentials(&Secret::default()).is_empty());
    }

    #[test]
    fn names_are_validated_like_the_api_server() {
        assert!(validate_object_name("secret", "regcred").is_ok());
        assert!(validate_object_name("secret", "a.b-c").is_ok());
        for bad in ["", "Regcred", "-x", "x-", "a_b", &"a".repeat(254)] {
            assert!(validate_object_name("secret", bad).is_err(), "{bad}");
        }
        assert!(validate_namespace("team-a").is_ok());
        assert!(validate_namespace("a.b").is_err());
        assert!(validate_namespace(&"a".repeat(64)).is_err());
    }

    #[test]
    fn images_resolve_against_the_registry() {
        let r = "registry.x";
        assert_eq!(
            resolve_image("demo/hello", r).unwrap().full,
            "registry.x/demo/hello:latest"
        );
        assert_eq!(
            resolve_image("demo/hello:v1", r).unwrap().full,
            "registry.x/demo/hello:v1"
        );
        assert_eq!(
            resolve_image("other.io/a/b:1", r).unwrap().full,
            "other.io/a/b:1"
        );
        assert_eq!(
            resolve_image("127.0.0.1:5000/demo/hello", r).unwrap().full,
            "127.0.0.1:5000/demo/hello:latest"
        );
        let digest = format!("demo/hello@sha256:{}", "a".repeat(64));
        assert_eq!(
            resolve_image(&digest, r).unwrap().full,
            format!("registry.x/{digest}")
        );
        assert_eq!(resolve_image("demo/my_app", r).unwrap().name, "my_app");
        for bad in [
            "",
            "hello",
            "Demo/Hello",
            "demo/hello:",
            "demo//x",
            "demo/x:-bad",
            "a b/c",
        ] {
            assert!(resolve_image(bad, r).is_err(), "{bad}");
        }
    }

    #[test]
    fn pod_names_are_sanitized() {
        assert_eq!(pod_name_for("my_app"), "my-app");
        assert_eq!(pod_name_for("__"), "app");
    }

    #[test]
    fn pod_references_the_secret() {
        let pod = pod("hello", "team-a", "registry.x/demo/hello:v1", "regcred");
        let spec = pod.spec.unwrap();
        assert_eq!(spec.image_pull_secrets.unwrap()[0].name, "regcred");
        assert_eq!(
            spec.containers[0].image.as_deref(),
            Some("registry.x/demo/hello:v1")
        );
    }
}

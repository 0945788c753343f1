//! Validation of user input before any request: Kubernetes names (RFC 1123, as the API server
//! checks them), e-mail values and image references (distribution's reference grammar).

use std::sync::LazyLock;

use regex::Regex;

use super::InputError;

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

/// A path component of distribution's grammar: lower-case alphanumerics and separators.
const PATH_COMPONENT: &str = "[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*";

/// A whole repository path.
static PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!("^{PATH_COMPONENT}(?:/{PATH_COMPONENT})*$")).expect("valid regex")
});

// The grammar of docker/distribution `reference/regexp.go`.
static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let component = PATH_COMPONENT;
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
    /// The registry host, e.g. `registry.x`.
    pub domain: String,
    /// The repository path in the registry, e.g. `ns/app`.
    pub repository: String,
    /// The tag (`latest` when none was given) or the digest.
    pub reference: String,
}

impl ImageRef {
    /// The reference pinned to `digest`: `<domain>/<repository>@<digest>`.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}/{}@{digest}", self.domain, self.repository)
    }
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
    // A first component that is not a host is part of the path, and must follow the path
    // grammar (lower case), as distribution's normalization requires.
    if !PATH.is_match(&path) {
        return Err(err(
            "repository names are lower case (`<namespace>/<image>`, letters, digits, `.`, `_`, `-`)",
        ));
    }
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
    let reference = if let Some(digest) = caps.name("digest") {
        full.push('@');
        full.push_str(digest.as_str());
        digest.as_str().to_string()
    } else if let Some(tag) = caps.name("tag") {
        tag.as_str().to_string()
    } else {
        full.push_str(":latest");
        "latest".to_string()
    };
    let name = path.rsplit('/').next().unwrap_or(&path).to_string();
    Ok(ImageRef {
        full,
        name,
        domain,
        repository: path,
        reference,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let parts = resolve_image("other.io:5000/a/b", r).unwrap();
        assert_eq!(
            (
                parts.domain.as_str(),
                parts.repository.as_str(),
                parts.reference.as_str()
            ),
            ("other.io:5000", "a/b", "latest")
        );
        let pinned = resolve_image(&digest, r).unwrap();
        assert_eq!(pinned.reference, format!("sha256:{}", "a".repeat(64)));
        assert_eq!(
            resolve_image("demo/hello:v1", r)
                .unwrap()
                .pinned("sha256:ab"),
            "registry.x/demo/hello@sha256:ab"
        );
        for bad in [
            "",
            "hello",
            "Demo/Hello",
            "demo/hello:",
            "demo//x",
            "demo/x:-bad",
            "a b/c",
            "A/a",
            "Demo/hello:v1",
        ] {
            assert!(resolve_image(bad, r).is_err(), "{bad}");
        }
    }
}

//! What every registry provider shares: credential access levels, minted credentials and
//! their listing, ownership, descriptions, and the Docker Registry v2 authentication a kubelet
//! uses ([`v2`], protocol.md §6), and which pull-secret key the kubelet uses for an image
//! ([`matcher`]). The Dedicated management API lives with its provider
//! ([`crate::providers::dedicated`]).

pub mod matcher;
pub mod v2;

use secrecy::SecretString;

use crate::http::RemoteError;

/// Description prefix of the tokens this plugin mints by default.
pub const DESCRIPTION_PREFIX: &str = "kubectl-dedicated-registry";

/// The description this plugin gives a token minted for secret `name` in `namespace` of
/// `cluster`: where it is used, no personal data.
pub fn default_description(cluster: Option<&str>, namespace: &str, name: &str) -> String {
    format!(
        "{DESCRIPTION_PREFIX} {}/{namespace}/{name}",
        cluster.unwrap_or("cluster")
    )
}

/// The cluster name descriptions use when the kubeconfig names none (as
/// [`default_description`] writes it).
pub fn described_cluster(cluster: Option<&str>) -> &str {
    cluster.unwrap_or("cluster")
}

/// Where a token this plugin described is used, read back from its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// The kubeconfig cluster name (`cluster` when the kubeconfig named none).
    pub cluster: String,
    /// The namespace; `None` for a token shared by several namespaces (`*`).
    pub namespace: Option<String>,
    /// The pull secret's name.
    pub secret: String,
}

/// Parses a description [`default_description`] wrote: `kubectl-dedicated-registry
/// <cluster>/<namespace or *>/<secret>`. The cluster name may hold `/` (e.g. an EKS ARN), so
/// the namespace and secret are read from the right; both must be valid names. Anything else
/// (another tool's token, a `--description` of the user's) is `None`.
pub fn parse_description(description: &str) -> Option<Described> {
    let rest = description
        .strip_prefix(DESCRIPTION_PREFIX)?
        .strip_prefix(' ')?;
    let mut parts = rest.rsplitn(3, '/');
    let secret = parts.next()?;
    let namespace = parts.next()?;
    let cluster = parts.next()?;
    if cluster.is_empty() || cluster.chars().any(char::is_control) {
        return None;
    }
    crate::manifests::validate_object_name("secret", secret).ok()?;
    let namespace = match namespace {
        "*" => None,
        ns => {
            crate::manifests::validate_namespace(ns).ok()?;
            Some(ns.to_string())
        }
    };
    Some(Described {
        cluster: cluster.to_string(),
        namespace,
        secret: secret.to_string(),
    })
}

/// Whether `id` has the shape of a registry token id (a UUID, the JWT `jti`).
pub fn is_token_id(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// How a token id read from a cluster object relates to that object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// The org's token with that id holds the object's credential, or carries the description
    /// this plugin writes for it: revoking it is revoking the object's own token.
    Owned,
    /// The token exists but belongs to something else (its description is shown).
    Foreign(String),
    /// No live token of the org has that id.
    Missing,
}

/// Failures of the registry API.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Transport failure.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The registry refused the request.
    #[error("registry {host} refused to {action} (HTTP {status}{code}): {message}{hint}")]
    Refused {
        /// Registry host.
        host: String,
        /// What was attempted, e.g. `mint a token`.
        action: String,
        /// HTTP status.
        status: u16,
        /// ` CRG0009E` or empty.
        code: String,
        /// The registry's message (or raw body).
        message: String,
        /// `; <what to do>` or empty.
        hint: String,
    },
    /// The answer was not the documented shape.
    #[error("unexpected answer from registry {host} when trying to {action}: {detail}")]
    Protocol {
        /// Registry host.
        host: String,
        /// What was attempted.
        action: String,
        /// What was wrong.
        detail: String,
    },
}

impl RegistryError {
    /// Whether the request certainly never reached the registry (see
    /// [`crate::http::RemoteError::never_sent`]).
    pub fn never_sent(&self) -> bool {
        matches!(self, RegistryError::Remote(remote) if remote.never_sent())
    }

    /// Whether the registry refused the access token itself (worth one login refresh).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, RegistryError::Refused { status: 401, .. })
    }

    /// Whether the request failed in transit (it may have been carried out anyway).
    pub fn is_transport(&self) -> bool {
        matches!(self, RegistryError::Remote(_))
    }

    /// Whether trying again may succeed: the transport failed, or the registry was failing or
    /// throttling (5xx, 429). Only idempotent requests are retried on it.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Remote(RemoteError::TooLarge { .. }) => false,
            RegistryError::Remote(_) => true,
            RegistryError::Refused { status, .. } => *status >= 500 || *status == 429,
            RegistryError::Protocol { .. } => false,
        }
    }

    /// Whether the registry answered "no such token".
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::Refused { status: 404, .. })
    }
}

/// A freshly minted registry token.
pub struct MintedToken {
    /// The token (the pull secret's password).
    pub token: SecretString,
    /// Its id, the JWT `jti`; safe to show and store.
    pub id: String,
    /// The username it goes with in a pull secret (the provider's).
    pub username: &'static str,
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedToken")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// A token as listed by the registry, without the token itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenEntry {
    /// The id (JWT `jti`).
    pub id: String,
    /// The description (`secondary_owner`).
    pub description: String,
    /// Read-only, when the registry says.
    pub readonly: Option<bool>,
    /// Revoked.
    pub revoked: bool,
    /// Expiry in epoch seconds; `None` for non-expiring tokens.
    pub expiry: Option<i64>,
}

/// Access of a registry token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Pull only (the default).
    ReadOnly,
    /// Pull and push.
    ReadWrite,
}

impl Access {
    /// `read-only` or `read-write`, as recorded in annotations and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::ReadOnly => "read-only",
            Access::ReadWrite => "read-write",
        }
    }

    /// From `--readwrite`.
    pub fn from_readwrite(readwrite: bool) -> Self {
        if readwrite {
            Access::ReadWrite
        } else {
            Access::ReadOnly
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_debug_is_redacted() {
        let t = MintedToken {
            token: SecretString::from("super-secret"),
            id: "id-1".into(),
            username: "token",
        };
        let s = format!("{t:?}");
        assert!(s.contains("id-1") && !s.contains("super-secret"));
    }

    #[test]
    fn token_ids_are_uuids() {
        assert!(is_token_id("637b3d8c-a087-5af9-a636-16e7efc70967"));
        for bad in [
            "",
            ".",
            "..",
            "637b3d8c",
            "637b3d8c-a087-5af9-a636-16e7efc7096g",
            "../x",
        ] {
            assert!(!is_token_id(bad), "{bad}");
        }
        assert_eq!(
            default_description(None, "team-a", "regcred"),
            "kubectl-dedicated-registry cluster/team-a/regcred"
        );
    }

    #[test]
    fn descriptions_parse_back_to_cluster_namespace_and_secret() {
        let parsed = parse_description(&default_description(Some("prod"), "team-a", "regcred"));
        assert_eq!(
            parsed,
            Some(Described {
                cluster: "prod".into(),
                namespace: Some("team-a".into()),
                secret: "regcred".into(),
            })
        );
        // A token shared by every namespace of a cluster (`secret create -A`).
        let shared = parse_description(&default_description(Some("prod"), "*", "regcred")).unwrap();
        assert_eq!(shared.namespace, None);
        assert_eq!(shared.cluster, "prod");
        // No cluster name in the kubeconfig; a cluster name with slashes (EKS ARNs).
        let unnamed = parse_description(&default_description(None, "a", "b")).unwrap();
        assert_eq!(unnamed.cluster, described_cluster(None));
        let arn = "arn:aws:eks:eu-west-1:123456789012:cluster/prod";
        let parsed = parse_description(&default_description(Some(arn), "a", "b")).unwrap();
        assert_eq!(
            (parsed.cluster.as_str(), parsed.namespace.as_deref()),
            (arn, Some("a"))
        );
        for other in [
            "",
            "kubectl-dedicated-registry",
            "kubectl-dedicated-registry ",
            "kubectl-dedicated-registry prod/team-a",
            "kubectl-dedicated-registryprod/team-a/regcred",
            "kubectl-dedicated-registry /team-a/regcred",
            "kubectl-dedicated-registry prod/Team_A/regcred",
            "kubectl-dedicated-registry prod/team-a/",
            "kubectl-dedicated-registry prod/team-a/Reg cred",
            "kubectl-dedicated-registry prod//regcred",
            "my own token for prod/team-a/regcred",
            "ci pipeline",
        ] {
            assert_eq!(parse_description(other), None, "{other}");
        }
    }

    #[test]
    fn access_names() {
        assert_eq!(Access::from_readwrite(true).as_str(), "read-write");
        assert_eq!(Access::from_readwrite(false).as_str(), "read-only");
    }
}

//! Pure builders and validators: the dockerconfigjson bytes, the pull Secret and the changes
//! made to existing objects ([`pull_secret`]), ServiceAccount references
//! ([`service_account`]), the Pod ([`pod`]), and Kubernetes names and image references
//! ([`validate`]). No I/O here, so everything is unit-tested.

pub mod pod;
pub mod pull_secret;
pub mod service_account;
pub mod validate;

pub use pod::{pod, pod_name_for};
pub use pull_secret::{
    Credential, PullSecretSpec, annotation, credentials, docker_config_json, existing_credential,
    is_managed, is_shared, mark_shared, merged_for_replace, pull_secret, redacted, restorable,
};
pub use service_account::{references, with_pull_secret, without_pull_secret};
pub use validate::{
    ImageRef, resolve_image, validate_email, validate_namespace, validate_object_name,
};

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
/// Annotation: `cluster` on a secret whose token is shared by the cluster's managed secrets of
/// that name (written by `secret create -A|-l|--reuse`); absent for a namespace's own token.
pub const ANNOTATION_TOKEN_SCOPE: &str = "kubectl-dedicated-registry/token-scope";
/// The [`ANNOTATION_TOKEN_SCOPE`] value of a shared token.
pub const SCOPE_CLUSTER: &str = "cluster";
/// kubectl's client-side apply annotation, which holds a full copy of the applied object.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Secret type of pull secrets.
pub const DOCKERCONFIGJSON_TYPE: &str = "kubernetes.io/dockerconfigjson";
/// Data key of pull secrets.
pub const DOCKERCONFIGJSON_KEY: &str = ".dockerconfigjson";
/// The pull secret's name when none is given (`secret ...` and `pod --secret`): one default
/// everywhere, so a Pod rendered without `--secret` references the secret created without a
/// name.
pub const DEFAULT_SECRET_NAME: &str = "dedicated-registry";
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

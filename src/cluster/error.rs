//! Kubernetes API errors turned into actionable messages.

// Errors carry the verb, resource, name and namespace so messages are actionable; they are
// created once per failed command, so their size does not matter.
#![allow(clippy::result_large_err)]

use super::Target;

/// Kubernetes failures.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The kubeconfig cannot be loaded or the context resolved.
    #[error(
        "cannot load the Kubernetes configuration ({source_path}): {detail}; check --kubeconfig, KUBECONFIG and --context"
    )]
    Config {
        /// Which file(s).
        source_path: String,
        /// The loader's message.
        detail: String,
    },
    /// A flag value is not valid.
    #[error(
        "invalid --request-timeout `{0}`: use a duration such as `30s` or `1m`, or `0` for none"
    )]
    Timeout(String),
    /// The API server denied the request (RBAC).
    #[error(
        "Kubernetes denied {verb} of {object} {place}: {message}; ask a cluster admin for this permission or use another --context"
    )]
    Forbidden {
        /// The verb.
        verb: String,
        /// The resource and its name (`secret `regcred``), or the resource alone for a list.
        object: String,
        /// Where: `in namespace `x``, `in all namespaces` or `cluster-wide`.
        place: String,
        /// The server's message (names the user).
        message: String,
    },
    /// NamespaceLifecycle refused a create: the namespace is being terminated.
    #[error(
        "cannot {verb} {resource} `{name}` in namespace `{namespace}`: the namespace is being terminated (phase Terminating), so nothing new can be created in it; wait until it is gone and create it again, or choose another namespace"
    )]
    Terminating {
        /// The verb.
        verb: String,
        /// The resource.
        resource: String,
        /// The object.
        name: String,
        /// The namespace.
        namespace: String,
    },
    /// The credentials in the kubeconfig were rejected.
    #[error(
        "the Kubernetes API server {server} rejected the credentials of the current context ({message}); refresh your kubeconfig credentials"
    )]
    Unauthorized {
        /// The API server.
        server: String,
        /// The server's message.
        message: String,
    },
    /// The namespace does not exist.
    #[error(
        "namespace `{namespace}` does not exist on {server}; check -n/--namespace and --context"
    )]
    NoNamespace {
        /// The namespace.
        namespace: String,
        /// The API server.
        server: String,
    },
    /// Any other API error.
    #[error("Kubernetes could not {verb} {object} {place}: {message} ({reason}, HTTP {code})")]
    Api {
        /// The verb.
        verb: String,
        /// The resource and its name, or the resource alone for a list.
        object: String,
        /// Where (as in [`ClusterError::Forbidden`]).
        place: String,
        /// The server's message.
        message: String,
        /// The reason.
        reason: String,
        /// HTTP status.
        code: u16,
    },
    /// The process ran out of file descriptors (EMFILE): the server was never asked.
    #[error(
        "cannot {verb} {resource} `{name}`: this process ran out of open files (limit {limit}, `ulimit -n`); lower --concurrency or raise the limit"
    )]
    OpenFiles {
        /// The verb.
        verb: String,
        /// The resource.
        resource: String,
        /// The object.
        name: String,
        /// The soft open-files limit, as far as known.
        limit: String,
    },
    /// Transport failure.
    #[error(
        "cannot reach the Kubernetes API server {server} to {verb} {resource} `{name}`: {detail}{hint}"
    )]
    Transport {
        /// The API server.
        server: String,
        /// The verb.
        verb: String,
        /// The resource.
        resource: String,
        /// The object.
        name: String,
        /// The cause.
        detail: String,
        /// Extra hint.
        hint: String,
    },
}

/// `secret `regcred``; a list (`*`) or a nameless request names the resource alone.
fn object(resource: &str, name: &str) -> String {
    match name {
        "" | "*" => resource.to_string(),
        name => format!("{resource} `{name}`"),
    }
}

/// Resources that live outside namespaces (the ones this plugin asks for).
const CLUSTER_SCOPED: &[&str] = &[
    "namespaces",
    "namespace",
    "selfsubjectaccessreview",
    "selfsubjectaccessreviews",
    "version",
];

impl Target {
    /// Where a request went, for an error: a cluster-scoped resource is `cluster-wide`, a
    /// list across namespaces (`*`) `in all namespaces` (issue 24, friction 10: both said
    /// `in namespace `team-a``, the context's default).
    fn place(&self, resource: &str) -> String {
        if CLUSTER_SCOPED.contains(&resource) {
            "cluster-wide".to_string()
        } else if self.namespace == "*" {
            "in all namespaces".to_string()
        } else {
            format!("in namespace `{}`", self.namespace)
        }
    }

    /// [`Target::error`] for an answer of the API server.
    fn api_error(
        &self,
        verb: &str,
        resource: &str,
        name: &str,
        status: &kube::core::Status,
    ) -> ClusterError {
        let message = crate::redact::scrub(&status.message);
        if terminating(status) {
            ClusterError::Terminating {
                verb: verb.into(),
                resource: resource.into(),
                name: name.into(),
                namespace: self.namespace.clone(),
            }
        } else if status.is_forbidden() {
            ClusterError::Forbidden {
                verb: verb.into(),
                object: object(resource, name),
                place: self.place(resource),
                message,
            }
        } else if status.code == 401 {
            ClusterError::Unauthorized {
                server: self.server.clone(),
                message,
            }
        } else if status.is_not_found()
            && status
                .details
                .as_ref()
                .is_some_and(|d| d.kind == "namespaces")
        {
            ClusterError::NoNamespace {
                namespace: self.namespace.clone(),
                server: self.server.clone(),
            }
        } else {
            ClusterError::Api {
                verb: verb.into(),
                object: object(resource, name),
                place: self.place(resource),
                message,
                reason: status.reason.clone(),
                code: status.code,
            }
        }
    }

    /// Turns a kube error into an actionable one. `verb` is e.g. `create`, `resource` e.g.
    /// `secret`.
    pub fn error(&self, verb: &str, resource: &str, name: &str, e: kube::Error) -> ClusterError {
        match e {
            kube::Error::Api(status) => self.api_error(verb, resource, name, &status),
            kube::Error::Auth(_) => ClusterError::Transport {
                // The auth error embeds the exec plugin's command line and output, which can
                // hold credentials: say only what failed.
                server: self.server.clone(),
                verb: verb.into(),
                resource: resource.into(),
                name: name.into(),
                detail: "the kubeconfig user's credential plugin (exec/auth-provider) failed"
                    .into(),
                hint: "; run it by hand (see `users:` in your kubeconfig) to see why".into(),
            },
            other => {
                let detail = crate::http::root_cause(&other);
                let lower = format!("{other:#} {detail}").to_lowercase();
                if lower.contains("too many open files") || lower.contains("os error 24") {
                    return ClusterError::OpenFiles {
                        verb: verb.into(),
                        resource: resource.into(),
                        name: name.into(),
                        limit: crate::limits::open_files()
                            .map_or_else(|| "unknown".to_string(), |l| l.to_string()),
                    };
                }
                let hint = if lower.contains("certificate") {
                    "; the cluster's CA is not trusted: check certificate-authority in your kubeconfig"
                } else if lower.contains("timed out") || lower.contains("elapsed") {
                    "; the request timed out: check the network or raise --request-timeout"
                } else {
                    "; check the cluster address in your kubeconfig and your network"
                };
                ClusterError::Transport {
                    server: self.server.clone(),
                    verb: verb.into(),
                    resource: resource.into(),
                    name: name.into(),
                    detail,
                    hint: hint.into(),
                }
            }
        }
    }
}

/// Whether an error is an optimistic-concurrency failure worth retrying.
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_conflict() || s.is_already_exists())
}

/// Whether the API server refused a create because its namespace is being terminated: 403
/// Forbidden with the StatusCause `NamespaceTerminating` that the NamespaceLifecycle admission
/// plugin adds (the check core controllers make with `errors.HasStatusCause`).
pub fn is_namespace_terminating(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if terminating(status))
}

fn terminating(status: &kube::core::Status) -> bool {
    status.is_forbidden()
        && status
            .details
            .as_ref()
            .is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating"))
}

/// Whether the API server refused the request for lack of permission (403).
pub fn is_forbidden(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.is_forbidden())
}

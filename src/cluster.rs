//! Kubernetes access: kubeconfig loading exactly as kubectl resolves it, and API errors turned
//! into messages that name the verb, resource, namespace and what to do.
//!
//! Named `cluster` because a module named `kube` would shadow the `kube` crate.

// Errors carry the verb, resource, name and namespace so messages are actionable; they are
// created once per failed command, so their size does not matter.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::cli::KubeArgs;

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
        "Kubernetes denied {verb} of {resource} `{name}` in namespace `{namespace}`: {message}; ask a cluster admin for this permission or use another --context"
    )]
    Forbidden {
        /// The verb.
        verb: String,
        /// The resource.
        resource: String,
        /// The object.
        name: String,
        /// The namespace.
        namespace: String,
        /// The server's message (names the user).
        message: String,
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
    #[error(
        "Kubernetes could not {verb} {resource} `{name}` in namespace `{namespace}`: {message} ({reason}, HTTP {code})"
    )]
    Api {
        /// The verb.
        verb: String,
        /// The resource.
        resource: String,
        /// The object.
        name: String,
        /// The namespace.
        namespace: String,
        /// The server's message.
        message: String,
        /// The reason.
        reason: String,
        /// HTTP status.
        code: u16,
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

/// Where commands write: a client, the namespace, and names for messages.
pub struct Target {
    /// Client for the API server.
    pub client: kube::Client,
    /// The namespace (`-n`, else the context's, else `default`).
    pub namespace: String,
    /// The context name, if any.
    pub context: Option<String>,
    /// The cluster name, if any.
    pub cluster: Option<String>,
    /// The API server URL.
    pub server: String,
}

/// What a command will target, without a client (for client-side dry runs and rendering).
pub struct Resolved {
    /// The kube-rs config.
    pub config: kube::Config,
    /// The namespace.
    pub namespace: String,
    /// The context name.
    pub context: Option<String>,
    /// The cluster name.
    pub cluster: Option<String>,
}

/// Parses `--request-timeout` like kubectl: `0` = none, a bare number = seconds, else a duration.
pub fn parse_timeout(value: &str) -> Result<Option<Duration>, ClusterError> {
    let value = value.trim();
    if value == "0" {
        return Ok(None);
    }
    if let Ok(secs) = value.parse::<u64>() {
        return Ok(Some(Duration::from_secs(secs)));
    }
    humantime::parse_duration(value)
        .map(|d| if d.is_zero() { None } else { Some(d) })
        .map_err(|_| ClusterError::Timeout(value.to_string()))
}

fn source_description(args: &KubeArgs) -> String {
    match (&args.kubeconfig, std::env::var_os("KUBECONFIG")) {
        (Some(p), _) => format!("--kubeconfig {}", p.display()),
        (None, Some(v)) if !v.is_empty() => format!("KUBECONFIG={}", v.to_string_lossy()),
        _ => "~/.kube/config".to_string(),
    }
}

/// Loads the kubeconfig the way kubectl does: `--kubeconfig` (one file), else every file in
/// `KUBECONFIG` merged (first value wins), else `~/.kube/config`; then `--context`, `--cluster`,
/// `--user`, `-n`, `--request-timeout`, `--as` and `--as-group` are applied.
pub async fn resolve(args: &KubeArgs) -> Result<Resolved, ClusterError> {
    let config_err = |detail: String| ClusterError::Config {
        source_path: source_description(args),
        detail,
    };
    let timeout = match &args.request_timeout {
        Some(t) => Some(parse_timeout(t)?),
        None => None,
    };
    let kubeconfig = match &args.kubeconfig {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    }
    .map_err(|e| config_err(e.to_string()))?;
    let options = KubeConfigOptions {
        context: args.context.clone(),
        cluster: args.cluster.clone(),
        user: args.user.clone(),
    };
    let context = options
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone());
    let cluster = args.cluster.clone().or_else(|| {
        let name = context.as_ref()?;
        kubeconfig
            .contexts
            .iter()
            .find(|c| &c.name == name)?
            .context
            .as_ref()
            .map(|c| c.cluster.clone())
    });
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| config_err(e.to_string()))?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    config.default_namespace = namespace.clone();
    if let Some(timeout) = timeout {
        config.read_timeout = timeout;
        config.write_timeout = timeout;
        if let Some(t) = timeout {
            config.connect_timeout = Some(t);
        }
    }
    if let Some(user) = &args.as_user {
        config.auth_info.impersonate = Some(user.clone());
    }
    if !args.as_group.is_empty() {
        config.auth_info.impersonate_groups = Some(args.as_group.clone());
    }
    Ok(Resolved {
        config,
        namespace,
        context,
        cluster,
    })
}

impl Resolved {
    /// Builds the client.
    pub fn connect(self) -> Result<Target, ClusterError> {
        let server = self.config.cluster_url.to_string();
        let client = kube::Client::try_from(self.config).map_err(|e| ClusterError::Config {
            source_path: server.clone(),
            detail: e.to_string(),
        })?;
        Ok(Target {
            client,
            namespace: self.namespace,
            context: self.context,
            cluster: self.cluster,
            server,
        })
    }
}

impl Target {
    /// Turns a kube error into an actionable one. `verb` is e.g. `create`, `resource` e.g.
    /// `secret`.
    pub fn error(&self, verb: &str, resource: &str, name: &str, e: kube::Error) -> ClusterError {
        match e {
            kube::Error::Api(status) => {
                let message = crate::redact::scrub(&status.message);
                if status.is_forbidden() {
                    ClusterError::Forbidden {
                        verb: verb.into(),
                        resource: resource.into(),
                        name: name.into(),
                        namespace: self.namespace.clone(),
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
                        resource: resource.into(),
                        name: name.into(),
                        namespace: self.namespace.clone(),
                        message,
                        reason: status.reason.clone(),
                        code: status.code,
                    }
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_like_kubectl() {
        assert_eq!(parse_timeout("0").unwrap(), None);
        assert_eq!(parse_timeout("5").unwrap(), Some(Duration::from_secs(5)));
        assert_eq!(parse_timeout("1m").unwrap(), Some(Duration::from_secs(60)));
        assert_eq!(
            parse_timeout("250ms").unwrap(),
            Some(Duration::from_millis(250))
        );
        assert!(parse_timeout("soon").is_err());
    }
}

//! Kubernetes: kubeconfig loading exactly as kubectl resolves it (here), API errors turned into
//! messages that name the verb, resource, namespace and what to do ([`error`]), and the object
//! writes with optimistic concurrency ([`objects`]).
//!
//! Named `cluster` because a module named `kube` would shadow the `kube` crate.

// Errors carry the verb, resource, name and namespace so messages are actionable; they are
// created once per failed command, so their size does not matter.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

pub mod access;
pub mod error;
pub mod log;
pub mod objects;
pub mod retry;

pub use error::{ClusterError, is_conflict, is_forbidden, is_namespace_terminating};

/// The kubectl connection flags, validated (kubectl passes none of its own flags to a plugin).
#[derive(Debug, Clone, Default)]
pub struct KubeSettings {
    /// `--kubeconfig`: one file (the KUBECONFIG variable may list several).
    pub kubeconfig: Option<std::path::PathBuf>,
    /// `--context`.
    pub context: Option<String>,
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--user`.
    pub user: Option<String>,
    /// `-n/--namespace`, already validated.
    pub namespace: Option<String>,
    /// `--request-timeout`: `Some(None)` waits forever.
    pub request_timeout: Option<Option<Duration>>,
    /// `--as`.
    pub as_user: Option<String>,
    /// `--as-group`.
    pub as_group: Vec<String>,
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
    /// The kubeconfig user name (`--user`, else the context's), for messages.
    pub user: Option<String>,
}

/// What a command will target, without a client (for client-side dry runs and rendering).
pub struct Resolved {
    /// The kube-rs config.
    pub config: kube::Config,
    /// The namespace.
    pub namespace: String,
    /// The context name.
    pub context: Option<String>,
    /// The kubeconfig user name.
    pub user: Option<String>,
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

fn source_description(args: &KubeSettings) -> String {
    match (&args.kubeconfig, std::env::var_os("KUBECONFIG")) {
        (Some(p), _) => format!("--kubeconfig {}", p.display()),
        (None, Some(v)) if !v.is_empty() => format!("KUBECONFIG={}", v.to_string_lossy()),
        _ => "~/.kube/config".to_string(),
    }
}

/// Loads the kubeconfig the way kubectl does: `--kubeconfig` (one file), else every file in
/// `KUBECONFIG` merged (first value wins), else `~/.kube/config`; then `--context`, `--cluster`,
/// `--user`, `-n`, `--request-timeout`, `--as` and `--as-group` are applied.
/// Inside a Pod without any kubeconfig, the Pod's ServiceAccount is used instead.
pub async fn resolve(args: &KubeSettings) -> Result<Resolved, ClusterError> {
    match in_cluster(args)? {
        Some(resolved) => Ok(resolved),
        None => resolve_kubeconfig(args).await,
    }
}

async fn resolve_kubeconfig(args: &KubeSettings) -> Result<Resolved, ClusterError> {
    let config_err = |detail: String| ClusterError::Config {
        source_path: source_description(args),
        detail,
    };
    let timeout = args.request_timeout;
    let kubeconfig = match &args.kubeconfig {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    }
    .map_err(|e| config_err(kubeconfig_error(&e)))?;
    let options = KubeConfigOptions {
        context: args.context.clone(),
        cluster: args.cluster.clone(),
        user: args.user.clone(),
    };
    let context = options
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone());
    let named_context = context.as_ref().and_then(|name| {
        kubeconfig
            .contexts
            .iter()
            .find(|c| &c.name == name)?
            .context
            .clone()
    });
    let cluster = args
        .cluster
        .clone()
        .or_else(|| named_context.as_ref().map(|c| c.cluster.clone()));
    let user = args
        .user
        .clone()
        .or_else(|| named_context.as_ref().and_then(|c| c.user.clone()));
    if let Some(wanted) = &options.context
        && !kubeconfig.contexts.iter().any(|c| &c.name == wanted)
    {
        let names: Vec<&str> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let hint = match crate::text::did_you_mean(wanted, &names) {
            Some(close) => format!("did you mean `--context {close}`?"),
            None => format!("contexts: {}", names.join(", ")),
        };
        return Err(config_err(format!("no context `{wanted}`; {hint}")));
    }
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
    refuse_credentials_in_clear(&config, user.as_deref()).map_err(config_err)?;
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
        user,
    })
}

/// kube words an unreadable file `failed to read kubeconfig from '"/path"'` (the path's Debug
/// form inside quotes); say it as kubectl would, with the path once (issue 24, friction 11).
fn kubeconfig_error(error: &kube::config::KubeconfigError) -> String {
    match error {
        kube::config::KubeconfigError::ReadConfig(io, path) => {
            format!("cannot read {}: {io}", path.display())
        }
        other => other.to_string(),
    }
}

/// A user credential for a plain `http://` API server would cross the network in clear text;
/// kubectl 1.36 does not send it there either (issue 24, N9). Without credentials (a local
/// `kubectl proxy`) plain HTTP is fine.
fn refuse_credentials_in_clear(config: &kube::Config, user: Option<&str>) -> Result<(), String> {
    if config.cluster_url.scheme_str() != Some("http") {
        return Ok(());
    }
    let auth = &config.auth_info;
    let has_credentials = auth.token.is_some()
        || auth.token_file.is_some()
        || auth.password.is_some()
        || auth.exec.is_some()
        || auth.auth_provider.is_some()
        || auth.client_key.is_some()
        || auth.client_key_data.is_some();
    if !has_credentials {
        return Ok(());
    }
    Err(format!(
        "the API server `{}` is plain http://, and the credentials of kubeconfig user `{}` would be sent in clear text (kubectl does not send them either); use the server's https:// address",
        config.cluster_url,
        user.unwrap_or("(none named)")
    ))
}

/// Inside a Pod with no kubeconfig at all (no `--kubeconfig`, no `KUBECONFIG`, no
/// `~/.kube/config`), the Pod's ServiceAccount, as kubectl does there (`secret create --watch`
/// run as a Deployment). `None` elsewhere.
fn in_cluster(args: &KubeSettings) -> Result<Option<Resolved>, ClusterError> {
    let has_kubeconfig = args.kubeconfig.is_some()
        || std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty())
        || dirs::home_dir().is_some_and(|h| h.join(".kube").join("config").exists());
    if has_kubeconfig || std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
        return Ok(None);
    }
    let mut config = kube::Config::incluster().map_err(|e| ClusterError::Config {
        source_path: "the Pod's ServiceAccount (in-cluster)".to_string(),
        detail: e.to_string(),
    })?;
    let namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    config.default_namespace = namespace.clone();
    Ok(Some(Resolved {
        config,
        namespace,
        context: None,
        user: None,
        cluster: None,
    }))
}

impl Target {
    /// `did you mean `-n NAME`?` when the target namespace is missing and a close name exists
    /// (namespaces readable); empty otherwise. Extra requests only on this error path.
    pub async fn close_namespace_hint(&self) -> String {
        let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
            kube::Api::all(self.client.clone());
        let Ok(list) = namespaces
            .list_metadata(&kube::api::ListParams::default())
            .await
        else {
            return String::new();
        };
        let names: Vec<String> = list
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        match crate::text::did_you_mean(&self.namespace, &refs) {
            Some(close) => format!("did you mean `-n {close}`? "),
            None => String::new(),
        }
    }

    /// The same cluster, another namespace.
    pub fn in_namespace(&self, namespace: &str) -> Target {
        Target {
            client: self.client.clone(),
            namespace: namespace.to_string(),
            context: self.context.clone(),
            cluster: self.cluster.clone(),
            server: self.server.clone(),
            user: self.user.clone(),
        }
    }
}

impl Resolved {
    /// Builds the client.
    pub fn connect(self) -> Result<Target, ClusterError> {
        let server = self.config.cluster_url.to_string();
        let layer = log::LogLayer {
            server: server.trim_end_matches('/').to_string(),
        };
        let mut config = self.config;
        // kube's own retry honours any Retry-After; ours is bounded (see `retry`).
        config.default_retry = false;
        let budget = config.read_timeout;
        let retry = tower::retry::RetryLayer::new(retry::Bounded::new(budget));
        let client = kube::client::ClientBuilder::try_from(config)
            .map_err(|e| ClusterError::Config {
                source_path: server.clone(),
                detail: e.to_string(),
            })?
            .with_layer(&tower::buffer::BufferLayer::new(1024))
            .with_layer(&retry)
            .with_layer(&layer)
            .build();
        Ok(Target {
            client,
            namespace: self.namespace,
            context: self.context,
            cluster: self.cluster,
            server,
            user: self.user,
        })
    }
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

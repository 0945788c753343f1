//! `completion` (shell scripts, the kubectl helper) and the hidden `__complete`, whose values
//! come from the settings file, the kubeconfig, the live cluster and the registry.

use std::cell::OnceCell;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::CommandFactory as _;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::{Api, ListParams};

use crate::cli::complete::{self, Candidate, DynamicValues};
use crate::cli::{Cli, CompletionArgs, CompletionTarget};
use crate::cluster::KubeSettings;
use crate::manifests;
use crate::output;

/// How long one live lookup (cluster or registry) may take before completion gives up silently.
const LIVE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long completion waits, after [`LIVE_TIMEOUT`], for a login refresh still storing its
/// rotated refresh token (the HTTPS client's own timeouts bound it too).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// `completion SHELL` or `completion kubectl-shim`.
pub fn completion(args: CompletionArgs) -> anyhow::Result<()> {
    let shell = match args.shell {
        CompletionTarget::Bash => return Ok(output::data(complete::bash_script())?),
        CompletionTarget::Zsh => return Ok(output::data(complete::zsh_script())?),
        CompletionTarget::Fish => clap_complete::Shell::Fish,
        CompletionTarget::Powershell => clap_complete::Shell::PowerShell,
        CompletionTarget::KubectlShim => return install_shim(args.dir),
    };
    let mut out = Vec::new();
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        complete::PLUGIN_FILE.trim_end_matches(".exe"),
        &mut out,
    );
    Ok(output::data(&String::from_utf8_lossy(&out))?)
}

/// `completion kubectl-shim [--dir DIR]`: the helper goes next to the plugin found on `PATH`.
fn install_shim(dir: Option<PathBuf>) -> anyhow::Result<()> {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let dir = match dir {
        Some(dir) => dir,
        None => complete::plugin_dir_on_path(&path_var).with_context(|| {
            format!(
                "cannot find `{}` on PATH, so kubectl cannot find the plugin either; put it in a directory on PATH (krew does), or pass --dir DIR (a directory on PATH)",
                complete::PLUGIN_FILE
            )
        })?,
    };
    let path = complete::install_shim(&dir).with_context(|| {
        format!(
            "cannot install the completion helper in `{}`; pass --dir with a writable directory on PATH",
            dir.display()
        )
    })?;
    output::info(format!(
        "Installed {}: `kubectl dedicated-registry <TAB>` completes through kubectl's own completion (`source <(kubectl completion bash)` or zsh)",
        path.display()
    ));
    if !complete::on_path(&dir, &path_var) {
        output::warning(format!(
            "`{}` is not on PATH, so kubectl will not find the helper; add it to PATH",
            dir.display()
        ));
    }
    Ok(())
}

/// The flags typed before the word being completed that say where to look values up.
#[derive(Debug, Default)]
struct Typed {
    kube: KubeSettings,
    profile: Option<String>,
}

/// Reads `--kubeconfig`, `--context`, `--cluster`, `--user`, `-n/--namespace` and `--profile`
/// from the typed words (`--flag value`, `--flag=value`, `-n value`, `-nvalue`, `-n=value`).
fn typed_flags(words: &[String]) -> Typed {
    let mut typed = Typed::default();
    let mut iter = words.iter();
    while let Some(word) = iter.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") || flag == "-n" => {
                (flag, Some(value.to_string()))
            }
            _ if word.starts_with("-n") && word.len() > 2 && !word.starts_with("--") => {
                ("-n", Some(word[2..].to_string()))
            }
            _ => (word.as_str(), None),
        };
        let slot = match flag {
            "--kubeconfig" => None,
            "--context" => Some(&mut typed.kube.context),
            "--cluster" => Some(&mut typed.kube.cluster),
            "--user" => Some(&mut typed.kube.user),
            "-n" | "--namespace" => Some(&mut typed.kube.namespace),
            "--profile" => Some(&mut typed.profile),
            _ => continue,
        };
        let Some(value) = inline.or_else(|| iter.next().cloned()) else {
            break;
        };
        match slot {
            Some(slot) => *slot = Some(value),
            None => typed.kube.kubeconfig = Some(value.into()),
        }
    }
    typed
}

/// Dynamic values: local files first, the cluster and the registry with short timeouts. Every
/// failure gives no values, silently.
struct LiveValues {
    typed: Typed,
    runtime: OnceCell<Option<tokio::runtime::Runtime>>,
}

impl LiveValues {
    /// Runs a live lookup with [`LIVE_TIMEOUT`]; `None` on error or timeout.
    fn live<T, F>(&self, lookup: F) -> Option<T>
    where
        F: Future<Output = anyhow::Result<T>>,
    {
        let outcome = self
            .runtime()?
            .block_on(async { tokio::time::timeout(LIVE_TIMEOUT, lookup).await });
        outcome.ok()?.ok()
    }

    /// The lookups' runtime, made on first use.
    fn runtime(&self) -> Option<&tokio::runtime::Runtime> {
        self.runtime
            .get_or_init(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()
            })
            .as_ref()
    }

    fn kubeconfig(&self) -> Option<kube::config::Kubeconfig> {
        match &self.typed.kube.kubeconfig {
            Some(p) => kube::config::Kubeconfig::read_from(p),
            None => kube::config::Kubeconfig::read(),
        }
        .ok()
    }

    /// Names from the kubeconfig: contexts, clusters, users, or the contexts' namespaces.
    fn kubeconfig_names(&self, arg_id: &str) -> Vec<String> {
        let Some(kc) = self.kubeconfig() else {
            return Vec::new();
        };
        match arg_id {
            "context" => kc.contexts.iter().map(|c| c.name.clone()).collect(),
            "cluster" => kc.clusters.iter().map(|c| c.name.clone()).collect(),
            "user" => kc.auth_infos.iter().map(|u| u.name.clone()).collect(),
            _ => kc
                .contexts
                .iter()
                .filter_map(|c| c.context.as_ref()?.namespace.clone())
                .chain(std::iter::once("default".to_string()))
                .collect(),
        }
    }

    fn profiles(&self) -> Vec<String> {
        crate::store::profiles::path()
            .ok()
            .and_then(|path| crate::store::ConfigFile::load(&path).ok())
            .map(|f| f.profiles.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn namespaces(&self) -> Vec<String> {
        self.live(async {
            let target = connect(&self.typed.kube).await?;
            let list = Api::<Namespace>::all(target.client)
                .list_metadata(&ListParams::default())
                .await?;
            Ok(list
                .items
                .into_iter()
                .filter_map(|n| n.metadata.name)
                .collect())
        })
        .unwrap_or_else(|| self.kubeconfig_names("namespace"))
    }
}

/// A client for the typed kube flags, with short timeouts.
async fn connect(kube: &KubeSettings) -> anyhow::Result<crate::cluster::Target> {
    let mut settings = kube.clone();
    settings.request_timeout = Some(Some(Duration::from_secs(2)));
    Ok(crate::cluster::resolve(&settings).await?.connect()?)
}

impl LiveValues {
    /// Secrets of the target namespace: this plugin's (`managed`) or every pull secret.
    fn secrets(&self, managed: bool) -> Vec<Candidate> {
        self.live(async {
            let target = connect(&self.typed.kube).await?;
            let params = if managed {
                ListParams::default().labels(&format!(
                    "{}={}",
                    manifests::MANAGED_BY,
                    manifests::MANAGER
                ))
            } else {
                ListParams::default().fields(&format!("type={}", manifests::DOCKERCONFIGJSON_TYPE))
            };
            // Metadata only: completion never reads a credential.
            let list = Api::<Secret>::namespaced(target.client, &target.namespace)
                .list_metadata(&params)
                .await?;
            Ok(list
                .items
                .into_iter()
                .filter_map(|s| {
                    let access = s
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(manifests::ANNOTATION_ACCESS).cloned());
                    Some((s.metadata.name?, access))
                })
                .collect())
        })
        .unwrap_or_default()
    }

    fn service_accounts(&self) -> Vec<Candidate> {
        self.live(async {
            let target = connect(&self.typed.kube).await?;
            let list = Api::<ServiceAccount>::namespaced(target.client, &target.namespace)
                .list_metadata(&ListParams::default())
                .await?;
            Ok(list
                .items
                .into_iter()
                .filter_map(|a| Some((a.metadata.name?, None)))
                .collect())
        })
        .unwrap_or_default()
    }

    /// The live token ids of the profile's org, described like `token list` does.
    fn token_ids(&self) -> Vec<Candidate> {
        let name = self
            .typed
            .profile
            .clone()
            .or_else(|| std::env::var(crate::env::PROFILE).ok())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(crate::store::profiles::current_name);
        let open = || {
            let path = crate::store::profiles::path().ok()?;
            let file = crate::store::ConfigFile::load(&path).ok()?;
            let profile = file.profiles.get(&name)?.clone();
            let store = Arc::new(crate::store::OsKeyring);
            crate::providers::dedicated::session::Session::new(
                &name,
                profile,
                store,
                crate::cancel::Cancel::new(),
            )
            .ok()
        };
        // The HTTPS client is built inside the runtime (its connector needs one).
        let Some(runtime) = self.runtime() else {
            return Vec::new();
        };
        let entered = runtime.enter();
        let opened = open();
        drop(entered);
        let Some(mut session) = opened else {
            return Vec::new();
        };
        let settled = session.settled();
        let tokens = self.live(async {
            let tokens = session.registry(async |api| api.list().await).await?;
            Ok(tokens
                .into_iter()
                .filter(|t| !t.revoked)
                .map(|t| {
                    let access = match t.readonly {
                        Some(true) => "read-only ",
                        Some(false) => "read-write ",
                        None => "",
                    };
                    let description = output::printable(&format!("{access}{}", t.description));
                    (output::printable(&t.id), Some(description))
                })
                .collect())
        });
        self.settle(&settled);
        tokens.unwrap_or_default()
    }

    /// Waits (within [`SETTLE_TIMEOUT`]) for a login refresh that the lookup's timeout left
    /// running, so the refresh token the UAA rotated is stored before the process exits.
    fn settle(&self, settled: &crate::providers::dedicated::session::Settled) {
        if let Some(runtime) = self.runtime() {
            let _ = runtime
                .block_on(async { tokio::time::timeout(SETTLE_TIMEOUT, settled.wait()).await });
        }
    }
}

impl DynamicValues for LiveValues {
    fn values(&self, command: &str, arg_id: &str) -> Vec<Candidate> {
        let plain = |values: Vec<String>| values.into_iter().map(|v| (v, None)).collect();
        match (command, arg_id) {
            (_, "profile") => plain(self.profiles()),
            (_, "context" | "cluster" | "user") => plain(self.kubeconfig_names(arg_id)),
            (_, "namespace") | ("secret create", "exclude") => plain(self.namespaces()),
            ("secret create" | "secret delete", "name") => self.secrets(true),
            ("secret verify", "name") | ("pod render" | "pod apply" | "doctor", "secret") => {
                self.secrets(false)
            }
            ("secret create", "service_accounts") => self.service_accounts(),
            ("token revoke", "ids") => self.token_ids(),
            _ => Vec::new(),
        }
    }

    /// `--image` and `--registry-namespace` ask the registry with the login and cache the
    /// answer for a minute ([`super::image::completion_candidates`]).
    fn values_for(&self, command: &str, arg_id: &str, to_complete: &str) -> Vec<Candidate> {
        let plain = |values: Vec<String>| values.into_iter().map(|v| (v, None)).collect();
        match arg_id {
            "image" => plain(super::image::completion_candidates(
                &self.cache_profile(),
                to_complete,
            )),
            "registry_namespace" => {
                plain(super::image::namespace_candidates(&self.cache_profile()))
            }
            _ => self.values(command, arg_id),
        }
    }

    fn no_space(&self, arg_id: &str, to_complete: &str) -> bool {
        arg_id == "image" && super::image::completion_goes_on(to_complete)
    }
}

impl LiveValues {
    /// The profile typed, else its variable, else the default; only a valid profile name
    /// reaches the cache file name.
    fn cache_profile(&self) -> String {
        self.typed
            .profile
            .clone()
            .or_else(|| std::env::var(crate::env::PROFILE).ok())
            .filter(|p| {
                !p.is_empty()
                    && !p.starts_with('.')
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            })
            .unwrap_or_else(crate::store::profiles::current_name)
    }
}

/// Answers `__complete WORDS...`: the words are partial input (`-n ''`, `--context=`) that clap
/// must not validate. Nothing but candidates reaches stdout and nothing reaches stderr.
pub fn complete_words(words: &[String]) -> String {
    output::set_quiet(true);
    let typed = typed_flags(words.split_last().map_or(&[][..], |(_, typed)| typed));
    let values = LiveValues {
        typed,
        runtime: OnceCell::new(),
    };
    complete::complete(Cli::command(), words, &values)
}

/// `__complete` straight from argv, outside any async runtime.
pub fn complete_raw(words: Vec<String>) -> std::process::ExitCode {
    match output::data(&complete_words(&words)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(_) => std::process::ExitCode::from(1),
    }
}

/// `__complete` reached through clap (flags before it): answered on a thread of its own, since
/// the live lookups run their own small runtime.
pub fn complete(words: Vec<String>) -> anyhow::Result<()> {
    let answer = std::thread::spawn(move || complete_words(&words))
        .join()
        .map_err(|_| anyhow::anyhow!("completion failed"))?;
    Ok(output::data(&answer)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn typed(words: &[&str]) -> Typed {
        typed_flags(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn typed_flags_are_read_in_every_form() {
        let t = typed(&["-n", "team-a", "--context=prod", "secret", "--profile", "p"]);
        assert_eq!(t.kube.namespace.as_deref(), Some("team-a"));
        assert_eq!(t.kube.context.as_deref(), Some("prod"));
        assert_eq!(t.profile.as_deref(), Some("p"));
        let t = typed(&[
            "-nteam-b",
            "--kubeconfig",
            "/k",
            "--user=u",
            "--cluster",
            "c",
        ]);
        assert_eq!(t.kube.namespace.as_deref(), Some("team-b"));
        assert_eq!(t.kube.kubeconfig.as_deref(), Some(Path::new("/k")));
        assert_eq!(t.kube.user.as_deref(), Some("u"));
        assert_eq!(t.kube.cluster.as_deref(), Some("c"));
        assert_eq!(typed(&["-n=x"]).kube.namespace.as_deref(), Some("x"));
        assert_eq!(typed(&["--namespace"]).kube.namespace, None);
        assert_eq!(typed(&["--name", "pod"]).kube.namespace, None);
    }
}

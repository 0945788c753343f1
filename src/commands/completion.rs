//! `completion` (shell scripts, kubectl shim) and the hidden `__complete`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::CommandFactory as _;

use super::Ctx;
use crate::cli::complete::{self, DynamicValues};
use crate::cli::{Cli, CompleteArgs, CompletionArgs, CompletionTarget};
use crate::output;

/// `completion SHELL` or `completion kubectl-shim`.
pub fn completion(args: CompletionArgs) -> anyhow::Result<()> {
    let shell = match args.shell {
        CompletionTarget::Bash => clap_complete::Shell::Bash,
        CompletionTarget::Zsh => clap_complete::Shell::Zsh,
        CompletionTarget::Fish => clap_complete::Shell::Fish,
        CompletionTarget::Powershell => clap_complete::Shell::PowerShell,
        CompletionTarget::KubectlShim => {
            let dir = match args.dir {
                Some(d) => d,
                None => {
                    let root = std::env::var_os(crate::env::KREW_ROOT)
                        .filter(|r| !r.is_empty())
                        .map(PathBuf::from)
                        .or_else(|| dirs::home_dir().map(|h| h.join(".krew")))
                        .context("cannot find the krew directory: set KREW_ROOT or pass --dir")?;
                    root.join("bin")
                }
            };
            let path = complete::install_shim(&dir).with_context(|| {
                format!(
                    "cannot install the completion helper in `{}`",
                    dir.display()
                )
            })?;
            output::info(format!(
                "Installed {}; `kubectl dedicated-registry <TAB>` completes when that directory is on PATH",
                path.display()
            ));
            return Ok(());
        }
    };
    let mut out = Vec::new();
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "kubectl-dedicated_registry",
        &mut out,
    );
    Ok(output::data(&String::from_utf8_lossy(&out))?)
}

/// Values read from local files (completion must be fast and never prompt), except `--image`,
/// which asks the registry with the login and caches the answer for a minute
/// ([`super::image::completion_candidates`]).
struct LocalValues {
    /// `--kubeconfig`, if typed.
    kubeconfig: Option<PathBuf>,
    /// `--profile` if typed, else its variable, else the default.
    profile: String,
}

impl LocalValues {
    fn image_values(&self, arg_id: &str, to_complete: &str) -> Option<Vec<String>> {
        match arg_id {
            "image" => Some(super::image::completion_candidates(
                &self.profile,
                to_complete,
            )),
            "registry_namespace" => Some(super::image::namespace_candidates(&self.profile)),
            _ => None,
        }
    }
}

impl DynamicValues for LocalValues {
    fn values(&self, arg_id: &str) -> Vec<String> {
        match arg_id {
            "profile" => crate::store::profiles::path()
                .ok()
                .and_then(|path| crate::store::ConfigFile::load(&path).ok())
                .map(|f| f.profiles.keys().cloned().collect())
                .unwrap_or_default(),
            "context" | "namespace" | "cluster" | "user" => {
                let kubeconfig = match &self.kubeconfig {
                    Some(p) => kube::config::Kubeconfig::read_from(p),
                    None => kube::config::Kubeconfig::read(),
                };
                let Ok(kc) = kubeconfig else {
                    return Vec::new();
                };
                let mut values: Vec<String> = match arg_id {
                    "context" => kc.contexts.iter().map(|c| c.name.clone()).collect(),
                    "cluster" => kc.clusters.iter().map(|c| c.name.clone()).collect(),
                    "user" => kc.auth_infos.iter().map(|u| u.name.clone()).collect(),
                    _ => kc
                        .contexts
                        .iter()
                        .filter_map(|c| c.context.as_ref()?.namespace.clone())
                        .chain(std::iter::once("default".to_string()))
                        .collect(),
                };
                values.sort();
                values.dedup();
                values
            }
            _ => Vec::new(),
        }
    }

    fn values_for(&self, arg_id: &str, to_complete: &str) -> Vec<String> {
        self.image_values(arg_id, to_complete)
            .unwrap_or_else(|| self.values(arg_id))
    }

    fn no_space(&self, arg_id: &str, to_complete: &str) -> bool {
        arg_id == "image" && super::image::completion_goes_on(to_complete)
    }
}

/// `__complete WORDS...`: answers kubectl's plugin completion.
pub fn complete(ctx: &Ctx, args: CompleteArgs) -> anyhow::Result<()> {
    let values = LocalValues {
        kubeconfig: ctx.global.kube.kubeconfig.clone(),
        profile: ctx.profile_name().to_string(),
    };
    let answer = complete::complete(Cli::command(), &args.words, &values);
    Ok(output::data(&answer)?)
}

/// `__complete` straight from argv: the words are partial input (`-n ''`, `--context=`), which
/// clap must not validate. Only `--kubeconfig` is read from them, for dynamic values.
pub fn complete_raw(words: Vec<String>) -> std::process::ExitCode {
    let mut kubeconfig = None;
    let mut profile = None;
    let mut iter = words.iter().peekable();
    while let Some(word) = iter.next() {
        if let Some(v) = word.strip_prefix("--kubeconfig=") {
            kubeconfig = Some(v.into());
        } else if word == "--kubeconfig" {
            kubeconfig = iter.peek().map(|v| v.into());
        } else if let Some(v) = word.strip_prefix("--profile=") {
            profile = Some(v.to_string());
        } else if word == "--profile" {
            profile = iter.peek().map(|v| v.to_string());
        }
    }
    // Only a valid profile name reaches the cache file name.
    let profile = profile
        .or_else(|| std::env::var(crate::env::PROFILE).ok())
        .filter(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        })
        .unwrap_or_else(|| crate::store::DEFAULT_PROFILE.to_string());
    let values = LocalValues {
        kubeconfig,
        profile,
    };
    let answer = complete::complete(Cli::command(), &words, &values);
    match output::data(&answer) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(_) => std::process::ExitCode::from(1),
    }
}

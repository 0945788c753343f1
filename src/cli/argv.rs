//! Flag positions as kubectl users expect them, before clap sees the words.
//!
//! kubectl takes its flags anywhere (`kubectl -n foo get pods`, `kubectl get pods -n foo`). The
//! Kubernetes and selection flags are defined on the commands that use them (so `login --help`
//! does not list `--context`), and [`normalize`] moves those typed before the subcommand to just
//! after it. Which flags move is decided by their help heading ([`super::KUBERNETES_FLAGS`],
//! [`super::SELECTION_FLAGS`]): a flag gets the treatment by getting the heading.
//!
//! kubectl flags the plugin does not take (`--server`, `--token`, ...) are refused here with one
//! line saying what to do instead, rather than clap's closest-name guess (`--server` is not
//! `--user`).

use std::ffi::OsString;

use clap::{Arg, Command};

use super::{KUBERNETES_FLAGS, SELECTION_FLAGS};

/// kubectl's global flags that the plugin does not take, and what to do instead.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "server",
        "choose the cluster with --context or --cluster (an entry of the kubeconfig), or --kubeconfig FILE",
    ),
    (
        "token",
        "a token in the command line is visible to every user of the machine; put it in a kubeconfig user and pass --user NAME (or --kubeconfig FILE)",
    ),
    (
        "username",
        "a credential in the command line is visible to every user of the machine; put it in a kubeconfig user and pass --user NAME",
    ),
    (
        "password",
        "a credential in the command line is visible to every user of the machine; put it in a kubeconfig user and pass --user NAME",
    ),
    (
        "certificate-authority",
        "set it in the kubeconfig (`kubectl config set-cluster NAME --certificate-authority FILE`) and pass --cluster NAME or --context NAME",
    ),
    (
        "insecure-skip-tls-verify",
        "set it in the kubeconfig (`kubectl config set-cluster NAME --insecure-skip-tls-verify`) and pass --cluster NAME or --context NAME",
    ),
    (
        "tls-server-name",
        "set it in the kubeconfig (`kubectl config set-cluster NAME --tls-server-name HOST`) and pass --cluster NAME or --context NAME",
    ),
    (
        "client-certificate",
        "set it in the kubeconfig (`kubectl config set-credentials NAME --client-certificate FILE`) and pass --user NAME",
    ),
    (
        "client-key",
        "set it in the kubeconfig (`kubectl config set-credentials NAME --client-key FILE`) and pass --user NAME",
    ),
    ("as-uid", "impersonate with --as USER and --as-group GROUP"),
    ("cache-dir", "the plugin keeps no discovery cache"),
    ("disable-compression", "the plugin's requests are small"),
    ("match-server-version", "`version` prints both versions"),
    (
        "warnings-as-errors",
        "the plugin prints the server's warnings",
    ),
];

/// Moves Kubernetes and selection flags typed before the subcommand to after it, and refuses
/// kubectl flags the plugin does not take. `args[0]` is the program name. Anything it does not
/// understand is left where it is, for clap to report.
pub fn normalize(root: &Command, args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let words: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut command = root;
    let mut path = Vec::new();
    let mut kept: Vec<usize> = Vec::new();
    let mut moved: Vec<usize> = Vec::new();
    let mut moved_flags: Vec<String> = Vec::new();
    let mut index = 1;
    while index < words.len() {
        let word = &words[index];
        if word == "--" || !word.starts_with('-') || word == "-" {
            match command.find_subcommand(word) {
                Some(sub) if !word.starts_with('-') => {
                    command = sub;
                    path.push(sub.get_name().to_string());
                    kept.push(index);
                    index += 1;
                    continue;
                }
                _ => break,
            }
        }
        let own = find(command, word);
        let free = own
            .is_none()
            .then(|| find_position_free(command, word))
            .flatten();
        let Some(arg) = own.or(free) else {
            // Unknown here: clap reports it (or the unsupported-flag check below).
            kept.push(index);
            index += 1;
            continue;
        };
        let width = if consumes_next_word(arg, word) { 2 } else { 1 };
        if own.is_none() {
            moved_flags.push(word.clone());
        }
        let target = if own.is_some() { &mut kept } else { &mut moved };
        target.extend(index..(index + width).min(words.len()));
        index += width;
    }
    refuse_unsupported(command, &words[1..])?;
    if let Some(flag) = moved_flags
        .iter()
        .find(|flag| find(command, flag).is_none())
    {
        {
            let name = path.join(" ");
            return Err(if name.is_empty() {
                format!(
                    "`{flag}` needs a command that talks to Kubernetes, e.g. `kubectl dedicated-registry {flag} ... secret create NAME`"
                )
            } else {
                format!(
                    "`{name}` does not talk to Kubernetes and takes no `{flag}`; see `kubectl dedicated-registry {name} --help`"
                )
            });
        }
    }
    let mut out = vec![args[0].clone()];
    out.extend(kept.iter().map(|&i| args[i].clone()));
    out.extend(moved.iter().map(|&i| args[i].clone()));
    out.extend(args[index..].iter().cloned());
    Ok(out)
}

/// One line for a kubectl flag the plugin does not take, unless `command` defines it itself
/// (`login --insecure-skip-tls-verify` is the plugin's own flag).
fn refuse_unsupported(command: &Command, words: &[String]) -> Result<(), String> {
    for word in words.iter().take_while(|w| *w != "--") {
        let Some(long) = word.strip_prefix("--") else {
            continue;
        };
        let name = long.split_once('=').map_or(long, |(name, _)| name);
        if find(command, &format!("--{name}")).is_some() {
            continue;
        }
        if let Some((flag, advice)) = UNSUPPORTED.iter().find(|(flag, _)| *flag == name) {
            return Err(format!(
                "`--{flag}` is a kubectl flag this plugin does not take: {advice}"
            ));
        }
    }
    if words.iter().take_while(|w| *w != "--").any(|w| w == "-s") && find(command, "-s").is_none() {
        return Err(format!(
            "`-s` (kubectl's --server) is a kubectl flag this plugin does not take: {}",
            UNSUPPORTED[0].1
        ));
    }
    Ok(())
}

/// The argument `word` (`--flag`, `--flag=value`, `-n`, `-nvalue`) names among `command`'s own.
fn find<'a>(command: &'a Command, word: &str) -> Option<&'a Arg> {
    if let Some(long) = word.strip_prefix("--") {
        let name = long.split_once('=').map_or(long, |(name, _)| name);
        return command.get_arguments().find(|arg| {
            arg.get_long_and_visible_aliases()
                .is_some_and(|longs| longs.contains(&name))
        });
    }
    let short = word.strip_prefix('-')?.chars().next()?;
    command.get_arguments().find(|arg| {
        arg.get_short_and_visible_aliases()
            .is_some_and(|shorts| shorts.contains(&short))
    })
}

/// A Kubernetes or selection flag named `word` on any command below `command`.
pub fn find_position_free<'a>(command: &'a Command, word: &str) -> Option<&'a Arg> {
    command.get_subcommands().find_map(|sub| {
        find(sub, word)
            .filter(|arg| is_position_free(arg))
            .or_else(|| find_position_free(sub, word))
    })
}

/// Whether the flag may be typed before its subcommand.
pub fn is_position_free(arg: &Arg) -> bool {
    matches!(
        arg.get_help_heading(),
        Some(KUBERNETES_FLAGS | SELECTION_FLAGS)
    )
}

/// Whether `word` (a flag of `arg`) takes the next word as its value.
fn consumes_next_word(arg: &Arg, word: &str) -> bool {
    let takes_value = arg.get_action().takes_values()
        && arg.get_num_args().is_none_or(|n| n.min_values() > 0)
        && !arg.is_require_equals_set();
    if !takes_value {
        return false;
    }
    if word.starts_with("--") {
        !word.contains('=')
    } else {
        // `-n`, not `-nfoo` or `-n=foo`.
        word.chars().count() == 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn normalized(words: &[&str]) -> Result<Vec<String>, String> {
        let mut args: Vec<OsString> = vec!["kubectl-dedicated_registry".into()];
        args.extend(words.iter().map(OsString::from));
        let mut root = super::super::Cli::command();
        root.build();
        normalize(&root, args).map(|out| {
            out[1..]
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        })
    }

    #[test]
    fn kube_and_selection_flags_move_after_the_subcommand() {
        assert_eq!(
            normalized(&["-n", "a", "-A", "--context=c", "secret", "create", "x"]).unwrap(),
            ["secret", "create", "-n", "a", "-A", "--context=c", "x"]
        );
        assert_eq!(
            normalized(&["--profile", "p", "-nfoo", "status"]).unwrap(),
            ["--profile", "p", "status", "-nfoo"]
        );
        // Already after: untouched.
        assert_eq!(
            normalized(&["secret", "create", "x", "-A", "-n", "b"]).unwrap(),
            ["secret", "create", "x", "-A", "-n", "b"]
        );
        // A flag value that looks like a subcommand is a value.
        assert_eq!(
            normalized(&["-n", "secret", "secret", "verify"]).unwrap(),
            ["secret", "verify", "-n", "secret"]
        );
    }

    #[test]
    fn kube_flags_on_other_commands_are_refused_plainly() {
        let e = normalized(&["-n", "a", "login"]).unwrap_err();
        assert!(
            e.contains("`login` does not talk to Kubernetes and takes no `-n`"),
            "{e}"
        );
        let e = normalized(&["-A", "token", "list"]).unwrap_err();
        assert!(e.contains("`token list` does not talk"), "{e}");
    }

    #[test]
    fn unsupported_kubectl_flags_are_refused_with_what_to_do() {
        let e = normalized(&["--server", "https://x", "status"]).unwrap_err();
        assert!(e.starts_with("`--server` is a kubectl flag"), "{e}");
        assert!(e.contains("--context"), "{e}");
        assert!(!e.contains("--user"), "{e}");
        let e = normalized(&["secret", "create", "--token=abc"]).unwrap_err();
        assert!(e.contains("put it in a kubeconfig user"), "{e}");
        assert!(!e.contains("abc"), "the value is not repeated: {e}");
        let e = normalized(&["-s", "https://x", "status"]).unwrap_err();
        assert!(e.contains("kubectl's --server"), "{e}");
        // The plugin's own flag of that name is fine.
        assert!(normalized(&["login", "--insecure-skip-tls-verify"]).is_ok());
    }
}

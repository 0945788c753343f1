//! Shell completion through kubectl: cobra's `__complete` protocol, answered from the clap
//! command tree.
//!
//! kubectl (1.26+) completes `kubectl dedicated-registry <TAB>` by running an executable
//! `kubectl_complete-dedicated_registry` from `PATH` with the words typed after the plugin name,
//! the last one being the word under the cursor (possibly empty). That shim ([`shim_script`])
//! calls the plugin's hidden `__complete` command, which prints one candidate per line
//! (`value` or `value\tdescription`) and then a final `:<directive>` line
//! (`spf13/cobra:site/content/completions/_index.md`; `kubectl-and-krew.md` §4).
//!
//! [`complete`] is pure: it walks the clap [`Command`] along the typed words and lists
//! subcommands, long flags or values. Values come from `ValueEnum`s (`-o`, `--dry-run`, the shells
//! of `completion`) or from a [`DynamicValues`] source (profiles, kube contexts, namespaces) the
//! caller provides; this module reads no files and makes no requests itself, and it never writes
//! to stdout.
//!
//! Krew installs a single executable (kubernetes-sigs/krew#812), so the shim is written by
//! `completion kubectl-shim` through [`install_shim`], by default next to the plugin found on
//! `PATH` ([`plugin_dir_on_path`]). `completion bash|zsh` print scripts ([`bash_script`],
//! [`zsh_script`]) that ask `__complete` too, for the plugin typed as `kubectl-dedicated_registry`.
//! The scripts are files in `complete/` (`shim.sh`, `bash.sh`, `zsh.zsh`), printed byte for byte.

use std::io;
use std::path::{Path, PathBuf};

use clap::builder::ValueHint;
use clap::{Arg, ArgAction, Command};

/// File name of the completion shim kubectl looks for: `kubectl_complete-` + the plugin's name,
/// with the dash written as an underscore like the plugin executable itself.
pub const SHIM_NAME: &str = "kubectl_complete-dedicated_registry";

/// `ShellCompDirectiveDefault`: the shell may fall back to file completion.
pub const DIRECTIVE_DEFAULT: u32 = 0;

/// `ShellCompDirectiveNoSpace`: the value goes on, so the shell adds no space after it.
pub const DIRECTIVE_NO_SPACE: u32 = 2;

/// `ShellCompDirectiveNoFileComp`: offer only the candidates printed, never file names.
pub const DIRECTIVE_NO_FILE_COMP: u32 = 4;

/// Values that depend on the user's environment (profiles in the config file, contexts in the
/// kubeconfig, namespaces, secrets and service accounts in the cluster, token ids at the
/// registry), looked up by the subcommand path (`"secret delete"`, `""` for the top level) and
/// the clap argument id (`profile`, `namespace`, `name`, ...). Return an empty list for what you
/// do not know or cannot resolve quickly; completion must stay fast and must never fail, so
/// errors are swallowed by the implementation.
pub trait DynamicValues {
    /// All known values (with an optional description) for the argument `arg_id` of the
    /// subcommand `command`; [`complete`] filters them by prefix.
    fn values(&self, command: &str, arg_id: &str) -> Vec<Candidate>;

    /// Values for `arg_id` that depend on the word typed so far (an image's tags once a `:`
    /// was typed); defaults to [`Self::values`]. [`complete`] still filters them by prefix.
    fn values_for(&self, command: &str, arg_id: &str, _to_complete: &str) -> Vec<Candidate> {
        self.values(command, arg_id)
    }

    /// Whether the value of `arg_id` may go on after these candidates (an image repository,
    /// then `:tag`), so the shell must not add a space ([`DIRECTIVE_NO_SPACE`]).
    fn no_space(&self, _arg_id: &str, _to_complete: &str) -> bool {
        false
    }
}

/// A [`DynamicValues`] that knows nothing, for callers without dynamic values.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDynamicValues;

impl DynamicValues for NoDynamicValues {
    fn values(&self, _command: &str, _arg_id: &str) -> Vec<Candidate> {
        Vec::new()
    }
}

/// Answers one cobra `__complete` request.
///
/// `cmd` is the plugin's clap command tree, `args` the words after `__complete` (the last is the
/// word being completed, possibly empty; with no words at all, an empty word is assumed). Returns
/// the candidates, one per line as `value` or `value\tdescription`, followed by `:<directive>`
/// and a newline: [`DIRECTIVE_NO_FILE_COMP`] for subcommands, flags and known values,
/// [`DIRECTIVE_DEFAULT`] where a file name may be expected.
pub fn complete(mut cmd: Command, args: &[String], dynamic: &dyn DynamicValues) -> String {
    // Propagates global flags (`--namespace`, `--context`, ...) into every subcommand.
    cmd.build();
    let (to_complete, typed) = match args.split_last() {
        Some((last, typed)) => (last.as_str(), typed),
        None => ("", &[][..]),
    };
    let state = walk(&cmd, typed);
    let (candidates, directive) = candidates(&state, to_complete, dynamic);
    let mut out = String::new();
    for (value, description) in candidates {
        out.push_str(&value);
        if let Some(description) = description.filter(|d| !d.is_empty()) {
            out.push('\t');
            out.push_str(&description);
        }
        out.push('\n');
    }
    out.push_str(&format!(":{directive}\n"));
    out
}

/// The shell script installed as [`SHIM_NAME`]: it hands the words to the plugin's `__complete`,
/// running the plugin installed next to it (no second kubectl start, no external command: kubectl
/// may run it with a minimal `PATH`), else the one on `PATH`.
pub fn shim_script() -> &'static str {
    include_str!("complete/shim.sh")
}

/// The bash completion script for `kubectl-dedicated_registry` typed directly: it asks the plugin
/// (`__complete`), so values come from the live cluster and the registry like through kubectl.
/// Works without the bash-completion package.
pub fn bash_script() -> &'static str {
    include_str!("complete/bash.sh")
}

/// The zsh completion script for `kubectl-dedicated_registry` typed directly (needs `compinit`,
/// as every zsh completion does); it asks the plugin like [`bash_script`].
pub fn zsh_script() -> &'static str {
    include_str!("complete/zsh.zsh")
}

/// Writes the executable shim [`SHIM_NAME`] into `dir` (created if missing), replacing an older
/// one, and returns its path. On Windows, where kubectl runs `.cmd` files found through `PATHEXT`,
/// the shim is a `.cmd` batch file instead.
pub fn install_shim(dir: &Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    let (path, content) = (dir.join(SHIM_NAME), shim_script());
    #[cfg(not(unix))]
    let (path, content) = (
        dir.join(format!("{SHIM_NAME}.cmd")),
        "@kubectl dedicated-registry __complete %*\r\n",
    );
    // Write next to the target and rename, so a concurrent completion never runs half a file.
    let temporary = dir.join(format!(".{SHIM_NAME}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, content)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o755))?;
    }
    if let Err(e) = std::fs::rename(&temporary, &path) {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    Ok(path)
}

/// The plugin executable's file name.
#[cfg(unix)]
pub const PLUGIN_FILE: &str = "kubectl-dedicated_registry";
/// The plugin executable's file name.
#[cfg(not(unix))]
pub const PLUGIN_FILE: &str = "kubectl-dedicated_registry.exe";

/// Where the shim belongs by default: the first directory of `path` (a `PATH` value) holding the
/// plugin executable, because kubectl finds the plugin there and looks for the shim on the same
/// `PATH` (krew's `bin` when krew installed it, `/usr/local/bin` or `~/.local/bin` otherwise).
/// Symbolic links are not followed: krew's `bin` holds links into its store, and the link's
/// directory is the one on `PATH`. `None` when no directory of `path` has it.
pub fn plugin_dir_on_path(path: &std::ffi::OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .find(|dir| is_executable(&dir.join(PLUGIN_FILE)))
}

/// Whether `dir` is one of the directories of `path` (a `PATH` value).
pub fn on_path(dir: &Path, path: &std::ffi::OsStr) -> bool {
    let wanted = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    std::env::split_paths(path).any(|entry| {
        entry == dir || std::fs::canonicalize(&entry).is_ok_and(|entry| entry == wanted)
    })
}

fn is_executable(file: &Path) -> bool {
    let Ok(metadata) = std::fs::metadata(file) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        metadata.is_file()
    }
}

/// Where the walk along the typed words ended.
struct WalkState<'a> {
    /// The innermost subcommand reached.
    command: &'a Command,
    /// Names of the subcommands walked through (`["secret", "delete"]`).
    path: Vec<&'a str>,
    /// A flag whose value is the word being completed (`-n <TAB>`).
    pending_value: Option<&'a Arg>,
    /// Positional values already given to `command`.
    positionals: usize,
    /// Ids of flags already given (not offered again unless repeatable).
    used: Vec<&'a str>,
    /// `--` was typed: everything after it is positional.
    after_terminator: bool,
}

fn walk<'a>(root: &'a Command, typed: &[String]) -> WalkState<'a> {
    let mut state = WalkState {
        command: root,
        path: Vec::new(),
        pending_value: None,
        positionals: 0,
        used: Vec::new(),
        after_terminator: false,
    };
    for word in typed {
        if state.pending_value.take().is_some() {
            // This word is the previous flag's value: nothing to learn from it.
            continue;
        }
        if state.after_terminator {
            state.positionals += 1;
        } else if word == "--" {
            state.after_terminator = true;
        } else if let Some(long) = word.strip_prefix("--") {
            let (name, inline_value) = match long.split_once('=') {
                Some((name, _)) => (name, true),
                None => (long, false),
            };
            if let Some(arg) = find_long(state.command, name)
                .or_else(|| super::argv::find_position_free(state.command, &format!("--{name}")))
            {
                state.used.push(arg.get_id().as_str());
                if !inline_value && consumes_next_word(arg) {
                    state.pending_value = Some(arg);
                }
            }
        } else if let Some(shorts) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
            // A cluster such as `-n`, `-nfoo`, `-n=foo` or `-vn`: the first flag that takes a
            // value takes the rest of the word, or the next word when nothing is left.
            for (position, short) in shorts.char_indices() {
                let Some(arg) = find_short(state.command, short).or_else(|| {
                    super::argv::find_position_free(state.command, &format!("-{short}"))
                }) else {
                    break;
                };
                state.used.push(arg.get_id().as_str());
                if takes_value(arg) {
                    let rest = &shorts[position + short.len_utf8()..];
                    if rest.is_empty() && consumes_next_word(arg) {
                        state.pending_value = Some(arg);
                    }
                    break;
                }
            }
        } else if let Some(subcommand) = find_subcommand(state.command, word) {
            state.command = subcommand;
            state.path.push(subcommand.get_name());
            state.positionals = 0;
            state.used.clear();
        } else {
            state.positionals += 1;
        }
    }
    state
}

/// One completion candidate: the value and an optional one-line description.
pub type Candidate = (String, Option<String>);

fn candidates(
    state: &WalkState<'_>,
    to_complete: &str,
    dynamic: &dyn DynamicValues,
) -> (Vec<Candidate>, u32) {
    if let Some(arg) = state.pending_value {
        return values(&state.path.join(" "), arg, to_complete, dynamic);
    }
    if !state.after_terminator {
        if let Some(long) = to_complete.strip_prefix("--")
            && let Some((name, value)) = long.split_once('=')
        {
            let arg = find_long(state.command, name)
                .or_else(|| super::argv::find_position_free(state.command, &format!("--{name}")));
            return match arg {
                Some(arg) if takes_value(arg) => values(&state.path.join(" "), arg, value, dynamic),
                _ => (Vec::new(), DIRECTIVE_NO_FILE_COMP),
            };
        }
        if to_complete.starts_with('-') {
            return (flags(state, to_complete), DIRECTIVE_NO_FILE_COMP);
        }
    }
    let subcommands: Vec<Candidate> = state
        .command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .filter(|sub| sub.get_name().starts_with(to_complete))
        .map(|sub| (sub.get_name().to_string(), sub.get_about().map(one_line)))
        .collect();
    if state.command.has_subcommands() && state.positionals == 0 {
        return (subcommands, DIRECTIVE_NO_FILE_COMP);
    }
    match positional(state.command, state.positionals) {
        Some(arg) => values(&state.path.join(" "), arg, to_complete, dynamic),
        None => (Vec::new(), DIRECTIVE_NO_FILE_COMP),
    }
}

/// Long flags (and, for a lone `-`, short ones too, as cobra does) of the current command.
/// Before the subcommand, the Kubernetes and selection flags its subcommands accept there too
/// ([`super::argv`]) are offered as well.
fn flags(state: &WalkState<'_>, to_complete: &str) -> Vec<Candidate> {
    let mut args: Vec<&Arg> = state.command.get_arguments().collect();
    let mut stack: Vec<&Command> = state.command.get_subcommands().collect();
    while let Some(sub) = stack.pop() {
        stack.extend(sub.get_subcommands());
        for arg in sub.get_arguments() {
            let known = args.iter().any(|a| a.get_long() == arg.get_long());
            if super::argv::is_position_free(arg) && arg.get_long().is_some() && !known {
                args.push(arg);
            }
        }
    }
    let mut out = Vec::new();
    for arg in args {
        if arg.is_positional() || arg.is_hide_set() {
            continue;
        }
        if state.used.contains(&arg.get_id().as_str()) && !repeatable(arg) {
            continue;
        }
        let help = arg.get_help().map(one_line);
        if let Some(longs) = arg.get_long_and_visible_aliases() {
            for long in longs {
                let flag = format!("--{long}");
                if flag.starts_with(to_complete) {
                    out.push((flag, help.clone()));
                }
            }
        }
        if to_complete == "-"
            && let Some(shorts) = arg.get_short_and_visible_aliases()
        {
            for short in shorts {
                out.push((format!("-{short}"), help.clone()));
            }
        }
    }
    out
}

/// Candidates for an argument's value: its possible values, else the dynamic ones.
fn values(
    command: &str,
    arg: &Arg,
    to_complete: &str,
    dynamic: &dyn DynamicValues,
) -> (Vec<Candidate>, u32) {
    let possible = arg.get_possible_values();
    if !possible.is_empty() {
        let candidates = possible
            .iter()
            .filter(|value| !value.is_hide_set())
            .filter(|value| value.get_name().starts_with(to_complete))
            .map(|value| (value.get_name().to_string(), value.get_help().map(one_line)))
            .collect();
        return (candidates, DIRECTIVE_NO_FILE_COMP);
    }
    let id = arg.get_id().as_str();
    let mut known = dynamic.values_for(command, id, to_complete);
    if !known.is_empty() {
        known.retain(|(value, _)| value.starts_with(to_complete) && !value.contains('\n'));
        for (_, description) in &mut known {
            *description = description.take().map(|d| d.replace(['\t', '\n'], " "));
        }
        known.sort();
        known.dedup_by(|a, b| a.0 == b.0);
        let no_space = if dynamic.no_space(id, to_complete) {
            DIRECTIVE_NO_SPACE
        } else {
            0
        };
        return (known, DIRECTIVE_NO_FILE_COMP | no_space);
    }
    // Only a path argument (`--kubeconfig`, `--ca-file`) lets the shell offer file names; a
    // free-form string (a secret name, a URL) is not a file.
    let directive = if is_path(arg) {
        DIRECTIVE_DEFAULT
    } else {
        DIRECTIVE_NO_FILE_COMP
    };
    (Vec::new(), directive)
}

fn is_path(arg: &Arg) -> bool {
    matches!(
        arg.get_value_hint(),
        ValueHint::AnyPath | ValueHint::FilePath | ValueHint::DirPath
    )
}

fn find_long<'a>(cmd: &'a Command, name: &str) -> Option<&'a Arg> {
    cmd.get_arguments().find(|arg| {
        arg.get_long_and_visible_aliases()
            .is_some_and(|longs| longs.contains(&name))
            || arg
                .get_all_aliases()
                .is_some_and(|aliases| aliases.contains(&name))
    })
}

fn find_short(cmd: &Command, short: char) -> Option<&Arg> {
    cmd.get_arguments().find(|arg| {
        arg.get_short_and_visible_aliases()
            .is_some_and(|shorts| shorts.contains(&short))
    })
}

fn find_subcommand<'a>(cmd: &'a Command, word: &str) -> Option<&'a Command> {
    cmd.get_subcommands()
        .find(|sub| sub.get_name() == word || sub.get_all_aliases().any(|alias| alias == word))
}

/// The positional argument that receives the `index`-th positional value.
fn positional(cmd: &Command, index: usize) -> Option<&Arg> {
    let positionals: Vec<&Arg> = cmd.get_positionals().collect();
    match positionals.get(index) {
        Some(arg) => Some(arg),
        None => positionals.last().copied().filter(|arg| repeatable(arg)),
    }
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values() && arg.get_num_args().is_none_or(|n| n.max_values() > 0)
}

/// Whether `--flag value` (a separate word) is how this flag takes its value. Flags with an
/// optional value or `require_equals` (`--dry-run[=MODE]`) take it only after `=`.
fn consumes_next_word(arg: &Arg) -> bool {
    takes_value(arg)
        && !arg.is_require_equals_set()
        && arg.get_num_args().is_none_or(|n| n.min_values() > 0)
}

fn repeatable(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append | ArgAction::Count)
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1)
}

/// The first line of a help text, without tabs or a trailing period (cobra descriptions are
/// one line; a tab would split the candidate).
fn one_line(text: &clap::builder::StyledStr) -> String {
    let text = text.to_string();
    let line = text.lines().next().unwrap_or_default().replace('\t', " ");
    line.trim().trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::builder::PossibleValue;
    use clap::{ValueEnum, value_parser};

    #[derive(Clone, Copy, ValueEnum)]
    enum Output {
        /// YAML manifest.
        Yaml,
        /// JSON manifest.
        Json,
        /// `kind/name` only.
        Name,
    }

    /// A small tree shaped like the plugin's: global kube flags, nested subcommands, enums,
    /// an optional-value `--dry-run`, a repeatable flag and a hidden `__complete`.
    #[allow(clippy::too_many_lines)] // one declarative tree
    fn command() -> Command {
        let dry_run = [
            PossibleValue::new("none").help("Really do it"),
            PossibleValue::new("client").help("Print locally"),
            PossibleValue::new("server"),
        ];
        let secret_common = |cmd: Command| {
            cmd.arg(Arg::new("name").value_name("NAME").required(true))
                .arg(
                    Arg::new("output")
                        .short('o')
                        .long("output")
                        .value_parser(value_parser!(Output)),
                )
        };
        Command::new("kubectl-dedicated_registry")
            .bin_name("kubectl dedicated-registry")
            .version("0.1.0")
            .disable_help_subcommand(true)
            .arg(
                Arg::new("namespace")
                    .short('n')
                    .long("namespace")
                    .global(true)
                    .help("The namespace to use.\nSecond line."),
            )
            .arg(Arg::new("context").long("context").global(true))
            .arg(
                Arg::new("kubeconfig")
                    .long("kubeconfig")
                    .global(true)
                    .value_parser(value_parser!(PathBuf)),
            )
            .arg(Arg::new("profile").long("profile").global(true))
            .arg(
                Arg::new("secret-token")
                    .long("secret-token")
                    .hide(true)
                    .global(true),
            )
            .subcommand(
                Command::new("login")
                    .about("Log in.")
                    .arg(Arg::new("api").long("api")),
            )
            .subcommand(Command::new("logout").about("Log out"))
            .subcommand(Command::new("status"))
            .subcommand(
                Command::new("secret")
                    .about("Create or render image pull secrets")
                    .subcommand(
                        secret_common(Command::new("create"))
                            .arg(
                                Arg::new("dry_run")
                                    .long("dry-run")
                                    .num_args(0..=1)
                                    .require_equals(true)
                                    .default_missing_value("client")
                                    .value_parser(dry_run),
                            )
                            .arg(
                                Arg::new("service_accounts")
                                    .long("service-account")
                                    .action(ArgAction::Append),
                            )
                            .arg(
                                Arg::new("overwrite")
                                    .long("overwrite")
                                    .action(ArgAction::SetTrue),
                            ),
                    )
                    .subcommand(secret_common(Command::new("render"))),
            )
            .subcommand(Command::new("completion").arg(
                Arg::new("shell").required(true).value_parser([
                    "bash",
                    "zsh",
                    "fish",
                    "powershell",
                    "kubectl-shim",
                ]),
            ))
            .subcommand(
                Command::new("__complete")
                    .hide(true)
                    .arg(Arg::new("words").num_args(0..).trailing_var_arg(true)),
            )
    }

    struct Fixture;

    impl DynamicValues for Fixture {
        fn values(&self, command: &str, arg_id: &str) -> Vec<Candidate> {
            let plain = |values: &[&str]| values.iter().map(|v| (v.to_string(), None)).collect();
            match (command, arg_id) {
                (_, "namespace") => plain(&["kube-system", "default", "dev"]),
                (_, "context") => plain(&["prod", "dev-cluster"]),
                (_, "profile") => plain(&["bluemix"]),
                ("secret create", "name") => vec![
                    ("regcred".into(), Some("managed\tsecret".into())),
                    ("other".into(), None),
                ],
                _ => Vec::new(),
            }
        }
    }

    fn run(words: &[&str]) -> String {
        let args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        complete(command(), &args, &Fixture)
    }

    fn values_of(output: &str) -> Vec<&str> {
        let (body, _) = output.rsplit_once(':').expect("directive line");
        body.lines()
            .map(|line| line.split('\t').next().unwrap_or_default())
            .collect()
    }

    #[test]
    fn completes_subcommands_by_prefix_with_descriptions() {
        assert_eq!(
            run(&["se"]),
            "secret\tCreate or render image pull secrets\n:4\n"
        );
        assert_eq!(
            values_of(&run(&[""])),
            ["login", "logout", "status", "secret", "completion"]
        );
        assert_eq!(run(&["log"]), "login\tLog in\nlogout\tLog out\n:4\n");
    }

    #[test]
    fn no_words_means_an_empty_word() {
        assert_eq!(complete(command(), &[], &Fixture), run(&[""]));
    }

    #[test]
    fn hidden_subcommands_and_flags_are_not_offered() {
        assert!(!run(&["__"]).contains("__complete"));
        assert_eq!(run(&["__"]), ":4\n");
        assert!(!run(&["--"]).contains("--secret-token"));
    }

    #[test]
    fn completes_nested_subcommands() {
        assert_eq!(values_of(&run(&["secret", ""])), ["create", "render"]);
        assert_eq!(values_of(&run(&["-n", "dev", "secret", "r"])), ["render"]);
        assert_eq!(
            values_of(&run(&["--namespace=dev", "secret", "c"])),
            ["create"]
        );
    }

    #[test]
    fn completes_long_flags_including_globals() {
        let out = run(&["secret", "create", "--"]);
        let flags = values_of(&out);
        for expected in [
            "--namespace",
            "--context",
            "--kubeconfig",
            "--profile",
            "--output",
            "--dry-run",
            "--service-account",
            "--overwrite",
            "--help",
        ] {
            assert!(
                flags.contains(&expected),
                "{expected} missing from {flags:?}"
            );
        }
        assert!(out.ends_with("\n:4\n"));
        assert!(out.contains("--namespace\tThe namespace to use\n"), "{out}");
        assert_eq!(
            values_of(&run(&["secret", "create", "--dr"])),
            ["--dry-run"]
        );
    }

    #[test]
    fn lone_dash_offers_short_flags_too() {
        let flags = run(&["secret", "create", "x", "-"]);
        assert!(values_of(&flags).contains(&"-n"), "{flags}");
        assert!(values_of(&flags).contains(&"-o"), "{flags}");
        assert!(!values_of(&run(&["secret", "create", "--"])).contains(&"-n"));
    }

    #[test]
    fn used_flags_are_not_offered_again_unless_repeatable() {
        let flags = run(&[
            "secret",
            "create",
            "x",
            "--overwrite",
            "-o",
            "yaml",
            "--service-account",
            "a",
            "--",
        ]);
        let flags = values_of(&flags);
        assert!(!flags.contains(&"--overwrite"));
        assert!(!flags.contains(&"--output"));
        assert!(flags.contains(&"--service-account"));
    }

    #[test]
    fn completes_value_enums() {
        assert_eq!(
            run(&["secret", "create", "x", "-o", ""]),
            "yaml\tYAML manifest\njson\tJSON manifest\nname\t`kind/name` only\n:4\n"
        );
        assert_eq!(
            values_of(&run(&["secret", "render", "x", "--output", "j"])),
            ["json"]
        );
        assert_eq!(
            values_of(&run(&["secret", "create", "x", "--output=n"])),
            ["name"]
        );
        assert_eq!(
            values_of(&run(&["secret", "create", "x", "--dry-run="])),
            ["none", "client", "server"]
        );
        assert_eq!(
            run(&["secret", "create", "x", "--dry-run=cl"]),
            "client\tPrint locally\n:4\n"
        );
        assert_eq!(
            values_of(&run(&["completion", ""])),
            ["bash", "zsh", "fish", "powershell", "kubectl-shim"]
        );
        assert_eq!(values_of(&run(&["completion", "p"])), ["powershell"]);
    }

    #[test]
    fn optional_value_flag_does_not_swallow_the_next_word() {
        // `--dry-run` takes its value only after `=`; the next word is the positional NAME.
        assert_eq!(
            values_of(&run(&["secret", "create", "--dry-run", ""])),
            ["other", "regcred"]
        );
        let after = run(&["secret", "create", "--dry-run", "x", "-o", "y"]);
        assert_eq!(values_of(&after), ["yaml"]);
    }

    #[test]
    fn completes_dynamic_values() {
        assert_eq!(run(&["-n", ""]), "default\ndev\nkube-system\n:4\n");
        assert_eq!(
            run(&["secret", "create", "--namespace", "d"]),
            "default\ndev\n:4\n"
        );
        assert_eq!(run(&["secret", "--namespace=k"]), "kube-system\n:4\n");
        assert_eq!(run(&["--context", "p"]), "prod\n:4\n");
        assert_eq!(run(&["status", "--profile", ""]), "bluemix\n:4\n");
        assert_eq!(run(&["-n", "zzz"]), ":4\n");
    }

    /// Values that depend on the typed word, and candidates the value goes on after.
    #[test]
    fn values_may_depend_on_the_typed_word() {
        struct Images;
        impl DynamicValues for Images {
            fn values(&self, _command: &str, _arg_id: &str) -> Vec<Candidate> {
                Vec::new()
            }
            fn values_for(
                &self,
                _command: &str,
                arg_id: &str,
                to_complete: &str,
            ) -> Vec<Candidate> {
                let plain = |v: &[&str]| v.iter().map(|s| (s.to_string(), None)).collect();
                match (arg_id, to_complete.contains(':')) {
                    ("api", false) => plain(&["demo/hello", "ops/tools"]),
                    ("api", true) => plain(&["demo/hello:v1", "demo/hello:latest"]),
                    _ => Vec::new(),
                }
            }
            fn no_space(&self, _arg_id: &str, to_complete: &str) -> bool {
                !to_complete.contains(':')
            }
        }
        let run = |words: &[&str]| {
            let args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            complete(command(), &args, &Images)
        };
        assert_eq!(run(&["login", "--api", "d"]), "demo/hello\n:6\n");
        assert_eq!(
            run(&["login", "--api", "demo/hello:"]),
            "demo/hello:latest\ndemo/hello:v1\n:4\n"
        );
        assert_eq!(run(&["login", "--api=demo/hello:v"]), "demo/hello:v1\n:4\n");
    }

    #[test]
    fn file_arguments_fall_back_to_file_completion() {
        assert_eq!(run(&["--kubeconfig", ""]), ":0\n");
        // A free-form string (a URL, a secret name) is not a file.
        assert_eq!(run(&["login", "--api", ""]), ":4\n");
        assert_eq!(run(&["secret", "render", ""]), ":4\n");
    }

    #[test]
    fn dynamic_values_are_looked_up_by_command_path_with_descriptions() {
        // The positional NAME of `secret create` has values; the same id elsewhere has none.
        assert_eq!(
            run(&["-n", "dev", "secret", "create", ""]),
            "other\nregcred\tmanaged secret\n:4\n"
        );
        assert_eq!(
            run(&["secret", "create", "r"]),
            "regcred\tmanaged secret\n:4\n"
        );
        assert_eq!(run(&["secret", "render", "r"]), ":4\n");
    }

    #[test]
    fn flag_values_in_the_typed_words_are_skipped() {
        // `secret` here is the namespace's value, not the subcommand.
        assert_eq!(values_of(&run(&["-n", "secret", "st"])), ["status"]);
        assert_eq!(values_of(&run(&["-nsecret", "st"])), ["status"]);
    }

    #[test]
    fn after_double_dash_everything_is_positional() {
        assert_eq!(run(&["secret", "create", "--", "--"]), ":4\n");
    }

    #[test]
    fn without_dynamic_values_nothing_is_invented() {
        let args = vec!["-n".to_string(), String::new()];
        assert_eq!(complete(command(), &args, &NoDynamicValues), ":4\n");
    }

    #[test]
    fn shim_execs_the_plugin_next_to_it_else_on_path() {
        let script = shim_script();
        assert!(script.starts_with("#!/bin/sh\n"), "{script}");
        assert!(script.contains("plugin=\"${0%/*}/kubectl-dedicated_registry\""));
        assert!(script.ends_with("exec \"$plugin\" __complete \"$@\"\n"));
    }

    #[cfg(unix)]
    #[test]
    fn the_plugin_is_found_on_path_without_following_links() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let (empty, krew_bin, store) = (
            dir.path().join("empty"),
            dir.path().join("krew/bin"),
            dir.path().join("store"),
        );
        for d in [&empty, &krew_bin, &store] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let real = store.join(PLUGIN_FILE);
        std::fs::write(&real, "#!/bin/sh\n").expect("write");
        let path = std::env::join_paths([&empty, &krew_bin]).expect("PATH");
        assert_eq!(
            plugin_dir_on_path(&path),
            None,
            "not executable, not linked"
        );
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::os::unix::fs::symlink(&real, krew_bin.join(PLUGIN_FILE)).expect("link");
        assert_eq!(plugin_dir_on_path(&path), Some(krew_bin.clone()));
        assert!(on_path(&krew_bin, &path));
        assert!(!on_path(&store, &path));
    }

    #[cfg(unix)]
    #[test]
    fn install_shim_writes_an_executable_and_replaces_an_old_one() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("krew").join("bin");
        let path = install_shim(&bin).expect("install");
        assert_eq!(path, bin.join(SHIM_NAME));
        std::fs::write(&path, "old").expect("overwrite");
        let path = install_shim(&bin).expect("reinstall");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), shim_script());
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        let entries: Vec<_> = std::fs::read_dir(&bin).expect("list").collect();
        assert_eq!(entries.len(), 1, "no temporary files left behind");
    }
}

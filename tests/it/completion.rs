//! `__complete` as kubectl's plugin completion calls it: partial words, dynamic values.

use dedicated_sandbox::seed;

use crate::common::TestContext;

fn candidates(ctx: &TestContext, words: &[&str]) -> (Vec<String>, String) {
    let mut args = vec!["__complete"];
    args.extend_from_slice(words);
    let out = ctx.run(&args, None).ok();
    let mut lines: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    let directive = lines.pop().expect("a directive line");
    let values = lines
        .into_iter()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .collect();
    (values, directive)
}

#[test]
fn partial_flags_complete_from_the_kubeconfig_and_settings() {
    let ctx = TestContext::new();
    let (contexts, directive) = candidates(&ctx, &["--context", ""]);
    assert_eq!(contexts, ["sandbox-admin", "sandbox-dev", "sandbox-viewer"]);
    assert_eq!(directive, ":4");
    // Namespaces of the live cluster (the kubeconfig names only `default` and `team-a`).
    let (namespaces, directive) = candidates(&ctx, &["-n", ""]);
    assert_eq!(namespaces, ["default", "kube-system", "team-a", "team-b"]);
    assert_eq!(directive, ":4");
    // Before the subcommand, the Kubernetes and selection flags are offered too.
    let (flags, _) = candidates(&ctx, &["--con"]);
    assert_eq!(flags, ["--context"]);
    let (flags, _) = candidates(&ctx, &["--all"]);
    assert_eq!(flags, ["--all-namespaces"]);
    let (flags, _) = candidates(&ctx, &["login", "--con"]);
    assert!(flags.is_empty(), "login takes no --context: {flags:?}");
    let (subcommands, directive) = candidates(&ctx, &["secret", ""]);
    assert_eq!(
        subcommands,
        ["create", "render", "verify", "list", "rotate", "delete"]
    );
    assert_eq!(directive, ":4");
    let (modes, directive) = candidates(&ctx, &["secret", "create", "x", "--dry-run="]);
    assert_eq!(modes, ["none", "client", "server"]);
    assert_eq!(directive, ":4");
    // Nothing on stdout but candidates (with their descriptions) and the directive: a stray
    // line would break the shell's completion.
    let out = ctx
        .run(&["__complete", "pod", "apply", "--output", ""], None)
        .ok();
    assert_eq!(
        out.stdout,
        "yaml\tYAML manifest\njson\tJSON manifest\nname\t`kind/name` only\n:4\n"
    );
    assert_eq!(out.stderr, "");
}

#[test]
fn shell_scripts_are_generated_and_parse() {
    let ctx = TestContext::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = ctx.run(&["completion", shell], None).ok();
        assert!(out.stdout.contains("kubectl-dedicated_registry"), "{shell}");
    }
    let script = ctx.sandbox.dir().join("completion.bash");
    std::fs::write(&script, ctx.run(&["completion", "bash"], None).ok().stdout).unwrap();
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(syntax.success(), "the bash script parses");
    let script = ctx.sandbox.dir().join("completion.zsh");
    std::fs::write(&script, ctx.run(&["completion", "zsh"], None).ok().stdout).unwrap();
    let syntax = std::process::Command::new("zsh")
        .arg("-n")
        .arg(&script)
        .status()
        .expect("zsh (installed by .ci/install-deps)");
    assert!(syntax.success(), "the zsh script parses");
}

#[test]
fn profiles_complete_from_the_settings_file() {
    let ctx = TestContext::logged_in();
    let (profiles, _) = candidates(&ctx, &["--profile", ""]);
    assert_eq!(profiles, std::slice::from_ref(&ctx.profile));
}

/// Issue 13, point 10: values come from the live cluster (every namespace, the plugin's secrets,
/// pull secrets, service accounts) and the registry (token ids of the logged-in org).
#[test]
fn values_come_from_the_live_cluster_and_the_registry() {
    let ctx = TestContext::with_secret("team-b", "regcred");
    ctx.kubectl(&[
        "-n",
        "team-b",
        "create",
        "secret",
        "docker-registry",
        "other",
        "--docker-server=example.com",
        "--docker-username=u",
        "--docker-password=p",
    ])
    .ok();
    ctx.kubectl(&[
        "-n",
        "team-b",
        "create",
        "secret",
        "generic",
        "opaque",
        "--from-literal=a=b",
    ])
    .ok();
    ctx.kubectl(&["-n", "team-b", "create", "serviceaccount", "builder"])
        .ok();

    // Every namespace of the cluster, not only those named in the kubeconfig.
    let (namespaces, _) = candidates(&ctx, &["-n", ""]);
    assert_eq!(namespaces, ["default", "kube-system", "team-a", "team-b"]);
    let (namespaces, _) = candidates(&ctx, &["secret", "create", "--namespace=team-"]);
    assert_eq!(namespaces, ["team-a", "team-b"]);
    // Only the secrets this plugin manages for create/delete, with their access.
    let out = ctx
        .run(
            &["__complete", "-n", "team-b", "secret", "delete", ""],
            None,
        )
        .ok();
    assert_eq!(out.stdout, "regcred\tread-only\n:4\n");
    let (managed, _) = candidates(&ctx, &["secret", "create", "-n", "team-b", "r"]);
    assert_eq!(managed, ["regcred"]);
    // Every pull secret where any pull secret will do; never an opaque one.
    let (pull, _) = candidates(&ctx, &["-n", "team-b", "secret", "verify", ""]);
    assert_eq!(pull, ["other", "regcred"]);
    let (pull, _) = candidates(&ctx, &["-nteam-b", "pod", "apply", "--secret", ""]);
    assert_eq!(pull, ["other", "regcred"]);
    let (accounts, _) = candidates(
        &ctx,
        &[
            "-n",
            "team-b",
            "secret",
            "create",
            "x",
            "--service-account",
            "",
        ],
    );
    assert_eq!(accounts, ["builder", "default"]);
    // Another namespace has none of them.
    let (none, directive) = candidates(&ctx, &["-n", "team-a", "secret", "delete", ""]);
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(directive, ":4");

    // The token ids of the org, described.
    let (id, token) = crate::common::stored_token(&ctx, "team-b", "regcred");
    let out = ctx.run(&["__complete", "token", "revoke", ""], None).ok();
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} not offered:\n{}", out.stdout));
    assert!(
        line.contains("\tread-only kubectl-dedicated-registry"),
        "{line}"
    );
    out.leaks_none(&[seed::ALICE_PASSWORD, &token]);
    out.shows_no_jwt();
}

/// Completion is silent and quick when the cluster does not answer: a server that accepts the
/// connection and never replies costs at most the short timeout, and nothing reaches stderr.
#[test]
fn a_silent_cluster_costs_a_short_timeout_and_no_output() {
    let ctx = TestContext::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let kubeconfig = ctx.sandbox.dir().join("silent.yaml");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: silent\nclusters:\n- name: silent\n  cluster:\n    server: https://127.0.0.1:{port}\ncontexts:\n- name: silent\n  context:\n    cluster: silent\n    user: u\n    namespace: quiet-ns\nusers:\n- name: u\n  user:\n    token: not-a-real-token\n"
        ),
    )
    .unwrap();
    let kubeconfig = kubeconfig.to_string_lossy().into_owned();
    let started = std::time::Instant::now();
    let out = ctx
        .run(&["__complete", "--kubeconfig", &kubeconfig, "-n", ""], None)
        .ok();
    let elapsed = started.elapsed();
    drop(listener);
    // The kubeconfig's namespaces are the fallback.
    assert_eq!(out.stdout, "default\nquiet-ns\n:4\n");
    assert_eq!(out.stderr, "");
    assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
    // Without a login, token ids are simply not offered.
    let out = ctx.run(&["__complete", "token", "revoke", ""], None).ok();
    assert_eq!(out.stdout, ":4\n");
    assert_eq!(out.stderr, "");
}

/// The helper goes next to the plugin found on PATH (where kubectl finds the plugin), or into
/// `--dir`; a directory kubectl cannot see is warned about, a missing plugin is an error.
#[test]
fn the_kubectl_helper_is_installed_next_to_the_plugin_on_path() {
    let ctx = TestContext::new();
    let root = tempfile::tempdir().unwrap();
    let (empty, bin, elsewhere) = (
        root.path().join("empty"),
        root.path().join("bin"),
        root.path().join("elsewhere"),
    );
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(crate::common::BIN, bin.join("kubectl-dedicated_registry")).unwrap();
    let path = std::env::join_paths([&empty, &bin, std::path::Path::new("/usr/bin")]).unwrap();
    let mut cmd = ctx.command(&["completion", "kubectl-shim"]);
    cmd.env("PATH", &path);
    let out = ctx.run_with(cmd, None).ok();
    assert_eq!(out.stdout, "");
    let helper = bin.join("kubectl_complete-dedicated_registry");
    assert!(
        out.stderr.contains(&helper.display().to_string()),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    // The helper runs the plugin next to it, even with nothing else on PATH.
    let answer = std::process::Command::new(&helper)
        .args(["secret", "cr"])
        .env_clear()
        .env("PATH", &empty)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&answer.stdout),
        "create\tMint a read-only, non-expiring registry token and write the pull secret (idempotent)\n:4\n"
    );

    let mut cmd = ctx.command(&["completion", "kubectl-shim", "--dir"]);
    cmd.arg(&elsewhere).env("PATH", &path);
    let out = ctx.run_with(cmd, None).ok();
    assert!(
        elsewhere
            .join("kubectl_complete-dedicated_registry")
            .is_file()
    );
    assert!(
        out.stderr.contains(&format!(
            "warning: `{}` is not on PATH",
            elsewhere.display()
        )),
        "{}",
        out.stderr
    );

    let mut cmd = ctx.command(&["completion", "kubectl-shim"]);
    cmd.env("PATH", &empty);
    ctx.run_with(cmd, None)
        .fails_with("cannot find `kubectl-dedicated_registry` on PATH");
}

/// A clean interactive shell on a pty, with only a `bin` directory (the plugin and kubectl) and
/// the system's on PATH, set up by the README's recipe lines (`recipe`), as a user would.
struct Shell {
    session: rexpect::session::PtySession,
    _bin: tempfile::TempDir,
}

impl Shell {
    fn start(ctx: &TestContext, program: &str, args: &[&str], recipe: &[&str]) -> Shell {
        let bin = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(
            crate::common::BIN,
            bin.path().join("kubectl-dedicated_registry"),
        )
        .unwrap();
        std::os::unix::fs::symlink(crate::common::kubectl(), bin.path().join("kubectl")).unwrap();
        let mut cmd = std::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", bin.path().display()),
            )
            .env("HOME", ctx.home.path())
            .env("ZDOTDIR", ctx.home.path())
            .env("XDG_CONFIG_HOME", ctx.home.path().join(".config"))
            .env("KUBECONFIG", ctx.sandbox.kubeconfig_path())
            .env("KUBECTL_DEDICATED_REGISTRY_PROFILE", &ctx.profile)
            .env("TERM", "xterm")
            .env("PS1", "$ ")
            .env("PROMPT", "$ ");
        if let Some(bus) = std::env::var_os("DBUS_SESSION_BUS_ADDRESS") {
            cmd.env("DBUS_SESSION_BUS_ADDRESS", bus);
        }
        let session = rexpect::session::spawn_with_options(
            cmd,
            rexpect::reader::Options::new()
                .timeout_ms(Some(30_000))
                .strip_ansi_escape_codes(true),
        )
        .expect("pty shell");
        let mut shell = Shell { session, _bin: bin };
        for line in recipe {
            shell.run(line);
        }
        shell
    }

    /// Runs a command line and waits until it has finished.
    fn run(&mut self, line: &str) {
        self.session
            .send_line(&format!("{line}; echo DONE-$((6*7))"))
            .unwrap();
        self.session.exp_string("DONE-42").unwrap();
    }

    /// Types `typed` (with TABs in it), then prefixes the line with `echo @@` and runs it: the
    /// shell prints the completed line.
    fn completed_line(&mut self, typed: &str) -> String {
        self.session.send(typed).unwrap();
        self.session.flush().unwrap();
        self.session.send_control('a').unwrap();
        self.session.send_line("echo @@").unwrap();
        let (_, line) = self.session.exp_regex(r"\n@@[^\r\n]*").unwrap();
        line.trim_start_matches('\n')
            .trim_start_matches("@@")
            .trim_end()
            .to_string()
    }

    /// Types `typed` (ending in the TABs that list the candidates), waits for a listing of
    /// both candidates (in either order: zsh groups described ones first), then clears the line.
    fn listing(&mut self, typed: &str, [a, b]: [&str; 2]) {
        self.session.send(typed).unwrap();
        self.session.flush().unwrap();
        let listing = format!(r"({a}\s[\s\S]*{b}|{b}\s[\s\S]*{a})");
        self.session
            .exp_regex(&listing)
            .unwrap_or_else(|e| panic!("no listing {listing:?} after {typed:?}: {e}"));
        self.session.send_control('u').unwrap();
    }
}

impl Drop for Shell {
    /// Interactive shells ignore SIGTERM, which the pty's drop would send and then wait on.
    fn drop(&mut self) {
        let _ = self.session.send_control('u');
        let _ = self.session.send_line("exit");
        let _ = self.session.exp_eof();
    }
}

/// Seeds what the shells complete: alice's login, a managed secret in team-b and a second pull
/// secret there.
fn completion_world() -> (TestContext, String) {
    let ctx = TestContext::with_secret("team-b", "regcred");
    ctx.kubectl(&[
        "-n",
        "team-b",
        "create",
        "secret",
        "docker-registry",
        "other",
        "--docker-server=example.com",
        "--docker-username=u",
        "--docker-password=p",
    ])
    .ok();
    let id = crate::common::stored_token(&ctx, "team-b", "regcred").0;
    (ctx, id)
}

/// The README's bash recipe in a clean bash (no rc files): `kubectl dedicated-registry <TAB>`
/// through kubectl's completion and the helper, `kubectl-dedicated_registry <TAB>` through the
/// plugin's script; both offer live namespaces, secrets, contexts and token ids.
#[test]
fn the_bash_recipe_completes_both_invocations_in_a_clean_bash() {
    let (ctx, id) = completion_world();
    let mut bash = Shell::start(
        &ctx,
        "bash",
        &["--norc", "--noprofile", "-i"],
        &[
            // What ~/.bashrc does on Debian; kubectl's bash completion needs it.
            "source /usr/share/bash-completion/bash_completion",
            "kubectl dedicated-registry completion kubectl-shim",
            "source <(kubectl completion bash)",
            "source <(kubectl-dedicated_registry completion bash)",
        ],
    );
    // Through kubectl.
    assert_eq!(
        bash.completed_line("kubectl dedicated-registry sec\t"),
        "kubectl dedicated-registry secret"
    );
    bash.listing(
        "kubectl dedicated-registry -n team-\t\t",
        ["team-a", "team-b"],
    );
    assert_eq!(
        bash.completed_line("kubectl dedicated-registry -n team-b secret delete \t"),
        "kubectl dedicated-registry -n team-b secret delete regcred"
    );
    assert_eq!(
        bash.completed_line("kubectl dedicated-registry token revoke \t"),
        format!("kubectl dedicated-registry token revoke {id}")
    );
    // Typed directly.
    assert_eq!(
        bash.completed_line("kubectl-dedicated_registry --context sandbox-ad\t"),
        "kubectl-dedicated_registry --context sandbox-admin"
    );
    bash.listing(
        "kubectl-dedicated_registry -n team-b secret verify \t\t",
        ["other", "regcred"],
    );
    assert_eq!(
        bash.completed_line("kubectl-dedicated_registry -n team-b secret create x --dry-run=se\t"),
        "kubectl-dedicated_registry -n team-b secret create x --dry-run=server"
    );
    assert_eq!(
        bash.completed_line("kubectl-dedicated_registry token revoke \t"),
        format!("kubectl-dedicated_registry token revoke {id}")
    );
}

/// The README's zsh recipe in a clean zsh (`zsh -f`, `compinit`): the same as in bash.
#[test]
fn the_zsh_recipe_completes_both_invocations_in_a_clean_zsh() {
    let (ctx, id) = completion_world();
    let mut zsh = Shell::start(
        &ctx,
        "zsh",
        &["-f", "-i"],
        &[
            "bindkey -e",
            "autoload -U compinit && compinit -u",
            "kubectl dedicated-registry completion kubectl-shim",
            "source <(kubectl completion zsh)",
            "source <(kubectl-dedicated_registry completion zsh)",
        ],
    );
    assert_eq!(
        zsh.completed_line("kubectl dedicated-registry sec\t"),
        "kubectl dedicated-registry secret"
    );
    zsh.listing(
        "kubectl dedicated-registry -n team-\t",
        ["team-a", "team-b"],
    );
    assert_eq!(
        zsh.completed_line("kubectl dedicated-registry -n team-b secret delete \t"),
        "kubectl dedicated-registry -n team-b secret delete regcred"
    );
    assert_eq!(
        zsh.completed_line("kubectl dedicated-registry token revoke \t"),
        format!("kubectl dedicated-registry token revoke {id}")
    );
    assert_eq!(
        zsh.completed_line("kubectl-dedicated_registry --context sandbox-ad\t"),
        "kubectl-dedicated_registry --context sandbox-admin"
    );
    zsh.listing(
        "kubectl-dedicated_registry -n team-b secret verify \t",
        ["other", "regcred"],
    );
    assert_eq!(
        zsh.completed_line("kubectl-dedicated_registry -n team-b secret create x --dry-run=se\t"),
        "kubectl-dedicated_registry -n team-b secret create x --dry-run=server"
    );
    assert_eq!(
        zsh.completed_line("kubectl-dedicated_registry token revoke \t"),
        format!("kubectl-dedicated_registry token revoke {id}")
    );
}

/// Issue 24, N4: a TAB while the UAA is slow must not log the user out. The UAA rotates the
/// refresh token at once and answers only after completion's short timeout (3 s for token ids,
/// 5 s for image references); the refresh and its write-back still finish, so the next command
/// is logged in. (On the code before the fix the timeout dropped the refresh after the UAA had
/// rotated the token: the keyring kept a dead one and the next command asked for a new login.)
#[test]
fn a_slow_uaa_during_tab_completion_keeps_the_login() {
    use dedicated_sandbox::{Fault, FaultAction, Service};
    let ctx = TestContext::logged_in();
    let cache = ctx.sandbox.dir().join("cache");
    let token = "/UAALoginServerWAR/oauth/token";
    for (words, hold) in [
        (&["__complete", "token", "revoke", ""][..], 4),
        (&["__complete", "pod", "apply", "--image", ""][..], 6),
    ] {
        ctx.sandbox.inject(
            Fault::new(
                Service::Login,
                "POST",
                token,
                FaultAction::RunThenDelay(std::time::Duration::from_secs(hold)),
            )
            .times(1),
        );
        let mut cmd = ctx.command(words);
        cmd.env("XDG_CACHE_HOME", &cache);
        let out = ctx.run_with(cmd, None).ok();
        assert_eq!(out.stderr, "", "{words:?}: completion stays silent");
        let refreshes = ctx
            .sandbox
            .journal()
            .for_service(Service::Login)
            .iter()
            .filter(|e| e.path == token)
            .count();
        assert!(refreshes >= 1, "{words:?}: the UAA was asked");
        // Still logged in: the rotated refresh token was stored.
        let status = ctx.run(&["token", "list"], None);
        assert_eq!(
            status.code, 0,
            "{words:?}: logged out by a TAB:\n{}",
            status.stderr
        );
        ctx.sandbox.journal().clear();
    }
}

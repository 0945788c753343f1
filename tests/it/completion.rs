//! `__complete` as kubectl's plugin completion calls it: partial words, dynamic values.

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
    // Namespaces named in the kubeconfig's contexts.
    let (namespaces, directive) = candidates(&ctx, &["-n", ""]);
    assert_eq!(namespaces, ["default", "team-a"]);
    assert_eq!(directive, ":4");
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
}

#[test]
fn profiles_complete_from_the_settings_file() {
    crate::common::require_keyring();
    let ctx = TestContext::new();
    ctx.login_alice();
    let (profiles, _) = candidates(&ctx, &["--profile", ""]);
    assert_eq!(profiles, std::slice::from_ref(&ctx.profile));
}

//! Interactive use on a real pseudo-terminal: hidden password prompt and org selection.

use dedicated_sandbox::seed;

use crate::common::{TestContext, require_keyring};

#[test]
fn interactive_login_hides_the_password_and_asks_for_the_org() {
    require_keyring();
    let ctx = TestContext::new();
    let args = ctx.login_args(&[]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let cmd = ctx.command(&refs);
    let mut session = rexpect::session::spawn_command(cmd, Some(15_000)).expect("pty session");
    session.exp_string("Username: ").unwrap();
    session.send_line(seed::ALICE).unwrap();
    session.exp_string("Password: ").unwrap();
    session.send_line(seed::ALICE_PASSWORD).unwrap();
    // Alice is in two orgs and gave no --org: she is asked, with a numbered list.
    let before_choice = session
        .exp_string("Select an org (number or name): ")
        .unwrap();
    assert!(before_choice.contains("1. dev-org"), "{before_choice}");
    assert!(before_choice.contains("2. ops-org"), "{before_choice}");
    session.send_line("2").unwrap();
    let rest = session.exp_eof().unwrap();
    assert!(rest.contains("org ops-org"), "{rest}");
    // The terminal never echoed the password.
    let transcript = format!("{before_choice}{rest}");
    assert!(
        !transcript.contains(seed::ALICE_PASSWORD),
        "password echoed: {transcript}"
    );
    let config = std::fs::read_to_string(ctx.config_file()).unwrap();
    assert!(config.contains(seed::OPS_ORG_GUID));
}

/// Issue 13, point 7: `--apikey-stdin` at a terminal asks for the key, hidden, and the org is
/// then asked on the terminal too.
#[test]
fn apikey_stdin_at_a_terminal_prompts_hidden_and_asks_for_the_org() {
    require_keyring();
    let ctx = TestContext::new();
    let args = ctx.login_args(&["--apikey-stdin"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let cmd = ctx.command(&refs);
    let mut session = rexpect::session::spawn_command(cmd, Some(15_000)).expect("pty session");
    session.exp_string("API key: ").unwrap();
    session.send_line(seed::ALICE_API_KEY).unwrap();
    let before_choice = session
        .exp_string("Select an org (number or name): ")
        .unwrap();
    assert!(before_choice.contains("2. ops-org"), "{before_choice}");
    session.send_line("ops-org").unwrap();
    let rest = session.exp_eof().unwrap();
    assert!(rest.contains("org ops-org"), "{rest}");
    let transcript = format!("{before_choice}{rest}");
    assert!(
        !transcript.contains(seed::ALICE_API_KEY),
        "API key echoed: {transcript}"
    );
}

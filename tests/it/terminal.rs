//! Interactive use on a real pseudo-terminal: hidden password prompt and org selection.

use dedicated_sandbox::seed;

use crate::common::{TestContext, require_keyring};

#[test]
fn interactive_login_hides_the_password_and_asks_for_the_org() {
    require_keyring();
    let ctx = TestContext::new();
    let cmd = ctx.login_command(&[]);
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
    let cmd = ctx.login_command(&["--apikey-stdin"]);
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

/// Issue 13, point 5: at a terminal a refused password is asked again, up to 3 tries in all,
/// as `bx login` does; the third refusal ends the login.
#[test]
fn a_wrong_password_at_a_terminal_is_asked_again_up_to_three_times() {
    require_keyring();
    let ctx = TestContext::new();
    let args = ctx.login_args(&["--org", seed::DEV_ORG]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut session =
        rexpect::session::spawn_command(ctx.command(&refs), Some(15_000)).expect("pty session");
    session.exp_string("Username: ").unwrap();
    session.send_line(seed::ALICE).unwrap();
    session.exp_string("Password: ").unwrap();
    session.send_line("wrong-password-1").unwrap();
    let refused = session.exp_string("Try again (attempt 2 of 3)").unwrap();
    assert!(refused.contains("login refused"), "{refused}");
    // The user name is asked again too (the typo may be there).
    session.exp_string("Username: ").unwrap();
    session.send_line(seed::ALICE).unwrap();
    session.exp_string("Password: ").unwrap();
    session.send_line(seed::ALICE_PASSWORD).unwrap();
    let rest = session.exp_eof().unwrap();
    assert!(rest.contains("Logged in to"), "{rest}");
    assert!(
        !rest.contains(seed::ALICE_PASSWORD),
        "password echoed: {rest}"
    );
    assert!(ctx.config_file().exists());

    // Three refusals: the login ends with the refusal, nothing saved.
    let ctx = TestContext::new();
    let mut session =
        rexpect::session::spawn_command(ctx.command(&refs), Some(15_000)).expect("pty session");
    for attempt in 1..=3 {
        session.exp_string("Username: ").unwrap();
        session.send_line(seed::ALICE).unwrap();
        session.exp_string("Password: ").unwrap();
        session
            .send_line(&format!("wrong-password-{attempt}"))
            .unwrap();
    }
    let rest = session.exp_eof().unwrap();
    assert!(rest.contains("error: login refused"), "{rest}");
    assert!(!rest.contains("attempt 4"), "{rest}");
    assert!(!ctx.config_file().exists());
    // Piped (not a terminal): refused at once, as before.
    ctx.login_password(seed::ALICE, "wrong-password", seed::DEV_ORG)
        .fails_with("login refused");
}

/// Issue 13, point 6: a re-login on an existing profile offers the saved user name; Enter keeps it.
#[test]
fn relogin_offers_the_saved_user_name_as_the_default() {
    let ctx = TestContext::logged_in();
    let args = ctx.login_args(&[]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut session =
        rexpect::session::spawn_command(ctx.command(&refs), Some(15_000)).expect("pty session");
    session
        .exp_string(&format!("Username [{}]: ", seed::ALICE))
        .unwrap();
    session.send_line("").unwrap();
    session.exp_string("Password: ").unwrap();
    session.send_line(seed::ALICE_PASSWORD).unwrap();
    // The saved org is kept too, not asked again (issue 24, friction 2).
    let rest = session.exp_eof().unwrap();
    assert!(
        rest.contains("Keeping the saved org `dev-org` (pass --org to choose another)"),
        "{rest}"
    );
    assert!(!rest.contains("Select an org"), "{rest}");
    assert!(rest.contains("Logged in to"), "{rest}");
    let config = std::fs::read_to_string(ctx.config_file()).unwrap();
    assert!(config.contains(seed::ALICE), "{config}");
}

//! Token lifecycle: list, revoke, and deleting a secret together with its token.

use serde_json::Value;

use crate::common::TestContext;

#[test]
fn tokens_are_listed_without_their_values_and_revoked_with_their_secret() {
    let ctx = TestContext::logged_in();
    ctx.run(&["-n", "team-a", "secret", "create", "one"], None)
        .ok();
    ctx.run(
        &["-n", "team-b", "secret", "create", "two", "--readwrite"],
        None,
    )
    .ok();
    let tokens = ctx.tokens();
    let secrets: Vec<&str> = tokens.iter().map(|t| t.token.as_str()).collect();

    let table = ctx.run(&["token", "list"], None).ok();
    table.leaks_none(&secrets);
    for t in &tokens {
        assert!(table.stdout.contains(&t.id), "{}", table.stdout);
    }
    assert!(table.stdout.contains("read-only") && table.stdout.contains("read-write"));
    assert!(table.stdout.contains("team-a/one") && table.stdout.contains("never"));

    let json = ctx.run(&["token", "list", "-o", "json"], None).ok();
    json.leaks_none(&secrets);
    let listed: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // Deleting the secret revokes its token, and only that one.
    let id_one = tokens
        .iter()
        .find(|t| t.description.ends_with("/one"))
        .unwrap()
        .id
        .clone();
    let out = ctx
        .run(&["-n", "team-a", "secret", "delete", "one"], None)
        .ok();
    assert!(out.stdout.contains("secret/one deleted"));
    assert!(out.stdout.contains(&format!("token/{id_one} revoked")));
    assert!(
        ctx.sandbox
            .world
            .kube
            .get("team-a", "secrets", "one")
            .is_none()
    );
    let after = ctx.tokens();
    assert!(after.iter().find(|t| t.id == id_one).unwrap().revoked);
    assert_eq!(after.iter().filter(|t| !t.revoked).count(), 1);

    ctx.run(&["-n", "team-a", "secret", "delete", "one"], None)
        .fails_with("not found");
    ctx.run(
        &[
            "-n",
            "team-a",
            "secret",
            "delete",
            "one",
            "--ignore-not-found",
        ],
        None,
    )
    .ok();
    ctx.kubectl(&[
        "-n",
        "team-a",
        "create",
        "secret",
        "generic",
        "theirs",
        "--from-literal=a=b",
    ])
    .ok();
    ctx.run(&["-n", "team-a", "secret", "delete", "theirs"], None)
        .fails_with("not managed");

    // Revoke by id; a token pasted by mistake is refused without being echoed.
    let id_two = after.iter().find(|t| !t.revoked).unwrap().id.clone();
    ctx.run(&["token", "revoke", &id_two], None).ok();
    assert!(ctx.tokens().iter().all(|t| t.revoked));
    let pasted = tokens[0].token.clone();
    ctx.run(&["token", "revoke", &pasted], None)
        .fails_with("not the token itself")
        .leaks_none(&[&pasted]);
    ctx.run(&["token", "revoke", "no-such-id"], None)
        .fails_with("404");
}

#[test]
fn token_revoke_refuses_what_is_not_a_token_id_before_any_request() {
    let ctx = TestContext::logged_in();
    ctx.sandbox.journal().clear();
    for bad in ["a/b", "x?y", "id#frag"] {
        ctx.run(&["token", "revoke", bad], None)
            .fails_with(&format!("invalid token id `{bad}`"));
    }
    assert!(
        ctx.sandbox.journal().entries().is_empty(),
        "nothing was sent: {}",
        crate::common::journal_lines(&ctx.sandbox)
    );
}

//! Writes whose outcome is uncertain or contested, with the faults real servers produce: the
//! write landed but its reply was lost, the read-back fails too, the write is committed after
//! the client gave up, a concurrent writer, a conflict on create, and Ctrl-C while the write
//! is in flight. Each asserts the end state and, where order is the point, the request order.

use std::time::Duration;

use dedicated_sandbox::{Fault, FaultAction, Service};
use serde_json::json;

use crate::common::{
    CREATE, REGCRED, SECRETS, TestContext, assert_order, deletes_of_tokens, journal_lines,
    stored_token,
};

#[test]
fn a_create_that_landed_but_lost_its_reply_keeps_the_token() {
    let ctx = TestContext::logged_in();
    ctx.sandbox
        .inject(Fault::new(Service::Kube, "POST", SECRETS, FaultAction::RunThenDrop).times(1));
    let run = ctx.run(CREATE, None).ok();
    assert_eq!(run.stdout.trim(), "secret/regcred created");
    assert!(
        run.stderr
            .contains("reported an error, but the secret holds the new token: it was written"),
        "{}",
        run.stderr
    );
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 1);
    assert!(!tokens[0].revoked, "the token in use was not revoked");
    assert_eq!(
        stored_token(&ctx, "team-a", "regcred"),
        (tokens[0].id.clone(), tokens[0].token.clone())
    );
    // The read-back is what decided: the write, then the read, and no revocation at all.
    assert_order(
        &ctx.sandbox,
        &[
            ("POST", "/api/v1/tokens"),
            ("POST", SECRETS),
            ("GET", REGCRED),
        ],
    );
    assert_eq!(deletes_of_tokens(&ctx), Vec::<String>::new());
    run.leaks_none(&[&tokens[0].token]);
}

#[test]
fn a_rotation_that_landed_but_lost_its_reply_keeps_the_new_token_and_revokes_the_old() {
    let ctx = TestContext::logged_in();
    ctx.run(CREATE, None).ok();
    let old = ctx.tokens()[0].clone();
    ctx.sandbox.journal().clear();
    ctx.sandbox
        .inject(Fault::new(Service::Kube, "PUT", REGCRED, FaultAction::RunThenDrop).times(1));
    let mut rotate = CREATE.to_vec();
    rotate.push("--rotate");
    let run = ctx.run(&rotate, None).ok();
    assert!(run.stderr.contains("it was written"), "{}", run.stderr);
    let new = ctx
        .tokens()
        .into_iter()
        .find(|t| t.id != old.id)
        .expect("a new token");
    assert!(!new.revoked);
    assert!(ctx.token_revoked(&old.id));
    assert_eq!(stored_token(&ctx, "team-a", "regcred").0, new.id);
    let revoke_old = format!("/api/v1/tokens/{}", old.id);
    assert_order(
        &ctx.sandbox,
        &[("PUT", REGCRED), ("GET", REGCRED), ("DELETE", &revoke_old)],
    );
    assert_eq!(deletes_of_tokens(&ctx), [revoke_old]);
}

#[test]
fn a_write_that_cannot_be_read_back_revokes_nothing_and_names_the_token() {
    let ctx = TestContext::logged_in();
    // The connection breaks before the server acted, and the server then fails every read:
    // the plugin cannot know, so it keeps the token and says what to check.
    ctx.sandbox
        .inject(Fault::new(Service::Kube, "POST", SECRETS, FaultAction::Drop).times(1));
    // (The read before the write passes; the three read-backs fail.)
    ctx.sandbox.inject(
        Fault::fail_next_get(Service::Kube, REGCRED)
            .after(1)
            .times(3),
    );
    let run = ctx
        .run(CREATE, None)
        .fails_with("it is unknown whether secret/regcred was written");
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 1);
    assert!(!tokens[0].revoked, "nothing is revoked without knowing");
    assert!(
        run.stderr
            .contains(&format!("the new token {} was NOT revoked", tokens[0].id)),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("token revoke {}", tokens[0].id)),
        "{}",
        run.stderr
    );
    assert_eq!(deletes_of_tokens(&ctx), Vec::<String>::new());
    let reads: Vec<u16> = ctx
        .sandbox
        .journal()
        .entries()
        .into_iter()
        .filter(|e| e.method == "GET" && e.path == REGCRED)
        .map(|e| e.status)
        .collect();
    // The pre-write read found nothing; the three read-backs failed.
    assert_eq!(
        reads,
        [404, 500, 500, 500],
        "{}",
        journal_lines(&ctx.sandbox)
    );
    run.leaks_none(&[&tokens[0].token]);
}

#[test]
fn a_write_committed_after_the_client_gave_up_is_found_by_the_read_back() {
    let ctx = TestContext::logged_in();
    // The server keeps the write and commits it once the client has timed out; the first
    // read-back fails (the server is busy), the next one sees the committed secret.
    let mut args = CREATE.to_vec();
    args.extend(["--request-timeout", "1s"]);
    ctx.sandbox.inject(
        Fault::new(
            Service::Kube,
            "POST",
            SECRETS,
            FaultAction::CommitAfterHangup(Duration::ZERO),
        )
        .times(1),
    );
    // The read before the write passes; the first read-back fails.
    ctx.sandbox
        .inject(Fault::fail_next_get(Service::Kube, REGCRED).after(1));
    let run = ctx.run(&args, None).ok();
    assert!(run.stderr.contains("it was written"), "{}", run.stderr);
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 1);
    assert!(!tokens[0].revoked);
    assert_eq!(stored_token(&ctx, "team-a", "regcred").0, tokens[0].id);
    let reads: Vec<u16> = ctx
        .sandbox
        .journal()
        .entries()
        .into_iter()
        .filter(|e| e.method == "GET" && e.path == REGCRED)
        .map(|e| e.status)
        .collect();
    assert_eq!(reads, [404, 500, 200], "{}", journal_lines(&ctx.sandbox));
    let post = ctx
        .sandbox
        .journal()
        .entries()
        .into_iter()
        .find(|e| e.method == "POST" && e.path == SECRETS)
        .unwrap();
    assert_eq!(post.status, 201, "the late commit is recorded");
    assert_eq!(deletes_of_tokens(&ctx), Vec::<String>::new());
}

#[test]
fn a_create_conflict_is_retried_once_with_a_fresh_decision() {
    let ctx = TestContext::logged_in();
    ctx.sandbox.inject(
        Fault::json(
            Service::Kube,
            "POST",
            SECRETS,
            409,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                   "message":"secrets \"regcred\" already exists","reason":"AlreadyExists",
                   "details":{"name":"regcred","kind":"secrets"},"code":409}),
        )
        .times(1),
    );
    let run = ctx.run(CREATE, None).ok();
    assert_eq!(run.stdout.trim(), "secret/regcred created");
    // See: issue 9, finding 12. The token minted for the lost write is reused by the retry.
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 1, "one token for both attempts");
    assert!(!tokens[0].revoked);
    assert_eq!(stored_token(&ctx, "team-a", "regcred").0, tokens[0].id);
    let steps = assert_order(
        &ctx.sandbox,
        &[
            ("GET", REGCRED),
            ("POST", "/api/v1/tokens"),
            ("POST", SECRETS),
            ("GET", REGCRED),
            ("POST", SECRETS),
        ],
    );
    let entries = ctx.sandbox.journal().entries();
    assert_eq!(
        (entries[steps[2]].status, entries[steps[4]].status),
        (409, 201)
    );
    assert!(
        !entries
            .iter()
            .any(|e| e.method == "DELETE" && e.path.starts_with("/api/v1/tokens/")),
        "nothing to revoke: {}",
        journal_lines(&ctx.sandbox)
    );
}

#[test]
fn an_update_carries_the_resource_version_and_a_concurrent_writer_makes_it_decide_again() {
    let ctx = TestContext::logged_in();
    ctx.run(CREATE, None).ok();
    let old = ctx.tokens()[0].id.clone();
    ctx.sandbox.journal().clear();
    // Someone else updates the secret between the plugin's read and its write.
    ctx.sandbox.inject(
        Fault::new(
            Service::Kube,
            "PUT",
            REGCRED,
            FaultAction::Meanwhile(std::sync::Arc::new(|world| {
                world
                    .kube
                    .bump_resource_version("team-a", "secrets", "regcred")
                    .expect("the secret exists");
            })),
        )
        .times(1),
    );
    let mut rotate = CREATE.to_vec();
    rotate.push("--rotate");
    let run = ctx.run(&rotate, None).ok();
    assert_eq!(run.stdout.trim(), "secret/regcred configured");
    // See: issue 9, finding 12. The retry reuses the token minted for the lost write.
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 2, "old, and one new for both attempts");
    assert!(ctx.token_revoked(&old));
    assert!(!tokens[1].revoked);
    assert_eq!(stored_token(&ctx, "team-a", "regcred").0, tokens[1].id);
    let mints = ctx
        .sandbox
        .journal()
        .entries()
        .iter()
        .filter(|e| e.method == "POST" && e.path == "/api/v1/tokens")
        .count();
    assert_eq!(mints, 1, "{}", journal_lines(&ctx.sandbox));
    let revoke_old = format!("/api/v1/tokens/{old}");
    let steps = assert_order(
        &ctx.sandbox,
        &[
            ("GET", REGCRED),
            ("PUT", REGCRED),
            ("GET", REGCRED),
            ("PUT", REGCRED),
            ("DELETE", &revoke_old),
        ],
    );
    let entries = ctx.sandbox.journal().entries();
    // The sandbox answers 409 only because the PUT carried the resourceVersion it read: an
    // unconditional PUT would have overwritten the concurrent change.
    assert_eq!(
        (entries[steps[1]].status, entries[steps[3]].status),
        (409, 200),
        "{}",
        journal_lines(&ctx.sandbox)
    );
}

#[test]
fn ctrl_c_while_the_write_is_in_flight_lets_it_finish_and_keeps_its_token() {
    let ctx = TestContext::logged_in();
    ctx.sandbox.inject(
        Fault::new(
            Service::Kube,
            "POST",
            SECRETS,
            FaultAction::Delay(Duration::from_millis(1500)),
        )
        .times(1),
    );
    let child = ctx.spawn(CREATE);
    crate::lifecycle::wait_until_requested(&ctx, "POST", SECRETS);
    crate::lifecycle::interrupt(child.id());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let tokens = ctx.tokens();
    assert_eq!(tokens.len(), 1);
    assert!(
        stderr.contains(&format!(
            "interrupted by Ctrl-C after secret/regcred was written with the new token {}",
            tokens[0].id
        )),
        "{stderr}"
    );
    assert!(!tokens[0].revoked, "the written token stays");
    assert_eq!(stored_token(&ctx, "team-a", "regcred").0, tokens[0].id);
    assert_eq!(deletes_of_tokens(&ctx), Vec::<String>::new());
}

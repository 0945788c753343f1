//! Writes whose outcome is uncertain or contested, with the faults real servers produce: the
//! write landed but its reply was lost, the read-back fails too, the write is committed after
//! the client gave up, a concurrent writer, a conflict on create, and Ctrl-C while the write
//! is in flight. Each asserts the end state and, where order is the point, the request order.

use std::time::Duration;

use dedicated_sandbox::{Fault, FaultAction, Service};

use crate::common::{CREATE, SECRETS, TestContext, deletes_of_tokens, stored_token};

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

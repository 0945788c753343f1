//! The sandbox journal: where a secret was sent, the order of requests, counts of requests.

use dedicated_sandbox::{Entry, Sandbox, Service};

use crate::common::TestContext;

/// Where `secret` was sent, as `(service, method, path)` of every request holding it in any
/// form (see [`dedicated_sandbox::holds_secret`]).
pub fn sent_to(sandbox: &Sandbox, secret: &str) -> Vec<(Service, String, String)> {
    sandbox
        .journal()
        .containing(secret)
        .into_iter()
        .map(|e| (e.service, e.method, e.path))
        .collect()
}

/// Asserts `secret` was sent only to requests `allowed` accepts, and, as the positive control
/// every leak test needs, that it was found in at least one request matching each of `required`
/// (a search that cannot find the secret where it must be proves nothing about where it is not).
#[track_caller]
pub fn assert_sent_only_to(
    sandbox: &Sandbox,
    secret: &str,
    allowed: impl Fn(&(Service, String, String)) -> bool,
    required: &[(Service, &str, &str)],
) {
    let places = sent_to(sandbox, secret);
    for place in &places {
        assert!(
            allowed(place),
            "secret sent to {place:?}; all places: {places:?}"
        );
    }
    for (service, method, path) in required {
        assert!(
            places
                .iter()
                .any(|(s, m, p)| s == service && m == method && p == path),
            "positive control: the secret was not found in {service:?} {method} {path}; found in {places:?}"
        );
    }
}

/// [`assert_sent_only_to`] the login server only, and found in its token request (the grants
/// and refreshes of every route).
#[track_caller]
pub fn assert_sent_only_to_login(sandbox: &Sandbox, secret: &str) {
    assert_sent_only_to(
        sandbox,
        secret,
        |(service, _, _)| *service == Service::Login,
        &[(
            Service::Login,
            "POST",
            &format!("{}/oauth/token", dedicated_sandbox::LOGIN_PATH),
        )],
    );
}

/// The indexes in the journal of the first request matching each `(method, path)`, asserting
/// they are in this order (`path` ending in `*` is a prefix). Returns the indexes.
#[track_caller]
pub fn assert_order(sandbox: &Sandbox, steps: &[(&str, &str)]) -> Vec<usize> {
    let entries = sandbox.journal().entries();
    let mut from = 0;
    let mut found = Vec::new();
    for (method, path) in steps {
        let matches = |e: &Entry| {
            e.method == *method
                && match path.strip_suffix('*') {
                    Some(prefix) => e.path.starts_with(prefix),
                    None => e.path == *path,
                }
        };
        let Some(offset) = entries[from..].iter().position(matches) else {
            let journal: Vec<String> = entries
                .iter()
                .map(|e| format!("{} {} -> {}", e.method, e.path, e.status))
                .collect();
            panic!(
                "{method} {path} not found after step {}; expected order {steps:?}; journal:\n{}",
                found.len(),
                journal.join("\n")
            );
        };
        found.push(from + offset);
        from += offset + 1;
    }
    found
}

/// The journal as `METHOD path -> status` lines, for assertion messages.
pub fn journal_lines(sandbox: &Sandbox) -> String {
    sandbox
        .journal()
        .entries()
        .iter()
        .map(|e| format!("{:?} {} {} -> {}", e.service, e.method, e.path, e.status))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Registry mints recorded by the sandbox's journal.
pub fn mints(ctx: &TestContext) -> usize {
    ctx.sandbox
        .journal()
        .entries()
        .iter()
        .filter(|e| e.method == "POST" && e.path == "/api/v1/tokens" && e.status == 200)
        .count()
}

/// The paths of every token revocation (`DELETE /api/v1/tokens/...`) in the journal.
pub fn deletes_of_tokens(ctx: &TestContext) -> Vec<String> {
    ctx.sandbox
        .journal()
        .entries()
        .into_iter()
        .filter(|e| e.method == "DELETE" && e.path.starts_with("/api/v1/tokens"))
        .map(|e| e.path)
        .collect()
}

//! `doctor`: every endpoint probed, a table or JSON, never a mint or a credential, exit 0/1.
// See: issue 8.

use dedicated_sandbox::{SandboxConfig, Variant, seed};
use serde_json::Value;

use crate::common::{Run, TestContext};

fn logged_in(variants: &[Variant]) -> TestContext {
    let mut config = SandboxConfig::default();
    config.variants.extend(variants.iter().copied());
    TestContext::logged_in_with(config)
}

/// The `result` of each check in `-o json`.
fn results(run: &Run) -> Vec<(String, String)> {
    let rows: Vec<Value> = serde_json::from_str(&run.stdout).expect("doctor -o json");
    rows.iter()
        .map(|r| {
            (
                r["check"].as_str().unwrap().to_string(),
                r["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn no_credential(ctx: &TestContext, run: &Run) {
    let tokens: Vec<String> = ctx.tokens().into_iter().map(|t| t.token).collect();
    let mut secrets: Vec<&str> = tokens.iter().map(String::as_str).collect();
    secrets.extend([seed::ALICE_PASSWORD, seed::ALICE_API_KEY, "eyJ"]);
    run.leaks_none(&secrets);
}

#[test]
fn doctor_against_the_sandbox() {
    let ctx = logged_in(&[]);
    ctx.create_secret("team-a", "regcred");
    let minted = ctx.tokens().len();
    let table = ctx
        .run(&["-n", "team-a", "doctor", "--secret", "regcred"], None)
        .ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(
        lines[0].starts_with("CHECK") && lines[0].contains("RESULT") && lines[0].ends_with("HINT"),
        "{}",
        table.stdout
    );
    // kubectl's spacing: three spaces after every column, RESULT included (friction 12).
    assert!(lines[0].contains("RESULT   OBSERVED"), "{}", table.stdout);
    let observed_at = lines[0].find("OBSERVED").unwrap();
    for line in &lines[1..] {
        assert_eq!(
            &line[observed_at - 3..observed_at],
            "   ",
            "OBSERVED is its own column:\n{}",
            table.stdout
        );
    }
    for check in [
        "profile",
        "discovery",
        "login prompts",
        "uaa refresh",
        "org lookup",
        "registry tokens",
        "registry v2",
        "kubernetes",
        "pull credential",
    ] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(check))
            .unwrap_or_else(|| panic!("no {check} row:\n{}", table.stdout));
        assert!(line.contains(" ok "), "{line}");
    }
    assert!(
        table.stdout.contains("challenge bearer(realm,service)"),
        "{}",
        table.stdout
    );
    no_credential(&ctx, &table);
    let json = ctx
        .run(&["-n", "team-a", "doctor", "-o", "json"], None)
        .ok();
    assert!(
        results(&json).iter().all(|(_, r)| r == "ok"),
        "{}",
        json.stdout
    );
    no_credential(&ctx, &json);
    assert_eq!(ctx.tokens().len(), minted, "doctor never mints");
}

#[test]
fn doctor_against_variants_warns_and_fails_only_when_the_job_cannot_work() {
    let ctx = logged_in(&[
        Variant::NoV2,
        Variant::LoginHtml,
        Variant::OrgHeaderListRejected,
    ]);
    let out = ctx
        .run(&["-n", "team-a", "doctor", "-o", "json"], None)
        .ok();
    let results = results(&out);
    let result = |check: &str| {
        results
            .iter()
            .find(|(c, _)| c == check)
            .map(|(_, r)| r.as_str())
            .unwrap()
    };
    assert_eq!(result("registry v2"), "warn", "{}", out.stdout);
    assert_eq!(result("login prompts"), "warn", "{}", out.stdout);
    assert_eq!(result("registry tokens"), "ok", "{}", out.stdout);
    assert!(out.stdout.contains("404 text/html"), "{}", out.stdout);
    no_credential(&ctx, &out);
    // A user who may not write secrets there: the job cannot work, exit 1.
    let denied = ctx
        .run(
            &["--context", "sandbox-viewer", "-n", "team-a", "doctor"],
            None,
        )
        .fails_with("1 check(s) failed: kubernetes");
    assert!(
        denied.stdout.contains("may not create secrets"),
        "{}",
        denied.stdout
    );
    assert!(ctx.tokens().is_empty(), "doctor never mints");
    // Not logged in at all.
    ctx.run(&["logout"], None).ok();
    ctx.run(&["doctor"], None).fails_with("profile");
}

/// doctor finds the org the way login does (the user's orgs), so a Cloud Controller that does
/// not serve `/v2/organizations/<guid>` ("Unknown request") is not reported as missing the org.
// See: issue 22.
#[test]
fn the_org_check_uses_the_lookup_of_login() {
    let ctx = logged_in(&[Variant::NoOrgByGuid]);
    ctx.sandbox.journal().clear();
    let json = ctx
        .run(&["-n", "team-a", "doctor", "-o", "json"], None)
        .ok();
    let rows: Vec<Value> = serde_json::from_str(&json.stdout).expect("doctor -o json");
    let org = rows
        .iter()
        .find(|r| r["check"] == "org lookup")
        .expect("an org lookup row");
    assert_eq!(org["result"], "ok", "{}", json.stdout);
    assert!(
        org.to_string().contains(seed::DEV_ORG),
        "names the org: {org}"
    );
    let by_guid: Vec<String> = ctx
        .sandbox
        .journal()
        .entries()
        .into_iter()
        .filter(|e| e.path.starts_with("/v2/organizations/"))
        .map(|e| e.path)
        .collect();
    assert!(by_guid.is_empty(), "{by_guid:?}");
}

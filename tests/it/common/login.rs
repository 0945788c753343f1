//! Logging in the way a user does: a browser's one-time passcode, what the keyring holds, a
//! scratch directory for files a login names.

use serde_json::Value;

use crate::common::TestContext;

/// Fetches a one-time passcode the way a browser user would (GET /passcode on the login server).
pub fn passcode(ctx: &TestContext) -> String {
    let url = format!("{}/passcode", ctx.sandbox.urls().login);
    let ca = reqwest::Certificate::from_pem(ctx.sandbox.pki.ca_pem.as_bytes()).unwrap();
    ctx.runtime.block_on(async {
        let client = reqwest::Client::builder()
            .tls_certs_only([ca])
            .no_proxy()
            .build()
            .unwrap();
        let value: Value = client
            .get(&url)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        value
            .as_str()
            .expect("passcode is a JSON string")
            .to_string()
    })
}

/// The refresh token stored in the Secret Service for `ctx`'s profile, under the documented
/// attributes (empty when there is none).
pub fn stored_refresh_token(ctx: &TestContext) -> String {
    let account = format!("{}@{}", ctx.profile, ctx.sandbox.urls().api);
    let out = std::process::Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            "kubectl-dedicated-registry",
            "username",
            &account,
        ])
        .output()
        .expect("secret-tool (libsecret-tools) is installed by .ci/install-deps");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A directory of this test's own (inside its HOME).
pub fn scratch_dir(ctx: &TestContext) -> std::path::PathBuf {
    let dir = ctx
        .config_file()
        .parent()
        .and_then(|p| p.parent())
        .expect("config file under HOME/.config")
        .join("scratch");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

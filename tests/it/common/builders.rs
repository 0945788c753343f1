//! Set-up builders for the sequences many tests start with: a sandbox of a given configuration
//! with alice logged in, a secret written and checked, a login through a CA file the test may
//! move. Each asserts what the inline sequence asserted (`Run::ok`), nothing more.

use std::path::PathBuf;
use std::process::Command;

use dedicated_sandbox::{SandboxConfig, Variant, seed};

use crate::common::{Run, TestContext, require_keyring, scratch_dir};

impl TestContext {
    /// Starts a sandbox with `variants` on (see `dedicated_sandbox::Variant`).
    pub fn with_variants(variants: &[Variant]) -> TestContext {
        let mut config = SandboxConfig::default();
        config.variants.extend(variants.iter().copied());
        TestContext::with_config(config)
    }

    /// [`Self::logged_in`] with a sandbox of `config`: a real Secret Service, alice logged in to
    /// dev-org.
    pub fn logged_in_with(config: SandboxConfig) -> TestContext {
        require_keyring();
        let ctx = TestContext::with_config(config);
        ctx.login_alice();
        ctx
    }

    /// [`Self::logged_in`] with `secret create NAME` done in `namespace` (and checked to succeed).
    #[track_caller]
    pub fn with_secret(namespace: &str, name: &str) -> TestContext {
        let ctx = TestContext::logged_in();
        ctx.create_secret(namespace, name);
        ctx
    }

    /// Runs `-n NAMESPACE secret create NAME` and checks it succeeded.
    #[track_caller]
    pub fn create_secret(&self, namespace: &str, name: &str) -> Run {
        self.run(&["-n", namespace, "secret", "create", name], None)
            .ok()
    }

    /// A command for `login` as built by [`Self::login_args`] (for environment variables or a
    /// terminal).
    pub fn login_command(&self, extra: &[&str]) -> Command {
        let args = self.login_args(extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.command(&refs)
    }

    /// Logs in alice to dev-org with `--ca-file` naming a copy of the sandbox's CA, `file` in this
    /// test's scratch directory, and returns the copy's path (for a test to move it away).
    pub fn login_alice_with_ca_copy(&self, file: &str) -> PathBuf {
        let ca = scratch_dir(self).join(file);
        std::fs::copy(self.sandbox.ca_file(), &ca).unwrap();
        let mut args = self.login_args(&[
            "--username",
            seed::ALICE,
            "--password-stdin",
            "--org",
            seed::DEV_ORG,
        ]);
        let at = args.iter().position(|a| a == "--ca-file").unwrap() + 1;
        args[at] = ca.display().to_string();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&refs, Some(&format!("{}\n", seed::ALICE_PASSWORD)))
            .ok();
        ca
    }
}

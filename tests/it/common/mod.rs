//! Test context: a running sandbox, an isolated HOME and config, and helpers to run the real
//! plugin binary against it.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use dedicated_sandbox::{Sandbox, SandboxConfig, holds_secret, seed};

mod builders;
mod journal;
mod login;
mod output;
mod secrets;

pub use journal::*;
pub use login::*;
pub use output::*;
pub use secrets::*;

/// Path of the plugin binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_kubectl-dedicated_registry");

/// The real kubectl (1.36) the suite runs against.
pub fn kubectl() -> PathBuf {
    let path = std::env::var_os("KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("kubectl"));
    let out = Command::new(&path)
        .args(["version", "--client"])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "kubectl 1.36 is required (set KUBECTL or run .ci/install-deps): {} ({e})",
                path.display()
            )
        });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("v1.36."),
        "kubectl at {} is not v1.36 ({text}); set KUBECTL or run .ci/install-deps",
        path.display()
    );
    path
}

/// Fails clearly when no Secret Service session is available.
pub fn require_keyring() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "these tests need a real Secret Service: run them through `.ci/test` (dbus-run-session + gnome-keyring)"
    );
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts exit code 1 with a single-line `error: ` containing `needle`.
    #[track_caller]
    pub fn fails_with(self, needle: &str) -> Run {
        assert_eq!(
            self.code, 1,
            "expected exit 1\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        let error_lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(
            error_lines.len(),
            1,
            "expected one error line, stderr: {}",
            self.stderr
        );
        assert!(
            error_lines[0].contains(needle),
            "error line does not contain {needle:?}: {}",
            error_lines[0]
        );
        assert!(!self.stderr.contains("panicked"), "panic: {}", self.stderr);
        assert!(
            !self.stderr.contains("Stack backtrace"),
            "backtrace: {}",
            self.stderr
        );
        self
    }

    /// Asserts none of `secrets` appears in stdout or stderr in any form (clear, base64, inside a
    /// base64 blob such as a printed `.dockerconfigjson`, or a JWT part): see
    /// [`dedicated_sandbox::holds_secret`].
    #[track_caller]
    pub fn leaks_none(&self, secrets: &[&str]) {
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            assert!(
                !holds_secret(self.stdout.as_bytes(), s),
                "secret leaked to stdout: {}",
                self.stdout
            );
            assert!(
                !holds_secret(self.stderr.as_bytes(), s),
                "secret leaked to stderr: {}",
                self.stderr
            );
        }
    }

    /// Positive control for [`Self::leaks_none`]: asserts stdout holds `secret` (in some form).
    #[track_caller]
    pub fn stdout_holds(&self, secret: &str) {
        assert!(
            holds_secret(self.stdout.as_bytes(), secret),
            "the secret was expected on stdout: {}",
            self.stdout
        );
    }

    /// Asserts no JWT-shaped string (a base64url JSON header, a dot, a payload: `eyJ….…`) is in
    /// stdout or stderr. (A lone `eyJ`, the base64 of `{"`, also starts any base64 JSON such as
    /// a printed `.dockerconfigjson`, so it is not enough.)
    #[track_caller]
    pub fn shows_no_jwt(&self) {
        let jwt = regex::Regex::new(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}").unwrap();
        for (stream, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            assert!(
                !jwt.is_match(text),
                "a JWT-shaped string in {stream}: {text}"
            );
        }
    }
}

/// One test's world: its own sandbox (own ports, own keyring entries), HOME and config file.
pub struct TestContext {
    /// The emulated environment.
    pub sandbox: Sandbox,
    /// Runs the sandbox's servers; must outlive `sandbox`'s use.
    pub runtime: tokio::runtime::Runtime,
    /// This test's HOME (the settings file lives under it).
    pub home: tempfile::TempDir,
    /// Profile name used by this context (unique, so keyring entries never collide).
    pub profile: String,
}

impl TestContext {
    /// Starts a sandbox with the default seed data.
    pub fn new() -> TestContext {
        Self::with_config(SandboxConfig::default())
    }

    /// Starts a sandbox with `config`.
    pub fn with_config(config: SandboxConfig) -> TestContext {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let sandbox = runtime
            .block_on(Sandbox::start_with(config, None))
            .expect("sandbox starts");
        let home = tempfile::tempdir().expect("temp HOME");
        let profile = format!("it-{}", uuid_like());
        TestContext {
            sandbox,
            runtime,
            home,
            profile,
        }
    }

    /// The plugin's settings file.
    pub fn config_file(&self) -> PathBuf {
        self.home
            .path()
            .join(".config/kubectl-dedicated-registry/config.yaml")
    }

    /// A command for the plugin with an isolated environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .env("KUBECONFIG", self.sandbox.kubeconfig_path())
            .env("KUBECTL_DEDICATED_REGISTRY_PROFILE", &self.profile)
            .env_remove("KUBECTL_DEDICATED_REGISTRY_CONFIG")
            .env_remove("IBMCLOUD_API_KEY")
            .env_remove("BLUEMIX_API_KEY")
            .env("NO_COLOR", "1");
        for var in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Runs the plugin with `stdin` (empty when `None`).
    pub fn run_with(&self, mut cmd: Command, stdin: Option<&str>) -> Run {
        use std::io::Write as _;
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("plugin binary runs");
        {
            let mut input = child.stdin.take().expect("stdin");
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).expect("write stdin");
            }
        }
        Run::from(child.wait_with_output().expect("plugin finishes"))
    }

    /// Runs the plugin.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        self.run_with(self.command(args), stdin)
    }

    /// `login --api <sandbox> --registry <sandbox registry> --ca-file <sandbox CA>` plus `extra`.
    pub fn login_args(&self, extra: &[&str]) -> Vec<String> {
        let urls = self.sandbox.urls();
        let mut args = vec![
            "login".to_string(),
            "--api".into(),
            urls.api.clone(),
            "--registry".into(),
            urls.registry_host.clone(),
            "--ca-file".into(),
            self.sandbox.ca_file().display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// Runs `login` as built by [`Self::login_args`].
    pub fn login(&self, extra: &[&str], stdin: Option<&str>) -> Run {
        let args = self.login_args(extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&refs, stdin)
    }

    /// `login` with a password from stdin into `org`.
    pub fn login_password(&self, user: &str, password: &str, org: &str) -> Run {
        self.login(
            &["--username", user, "--password-stdin", "--org", org],
            Some(&format!("{password}\n")),
        )
    }

    /// A context with a real Secret Service and alice logged in to dev-org.
    pub fn logged_in() -> TestContext {
        require_keyring();
        let ctx = TestContext::new();
        ctx.login_alice();
        ctx
    }

    /// Logs in as alice into dev-org and checks it worked.
    pub fn login_alice(&self) {
        self.login_password(seed::ALICE, seed::ALICE_PASSWORD, seed::DEV_ORG)
            .ok();
    }

    /// Starts the plugin in the background (stdin empty, stdout and stderr captured).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().expect("plugin binary starts")
    }

    /// The `imagePullSecrets` names of a stored ServiceAccount, in order.
    pub fn image_pull_secrets(&self, namespace: &str, account: &str) -> Vec<String> {
        let sa = self
            .sandbox
            .world
            .kube
            .get(namespace, "serviceaccounts", account)
            .expect("service account exists");
        sa["imagePullSecrets"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|r| r["name"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The registry tokens the sandbox issued.
    pub fn tokens(&self) -> Vec<dedicated_sandbox::registry::TokenInfo> {
        self.sandbox.world.registry.tokens()
    }

    /// Whether the registry token `id` is revoked.
    pub fn token_revoked(&self, id: &str) -> bool {
        self.sandbox
            .world
            .registry
            .token(id)
            .expect("a token with this id was issued")
            .revoked
    }

    /// Runs the real kubectl against the sandbox.
    pub fn kubectl(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new(kubectl());
        cmd.args(args)
            .env("HOME", self.home.path())
            .env("KUBECONFIG", self.sandbox.kubeconfig_path());
        for var in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            cmd.env_remove(var);
        }
        Run::from(cmd.output().expect("kubectl runs"))
    }

    /// The decoded `.dockerconfigjson` of a stored secret.
    pub fn dockerconfigjson(&self, namespace: &str, name: &str) -> Option<Vec<u8>> {
        self.sandbox
            .world
            .kube
            .secret_data(namespace, name)?
            .remove(".dockerconfigjson")
    }
}

impl Drop for TestContext {
    fn drop(&mut self) {
        // Remove this test's keyring entry (best effort; ignored without a Secret Service).
        let _ = Command::new(BIN)
            .arg("logout")
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .env("KUBECTL_DEDICATED_REGISTRY_PROFILE", &self.profile)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}-{}-{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

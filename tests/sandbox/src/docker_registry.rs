//! A real Docker registry for tests: Debian's `docker-registry` (distribution 2.8) on loopback,
//! with TLS from the sandbox's [`Pki`] and htpasswd (bcrypt) basic authentication.
//!
//! The emulated registry in [`crate::registry`] speaks the IBM token protocol; this one is the
//! genuine open-source server, so a pull secret the plugin writes can be checked against a registry
//! that nobody here wrote: take the `auths` entry, call [`DockerRegistry::manifest_digest`] with its
//! username and password, and expect the digest [`DockerRegistry::push_image`] returned.
//!
//! ```no_run
//! # async fn demo() {
//! use dedicated_sandbox::docker_registry::DockerRegistry;
//! use dedicated_sandbox::tls::Pki;
//!
//! let pki = Pki::generate().expect("test PKI");
//! let registry = DockerRegistry::start(&pki).await; // fails clearly if docker-registry is missing
//! let digest = registry.push_image("demo/hello", "v1").await.expect("push");
//! let pulled = registry
//!     .manifest_digest("demo/hello", "v1", Some((registry.username(), registry.password())))
//!     .await
//!     .expect("pull");
//! assert_eq!(pulled, digest);
//! # }
//! ```
//!
//! The registry runs as a child process (the binary itself, never a shell, so killing it really
//! stops it) in a private temporary directory that holds its config, htpasswd file, certificates,
//! storage and log. Dropping the [`DockerRegistry`] kills the process and removes the directory.
//! Nothing here touches the network beyond `127.0.0.1`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use rand::RngExt as _;
use rand::distr::Alphanumeric;
use sha2::{Digest as _, Sha256};

use crate::tls::Pki;

/// Environment variable naming the `docker-registry` binary; defaults to `docker-registry` on `PATH`.
pub const DOCKER_REGISTRY_ENV: &str = "DOCKER_REGISTRY";

/// Environment variable naming the `htpasswd` binary (apache2-utils); defaults to `htpasswd` on `PATH`.
pub const HTPASSWD_ENV: &str = "HTPASSWD";

/// Media type of a Docker image manifest, schema 2 (what [`DockerRegistry::push_image`] pushes).
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The `Accept` list sent when pulling manifests.
///
/// distribution 2.8 answers reqwest's default `Accept: */*` on a schema 2 manifest with
/// 400 `MANIFEST_INVALID`, and hides OCI manifests (404) unless their type is accepted
/// (`test-environment.md` §3.3), so the list must be explicit.
pub const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.index.v1+json";

const INSTALL_HINT: &str =
    "run .ci/install-deps (it installs Debian's docker-registry and apache2-utils packages)";
const READY_TIMEOUT: Duration = Duration::from_secs(15);
const START_ATTEMPTS: usize = 4;

/// A running `docker-registry serve` on `https://127.0.0.1:<port>`, killed on drop.
///
/// The registry accepts one generated user ([`username`](Self::username) /
/// [`password`](Self::password)) plus any given to [`start_with_users`](Self::start_with_users);
/// every other request gets 401 with `Www-Authenticate: Basic realm="dedicated-sandbox"`.
pub struct DockerRegistry {
    child: Child,
    dir: PathBuf,
    port: u16,
    username: String,
    password: String,
    ca_pem: String,
    client: reqwest::Client,
}

impl fmt::Debug for DockerRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerRegistry")
            .field("url", &self.url())
            .field("pid", &self.child.id())
            .field("dir", &self.dir)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why pulling a manifest failed.
#[derive(Debug)]
pub enum ManifestError {
    /// The registry answered with a non-200 status (401 for missing or wrong credentials,
    /// 404 for an unknown repository or tag).
    Status {
        /// The HTTP status code.
        status: u16,
        /// The `Www-Authenticate` challenge, if any.
        www_authenticate: Option<String>,
        /// The response body (the registry's JSON `errors` document).
        body: String,
    },
    /// The 200 response carried no `Docker-Content-Digest` header.
    MissingDigest,
    /// `Docker-Content-Digest` is not the sha256 of the bytes received.
    DigestMismatch {
        /// The digest the registry claimed.
        header: String,
        /// The digest of the body.
        computed: String,
    },
    /// The request did not complete (connection, TLS or body error).
    Transport(reqwest::Error),
}

impl ManifestError {
    /// The HTTP status for [`ManifestError::Status`], `None` otherwise.
    pub fn status(&self) -> Option<u16> {
        match self {
            ManifestError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::Status { status, body, .. } => {
                write!(f, "registry answered {status}: {body}")
            }
            ManifestError::MissingDigest => f.write_str("response has no Docker-Content-Digest"),
            ManifestError::DigestMismatch { header, computed } => write!(
                f,
                "Docker-Content-Digest {header} does not match the body's digest {computed}"
            ),
            ManifestError::Transport(e) => write!(f, "request failed: {e}"),
        }
    }
}

impl std::error::Error for ManifestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ManifestError::Transport(e) => Some(e),
            _ => None,
        }
    }
}

impl DockerRegistry {
    /// Starts a registry with one generated user, waiting until `/v2/` answers.
    ///
    /// # Panics
    /// If the registry cannot be started, in particular when `docker-registry` or `htpasswd` is
    /// not installed; the message says to run `.ci/install-deps`. Use
    /// [`try_start`](Self::try_start) to handle the error instead.
    pub async fn start(pki: &Pki) -> DockerRegistry {
        match Self::try_start(pki).await {
            Ok(registry) => registry,
            Err(e) => panic!("cannot start the real Docker registry: {e:#}"),
        }
    }

    /// Like [`start`](Self::start), also accepting each `(username, password)` in `extra_users`
    /// (for example `token` and a minted registry token, to check a pull secret's credentials).
    ///
    /// # Panics
    /// As [`start`](Self::start).
    pub async fn start_with_users(pki: &Pki, extra_users: &[(&str, &str)]) -> DockerRegistry {
        match Self::try_start_with_users(pki, extra_users).await {
            Ok(registry) => registry,
            Err(e) => panic!("cannot start the real Docker registry: {e:#}"),
        }
    }

    /// Starts a registry with one generated user, returning an error instead of panicking.
    pub async fn try_start(pki: &Pki) -> anyhow::Result<DockerRegistry> {
        Self::try_start_with_users(pki, &[]).await
    }

    /// Starts a registry accepting the generated user and `extra_users`, returning errors.
    pub async fn try_start_with_users(
        pki: &Pki,
        extra_users: &[(&str, &str)],
    ) -> anyhow::Result<DockerRegistry> {
        // reqwest is built with `rustls-no-provider`; a provider may already be installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let registry_bin = find_binary(DOCKER_REGISTRY_ENV, "docker-registry")?;
        let htpasswd_bin = find_binary(HTPASSWD_ENV, "htpasswd")?;

        let dir = unique_temp_dir()?;
        // From here on, `Workdir` removes the directory if anything fails.
        let workdir = Workdir(dir.clone());
        let username = "sandbox-user".to_string();
        let password = random_string(24);
        let mut users: Vec<(&str, &str)> = vec![(&username, &password)];
        users.extend_from_slice(extra_users);
        write_htpasswd(&htpasswd_bin, &dir.join("htpasswd"), &users)?;
        std::fs::write(dir.join("tls.crt"), &pki.leaf_pem).context("write tls.crt")?;
        std::fs::write(dir.join("tls.key"), &pki.leaf_key_pem).context("write tls.key")?;
        std::fs::create_dir(dir.join("data")).context("create storage dir")?;

        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes())
                .context("parse the sandbox CA")?])
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .context("build the HTTPS client")?;

        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            // Every start gets its own instance tag, sent back in a response header, so the
            // readiness check cannot mistake another server on a reused port for this one.
            let instance = random_string(16);
            let config = registry_config(&dir, port, &instance);
            std::fs::write(dir.join("config.yml"), config).context("write config.yml")?;
            let mut child = spawn_registry(&registry_bin, &dir)?;
            match wait_until_ready(&client, &mut child, port, &instance, &dir).await {
                Ok(()) => {
                    std::mem::forget(workdir);
                    return Ok(DockerRegistry {
                        child,
                        dir,
                        port,
                        username,
                        password,
                        ca_pem: pki.ca_pem.clone(),
                        client,
                    });
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    // Another process may have taken the port between probing and binding.
                    let retry = format!("{e:#}").contains("address already in use");
                    last_error = Some(e);
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("registry did not start")))
    }

    /// The base URL, `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.host())
    }

    /// The registry host as used in image references and dockerconfigjson `auths` keys:
    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port the registry listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The generated user's name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The generated user's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The PEM of the CA that signed the registry's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// An HTTPS client that trusts only the sandbox CA and ignores proxy settings.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The process id of the running `docker-registry`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Pushes a tiny single-layer Docker schema 2 image as `name:tag` with the generated user's
    /// credentials, and returns its manifest digest (`sha256:<64 hex>`).
    ///
    /// The image is deterministic: the layer is a tar holding `hello.txt` (`hello from
    /// <name>:<tag>`) with zero timestamps and owners, so the same name and tag always give the same
    /// digest. The upload is the two-step one distribution 2.8 supports: `POST
    /// /v2/<name>/blobs/uploads/` (202 and a `Location`), then `PUT <location>&digest=` with the
    /// whole blob (201); the manifest is then `PUT` to `/v2/<name>/manifests/<tag>` (201).
    pub async fn push_image(&self, name: &str, tag: &str) -> anyhow::Result<String> {
        let content = format!("hello from {name}:{tag}\n");
        let layer_tar = tar_single_file("hello.txt", content.as_bytes());
        let layer = gzip_stored(&layer_tar);
        let diff_id = sha256_digest(&layer_tar);
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/hello.txt"]}},"rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
        );
        let layer_digest = self.upload_blob(name, &layer).await?;
        let config_digest = self.upload_blob(name, config.as_bytes()).await?;
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_V2}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{},"digest":"{config_digest}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":{},"digest":"{layer_digest}"}}]}}"#,
            config.len(),
            layer.len(),
        );
        let expected = sha256_digest(manifest.as_bytes());
        let response = self
            .client
            .put(format!("{}/v2/{name}/manifests/{tag}", self.url()))
            .basic_auth(&self.username, Some(&self.password))
            .header(reqwest::header::CONTENT_TYPE, DOCKER_MANIFEST_V2)
            .body(manifest)
            .send()
            .await
            .context("PUT manifest")?;
        let status = response.status();
        let digest = header_string(&response, "docker-content-digest");
        if status != reqwest::StatusCode::CREATED {
            bail!(
                "PUT manifest {name}:{tag}: {status}: {}",
                body_text(response).await
            );
        }
        match digest {
            Some(d) if d == expected => Ok(d),
            other => bail!(
                "PUT manifest {name}:{tag}: Docker-Content-Digest {other:?}, expected {expected}"
            ),
        }
    }

    /// Pulls the manifest of `name:reference` (a tag or a digest) and returns its digest,
    /// checked against the sha256 of the bytes received.
    ///
    /// `credentials` is `Some((username, password))` for basic authentication, `None` for an
    /// anonymous request. The request sends [`MANIFEST_ACCEPT`].
    pub async fn manifest_digest(
        &self,
        name: &str,
        reference: &str,
        credentials: Option<(&str, &str)>,
    ) -> Result<String, ManifestError> {
        let mut request = self
            .client
            .get(format!("{}/v2/{name}/manifests/{reference}", self.url()))
            .header(reqwest::header::ACCEPT, MANIFEST_ACCEPT);
        if let Some((username, password)) = credentials {
            request = request.basic_auth(username, Some(password));
        }
        let response = request.send().await.map_err(ManifestError::Transport)?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(ManifestError::Status {
                status: status.as_u16(),
                www_authenticate: header_string(&response, "www-authenticate"),
                body: body_text(response).await,
            });
        }
        let header = header_string(&response, "docker-content-digest");
        let body = response.bytes().await.map_err(ManifestError::Transport)?;
        let computed = sha256_digest(&body);
        match header {
            None => Err(ManifestError::MissingDigest),
            Some(header) if header != computed => {
                Err(ManifestError::DigestMismatch { header, computed })
            }
            Some(header) => Ok(header),
        }
    }

    /// Uploads one blob unless it exists, returning its digest.
    async fn upload_blob(&self, name: &str, blob: &[u8]) -> anyhow::Result<String> {
        let digest = sha256_digest(blob);
        let base = url::Url::parse(&self.url()).context("registry URL")?;
        let exists = self
            .client
            .head(format!("{}/v2/{name}/blobs/{digest}", self.url()))
            .basic_auth(&self.username, Some(&self.password))
            .send()
            .await
            .context("HEAD blob")?;
        if exists.status() == reqwest::StatusCode::OK {
            return Ok(digest);
        }
        let opened = self
            .client
            .post(format!("{}/v2/{name}/blobs/uploads/", self.url()))
            .basic_auth(&self.username, Some(&self.password))
            .send()
            .await
            .context("POST blob upload")?;
        let status = opened.status();
        let location = header_string(&opened, "location");
        if status != reqwest::StatusCode::ACCEPTED {
            bail!(
                "POST /v2/{name}/blobs/uploads/: {status}: {}",
                body_text(opened).await
            );
        }
        let location = location.context("upload response has no Location")?;
        // Location may be absolute or relative to the registry.
        let mut upload = base.join(&location).context("upload Location")?;
        upload.query_pairs_mut().append_pair("digest", &digest);
        let put = self
            .client
            .put(upload)
            .basic_auth(&self.username, Some(&self.password))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(blob.to_vec())
            .send()
            .await
            .context("PUT blob")?;
        let status = put.status();
        if status != reqwest::StatusCode::CREATED {
            bail!("PUT blob {digest}: {status}: {}", body_text(put).await);
        }
        Ok(digest)
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        // SIGKILL: a graceful SIGTERM takes ~1.75 s and the storage is thrown away anyway.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes a temporary directory on drop unless forgotten.
struct Workdir(PathBuf);

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn find_binary(env: &str, name: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!("{env}={} does not exist; {INSTALL_HINT}", path.display());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]) {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("`{name}` not found on PATH (or set {env}); {INSTALL_HINT}")
}

fn unique_temp_dir() -> anyhow::Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dedicated-sandbox-registry-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        random_string(8),
    ));
    std::fs::create_dir(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Writes an htpasswd file with bcrypt hashes (the registry accepts nothing else). Cost 4, the
/// minimum: the registry re-checks the hash on every request, and these are throw-away passwords.
fn write_htpasswd(htpasswd: &Path, file: &Path, users: &[(&str, &str)]) -> anyhow::Result<()> {
    let mut lines = String::new();
    for (username, password) in users {
        if username.contains(':') || username.contains('\n') || password.contains('\n') {
            bail!("htpasswd user names may not contain ':' or newlines");
        }
        // `-i` reads the password from stdin, keeping it out of argv.
        let mut child = Command::new(htpasswd)
            .args(["-n", "-i", "-B", "-C", "4", username])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("run {}; {INSTALL_HINT}", htpasswd.display()))?;
        {
            use std::io::Write as _;
            let mut stdin = child.stdin.take().context("htpasswd stdin")?;
            stdin
                .write_all(password.as_bytes())
                .context("write to htpasswd")?;
        }
        let output = child.wait_with_output().context("wait for htpasswd")?;
        if !output.status.success() {
            bail!(
                "htpasswd failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let line = String::from_utf8(output.stdout).context("htpasswd output")?;
        let line = line.trim();
        if !line.starts_with(&format!("{username}:$2")) {
            bail!("htpasswd did not produce a bcrypt entry");
        }
        lines.push_str(line);
        lines.push('\n');
    }
    std::fs::write(file, lines).context("write htpasswd file")
}

/// The response header carrying the instance tag of a started registry.
const INSTANCE_HEADER: &str = "X-Dedicated-Sandbox-Instance";

fn registry_config(dir: &Path, port: u16, instance: &str) -> String {
    // JSON strings are valid YAML scalars, so paths need no further quoting.
    let quoted = |name: &str| serde_json::to_string(&dir.join(name)).expect("path is UTF-8");
    format!(
        "version: 0.1\n\
         log: {{level: info, accesslog: {{disabled: true}}}}\n\
         storage:\n  \
           filesystem: {{rootdirectory: {data}}}\n  \
           delete: {{enabled: true}}\n\
         http:\n  \
           addr: 127.0.0.1:{port}\n  \
           secret: {secret}\n  \
           headers: {{{INSTANCE_HEADER}: [{instance}]}}\n  \
           tls: {{certificate: {crt}, key: {key}}}\n\
         auth:\n  \
           htpasswd: {{realm: dedicated-sandbox, path: {htpasswd}}}\n",
        data = quoted("data"),
        crt = quoted("tls.crt"),
        key = quoted("tls.key"),
        htpasswd = quoted("htpasswd"),
        secret = random_string(32),
    )
}

fn spawn_registry(binary: &Path, dir: &Path) -> anyhow::Result<Child> {
    let log = std::fs::File::create(dir.join("registry.log")).context("create registry.log")?;
    let mut command = Command::new(binary);
    command
        .arg("serve")
        .arg(dir.join("config.yml"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().context("clone log handle")?)
        .stderr(log);
    // REGISTRY_* variables override the config file; none may leak in from the environment.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("REGISTRY_") {
            command.env_remove(key);
        }
    }
    command
        .spawn()
        .with_context(|| format!("spawn {}; {INSTALL_HINT}", binary.display()))
}

async fn wait_until_ready(
    client: &reqwest::Client,
    child: &mut Child,
    port: u16,
    instance: &str,
    dir: &Path,
) -> anyhow::Result<()> {
    let url = format!("https://127.0.0.1:{port}/v2/");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().context("poll docker-registry")? {
            bail!("docker-registry exited with {status}: {}", log_tail(dir));
        }
        if let Ok(response) = client.get(&url).send().await {
            // Only this start of the registry answers with its instance tag; without
            // credentials it answers 401 with its Basic realm.
            let tag = header_string(&response, INSTANCE_HEADER);
            let challenge = header_string(&response, "www-authenticate");
            if tag.as_deref() != Some(instance) {
                bail!(
                    "another server answers on port {port} (instance header {tag:?}); address already in use"
                );
            }
            if response.status() == reqwest::StatusCode::UNAUTHORIZED
                && challenge.as_deref() == Some("Basic realm=\"dedicated-sandbox\"")
            {
                return Ok(());
            }
            bail!(
                "GET /v2/ answered {} ({challenge:?}) instead of 401 with the Basic challenge",
                response.status()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "docker-registry did not answer /v2/ within {READY_TIMEOUT:?}: {}",
                log_tail(dir)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn log_tail(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// A port that was free a moment ago. docker-registry binds its address itself (it cannot be
/// handed a listener), so the port may be taken meanwhile: the caller retries on "address
/// already in use", and the readiness check identifies the instance by its header.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("probe a free port")?;
    Ok(listener.local_addr().context("probe a free port")?.port())
}

fn header_string(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn body_text(response: reqwest::Response) -> String {
    response.text().await.unwrap_or_default()
}

/// `sha256:<lowercase hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for byte in hash {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// A POSIX ustar archive with one regular file (mode 0644, owner 0:0, mtime 0).
fn tar_single_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let put = |header: &mut [u8; 512], offset: usize, value: &[u8]| {
        header[offset..offset + value.len()].copy_from_slice(value);
    };
    put(&mut header, 0, name.as_bytes());
    put(&mut header, 100, b"0000644\0");
    put(&mut header, 108, b"0000000\0");
    put(&mut header, 116, b"0000000\0");
    put(
        &mut header,
        124,
        format!("{:011o}\0", content.len()).as_bytes(),
    );
    put(&mut header, 136, b"00000000000\0");
    put(&mut header, 148, b"        ");
    header[156] = b'0';
    put(&mut header, 257, b"ustar\0");
    put(&mut header, 263, b"00");
    let checksum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    put(&mut header, 148, format!("{checksum:06o}\0 ").as_bytes());

    let mut tar = header.to_vec();
    tar.extend_from_slice(content);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    tar.extend_from_slice(&[0u8; 1024]);
    tar
}

/// A gzip member holding `data` in stored (uncompressed) deflate blocks: valid gzip, deterministic,
/// and needing no compression library for these few bytes.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    let mut chunks = data.chunks(0xffff).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let len = u16::try_from(chunk.len()).expect("chunks are at most 0xffff bytes");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn tar_and_gzip_are_readable_by_the_system_tools() {
        let dir = unique_temp_dir().expect("temp dir");
        let _cleanup = Workdir(dir.clone());
        let archive = gzip_stored(&tar_single_file("hello.txt", b"hello\n"));
        std::fs::write(dir.join("layer.tar.gz"), &archive).expect("write archive");
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(dir.join("layer.tar.gz"))
            .arg("-C")
            .arg(&dir)
            .status()
            .expect("run tar");
        assert!(status.success(), "tar -xzf failed on our layer");
        assert_eq!(
            std::fs::read_to_string(dir.join("hello.txt")).expect("extracted file"),
            "hello\n"
        );
    }

    #[test]
    fn digest_is_prefixed_lowercase_hex() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn config_quotes_paths_and_binds_loopback() {
        let config = registry_config(Path::new("/tmp/x"), 5000, "tag");
        assert!(config.contains("headers: {X-Dedicated-Sandbox-Instance: [tag]}"));
        assert!(config.contains("addr: 127.0.0.1:5000"));
        assert!(config.contains(r#"path: "/tmp/x/htpasswd""#));
    }
}

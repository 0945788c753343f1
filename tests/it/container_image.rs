//! The controller's container image (`deploy/image/build.sh`): written as an OCI layout with no
//! container daemon, pushed with the real skopeo to the real Docker registry (Debian's
//! distribution 2.8), then read back over the distribution API and checked: the index, the
//! platform manifest, the config (user, entrypoint, architecture, diff ids) and the layer's bytes.
//!
//! The tests pack the debug build, stripped (47 MB instead of 291 MB), with
//! `--allow-dynamic-for-tests`: building the static musl release binary takes minutes, and the
//! image's structure does not depend on which binary it carries. The static check itself is tested
//! by refusing the same binary without that flag.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine as _;
use dedicated_sandbox::docker_registry::{DockerRegistry, MANIFEST_ACCEPT, sha256_digest};
use dedicated_sandbox::tls::Pki;
use serde_json::{Value, json};

use crate::common::BIN;

const IN_IMAGE: &str = "usr/local/bin/kubectl-dedicated_registry";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `bash deploy/image/build.sh ARGS` with a clean environment for skopeo (no proxies, a private
/// HOME so no user auth file is read).
fn build(home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(repo_root().join("deploy/image/build.sh"))
        .args(args)
        .env("HOME", home);
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        cmd.env_remove(var);
    }
    cmd.output().expect("bash runs deploy/image/build.sh")
}

fn summary(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "build.sh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("build.sh prints one JSON line")
}

/// The debug binary, stripped of its symbols.
fn stripped_binary(dir: &Path) -> PathBuf {
    let out = dir.join("kubectl-dedicated_registry");
    let status = Command::new("strip")
        .arg("-o")
        .arg(&out)
        .arg(BIN)
        .status()
        .expect("binutils' strip is installed (it comes with gcc)");
    assert!(status.success(), "strip {BIN}");
    out
}

fn require_skopeo() {
    let found = Command::new("skopeo").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "skopeo is required (run .ci/install-deps: it installs Debian's skopeo)"
    );
}

#[test]
fn a_dynamically_linked_binary_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("oci");
    let output = build(
        dir.path(),
        &[
            "--binary",
            BIN,
            "--out",
            out.to_str().expect("UTF-8"),
            "--fast",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a dynamic binary was packed");
    assert!(
        stderr.contains("is dynamically linked") && stderr.contains("x86_64-unknown-linux-musl"),
        "stderr: {stderr}"
    );
    assert!(!out.join("index.json").exists(), "no image is left behind");
}

#[test]
fn the_layout_is_reproducible() {
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = stripped_binary(dir.path());
    let digests: Vec<Value> = ["a", "b"]
        .iter()
        .map(|name| {
            let out = dir.path().join(name);
            let s = summary(&build(
                dir.path(),
                &[
                    "--binary",
                    binary.to_str().expect("UTF-8"),
                    "--out",
                    out.to_str().expect("UTF-8"),
                    "--fast",
                    "--allow-dynamic-for-tests",
                ],
            ));
            s["index"].clone()
        })
        .collect();
    assert_eq!(digests[0], digests[1], "two builds of one tree differ");
}

struct Pulled {
    index: Value,
    index_digest: String,
    manifest: Value,
    config: Value,
    layer: Vec<u8>,
}

async fn get(registry: &DockerRegistry, path: &str, accept: &str) -> (Vec<u8>, Option<String>) {
    let response = registry
        .client()
        .get(format!(
            "{}/v2/kubectl-dedicated-registry/{path}",
            registry.url()
        ))
        .basic_auth(registry.username(), Some(registry.password()))
        .header("Accept", accept)
        .send()
        .await
        .expect("the registry answers");
    assert_eq!(response.status(), 200, "GET {path}");
    let digest = response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    (response.bytes().await.expect("body").to_vec(), digest)
}

async fn pull(registry: &DockerRegistry, tag: &str) -> Pulled {
    let (bytes, index_digest) = get(registry, &format!("manifests/{tag}"), MANIFEST_ACCEPT).await;
    let index: Value = serde_json::from_slice(&bytes).expect("index JSON");
    assert_eq!(
        index_digest.as_deref(),
        Some(sha256_digest(&bytes).as_str())
    );
    let amd64 = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .find(|m| m["platform"] == json!({"architecture": "amd64", "os": "linux"}))
        .expect("a linux/amd64 manifest in the index");
    let digest = amd64["digest"].as_str().expect("digest");
    let (bytes, _) = get(registry, &format!("manifests/{digest}"), MANIFEST_ACCEPT).await;
    assert_eq!(sha256_digest(&bytes), digest, "manifest bytes");
    let manifest: Value = serde_json::from_slice(&bytes).expect("manifest JSON");
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .expect("config digest");
    let (bytes, _) = get(registry, &format!("blobs/{config_digest}"), "*/*").await;
    assert_eq!(sha256_digest(&bytes), config_digest, "config bytes");
    let config = serde_json::from_slice(&bytes).expect("config JSON");
    let layer_digest = manifest["layers"][0]["digest"].as_str().expect("layer");
    let (layer, _) = get(registry, &format!("blobs/{layer_digest}"), "*/*").await;
    assert_eq!(sha256_digest(&layer), layer_digest, "layer bytes");
    Pulled {
        index,
        index_digest: index_digest.expect("digest header"),
        manifest,
        config,
        layer,
    }
}

/// `tar -tv` of the layer (GNU tar, numeric owners) and the packed binary's bytes.
fn layer_contents(dir: &Path, layer: &[u8]) -> (String, Vec<u8>) {
    let file = dir.join("layer.tar.gz");
    std::fs::write(&file, layer).expect("write layer");
    let list = Command::new("tar")
        .args(["--numeric-owner", "-tvzf"])
        .arg(&file)
        .output()
        .expect("tar runs");
    assert!(list.status.success(), "the layer is a gzip tar");
    let root = dir.join("rootfs");
    std::fs::create_dir_all(&root).expect("rootfs");
    let extract = Command::new("tar")
        .args(["-xzf"])
        .arg(&file)
        .arg("-C")
        .arg(&root)
        .arg(IN_IMAGE)
        .status()
        .expect("tar runs");
    assert!(extract.success(), "the layer holds {IN_IMAGE}");
    let binary = std::fs::read(root.join(IN_IMAGE)).expect("binary");
    (String::from_utf8(list.stdout).expect("UTF-8"), binary)
}

fn uncompressed_digest(dir: &Path) -> String {
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(dir.join("layer.tar.gz"))
        .output()
        .expect("gzip runs");
    assert!(out.status.success());
    sha256_digest(&out.stdout)
}

fn check_config(config: &Value, diff_id: &str) {
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["config"]["User"], "65532:65532", "non-root user");
    assert_eq!(
        config["config"]["Entrypoint"],
        json!([format!("/{IN_IMAGE}"), "controller"])
    );
    assert!(
        config["config"].get("Cmd").is_none(),
        "the Deployment's args follow the entrypoint"
    );
    assert_eq!(config["rootfs"]["diff_ids"], json!([diff_id]));
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
}

fn check_listing(listing: &str) {
    let line = |path: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(&format!(" {path}")))
            .unwrap_or_else(|| panic!("{path} in the layer:\n{listing}"))
            .to_string()
    };
    assert!(line(IN_IMAGE).starts_with("-rwxr-xr-x 0/0 "), "{listing}");
    assert!(line("etc/passwd").starts_with("-rw-r--r-- 0/0 "));
    assert!(line("tmp/").starts_with("drwxrwxrwt 0/0 "));
    assert!(line("home/nonroot/").starts_with("drwx------ 65532/65532 "));
    line("etc/ssl/certs/ca-certificates.crt");
    // Nothing else: no shell, no package manager.
    assert_eq!(listing.lines().count(), 13, "{listing}");
}

#[test]
fn the_image_is_pushed_with_skopeo_and_read_back_from_the_real_registry() {
    require_skopeo();
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = stripped_binary(dir.path());
    let pki = Pki::generate().expect("PKI");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let registry = runtime
        .block_on(DockerRegistry::try_start(&pki))
        .expect("Debian's docker-registry must be installed (run .ci/install-deps)");
    // skopeo reads credentials from an auth file (never argv) and trusts DIR/ca.crt.
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).expect("certs dir");
    std::fs::write(certs.join("ca.crt"), registry.ca_pem()).expect("ca.crt");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        registry.username(),
        registry.password()
    ));
    let authfile = dir.path().join("auth.json");
    let auths = json!({"auths": {registry.host(): {"auth": auth}}});
    std::fs::write(&authfile, auths.to_string()).expect("auth.json");
    let reference = format!("docker://{}/kubectl-dedicated-registry:ci", registry.host());
    let out = dir.path().join("oci");
    let output = build(
        dir.path(),
        &[
            "--binary",
            binary.to_str().expect("UTF-8"),
            "--out",
            out.to_str().expect("UTF-8"),
            "--tag",
            "ci",
            "--fast",
            "--allow-dynamic-for-tests",
            "--push",
            &reference,
            "--",
            "--dest-authfile",
            authfile.to_str().expect("UTF-8"),
            "--dest-cert-dir",
            certs.to_str().expect("UTF-8"),
        ],
    );
    let built = summary(&output);
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains(registry.password()),
        "the registry password is not printed"
    );
    let image = &built["images"][0];
    let pulled = runtime.block_on(pull(&registry, "ci"));
    assert_eq!(
        json!(pulled.index_digest),
        built["index"],
        "index digest kept"
    );
    assert_eq!(pulled.index["manifests"].as_array().map(Vec::len), Some(1));
    assert_eq!(json!(pulled.manifest["config"]["digest"]), image["config"]);
    assert_eq!(pulled.manifest["layers"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        json!(pulled.manifest["layers"][0]["digest"]),
        image["layer"]
    );
    let diff_id = image["diff_id"].as_str().expect("diff id");
    check_config(&pulled.config, diff_id);
    let (listing, packed) = layer_contents(dir.path(), &pulled.layer);
    assert_eq!(
        uncompressed_digest(dir.path()),
        diff_id,
        "diff id of the layer"
    );
    check_listing(&listing);
    let original = std::fs::read(&binary).expect("binary");
    assert!(packed == original, "the packed binary is the one given");
}

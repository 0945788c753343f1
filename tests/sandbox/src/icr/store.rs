//! Images of the icr.io front, per region: small schema2 images with consistent digests.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use crate::registry::SCHEMA2;

/// One repository: tags → manifest digest, and manifests by digest.
#[derive(Default, Clone)]
pub(crate) struct Repo {
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) manifests: HashMap<String, Vec<u8>>,
}

#[derive(Default)]
pub(crate) struct Inner {
    /// (region, `<namespace>/<repo>`) → repository.
    pub(crate) repos: BTreeMap<(String, String), Repo>,
    pub(crate) blobs: HashMap<String, Vec<u8>>,
}

/// The registry's images and its bearer signing key.
pub struct IcrState {
    pub(crate) bearer_key: [u8; 32],
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for IcrState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcrState").finish_non_exhaustive()
    }
}

pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl IcrState {
    /// The state with the seeded images of `config`.
    pub fn seeded(config: &crate::iam::IbmConfig) -> Self {
        let state = IcrState {
            bearer_key: rand::random(),
            inner: Mutex::new(Inner::default()),
        };
        for image in &config.images {
            state.push_image(&image.region, &image.repository, &image.tag);
        }
        state
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("icr lock")
    }

    /// Stores an image `repository:tag` (`<namespace>/<repo>`) in `region`; returns its
    /// manifest digest. The content depends on region, repository and tag only.
    pub fn push_image(&self, region: &str, repository: &str, tag: &str) -> String {
        let layer = format!("icr sandbox layer: {region}/{repository}:{tag}\n").into_bytes();
        let layer_digest = sha256_digest(&layer);
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/app"]}},"rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
        )
        .into_bytes();
        let config_digest = sha256_digest(&config);
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{SCHEMA2}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{},"digest":"{config_digest}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":{},"digest":"{layer_digest}"}}]}}"#,
            config.len(),
            layer.len()
        )
        .into_bytes();
        let digest = sha256_digest(&manifest);
        let mut inner = self.lock();
        inner.blobs.insert(layer_digest, layer);
        inner.blobs.insert(config_digest, config);
        let repo = inner
            .repos
            .entry((region.to_string(), repository.to_string()))
            .or_default();
        repo.manifests.insert(digest.clone(), manifest);
        repo.tags.insert(tag.to_string(), digest.clone());
        digest
    }

    /// The manifest digest of `repository:tag` in `region`.
    pub fn digest(&self, region: &str, repository: &str, tag: &str) -> Option<String> {
        let inner = self.lock();
        let repo = inner
            .repos
            .get(&(region.to_string(), repository.to_string()))?;
        repo.tags.get(tag).cloned()
    }

    /// Every image as `<region>/<repository>:<tag>`, sorted.
    pub fn images(&self) -> Vec<String> {
        let inner = self.lock();
        inner
            .repos
            .iter()
            .flat_map(|((region, name), repo)| {
                repo.tags
                    .keys()
                    .map(move |tag| format!("{region}/{name}:{tag}"))
            })
            .collect()
    }
}

//! The pull check: what the kubelet will do with one image and one pull secret, done from here.
//!
//! The key the kubelet matches for the image ([`matcher`]: ports equal, `*` one DNS label,
//! path prefix, Docker Hub fallback, reverse order), then, for each matching credential in the
//! kubelet's order, the v2 challenge, the realm's token for `repository:<name>:pull` and `HEAD`
//! of the manifest with the kubelet's `Accept` list ([`v2::resolve`]); on a 404 of a tag the
//! repository's tags, nearest first. The kubelet stops at the first credential that pulls, and
//! so does [`check`].
//!
//! Used by `pod apply`'s pre-flight (one secret) and by the diagnosis of running pods
//! ([`super::diagnose`], every secret of a pod). The answer is a typed [`Outcome`]; no
//! credential is ever part of it (user names and key names only).

use k8s_openapi::api::core::v1::Secret;
use secrecy::SecretString;
use serde::Serialize;

use crate::registry::matcher::{self, Credential, ImageReference, Keyring, MissReason};
use crate::registry::v2::{self, ImageName, Resolution, VerifyError};

/// How many of a repository's tags a "tag missing" names.
pub const NEAREST_TAGS: usize = 5;

/// Up to `limit` of `tags`, the most similar to `wanted` first (normalized Levenshtein, then
/// name), for a tag that does not exist.
pub fn nearest_tags<'a>(wanted: &str, tags: &'a [String], limit: usize) -> Vec<&'a str> {
    let mut scored: Vec<(f64, &str)> = tags
        .iter()
        .map(|t| (strsim::normalized_levenshtein(wanted, t), t.as_str()))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(limit).map(|(_, t)| t).collect()
}

/// The HTTPS clients for registries: the profile's own registry (its CA file and TLS choice;
/// the plugin's tokens are never sent to a realm on another host) and any other (the OS trust
/// store; credentials go where the challenge says, as the kubelet sends them).
#[derive(Clone)]
pub struct Registries {
    own: Option<(String, reqwest::Client)>,
    other: reqwest::Client,
}

impl Registries {
    /// `own`: the profile's registry host and its client, if there is a profile.
    pub fn new(own: Option<(String, reqwest::Client)>, other: reqwest::Client) -> Self {
        Registries { own, other }
    }

    /// The client for `host`, and whether its realm must be on `host`.
    fn client(&self, host: &str) -> (&reqwest::Client, bool) {
        match &self.own {
            Some((own, client)) if own == host => (client, true),
            _ => (&self.other, false),
        }
    }
}

/// Which matching rule kept a key from giving its credential ([`MissReason`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Ports must be equal (an absent port matches only an absent one).
    Port,
    /// `*` matches exactly one DNS label: the label counts differ.
    WildcardLabel,
    /// The key's path is a plain string prefix the image's path lacks.
    PathPrefix,
    /// A host label differs (or is an invalid glob).
    Host,
    /// The key is not a URL Go can parse.
    Unparseable,
    /// `index.docker.io` is only a fallback when no other key matches.
    DockerHubFallback,
}

impl Rule {
    /// The rule of a [`MissReason`].
    pub fn of(reason: &MissReason) -> Rule {
        match reason {
            MissReason::PortDiffers { .. } => Rule::Port,
            MissReason::LabelCount { .. } => Rule::WildcardLabel,
            MissReason::PathPrefix { .. } => Rule::PathPrefix,
            MissReason::HostDiffers { .. } | MissReason::InvalidPattern { .. } => Rule::Host,
            MissReason::Unparseable { .. } => Rule::Unparseable,
            MissReason::FallbackUnused => Rule::DockerHubFallback,
        }
    }
}

/// A key of a secret the kubelet does not use for the image, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyMiss {
    /// The secret holding the key.
    pub secret: String,
    /// The kubelet's index key.
    pub key: String,
    /// The first rule that failed.
    pub rule: Rule,
    /// The rule, said in full.
    pub detail: String,
}

impl KeyMiss {
    /// `` key `k` of secret/s: detail ``.
    pub fn describe(&self) -> String {
        format!("key `{}`: {}", self.key, self.detail)
    }
}

/// What a pull of one image with one credential (or one secret) comes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "outcome",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Outcome {
    /// The manifest exists and the credential may pull it.
    Found {
        /// Its digest.
        digest: String,
    },
    /// The repository has no such tag (or digest).
    TagMissing {
        /// The tag asked for.
        tag: String,
        /// Up to [`NEAREST_TAGS`] of its tags, nearest first.
        nearest: Vec<String>,
    },
    /// No such repository.
    RepositoryMissing {
        /// The repository.
        repository: String,
    },
    /// The realm or the registry refused the credential (401/403).
    CredentialRefused {
        /// HTTP status.
        status: u16,
        /// What the registry said, if anything.
        reason: Option<String>,
        /// The whole refusal, said.
        message: String,
    },
    /// The credential was accepted, but may not pull this repository.
    NotAuthorized {
        /// The repository.
        repository: String,
        /// HTTP status.
        status: u16,
        /// The refusal, said.
        message: String,
    },
    /// The registry could not be reached (connection, TLS, timeout).
    Unreachable {
        /// What failed.
        detail: String,
    },
    /// The registry did not answer the v2 protocol as expected: nothing proven either way.
    Unexpected {
        /// What it answered.
        detail: String,
    },
    /// No key of the secret matches the image (the kubelet pulls without a credential).
    NoMatchingKey {
        /// Every key, with the rule that failed.
        misses: Vec<KeyMiss>,
    },
    /// The kubelet cannot read the secret (`MakeDockerKeyring` fails every pull of the Pod).
    MalformedAuth {
        /// The secret.
        secret: String,
        /// Why, as the kubelet's parser sees it.
        finding: String,
    },
    /// The kubelet cannot parse the image name (`InvalidImageName`).
    InvalidImage {
        /// Why.
        detail: String,
    },
}

impl Outcome {
    /// Whether the image can be pulled.
    pub fn is_found(&self) -> bool {
        matches!(self, Outcome::Found { .. })
    }
}

/// The registry host the kubelet's runtime talks to for `domain` (Docker Hub's v2 API is on
/// `registry-1.docker.io`, as containerd and Docker resolve `docker.io`).
pub fn registry_host(domain: &str) -> &str {
    if domain == "docker.io" {
        "registry-1.docker.io"
    } else {
        domain
    }
}

/// The kubelet's reading of `image`, or why it cannot read it.
pub fn parse(image: &str) -> Result<ImageReference, Outcome> {
    matcher::parse_image(image).map_err(|e| Outcome::InvalidImage {
        detail: e.to_string(),
    })
}

/// The misses of a lookup, attributed to their secrets (`keyring` built from them).
pub fn misses(keyring: &Keyring, image: &ImageReference) -> Vec<KeyMiss> {
    let lookup = keyring.lookup(image);
    lookup
        .misses
        .iter()
        .map(|m| KeyMiss {
            secret: keyring.source_of(&m.key).unwrap_or_default().to_string(),
            key: m.key.clone(),
            rule: Rule::of(&m.reason),
            detail: m.reason.to_string(),
        })
        .collect()
}

/// The outcome of a [`VerifyError`].
fn failed(error: VerifyError) -> Outcome {
    let message = error.to_string();
    match error {
        VerifyError::Rejected { status, reason, .. } => Outcome::CredentialRefused {
            status,
            reason,
            message,
        },
        VerifyError::Denied { name, status, .. } => Outcome::NotAuthorized {
            repository: name,
            status,
            message,
        },
        VerifyError::Remote(_) => Outcome::Unreachable { detail: message },
        VerifyError::Protocol { .. } => Outcome::Unexpected { detail: message },
    }
}

/// Pulls `image` with `credential` as the kubelet would: challenge, realm token for the
/// repository, `HEAD` of the manifest; the nearest tags when the tag is missing.
pub async fn check_credential(
    registries: &Registries,
    image: &ImageReference,
    credential: &Credential,
) -> Outcome {
    let host = registry_host(&image.domain);
    let (http, realm_on_host) = registries.client(host);
    let password = SecretString::from(credential.password.clone());
    let name = ImageName {
        name: &image.path,
        reference: image.reference(),
    };
    let answer = v2::resolve(
        http,
        host,
        &credential.username,
        &password,
        realm_on_host,
        &name,
    )
    .await;
    match answer {
        Ok(Resolution::Found { digest }) => Outcome::Found { digest },
        Ok(Resolution::TagUnknown { tags }) => Outcome::TagMissing {
            tag: image.reference().to_string(),
            nearest: nearest_tags(image.reference(), &tags, NEAREST_TAGS)
                .into_iter()
                .map(str::to_string)
                .collect(),
        },
        Ok(Resolution::RepositoryUnknown) => Outcome::RepositoryMissing {
            repository: image.path.clone(),
        },
        Err(error) => failed(error),
    }
}

/// The kubelet's keyring of one secret, or why the kubelet cannot read it.
pub fn keyring_of(name: &str, secret: &Secret) -> Result<Keyring, Outcome> {
    let config = matcher::secret_config(secret);
    if let Some(fatal) = config.fatal() {
        return Err(Outcome::MalformedAuth {
            secret: name.to_string(),
            finding: fatal.to_string(),
        });
    }
    let mut keyring = Keyring::default();
    keyring.add(name, &config);
    Ok(keyring)
}

/// The pull check of `image` with pull secret `name`: the kubelet's matching, then each
/// matching credential in its order until one pulls; the first credential's outcome when none
/// does.
pub async fn check(registries: &Registries, image: &str, name: &str, secret: &Secret) -> Outcome {
    let keyring = match keyring_of(name, secret) {
        Ok(keyring) => keyring,
        Err(outcome) => return outcome,
    };
    let target = match parse(image) {
        Ok(target) => target,
        Err(outcome) => return outcome,
    };
    let lookup = keyring.lookup(&target);
    if lookup.matches.is_empty() {
        return Outcome::NoMatchingKey {
            misses: misses(&keyring, &target),
        };
    }
    let mut first = None;
    for entry in &lookup.matches {
        let outcome = check_credential(registries, &target, &entry.credential).await;
        if outcome.is_found() {
            return outcome;
        }
        first.get_or_insert(outcome);
    }
    first.expect("at least one match")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_tags_come_first_and_are_limited() {
        let tags: Vec<String> = ["latest", "v1", "v1.1", "v2", "nightly", "old", "x"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(nearest_tags("v1.0", &tags, 3), ["v1.1", "v1", "v2"]);
        assert_eq!(nearest_tags("nope", &tags, 10).len(), tags.len());
        assert!(nearest_tags("x", &[], 5).is_empty());
        let two: Vec<String> = vec!["v1".into(), "latest".into()];
        let both = nearest_tags("nope", &two, 5);
        assert!(both.contains(&"v1") && both.contains(&"latest"), "{both:?}");
    }

    #[test]
    fn docker_hub_is_pulled_from_its_v2_host() {
        assert_eq!(registry_host("docker.io"), "registry-1.docker.io");
        assert_eq!(registry_host("r.example:5000"), "r.example:5000");
    }

    #[test]
    fn outcomes_serialize_with_their_kind() {
        let outcome = Outcome::TagMissing {
            tag: "nope".into(),
            nearest: vec!["v1".into()],
        };
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(json["outcome"], "tag-missing");
        assert_eq!(json["nearest"][0], "v1");
    }
}

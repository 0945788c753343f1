//! Why a pod cannot pull, the way the kubelet sees it (issue 22): for each container and init
//! container image of a pod, the pull secrets the pod references and those its ServiceAccount
//! has now, the keys the kubelet would match (its rules, its order, [`crate::registry::matcher`]),
//! the pull check of every matching credential ([`super::pull`]), the pod's core v1 Events
//! (`FailedToRetrieveImagePullSecret`, `Failed` with `ErrImagePull`/`ImagePullBackOff`) and
//! container statuses; then one [`Verdict`] per image with its fix ([`verdict`]).
//!
//! Read-only: nothing is written. The evidence names secrets, keys, user names and token ids,
//! never a credential.

mod verdict;

pub use verdict::{Place, Verdict, decide, fix};

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Event, Namespace, Pod, Secret, ServiceAccount};
use kube::api::{Api, ListParams};
use serde::Serialize;

use super::pull::{self, KeyMiss, Outcome, Registries, Rule};
use super::select;
use crate::cluster::Target;
use crate::manifests;
use crate::registry::matcher::{self, Keyring};

/// The container waiting reasons of a failed pull.
pub const PULL_REASONS: &[&str] = &["ErrImagePull", "ImagePullBackOff"];
/// The kubelet's event when a referenced pull secret cannot be read.
pub const SECRET_EVENT: &str = "FailedToRetrieveImagePullSecret";

/// Which pods to diagnose.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Every namespace (`-A`); else the target's namespace.
    pub all_namespaces: bool,
    /// One pod by name.
    pub name: Option<String>,
    /// Pods matching this label selector.
    pub selector: Option<String>,
}

/// What the kubelet would find for a secret a pod uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "state",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum SecretState {
    /// It exists and the kubelet can read it.
    Usable {
        /// Its kubelet keys, in the order written.
        keys: Vec<String>,
        /// Whether this plugin manages it.
        managed: bool,
        /// The registry token id it records (this plugin's annotation), if any.
        token_id: Option<String>,
    },
    /// It does not exist.
    Missing,
    /// It could not be read (RBAC, ...).
    Unreadable {
        /// Why.
        detail: String,
    },
    /// The kubelet ignores it (another type, no data).
    Ignored {
        /// Why.
        detail: String,
    },
    /// The kubelet cannot read it: every pull of the pod fails.
    Malformed {
        /// Why.
        finding: String,
    },
}

/// A secret and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretEvidence {
    /// The secret's name.
    pub name: String,
    /// Its state.
    #[serde(flatten)]
    pub state: SecretState,
}

/// A credential the kubelet would try for the image, and what the registry said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialCheck {
    /// The secret.
    pub secret: String,
    /// The `auths` key as written.
    pub server: String,
    /// The kubelet's key.
    pub key: String,
    /// The credential's user name (never its password or token).
    pub username: String,
    /// Whether this plugin manages the secret.
    #[serde(skip)]
    pub managed: bool,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A key of the pod's secrets in the kubelet's order: used for the image, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyEvidence {
    /// The kubelet's key.
    pub key: String,
    /// The secret holding it.
    pub secret: String,
    /// Whether it matches the image.
    pub matched: bool,
    /// The rule that failed, if it does not.
    pub rule: Option<Rule>,
    /// The rule, said in full.
    pub detail: Option<String>,
}

/// A core v1 Event of the pod about pulling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventEvidence {
    /// `Warning` or `Normal`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The reason.
    pub reason: String,
    /// The message.
    pub message: String,
    /// How often it happened.
    pub count: i32,
}

/// A container's waiting state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Waiting {
    /// The reason (`ImagePullBackOff`, ...).
    pub reason: String,
    /// The message.
    pub message: String,
}

/// Everything known about one image of one pod.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// Namespace.
    pub namespace: String,
    /// Pod.
    pub pod: String,
    /// Container.
    pub container: String,
    /// Whether it is an init container.
    pub init: bool,
    /// The image as the pod names it.
    pub image: String,
    /// The pod's ServiceAccount.
    pub service_account: String,
    /// Whether the ServiceAccount exists.
    pub service_account_found: bool,
    /// The pull secrets the pod references, in its order (the kubelet's keyring).
    pub pod_secrets: Vec<SecretEvidence>,
    /// The pull secrets the ServiceAccount has now.
    pub service_account_secrets: Vec<SecretEvidence>,
    /// The keys of the pod's secrets, in the kubelet's order.
    pub keys: Vec<KeyEvidence>,
    /// The pull check of every matching credential, in the kubelet's order.
    pub checks: Vec<CredentialCheck>,
    /// The keys that did not match, and why.
    #[serde(skip)]
    pub misses: Vec<KeyMiss>,
    /// The pull check of the ServiceAccount's secrets the pod lacks that match the image.
    pub service_account_checks: Vec<CredentialCheck>,
    /// The pod's pull Events for this image.
    pub events: Vec<EventEvidence>,
    /// The container's waiting state, if it waits.
    pub waiting: Option<Waiting>,
    /// Why the kubelet cannot parse the image name, if it cannot.
    pub invalid_image: Option<String>,
}

impl Evidence {
    /// Whether the kubelet reports a failed pull of this image now.
    pub fn failing(&self) -> bool {
        self.waiting
            .as_ref()
            .is_some_and(|w| PULL_REASONS.contains(&w.reason.as_str()))
            || !self.events.is_empty()
    }
}

/// One image's diagnosis.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    /// The evidence.
    #[serde(flatten)]
    pub evidence: Evidence,
    /// The verdict's name (`PodPredatesSecret`, ...).
    pub reason: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// The fix.
    pub fix: String,
    /// Whether the image cannot be pulled.
    pub broken: bool,
}

impl Diagnosis {
    fn of(evidence: Evidence) -> Diagnosis {
        let verdict = decide(&evidence);
        let place = Place {
            namespace: &evidence.namespace,
            pod: &evidence.pod,
            service_account: &evidence.service_account,
            failing: evidence.failing(),
        };
        let fix = fix(&verdict, &place);
        Diagnosis {
            reason: verdict.name(),
            broken: verdict.is_broken(),
            verdict,
            fix,
            evidence,
        }
    }

    /// The secret the verdict is about (the first of the pod's when none), for the table.
    pub fn secret(&self) -> String {
        match &self.verdict {
            Verdict::Ok { secret, .. }
            | Verdict::FixKey { secret, .. }
            | Verdict::FixSecret { secret, .. }
            | Verdict::CredentialRefused { secret, .. }
            | Verdict::NotAuthorized { secret, .. } => secret.clone(),
            Verdict::CreateSecret { secrets } | Verdict::RecreatePod { secrets, .. } => {
                secrets.join(",")
            }
            _ => self
                .evidence
                .pod_secrets
                .iter()
                .map(|s| s.name.clone())
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

/// A namespace that was not looked at.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    /// The namespace.
    pub namespace: String,
    /// Why.
    pub reason: String,
}

/// The whole diagnosis.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// One per image of every diagnosed pod.
    pub items: Vec<Diagnosis>,
    /// Namespaces skipped (being terminated).
    pub skipped: Vec<Skipped>,
}

impl Report {
    /// How many images cannot be pulled.
    pub fn broken(&self) -> usize {
        self.items.iter().filter(|d| d.broken).count()
    }
}

/// What has been read from the cluster and the registries so far.
struct Reader<'a> {
    target: &'a Target,
    registries: &'a Registries,
    secrets: BTreeMap<(String, String), SecretRead>,
    events: BTreeMap<String, Vec<Event>>,
    pulls: BTreeMap<(String, String, String, String), Outcome>,
}

/// A secret as read.
#[derive(Clone)]
enum SecretRead {
    Found(Box<Secret>),
    Missing,
    Failed(String),
}

impl<'a> Reader<'a> {
    async fn secret(&mut self, namespace: &str, name: &str) -> SecretRead {
        let key = (namespace.to_string(), name.to_string());
        if let Some(read) = self.secrets.get(&key) {
            return read.clone();
        }
        let api: Api<Secret> = Api::namespaced(self.target.client.clone(), namespace);
        let read = match api.get_opt(name).await {
            Ok(Some(secret)) => SecretRead::Found(Box::new(secret)),
            Ok(None) => SecretRead::Missing,
            Err(e) => SecretRead::Failed(
                self.target
                    .in_namespace(namespace)
                    .error("get", "secret", name, e)
                    .to_string(),
            ),
        };
        self.secrets.insert(key, read.clone());
        read
    }

    /// The namespace's core v1 Events (none when they cannot be listed: logged at `-v 4`).
    async fn events(&mut self, namespace: &str) -> &[Event] {
        if !self.events.contains_key(namespace) {
            let api: Api<Event> = Api::namespaced(self.target.client.clone(), namespace);
            let events = match api.list(&ListParams::default()).await {
                Ok(list) => list.items,
                Err(e) => {
                    crate::trace::log(
                        4,
                        format!("the events of namespace {namespace} could not be listed: {e}"),
                    );
                    Vec::new()
                }
            };
            self.events.insert(namespace.to_string(), events);
        }
        &self.events[namespace]
    }

    /// The pull check of `image` with one credential, once per image, secret and key.
    async fn pull(
        &mut self,
        image: &matcher::ImageReference,
        entry: &matcher::KeyringEntry,
        namespace: &str,
    ) -> Outcome {
        let key = (
            image.name.clone() + ":" + image.reference(),
            namespace.to_string(),
            entry.source.clone(),
            entry.server.clone(),
        );
        if let Some(outcome) = self.pulls.get(&key) {
            return outcome.clone();
        }
        let outcome = pull::check_credential(self.registries, image, &entry.credential).await;
        self.pulls.insert(key, outcome.clone());
        outcome
    }
}

/// The state of a read secret, as the kubelet would take it.
fn state_of(read: &SecretRead) -> SecretState {
    let secret = match read {
        SecretRead::Missing => return SecretState::Missing,
        SecretRead::Failed(detail) => {
            return SecretState::Unreadable {
                detail: detail.clone(),
            };
        }
        SecretRead::Found(secret) => secret,
    };
    let config = matcher::secret_config(secret);
    if let Some(fatal) = config.fatal() {
        return SecretState::Malformed {
            finding: fatal.to_string(),
        };
    }
    if config.entries.is_empty() {
        let detail = config
            .findings
            .first()
            .map_or_else(|| "no entries".to_string(), ToString::to_string);
        return SecretState::Ignored { detail };
    }
    SecretState::Usable {
        keys: config
            .entries
            .iter()
            .filter_map(|e| e.key.clone().ok())
            .collect(),
        managed: manifests::is_managed(secret),
        token_id: secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(manifests::ANNOTATION_TOKEN_ID))
            .cloned(),
    }
}

/// The kubelet's keyring of the readable secrets among `names` (in that order).
fn keyring(names: &[String], reads: &BTreeMap<String, SecretRead>) -> Keyring {
    let mut keyring = Keyring::default();
    for name in names {
        if let Some(SecretRead::Found(secret)) = reads.get(name) {
            let config = matcher::secret_config(secret);
            if config.fatal().is_none() {
                keyring.add(name, &config);
            }
        }
    }
    keyring
}

/// The pull secrets of a pod, and of its ServiceAccount now.
struct Secrets {
    pod: Vec<String>,
    account: Vec<String>,
    account_found: bool,
    reads: BTreeMap<String, SecretRead>,
}

impl Secrets {
    fn evidence(&self, names: &[String]) -> Vec<SecretEvidence> {
        names
            .iter()
            .map(|name| SecretEvidence {
                name: name.clone(),
                state: self.reads.get(name).map_or(SecretState::Missing, state_of),
            })
            .collect()
    }

    fn is_managed(&self, name: &str) -> bool {
        matches!(self.reads.get(name), Some(SecretRead::Found(s)) if manifests::is_managed(s))
    }
}

/// The names in `refs` (`imagePullSecrets`), empty names left out.
fn names(refs: Option<&Vec<k8s_openapi::api::core::v1::LocalObjectReference>>) -> Vec<String> {
    refs.into_iter()
        .flatten()
        .map(|r| r.name.clone())
        .filter(|n| !n.is_empty())
        .collect()
}

/// Reads the pull secrets of `pod` and of its ServiceAccount.
async fn secrets_of(reader: &mut Reader<'_>, pod: &Pod, account: &str) -> anyhow::Result<Secrets> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let pod_refs = names(
        pod.spec
            .as_ref()
            .and_then(|s| s.image_pull_secrets.as_ref()),
    );
    let api: Api<ServiceAccount> = Api::namespaced(reader.target.client.clone(), &namespace);
    let sa = api.get_opt(account).await.map_err(|e| {
        reader
            .target
            .in_namespace(&namespace)
            .error("get", "serviceaccount", account, e)
    })?;
    let account_refs = names(sa.as_ref().and_then(|sa| sa.image_pull_secrets.as_ref()));
    let mut reads = BTreeMap::new();
    for name in pod_refs.iter().chain(&account_refs) {
        let read = reader.secret(&namespace, name).await;
        reads.insert(name.clone(), read);
    }
    Ok(Secrets {
        pod: pod_refs,
        account: account_refs,
        account_found: sa.is_some(),
        reads,
    })
}

/// The matching credentials of `keyring` for `image`, each pulled.
async fn checks(
    reader: &mut Reader<'_>,
    keyring: &Keyring,
    image: &matcher::ImageReference,
    secrets: &Secrets,
    namespace: &str,
) -> Vec<CredentialCheck> {
    let lookup = keyring.lookup(image);
    let mut checks = Vec::new();
    for entry in lookup.matches {
        let outcome = reader.pull(image, entry, namespace).await;
        checks.push(CredentialCheck {
            secret: entry.source.clone(),
            server: entry.server.clone(),
            key: entry.key.clone(),
            username: entry.credential.username.clone(),
            managed: secrets.is_managed(&entry.source),
            outcome,
        });
    }
    checks
}

/// The keys of `keyring` in the kubelet's order, matched or not.
fn keys(keyring: &Keyring, misses: &[KeyMiss]) -> Vec<KeyEvidence> {
    keyring
        .index()
        .iter()
        .map(|key| {
            let miss = misses.iter().find(|m| &m.key == key);
            KeyEvidence {
                key: key.clone(),
                secret: keyring.source_of(key).unwrap_or_default().to_string(),
                matched: miss.is_none(),
                rule: miss.map(|m| m.rule),
                detail: miss.map(|m| m.detail.clone()),
            }
        })
        .collect()
}

/// One container (or init container) of a pod to diagnose.
struct Container<'p> {
    name: &'p str,
    image: &'p str,
    init: bool,
}

/// The containers of `pod`, init containers first (the kubelet pulls them first).
fn containers(pod: &Pod) -> Vec<Container<'_>> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let init = spec.init_containers.iter().flatten().map(|c| (c, true));
    init.chain(spec.containers.iter().map(|c| (c, false)))
        .filter_map(|(c, init)| {
            Some(Container {
                name: &c.name,
                image: c.image.as_deref()?,
                init,
            })
        })
        .collect()
}

/// The waiting state of container `name`.
fn waiting(pod: &Pod, name: &str, init: bool) -> Option<Waiting> {
    let status = pod.status.as_ref()?;
    let statuses = if init {
        status.init_container_statuses.as_ref()
    } else {
        status.container_statuses.as_ref()
    }?;
    let waiting = statuses
        .iter()
        .find(|s| s.name == name)?
        .state
        .as_ref()?
        .waiting
        .as_ref()?;
    Some(Waiting {
        reason: waiting.reason.clone().unwrap_or_default(),
        message: waiting.message.clone().unwrap_or_default(),
    })
}

/// Whether `event` is a pull event (the secret event, or a failed or backed-off pull).
fn is_pull_event(event: &Event) -> bool {
    let reason = event.reason.as_deref().unwrap_or_default();
    let message = event.message.as_deref().unwrap_or_default();
    reason == SECRET_EVENT
        || PULL_REASONS.contains(&reason)
        || (matches!(reason, "Failed" | "BackOff")
            && (PULL_REASONS.iter().any(|r| message.contains(r))
                || message.contains("pull image")
                || message.contains("pulling image")))
}

/// The pull events of `pod` about container `name` (or the whole pod).
fn events_for(events: &[Event], pod: &Pod, name: &str, init: bool) -> Vec<EventEvidence> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    let field = if init {
        format!("spec.initContainers{{{name}}}")
    } else {
        format!("spec.containers{{{name}}}")
    };
    events
        .iter()
        .filter(|e| {
            e.involved_object.name.as_deref() == Some(pod_name)
                && e.involved_object.kind.as_deref().is_none_or(|k| k == "Pod")
                && (e.involved_object.uid.is_none() || e.involved_object.uid == pod.metadata.uid)
                && e.involved_object
                    .field_path
                    .as_deref()
                    .is_none_or(|f| f.is_empty() || f == field)
                && is_pull_event(e)
        })
        .map(|e| EventEvidence {
            type_: e.type_.clone().unwrap_or_default(),
            reason: e.reason.clone().unwrap_or_default(),
            message: crate::text::printable(e.message.as_deref().unwrap_or_default()),
            count: e.count.unwrap_or(1),
        })
        .collect()
}

/// Whether the kubelet reports a failed pull for `pod` (container statuses or events).
fn is_failing(pod: &Pod, events: &[Event]) -> bool {
    containers(pod).iter().any(|c| {
        waiting(pod, c.name, c.init).is_some_and(|w| PULL_REASONS.contains(&w.reason.as_str()))
            || !events_for(events, pod, c.name, c.init).is_empty()
    })
}

/// The evidence about one container of `pod`.
async fn evidence(
    reader: &mut Reader<'_>,
    pod: &Pod,
    container: &Container<'_>,
    secrets: &Secrets,
) -> Evidence {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let events = reader.events(&namespace).await.to_vec();
    let mut evidence = Evidence {
        namespace: namespace.clone(),
        pod: pod.metadata.name.clone().unwrap_or_default(),
        container: container.name.to_string(),
        init: container.init,
        image: container.image.to_string(),
        service_account: account_of(pod),
        service_account_found: secrets.account_found,
        pod_secrets: secrets.evidence(&secrets.pod),
        service_account_secrets: secrets.evidence(&secrets.account),
        events: events_for(&events, pod, container.name, container.init),
        waiting: waiting(pod, container.name, container.init),
        ..Evidence::default()
    };
    let image = match pull::parse(container.image) {
        Ok(image) => image,
        Err(outcome) => {
            if let Outcome::InvalidImage { detail } = outcome {
                evidence.invalid_image = Some(detail);
            }
            return evidence;
        }
    };
    let own = keyring(&secrets.pod, &secrets.reads);
    evidence.misses = pull::misses(&own, &image);
    evidence.keys = keys(&own, &evidence.misses);
    evidence.checks = checks(reader, &own, &image, secrets, &namespace).await;
    let lacking: Vec<String> = secrets
        .account
        .iter()
        .filter(|s| !secrets.pod.contains(s))
        .cloned()
        .collect();
    let theirs = keyring(&lacking, &secrets.reads);
    evidence.service_account_checks = checks(reader, &theirs, &image, secrets, &namespace).await;
    evidence
}

/// The pod's ServiceAccount (`default` when it names none).
fn account_of(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

/// The diagnoses of every image of `pod`.
async fn diagnose_pod(reader: &mut Reader<'_>, pod: &Pod) -> anyhow::Result<Vec<Diagnosis>> {
    let secrets = secrets_of(reader, pod, &account_of(pod)).await?;
    let mut out = Vec::new();
    for container in containers(pod) {
        let evidence = evidence(reader, pod, &container, &secrets).await;
        out.push(Diagnosis::of(evidence));
    }
    Ok(out)
}

/// The namespaces being terminated, when every namespace is looked at.
async fn terminating(target: &Target) -> anyhow::Result<BTreeSet<String>> {
    let api: Api<Namespace> = Api::all(target.client.clone());
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| target.error("list", "namespaces", "", e))?;
    Ok(list
        .items
        .iter()
        .filter(|ns| select::is_terminating(ns))
        .filter_map(|ns| ns.metadata.name.clone())
        .collect())
}

/// The pods `selection` names, by name, by label or all (in the namespace or everywhere).
async fn pods(target: &Target, selection: &Selection) -> anyhow::Result<Vec<Pod>> {
    let client = target.client.clone();
    if let Some(name) = &selection.name {
        let api: Api<Pod> = Api::namespaced(client, &target.namespace);
        let pod = api
            .get(name)
            .await
            .map_err(|e| target.error("get", "pod", name, e))?;
        return Ok(vec![pod]);
    }
    let api: Api<Pod> = if selection.all_namespaces {
        Api::all(client)
    } else {
        Api::namespaced(client, &target.namespace)
    };
    let mut params = ListParams::default();
    if let Some(selector) = &selection.selector {
        params = params.labels(selector);
    }
    let list = api
        .list(&params)
        .await
        .map_err(|e| target.error("list", "pods", "", e))?;
    Ok(list.items)
}

/// Diagnoses the pods of `selection`: by name or label every one, otherwise those the kubelet
/// reports failing to pull (container statuses or events). With `-A`, a namespace being
/// terminated is skipped (one [`Skipped`] each).
pub async fn diagnose(
    target: &Target,
    selection: &Selection,
    registries: &Registries,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let gone = if selection.all_namespaces {
        terminating(target).await?
    } else {
        BTreeSet::new()
    };
    report.skipped = gone
        .iter()
        .map(|namespace| Skipped {
            namespace: namespace.clone(),
            reason: "it is being terminated (phase Terminating); its pods were not diagnosed"
                .into(),
        })
        .collect();
    let mut reader = Reader {
        target,
        registries,
        secrets: BTreeMap::new(),
        events: BTreeMap::new(),
        pulls: BTreeMap::new(),
    };
    let every = selection.name.is_some() || selection.selector.is_some();
    for pod in pods(target, selection).await? {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        if gone.contains(&namespace) {
            continue;
        }
        if !every && !is_failing(&pod, reader.events(&namespace).await) {
            continue;
        }
        report.items.extend(diagnose_pod(&mut reader, &pod).await?);
    }
    Ok(report)
}

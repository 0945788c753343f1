//! The one verdict per image, and its fix, from the evidence ([`Evidence`]): pure, so every
//! rule of the decision is a unit test.
//!
//! The order follows what the kubelet does: a secret it cannot read fails every pull of the
//! Pod; otherwise the Pod's secrets' matching credentials are tried in the kubelet's order and
//! the first that pulls wins; only when none matches does it matter which secret is missing,
//! which one the ServiceAccount has but the Pod lacks, and which key missed by which rule.

use serde::Serialize;

use super::{Evidence, SecretState};
use crate::engine::pull::{KeyMiss, Outcome};

/// What is wrong with one image of a Pod, as the kubelet sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Verdict {
    /// It pulls with this secret's credential.
    Ok {
        /// The secret whose credential pulls it.
        secret: String,
        /// The digest it resolves to.
        digest: String,
    },
    /// The Pod references secrets that do not exist.
    CreateSecret {
        /// The missing secrets.
        secrets: Vec<String>,
    },
    /// The ServiceAccount has a secret that would pull it, but the Pod does not reference it.
    RecreatePod {
        /// The ServiceAccount's secrets that would pull it.
        secrets: Vec<String>,
        /// Whether the Pod lists no pull secret at all (then a recreated Pod gets them).
        pod_lists_none: bool,
    },
    /// No key of the Pod's secrets matches the image.
    FixKey {
        /// The secret whose keys missed first.
        secret: String,
        /// Every key and the rule that failed.
        misses: Vec<KeyMiss>,
    },
    /// The kubelet cannot read a secret of the Pod: every pull of the Pod fails.
    FixSecret {
        /// The secret.
        secret: String,
        /// Why.
        finding: String,
    },
    /// The registry refuses the credential.
    CredentialRefused {
        /// The secret.
        secret: String,
        /// Whether this plugin manages it (`secret rotate` replaces its token).
        managed: bool,
        /// What the registry said, if anything.
        reason: Option<String>,
        /// HTTP status.
        status: u16,
    },
    /// The credential is accepted but may not pull the repository.
    NotAuthorized {
        /// The secret.
        secret: String,
        /// The repository.
        repository: String,
        /// HTTP status.
        status: u16,
    },
    /// The tag does not exist.
    TagMissing {
        /// The tag.
        tag: String,
        /// The nearest existing tags.
        nearest: Vec<String>,
    },
    /// The repository does not exist.
    RepositoryMissing {
        /// The repository.
        repository: String,
    },
    /// The registry cannot be reached.
    Unreachable {
        /// Why.
        detail: String,
    },
    /// The registry answered something the check cannot read: nothing proven.
    Unverified {
        /// What it answered.
        detail: String,
    },
    /// Neither the Pod nor its ServiceAccount has any pull secret for the image.
    NoPullSecret,
    /// The kubelet cannot parse the image name.
    InvalidImage {
        /// Why.
        detail: String,
    },
}

impl Verdict {
    /// The short name in the table's VERDICT column (kubectl's CamelCase reasons).
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Ok { .. } => "OK",
            Verdict::CreateSecret { .. } => "SecretMissing",
            Verdict::RecreatePod { .. } => "PodPredatesSecret",
            Verdict::FixKey { .. } => "KeyMismatch",
            Verdict::FixSecret { .. } => "SecretUnreadable",
            Verdict::CredentialRefused { .. } => "CredentialRefused",
            Verdict::NotAuthorized { .. } => "NotAuthorized",
            Verdict::TagMissing { .. } => "TagNotFound",
            Verdict::RepositoryMissing { .. } => "RepositoryNotFound",
            Verdict::Unreachable { .. } => "RegistryUnreachable",
            Verdict::Unverified { .. } => "Unverified",
            Verdict::NoPullSecret => "NoPullSecret",
            Verdict::InvalidImage { .. } => "InvalidImageName",
        }
    }

    /// Whether the image cannot be pulled.
    pub fn is_broken(&self) -> bool {
        !matches!(self, Verdict::Ok { .. })
    }
}

/// The verdict of a credential's outcome that did not pull.
fn of_outcome(secret: &str, managed: bool, outcome: &Outcome) -> Verdict {
    let secret = secret.to_string();
    match outcome.clone() {
        Outcome::Found { digest } => Verdict::Ok { secret, digest },
        Outcome::TagMissing { tag, nearest } => Verdict::TagMissing { tag, nearest },
        Outcome::RepositoryMissing { repository } => Verdict::RepositoryMissing { repository },
        Outcome::CredentialRefused { status, reason, .. } => Verdict::CredentialRefused {
            secret,
            managed,
            reason,
            status,
        },
        Outcome::NotAuthorized {
            repository, status, ..
        } => Verdict::NotAuthorized {
            secret,
            repository,
            status,
        },
        Outcome::Unreachable { detail } => Verdict::Unreachable { detail },
        Outcome::Unexpected { detail } => Verdict::Unverified { detail },
        Outcome::NoMatchingKey { misses } => Verdict::FixKey {
            secret: misses.first().map(|m| m.secret.clone()).unwrap_or(secret),
            misses,
        },
        Outcome::MalformedAuth { secret, finding } => Verdict::FixSecret { secret, finding },
        Outcome::InvalidImage { detail } => Verdict::InvalidImage { detail },
    }
}

/// The one verdict for the image the evidence is about.
pub fn decide(evidence: &Evidence) -> Verdict {
    if let Some(detail) = &evidence.invalid_image {
        return Verdict::InvalidImage {
            detail: detail.clone(),
        };
    }
    let unreadable = evidence.pod_secrets.iter().find_map(|s| match &s.state {
        SecretState::Malformed { finding } => Some((s.name.clone(), finding.clone())),
        _ => None,
    });
    if let Some((secret, finding)) = unreadable {
        return Verdict::FixSecret { secret, finding };
    }
    if let Some(found) = evidence.checks.iter().find(|c| c.outcome.is_found()) {
        return of_outcome(&found.secret, found.managed, &found.outcome);
    }
    if let Some(first) = evidence.checks.first() {
        return of_outcome(&first.secret, first.managed, &first.outcome);
    }
    unmatched(evidence)
}

/// The verdict when no credential of the Pod's secrets matches the image: a missing secret,
/// then the ServiceAccount's secret a pod listing none lacks, then the key that missed, then
/// the ServiceAccount's secret a pod listing others lacks.
fn unmatched(evidence: &Evidence) -> Verdict {
    let missing: Vec<String> = evidence
        .pod_secrets
        .iter()
        .filter(|s| matches!(s.state, SecretState::Missing))
        .map(|s| s.name.clone())
        .collect();
    if !missing.is_empty() {
        return Verdict::CreateSecret { secrets: missing };
    }
    let mut from_account: Vec<String> = evidence
        .service_account_checks
        .iter()
        .map(|c| c.secret.clone())
        .collect();
    from_account.dedup();
    let pod_lists_none = evidence.pod_secrets.is_empty();
    let recreate = Verdict::RecreatePod {
        secrets: from_account.clone(),
        pod_lists_none,
    };
    if !from_account.is_empty() && pod_lists_none {
        return recreate;
    }
    // The pod's own secret is meant for this registry: its key is what to fix first.
    if let Some(first) = evidence.misses.first() {
        return Verdict::FixKey {
            secret: first.secret.clone(),
            misses: evidence.misses.clone(),
        };
    }
    if !from_account.is_empty() {
        return recreate;
    }
    Verdict::NoPullSecret
}

/// Where the fix commands point: the Pod's namespace, name and ServiceAccount.
pub struct Place<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// Pod.
    pub pod: &'a str,
    /// The Pod's ServiceAccount.
    pub service_account: &'a str,
    /// Whether the kubelet reports a pull failure now (container status or events).
    pub failing: bool,
}

/// The fix for `verdict`, one line, with the command to run where there is one.
pub fn fix(verdict: &Verdict, at: &Place) -> String {
    let ns = at.namespace;
    match verdict {
        Verdict::Ok { secret, .. } if at.failing => format!(
            "none: secret/{secret} pulls it now; the kubelet retries within 5 minutes (its back-off is capped at 300 s)"
        ),
        Verdict::Ok { .. } => "none".to_string(),
        Verdict::CreateSecret { secrets } => secrets
            .iter()
            .map(|s| format!("create it: `kubectl dedicated-registry secret create {s} -n {ns}`"))
            .collect::<Vec<_>>()
            .join("; "),
        Verdict::RecreatePod {
            secrets,
            pod_lists_none,
        } => recreate(secrets, *pod_lists_none, at),
        Verdict::FixKey { secret, misses } => {
            let rules: Vec<String> = misses
                .iter()
                .filter(|m| &m.secret == secret)
                .map(KeyMiss::describe)
                .collect();
            format!(
                "fix the key of secret/{secret}: the kubelet would not use it ({})",
                rules.join("; ")
            )
        }
        Verdict::FixSecret { secret, finding } => format!(
            "the kubelet cannot read secret/{secret} ({finding}), so every pull of the pod fails; replace it: `kubectl dedicated-registry secret create {secret} -n {ns} --overwrite`"
        ),
        Verdict::NoPullSecret => format!(
            "no pull secret for this registry: create one and give it to the ServiceAccount (`kubectl dedicated-registry secret create {} -n {ns} --service-account {}`), then recreate the pod",
            crate::manifests::DEFAULT_SECRET_NAME,
            at.service_account
        ),
        other => fix_registry(other, ns),
    }
}

/// The fix of a Pod that lacks the ServiceAccount's secret.
fn recreate(secrets: &[String], pod_lists_none: bool, at: &Place) -> String {
    let names = secrets
        .iter()
        .map(|s| format!("secret/{s}"))
        .collect::<Vec<_>>()
        .join(", ");
    let account = at.service_account;
    if pod_lists_none {
        format!(
            "recreate the pod: its ServiceAccount `{account}` has {names} now, but the pod predates it (ServiceAccount admission copies imagePullSecrets only when a pod is created, and only when the pod lists none)"
        )
    } else {
        format!(
            "add {names} to the pod's imagePullSecrets (in its controller's template) and recreate it: its ServiceAccount `{account}` has it, but ServiceAccount admission copies imagePullSecrets only when a pod is created, and only when the pod lists none (this one lists some)"
        )
    }
}

/// The fix of what the registry said.
fn fix_registry(verdict: &Verdict, ns: &str) -> String {
    match verdict {
        Verdict::CredentialRefused {
            secret,
            managed,
            reason,
            status,
        } => {
            let said = reason
                .as_deref()
                .map_or_else(String::new, |r| format!(": \"{r}\""));
            let how = if *managed {
                format!("`kubectl dedicated-registry secret rotate {secret} -n {ns}`")
            } else {
                format!("`kubectl dedicated-registry secret create {secret} -n {ns} --overwrite`")
            };
            format!(
                "the registry refuses the credential of secret/{secret} (HTTP {status}{said}); give it a new one: {how}"
            )
        }
        Verdict::NotAuthorized {
            secret,
            repository,
            status,
        } => format!(
            "the credential of secret/{secret} may not pull `{repository}` (HTTP {status}): the repository's registry namespace may not belong to the token's org; `kubectl dedicated-registry image list` shows what the login can see"
        ),
        Verdict::TagMissing { tag, nearest } if nearest.is_empty() => {
            format!("tag `{tag}` does not exist, and the repository has no tags: fix the image")
        }
        Verdict::TagMissing { tag, nearest } => format!(
            "tag `{tag}` does not exist (nearest existing tags: {}): fix the image",
            nearest.join(", ")
        ),
        Verdict::RepositoryMissing { repository } => format!(
            "repository `{repository}` does not exist: fix the image (`kubectl dedicated-registry image list` shows the images)"
        ),
        Verdict::Unreachable { detail } => format!(
            "the registry cannot be reached from here ({detail}); check the network, DNS and proxy from here and from the node"
        ),
        Verdict::Unverified { detail } => {
            format!("the pull could not be checked: {detail}")
        }
        Verdict::InvalidImage { detail } => {
            format!("the kubelet cannot parse the image name ({detail}): fix the image")
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::diagnose::{CredentialCheck, SecretEvidence};

    fn check(secret: &str, outcome: Outcome) -> CredentialCheck {
        CredentialCheck {
            secret: secret.into(),
            server: "r.example".into(),
            key: "r.example".into(),
            username: "token".into(),
            managed: true,
            outcome,
        }
    }

    fn secret(name: &str, state: SecretState) -> SecretEvidence {
        SecretEvidence {
            name: name.into(),
            state,
        }
    }

    fn usable() -> SecretState {
        SecretState::Usable {
            keys: vec!["r.example".into()],
            managed: true,
            token_id: None,
        }
    }

    #[test]
    fn the_first_credential_that_pulls_wins_as_in_the_kubelet() {
        let refused = Outcome::CredentialRefused {
            status: 401,
            reason: None,
            message: "no".into(),
        };
        let found = Outcome::Found {
            digest: "sha256:x".into(),
        };
        let mut evidence = Evidence {
            pod_secrets: vec![secret("a", usable()), secret("b", usable())],
            checks: vec![check("a", refused.clone()), check("b", found)],
            ..Evidence::default()
        };
        assert!(matches!(decide(&evidence), Verdict::Ok { secret, .. } if secret == "b"));
        evidence.checks.pop();
        assert!(
            matches!(decide(&evidence), Verdict::CredentialRefused { secret, .. } if secret == "a")
        );
    }

    #[test]
    fn without_a_match_missing_then_service_account_then_keys() {
        let mut evidence = Evidence {
            pod_secrets: vec![secret("gone", SecretState::Missing)],
            service_account_checks: vec![check(
                "sa",
                Outcome::Found {
                    digest: "sha256:x".into(),
                },
            )],
            ..Evidence::default()
        };
        assert_eq!(
            decide(&evidence),
            Verdict::CreateSecret {
                secrets: vec!["gone".into()]
            }
        );
        evidence.pod_secrets.clear();
        assert_eq!(
            decide(&evidence),
            Verdict::RecreatePod {
                secrets: vec!["sa".into()],
                pod_lists_none: true
            }
        );
        // A pod with its own secret for the registry: its key is what to fix.
        evidence.pod_secrets = vec![secret("own", usable())];
        evidence.misses = vec![KeyMiss {
            secret: "own".into(),
            key: "r.example".into(),
            rule: crate::engine::pull::Rule::Port,
            detail: "port differs".into(),
        }];
        assert!(matches!(decide(&evidence), Verdict::FixKey { secret, .. } if secret == "own"));
        evidence.misses.clear();
        assert_eq!(
            decide(&evidence),
            Verdict::RecreatePod {
                secrets: vec!["sa".into()],
                pod_lists_none: false
            }
        );
        evidence.pod_secrets.clear();
        evidence.service_account_checks.clear();
        assert_eq!(decide(&evidence), Verdict::NoPullSecret);
        evidence.pod_secrets = vec![secret(
            "bad",
            SecretState::Malformed {
                finding: "x".into(),
            },
        )];
        assert!(matches!(decide(&evidence), Verdict::FixSecret { .. }));
    }

    #[test]
    fn fixes_name_the_command() {
        let at = Place {
            namespace: "team-a",
            pod: "web",
            service_account: "default",
            failing: true,
        };
        let refused = Verdict::CredentialRefused {
            secret: "regcred".into(),
            managed: false,
            reason: Some("registry token revoked".into()),
            status: 401,
        };
        assert_eq!(
            fix(&refused, &at),
            "the registry refuses the credential of secret/regcred (HTTP 401: \"registry token revoked\"); give it a new one: `kubectl dedicated-registry secret create regcred -n team-a --overwrite`"
        );
        let lists_some = Verdict::RecreatePod {
            secrets: vec!["regcred".into()],
            pod_lists_none: false,
        };
        assert!(
            fix(&lists_some, &at).starts_with("add secret/regcred to the pod's imagePullSecrets")
        );
    }
}

//! What the current cluster holds: its pull secrets and the registry tokens in them, for
//! `secret list`, `token list` (IN-USE) and `token prune`. One LIST across all namespaces (or
//! of one namespace); the pure parts (which token ids a secret holds, who holds each token,
//! kubectl's AGE) are unit-tested.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};

use crate::cluster::Target;
use crate::{jwt, manifests};

/// The label selector of the secrets this plugin manages.
pub fn managed_selector() -> ListParams {
    ListParams::default().labels(&format!("{}={}", manifests::MANAGED_BY, manifests::MANAGER))
}

/// Every `kubernetes.io/dockerconfigjson` secret (managed or not: a copy of a managed secret
/// still holds its token).
pub fn pull_secret_selector() -> ListParams {
    ListParams::default().fields(&format!("type={}", manifests::DOCKERCONFIGJSON_TYPE))
}

/// Lists the secrets `params` selects in `namespace`, or in every namespace (one cluster-wide
/// LIST) when `None`. The error says where the list was refused and what to do.
pub async fn list_secrets(
    target: &Target,
    namespace: Option<&str>,
    params: &ListParams,
) -> anyhow::Result<Vec<Secret>> {
    let (api, scope): (Api<Secret>, Target) = match namespace {
        Some(ns) => (
            Api::namespaced(target.client.clone(), ns),
            target.in_namespace(ns),
        ),
        None => (Api::all(target.client.clone()), target.in_namespace("*")),
    };
    let list = api
        .list(params)
        .await
        .map_err(|e| scope.error("list", "secrets", "*", e))
        .with_context(|| match namespace {
            Some(ns) => format!("cannot list the secrets of namespace `{ns}`"),
            None => format!(
                "cannot list secrets across all namespaces of {}",
                target.server
            ),
        })?;
    let mut items = list.items;
    items.sort_by_key(key);
    Ok(items)
}

/// `(namespace, name)` of an object, for sorting and messages.
pub fn key(secret: &Secret) -> (String, String) {
    (
        secret.metadata.namespace.clone().unwrap_or_default(),
        secret.metadata.name.clone().unwrap_or_default(),
    )
}

/// `namespace/name`.
pub fn qualified(secret: &Secret) -> String {
    let (namespace, name) = key(secret);
    format!("{namespace}/{name}")
}

/// The token id a pull secret records for `registry` (its annotation, when the secret is of
/// that registry), else the `jti` of its credential for `registry`.
pub fn recorded_token_id(secret: &Secret, registry: &str) -> Option<String> {
    token_ids(secret, registry).into_iter().next()
}

/// Every token id a pull secret holds for `registry`: the id in its annotation (when the
/// secret's registry annotation is `registry`) and the `jti` of its credential for `registry`.
/// Both are counted, so an edited annotation can only make more tokens look used, never fewer.
pub fn token_ids(secret: &Secret, registry: &str) -> Vec<String> {
    let mut ids = Vec::new();
    if manifests::annotation(secret, manifests::ANNOTATION_REGISTRY) == Some(registry)
        && let Some(id) = manifests::annotation(secret, manifests::ANNOTATION_TOKEN_ID)
    {
        ids.push(id.to_string());
    }
    if let Some((_, password, _)) = manifests::existing_credential(secret, registry)
        && let Some(jti) = jwt::string_claim(&password, "jti")
        && !ids.contains(&jti)
    {
        ids.push(jti);
    }
    ids
}

/// Which secrets hold each token of `registry`: token id → `namespace/name`, sorted.
pub fn holders(secrets: &[Secret], registry: &str) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for secret in secrets {
        for id in token_ids(secret, registry) {
            map.entry(id).or_default().insert(qualified(secret));
        }
    }
    map.into_iter()
        .map(|(id, set)| (id, set.into_iter().collect()))
        .collect()
}

/// The IN-USE cell: `-`, `team-a/regcred`, or `team-a/regcred +3`.
pub fn in_use_cell(holders: Option<&Vec<String>>) -> String {
    match holders.map(Vec::as_slice) {
        None | Some([]) => "-".to_string(),
        Some([one]) => one.clone(),
        Some([first, rest @ ..]) => format!("{first} +{}", rest.len()),
    }
}

/// Seconds since the object was created, for AGE.
pub fn age_seconds(secret: &Secret, now: std::time::SystemTime) -> Option<i64> {
    let created = secret.metadata.creation_timestamp.as_ref()?.0.as_second();
    let now = now.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(now - created)
}

/// kubectl's AGE (`k8s.io/apimachinery/pkg/util/duration.HumanDuration`).
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return match seconds % 60 {
            0 => format!("{minutes}m"),
            s => format!("{minutes}m{s}s"),
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return match minutes % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return match days % 365 {
            0 => format!("{years}y"),
            d => format!("{years}y{d}d"),
        };
    }
    format!("{years}y")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn jwt_with_jti(jti: &str) -> String {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!(r#"{{"jti":"{jti}","iss":"r.x"}}"#));
        format!("eyJhbGciOiJIUzI1NiJ9.{payload}.sig")
    }

    fn secret(ns: &str, name: &str, registry: &str, token_jti: &str, recorded: &str) -> Secret {
        let mut s = manifests::pull_secret(
            name,
            ns,
            &manifests::PullSecretSpec {
                registry,
                username: "token",
                token: &jwt_with_jti(token_jti),
                token_id: recorded,
                email: "",
                readwrite: false,
            },
        );
        s.metadata.namespace = Some(ns.into());
        s
    }

    #[test]
    fn token_ids_come_from_the_annotation_and_the_credential() {
        let s = secret("a", "x", "r.x", "id-1", "id-1");
        assert_eq!(token_ids(&s, "r.x"), vec!["id-1".to_string()]);
        // An edited annotation adds an id; it cannot hide the credential's.
        let edited = secret("a", "x", "r.x", "id-1", "id-2");
        assert_eq!(
            token_ids(&edited, "r.x"),
            vec!["id-2".to_string(), "id-1".to_string()]
        );
        assert_eq!(recorded_token_id(&edited, "r.x").as_deref(), Some("id-2"));
        // Another registry's secret holds nothing of this one.
        assert!(token_ids(&s, "other.x").is_empty());
        // A copy without annotations still holds the token.
        let mut copy = s.clone();
        copy.metadata.annotations = None;
        assert_eq!(token_ids(&copy, "r.x"), vec!["id-1".to_string()]);
    }

    #[test]
    fn holders_and_in_use_cells() {
        let secrets = [
            secret("team-b", "regcred", "r.x", "shared", "shared"),
            secret("team-a", "regcred", "r.x", "shared", "shared"),
            secret("team-c", "regcred", "r.x", "shared", "shared"),
            secret("team-a", "solo", "r.x", "solo", "solo"),
        ];
        let map = holders(&secrets, "r.x");
        assert_eq!(
            map["shared"],
            vec!["team-a/regcred", "team-b/regcred", "team-c/regcred"]
        );
        assert_eq!(in_use_cell(map.get("shared")), "team-a/regcred +2");
        assert_eq!(in_use_cell(map.get("solo")), "team-a/solo");
        assert_eq!(in_use_cell(map.get("nobody")), "-");
    }

    #[test]
    fn ages_read_like_kubectl() {
        for (secs, text) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600 - 1, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60, "3h1m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (48 * 3600, "2d"),
            (49 * 3600, "2d1h"),
            (8 * 86400, "8d"),
            (2 * 365 * 86400, "2y"),
            (2 * 365 * 86400 + 86400, "2y1d"),
            (9 * 365 * 86400, "9y"),
        ] {
            assert_eq!(human_duration(secs), text, "{secs}");
        }
    }
}

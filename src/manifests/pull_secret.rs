//! The pull Secret: the exact `.dockerconfigjson` bytes, the managed Secret, reading credentials
//! back out of any pull secret, and the pure changes made to existing Secrets.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::*;

/// Go's `json.Marshal` string escaping: like serde_json, plus `<`, `>`, `&`, U+2028 and U+2029.
fn go_json_string(s: &str) -> String {
    let json = serde_json::to_string(s).expect("strings always serialize");
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// The exact `.dockerconfigjson` bytes `kubectl create secret docker-registry` writes
/// (protocol.md §7.1): compact, fields `username, password, email, auth`, `email` omitted when
/// empty, `auth` = standard base64 of `username:password`.
pub fn docker_config_json(server: &str, username: &str, password: &str, email: &str) -> Vec<u8> {
    let auth = STANDARD.encode(format!("{username}:{password}"));
    let mut entry = format!(
        "\"username\":{},\"password\":{}",
        go_json_string(username),
        go_json_string(password)
    );
    if !email.is_empty() {
        entry.push_str(&format!(",\"email\":{}", go_json_string(email)));
    }
    entry.push_str(&format!(",\"auth\":{}", go_json_string(&auth)));
    format!("{{\"auths\":{{{}:{{{entry}}}}}}}", go_json_string(server)).into_bytes()
}

/// What goes into a pull secret besides its name.
#[derive(Clone)]
pub struct PullSecretSpec<'a> {
    /// Registry host (the `auths` key).
    pub registry: &'a str,
    /// The credential's username (the provider's: `token` for Dedicated).
    pub username: &'a str,
    /// The token, or [`PLACEHOLDER_TOKEN`].
    pub token: &'a str,
    /// Token id for the annotation; empty for a placeholder.
    pub token_id: &'a str,
    /// Optional e-mail.
    pub email: &'a str,
    /// Whether the token can push.
    pub readwrite: bool,
}

/// The pull Secret, labelled and annotated as managed by this plugin.
pub fn pull_secret(name: &str, namespace: &str, spec: &PullSecretSpec<'_>) -> Secret {
    let bytes = docker_config_json(spec.registry, spec.username, spec.token, spec.email);
    if spec.token != PLACEHOLDER_TOKEN {
        // A server may echo the object back in an error: scrub its encodings too.
        crate::redact::register(&String::from_utf8_lossy(&bytes));
    }
    let mut annotations = BTreeMap::from([
        (ANNOTATION_REGISTRY.to_string(), spec.registry.to_string()),
        (
            ANNOTATION_ACCESS.to_string(),
            if spec.readwrite {
                "read-write"
            } else {
                "read-only"
            }
            .to_string(),
        ),
    ]);
    if !spec.token_id.is_empty() {
        annotations.insert(ANNOTATION_TOKEN_ID.to_string(), spec.token_id.to_string());
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                MANAGED_BY.to_string(),
                MANAGER.to_string(),
            )])),
            annotations: Some(annotations),
            ..Default::default()
        },
        type_: Some(DOCKERCONFIGJSON_TYPE.to_string()),
        data: Some(BTreeMap::from([(
            DOCKERCONFIGJSON_KEY.to_string(),
            ByteString(bytes),
        )])),
        ..Default::default()
    }
}

/// Marks a pull secret as holding the cluster's shared token.
pub fn mark_shared(secret: &mut Secret) {
    secret.metadata.annotations.get_or_insert_default().insert(
        ANNOTATION_TOKEN_SCOPE.to_string(),
        SCOPE_CLUSTER.to_string(),
    );
}

/// Whether a pull secret holds the cluster's shared token (see [`mark_shared`]).
pub fn is_shared(secret: &Secret) -> bool {
    annotation(secret, ANNOTATION_TOKEN_SCOPE) == Some(SCOPE_CLUSTER)
}

/// A copy of `secret` without its credential, for printing without `--show-token`. `data` is
/// left out entirely (as kubectl-neat does) rather than replaced: a placeholder credential
/// applied with `kubectl apply` would silently break a working secret, while an object without
/// `data` cannot replace one (a new `dockerconfigjson` Secret without it is refused).
pub fn redacted(secret: &Secret) -> Secret {
    let mut copy = secret.clone();
    copy.data = None;
    copy.string_data = None;
    copy.metadata.managed_fields = None;
    // `kubectl apply` keeps the whole previous object, credential included, in this annotation.
    if let Some(annotations) = copy.metadata.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
    copy
}

/// The `auths` entry for `registry` in a pull secret: `(username, password, email)`.
pub fn existing_credential(secret: &Secret, registry: &str) -> Option<(String, String, String)> {
    credentials(secret)
        .into_iter()
        .find(|c| c.host == registry)
        .map(|c| (c.username, c.password, c.email))
}

/// One registry credential of a pull secret. Its `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// Registry host (scheme and path stripped from the `auths` key).
    pub host: String,
    /// User name.
    pub username: String,
    /// Password (registered with the scrubber when read).
    pub password: String,
    /// E-mail, empty when absent.
    pub email: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("host", &self.host)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("email", &self.email)
            .finish()
    }
}

/// One `auths` entry as docker and kubectl write it; either spelling of each field is read
/// (Docker's Go structs marshal `Username`, kubectl writes `username`). A field of another type
/// is ignored rather than failing the entry.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct AuthEntry {
    #[serde(deserialize_with = "lenient_string")]
    username: Option<String>,
    #[serde(rename = "Username", deserialize_with = "lenient_string")]
    username_go: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    password: Option<String>,
    #[serde(rename = "Password", deserialize_with = "lenient_string")]
    password_go: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    email: Option<String>,
    #[serde(rename = "Email", deserialize_with = "lenient_string")]
    email_go: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    auth: Option<String>,
}

/// The current form: `{"auths": {...}}`.
#[derive(serde::Deserialize)]
struct DockerConfigJson {
    /// In the order written (`serde_json`'s `preserve_order`), so reports follow the secret.
    auths: serde_json::Map<String, serde_json::Value>,
}

/// A string, or `None` for any other JSON value.
fn lenient_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let value: serde_json::Value = serde::Deserialize::deserialize(deserializer)?;
    Ok(match value {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

impl AuthEntry {
    /// The credential for `host`: the fields, else the user and password in `auth`.
    fn credential(self, host: String) -> Option<Credential> {
        let pick = |a: Option<String>, b: Option<String>| {
            a.filter(|s| !s.is_empty()).or(b).unwrap_or_default()
        };
        let mut username = pick(self.username, self.username_go);
        let mut password = pick(self.password, self.password_go);
        if (username.is_empty() || password.is_empty())
            && let Some(auth) = self.auth
            && let Ok(decoded) = STANDARD.decode(auth)
            && let Ok(text) = String::from_utf8(decoded)
            && let Some((u, p)) = text.split_once(':')
        {
            username = u.to_string();
            password = p.to_string();
        }
        crate::redact::register(&password);
        let email = pick(self.email, self.email_go);
        (!host.is_empty() && !username.is_empty()).then_some(Credential {
            host,
            username,
            password,
            email,
        })
    }
}

/// Every credential in a pull secret, in both the current `.dockerconfigjson` form and the
/// legacy `.dockercfg` form (protocol.md §7.2). `auth` is used when the username or password
/// fields are missing. Entries of an unexpected shape are skipped.
pub fn credentials(secret: &Secret) -> Vec<Credential> {
    let Some(data) = secret.data.as_ref() else {
        return Vec::new();
    };
    let auths = if let Some(b) = data.get(DOCKERCONFIGJSON_KEY) {
        serde_json::from_slice::<DockerConfigJson>(&b.0)
            .ok()
            .map(|c| c.auths)
    } else if let Some(b) = data.get(".dockercfg") {
        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&b.0).ok()
    } else {
        None
    };
    auths
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(server, entry)| {
            let host = server
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()?
                .to_string();
            serde_json::from_value::<AuthEntry>(entry)
                .ok()?
                .credential(host)
        })
        .collect()
}

/// Whether this plugin manages `secret`.
pub fn is_managed(secret: &Secret) -> bool {
    secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY))
        .is_some_and(|v| v == MANAGER)
}

/// An annotation of `secret`.
pub fn annotation<'s>(secret: &'s Secret, key: &str) -> Option<&'s str> {
    secret
        .metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// What replaces `old` when `desired` is written over it: `desired`, keeping the labels and
/// annotations others put on `old` (ours win), `old`'s owners, and its `resourceVersion` as the
/// precondition. The old token id and kubectl's last-applied copy (which holds the old
/// credential) do not survive.
pub fn merged_for_replace(old: &Secret, desired: &Secret) -> Secret {
    let mut merged = desired.clone();
    let mut labels = old.metadata.labels.clone().unwrap_or_default();
    labels.extend(desired.metadata.labels.clone().unwrap_or_default());
    let mut annotations = old.metadata.annotations.clone().unwrap_or_default();
    annotations.remove(ANNOTATION_TOKEN_ID);
    // A namespace's own token replacing the cluster's is no longer shared (the writer marks
    // it again when it is).
    annotations.remove(ANNOTATION_TOKEN_SCOPE);
    annotations.remove(LAST_APPLIED);
    annotations.extend(desired.metadata.annotations.clone().unwrap_or_default());
    merged.metadata.labels = Some(labels);
    merged.metadata.annotations = Some(annotations);
    merged.metadata.resource_version = old.metadata.resource_version.clone();
    merged.metadata.owner_references = old.metadata.owner_references.clone();
    merged
}

/// `old` as it can be created again after it was deleted: without the fields the server sets.
pub fn restorable(old: &Secret) -> Secret {
    let mut restore = old.clone();
    restore.metadata.resource_version = None;
    restore.metadata.uid = None;
    restore.metadata.managed_fields = None;
    restore.metadata.creation_timestamp = None;
    restore
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerconfigjson_matches_kubectl_bytes() {
        // Reference from protocol.md §7.1 (kubectl 1.12 capture, fluxcd/flux#1596).
        let got = docker_config_json("private.dockerrepo.com", "xxxxx", "xxxxx", "xxx@xyz.cim");
        assert_eq!(
            String::from_utf8(got).unwrap(),
            r#"{"auths":{"private.dockerrepo.com":{"username":"xxxxx","password":"xxxxx","email":"xxx@xyz.cim","auth":"eHh4eHg6eHh4eHg="}}}"#
        );
        let no_email = docker_config_json("r.example", "token", "t", "");
        assert_eq!(
            String::from_utf8(no_email).unwrap(),
            r#"{"auths":{"r.example":{"username":"token","password":"t","auth":"dG9rZW46dA=="}}}"#
        );
    }

    #[test]
    fn dockerconfigjson_escapes_like_go() {
        let got = String::from_utf8(docker_config_json("r", "u", "p", "a<b>&c@d")).unwrap();
        assert!(
            got.contains(r#""email":"a\u003cb\u003e\u0026c@d""#),
            "{got}"
        );
    }

    #[test]
    fn secret_round_trips_its_credential() {
        let spec = PullSecretSpec {
            registry: "registry.x",
            username: "token",
            token: "tok",
            token_id: "id-1",
            email: "",
            readwrite: false,
        };
        let secret = pull_secret("regcred", "team-a", &spec);
        assert!(is_managed(&secret));
        assert_eq!(secret.type_.as_deref(), Some(DOCKERCONFIGJSON_TYPE));
        assert_eq!(
            existing_credential(&secret, "registry.x"),
            Some(("token".into(), "tok".into(), String::new()))
        );
        let red = redacted(&secret);
        assert!(red.data.is_none() && red.string_data.is_none());
        assert_eq!(red.metadata.annotations, secret.metadata.annotations);
        let shown = serde_json::to_string(&red).unwrap();
        assert!(
            !shown.contains("tok\"") && !shown.contains("dockerconfigjson\":"),
            "{shown}"
        );
        let yaml = serde_saphyr::to_string(&secret).unwrap();
        assert!(
            yaml.contains("apiVersion: v1") && yaml.contains("kind: Secret"),
            "{yaml}"
        );
    }

    #[test]
    fn credentials_are_read_from_every_format() {
        let secret = pull_secret(
            "s",
            "ns",
            &PullSecretSpec {
                registry: "r.x:5000",
                username: "token",
                token: "t0k",
                token_id: "",
                email: "",
                readwrite: false,
            },
        );
        let one = |host: &str, username: &str, password: &str, email: &str| Credential {
            host: host.into(),
            username: username.into(),
            password: password.into(),
            email: email.into(),
        };
        assert_eq!(
            credentials(&secret),
            vec![one("r.x:5000", "token", "t0k", "")]
        );
        // Legacy .dockercfg with only `auth`, and a scheme in the key.
        let legacy = Secret {
            data: Some(BTreeMap::from([(
                ".dockercfg".to_string(),
                ByteString(br#"{"https://old.example/v1/":{"auth":"dTpw","email":"e"}}"#.to_vec()),
            )])),
            ..Default::default()
        };
        assert_eq!(
            credentials(&legacy),
            vec![one("old.example", "u", "p", "e")]
        );
        assert!(credentials(&Secret::default()).is_empty());
    }

    fn spec<'a>(token: &'a str, id: &'a str) -> PullSecretSpec<'a> {
        PullSecretSpec {
            registry: "registry.x",
            username: "token",
            token,
            token_id: id,
            email: "",
            readwrite: false,
        }
    }

    fn meta_map(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn replacing_keeps_others_metadata_and_drops_stale_copies() {
        let mut old = pull_secret("regcred", "team-a", &spec("old-token", "old-id"));
        old.metadata.resource_version = Some("41".into());
        old.metadata.labels = meta_map(&[("team", "a"), (MANAGED_BY, "someone-else")]);
        old.metadata.annotations = meta_map(&[
            ("note", "keep me"),
            (ANNOTATION_TOKEN_ID, "old-id"),
            (LAST_APPLIED, "{\"data\":\"old credential\"}"),
        ]);
        old.metadata.owner_references = Some(vec![Default::default()]);
        let desired = pull_secret("regcred", "team-a", &spec("new-token", "new-id"));
        let merged = merged_for_replace(&old, &desired);
        let labels = merged.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["team"], "a");
        assert_eq!(labels[MANAGED_BY], MANAGER, "our label wins");
        let annotations = merged.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations["note"], "keep me");
        assert_eq!(annotations[ANNOTATION_TOKEN_ID], "new-id");
        assert!(!annotations.contains_key(LAST_APPLIED));
        assert_eq!(merged.metadata.resource_version.as_deref(), Some("41"));
        assert_eq!(merged.metadata.owner_references.as_ref().unwrap().len(), 1);
        assert_eq!(merged.data, desired.data);
        assert_eq!(annotation(&merged, "note"), Some("keep me"));
        assert_eq!(annotation(&Secret::default(), "note"), None);
    }

    #[test]
    fn a_placeholder_secret_replaces_the_old_token_id_without_one_of_its_own() {
        let old = pull_secret("regcred", "team-a", &spec("old-token", "old-id"));
        let placeholder = pull_secret("regcred", "team-a", &spec(PLACEHOLDER_TOKEN, ""));
        let merged = merged_for_replace(&old, &placeholder);
        assert_eq!(annotation(&merged, ANNOTATION_TOKEN_ID), None);
    }

    #[test]
    fn restorable_drops_server_fields_only() {
        let mut old = pull_secret("regcred", "team-a", &spec("t", "id"));
        old.metadata.resource_version = Some("7".into());
        old.metadata.uid = Some("uid".into());
        old.metadata.managed_fields = Some(vec![Default::default()]);
        old.metadata.creation_timestamp =
            Some(serde_json::from_value(serde_json::json!("2026-11-30T00:00:00Z")).unwrap());
        let restore = restorable(&old);
        assert_eq!(restore.metadata.resource_version, None);
        assert_eq!(restore.metadata.uid, None);
        assert_eq!(restore.metadata.managed_fields, None);
        assert_eq!(restore.metadata.creation_timestamp, None);
        assert_eq!(restore.data, old.data);
        assert_eq!(restore.metadata.annotations, old.metadata.annotations);
    }

    #[test]
    fn credential_debug_hides_the_password() {
        let secret = pull_secret("regcred", "team-a", &spec("hunter2-token", "id"));
        let shown = format!("{:?}", credentials(&secret));
        assert!(
            shown.contains("registry.x") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    /// The pull Secret as users see it in `-o yaml`.
    #[test]
    fn pull_secret_yaml() {
        let secret = pull_secret(
            "regcred",
            "team-a",
            &PullSecretSpec {
                registry: "registry.example",
                username: "token",
                token: "eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJpZC0xIn0.c2ln",
                token_id: "id-1",
                email: "ops@example.com",
                readwrite: false,
            },
        );
        insta::assert_snapshot!(serde_saphyr::to_string(&secret).unwrap());
        let shown = redacted(&secret);
        insta::assert_snapshot!("redacted", serde_saphyr::to_string(&shown).unwrap());
    }
}

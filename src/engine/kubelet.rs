//! Pull secrets checked the way the kubelet reads them ([`matcher`]): before a write (a secret
//! the kubelet could not use is never written) and when an existing secret is read to decide
//! whether it is up to date or offers the cluster's shared credential (a secret another tool
//! broke is named, with what is done about it).

use k8s_openapi::api::core::v1::Secret;

use crate::manifests;
use crate::registry::matcher::{self, Problem};

/// Why the kubelet could not use `secret` as written, for a secret this plugin is about to
/// write; `None` when it reads it as one clean credential per entry. (A bug of this plugin if
/// it ever says something: the secrets it builds are kubectl's bytes.)
pub fn unwritable(secret: &Secret) -> Option<String> {
    let config = matcher::secret_config(secret);
    let blocking = config.findings.iter().find(|f| {
        f.problem.is_fatal()
            || matches!(
                f.problem,
                Problem::NotAPullSecret { .. }
                    | Problem::MissingData { .. }
                    | Problem::NoAuths
                    | Problem::NoCredential
                    | Problem::InvalidKey { .. }
                    | Problem::AuthOverridesFields
                    | Problem::DuplicateKey { .. }
            )
    })?;
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    let namespace = secret.metadata.namespace.as_deref().unwrap_or_default();
    Some(format!(
        "secret `{namespace}/{name}` was not written: the kubelet could not use it ({blocking}); this is a bug of kubectl-dedicated-registry, please report it"
    ))
}

/// What is wrong with an existing `secret` for pulls from `registry`, as the kubelet reads it:
/// it cannot read it at all (every pull of a Pod using it fails), it finds no credential for
/// `registry`, or the credential it uses (`auth` wins over `username`/`password`) is not the
/// one the fields show. `None` when the kubelet uses exactly what the plugin sees.
pub fn problem(secret: &Secret, registry: &str) -> Option<String> {
    let config = matcher::secret_config(secret);
    if let Some(fatal) = config.fatal() {
        return Some(format!(
            "the kubelet cannot read it ({fatal}), so every pull of a Pod using it fails"
        ));
    }
    let host_of = |key: &str| key.split('/').next().unwrap_or_default().to_string();
    let used = config
        .entries
        .iter()
        .find(|e| e.key.as_deref().is_ok_and(|k| host_of(k) == registry));
    let Some(used) = used else {
        return Some(format!(
            "the kubelet finds no credential for {registry} in it"
        ));
    };
    let seen = manifests::existing_credential(secret, registry);
    let same = seen.as_ref().is_some_and(|(user, password, _)| {
        *user == used.credential.username && *password == used.credential.password
    });
    if !same {
        return Some(format!(
            "entry `{}`: its `auth` holds another credential than `username`/`password`, and the kubelet uses `auth`",
            used.server
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use k8s_openapi::ByteString;

    use super::*;
    use crate::manifests::PullSecretSpec;

    const REGISTRY: &str = "registry.example";

    fn written(username: &str, token: &str, email: &str) -> Secret {
        manifests::pull_secret(
            "regcred",
            "team-a",
            &PullSecretSpec {
                registry: REGISTRY,
                username,
                token,
                token_id: "637b3d8c-a087-5af9-a636-16e7efc70967",
                email,
                readwrite: false,
            },
        )
    }

    fn with_config(json: &str) -> Secret {
        let mut secret = written("token", "the-token", "");
        secret.data.as_mut().unwrap().insert(
            ".dockerconfigjson".into(),
            ByteString(json.as_bytes().to_vec()),
        );
        secret
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn what_the_plugin_writes_the_kubelet_reads_as_written() {
        for (user, token, email) in [
            ("token", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", ""),
            ("iamapikey", "a:b:c with \"quotes\" <&> \u{2028}", "a@b.c"),
            ("token", "", ""),
        ] {
            let secret = written(user, token, email);
            if token.is_empty() {
                // An empty token still holds the user name: a credential, if a useless one.
                assert_eq!(unwritable(&secret), None);
                continue;
            }
            assert_eq!(unwritable(&secret), None, "{user} {token}");
            assert_eq!(problem(&secret, REGISTRY), None, "{user} {token}");
        }
        // A user name with `:` would be split by the kubelet: never written.
        let secret = written("to:ken", "t", "");
        let why = unwritable(&secret).expect("refused");
        assert!(why.contains("the kubelet uses `auth`"), "{why}");
    }

    #[test]
    fn secrets_another_tool_broke_are_named() {
        let ok = format!(
            r#"{{"auths":{{"{REGISTRY}":{{"username":"token","password":"p","auth":"{}"}}}}}}"#,
            b64("token:p")
        );
        assert_eq!(problem(&with_config(&ok), REGISTRY), None);
        let cases = [
            ("not json", "the kubelet cannot read it (it is not JSON"),
            (r#"{"auths":[]}"#, "`auths` must be an object"),
            (
                &format!(
                    r#"{{"auths":{{"{REGISTRY}":{{"username":"token","password":"p","auth":"%%%"}}}}}}"#
                ),
                "`auth` is not unpadded standard base64",
            ),
            (
                &format!(
                    r#"{{"auths":{{"{REGISTRY}":{{"username":"token","password":"p","auth":"{}"}}}}}}"#,
                    b64("no-colon")
                ),
                "`auth` decodes to text without `:`",
            ),
            (
                &format!(
                    r#"{{"auths":{{"{REGISTRY}":{{"username":"token","password":"p","auth":"{}"}}}}}}"#,
                    b64("token:other")
                ),
                "its `auth` holds another credential than `username`/`password`, and the kubelet uses `auth`",
            ),
            (
                r#"{"auths":{"other.example":{"username":"token","password":"p"}}}"#,
                "the kubelet finds no credential for registry.example",
            ),
        ];
        for (json, want) in cases {
            let got = problem(&with_config(json), REGISTRY);
            assert!(
                got.as_deref().is_some_and(|g| g.contains(want)),
                "{json}: {got:?}"
            );
        }
    }
}

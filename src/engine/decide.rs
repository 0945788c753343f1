//! The one decision of the engine: given the Secret that exists (if any) and what was asked
//! for, what to do with it. Single-namespace create, fan-out and watch all decide with
//! [`decide`]. Pure: no I/O, no printing, so every branch is unit-tested below.
//!
//! The rule that matters most: a managed secret that is up to date mints nothing (permanent
//! tokens must not sprawl), and a token is revoked only once its replacement is in place.

use k8s_openapi::api::core::v1::Secret;
use secrecy::SecretString;

use crate::manifests::{self, annotation};
use crate::registry::Access;

/// What the user asked for.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    /// The profile's registry host.
    pub registry: &'a str,
    /// The username of the provider's pull credentials (`token` for Dedicated).
    pub username: &'a str,
    /// The token access.
    pub access: Access,
    /// `--docker-email`, if given (absent means "keep whatever is there").
    pub email: Option<&'a str>,
    /// `--rotate`.
    pub rotate: bool,
    /// `--overwrite`.
    pub overwrite: bool,
}

/// What to do with one namespace's secret.
#[derive(Debug)]
pub enum Decision {
    /// Up to date: nothing to write, no token to mint.
    Unchanged,
    /// Keep the existing token, rewrite the secret (another e-mail).
    Rewrite {
        /// The token in the secret.
        token: SecretString,
        /// Its id.
        token_id: String,
        /// Whether the secret holds the cluster's shared token (the mark is kept).
        shared: bool,
    },
    /// Mint a token and write it (create, or replace the existing secret).
    Mint {
        /// The token to revoke once the new one is in place (same registry only).
        revoke: Option<String>,
        /// A token of another registry that is replaced but cannot be revoked with this
        /// profile: `(id, registry)`, to warn about.
        unrevocable: Option<(String, String)>,
    },
    /// A same-named secret this plugin does not manage, and no `--overwrite`.
    RefuseUnmanaged,
    /// The write would be refused (checked before minting); why.
    Forbidden(String),
}

impl Decision {
    /// Whether a credential must be minted (or the shared one written).
    pub fn needs_credential(&self) -> bool {
        matches!(self, Decision::Mint { .. })
    }
}

/// Decides what to do with `existing`.
pub fn decide(existing: Option<&Secret>, wanted: &Wanted<'_>) -> Decision {
    let Some(existing) = existing else {
        return Decision::Mint {
            revoke: None,
            unrevocable: None,
        };
    };
    if !manifests::is_managed(existing) {
        return if wanted.overwrite {
            Decision::Mint {
                revoke: None,
                unrevocable: None,
            }
        } else {
            Decision::RefuseUnmanaged
        };
    }
    let registry = annotation(existing, manifests::ANNOTATION_REGISTRY);
    let same_registry = registry == Some(wanted.registry);
    let old_id = annotation(existing, manifests::ANNOTATION_TOKEN_ID).map(str::to_string);
    let keep = same_registry
        && annotation(existing, manifests::ANNOTATION_ACCESS) == Some(wanted.access.as_str())
        && existing.type_.as_deref() == Some(manifests::DOCKERCONFIGJSON_TYPE)
        && !wanted.rotate
        // What the kubelet reads (`auth` wins), not just what the fields say.
        && super::kubelet::problem(existing, wanted.registry).is_none();
    let credential = manifests::existing_credential(existing, wanted.registry);
    if keep
        && let (Some((user, token, email)), Some(token_id)) = (credential, &old_id)
        && user == wanted.username
    {
        return match wanted.email {
            Some(wanted_email) if wanted_email != email => Decision::Rewrite {
                token: SecretString::from(token),
                token_id: token_id.clone(),
                shared: manifests::is_shared(existing),
            },
            _ => Decision::Unchanged,
        };
    }
    if same_registry {
        Decision::Mint {
            revoke: old_id,
            unrevocable: None,
        }
    } else {
        Decision::Mint {
            revoke: None,
            unrevocable: old_id.map(|id| (id, registry.unwrap_or("unknown").to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;
    use crate::manifests::PullSecretSpec;

    const REGISTRY: &str = "registry.x";

    fn wanted() -> Wanted<'static> {
        Wanted {
            registry: REGISTRY,
            username: "token",
            access: Access::ReadOnly,
            email: None,
            rotate: false,
            overwrite: false,
        }
    }

    /// A managed secret as this plugin writes it.
    fn managed(registry: &str, id: &str, readwrite: bool, email: &str) -> Secret {
        manifests::pull_secret(
            "regcred",
            "team-a",
            &PullSecretSpec {
                registry,
                username: "token",
                token: "the-token",
                token_id: id,
                email,
                readwrite,
            },
        )
    }

    fn mint(plan: Decision) -> (Option<String>, Option<(String, String)>) {
        match plan {
            Decision::Mint {
                revoke,
                unrevocable,
            } => (revoke, unrevocable),
            other => panic!("expected Mint, got {other:?}"),
        }
    }

    #[test]
    fn nothing_there_mints() {
        assert_eq!(mint(decide(None, &wanted())), (None, None));
    }

    #[test]
    fn up_to_date_is_unchanged() {
        let secret = managed(REGISTRY, "id-1", false, "");
        assert!(matches!(
            decide(Some(&secret), &wanted()),
            Decision::Unchanged
        ));
        // The same e-mail given again is still up to date.
        let secret = managed(REGISTRY, "id-1", false, "a@b.c");
        let same_email = Wanted {
            email: Some("a@b.c"),
            ..wanted()
        };
        assert!(matches!(
            decide(Some(&secret), &same_email),
            Decision::Unchanged
        ));
        // No --docker-email keeps whatever e-mail is there.
        assert!(matches!(
            decide(Some(&secret), &wanted()),
            Decision::Unchanged
        ));
    }

    #[test]
    fn another_email_rewrites_with_the_same_token() {
        let secret = managed(REGISTRY, "id-1", false, "old@b.c");
        let new_email = Wanted {
            email: Some("new@b.c"),
            ..wanted()
        };
        match decide(Some(&secret), &new_email) {
            Decision::Rewrite {
                token,
                token_id,
                shared,
            } => {
                assert_eq!(token.expose_secret(), "the-token");
                assert_eq!(token_id, "id-1");
                assert!(!shared);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rotate_mints_and_revokes_the_old_token() {
        let secret = managed(REGISTRY, "id-1", false, "");
        let rotate = Wanted {
            rotate: true,
            ..wanted()
        };
        assert_eq!(
            mint(decide(Some(&secret), &rotate)),
            (Some("id-1".into()), None)
        );
    }

    #[test]
    fn access_change_mints_both_ways() {
        let read_only = managed(REGISTRY, "ro", false, "");
        let read_write = managed(REGISTRY, "rw", true, "");
        let want_rw = Wanted {
            access: Access::ReadWrite,
            ..wanted()
        };
        assert_eq!(
            mint(decide(Some(&read_only), &want_rw)),
            (Some("ro".into()), None)
        );
        assert_eq!(
            mint(decide(Some(&read_write), &wanted())),
            (Some("rw".into()), None)
        );
        assert!(matches!(
            decide(Some(&read_write), &want_rw),
            Decision::Unchanged
        ));
    }

    #[test]
    fn another_registry_mints_and_cannot_revoke() {
        let secret = managed("registry.other", "id-9", false, "");
        assert_eq!(
            mint(decide(Some(&secret), &wanted())),
            (None, Some(("id-9".into(), "registry.other".into())))
        );
        // Without a registry annotation nothing names the registry.
        let mut unannotated = secret.clone();
        unannotated
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .remove(manifests::ANNOTATION_REGISTRY);
        assert_eq!(
            mint(decide(Some(&unannotated), &wanted())),
            (None, Some(("id-9".into(), "unknown".into())))
        );
    }

    #[test]
    fn unmanaged_is_refused_unless_overwrite() {
        let mut foreign = managed(REGISTRY, "id-1", false, "");
        foreign.metadata.labels = None;
        assert!(matches!(
            decide(Some(&foreign), &wanted()),
            Decision::RefuseUnmanaged
        ));
        let overwrite = Wanted {
            overwrite: true,
            ..wanted()
        };
        // Its token id is not ours to revoke.
        assert_eq!(mint(decide(Some(&foreign), &overwrite)), (None, None));
    }

    #[test]
    fn damaged_managed_secrets_are_repaired_by_a_mint() {
        // Wrong type.
        let mut opaque = managed(REGISTRY, "id-1", false, "");
        opaque.type_ = Some("Opaque".into());
        assert_eq!(
            mint(decide(Some(&opaque), &wanted())),
            (Some("id-1".into()), None)
        );
        // No token id annotation: nothing to revoke.
        let mut no_id = managed(REGISTRY, "id-1", false, "");
        no_id
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .remove(manifests::ANNOTATION_TOKEN_ID);
        assert_eq!(mint(decide(Some(&no_id), &wanted())), (None, None));
        // No credential for the registry in the data.
        let mut no_data = managed(REGISTRY, "id-1", false, "");
        no_data.data = None;
        assert_eq!(
            mint(decide(Some(&no_data), &wanted())),
            (Some("id-1".into()), None)
        );
        // A credential of another user than `token`.
        let mut other_user = managed(REGISTRY, "id-1", false, "");
        other_user.data = Some(std::collections::BTreeMap::from([(
            manifests::DOCKERCONFIGJSON_KEY.to_string(),
            k8s_openapi::ByteString(manifests::docker_config_json(REGISTRY, "alice", "pw", "")),
        )]));
        assert_eq!(
            mint(decide(Some(&other_user), &wanted())),
            (Some("id-1".into()), None)
        );
    }
}

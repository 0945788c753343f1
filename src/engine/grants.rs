//! Before a fan-out mints: may some selected namespace be written? (SelfSubjectAccessReview,
//! as `kubectl auth can-i`.) One cluster-wide review per verb; when that says no (a user whose
//! rights come from per-namespace RoleBindings), namespaces are reviewed in growing batches
//! (4, 8, 16, ...) only until one may be written. The namespaces reviewed and refused fail
//! before the writes; the others are left to their writes' own 403s. Nothing is minted unless
//! some namespace can take it, and a user with per-namespace grants waits one round trip of
//! reviews, not one review per namespace.

use futures::{StreamExt as _, stream};

use crate::cluster::{Target, access};

/// The first batch of per-namespace reviews (then doubled).
const FIRST_BATCH: usize = 4;

/// What the cluster-wide reviews said, per verb (`None`: not asked).
#[derive(Debug, Clone, Copy, Default)]
pub struct Everywhere {
    /// `create secrets` in every namespace.
    pub create: Option<bool>,
    /// `update secrets` in every namespace.
    pub update: Option<bool>,
}

impl Everywhere {
    /// Asks the cluster-wide reviews for both write verbs at once. A review that cannot be
    /// carried out counts as allowed (the writes answer).
    /// `name` is the secret's: an update is reviewed for it (a grant by `resourceNames`).
    pub async fn ask(target: &Target, name: &str) -> Everywhere {
        let client = &target.client;
        let (create, update) = futures::join!(
            access::allowed(client, "", "create", "secrets", None),
            access::allowed(client, "", "update", "secrets", Some(name)),
        );
        Everywhere {
            create: Some(create.unwrap_or(true)),
            update: Some(update.unwrap_or(true)),
        }
    }

    /// Whether `verb` is allowed everywhere (asking now if it was not asked).
    async fn allows(&mut self, target: &Target, verb: &str, name: &str) -> bool {
        let slot = if verb == "update" {
            &mut self.update
        } else {
            &mut self.create
        };
        if let Some(known) = *slot {
            return known;
        }
        let known = access::allowed(&target.client, "", verb, "secrets", Some(name))
            .await
            .unwrap_or(true);
        *slot = Some(known);
        known
    }
}

/// The answer before minting.
#[derive(Debug, Default)]
pub struct Grants {
    /// Some namespace may be written.
    pub some: bool,
    /// Namespaces reviewed and refused, with the reason for the summary.
    pub refused: Vec<(String, String)>,
}

/// Whether some of `pending` (namespace, write verb), in their order, may be written (the
/// secret `name`).
pub async fn check(
    target: &Target,
    mut everywhere: Everywhere,
    pending: &[(String, &'static str)],
    name: &str,
) -> Grants {
    let mut verbs: Vec<&str> = pending.iter().map(|(_, v)| *v).collect();
    verbs.sort_unstable();
    verbs.dedup();
    for verb in verbs {
        if everywhere.allows(target, verb, name).await {
            return Grants {
                some: true,
                refused: vec![],
            };
        }
    }
    let mut grants = Grants::default();
    let mut batch = FIRST_BATCH;
    let mut rest = pending;
    while !rest.is_empty() && !grants.some {
        let (now, later) = rest.split_at(batch.min(rest.len()));
        rest = later;
        batch *= 2;
        let answers: Vec<(&String, &str, bool)> = stream::iter(now)
            .map(|(namespace, verb)| async move {
                let ok = access::allowed(&target.client, namespace, verb, "secrets", Some(name))
                    .await
                    .unwrap_or(true);
                (namespace, *verb, ok)
            })
            .buffer_unordered(now.len())
            .collect()
            .await;
        for (namespace, verb, ok) in answers {
            if ok {
                grants.some = true;
            } else {
                grants.refused.push((
                    namespace.clone(),
                    format!(
                        "Kubernetes denied {verb} of secrets in namespace `{namespace}` to user `{}` (checked before minting)",
                        target.user.as_deref().unwrap_or("(none)")
                    ),
                ));
            }
        }
    }
    grants
}

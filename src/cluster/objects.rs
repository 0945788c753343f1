//! Writes with optimistic concurrency: new Secrets are created with POST (a concurrent creator
//! makes the caller decide again), existing ones replaced with their `resourceVersion` (a
//! concurrent writer makes the caller re-read), and ServiceAccount `imagePullSecrets` changed
//! by read-modify-write, retried on conflict. What to write is decided elsewhere
//! ([`crate::manifests`]); this module only carries it out.

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams, Preconditions};

use super::is_conflict;
use crate::manifests;

/// How many times a write is retried after a concurrent modification.
pub const MAX_ATTEMPTS: usize = 5;

fn post_params(dry_run: bool) -> PostParams {
    PostParams {
        dry_run,
        field_manager: Some(manifests::MANAGER.to_string()),
    }
}

/// A failed write.
#[derive(Debug)]
pub struct WriteFailure {
    /// What the API server (or the transport) said.
    pub error: kube::Error,
    /// The old object was deleted (to change its type) and could not be put back.
    pub original_lost: bool,
}

impl From<kube::Error> for WriteFailure {
    fn from(error: kube::Error) -> Self {
        WriteFailure {
            error,
            original_lost: false,
        }
    }
}

/// Writes `desired`: create when `existing` is None, else replace it (keeping others' labels and
/// annotations) with its `resourceVersion` as precondition. A change of `type`, which is
/// immutable, deletes the version seen and creates the new object, restoring the old one if the
/// create fails.
pub async fn write_secret(
    secrets: &Api<Secret>,
    existing: Option<&Secret>,
    desired: &Secret,
    dry_run: bool,
) -> Result<Secret, WriteFailure> {
    let params = post_params(dry_run);
    let name = desired.metadata.name.clone().unwrap_or_default();
    match existing {
        None => Ok(secrets.create(&params, desired).await?),
        // A server dry run cannot show the delete-and-create sequence (the dry-run create would
        // meet the old object), so the replacement is validated by the client only.
        Some(old) if old.type_ != desired.type_ && dry_run => Ok(desired.clone()),
        Some(old) if old.type_ != desired.type_ => {
            replace_type(secrets, old, desired, &params, &name).await
        }
        Some(old) => {
            let merged = manifests::merged_for_replace(old, desired);
            Ok(secrets.replace(&name, &params, &merged).await?)
        }
    }
}

/// Deletes the version of `old` that was seen. When the answer is lost, the secret is read
/// back: gone means deleted.
async fn delete_seen(secrets: &Api<Secret>, old: &Secret, name: &str) -> Result<(), kube::Error> {
    let delete = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: old.metadata.resource_version.clone(),
            uid: old.metadata.uid.clone(),
        }),
        ..Default::default()
    };
    match secrets.delete(name, &delete).await {
        Ok(_) => Ok(()),
        Err(e) if is_uncertain(&e) => match read_back(secrets, name).await {
            Some(None) => Ok(()),
            _ => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Deletes `old` (only the version seen) and creates `desired`; puts `old` back if that fails,
/// and says so truthfully when it cannot.
async fn replace_type(
    secrets: &Api<Secret>,
    old: &Secret,
    desired: &Secret,
    params: &PostParams,
    name: &str,
) -> Result<Secret, WriteFailure> {
    delete_seen(secrets, old, name).await?;
    let error = match secrets.create(params, desired).await {
        Ok(created) => return Ok(created),
        Err(e) => e,
    };
    // Put the user's secret back rather than leave nothing.
    let restore = manifests::restorable(old);
    let restored = secrets
        .create(&PostParams::default(), &restore)
        .await
        .is_ok();
    if !restored {
        let token_note = manifests::annotation(old, manifests::ANNOTATION_TOKEN_ID)
            .map(|id| format!("; its token {id} is still valid: `kubectl dedicated-registry token revoke {id}` if it is no longer needed"))
            .unwrap_or_default();
        crate::trace::warning(format!(
            "secret/{name} was deleted to change its type and could not be restored{token_note}"
        ));
    }
    Err(WriteFailure {
        error,
        original_lost: !restored,
    })
}

/// Reads a secret back after an uncertain write, retrying a failed read twice. `None` when it
/// could not be read at all.
pub async fn read_back(secrets: &Api<Secret>, name: &str) -> Option<Option<Secret>> {
    for delay in [0u64, 500, 1500] {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        if let Ok(found) = secrets.get_opt(name).await {
            return Some(found);
        }
    }
    None
}

/// The managed secrets of the whole cluster (one LIST by the managed-by label), as
/// `namespace/name` → the token id it really holds, for counting who still holds a token
/// before revoking or replacing it. Labels and annotations are anyone's to write: a secret
/// counts as a holder only when it is a `kubernetes.io/dockerconfigjson` secret whose
/// credential is that token (its JWT `jti`; for credentials that are not JWTs, the annotation
/// next to a credential is all there is). A forged holder is named in a warning and not counted.
///
/// Where RBAC grants secrets only by name (the shipped controller's ClusterRole:
/// `resourceNames: [NAME]`, which allows a LIST only with `fieldSelector=metadata.name=NAME`), the
/// cluster-wide LIST is refused; the secrets named `name` are then listed instead (a shared
/// credential is minted for one secret name, so its holders carry that name).
pub async fn managed_token_ids(
    client: &kube::Client,
    name: &str,
) -> Result<Vec<(String, Option<String>)>, kube::Error> {
    let secrets: Api<Secret> = Api::all(client.clone());
    let params = kube::api::ListParams::default().labels(&format!(
        "{}={}",
        manifests::MANAGED_BY,
        manifests::MANAGER
    ));
    let list = match secrets.list(&params).await {
        Err(kube::Error::Api(status)) if status.code == 403 => {
            crate::trace::log(
                1,
                format!(
                    "listing every managed secret is forbidden; holders are counted among the secrets named {} only",
                    crate::text::printable(name)
                ),
            );
            let by_name = params.fields(&format!("metadata.name={name}"));
            secrets.list(&by_name).await?
        }
        other => other?,
    };
    Ok(list
        .items
        .into_iter()
        .map(|s| {
            let at = format!(
                "{}/{}",
                s.metadata.namespace.as_deref().unwrap_or_default(),
                s.metadata.name.as_deref().unwrap_or_default()
            );
            let id = held_token_id(&s);
            if id.is_none()
                && let Some(claimed) = manifests::annotation(&s, manifests::ANNOTATION_TOKEN_ID)
            {
                crate::trace::warning(format!(
                    "secret {} records token {} but does not hold it; it is not counted as a holder",
                    crate::text::printable(&at),
                    crate::text::printable(claimed)
                ));
            }
            (at, id)
        })
        .collect())
}

/// The token id `secret` records, when it also holds that token (see [`managed_token_ids`]).
pub fn held_token_id(secret: &Secret) -> Option<String> {
    let id = manifests::annotation(secret, manifests::ANNOTATION_TOKEN_ID)?;
    if secret.type_.as_deref() != Some(manifests::DOCKERCONFIGJSON_TYPE) {
        return None;
    }
    let held = manifests::credentials(secret).into_iter().any(|c| {
        match crate::jwt::string_claim(&c.password, "jti") {
            Some(jti) => jti == id,
            None => !c.password.is_empty(),
        }
    });
    held.then(|| id.to_string())
}

/// Whether a failed write may still have been stored: the answer was lost (transport), or the
/// server reported a failure on its side (5xx, timeouts).
pub fn is_uncertain(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => {
            status.code >= 500 || matches!(status.reason.as_str(), "Timeout" | "ServerTimeout")
        }
        _ => true,
    }
}

/// What happened to one ServiceAccount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    /// It already referenced the secret.
    Unchanged,
    /// The secret was appended.
    Configured,
}

/// Which request failed while changing a ServiceAccount.
#[derive(Debug)]
pub struct AccountError {
    /// `get` or `update`.
    pub verb: &'static str,
    /// The API error.
    pub error: kube::Error,
}

/// Appends `secret` to the ServiceAccount's `imagePullSecrets` (read-modify-write, retried on
/// conflict: the list has no merge key, so a patch would replace others' entries).
pub async fn append_pull_secret(
    accounts: &Api<ServiceAccount>,
    name: &str,
    secret: &str,
    dry_run: bool,
) -> Result<AccountChange, AccountError> {
    change_account(accounts, name, dry_run, |account| {
        manifests::with_pull_secret(account, secret)
    })
    .await
}

/// Removes `secret` from the ServiceAccount's `imagePullSecrets`, keeping the other entries.
pub async fn remove_pull_secret(
    accounts: &Api<ServiceAccount>,
    name: &str,
    secret: &str,
) -> Result<AccountChange, AccountError> {
    change_account(accounts, name, false, |account| {
        manifests::without_pull_secret(account, secret)
    })
    .await
}

/// Read-modify-write of one ServiceAccount with `resourceVersion`, retried on conflict;
/// `change` returns `None` when there is nothing to write.
async fn change_account(
    accounts: &Api<ServiceAccount>,
    name: &str,
    dry_run: bool,
    change: impl Fn(&ServiceAccount) -> Option<ServiceAccount>,
) -> Result<AccountChange, AccountError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let account = accounts
            .get(name)
            .await
            .map_err(|error| AccountError { verb: "get", error })?;
        let Some(changed) = change(&account) else {
            return Ok(AccountChange::Unchanged);
        };
        match accounts
            .replace(name, &post_params(dry_run), &changed)
            .await
        {
            Ok(_) => return Ok(AccountChange::Configured),
            Err(e) if is_conflict(&e) && attempt < MAX_ATTEMPTS => {
                crate::trace::log(
                    1,
                    format!("serviceaccount/{name} changed concurrently; retrying"),
                );
            }
            Err(error) => {
                return Err(AccountError {
                    verb: "update",
                    error,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            reason: reason.into(),
            ..Default::default()
        }))
    }

    #[test]
    fn uncertain_writes_are_server_failures_and_timeouts() {
        assert!(is_uncertain(&status(500, "InternalError")));
        assert!(is_uncertain(&status(504, "Timeout")));
        assert!(is_uncertain(&status(409, "ServerTimeout")));
        assert!(!is_uncertain(&status(403, "Forbidden")));
        assert!(!is_uncertain(&status(409, "Conflict")));
        assert!(!is_uncertain(&status(422, "Invalid")));
        assert!(is_uncertain(&kube::Error::LinesCodecMaxLineLengthExceeded));
    }
}

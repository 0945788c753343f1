//! ServiceAccount `imagePullSecrets`: the list has no merge key, so it is changed by
//! read-modify-write; this is the pure "modify".

use k8s_openapi::api::core::v1::{LocalObjectReference, ServiceAccount};

/// `account` with `secret` appended to its `imagePullSecrets`, keeping every other entry;
/// `None` when it is already there (nothing to write).
pub fn with_pull_secret(account: &ServiceAccount, secret: &str) -> Option<ServiceAccount> {
    let list = account.image_pull_secrets.as_deref().unwrap_or_default();
    if list.iter().any(|r| r.name == secret) {
        return None;
    }
    let mut changed = account.clone();
    changed
        .image_pull_secrets
        .get_or_insert_with(Vec::new)
        .push(LocalObjectReference {
            name: secret.to_string(),
        });
    Some(changed)
}

/// `account` without `secret` in its `imagePullSecrets`; `None` when it is not there.
pub fn without_pull_secret(account: &ServiceAccount, secret: &str) -> Option<ServiceAccount> {
    let list = account.image_pull_secrets.as_deref().unwrap_or_default();
    if !list.iter().any(|r| r.name == secret) {
        return None;
    }
    let mut changed = account.clone();
    changed.image_pull_secrets = Some(list.iter().filter(|r| r.name != secret).cloned().collect());
    Some(changed)
}

/// Whether `account` references `secret`.
pub fn references(account: &ServiceAccount, secret: &str) -> bool {
    account
        .image_pull_secrets
        .iter()
        .flatten()
        .any(|r| r.name == secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(secrets: &[&str]) -> ServiceAccount {
        ServiceAccount {
            image_pull_secrets: Some(
                secrets
                    .iter()
                    .map(|s| LocalObjectReference {
                        name: s.to_string(),
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn names(account: &ServiceAccount) -> Vec<&str> {
        account
            .image_pull_secrets
            .iter()
            .flatten()
            .map(|r| r.name.as_str())
            .collect()
    }

    #[test]
    fn appends_after_other_entries() {
        let changed = with_pull_secret(&account(&["other"]), "regcred").unwrap();
        assert_eq!(names(&changed), ["other", "regcred"]);
    }

    #[test]
    fn creates_the_list_when_absent() {
        let changed = with_pull_secret(&ServiceAccount::default(), "regcred").unwrap();
        assert_eq!(names(&changed), ["regcred"]);
    }

    #[test]
    fn present_means_nothing_to_write() {
        assert!(with_pull_secret(&account(&["a", "regcred"]), "regcred").is_none());
    }

    #[test]
    fn removing_keeps_the_other_entries_in_order() {
        let changed = without_pull_secret(&account(&["a", "regcred", "b"]), "regcred").unwrap();
        assert_eq!(names(&changed), ["a", "b"]);
        assert!(without_pull_secret(&account(&["a"]), "regcred").is_none());
        assert!(without_pull_secret(&ServiceAccount::default(), "regcred").is_none());
        assert!(references(&account(&["regcred"]), "regcred"));
        assert!(!references(&ServiceAccount::default(), "regcred"));
    }
}

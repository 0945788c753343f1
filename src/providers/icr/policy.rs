//! The IAM Policy Management API (icr-protocol.md §3): a Reader (or Writer) policy of a
//! service ID on `container-registry`, written with v1 or v2 bodies. An existing policy with
//! the same subject, role and resource is reused, never duplicated: it is looked for in the
//! list first, and IAM's `409 policy_conflict_error` (a v2 policy a v1 list shows only as a
//! placeholder) means it exists.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::iam::{Call, IamError};
use crate::store::PolicyApi;

/// The role id of a Container Registry service role (`Reader`, `Writer`).
pub fn role_id(role: &str) -> String {
    format!("crn:v1:bluemix:public:container-registry::::serviceRole:{role}")
}

/// What a policy grants, normalized across versions: its roles and its resource attributes
/// (string-equality ones as `key=value`; any other operator makes it no match).
#[derive(Debug, PartialEq, Eq)]
struct Grant {
    roles: BTreeSet<String>,
    attributes: BTreeSet<(String, String)>,
}

fn strings(items: Option<&Value>, key: &str) -> BTreeSet<String> {
    items
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get(key).and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn attributes(items: Option<&Value>, key: &str) -> Option<BTreeSet<(String, String)>> {
    let mut out = BTreeSet::new();
    for a in items.and_then(Value::as_array).into_iter().flatten() {
        let operator = a.get("operator").and_then(Value::as_str);
        if operator.is_some_and(|o| o != "stringEquals") {
            return None;
        }
        let name = a.get(key).and_then(Value::as_str)?;
        let value = a.get("value").and_then(Value::as_str)?;
        out.insert((name.to_string(), value.to_string()));
    }
    Some(out)
}

/// The grant of a listed policy (either shape); `None` for a placeholder or another shape.
fn grant_of(policy: &Value) -> Option<Grant> {
    if let Some(control) = policy.get("control") {
        let roles = strings(control.pointer("/grant/roles"), "role_id");
        let attributes = attributes(policy.pointer("/resource/attributes"), "key")?;
        return Some(Grant { roles, attributes });
    }
    let roles = strings(policy.get("roles"), "role_id");
    let attributes = attributes(policy.pointer("/resources/0/attributes"), "name")?;
    (!roles.is_empty()).then_some(Grant { roles, attributes })
}

/// The Policy API of one account.
pub struct Policies<'a> {
    /// The authenticated call.
    pub call: Call<'a>,
    /// IAM's base URL.
    pub iam_url: &'a str,
    /// The BSS account id.
    pub account: &'a str,
    /// Which version to write with.
    pub api: PolicyApi,
}

impl Policies<'_> {
    fn base(&self) -> String {
        match self.api {
            PolicyApi::V1 => format!("{}/v1/policies", self.iam_url),
            PolicyApi::V2 => format!("{}/v2/policies", self.iam_url),
        }
    }

    /// Makes sure `subject` holds `role` on the resource `attributes` (`accountId` and
    /// `serviceName` are added): reused when it exists. Returns whether one was created.
    pub async fn ensure(
        &self,
        subject: &str,
        role: &str,
        extra: &[(&str, &str)],
        description: &str,
    ) -> Result<bool, IamError> {
        let mut attrs: Vec<(&str, &str)> = vec![
            ("accountId", self.account),
            ("serviceName", "container-registry"),
        ];
        attrs.extend_from_slice(extra);
        let wanted = Grant {
            roles: BTreeSet::from([role.to_string()]),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let url = format!(
            "{}?{}",
            self.base(),
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("account_id", self.account),
                    ("iam_id", subject),
                    ("type", "access")
                ])
                .finish()
        );
        let listed = self
            .call
            .json(reqwest::Method::GET, &url, None, "list policies")
            .await?;
        let policies = listed.get("policies").and_then(Value::as_array);
        if policies
            .into_iter()
            .flatten()
            .any(|p| grant_of(p).as_ref() == Some(&wanted))
        {
            crate::trace::log(1, format!("Reusing the {role} policy of {subject}"));
            return Ok(false);
        }
        let body = self.body(subject, role, &attrs, description);
        match self
            .call
            .json(
                reqwest::Method::POST,
                &self.base(),
                Some(&body),
                "create a policy",
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(409) => {
                crate::trace::log(1, format!("The {role} policy of {subject} exists (409)"));
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn body(&self, subject: &str, role: &str, attrs: &[(&str, &str)], description: &str) -> Value {
        match self.api {
            PolicyApi::V1 => json!({
                "type": "access",
                "description": description,
                "subjects": [{"attributes": [{"name": "iam_id", "value": subject}]}],
                "roles": [{"role_id": role}],
                "resources": [{"attributes": attrs
                    .iter()
                    .map(|(k, v)| json!({"name": k, "value": v}))
                    .collect::<Vec<_>>()}],
            }),
            PolicyApi::V2 => json!({
                "type": "access",
                "description": description,
                "subject": {"attributes": [
                    {"key": "iam_id", "operator": "stringEquals", "value": subject}
                ]},
                "control": {"grant": {"roles": [{"role_id": role}]}},
                "resource": {"attributes": attrs
                    .iter()
                    .map(|(k, v)| json!({"key": k, "operator": "stringEquals", "value": v}))
                    .collect::<Vec<_>>()},
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_policies_of_both_versions_normalize_alike() {
        let v1 = json!({"roles": [{"role_id": "R"}], "resources": [{"attributes": [
            {"name": "accountId", "value": "a"}, {"name": "serviceName", "value": "container-registry"}]}]});
        let v2 = json!({"control": {"grant": {"roles": [{"role_id": "R"}]}}, "resource": {"attributes": [
            {"key": "serviceName", "operator": "stringEquals", "value": "container-registry"},
            {"key": "accountId", "operator": "stringEquals", "value": "a"}]}});
        assert_eq!(grant_of(&v1), grant_of(&v2));
        assert!(grant_of(&v1).is_some());
        // A v2 policy in a v1 list: a placeholder, never a match.
        let placeholder = json!({"roles": [], "resources": []});
        assert_eq!(grant_of(&placeholder), None);
        let wild = json!({"control": {"grant": {"roles": [{"role_id": "R"}]}}, "resource": {"attributes": [
            {"key": "resource", "operator": "stringMatch", "value": "team-*"}]}});
        assert_eq!(grant_of(&wild), None);
    }
}

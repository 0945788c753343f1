//! The IAM Identity API (icr-protocol.md §2): the plugin's service IDs and their API keys.
//! Lists follow every page; API keys are created with `store_value` false, so IAM shows the
//! value once, in the create answer.

use secrecy::SecretString;
use serde_json::{Value, json};

use super::iam::{Call, IamError};

/// A service ID, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceId {
    /// `ServiceId-<uuid>`.
    pub id: String,
    /// `iam-ServiceId-<uuid>`, the subject of policies and the owner of keys.
    pub iam_id: String,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
}

/// An API key, as listed (never its value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// `ApiKey-<uuid>`.
    pub id: String,
    /// The identity it belongs to.
    pub iam_id: String,
    /// Its description (the plugin writes where it is used).
    pub description: String,
    /// Disabled keys authenticate nowhere.
    pub disabled: bool,
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn service_id(v: &Value) -> Option<ServiceId> {
    let s = ServiceId {
        id: text(v, "id"),
        iam_id: text(v, "iam_id"),
        name: text(v, "name"),
        description: text(v, "description"),
    };
    (!s.id.is_empty() && !s.iam_id.is_empty()).then_some(s)
}

fn api_key(v: &Value) -> Option<ApiKey> {
    let k = ApiKey {
        id: text(v, "id"),
        iam_id: text(v, "iam_id"),
        description: text(v, "description"),
        disabled: v.get("disabled").and_then(Value::as_bool).unwrap_or(false),
    };
    (!k.id.is_empty()).then_some(k)
}

/// The Identity API of one account.
pub struct Identity<'a> {
    /// The authenticated call.
    pub call: Call<'a>,
    /// IAM's base URL.
    pub iam_url: &'a str,
    /// The BSS account id.
    pub account: &'a str,
}

impl Identity<'_> {
    /// The account's service IDs named `name` (every page), or all of them.
    pub async fn service_ids(&self, name: Option<&str>) -> Result<Vec<ServiceId>, IamError> {
        let url = format!("{}/v1/serviceids/", self.iam_url);
        let mut query = vec![("account_id", self.account)];
        if let Some(name) = name {
            query.push(("name", name));
        }
        let items = self
            .call
            .all_pages(&url, &query, "serviceids", "list service IDs")
            .await?;
        Ok(items.iter().filter_map(service_id).collect())
    }

    /// Creates a service ID.
    pub async fn create_service_id(
        &self,
        name: &str,
        description: &str,
    ) -> Result<ServiceId, IamError> {
        let url = format!("{}/v1/serviceids/", self.iam_url);
        let body = json!({"account_id": self.account, "name": name, "description": description});
        let action = "create a service ID";
        let answer = self
            .call
            .json(reqwest::Method::POST, &url, Some(&body), action)
            .await?;
        service_id(&answer).ok_or_else(|| protocol(self.iam_url, action, "no id or iam_id"))
    }

    /// The API keys of the identity `iam_id` (every page).
    pub async fn api_keys(&self, iam_id: &str) -> Result<Vec<ApiKey>, IamError> {
        let url = format!("{}/v1/apikeys", self.iam_url);
        let query = [("account_id", self.account), ("iam_id", iam_id)];
        let items = self
            .call
            .all_pages(&url, &query, "apikeys", "list API keys")
            .await?;
        Ok(items.iter().filter_map(api_key).collect())
    }

    /// Creates an API key of the service ID `iam_id`, not stored by IAM: its value is in this
    /// answer only.
    pub async fn create_api_key(
        &self,
        iam_id: &str,
        name: &str,
        description: &str,
    ) -> Result<(ApiKey, SecretString), IamError> {
        let url = format!("{}/v1/apikeys", self.iam_url);
        let body = json!({
            "name": name,
            "iam_id": iam_id,
            "account_id": self.account,
            "description": description,
            "store_value": false,
        });
        let action = "create an API key";
        let mut answer = self
            .call
            .json(reqwest::Method::POST, &url, Some(&body), action)
            .await?;
        let value = match answer.get_mut("apikey").map(Value::take) {
            Some(Value::String(v)) if !v.is_empty() => crate::redact::keep(v),
            _ => return Err(protocol(self.iam_url, action, "the answer holds no apikey")),
        };
        let key = api_key(&answer).ok_or_else(|| protocol(self.iam_url, action, "no id"))?;
        Ok((key, value))
    }

    /// The API key `id`; `None` when IAM has no such key.
    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKey>, IamError> {
        let url = format!("{}/v1/apikeys/{}", self.iam_url, encode(id));
        match self
            .call
            .json(reqwest::Method::GET, &url, None, "read an API key")
            .await
        {
            Ok(v) => Ok(api_key(&v)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes the API key `id` (204).
    pub async fn delete_api_key(&self, id: &str) -> Result<(), IamError> {
        let url = format!("{}/v1/apikeys/{}", self.iam_url, encode(id));
        self.call
            .json(reqwest::Method::DELETE, &url, None, "delete an API key")
            .await
            .map(drop)
    }
}

/// A path segment, percent-encoded (ids come from annotations, which anyone may edit).
fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

fn protocol(iam_url: &str, action: &str, detail: &str) -> IamError {
    IamError::Protocol {
        host: iam_url.to_string(),
        action: action.to_string(),
        detail: detail.to_string(),
    }
}

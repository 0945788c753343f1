//! What the emulated IAM remembers: service IDs, API keys, policies, refresh tokens, passcodes,
//! page tokens. Tests inspect it through the public methods of [`IamState`].

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use rand::RngExt as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A service ID.
#[derive(Clone, Debug)]
pub struct ServiceId {
    /// `ServiceId-<uuid>`.
    pub id: String,
    /// `iam-ServiceId-<uuid>`.
    pub iam_id: String,
    /// Version, the number in `entity_tag`.
    pub version: u64,
    /// Owning account.
    pub account_id: String,
    /// Name (not unique).
    pub name: String,
    /// Description.
    pub description: String,
    /// `unique_instance_crns`.
    pub unique_instance_crns: Vec<String>,
    /// Locked (`Entity-Lock` or `POST .../lock`): no update, no delete.
    pub locked: bool,
    /// Creation and modification times (`yyyy-MM-ddTHH:mm+0000`).
    pub created_at: String,
    /// Last modification.
    pub modified_at: String,
    /// Deleted: kept for inspection, invisible to the API.
    pub deleted: bool,
    /// With the `serviceid-delete-conflict` variant: the first delete answered 409.
    pub conflict_answered: bool,
}

/// An API key (of a service ID or a user).
#[derive(Clone)]
pub struct ApiKey {
    /// `ApiKey-<uuid>`.
    pub id: String,
    /// Version, the number in `entity_tag`.
    pub version: u64,
    /// The identity it authenticates (`iam-ServiceId-...` or `IBMid-...`).
    pub iam_id: String,
    /// Owning account.
    pub account_id: String,
    /// Name (not unique).
    pub name: String,
    /// Description.
    pub description: String,
    /// The secret (never shown by `Debug`).
    pub value: String,
    /// Whether IAM keeps the value retrievable (`store_value`).
    pub store_value: bool,
    /// `support_sessions`.
    pub support_sessions: bool,
    /// `action_when_leaked`.
    pub action_when_leaked: String,
    /// `expires_at` as sent.
    pub expires_at: Option<String>,
    /// The same as epoch seconds.
    pub expires_epoch: Option<u64>,
    /// Locked: no update, no delete.
    pub locked: bool,
    /// Disabled: refused for authentication.
    pub disabled: bool,
    /// Deleted: kept for inspection, refused everywhere.
    pub deleted: bool,
    /// Who created it (`iam_id`).
    pub created_by: String,
    /// Times.
    pub created_at: String,
    /// Last modification.
    pub modified_at: String,
    /// Policy propagation: registry token requests still to refuse.
    pub refusals_left: u32,
    /// Seeded user keys are not listed as Identity API objects' history; they are real keys.
    pub seeded: bool,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("iam_id", &self.iam_id)
            .field("name", &self.name)
            .field("locked", &self.locked)
            .field("disabled", &self.disabled)
            .field("deleted", &self.deleted)
            .field("value", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// How a policy attribute compares (v1 attributes are all `stringEquals`).
#[derive(Clone, Debug, PartialEq)]
pub enum Operator {
    /// `stringEquals`.
    Equals,
    /// `stringMatch` (`*` and `?` wildcards).
    Match,
    /// `stringExists` (the value is a boolean).
    Exists,
    /// `stringEqualsAnyOf`.
    EqualsAnyOf,
    /// `stringMatchAnyOf`.
    MatchAnyOf,
}

/// One resource attribute of a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    /// `accountId`, `serviceName`, `region`, `resourceType`, `resource`.
    pub key: String,
    /// How it compares.
    pub operator: Operator,
    /// The value(s): a string, a boolean (`stringExists`) or a list (`...AnyOf`).
    pub value: Value,
}

/// An access policy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Policy id (a UUID).
    pub id: String,
    /// Created through `/v2/policies`.
    pub v2: bool,
    /// Version, the number in the ETag.
    pub version: u64,
    /// Account (the `accountId` attribute).
    pub account_id: String,
    /// Subject `iam_id`.
    pub subject: String,
    /// Role CRNs.
    pub roles: Vec<String>,
    /// Resource attributes.
    pub attributes: Vec<Attribute>,
    /// Description.
    pub description: String,
    /// v2 `pattern` and `rule`, stored as sent.
    pub pattern_rule: (Option<Value>, Option<Value>),
    /// Creator `iam_id` and times.
    pub created_by: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last modification (RFC 3339).
    pub modified_at: String,
    /// Deleted: kept for inspection.
    pub deleted: bool,
}

/// A refresh token as IAM tracks it.
#[derive(Clone, Debug)]
pub(crate) struct Refresh {
    pub(crate) iam_id: String,
    pub(crate) account: String,
    pub(crate) client: String,
    pub(crate) grant: String,
    pub(crate) exp: u64,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub(crate) service_ids: Vec<ServiceId>,
    pub(crate) api_keys: Vec<ApiKey>,
    pub(crate) policies: Vec<Policy>,
    pub(crate) refresh: HashMap<String, Refresh>,
    /// One-time passcodes: code → (user iam_id, expiry).
    pub(crate) passcodes: HashMap<String, (String, u64)>,
    /// Page tokens: token → offset.
    pub(crate) pages: HashMap<String, usize>,
    pub(crate) access_tokens: Vec<String>,
    pub(crate) refresh_tokens: Vec<String>,
}

/// IAM state (service IDs, API keys, policies, tokens).
#[derive(Default)]
pub struct IamState {
    pub(crate) inner: Mutex<Inner>,
}

impl std::fmt::Debug for IamState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamState").finish_non_exhaustive()
    }
}

/// `yyyy-MM-ddTHH:mm+0000`, the Identity API's timestamp format.
pub(crate) fn identity_time(epoch: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(epoch as i64).expect("a valid time");
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}+0000",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// RFC 3339 UTC, the Policy API's timestamp format.
pub(crate) fn rfc3339(epoch: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch as i64)
        .expect("a valid time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339")
}

/// An entity tag `<version>-<32 hex>` for object `id` at `version`.
pub(crate) fn entity_tag(id: &str, version: u64) -> String {
    let digest = Sha256::digest(format!("{id}/{version}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{version}-{hex}")
}

/// A fresh secret of `len` URL-safe characters, like IAM API keys (44) and refresh tokens.
pub(crate) fn random_secret(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

impl IamState {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("iam lock")
    }

    /// Every service ID ever created, deleted ones included.
    pub fn service_ids(&self) -> Vec<ServiceId> {
        self.lock().service_ids.clone()
    }

    /// Every API key of the Identity API (created through it; seeded user keys are not
    /// listed here), deleted ones included.
    pub fn api_keys(&self) -> Vec<ApiKey> {
        self.lock()
            .api_keys
            .iter()
            .filter(|k| !k.seeded)
            .cloned()
            .collect()
    }

    /// Live (not deleted) API keys of `iam_id`.
    pub fn live_api_keys(&self, iam_id: &str) -> Vec<ApiKey> {
        self.lock()
            .api_keys
            .iter()
            .filter(|k| k.iam_id == iam_id && !k.deleted)
            .cloned()
            .collect()
    }

    /// Every policy, deleted ones included.
    pub fn policies(&self) -> Vec<Policy> {
        self.lock().policies.clone()
    }

    /// Every IAM access token issued by the public-cloud grants (for leak searches).
    pub fn access_tokens(&self) -> Vec<String> {
        self.lock().access_tokens.clone()
    }

    /// Every IAM refresh token issued (for leak searches).
    pub fn refresh_tokens(&self) -> Vec<String> {
        self.lock().refresh_tokens.clone()
    }

    /// Revokes every refresh token (a "session ended" scenario); returns how many there were.
    pub fn revoke_refresh_tokens(&self) -> usize {
        let mut inner = self.lock();
        let n = inner.refresh.len();
        inner.refresh.clear();
        n
    }

    /// Deletes an API key behind the client's back ("deleted by hand"); false if unknown.
    pub fn delete_api_key(&self, id: &str) -> bool {
        let mut inner = self.lock();
        match inner.api_keys.iter_mut().find(|k| k.id == id && !k.deleted) {
            Some(k) => {
                k.deleted = true;
                true
            }
            None => false,
        }
    }

    /// Disables or locks a key by id (as the console would); false if unknown.
    pub fn set_api_key_flags(&self, id: &str, locked: bool, disabled: bool) -> bool {
        let mut inner = self.lock();
        match inner.api_keys.iter_mut().find(|k| k.id == id && !k.deleted) {
            Some(k) => {
                k.locked = locked;
                k.disabled = disabled;
                true
            }
            None => false,
        }
    }

    /// The number of unused one-time passcodes.
    pub fn unused_passcodes(&self) -> usize {
        self.lock().passcodes.len()
    }
}

impl IamState {
    /// The state at start: the seeded users' API keys are live keys of their users.
    pub fn seeded(config: &super::IbmConfig) -> Self {
        let state = IamState::default();
        let now = identity_time(crate::now());
        let mut inner = state.lock();
        for user in &config.users {
            let Some(value) = &user.api_key else { continue };
            let account = user.accounts.first().cloned().unwrap_or_default();
            inner.api_keys.push(ApiKey {
                id: format!(
                    "ApiKey-{}",
                    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, user.iam_id.as_bytes())
                ),
                version: 1,
                iam_id: user.iam_id.clone(),
                account_id: account,
                name: format!("{} CLI key", user.name.0),
                description: "Seeded user API key".into(),
                value: value.clone(),
                store_value: false,
                support_sessions: false,
                action_when_leaked: "none".into(),
                expires_at: None,
                expires_epoch: None,
                locked: false,
                disabled: false,
                deleted: false,
                created_by: user.iam_id.clone(),
                created_at: now.clone(),
                modified_at: now.clone(),
                refusals_left: 0,
                seeded: true,
            });
        }
        drop(inner);
        state
    }
}

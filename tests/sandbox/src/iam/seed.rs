//! Seed data and settings of the public IBM Cloud side (icr-protocol.md): accounts, IAM users
//! with API keys, registry namespaces and images per region, and the documented limits.

use std::time::Duration;

/// Rights a user can hold in an account, the two the docs name for this job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountRole {
    /// "Service ID creator" on `iam-identity`: create service IDs and manage their API keys.
    ServiceIdCreator,
    /// Administrator on `container-registry`: assign registry policies; full registry access.
    RegistryAdministrator,
}

/// An IBM Cloud account (`account.bss` in tokens).
#[derive(Clone, Debug)]
pub struct IbmAccount {
    /// The BSS account id (32 hex digits).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Whether the registry enforces IAM policies (`ibmcloud cr iam-policies-enable`). When
    /// false, every identity of the account has full registry access.
    pub iam_policies_enforced: bool,
}

/// An IBM Cloud user (IBMid).
#[derive(Clone, Debug)]
pub struct IbmUser {
    /// `IBMid-...`.
    pub iam_id: String,
    /// E-mail, also the token's `sub` and `email`.
    pub email: String,
    /// Given and family name.
    pub name: (String, String),
    /// The user's API key (an IAM user API key), if any.
    pub api_key: Option<String>,
    /// Accounts the user belongs to; the first is the default.
    pub accounts: Vec<String>,
    /// Rights, in every account the user belongs to.
    pub roles: Vec<AccountRole>,
    /// `ims_user_id` of the token answer.
    pub ims_user_id: u64,
}

/// A registry namespace in one region of one account.
#[derive(Clone, Debug)]
pub struct IcrNamespace {
    /// Owning account id.
    pub account: String,
    /// Region id (`us-south`, `eu-de`, `global` for `icr.io`, ...).
    pub region: String,
    /// Namespace name.
    pub name: String,
}

/// An image `repository:tag` (repository = `<namespace>/<name>`) in a region.
#[derive(Clone, Debug)]
pub struct IcrImage {
    /// Region id.
    pub region: String,
    /// `<namespace>/<repo>`.
    pub repository: String,
    /// Tag.
    pub tag: String,
}

/// The limits of icr-protocol.md §2 (IAM known issues), lowered by tests.
#[derive(Clone, Debug)]
pub struct IamLimits {
    /// API keys per identity (user or service ID): 20.
    pub api_keys_per_identity: usize,
    /// Service IDs per account: 2000.
    pub service_ids_per_account: usize,
    /// Policies per account: 4020.
    pub policies_per_account: usize,
    /// Policies per subject within an account: 1000.
    pub policies_per_subject: usize,
}

impl Default for IamLimits {
    fn default() -> Self {
        IamLimits {
            api_keys_per_identity: 20,
            service_ids_per_account: 2000,
            policies_per_account: 4020,
            policies_per_subject: 1000,
        }
    }
}

/// Settings and seed data of the IBM Cloud IAM and icr.io emulation.
#[derive(Clone, Debug)]
pub struct IbmConfig {
    /// Accounts.
    pub accounts: Vec<IbmAccount>,
    /// Users.
    pub users: Vec<IbmUser>,
    /// The user whose "browser session" `GET /identity/passcode` issues one-time passcodes for.
    pub passcode_user: String,
    /// Registry namespaces.
    pub namespaces: Vec<IcrNamespace>,
    /// Images.
    pub images: Vec<IcrImage>,
    /// Limits.
    pub limits: IamLimits,
    /// IAM access token lifetime (3600 s).
    pub access_token_ttl: Duration,
    /// IAM refresh token lifetime.
    pub refresh_token_ttl: Duration,
    /// One-time passcode lifetime.
    pub passcode_ttl: Duration,
    /// Policy propagation: a newly created API key is refused by the registry's token
    /// endpoint this many times before it works (0 = at once).
    pub new_key_refusals: u32,
    /// Serve the icr.io front on port 443 of this loopback address (needs root or
    /// `CAP_NET_BIND_SERVICE`), so the real domain names work without a port.
    pub icr_on_port_443: Option<std::net::Ipv4Addr>,
}

/// The account of Dana, Erin and Frank.
pub const IBM_ACCOUNT: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
/// A second account, Dana's.
pub const IBM_OTHER_ACCOUNT: &str = "0f9e8d7c6b5a49382716a5b4c3d2e1f0";
/// The account owner: every right in both accounts; default account [`IBM_ACCOUNT`].
pub const DANA: &str = "dana@example.com";
/// Dana's IAM user API key.
pub const DANA_API_KEY: &str = "dana-ibm-api-key-0123456789abcdefghijklmnop";
/// A member of [`IBM_ACCOUNT`] without rights (no service IDs, no policies).
pub const ERIN: &str = "erin@example.com";
/// Erin's API key.
pub const ERIN_API_KEY: &str = "erin-ibm-api-key-0123456789abcdefghijklmnop";
/// A federated user: SSO one-time passcodes only; every right in [`IBM_ACCOUNT`].
pub const FRANK: &str = "frank@corp.example.com";
/// Namespace in `us-south` (us.icr.io) with `team-ns/app:1.0` and `team-ns/app:latest`.
pub const ICR_NAMESPACE: &str = "team-ns";
/// A second `us-south` namespace, with `other-ns/tool:2.0`.
pub const ICR_OTHER_NAMESPACE: &str = "other-ns";
/// Namespace in `global` (icr.io) with `global-ns/base:1`.
pub const ICR_GLOBAL_NAMESPACE: &str = "global-ns";
/// Namespace in `eu-de` (de.icr.io) with `de-ns/app:1.0`.
pub const ICR_DE_NAMESPACE: &str = "de-ns";
/// Namespace of [`IBM_OTHER_ACCOUNT`] in `us-south`, with `b-ns/app:1.0`.
pub const ICR_OTHER_ACCOUNT_NAMESPACE: &str = "b-ns";

impl Default for IbmConfig {
    fn default() -> Self {
        let s = |v: &str| v.to_string();
        let user = |email: &str, iam: &str, name: (&str, &str), key: Option<&str>| IbmUser {
            iam_id: s(iam),
            email: s(email),
            name: (s(name.0), s(name.1)),
            api_key: key.map(s),
            accounts: vec![s(IBM_ACCOUNT)],
            roles: vec![
                AccountRole::ServiceIdCreator,
                AccountRole::RegistryAdministrator,
            ],
            ims_user_id: 0,
        };
        let mut dana = user(
            DANA,
            "IBMid-2700DANA01",
            ("Dana", "Owner"),
            Some(DANA_API_KEY),
        );
        dana.accounts.push(s(IBM_OTHER_ACCOUNT));
        dana.ims_user_id = 1_234_567;
        let mut erin = user(
            ERIN,
            "IBMid-2700ERIN02",
            ("Erin", "Member"),
            Some(ERIN_API_KEY),
        );
        erin.roles.clear();
        let frank = user(FRANK, "IBMid-2700FRANK3", ("Frank", "Federated"), None);
        let ns = |account: &str, region: &str, name: &str| IcrNamespace {
            account: s(account),
            region: s(region),
            name: s(name),
        };
        let image = |region: &str, repository: &str, tag: &str| IcrImage {
            region: s(region),
            repository: s(repository),
            tag: s(tag),
        };
        IbmConfig {
            accounts: vec![
                IbmAccount {
                    id: s(IBM_ACCOUNT),
                    name: s("Sandbox Account"),
                    iam_policies_enforced: true,
                },
                IbmAccount {
                    id: s(IBM_OTHER_ACCOUNT),
                    name: s("Other Account"),
                    iam_policies_enforced: true,
                },
            ],
            users: vec![dana, erin, frank],
            passcode_user: s(FRANK),
            namespaces: vec![
                ns(IBM_ACCOUNT, "us-south", ICR_NAMESPACE),
                ns(IBM_ACCOUNT, "us-south", ICR_OTHER_NAMESPACE),
                ns(IBM_ACCOUNT, "global", ICR_GLOBAL_NAMESPACE),
                ns(IBM_ACCOUNT, "eu-de", ICR_DE_NAMESPACE),
                ns(IBM_OTHER_ACCOUNT, "us-south", ICR_OTHER_ACCOUNT_NAMESPACE),
            ],
            images: vec![
                image("us-south", "team-ns/app", "1.0"),
                image("us-south", "team-ns/app", "latest"),
                image("us-south", "other-ns/tool", "2.0"),
                image("global", "global-ns/base", "1"),
                image("eu-de", "de-ns/app", "1.0"),
                image("us-south", "b-ns/app", "1.0"),
            ],
            limits: IamLimits::default(),
            access_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            passcode_ttl: Duration::from_secs(300),
            new_key_refusals: 0,
            icr_on_port_443: None,
        }
    }
}

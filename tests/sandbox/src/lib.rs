//! `dedicated-sandbox`: a local, faithful stand-in for an IBM Cloud (Bluemix) Dedicated
//! environment and a Kubernetes API server, served over HTTPS on loopback.
//!
//! It emulates, following `shared/docs/protocol.md`:
//! - the Cloud Foundry Cloud Controller (`/v2/info`, `/`, org lookup),
//! - the login server and UAA (`/login`, `/passcode`, `/oauth/token`),
//! - the registry management API (`/api/v1`) and Docker Registry v2 token auth,
//! - a Kubernetes API server good enough for this plugin and for the real `kubectl`.
//!
//! Every server runs on its own loopback port with a certificate from a CA generated at
//! start-up. Tests get a request journal ([`journal::Journal`]), state inspection, and fault
//! injection ([`faults::Faults`]). Nothing here is production code: it exists so the plugin can
//! be tested against strict servers without IBM's or a real cluster.

pub mod cf;
pub mod docker_registry;
pub mod faults;
pub mod iam;
pub mod icr;
pub mod journal;
pub mod jwt;
pub mod kube;
pub mod registry;
pub mod tls;
pub mod uaa;
pub mod variants;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use faults::{Fault, FaultAction};
pub use journal::{Entry, fingerprint, holds_secret, secret_forms};
pub use variants::Variant;

/// The emulated servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Service {
    /// Cloud Foundry Cloud Controller (`api.<domain>`).
    CloudController,
    /// Login server (`login.<domain>`), the `authorization_endpoint`, served under a path.
    Login,
    /// UAA (`uaa.<domain>`), the `token_endpoint`.
    Uaa,
    /// Registry (`registry.<domain>`): `/api/v1` management API and Docker Registry v2.
    Registry,
    /// Kubernetes API server.
    Kube,
    /// IBM Cloud IAM: `/identity/token`, the Identity API (`/v1/serviceids`, `/v1/apikeys`)
    /// and the Policy API (`/v1/policies`, `/v2/policies`).
    Iam,
    /// The icr.io registry front: every icr.io domain, routed by `Host`.
    Icr,
}

/// The path under which the login server is served, as Bluemix's was
/// (`https://login.ng.bluemix.net/UAALoginServerWAR`). Clients must append to it, not replace it.
pub const LOGIN_PATH: &str = "/UAALoginServerWAR";

/// A seeded Cloud Foundry user.
#[derive(Clone, Debug)]
pub struct SeedUser {
    /// UAA `user_id` (a GUID).
    pub id: String,
    /// UAA `user_name`.
    pub username: String,
    /// Password for the password grant; `None` for a federated (SSO-only) user.
    pub password: Option<String>,
    /// Platform API key accepted as `username=apikey&password=<key>`.
    pub api_key: Option<String>,
    /// E-mail claim.
    pub email: String,
    /// Names of the orgs the user belongs to.
    pub orgs: Vec<String>,
}

/// A seeded Cloud Foundry org.
#[derive(Clone, Debug)]
pub struct SeedOrg {
    /// The org GUID (the registry's `Organization` header).
    pub guid: String,
    /// The org name.
    pub name: String,
    /// Registry namespaces owned by the org.
    pub registry_namespaces: Vec<String>,
}

/// One RBAC rule of a Kubernetes user: `verbs` on `resources` in `namespace` (`None` = all).
/// `"*"` matches any verb or resource.
#[derive(Clone, Debug)]
pub struct KubeRule {
    /// Namespace the rule applies to; `None` for every namespace and cluster-scoped resources.
    pub namespace: Option<String>,
    /// Resource names (plural, e.g. `secrets`) or `"*"` (every resource of every group). A
    /// resource of a named API group is written group-qualified, as `kubectl create role
    /// --resource` takes it: `leases.coordination.k8s.io`, `events.events.k8s.io` (an RBAC rule
    /// with that resource in `apiGroups: [<group>]`); a bare `leases` is the core group only.
    pub resources: Vec<String>,
    /// Verbs (`get`, `list`, `create`, `update`, `patch`, `delete`) or `"*"`.
    pub verbs: Vec<String>,
    /// Object names the rule is limited to (RBAC's `resourceNames`); empty: every name. As the
    /// real authorizer: a `create` has no name and is never granted by such a rule; a `list` or
    /// `watch` is granted only with `fieldSelector=metadata.name=<one of them>`.
    pub resource_names: Vec<String>,
}

/// A Kubernetes user authenticated by a bearer token.
#[derive(Clone, Debug)]
pub struct KubeUser {
    /// The user name shown in `Forbidden` messages.
    pub name: String,
    /// The bearer token in the kubeconfig.
    pub token: String,
    /// What the user may do.
    pub rules: Vec<KubeRule>,
}

impl KubeRule {
    /// `verbs` on `resources` in namespace `namespace` only (a Role and its RoleBinding).
    pub fn namespaced(namespace: &str, resources: &[&str], verbs: &[&str]) -> KubeRule {
        KubeRule {
            namespace: Some(namespace.into()),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            resource_names: vec![],
        }
    }

    /// The same rule limited to objects named `names` (RBAC's `resourceNames`).
    pub fn named(mut self, names: &[&str]) -> KubeRule {
        self.resource_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// `verbs` on `resources` everywhere (a ClusterRole and its ClusterRoleBinding).
    pub fn cluster(resources: &[&str], verbs: &[&str]) -> KubeRule {
        KubeRule {
            namespace: None,
            resources: resources.iter().map(|s| s.to_string()).collect(),
            verbs: verbs.iter().map(|s| s.to_string()).collect(),
            resource_names: vec![],
        }
    }
}

impl KubeUser {
    /// ServiceAccount `name` of `namespace` as the API server authenticates its token: user
    /// `system:serviceaccount:<namespace>:<name>` (the name in `Forbidden` messages), with
    /// bearer token `token` and `rules`. Add it to [`SandboxConfig::kube_users`]; the kubeconfig
    /// then has a context of that user name.
    pub fn service_account(
        namespace: &str,
        name: &str,
        token: &str,
        rules: Vec<KubeRule>,
    ) -> KubeUser {
        KubeUser {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            token: token.into(),
            rules,
        }
    }

    /// `sandbox-ns-writer`: rights from per-namespace RoleBindings, as many real users have.
    /// It may get and list namespaces everywhere (a ClusterRoleBinding), and in each of
    /// `namespaces` (one RoleBinding each) do anything with secrets and get, list and update
    /// service accounts. It may not list secrets across namespaces, and the cluster-wide
    /// SelfSubjectAccessReview for secrets answers no.
    pub fn namespace_writer<S: AsRef<str>>(namespaces: impl IntoIterator<Item = S>) -> KubeUser {
        let all = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut rules = vec![KubeRule {
            namespace: None,
            resources: all(&["namespaces"]),
            verbs: all(&["get", "list"]),
            resource_names: vec![],
        }];
        for ns in namespaces {
            let ns = ns.as_ref().to_string();
            rules.push(KubeRule {
                namespace: Some(ns.clone()),
                resources: all(&["secrets"]),
                verbs: all(&["*"]),
                resource_names: vec![],
            });
            rules.push(KubeRule {
                namespace: Some(ns),
                resources: all(&["serviceaccounts"]),
                verbs: all(&["get", "list", "update"]),
                resource_names: vec![],
            });
        }
        KubeUser {
            name: seed::KUBE_NS_WRITER.into(),
            token: seed::KUBE_NS_WRITER_TOKEN.into(),
            rules,
        }
    }
}

/// Sandbox settings and seed data.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// The Dedicated domain, used in `iss` claims and messages.
    pub domain: String,
    /// Lifetime of UAA access tokens.
    pub access_token_ttl: Duration,
    /// Lifetime of UAA refresh tokens.
    pub refresh_token_ttl: Duration,
    /// Lifetime of SSO one-time passcodes.
    pub passcode_ttl: Duration,
    /// Lifetime of non-permanent registry tokens (24 h at IBM).
    pub registry_token_ttl: Duration,
    /// Seeded users.
    pub users: Vec<SeedUser>,
    /// Seeded orgs.
    pub orgs: Vec<SeedOrg>,
    /// The SSO user whose "browser session" `GET /passcode` issues codes for.
    pub sso_browser_user: String,
    /// Kubernetes users (bearer tokens).
    pub kube_users: Vec<KubeUser>,
    /// Kubernetes namespaces created at start (each with a `default` ServiceAccount).
    pub namespaces: Vec<String>,
    /// Behaviours switched to how a real environment may differ (none by default).
    pub variants: std::collections::BTreeSet<Variant>,
    /// Serve the registry on port 443 of this loopback address (e.g. `127.0.0.7`), so that its
    /// host has no port, as IBM's registries have (`registry.<domain>`). `None`: a free port on
    /// 127.0.0.1. Binding port 443 needs root (the CI machine) or `CAP_NET_BIND_SERVICE`.
    pub registry_on_port_443: Option<std::net::Ipv4Addr>,
    /// A fixed delay before every request to every service is handled, as a network round
    /// trip of that length would add (for latency-aware benchmarks; zero by default).
    pub latency: Duration,
    /// The public IBM Cloud side: IAM accounts and users, icr.io namespaces and images.
    pub ibm: iam::IbmConfig,
}

/// Well-known seed values, so tests and the README demo can refer to them.
pub mod seed {
    /// A user in two orgs with a password and an API key.
    pub const ALICE: &str = "alice@example.com";
    /// Alice's password.
    pub const ALICE_PASSWORD: &str = "alice-password";
    /// Alice's platform API key.
    pub const ALICE_API_KEY: &str = "alice-api-key-0123456789";
    /// A user in exactly one org.
    pub const BOB: &str = "bob@example.com";
    /// Bob's password.
    pub const BOB_PASSWORD: &str = "bob-password";
    /// A federated user who can only log in with an SSO passcode.
    pub const CAROL: &str = "carol@corp.example.com";
    /// A user in no org.
    pub const MALLORY: &str = "mallory@example.com";
    /// Mallory's password.
    pub const MALLORY_PASSWORD: &str = "mallory-password";
    /// The org everybody but Mallory is in.
    pub const DEV_ORG: &str = "dev-org";
    /// Its GUID.
    pub const DEV_ORG_GUID: &str = "0d5a3bd1-6f64-4f65-9b8a-4b3f2b8f6a01";
    /// Alice's second org.
    pub const OPS_ORG: &str = "ops-org";
    /// Its GUID.
    pub const OPS_ORG_GUID: &str = "7c1e2f30-2b5d-4a7e-8f1c-9d0e3a4b5c02";
    /// Registry namespace of `dev-org` with a seeded image `demo/hello:v1`.
    pub const DEV_REGISTRY_NAMESPACE: &str = "demo";
    /// Kubernetes token with every permission.
    pub const KUBE_ADMIN_TOKEN: &str = "sandbox-admin-token";
    /// Kubernetes token that may read and write secrets in `team-a` only.
    pub const KUBE_DEV_TOKEN: &str = "sandbox-dev-token";
    /// Kubernetes token that may only read.
    pub const KUBE_VIEWER_TOKEN: &str = "sandbox-viewer-token";
    /// The user of [`crate::KubeUser::namespace_writer`] (per-namespace grants).
    pub const KUBE_NS_WRITER: &str = "sandbox-ns-writer";
    /// Its token.
    pub const KUBE_NS_WRITER_TOKEN: &str = "sandbox-ns-writer-token";
    /// The public IBM Cloud seed (accounts, IAM users, icr.io namespaces).
    pub use crate::iam::seed::{
        DANA, DANA_API_KEY, ERIN, ERIN_API_KEY, FRANK, IBM_ACCOUNT, IBM_OTHER_ACCOUNT,
        ICR_DE_NAMESPACE, ICR_GLOBAL_NAMESPACE, ICR_NAMESPACE, ICR_OTHER_ACCOUNT_NAMESPACE,
        ICR_OTHER_NAMESPACE,
    };
}

impl Default for SandboxConfig {
    fn default() -> Self {
        use seed::*;
        let all = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        SandboxConfig {
            domain: "sandbox.dedicated.test".into(),
            access_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            passcode_ttl: Duration::from_secs(300),
            registry_token_ttl: Duration::from_secs(24 * 3600),
            users: vec![
                SeedUser {
                    id: "5f0e7d5e-1111-4a8e-9c61-0a1b2c3d4e01".into(),
                    username: ALICE.into(),
                    password: Some(ALICE_PASSWORD.into()),
                    api_key: Some(ALICE_API_KEY.into()),
                    email: ALICE.into(),
                    orgs: all(&[DEV_ORG, OPS_ORG]),
                },
                SeedUser {
                    id: "5f0e7d5e-2222-4a8e-9c61-0a1b2c3d4e02".into(),
                    username: BOB.into(),
                    password: Some(BOB_PASSWORD.into()),
                    api_key: None,
                    email: BOB.into(),
                    orgs: all(&[DEV_ORG]),
                },
                SeedUser {
                    id: "5f0e7d5e-3333-4a8e-9c61-0a1b2c3d4e03".into(),
                    username: CAROL.into(),
                    password: None,
                    api_key: None,
                    email: CAROL.into(),
                    orgs: all(&[DEV_ORG]),
                },
                SeedUser {
                    id: "5f0e7d5e-4444-4a8e-9c61-0a1b2c3d4e04".into(),
                    username: MALLORY.into(),
                    password: Some(MALLORY_PASSWORD.into()),
                    api_key: None,
                    email: MALLORY.into(),
                    orgs: vec![],
                },
            ],
            orgs: vec![
                SeedOrg {
                    guid: DEV_ORG_GUID.into(),
                    name: DEV_ORG.into(),
                    registry_namespaces: all(&[DEV_REGISTRY_NAMESPACE]),
                },
                SeedOrg {
                    guid: OPS_ORG_GUID.into(),
                    name: OPS_ORG.into(),
                    registry_namespaces: all(&["ops"]),
                },
            ],
            sso_browser_user: CAROL.into(),
            kube_users: vec![
                KubeUser {
                    name: "sandbox-admin".into(),
                    token: KUBE_ADMIN_TOKEN.into(),
                    rules: vec![KubeRule {
                        namespace: None,
                        resources: all(&["*"]),
                        verbs: all(&["*"]),
                        resource_names: vec![],
                    }],
                },
                KubeUser {
                    name: "sandbox-dev".into(),
                    token: KUBE_DEV_TOKEN.into(),
                    rules: vec![
                        KubeRule {
                            namespace: Some("team-a".into()),
                            resources: all(&["secrets", "pods"]),
                            verbs: all(&["*"]),
                            resource_names: vec![],
                        },
                        KubeRule {
                            namespace: Some("team-a".into()),
                            resources: all(&["serviceaccounts"]),
                            verbs: all(&["get", "list"]),
                            resource_names: vec![],
                        },
                    ],
                },
                KubeUser {
                    name: "sandbox-viewer".into(),
                    token: KUBE_VIEWER_TOKEN.into(),
                    rules: vec![KubeRule {
                        namespace: None,
                        resources: all(&["*"]),
                        verbs: all(&["get", "list"]),
                        resource_names: vec![],
                    }],
                },
            ],
            namespaces: all(&["default", "kube-system", "team-a", "team-b"]),
            variants: Default::default(),
            registry_on_port_443: None,
            latency: Duration::ZERO,
            ibm: iam::IbmConfig::default(),
        }
    }
}

/// Shared state of all emulated servers.
pub struct World {
    /// Settings and seed data.
    pub config: SandboxConfig,
    /// Requests received.
    pub journal: journal::Journal,
    /// Active faults.
    pub faults: faults::Faults,
    /// UAA and login state (tokens, passcodes).
    pub uaa: uaa::UaaState,
    /// Registry state (issued tokens).
    pub registry: registry::RegistryState,
    /// Kubernetes objects.
    pub kube: kube::KubeState,
    /// Public IBM Cloud IAM: service IDs, API keys, policies, tokens.
    pub iam: iam::IamState,
    /// icr.io images.
    pub icr: icr::IcrState,
    /// Base URLs of every server, known once they are bound.
    pub urls: Urls,
}

/// Where each server listens.
#[derive(Clone, Debug, Serialize)]
pub struct Urls {
    /// Cloud Controller base URL, e.g. `https://127.0.0.1:40001`.
    pub api: String,
    /// Login server, with its path: `https://127.0.0.1:40002/UAALoginServerWAR`.
    pub login: String,
    /// UAA base URL.
    pub uaa: String,
    /// Registry base URL (`/api/v1` and `/v2/`).
    pub registry: String,
    /// Registry host as it appears in pull secrets and image references: `127.0.0.1:40004`.
    pub registry_host: String,
    /// Kubernetes API server base URL.
    pub kube: String,
    /// IAM base URL (`--iam-url`): token endpoint, Identity and Policy APIs.
    pub iam: String,
    /// The icr.io front by address, e.g. `https://127.0.0.1:40007` (its certificate names the
    /// icr.io domains, not this address: pin a domain to [`Urls::icr_address`] instead).
    pub icr: String,
    /// `ip:port` of the icr.io front, where clients pin every icr.io domain.
    pub icr_address: String,
}

impl World {
    /// The seeded user with this name.
    pub fn user(&self, username: &str) -> Option<&SeedUser> {
        self.config.users.iter().find(|u| u.username == username)
    }

    /// The seeded org with this GUID.
    pub fn org_by_guid(&self, guid: &str) -> Option<&SeedOrg> {
        self.config.orgs.iter().find(|o| o.guid == guid)
    }
}

/// A running sandbox. Servers stop when it is dropped.
pub struct Sandbox {
    /// Shared state: journal, faults, tokens, objects.
    pub world: Arc<World>,
    /// The generated PKI.
    pub pki: tls::Pki,
    dir: PathBuf,
    _tempdir: Option<tempdir::TempDir>,
    handles: Vec<axum_server::Handle<SocketAddr>>,
}

mod tempdir {
    /// A directory removed on drop (kept tiny so the crate needs no `tempfile` dependency).
    pub struct TempDir(pub std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Sandbox {
    /// Starts every server with the default seed data, files in a fresh temporary directory.
    pub async fn start() -> anyhow::Result<Sandbox> {
        Self::start_with(SandboxConfig::default(), None).await
    }

    /// Starts every server with `config`. Files (CA, kubeconfig) go to `dir`, or to a temporary
    /// directory removed when the sandbox is dropped.
    pub async fn start_with(config: SandboxConfig, dir: Option<&Path>) -> anyhow::Result<Sandbox> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (dir, tempdir) = match dir {
            Some(d) => {
                std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
                (d.to_path_buf(), None)
            }
            None => {
                let d = std::env::temp_dir().join(format!(
                    "dedicated-sandbox-{}-{}",
                    std::process::id(),
                    uuid::Uuid::new_v4().simple()
                ));
                std::fs::create_dir_all(&d)?;
                (d.clone(), Some(tempdir::TempDir(d)))
            }
        };
        let mut extra_names: Vec<String> = config
            .registry_on_port_443
            .iter()
            .chain(config.ibm.icr_on_port_443.iter())
            .map(|ip| ip.to_string())
            .collect();
        extra_names.extend(icr::certificate_names());
        let pki = tls::Pki::generate_for(&extra_names).context("generating the sandbox CA")?;
        let tls_config = axum_server::tls_rustls::RustlsConfig::from_pem(
            pki.leaf_pem.clone().into_bytes(),
            pki.leaf_key_pem.clone().into_bytes(),
        )
        .await
        .context("loading the sandbox certificate")?;

        let services = [
            Service::CloudController,
            Service::Login,
            Service::Uaa,
            Service::Registry,
            Service::Kube,
            Service::Iam,
            Service::Icr,
        ];
        let mut listeners = Vec::new();
        for service in services {
            let address = match (service, config.registry_on_port_443) {
                (Service::Registry, Some(ip)) => std::net::SocketAddr::from((ip, 443)),
                (Service::Icr, _) => match config.ibm.icr_on_port_443 {
                    Some(ip) => std::net::SocketAddr::from((ip, 443)),
                    None => std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                },
                _ => std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            };
            let listener = std::net::TcpListener::bind(address)
                .with_context(|| format!("binding {service:?} to {address}"))?;
            listener.set_nonblocking(true)?;
            listeners.push(listener);
        }
        // A URL authority as clients write it: no `:443` for the default port.
        let authority = |l: &std::net::TcpListener| -> anyhow::Result<String> {
            let address = l.local_addr()?;
            Ok(if address.port() == 443 {
                address.ip().to_string()
            } else {
                address.to_string()
            })
        };
        let base = |l: &std::net::TcpListener| -> anyhow::Result<String> {
            Ok(format!("https://{}", l.local_addr()?))
        };
        let urls = Urls {
            api: base(&listeners[0])?,
            login: format!("{}{}", base(&listeners[1])?, LOGIN_PATH),
            uaa: base(&listeners[2])?,
            registry: format!("https://{}", authority(&listeners[3])?),
            registry_host: authority(&listeners[3])?,
            kube: base(&listeners[4])?,
            iam: base(&listeners[5])?,
            icr: base(&listeners[6])?,
            icr_address: listeners[6].local_addr()?.to_string(),
        };
        let world = Arc::new(World {
            uaa: uaa::UaaState::default(),
            registry: registry::RegistryState::default(),
            kube: kube::KubeState::new(&config),
            iam: iam::IamState::seeded(&config.ibm),
            icr: icr::IcrState::seeded(&config.ibm),
            journal: journal::Journal::default(),
            faults: faults::Faults::default(),
            config,
            urls,
        });

        let mut handles = Vec::new();
        for (service, listener) in services.into_iter().zip(listeners) {
            let router = match service {
                Service::CloudController => cf::router(world.clone()),
                Service::Login => Router::new().nest(LOGIN_PATH, uaa::router(world.clone())),
                Service::Uaa => uaa::router(world.clone()),
                Service::Registry => registry::router(world.clone()),
                Service::Kube => kube::router(world.clone()),
                Service::Iam => iam::router(world.clone()),
                Service::Icr => icr::router(world.clone()),
            };
            let router = router.layer(axum::middleware::from_fn_with_state(
                (world.clone(), service),
                variants::apply,
            ));
            let router = router.layer(axum::middleware::from_fn_with_state(
                (world.clone(), service),
                observe,
            ));
            let handle = axum_server::Handle::new();
            let server = axum_server::from_tcp_rustls(listener, tls_config.clone())?
                .handle(handle.clone())
                .serve(router.into_make_service());
            tokio::spawn(async move {
                if let Err(e) = server.await {
                    eprintln!("dedicated-sandbox: {service:?} server stopped: {e}");
                }
            });
            handles.push(handle);
        }
        for handle in &handles {
            handle.listening().await;
        }

        let sandbox = Sandbox {
            world,
            pki,
            dir,
            _tempdir: tempdir,
            handles,
        };
        std::fs::write(sandbox.ca_file(), &sandbox.pki.ca_pem)?;
        std::fs::write(sandbox.kubeconfig_path(), sandbox.kubeconfig_yaml())?;
        Ok(sandbox)
    }

    /// Base URLs of the servers.
    pub fn urls(&self) -> &Urls {
        &self.world.urls
    }

    /// The directory holding the CA file and the kubeconfig.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the CA certificate (PEM) clients must trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Path of the generated kubeconfig.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// A kubeconfig with one context per Kubernetes user: `sandbox-admin` (current, namespace
    /// `default`), `sandbox-dev` (namespace `team-a`) and `sandbox-viewer`.
    pub fn kubeconfig_yaml(&self) -> String {
        use base64::Engine as _;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.pki.ca_pem);
        let mut contexts = String::new();
        let mut users = String::new();
        for user in &self.world.config.kube_users {
            let namespace = if user.name == "sandbox-dev" {
                "team-a"
            } else {
                "default"
            };
            contexts.push_str(&format!(
                "- name: {name}\n  context:\n    cluster: sandbox\n    user: {name}\n    namespace: {namespace}\n",
                name = user.name
            ));
            users.push_str(&format!(
                "- name: {}\n  user:\n    token: {}\n",
                user.name, user.token
            ));
        }
        format!(
            "apiVersion: v1\nkind: Config\npreferences: {{}}\ncurrent-context: sandbox-admin\nclusters:\n- name: sandbox\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\ncontexts:\n{contexts}users:\n{users}",
            self.world.urls.kube
        )
    }

    /// The request journal.
    pub fn journal(&self) -> &journal::Journal {
        &self.world.journal
    }

    /// Adds a fault rule.
    pub fn inject(&self, fault: Fault) {
        self.world.faults.inject(fault);
    }

    /// Removes all fault rules.
    pub fn clear_faults(&self) {
        self.world.faults.clear();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.shutdown();
        }
    }
}

/// Largest request body the sandbox accepts (the journal buffers bodies).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Middleware around every server: records the request in the journal, applies faults, and
/// records the response status.
async fn observe(
    State((world, service)): State<(Arc<World>, Service)>,
    request: Request,
    next: Next,
) -> Response {
    if !world.config.latency.is_zero() {
        tokio::time::sleep(world.config.latency).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return (axum::http::StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
        }
    };
    let mut entry = journal::entry_for(service, &parts, &bytes);
    if service == Service::Login {
        // Record the path as the client sent it, prefix included.
        entry.path = parts.uri.path().to_string();
    }
    let index = world
        .journal
        .record(entry, journal::raw_request(&parts, &bytes));
    let host = parts
        .headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
    let action = world.faults.take(
        service,
        parts.method.as_str(),
        parts.uri.path(),
        &host.to_ascii_lowercase(),
    );
    let response = match action {
        Some(FaultAction::Respond {
            status,
            content_type,
            body,
        }) => Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Body::from(body))
            .expect("valid fault response"),
        Some(FaultAction::RetryAfter {
            status,
            seconds,
            body,
        }) => Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header("retry-after", seconds.to_string())
            .body(Body::from(body))
            .expect("valid fault response"),
        Some(FaultAction::Drop) => {
            let stream = futures_util_stream_error();
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from_stream(stream))
                .expect("valid drop response")
        }
        Some(FaultAction::Delay(d)) => {
            tokio::time::sleep(d).await;
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Some(FaultAction::RunThenDrop) => {
            let handled = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let (mut head, _body) = handled.into_parts();
            head.headers.remove(axum::http::header::CONTENT_LENGTH);
            Response::from_parts(head, Body::from_stream(futures_util_stream_error()))
        }
        Some(FaultAction::RunThenRespond {
            status,
            content_type,
            body,
        }) => {
            // The handler's answer is discarded: the client only sees the failure.
            let _handled = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            Response::builder()
                .status(status)
                .header("content-type", content_type)
                .body(Body::from(body))
                .expect("valid fault response")
        }
        Some(FaultAction::CommitAfterHangup(d)) => {
            // The sender lives in this future: it is dropped when the client hangs up and the
            // server cancels the request, which starts the late commit.
            let (hangup_tx, hangup_rx) = tokio::sync::oneshot::channel::<()>();
            let request = Request::from_parts(parts, Body::from(bytes));
            let late_world = world.clone();
            tokio::spawn(async move {
                let _ = hangup_rx.await;
                tokio::time::sleep(d).await;
                let response = next.run(request).await;
                late_world
                    .journal
                    .set_status(index, response.status().as_u16());
            });
            let _hangup = hangup_tx;
            std::future::pending::<Response>().await
        }
        Some(FaultAction::RunThenDelay(d)) => {
            let request = Request::from_parts(parts, Body::from(bytes));
            // Spawned, so a client hanging up cannot cancel what the server already does.
            let handled = tokio::spawn(async move { next.run(request).await });
            tokio::time::sleep(d).await;
            handled.await.unwrap_or_else(|_| {
                Response::builder()
                    .status(500)
                    .body(Body::empty())
                    .expect("valid response")
            })
        }
        Some(FaultAction::Meanwhile(change)) => {
            change(&world);
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Some(FaultAction::Redirect { status, location }) => Response::builder()
            .status(status)
            .header("location", location)
            .body(Body::empty())
            .expect("valid redirect response"),
        None => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    };
    world.journal.set_status(index, response.status().as_u16());
    response
}

/// A body stream that fails at once, which makes hyper abort the connection.
fn futures_util_stream_error()
-> impl futures_core::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send {
    struct Fail(bool);
    impl futures_core::Stream for Fail {
        type Item = Result<axum::body::Bytes, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            if self.0 {
                return std::task::Poll::Ready(None);
            }
            self.0 = true;
            std::task::Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "fault injection: connection dropped",
            ))))
        }
    }
    Fail(false)
}

/// Epoch seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

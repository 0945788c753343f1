//! The IBM Cloud Container Registry front (icr-protocol.md §5): one listener for every icr.io
//! domain, routed by the `Host` header (or the HTTP/2 authority), with a certificate whose
//! names cover them all.
//!
//! - Docker Registry v2 ([`v2`]): the `Bearer` challenge with the realm
//!   `https://<host>/oauth/token`, `service=registry`, unquoted values as observed at icr.io;
//!   the realm takes Basic `iamapikey:<API key>`, `iambearer:<IAM access token>` or
//!   `iamrefresh:<IAM refresh token>` and grants what the identity's IAM policies allow
//!   ([`crate::iam::policy::decide`]); tags, manifests and blobs of seeded images.
//! - The management API ([`api`]): `/api/v1/namespaces`, `/api/v1/namespaces/details`,
//!   `/api/v1/images`, with `Authorization: Bearer <IAM access token>` and `Account`.
//!
//! Clients reach the real names on loopback by pinning them to [`crate::Urls::icr_address`]
//! (`dedicated-sandbox up` prints `KUBECTL_DEDICATED_REGISTRY_RESOLVE=...`).

#![allow(
    clippy::result_large_err,
    reason = "errors are the HTTP responses themselves, built once per request"
)]

pub mod api;
pub mod store;
pub mod v2;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};

use crate::World;
use crate::variants::Variant;

pub use store::IcrState;

/// The public icr.io domains and their region ids (icr-protocol.md §5 "Domains"). Each has a
/// `private.` twin.
pub const DOMAINS: &[(&str, &str)] = &[
    ("icr.io", "global"),
    ("au.icr.io", "au-syd"),
    ("br.icr.io", "br-sao"),
    ("ca2.icr.io", "ca-mon"),
    ("ca.icr.io", "ca-tor"),
    ("de.icr.io", "eu-de"),
    ("es.icr.io", "eu-es"),
    ("uk.icr.io", "eu-gb"),
    ("in.icr.io", "in-che"),
    ("in2.icr.io", "in-mum"),
    ("jp2.icr.io", "jp-osa"),
    ("jp.icr.io", "jp-tok"),
    ("us.icr.io", "us-south"),
];

/// The restricted `fr2.icr.io` (`eu-fr2`), served only with the `icr-fr2` variant.
pub const FR2: (&str, &str) = ("fr2.icr.io", "eu-fr2");

/// Region ids of the regional registries (the `region` values of policies; `global` too).
pub const REGIONS: &[&str] = &[
    "au-syd", "br-sao", "ca-mon", "ca-tor", "eu-de", "eu-es", "eu-gb", "in-che", "in-mum",
    "jp-osa", "jp-tok", "us-south", "eu-fr2",
];

/// Every domain name the certificate covers: public, `private.`, and `fr2`.
pub fn certificate_names() -> Vec<String> {
    DOMAINS
        .iter()
        .chain(std::iter::once(&FR2))
        .flat_map(|(d, _)| [d.to_string(), format!("private.{d}")])
        .collect()
}

/// The domains served under `variants` (public ones first, then `private.`).
pub fn served_domains(config: &crate::SandboxConfig) -> Vec<String> {
    let mut public: Vec<&str> = DOMAINS.iter().map(|(d, _)| *d).collect();
    if config.has(Variant::IcrFr2) {
        public.push(FR2.0);
    }
    let private = public.iter().map(|d| format!("private.{d}"));
    public
        .iter()
        .map(|d| d.to_string())
        .chain(private)
        .collect()
}

/// The region of a served domain (`private.us.icr.io` → `us-south`).
pub fn region_of(config: &crate::SandboxConfig, domain: &str) -> Option<&'static str> {
    let public = domain.strip_prefix("private.").unwrap_or(domain);
    let fr2 = (config.has(Variant::IcrFr2) && public == FR2.0).then_some(FR2.1);
    DOMAINS
        .iter()
        .find(|(d, _)| *d == public)
        .map(|(_, r)| *r)
        .or(fr2)
}

/// The request's host as sent (`us.icr.io:40123`), and its lowercase name (`us.icr.io`).
pub(crate) struct Host {
    /// As sent, for the realm URL.
    pub(crate) authority: String,
    /// Without the port, lowercase.
    pub(crate) name: String,
    /// Its region.
    pub(crate) region: &'static str,
}

/// Resolves the request's domain; `Err` is the 421 of a name this listener does not serve.
#[allow(
    clippy::result_large_err,
    reason = "the error is the HTTP response itself, built once per request"
)]
pub(crate) fn host(world: &World, headers: &HeaderMap, uri: &Uri) -> Result<Host, Response> {
    let authority = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let name = match authority.rsplit_once(':') {
        Some((n, port)) if port.chars().all(|c| c.is_ascii_digit()) => n,
        _ => authority.as_str(),
    }
    .to_ascii_lowercase();
    match region_of(&world.config, &name) {
        Some(region) => Ok(Host {
            authority,
            name,
            region,
        }),
        None => Err((
            StatusCode::MISDIRECTED_REQUEST,
            format!("this server does not serve {authority:?}: use an icr.io domain\n"),
        )
            .into_response()),
    }
}

/// The routes of the icr.io front.
pub fn router(world: Arc<World>) -> Router {
    Router::new()
        .route("/oauth/token", get(v2::realm_get).post(v2::realm_post))
        .route("/v2/", any(v2::v2))
        .route("/v2/{*rest}", any(v2::v2))
        .route("/api/v1/namespaces", get(api::namespaces))
        .route("/api/v1/namespaces/details", get(api::namespace_details))
        .route("/api/v1/images", get(api::images))
        .with_state(world)
}

impl crate::Sandbox {
    /// `host=addr,...` pinning every served icr.io domain to the icr listener, the value of
    /// `KUBECTL_DEDICATED_REGISTRY_RESOLVE`.
    pub fn icr_resolve(&self) -> String {
        let address = &self.world.urls.icr_address;
        served_domains(&self.world.config)
            .iter()
            .map(|d| format!("{d}={address}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The base URL of `domain` as clients address it: `https://us.icr.io` when the front is on
    /// port 443, else `https://us.icr.io:<port>`.
    pub fn icr_url(&self, domain: &str) -> String {
        let port = self
            .world
            .urls
            .icr_address
            .rsplit_once(':')
            .map(|(_, p)| p)
            .unwrap_or("443");
        if port == "443" {
            format!("https://{domain}")
        } else {
            format!("https://{domain}:{port}")
        }
    }
}

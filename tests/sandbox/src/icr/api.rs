//! The Container Registry management API at the icr.io front (icr-protocol.md §5):
//! `Authorization: Bearer <IAM access token>` and `Account: <account id>` on every call; errors
//! in the registry's `{"code","message","request-id"}` shape.
//!
//! `GET /api/v1/namespaces` lists the namespaces of the domain's region the identity may read
//! (INFERRED for namespace-scoped identities: `icr-namespaces-unlisted` lists nothing for them,
//! only account-wide readers see names); `/api/v1/namespaces/details` the same as objects;
//! `/api/v1/images?namespace=&includeIBM=&includePrivate=&includeManifestLists=&vulnerabilities=`
//! the images of readable namespaces.

#![allow(
    clippy::result_large_err,
    reason = "errors are the HTTP responses themselves, built once per request"
)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::v2::account_namespaces;
use super::{Host, host};
use crate::World;
use crate::iam::CallerError;
use crate::iam::policy::decide;
use crate::variants::Variant;

fn crg(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "request-id": uuid::Uuid::new_v4().to_string(),
    });
    (status, axum::Json(body)).into_response()
}

/// The caller and the namespaces of the domain's region it may read.
#[allow(
    clippy::result_large_err,
    reason = "the error is the HTTP response itself, built once per request"
)]
fn readable(
    world: &World,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<(Host, String, Vec<String>), Response> {
    let host = host(world, headers, uri)?;
    let caller = crate::iam::authenticate(world, headers).map_err(|e| {
        let why = match e {
            CallerError::Missing => "No bearer token was provided.",
            CallerError::Invalid => "The token is not valid.",
            CallerError::Expired => "The token has expired.",
        };
        crg(
            StatusCode::UNAUTHORIZED,
            "CRG0014E",
            &format!("An error occurred when authenticating your request with IBM Cloud. {why}"),
        )
    })?;
    let Some(account) = headers.get("account").and_then(|v| v.to_str().ok()) else {
        return Err(crg(
            StatusCode::BAD_REQUEST,
            "CRG0101E",
            "The 'Account' header is required: the unique ID of your IBM Cloud account.",
        ));
    };
    if account.trim() != caller.account {
        return Err(crg(
            StatusCode::UNAUTHORIZED,
            "CRG0009E",
            "You are not authorized to access the specified account.",
        ));
    }
    let account_wide = decide(world, &caller.account, &caller.iam_id, host.region, None).pull;
    let unlisted = world.config.has(Variant::IcrNamespacesUnlisted) && !account_wide;
    let names = account_namespaces(world, &caller.account, host.region)
        .into_iter()
        .filter(|n| {
            !unlisted && decide(world, &caller.account, &caller.iam_id, host.region, Some(n)).pull
        })
        .collect();
    Ok((host, caller.account, names))
}

/// `GET /api/v1/namespaces` → `["ns1", ...]`.
pub(crate) async fn namespaces(
    State(world): State<Arc<World>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    match readable(&world, &headers, &uri) {
        Ok((_, _, names)) => axum::Json(json!(names)).into_response(),
        Err(r) => r,
    }
}

/// `GET /api/v1/namespaces/details`.
pub(crate) async fn namespace_details(
    State(world): State<Arc<World>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let (host, account, names) = match readable(&world, &headers, &uri) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let details: Vec<Value> = names
        .iter()
        .map(|n| {
            json!({
                "account": account,
                "created_date": "2026-01-05T10:00:00Z",
                "crn": format!("crn:v1:bluemix:public:container-registry:{}:a/{account}::namespace:{n}", host.region),
                "name": n,
                "resource_created_date": "2026-01-05T10:00:00Z",
                "resource_group": "default",
                "updated_date": "2026-01-05T10:00:00Z",
            })
        })
        .collect();
    axum::Json(Value::Array(details)).into_response()
}

/// `GET /api/v1/images[?namespace=...]` → the image list of readable namespaces.
pub(crate) async fn images(
    State(world): State<Arc<World>>,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (host, _, names) = match readable(&world, &headers, &uri) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    for flag in [
        "includeIBM",
        "includePrivate",
        "includeManifestLists",
        "vulnerabilities",
    ] {
        if params
            .get(flag)
            .is_some_and(|v| v != "true" && v != "false")
        {
            return crg(
                StatusCode::BAD_REQUEST,
                "CRG0001E",
                &format!("The '{flag}' parameter must be true or false."),
            );
        }
    }
    let inner = world.icr.lock();
    let mut out = Vec::new();
    for ((region, name), repo) in &inner.repos {
        let namespace = name.split('/').next().unwrap_or("");
        if region != host.region || !names.iter().any(|n| n == namespace) {
            continue;
        }
        if params.get("namespace").is_some_and(|n| n != namespace) {
            continue;
        }
        let mut by_digest: std::collections::BTreeMap<&String, Vec<String>> = Default::default();
        for (tag, digest) in &repo.tags {
            by_digest
                .entry(digest)
                .or_default()
                .push(format!("{}/{name}:{tag}", host.name));
        }
        for (digest, tags) in by_digest {
            let manifest: Value =
                serde_json::from_slice(&repo.manifests[digest]).unwrap_or(Value::Null);
            let size: u64 = std::iter::once(&manifest["config"])
                .chain(manifest["layers"].as_array().into_iter().flatten())
                .filter_map(|d| d["size"].as_u64())
                .sum();
            out.push(json!({
                "Id": manifest["config"]["digest"],
                "ParentId": "",
                "DigestTags": { digest.clone(): tags.clone() },
                "RepoTags": tags,
                "RepoDigests": [format!("{}/{name}@{digest}", host.name)],
                "Created": 1_767_607_200,
                "Size": size,
                "VirtualSize": size,
                "Labels": {},
                "ManifestType": crate::registry::SCHEMA2,
                "Vulnerable": "false",
                "VulnerabilityCount": 0,
                "ConfigurationIssueCount": 0,
                "IssueCount": 0,
                "ExemptIssueCount": 0,
            }));
        }
    }
    axum::Json(Value::Array(out)).into_response()
}

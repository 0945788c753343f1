//! Registry management API `/api/v1` and Docker Registry v2 token auth (protocol.md §5, §6).
//!
//! `/api/v1` needs a UAA bearer token plus the `Organization` header of an org the user belongs
//! to; it mints registry tokens (HS256 JWTs `{exp?, jti, iss}`) and tracks them. The v2 side
//! challenges with `WWW-Authenticate: Bearer`, exchanges Basic `token:<registry token>` for a
//! short-lived bearer at the realm (`/oauth/token`), and serves tags, manifests and blobs of
//! seeded images (plus monolithic pushes with a read-write token). State is in memory only.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::uaa::BearerError;
use crate::{SeedOrg, SeedUser, World};

/// Docker schema2 manifest media type.
pub const SCHEMA2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Lifetime of a v2 bearer token from the realm.
const BEARER_TTL: u64 = 300;

/// A registry token as the server tracks it (for inspection by tests).
#[derive(Clone)]
pub struct TokenInfo {
    /// Token id, equal to the JWT `jti` (a UUID v5).
    pub id: String,
    /// GUID of the owning org (the `Organization` header at issue time).
    pub org: String,
    /// The description (`secondary_owner`), empty when none was given.
    pub description: String,
    /// True unless issued with `write=true`.
    pub readonly: bool,
    /// True when issued with `permanent=true` (no `exp`).
    pub permanent: bool,
    /// True once deleted.
    pub revoked: bool,
    /// Expiry in epoch seconds; `None` for permanent tokens.
    pub expiry: Option<u64>,
    /// User name of the UAA user who issued it.
    pub issued_by: String,
    /// The JWT itself (never shown by `Debug`).
    pub token: String,
}

impl std::fmt::Debug for TokenInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenInfo")
            .field("id", &self.id)
            .field("org", &self.org)
            .field("description", &self.description)
            .field("readonly", &self.readonly)
            .field("permanent", &self.permanent)
            .field("revoked", &self.revoked)
            .field("expiry", &self.expiry)
            .field("issued_by", &self.issued_by)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl TokenInfo {
    fn expired(&self, now: u64) -> bool {
        self.expiry.is_some_and(|exp| now >= exp)
    }
}

/// One repository: tags and manifests (by digest, with media type).
#[derive(Default)]
struct Repo {
    tags: BTreeMap<String, String>,
    manifests: HashMap<String, (String, Vec<u8>)>,
}

#[derive(Default)]
struct Inner {
    tokens: Vec<TokenInfo>,
    repos: BTreeMap<String, Repo>,
    blobs: HashMap<String, Vec<u8>>,
    /// Open blob uploads: upload id → repository name.
    uploads: HashMap<String, String>,
    counter: u64,
}

/// Issued registry tokens and stored images.
pub struct RegistryState {
    /// Signs registry tokens (`/api/v1/tokens`).
    key: [u8; 32],
    /// Signs the short-lived v2 bearer tokens of the realm.
    bearer_key: [u8; 32],
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for RegistryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryState").finish_non_exhaustive()
    }
}

fn sha256_digest(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

impl Inner {
    /// Stores a small schema2 image `name:tag` whose single layer holds `content`.
    fn seed_image(&mut self, name: &str, tag: &str, content: &str) {
        let layer = format!("sandbox layer: {content}\n").into_bytes();
        let layer_digest = sha256_digest(&layer);
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/hello.txt"]}},"rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
        )
        .into_bytes();
        let config_digest = sha256_digest(&config);
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{SCHEMA2}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{},"digest":"{config_digest}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":{},"digest":"{layer_digest}"}}]}}"#,
            config.len(),
            layer.len()
        )
        .into_bytes();
        let manifest_digest = sha256_digest(&manifest);
        self.blobs.insert(layer_digest, layer);
        self.blobs.insert(config_digest, config);
        let repo = self.repos.entry(name.to_string()).or_default();
        repo.manifests
            .insert(manifest_digest.clone(), (SCHEMA2.to_string(), manifest));
        repo.tags.insert(tag.to_string(), manifest_digest);
    }
}

impl Default for RegistryState {
    fn default() -> Self {
        let mut inner = Inner::default();
        inner.seed_image("demo/hello", "v1", "hello from demo/hello:v1");
        inner.seed_image("demo/hello", "latest", "hello from demo/hello:v1");
        inner.seed_image("ops/tools", "1.0", "hello from ops/tools:1.0");
        RegistryState {
            key: rand::random(),
            bearer_key: rand::random(),
            inner: Mutex::new(inner),
        }
    }
}

impl RegistryState {
    /// Every token issued so far, revoked ones included, in issue order.
    pub fn tokens(&self) -> Vec<TokenInfo> {
        self.inner.lock().expect("registry lock").tokens.clone()
    }

    /// The token with this id.
    pub fn token(&self, id: &str) -> Option<TokenInfo> {
        self.tokens().into_iter().find(|t| t.id == id)
    }

    /// Revokes a token as `DELETE /api/v1/tokens/<id>` would; false if unknown.
    pub fn revoke(&self, id: &str) -> bool {
        let mut inner = self.inner.lock().expect("registry lock");
        match inner.tokens.iter_mut().find(|t| t.id == id) {
            Some(t) => {
                t.revoked = true;
                true
            }
            None => false,
        }
    }

    /// Every stored image as `name:tag` (e.g. `demo/hello:v1`), sorted.
    pub fn images(&self) -> Vec<String> {
        let inner = self.inner.lock().expect("registry lock");
        inner
            .repos
            .iter()
            .flat_map(|(name, repo)| repo.tags.keys().map(move |tag| format!("{name}:{tag}")))
            .collect()
    }

    /// The manifest digest tag `tag` of repository `name` points to (what `HEAD` of the
    /// manifest answers in `Docker-Content-Digest`).
    pub fn digest(&self, name: &str, tag: &str) -> Option<String> {
        let inner = self.inner.lock().expect("registry lock");
        inner.repos.get(name)?.tags.get(tag).cloned()
    }

    /// Stores image `name:tag` (a small schema2 image whose layer holds `content`), as a
    /// push would; for tests that need more tags or repositories than the seed.
    pub fn seed_image(&self, name: &str, tag: &str, content: &str) {
        let mut inner = self.inner.lock().expect("registry lock");
        inner.seed_image(name, tag, content);
    }

    /// Tags of a repository (`demo/hello`), sorted; empty when unknown.
    pub fn tags(&self, name: &str) -> Vec<String> {
        let inner = self.inner.lock().expect("registry lock");
        inner
            .repos
            .get(name)
            .map(|r| r.tags.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// The registry's routes.
pub fn router(world: Arc<World>) -> Router {
    Router::new()
        .route(
            "/api/v1/tokens",
            post(issue_token).get(list_tokens).delete(delete_by_owner),
        )
        .route("/api/v1/tokens/{id}", get(get_token).delete(delete_token))
        .route("/api/v1/namespaces", get(namespaces))
        .route("/api/v1/images", get(images))
        .route("/oauth/token", get(realm))
        .route("/v2/", any(v2))
        .route("/v2/{*rest}", any(v2))
        .with_state(world)
}

// ---------------------------------------------------------------------------------------------
// /api/v1

fn crg(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "code": code,
            "message": message,
            "request-id": uuid::Uuid::new_v4().to_string(),
        })),
    )
        .into_response()
}

/// What an `/api/v1` route protects, which decides the status of an org refusal.
#[derive(Clone, Copy, PartialEq)]
enum Resource {
    Tokens,
    Content,
}

/// Checks the UAA bearer token and the `Organization` header.
#[allow(
    clippy::result_large_err,
    reason = "the error is the HTTP response itself, built once per request"
)]
fn authorize(
    world: &World,
    headers: &HeaderMap,
    resource: Resource,
) -> Result<(SeedUser, SeedOrg), Response> {
    let user = crate::uaa::authenticate(world, headers).map_err(|e| {
        let message = match e {
            BearerError::Missing => {
                "An error occurred when authenticating your request with IBM Cloud. No bearer token was provided."
            }
            BearerError::Invalid => {
                "An error occurred when authenticating your request with IBM Cloud. The token is not valid."
            }
            BearerError::Expired => {
                "An error occurred when authenticating your request with IBM Cloud. The token has expired."
            }
        };
        crg(StatusCode::UNAUTHORIZED, "CRG0014E", message)
    })?;
    let not_authorized = |what: &str| match resource {
        Resource::Tokens => crg(
            StatusCode::UNAUTHORIZED,
            "CRG0009E",
            &format!("You are not authorized to access the specified {what}."),
        ),
        Resource::Content => crg(
            StatusCode::FORBIDDEN,
            "CRG0020E",
            "You are not authorized to access the specified resource.",
        ),
    };
    // Only the Dedicated (CF org) mode is emulated: an IAM `Account` scope cannot be satisfied.
    if headers.contains_key("account") {
        return Err(not_authorized("account"));
    }
    let Some(guid) = headers.get("organization").and_then(|v| v.to_str().ok()) else {
        return Err(not_authorized("organization"));
    };
    let guid = guid.trim();
    match world.org_by_guid(guid) {
        Some(org) if user.orgs.contains(&org.name) => Ok((user, org.clone())),
        _ => Err(not_authorized("organization")),
    }
}

fn query_map(query: &Option<String>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    if let Some(q) = query {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
    }
    map
}

/// Parses a boolean query parameter the way Go's `strconv.ParseBool` does.
fn parse_bool(value: Option<&String>) -> Result<bool, ()> {
    match value.map(String::as_str) {
        None | Some("") => Ok(false),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(_) => Err(()),
    }
}

/// `POST /api/v1/tokens?permanent=&write=&description=` (no body) → `{"token":"<jwt>"}`.
async fn issue_token(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (user, org) = match authorize(&world, &headers, Resource::Tokens) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let params = query_map(&query);
    let (Ok(permanent), Ok(write)) = (
        parse_bool(params.get("permanent")),
        parse_bool(params.get("write")),
    ) else {
        return crg(
            StatusCode::BAD_REQUEST,
            "CRG0001E",
            "The 'permanent' and 'write' parameters must be true or false.",
        );
    };
    let description = params.get("description").cloned().unwrap_or_default();
    let now = crate::now();
    let mut inner = world.registry.inner.lock().expect("registry lock");
    inner.counter += 1;
    let nonce: u64 = rand::random();
    let id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{}:{}:{}:{nonce}", org.guid, inner.counter, now).as_bytes(),
    )
    .to_string();
    let iss = format!("registry.{}", world.config.domain);
    let expiry = (!permanent).then(|| now + world.config.registry_token_ttl.as_secs());
    let mut claims = serde_json::Map::new();
    if let Some(exp) = expiry {
        claims.insert("exp".into(), json!(exp));
    }
    claims.insert("jti".into(), json!(id));
    claims.insert("iss".into(), json!(iss));
    let token = crate::jwt::sign(&world.registry.key, &claims);
    inner.tokens.push(TokenInfo {
        id,
        org: org.guid,
        description,
        readonly: !write,
        permanent,
        revoked: false,
        expiry,
        issued_by: user.username,
        token: token.clone(),
    });
    axum::Json(json!({ "token": token })).into_response()
}

/// `GET /api/v1/tokens` → `{"tokens":[…]}` (unrevoked tokens of the org).
async fn list_tokens(State(world): State<Arc<World>>, headers: HeaderMap) -> Response {
    let (_, org) = match authorize(&world, &headers, Resource::Tokens) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let inner = world.registry.inner.lock().expect("registry lock");
    let tokens: Vec<Value> = inner
        .tokens
        .iter()
        .filter(|t| t.org == org.guid && !t.revoked)
        .map(|t| {
            let mut item = serde_json::Map::new();
            item.insert("_id".into(), json!(t.id));
            item.insert("owner".into(), json!(t.org));
            item.insert("token".into(), json!(t.token));
            if !t.description.is_empty() {
                item.insert("secondary_owner".into(), json!(t.description));
            }
            item.insert("readonly".into(), json!(t.readonly));
            item.insert("revoked".into(), json!(t.revoked));
            if let Some(exp) = t.expiry {
                item.insert("expiry".into(), json!(exp));
            }
            Value::Object(item)
        })
        .collect();
    axum::Json(json!({ "tokens": tokens })).into_response()
}

fn token_not_found(id: &str) -> Response {
    crg(
        StatusCode::NOT_FOUND,
        "CRG0010E",
        &format!("The token '{id}' could not be found."),
    )
}

/// `GET /api/v1/tokens/<id>` → `{"token":"<jwt>"}`.
async fn get_token(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (_, org) = match authorize(&world, &headers, Resource::Tokens) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let inner = world.registry.inner.lock().expect("registry lock");
    match inner
        .tokens
        .iter()
        .find(|t| t.id == id && t.org == org.guid && !t.revoked)
    {
        Some(t) => axum::Json(json!({ "token": t.token })).into_response(),
        None => token_not_found(&id),
    }
}

/// `DELETE /api/v1/tokens/<id>` → 204.
async fn delete_token(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (_, org) = match authorize(&world, &headers, Resource::Tokens) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut inner = world.registry.inner.lock().expect("registry lock");
    match inner
        .tokens
        .iter_mut()
        .find(|t| t.id == id && t.org == org.guid && !t.revoked)
    {
        Some(t) => {
            t.revoked = true;
            StatusCode::NO_CONTENT.into_response()
        }
        None => token_not_found(&id),
    }
}

/// `DELETE /api/v1/tokens?secondaryOwner=<description>` → 204, revoking every match.
async fn delete_by_owner(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (_, org) = match authorize(&world, &headers, Resource::Tokens) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let params = query_map(&query);
    let Some(owner) = params.get("secondaryOwner").filter(|s| !s.is_empty()) else {
        return crg(
            StatusCode::BAD_REQUEST,
            "CRG0001E",
            "The 'secondaryOwner' parameter is required.",
        );
    };
    let mut inner = world.registry.inner.lock().expect("registry lock");
    for t in inner
        .tokens
        .iter_mut()
        .filter(|t| t.org == org.guid && &t.description == owner)
    {
        t.revoked = true;
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /api/v1/namespaces` → the org's namespaces as a JSON array of strings.
async fn namespaces(State(world): State<Arc<World>>, headers: HeaderMap) -> Response {
    match authorize(&world, &headers, Resource::Content) {
        Ok((_, org)) => axum::Json(json!(org.registry_namespaces)).into_response(),
        Err(r) => r,
    }
}

/// `GET /api/v1/images[?namespace=][&repository=]` → images in the org's namespaces.
async fn images(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let (_, org) = match authorize(&world, &headers, Resource::Content) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let params = query_map(&query);
    let host = &world.urls.registry_host;
    let inner = world.registry.inner.lock().expect("registry lock");
    let mut out = Vec::new();
    for (name, repo) in &inner.repos {
        let (namespace, _) = name.split_once('/').unwrap_or((name, ""));
        if !org.registry_namespaces.iter().any(|n| n == namespace) {
            continue;
        }
        if params.get("namespace").is_some_and(|n| n != namespace) {
            continue;
        }
        if params.get("repository").is_some_and(|r| r != name) {
            continue;
        }
        let mut by_digest: BTreeMap<&String, Vec<String>> = BTreeMap::new();
        for (tag, digest) in &repo.tags {
            by_digest
                .entry(digest)
                .or_default()
                .push(format!("{host}/{name}:{tag}"));
        }
        for (digest, repo_tags) in by_digest {
            let (_, manifest) = &repo.manifests[digest];
            let manifest: Value = serde_json::from_slice(manifest).unwrap_or(Value::Null);
            let size: u64 = std::iter::once(&manifest["config"])
                .chain(manifest["layers"].as_array().into_iter().flatten())
                .filter_map(|d| d["size"].as_u64())
                .sum();
            out.push(json!({
                "Id": manifest["config"]["digest"],
                "ParentId": "",
                "DigestTags": { digest.clone(): repo_tags.clone() },
                "RepoTags": repo_tags,
                "RepoDigests": [format!("{host}/{name}@{digest}")],
                "Created": 1_524_441_600,
                "Size": size,
                "VirtualSize": size,
                "Labels": {},
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

// ---------------------------------------------------------------------------------------------
// Docker Registry v2

fn v2_error(status: StatusCode, code: &str, message: &str, detail: Value) -> Response {
    let mut response = (
        status,
        axum::Json(json!({"errors": [{"code": code, "message": message, "detail": detail}]})),
    )
        .into_response();
    response.headers_mut().insert(
        "docker-distribution-api-version",
        "registry/2.0".parse().expect("valid"),
    );
    response
}

/// A 401 with the Bearer challenge (spec-style quoted values).
fn challenge(
    world: &World,
    scope: Option<(&str, &str)>,
    error: Option<&str>,
    code: &str,
    message: &str,
) -> Response {
    let mut value = format!(
        "Bearer realm=\"{}/oauth/token\",service=\"{}\"",
        world.urls.registry, world.urls.registry_host
    );
    let detail = match scope {
        Some((name, actions)) => {
            value.push_str(&format!(",scope=\"repository:{name}:{actions}\""));
            let action = actions.rsplit(',').next().unwrap_or(actions);
            json!([{"Type": "repository", "Name": name, "Class": "", "Action": action}])
        }
        None => Value::Null,
    };
    if let Some(error) = error {
        value.push_str(&format!(",error=\"{error}\""));
    }
    let mut response = v2_error(StatusCode::UNAUTHORIZED, code, message, detail);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        value.parse().expect("valid header"),
    );
    response
}

fn realm_unauthorized(message: &str) -> Response {
    v2_error(
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
        message,
        Value::Null,
    )
}

/// `GET /oauth/token?service=&scope=…` with Basic `token:<registry token>`.
async fn realm(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs: Vec<(String, String)> = query
        .as_deref()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    if let Some((_, service)) = pairs.iter().find(|(k, _)| k == "service")
        && service != &world.urls.registry_host
    {
        return v2_error(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED",
            &format!("unknown service: {service}"),
            Value::Null,
        );
    }
    let credentials = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, rest)| {
            base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let Some(credentials) = credentials else {
        return realm_unauthorized("authentication required");
    };
    let Some(("token", password)) = credentials.split_once(':') else {
        return realm_unauthorized("invalid username: use `token` and a registry token");
    };
    let Some(claims) = crate::jwt::verify(&world.registry.key, password) else {
        return realm_unauthorized("invalid registry token");
    };
    let jti = claims.get("jti").and_then(Value::as_str).unwrap_or("");
    let now = crate::now();
    let Some(token) = world.registry.token(jti) else {
        return realm_unauthorized("unknown registry token");
    };
    if token.revoked {
        return realm_unauthorized("registry token revoked");
    }
    if token.expired(now)
        || claims
            .get("exp")
            .and_then(Value::as_u64)
            .is_some_and(|e| now >= e)
    {
        return realm_unauthorized("registry token expired");
    }
    let org_namespaces = world
        .org_by_guid(&token.org)
        .map(|o| o.registry_namespaces.clone())
        .unwrap_or_default();
    let mut access = Vec::new();
    // Scopes come as repeated `scope` parameters; some clients join them with spaces.
    let scopes = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split_whitespace());
    for scope in scopes {
        let Some((kind, rest)) = scope.split_once(':') else {
            continue;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        let namespace = name.split('/').next().unwrap_or("");
        if kind != "repository" || !org_namespaces.iter().any(|n| n == namespace) {
            continue;
        }
        let granted: Vec<&str> = actions
            .split(',')
            .filter(|a| *a == "pull" || (*a == "push" && !token.readonly))
            .collect();
        access.push(json!({"type": "repository", "name": name, "actions": granted}));
    }
    let mut claims = serde_json::Map::new();
    claims.insert(
        "iss".into(),
        json!(format!("registry.{}", world.config.domain)),
    );
    claims.insert("sub".into(), json!("token"));
    claims.insert("aud".into(), json!(world.urls.registry_host));
    claims.insert("exp".into(), json!(now + BEARER_TTL));
    claims.insert("nbf".into(), json!(now));
    claims.insert("iat".into(), json!(now));
    claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    claims.insert("access".into(), Value::Array(access));
    let bearer = crate::jwt::sign(&world.registry.bearer_key, &claims);
    let issued_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formatting of now");
    axum::Json(json!({
        "token": bearer,
        "access_token": bearer,
        "expires_in": BEARER_TTL,
        "issued_at": issued_at,
    }))
    .into_response()
}

/// A parsed v2 request path.
enum V2Path {
    Base,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
    Upload(String, Option<String>),
}

fn parse_v2_path(path: &str) -> Option<V2Path> {
    let rest = path.strip_prefix("/v2/")?;
    if rest.is_empty() {
        return Some(V2Path::Base);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(V2Path::Tags(name.to_string()));
    }
    if let Some((name, upload)) = rest.split_once("/blobs/uploads") {
        let id = upload.trim_start_matches('/');
        return Some(V2Path::Upload(
            name.to_string(),
            (!id.is_empty()).then(|| id.to_string()),
        ));
    }
    if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
        return Some(V2Path::Manifest(name.to_string(), reference.to_string()));
    }
    if let Some((name, digest)) = rest.rsplit_once("/blobs/") {
        return Some(V2Path::Blob(name.to_string(), digest.to_string()));
    }
    None
}

/// The repository actions a v2 bearer token grants for `name`, or `Err` if the token is not valid.
fn bearer_access(world: &World, headers: &HeaderMap, name: &str) -> Result<Vec<String>, ()> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .ok_or(())?;
    let claims = crate::jwt::verify(&world.registry.bearer_key, token).ok_or(())?;
    let exp = claims.get("exp").and_then(Value::as_u64).ok_or(())?;
    if crate::now() >= exp
        || claims.get("aud").and_then(Value::as_str) != Some(&world.urls.registry_host)
    {
        return Err(());
    }
    Ok(claims
        .get("access")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|a| a["type"] == "repository" && a["name"] == name)
        .flat_map(|a| a["actions"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect())
}

fn accepted_types(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

fn with_api_version(mut response: Response) -> Response {
    response.headers_mut().insert(
        "docker-distribution-api-version",
        "registry/2.0".parse().expect("valid"),
    );
    response
}

/// Every `/v2/` request: authentication, then tags, manifests, blobs and uploads.
async fn v2(
    State(world): State<Arc<World>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(path) = parse_v2_path(uri.path()) else {
        return v2_error(StatusCode::NOT_FOUND, "NOT_FOUND", "not found", Value::Null);
    };
    let name = match &path {
        V2Path::Base => {
            return match bearer_access(&world, &headers, "") {
                Ok(_) => with_api_version(axum::Json(json!({})).into_response()),
                Err(()) => challenge(
                    &world,
                    None,
                    None,
                    "UNAUTHORIZED",
                    "authentication required",
                ),
            };
        }
        V2Path::Tags(n) | V2Path::Manifest(n, _) | V2Path::Blob(n, _) | V2Path::Upload(n, _) => {
            n.clone()
        }
    };
    let needs_push = !matches!(method, Method::GET | Method::HEAD);
    let wanted = if needs_push { "pull,push" } else { "pull" };
    let actions = match bearer_access(&world, &headers, &name) {
        Ok(a) => a,
        Err(()) => {
            return challenge(
                &world,
                Some((&name, wanted)),
                None,
                "UNAUTHORIZED",
                "authentication required",
            );
        }
    };
    let allowed =
        actions.iter().any(|a| a == "pull") && (!needs_push || actions.iter().any(|a| a == "push"));
    if !allowed {
        return challenge(
            &world,
            Some((&name, wanted)),
            Some("insufficient_scope"),
            "DENIED",
            "requested access to the resource is denied",
        );
    }
    let head = method == Method::HEAD;
    match (path, method.clone()) {
        (V2Path::Tags(_), Method::GET) => {
            let tags = {
                let inner = world.registry.inner.lock().expect("registry lock");
                match inner.repos.get(&name) {
                    Some(repo) => repo.tags.keys().cloned().collect::<Vec<_>>(),
                    None => return name_unknown(&name),
                }
            };
            tags_page(&name, tags, uri.query())
        }
        (V2Path::Manifest(_, reference), Method::GET | Method::HEAD) => {
            get_manifest(&world, &name, &reference, &headers, head)
        }
        (V2Path::Manifest(_, reference), Method::PUT) => {
            put_manifest(&world, &name, &reference, &headers, body)
        }
        (V2Path::Blob(_, digest), Method::GET | Method::HEAD) => {
            let inner = world.registry.inner.lock().expect("registry lock");
            match inner.blobs.get(&digest) {
                Some(blob) => {
                    let len = blob.len();
                    let body = if head { Vec::new() } else { blob.clone() };
                    with_api_version(
                        (
                            [
                                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                                (header::CONTENT_LENGTH, len.to_string()),
                                ("docker-content-digest".parse().expect("valid"), digest),
                            ],
                            body,
                        )
                            .into_response(),
                    )
                }
                None => v2_error(
                    StatusCode::NOT_FOUND,
                    "BLOB_UNKNOWN",
                    "blob unknown to registry",
                    json!(digest),
                ),
            }
        }
        (V2Path::Upload(_, None), Method::POST) => {
            let id = uuid::Uuid::new_v4().to_string();
            world
                .registry
                .inner
                .lock()
                .expect("registry lock")
                .uploads
                .insert(id.clone(), name.clone());
            with_api_version(
                (
                    StatusCode::ACCEPTED,
                    [
                        (header::LOCATION, format!("/v2/{name}/blobs/uploads/{id}")),
                        (header::RANGE, "0-0".to_string()),
                        ("docker-upload-uuid".parse().expect("valid"), id),
                    ],
                )
                    .into_response(),
            )
        }
        (V2Path::Upload(_, Some(id)), Method::PUT) => {
            let digest = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .find(|(k, _)| k == "digest")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let mut inner = world.registry.inner.lock().expect("registry lock");
            if inner.uploads.get(&id) != Some(&name) {
                return v2_error(
                    StatusCode::NOT_FOUND,
                    "BLOB_UPLOAD_UNKNOWN",
                    "blob upload unknown to registry",
                    Value::Null,
                );
            }
            if sha256_digest(&body) != digest {
                return v2_error(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    "provided digest did not match uploaded content",
                    Value::Null,
                );
            }
            inner.uploads.remove(&id);
            inner.blobs.insert(digest.clone(), body.to_vec());
            with_api_version(
                (
                    StatusCode::CREATED,
                    [
                        (header::LOCATION, format!("/v2/{name}/blobs/{digest}")),
                        ("docker-content-digest".parse().expect("valid"), digest),
                    ],
                )
                    .into_response(),
            )
        }
        _ => v2_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "The operation is unsupported.",
            Value::Null,
        ),
    }
}

/// One page of a tag list (the distribution spec's pagination): the tags after `last`, in
/// lexical order, at most `n` of them; when more remain, `Link: </v2/<name>/tags/list?n=<n>&
/// last=<the page's last tag>>; rel="next"` (a relative reference, as distribution sends it).
/// Without `n`, every tag after `last`; an `n` that is not a number is 400
/// `PAGINATION_NUMBER_INVALID`.
fn tags_page(name: &str, tags: Vec<String>, query: Option<&str>) -> Response {
    let pairs: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let mut tags: Vec<String> = match pairs.get("last") {
        Some(last) => tags.into_iter().filter(|t| t > last).collect(),
        None => tags,
    };
    let mut link = None;
    if let Some(n) = pairs.get("n") {
        let Ok(n) = n.parse::<usize>() else {
            return v2_error(
                StatusCode::BAD_REQUEST,
                "PAGINATION_NUMBER_INVALID",
                "invalid number of results requested",
                json!({"n": n}),
            );
        };
        if n > 0 && n < tags.len() {
            tags.truncate(n);
            let next: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("n", &n.to_string())
                .append_pair("last", &tags[n - 1])
                .finish();
            link = Some(format!("</v2/{name}/tags/list?{next}>; rel=\"next\""));
        } else {
            tags.truncate(n);
        }
    }
    let mut response =
        with_api_version(axum::Json(json!({"name": name, "tags": tags})).into_response());
    if let Some(link) = link {
        response
            .headers_mut()
            .insert(header::LINK, link.parse().expect("a valid header value"));
    }
    response
}

fn name_unknown(name: &str) -> Response {
    v2_error(
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
        "repository name not known to registry",
        json!({"name": name}),
    )
}

/// GET/HEAD a manifest, honouring `Accept` like distribution 2.8.
fn get_manifest(
    world: &World,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    head: bool,
) -> Response {
    let inner = world.registry.inner.lock().expect("registry lock");
    let Some(repo) = inner.repos.get(name) else {
        return name_unknown(name);
    };
    let by_tag = !reference.starts_with("sha256:");
    let digest = if by_tag {
        match repo.tags.get(reference) {
            Some(d) => d.clone(),
            None => {
                return v2_error(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_UNKNOWN",
                    "manifest unknown",
                    json!({"Tag": reference}),
                );
            }
        }
    } else {
        reference.to_string()
    };
    let Some((media_type, bytes)) = repo.manifests.get(&digest) else {
        return v2_error(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown",
            json!({"Digest": reference}),
        );
    };
    if by_tag {
        let accepted = accepted_types(headers);
        let ok = accepted.iter().any(|t| t == media_type);
        if !ok && media_type == OCI_MANIFEST {
            return v2_error(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                "OCI manifest found, but accept header does not support OCI manifests",
                Value::Null,
            );
        }
        if !ok {
            // distribution 2.8 falls back to converting to schema1, which fails for schema2.
            return v2_error(
                StatusCode::BAD_REQUEST,
                "MANIFEST_INVALID",
                "manifest invalid",
                json!({}),
            );
        }
    }
    let body = if head { Vec::new() } else { bytes.clone() };
    with_api_version(
        (
            [
                (header::CONTENT_TYPE, media_type.clone()),
                (header::CONTENT_LENGTH, bytes.len().to_string()),
                (
                    "docker-content-digest".parse().expect("valid"),
                    digest.clone(),
                ),
                (header::ETAG, format!("\"{digest}\"")),
            ],
            body,
        )
            .into_response(),
    )
}

/// PUT a manifest (schema2 or OCI) whose blobs were uploaded.
fn put_manifest(
    world: &World,
    name: &str,
    reference: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let Some(parsed) = parsed.filter(|_| media_type == SCHEMA2 || media_type == OCI_MANIFEST)
    else {
        return v2_error(
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
            "manifest invalid",
            json!({}),
        );
    };
    let mut inner = world.registry.inner.lock().expect("registry lock");
    let referenced: Vec<String> = std::iter::once(&parsed["config"])
        .chain(parsed["layers"].as_array().into_iter().flatten())
        .filter_map(|d| d["digest"].as_str().map(str::to_string))
        .collect();
    if let Some(missing) = referenced.iter().find(|d| !inner.blobs.contains_key(*d)) {
        return v2_error(
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            "blob unknown to registry",
            json!(missing),
        );
    }
    let digest = sha256_digest(&body);
    let repo = inner.repos.entry(name.to_string()).or_default();
    repo.manifests
        .insert(digest.clone(), (media_type, body.to_vec()));
    if !reference.starts_with("sha256:") {
        repo.tags.insert(reference.to_string(), digest.clone());
    }
    with_api_version(
        (
            StatusCode::CREATED,
            [
                (header::LOCATION, format!("/v2/{name}/manifests/{digest}")),
                ("docker-content-digest".parse().expect("valid"), digest),
            ],
        )
            .into_response(),
    )
}

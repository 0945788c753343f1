//! `doctor`: probes every endpoint the plugin uses and prints what it observed, for a user whose
//! environment differs from what the plugin knows, and for attaching to a bug report.
//!
//! It never mints a token and never prints a credential: observations are status codes, content
//! types, challenge shapes (scheme and parameter names, the realm's host) and names. Exit 0 when
//! everything the main job needs works (warnings allowed), 1 otherwise.

use anyhow::bail;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::Ctx;
use crate::cli::settings::DoctorSettings;
use crate::output;
use crate::providers::dedicated::cf::{self, append_path};
use crate::providers::dedicated::session::Session;
use crate::registry::v2;
use crate::{cluster, manifests};

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    /// Works as the plugin expects.
    Ok,
    /// Differs, but the main job still works.
    Warn,
    /// The main job cannot work.
    Fail,
    /// Not checked (a flag was not given, or an earlier check failed).
    Skip,
}

/// One row of the report.
#[derive(Debug, Serialize)]
struct Row {
    check: String,
    result: Verdict,
    observed: String,
    hint: String,
}

/// The rows so far.
#[derive(Default)]
struct Report(Vec<Row>);

impl Report {
    fn add(&mut self, check: &str, result: Verdict, observed: impl Into<String>, hint: &str) {
        self.0.push(Row {
            check: check.to_string(),
            result,
            observed: output::printable(&crate::redact::one_line(&observed.into())),
            hint: hint.to_string(),
        });
    }

    /// The kubectl-style table: columns padded to their widest cell.
    fn table(&self) -> String {
        let name = |v: Verdict| match v {
            Verdict::Ok => "ok",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        };
        // The shared kubectl-style table: three spaces between every column (issue 24,
        // friction 12: RESULT and OBSERVED had one).
        let rows: Vec<Vec<String>> = self
            .0
            .iter()
            .map(|r| {
                vec![
                    r.check.clone(),
                    name(r.result).to_string(),
                    r.observed.clone(),
                    r.hint.clone(),
                ]
            })
            .collect();
        crate::output::table(&["CHECK", "RESULT", "OBSERVED", "HINT"], &rows)
    }
}

/// A raw GET: status, content type and body (bounded), or why it failed.
async fn probe(
    http: &reqwest::Client,
    url: &str,
    accept: &str,
) -> Result<(u16, String, Vec<u8>, reqwest::header::HeaderMap), String> {
    let response = http
        .get(url)
        .header("Accept", accept)
        .send()
        .await
        .map_err(|e| format!("{:#}", crate::http::classify(url, &e)))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("no content type")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let body = crate::http::read_body(response, url, crate::http::BODY_LIMIT)
        .await
        .map_err(|e| format!("{e:#}"))?;
    Ok((status, content_type, body, headers))
}

/// `GET /v2/info`, as far as the plugin reads it.
#[derive(Deserialize)]
struct Info {
    authorization_endpoint: Option<String>,
}

/// `GET <login>/login`, as far as the plugin reads it.
#[derive(Deserialize)]
struct Prompts {
    prompts: Option<std::collections::HashMap<String, Vec<String>>>,
}

async fn discovery(report: &mut Report, session: &Session) {
    let profile = session.profile();
    let url = append_path(&profile.api, "/v2/info");
    match probe(session.http(), &url, "application/json").await {
        Ok((200, content_type, body, _)) => match serde_json::from_slice::<Info>(&body) {
            Ok(Info {
                authorization_endpoint: Some(auth),
            }) => report.add(
                "discovery",
                if auth == profile.authorization_endpoint {
                    Verdict::Ok
                } else {
                    Verdict::Warn
                },
                format!("200 {content_type}, authorization_endpoint {auth}"),
                if auth == profile.authorization_endpoint {
                    ""
                } else {
                    "the login endpoint changed since login: run `login` again"
                },
            ),
            _ => report.add(
                "discovery",
                Verdict::Warn,
                format!("200 {content_type} without authorization_endpoint"),
                "login falls back to the v3 root document `/`",
            ),
        },
        Ok((status, content_type, _, _)) => report.add(
            "discovery",
            Verdict::Warn,
            format!("{status} {content_type}"),
            "login falls back to the v3 root document `/`",
        ),
        Err(e) => report.add(
            "discovery",
            Verdict::Fail,
            e,
            "check --api, the network and --ca-file",
        ),
    }
}

async fn login_prompts(report: &mut Report, session: &Session) {
    let url = append_path(&session.profile().authorization_endpoint, "/login");
    let (result, observed) = match probe(session.http(), &url, "application/json").await {
        Ok((200, content_type, body, _)) => {
            let passcode = serde_json::from_slice::<Prompts>(&body)
                .ok()
                .and_then(|p| p.prompts)
                .is_some_and(|p| p.contains_key("passcode"));
            (
                if passcode { Verdict::Ok } else { Verdict::Warn },
                format!(
                    "200 {content_type}, {} passcode prompt",
                    if passcode { "with" } else { "no" }
                ),
            )
        }
        Ok((status, content_type, _, _)) => (Verdict::Warn, format!("{status} {content_type}")),
        Err(e) => (Verdict::Warn, e),
    };
    let hint = if result == Verdict::Ok {
        ""
    } else {
        "only `login --sso` uses it; it falls back to a default prompt"
    };
    report.add("login prompts", result, observed, hint);
}

async fn uaa_and_org(report: &mut Report, session: &mut Session) -> bool {
    let access = match session.access_token().await {
        Ok(access) => {
            let method = format!("{:?}", session.profile().credential).to_lowercase();
            report.add(
                "uaa refresh",
                Verdict::Ok,
                format!("access token issued ({method} credential)"),
                "",
            );
            access
        }
        Err(e) => {
            report.add(
                "uaa refresh",
                Verdict::Fail,
                format!("{e:#}"),
                "run `kubectl dedicated-registry login` again",
            );
            report.add("org lookup", Verdict::Skip, "no access token", "");
            return false;
        }
    };
    let profile = session.profile();
    // The lookup login makes (the user's orgs, `/v2/organizations`, v3 when v2 is absent),
    // not `/v2/organizations/<guid>`, a route some Cloud Controllers do not serve.
    let orgs = cf::orgs(session.http(), &profile.api, &access, None).await;
    let found = orgs.map(|all| all.into_iter().find(|o| o.guid == profile.org_guid));
    match found {
        Ok(Some(org)) => report.add(
            "org lookup",
            Verdict::Ok,
            format!("org `{}` ({})", org.name, org.guid),
            "",
        ),
        Ok(None) => report.add(
            "org lookup",
            Verdict::Fail,
            format!("org {} not found or not visible", profile.org_guid),
            "log in again with --org or --org-guid",
        ),
        Err(e) => report.add(
            "org lookup",
            Verdict::Fail,
            format!("{e:#}"),
            "the Cloud Controller refused the login",
        ),
    }
    true
}

async fn registry_api(report: &mut Report, session: &mut Session) {
    match session.registry(async |api| api.list().await).await {
        Ok(tokens) => {
            let header = match session.profile().org_header_on_manage {
                Some(false) => "without",
                _ => "with",
            };
            report.add(
                "registry tokens",
                Verdict::Ok,
                format!(
                    "GET /api/v1/tokens: {} token(s) ({header} Organization header)",
                    tokens.len()
                ),
                "",
            );
        }
        Err(e) => report.add(
            "registry tokens",
            Verdict::Fail,
            format!("{e:#}"),
            "check --registry and the user's registry permission in the org",
        ),
    }
}

/// The challenge of `GET /v2/` without credentials, described without values but the realm's
/// host.
async fn registry_v2(report: &mut Report, session: &Session) {
    let registry = &session.profile().registry;
    let url = format!("https://{registry}/v2/");
    let hint = "secret create still writes secrets, with a warning that the pull was not verified; --verify=require fails";
    let (status, content_type, headers) =
        match probe(session.http(), &url, "application/json").await {
            Ok((status, content_type, _, headers)) => (status, content_type, headers),
            Err(e) => return report.add("registry v2", Verdict::Warn, e, hint),
        };
    let values: Vec<&str> = headers
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let challenges: Vec<v2::Challenge> = values
        .iter()
        .filter_map(|v| v2::parse_challenges(v))
        .flatten()
        .collect();
    let shapes: Vec<String> = challenges.iter().map(v2::Challenge::shape).collect();
    let realm_host = challenges
        .iter()
        .find(|c| c.scheme == "bearer")
        .and_then(|c| c.param("realm"))
        .and_then(|r| url::Url::parse(r).ok())
        .map(|u| match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        });
    let mut observed = format!("{status} {content_type}");
    if !shapes.is_empty() {
        observed.push_str(&format!(", challenge {}", shapes.join(" ")));
    }
    if let Some(host) = &realm_host {
        observed.push_str(&format!(", realm on {host}"));
    }
    let usable = status == 401
        && (realm_host.as_deref() == Some(registry.as_str())
            || (realm_host.is_none() && challenges.iter().any(|c| c.scheme == "basic")));
    if usable {
        report.add("registry v2", Verdict::Ok, observed, "");
    } else {
        report.add("registry v2", Verdict::Warn, observed, hint);
    }
}

/// `--secret NAME`: its credential for the registry, checked as `secret create` checks a token.
async fn pull_credential(
    report: &mut Report,
    session: &Session,
    target: &cluster::Target,
    name: &str,
) {
    let registry = &session.profile().registry;
    let secrets: Api<Secret> = Api::namespaced(target.client.clone(), &target.namespace);
    let secret = match secrets.get(name).await {
        Ok(secret) => secret,
        Err(e) => {
            let error = target.error("get", "secret", name, e);
            return report.add("pull credential", Verdict::Fail, format!("{error:#}"), "");
        }
    };
    let Some((username, password, _)) = manifests::existing_credential(&secret, registry) else {
        return report.add(
            "pull credential",
            Verdict::Fail,
            format!("secret/{name} holds no credential for {registry}"),
            "",
        );
    };
    let password = SecretString::from(password);
    let (result, observed, hint) =
        match v2::check(session.http(), registry, &username, &password, true).await {
            Ok(v2::Verified::Accepted) => (Verdict::Ok, "accepted".to_string(), ""),
            Ok(v2::Verified::Anonymous) => (Verdict::Warn, "anonymous pulls".into(), ""),
            Err(e) if e.is_definite() => (
                Verdict::Fail,
                format!("{e:#}"),
                "recreate it with `secret create --rotate`",
            ),
            Err(e) => (
                Verdict::Warn,
                // The registry's name is in the row already: only what was unexpected.
                format!("{e:#}")
                    .split_once("as expected: ")
                    .map_or_else(|| format!("{e:#}"), |(_, detail)| detail.to_string()),
                "the pull could not be verified",
            ),
        };
    report.add(
        "pull credential",
        result,
        format!("secret/{name}: {observed}"),
        hint,
    );
}

/// What the main job does in the target namespace, asked with SelfSubjectAccessReviews.
const NEEDED: &[(&str, &str)] = &[
    ("get", "secrets"),
    ("create", "secrets"),
    ("update", "secrets"),
    ("delete", "secrets"),
    ("patch", "pods"),
];

async fn kubernetes(report: &mut Report, ctx: &Ctx, session: &Session, secret: Option<&str>) {
    let target = match cluster::resolve(&ctx.global.kube)
        .await
        .and_then(cluster::Resolved::connect)
    {
        Ok(target) => target,
        Err(e) => {
            return report.add(
                "kubernetes",
                Verdict::Fail,
                format!("{e:#}"),
                "check the kubeconfig flags",
            );
        }
    };
    let mut denied = Vec::new();
    for (verb, resource) in NEEDED {
        match cluster::access::allowed(&target.client, &target.namespace, verb, resource, None)
            .await
        {
            Ok(true) => {}
            Ok(false) => denied.push(format!("{verb} {resource}")),
            Err(e) => {
                let error = target.error("create", "selfsubjectaccessreview", "", e);
                return report.add(
                    "kubernetes",
                    Verdict::Fail,
                    format!("{error:#}"),
                    "check the kubeconfig flags",
                );
            }
        }
    }
    let place = format!(
        "context `{}`, namespace `{}`",
        target.context.as_deref().unwrap_or("(none)"),
        target.namespace
    );
    if denied.is_empty() {
        report.add(
            "kubernetes",
            Verdict::Ok,
            format!("{place}: may get/create/update/delete secrets, patch pods"),
            "",
        );
    } else {
        report.add(
            "kubernetes",
            Verdict::Fail,
            format!("{place}: may not {}", denied.join(", ")),
            "ask for a Role with these verbs, or use -n/--context",
        );
    }
    if let Some(name) = secret {
        pull_credential(report, session, &target, name).await;
    }
}

/// `doctor`.
pub async fn doctor(ctx: &Ctx, settings: DoctorSettings) -> anyhow::Result<()> {
    let mut report = Report::default();
    match ctx.session() {
        Ok(mut session) => {
            let profile = session.profile();
            report.add(
                "profile",
                Verdict::Ok,
                format!(
                    "`{}`: {} registry {}",
                    ctx.profile_name(),
                    profile.api,
                    profile.registry
                ),
                "",
            );
            discovery(&mut report, &session).await;
            login_prompts(&mut report, &session).await;
            if uaa_and_org(&mut report, &mut session).await {
                registry_api(&mut report, &mut session).await;
            } else {
                report.add("registry tokens", Verdict::Skip, "no access token", "");
            }
            registry_v2(&mut report, &session).await;
            kubernetes(&mut report, ctx, &session, settings.secret.as_deref()).await;
        }
        Err(e) => report.add(
            "profile",
            Verdict::Fail,
            format!("{e:#}"),
            "run `kubectl dedicated-registry login`",
        ),
    }
    match settings.format {
        Some(format) => output::data(&output::render(&report.0, format)?)?,
        None => output::data(&report.table())?,
    }
    let failed: Vec<&str> = report
        .0
        .iter()
        .filter(|r| r.result == Verdict::Fail)
        .map(|r| r.check.as_str())
        .collect();
    if !failed.is_empty() {
        bail!("{} check(s) failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

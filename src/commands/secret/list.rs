//! `secret list`: the pull secrets this plugin manages, as kubectl lists objects (a table, `-o
//! wide|json|yaml|name`), with the token each holds and, with `--verify`, whether it still
//! works. A token is never printed: only its id.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::{Api, ListParams};
use secrecy::SecretString;
use serde_json::json;

use crate::cli::SecretListFormat;
use crate::cli::settings::SecretListSettings;
use crate::cluster::{self, Target};
use crate::commands::Ctx;
use crate::engine::inventory;
use crate::output::{self, Format};
use crate::registry::v2::{self, Verified};
use crate::{manifests, registry};

/// One row of the table.
struct Row {
    namespace: String,
    name: String,
    registry: String,
    token: Option<String>,
    access: String,
    shared_by: usize,
    age: String,
    status: Option<&'static str>,
    accounts: Option<String>,
    description: Option<String>,
}

/// `secret list`.
pub async fn list(ctx: &Ctx, settings: SecretListSettings) -> anyhow::Result<()> {
    let target = cluster::resolve(&ctx.global.kube).await?.connect()?;
    let namespace = (!settings.all_namespaces).then(|| target.namespace.clone());
    let secrets: Vec<Secret> = managed(&target, namespace.as_deref())
        .await?
        .into_iter()
        .filter(manifests::is_managed)
        .collect();
    // As kubectl: an empty list is still a `List` for -o json|yaml, and nothing for -o name.
    if secrets.is_empty()
        && settings.format != Some(SecretListFormat::Json)
        && settings.format != Some(SecretListFormat::Yaml)
    {
        if settings.format == Some(SecretListFormat::Name) {
            return Ok(());
        }
        output::info(match &namespace {
            Some(ns) => format!("No resources found in {ns} namespace."),
            None => "No resources found".to_string(),
        });
        return Ok(());
    }
    match settings.format {
        Some(SecretListFormat::Name) => {
            let names: Vec<String> = secrets
                .iter()
                .map(|s| format!("secret/{}", inventory::key(s).1))
                .collect();
            Ok(output::data(&names.join("\n"))?)
        }
        Some(SecretListFormat::Json) => print_list(&secrets, Format::Json),
        Some(SecretListFormat::Yaml) => print_list(&secrets, Format::Yaml),
        Some(SecretListFormat::Wide) | None => {
            let wide = settings.format == Some(SecretListFormat::Wide);
            let mut rows = rows(&secrets);
            if settings.verify {
                verify(ctx, &secrets, &mut rows).await?;
            }
            if wide {
                add_accounts(&target, namespace.as_deref(), &mut rows).await;
                add_descriptions(ctx, &mut rows).await;
            }
            Ok(output::data(&table(&rows, namespace.is_none()))?)
        }
    }
}

/// The managed secrets of `namespace`, or of every namespace: one cluster-wide LIST; when RBAC
/// refuses it, one LIST per namespace (when the namespaces may be listed), the namespaces that
/// refuse too named in one warning.
async fn managed(target: &Target, namespace: Option<&str>) -> anyhow::Result<Vec<Secret>> {
    let params = inventory::managed_selector();
    let error = match inventory::list_secrets(target, namespace, &params).await {
        Ok(found) => return Ok(found),
        Err(e) if namespace.is_none() && is_forbidden(&e) => e,
        Err(e) => return Err(e),
    };
    let namespaces: Api<Namespace> = Api::all(target.client.clone());
    let Ok(all) = namespaces.list(&ListParams::default()).await else {
        anyhow::bail!(
            "{error:#}; the namespaces cannot be listed either: list one namespace with -n NAME"
        );
    };
    output::log(
        1,
        "secrets cannot be listed across namespaces; listing them namespace by namespace",
    );
    let (mut found, mut refused) = (Vec::new(), Vec::new());
    for name in all.items.into_iter().filter_map(|n| n.metadata.name) {
        match inventory::list_secrets(target, Some(&name), &params).await {
            Ok(items) => found.extend(items),
            Err(e) if is_forbidden(&e) => refused.push(name),
            Err(e) => return Err(e),
        }
    }
    if !refused.is_empty() {
        output::warning(format!(
            "not allowed to list secrets in {} namespace(s), not shown: {}",
            refused.len(),
            refused.join(", ")
        ));
    }
    Ok(found)
}

fn is_forbidden(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<cluster::ClusterError>(),
        Some(cluster::ClusterError::Forbidden { .. })
    )
}

/// `-o json|yaml`: a kubectl `List` of the Secrets without their credentials.
fn print_list(secrets: &[Secret], format: Format) -> anyhow::Result<()> {
    let items: Vec<Secret> = secrets.iter().map(manifests::redacted).collect();
    let list = json!({
        "apiVersion": "v1",
        "items": items,
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    });
    Ok(output::data(&output::render(&list, format)?)?)
}

/// The registry a managed secret is for: its annotation, else its first credential's host.
fn registry_of(secret: &Secret) -> String {
    manifests::annotation(secret, manifests::ANNOTATION_REGISTRY)
        .map(str::to_string)
        .or_else(|| {
            manifests::credentials(secret)
                .into_iter()
                .next()
                .map(|c| c.host)
        })
        .unwrap_or_else(|| "<none>".to_string())
}

/// The table rows, before `--verify` and `-o wide` add their columns. SHARED-BY counts the
/// listed secrets holding the same token id.
fn rows(secrets: &[Secret]) -> Vec<Row> {
    let now = std::time::SystemTime::now();
    let tokens: Vec<(String, Option<String>)> = secrets
        .iter()
        .map(|s| {
            let registry = registry_of(s);
            let token = inventory::recorded_token_id(s, &registry);
            (registry, token)
        })
        .collect();
    secrets
        .iter()
        .zip(&tokens)
        .map(|(secret, (registry, token))| {
            let (namespace, name) = inventory::key(secret);
            Row {
                namespace,
                name,
                registry: registry.clone(),
                token: token.clone(),
                access: manifests::annotation(secret, manifests::ANNOTATION_ACCESS)
                    .unwrap_or("<unknown>")
                    .to_string(),
                shared_by: match token {
                    Some(id) => tokens
                        .iter()
                        .filter(|(_, t)| t.as_ref() == Some(id))
                        .count(),
                    None => 1,
                },
                age: inventory::age_seconds(secret, now)
                    .map(inventory::human_duration)
                    .unwrap_or_else(|| "<unknown>".to_string()),
                status: None,
                accounts: None,
                description: None,
            }
        })
        .collect()
}

/// `--verify`: each distinct token once (a secret without a token id on its own), with the
/// credential of the first secret holding it, the way a kubelet authenticates.
async fn verify(ctx: &Ctx, secrets: &[Secret], rows: &mut [Row]) -> anyhow::Result<()> {
    let profile = ctx.require_profile().ok();
    let default_client = crate::http::client(None, false)?;
    let profile_client = match &profile {
        Some(p) => Some((
            p.registry.clone(),
            crate::http::client(p.ca_file.as_deref(), p.insecure_skip_tls_verify)?,
        )),
        None => None,
    };
    let mut verdicts: BTreeMap<String, &'static str> = BTreeMap::new();
    for (secret, row) in secrets.iter().zip(rows.iter_mut()) {
        let group = match &row.token {
            Some(id) => format!("{}\n{id}", row.registry),
            None => format!("{}/{}", row.namespace, row.name),
        };
        if let Some(verdict) = verdicts.get(&group) {
            row.status = Some(verdict);
            continue;
        }
        let client = match &profile_client {
            Some((registry, client)) if *registry == row.registry => client,
            _ => &default_client,
        };
        let verdict = match manifests::existing_credential(secret, &row.registry) {
            None => "unverifiable",
            Some((username, password, _)) => {
                let password = SecretString::from(password);
                match v2::check(client, &row.registry, &username, &password, false).await {
                    Ok(Verified::Accepted) => "works",
                    Ok(Verified::Anonymous) => "unverifiable",
                    Err(e) if e.is_definite() => "refused",
                    Err(e) => {
                        output::log(
                            1,
                            format!(
                                "secret {}/{}: {}",
                                row.namespace,
                                row.name,
                                crate::redact::one_line(&format!("{e:#}"))
                            ),
                        );
                        "unverifiable"
                    }
                }
            }
        };
        verdicts.insert(group, verdict);
        row.status = Some(verdict);
    }
    Ok(())
}

/// `-o wide`: the ServiceAccounts whose `imagePullSecrets` reference each secret (one LIST);
/// not being allowed to list them is one warning and `<unknown>`.
async fn add_accounts(target: &Target, namespace: Option<&str>, rows: &mut [Row]) {
    let api: Api<ServiceAccount> = match namespace {
        Some(ns) => Api::namespaced(target.client.clone(), ns),
        None => Api::all(target.client.clone()),
    };
    let accounts = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(e) => {
            output::warning(format!(
                "cannot list ServiceAccounts, SERVICE-ACCOUNTS shows <unknown>: {}",
                target.in_namespace(namespace.unwrap_or("*")).error(
                    "list",
                    "serviceaccounts",
                    "*",
                    e
                )
            ));
            for row in rows {
                row.accounts = Some("<unknown>".into());
            }
            return;
        }
    };
    for row in rows {
        let names: Vec<&str> = accounts
            .iter()
            .filter(|a| a.metadata.namespace.as_deref() == Some(row.namespace.as_str()))
            .filter(|a| manifests::references(a, &row.name))
            .filter_map(|a| a.metadata.name.as_deref())
            .collect();
        row.accounts = Some(if names.is_empty() {
            "<none>".into()
        } else {
            names.join(",")
        });
    }
}

/// `-o wide`: each token's description from the registry's token list, when logged in to that
/// registry; otherwise one warning and `<unknown>`.
async fn add_descriptions(ctx: &Ctx, rows: &mut [Row]) {
    let listed = match ctx.session() {
        Ok(mut session) => {
            let registry = session.profile().registry.clone();
            session
                .registry_idempotent(async |api| api.list().await)
                .await
                .map(|tokens| (registry, tokens))
                .map_err(anyhow::Error::from)
        }
        Err(e) => Err(e),
    };
    let (registry, tokens) = match listed {
        Ok(found) => found,
        Err(e) => {
            output::warning(format!(
                "cannot read the token descriptions, DESCRIPTION shows <unknown>: {}",
                crate::redact::one_line(&format!("{e:#}"))
            ));
            (String::new(), Vec::new())
        }
    };
    let by_id: BTreeMap<&str, &registry::TokenEntry> =
        tokens.iter().map(|t| (t.id.as_str(), t)).collect();
    for row in rows {
        row.description = Some(match &row.token {
            _ if registry.is_empty() || row.registry != registry => "<unknown>".into(),
            None => "<none>".into(),
            Some(id) => match by_id.get(id.as_str()) {
                Some(t) => output::printable(&t.description).replace(['\n', '\t'], " "),
                None => "<not a live token>".into(),
            },
        });
    }
}

/// The table: NAMESPACE (with -A), NAME, REGISTRY, TOKEN, ACCESS, SHARED-BY, STATUS (with
/// --verify), AGE, then the wide columns.
fn table(rows: &[Row], all_namespaces: bool) -> String {
    let mut header = Vec::new();
    if all_namespaces {
        header.push("NAMESPACE");
    }
    header.extend(["NAME", "REGISTRY", "TOKEN", "ACCESS", "SHARED-BY"]);
    let verified = rows.iter().any(|r| r.status.is_some());
    if verified {
        header.push("STATUS");
    }
    header.push("AGE");
    let wide = rows.iter().any(|r| r.accounts.is_some());
    if wide {
        header.extend(["SERVICE-ACCOUNTS", "DESCRIPTION"]);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = Vec::new();
            if all_namespaces {
                cells.push(r.namespace.clone());
            }
            cells.extend([
                r.name.clone(),
                r.registry.clone(),
                r.token.clone().unwrap_or_else(|| "<none>".into()),
                r.access.clone(),
                r.shared_by.to_string(),
            ]);
            if verified {
                cells.push(r.status.unwrap_or("unverifiable").to_string());
            }
            cells.push(r.age.clone());
            if wide {
                cells.push(r.accounts.clone().unwrap_or_default());
                cells.push(r.description.clone().unwrap_or_default());
            }
            cells.into_iter().map(|c| output::printable(&c)).collect()
        })
        .collect();
    crate::output::table(&header, &cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ns: &str, name: &str, token: Option<&str>) -> Row {
        Row {
            namespace: ns.into(),
            name: name.into(),
            registry: "r.x".into(),
            token: token.map(str::to_string),
            access: "read-only".into(),
            shared_by: 1,
            age: "5m".into(),
            status: None,
            accounts: None,
            description: None,
        }
    }

    #[test]
    fn namespace_column_only_with_all_namespaces_and_wide_columns_last() {
        let rows = [row("team-a", "regcred", Some("id-1"))];
        let one = table(&rows, false);
        assert!(one.starts_with("NAME "), "{one}");
        assert!(one.lines().next().unwrap().ends_with("AGE"), "{one}");
        let all = table(&rows, true);
        assert!(all.starts_with("NAMESPACE "), "{all}");
        let mut wide = rows;
        wide[0].status = Some("refused");
        wide[0].accounts = Some("default,builder".into());
        wide[0].description = Some("kubectl-dedicated-registry c/team-a/regcred".into());
        let text = table(&wide, true);
        let header = text.lines().next().unwrap();
        assert!(
            header.ends_with("SHARED-BY   STATUS    AGE   SERVICE-ACCOUNTS   DESCRIPTION"),
            "{header}"
        );
        assert!(text.contains("refused"), "{text}");
        assert!(text.lines().nth(1).unwrap().ends_with("c/team-a/regcred"));
    }

    #[test]
    fn shared_by_counts_the_listed_secrets_of_a_token() {
        fn spec<'a>(access: &str, id: &'a str) -> manifests::PullSecretSpec<'a> {
            manifests::PullSecretSpec {
                registry: "r.x",
                username: "token",
                token: "not-a-jwt",
                token_id: id,
                email: "",
                readwrite: access == "rw",
            }
        }
        let secrets = [
            manifests::pull_secret("regcred", "team-a", &spec("ro", "shared")),
            manifests::pull_secret("regcred", "team-b", &spec("ro", "shared")),
            manifests::pull_secret("other", "team-b", &spec("rw", "solo")),
        ];
        let rows = rows(&secrets);
        let shared: Vec<usize> = rows.iter().map(|r| r.shared_by).collect();
        assert_eq!(shared, vec![2, 2, 1]);
        assert_eq!(rows[2].access, "read-write");
        assert_eq!(rows[0].registry, "r.x");
        assert_eq!(rows[0].token.as_deref(), Some("shared"));
    }
}

//! `secret create` and `secret render`.
//!
//! `create` follows fetch → decide → act. It reads the existing Secret, decides whether a token
//! must be minted (never for an up-to-date managed secret: permanent tokens must not sprawl),
//! mints only then, and writes with optimistic concurrency (POST for a new object, PUT with
//! `resourceVersion` for an existing one), so a concurrent writer causes a retry instead of a
//! silent overwrite. A token minted for a write that then fails is revoked before exiting.

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::{LocalObjectReference, Namespace, Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, PostParams, Preconditions};
use secrecy::{ExposeSecret as _, SecretString};

use super::{Ctx, print_stdout, to_text};
use crate::cli::{
    DryRun, ManifestFormat, OutputFormat, SecretCommonArgs, SecretCreateArgs, SecretDeleteArgs,
    SecretRenderArgs, SecretVerifyArgs,
};
use crate::cluster::{self, Target};
use crate::config::Profile;
use crate::manifests::{self, PullSecretSpec};
use crate::registry::{MintedToken, RegistryApi, RegistryError};
use crate::session;

/// How many times a write is retried after a concurrent modification.
const MAX_ATTEMPTS: usize = 5;

fn validate_common(args: &SecretCommonArgs) -> anyhow::Result<()> {
    manifests::validate_object_name("secret", &args.name)?;
    if let Some(email) = &args.docker_email {
        manifests::validate_email(email)?;
    }
    if let Some(d) = &args.description
        && d.chars().any(char::is_control)
    {
        bail!("invalid --description: it must be a single line");
    }
    Ok(())
}

/// The default token description: identifies where the token is used, no personal data.
fn description(args: &SecretCommonArgs, cluster: Option<&str>, namespace: &str) -> String {
    args.description.clone().unwrap_or_else(|| {
        format!(
            "{} {}/{}/{}",
            super::token::DESCRIPTION_PREFIX,
            cluster.unwrap_or("cluster"),
            namespace,
            args.name
        )
    })
}

/// Minting with the profile's login.
struct Minter<'a> {
    ctx: &'a Ctx,
    profile: &'a Profile,
    client: reqwest::Client,
    access: Option<SecretString>,
}

impl<'a> Minter<'a> {
    fn new(ctx: &'a Ctx, profile: &'a Profile) -> anyhow::Result<Self> {
        Ok(Minter {
            ctx,
            profile,
            client: session::http_client(profile)?,
            access: None,
        })
    }

    async fn access(&mut self) -> anyhow::Result<&SecretString> {
        if self.access.is_none() {
            self.ctx
                .log(1, format!("Refreshing the login for {}", self.profile.api));
            let token = session::access_token(
                self.ctx.store.clone(),
                self.ctx.profile_name(),
                self.profile,
                &self.client,
            )
            .await?;
            self.access = Some(token);
        }
        Ok(self.access.as_ref().expect("set above"))
    }

    async fn mint(&mut self, readwrite: bool, description: &str) -> anyhow::Result<MintedToken> {
        let profile = self.profile;
        let mut attempt = 0;
        let token = loop {
            attempt += 1;
            self.access().await?;
            let access = self.access.as_ref().expect("set above");
            let api = RegistryApi::new(&self.client, &profile.registry, access, &profile.org_guid);
            match api.mint(true, readwrite, description).await {
                Ok(token) => break token,
                // The access token may have expired during a long run (e.g. -A over many
                // namespaces): refresh once and retry, as IBM's clients do (protocol.md §2.4).
                Err(RegistryError::Refused { status: 401, .. }) if attempt == 1 => {
                    self.ctx.log(
                        1,
                        "The registry refused the access token; refreshing the login",
                    );
                    self.access = None;
                }
                Err(e) => return Err(e.into()),
            }
        };
        self.ctx.log(
            1,
            format!(
                "Minted {} token {} at {}",
                if readwrite { "read-write" } else { "read-only" },
                token.id,
                profile.registry
            ),
        );
        Ok(token)
    }

    /// Mints inside a Ctrl-C window (see [`crate::interrupt`]): from here until the token is in
    /// place, Ctrl-C waits for the request in flight so an unused token can be revoked. The
    /// login is refreshed before the window opens, so Ctrl-C during it still stops at once.
    async fn mint_in_window(
        &mut self,
        readwrite: bool,
        description: &str,
    ) -> anyhow::Result<(MintedToken, crate::interrupt::Window)> {
        self.access().await?;
        let window = crate::interrupt::Window::open();
        if crate::interrupt::interrupted() {
            bail!("interrupted by Ctrl-C; nothing was minted");
        }
        let token = self.mint(readwrite, description).await.map_err(|e| {
            // A request that failed in transit may still have created the token.
            if e.downcast_ref::<RegistryError>()
                .is_some_and(|r| matches!(r, RegistryError::Remote(_)))
            {
                e.context(format!(
                    "a token described `{description}` may have been created anyway: check with `kubectl dedicated-registry token list`"
                ))
            } else {
                e
            }
        })?;
        if crate::interrupt::interrupted() {
            return Err(self
                .undo(&token, anyhow::anyhow!("interrupted by Ctrl-C"))
                .await);
        }
        Ok((token, window))
    }

    async fn revoke(&mut self, id: &str) -> anyhow::Result<()> {
        let profile = self.profile;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.access().await?;
            let access = self.access.as_ref().expect("set above");
            match RegistryApi::new(&self.client, &profile.registry, access, &profile.org_guid)
                .revoke(id)
                .await
            {
                Ok(()) => break,
                Err(RegistryError::Refused { status: 401, .. }) if attempt == 1 => {
                    self.access = None;
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.ctx.log(1, format!("Revoked token {id}"));
        Ok(())
    }

    /// Checks the new token the way the kubelet will use it (v2 auth at the registry).
    async fn verify(&self, token: &MintedToken) -> anyhow::Result<()> {
        let outcome = crate::verify::check(
            &self.client,
            &self.profile.registry,
            manifests::TOKEN_USERNAME,
            &token.token,
            true,
        )
        .await
        .context(
            "the new token does not work for pulling (use --skip-verify to write it anyway)",
        )?;
        match outcome {
            crate::verify::Verified::Accepted => self.ctx.log(
                1,
                format!(
                    "Token {} accepted by {}/v2/",
                    token.id, self.profile.registry
                ),
            ),
            crate::verify::Verified::Anonymous => super::warn(format!(
                "warning: {} accepts anonymous pulls; the token could not be checked",
                self.profile.registry
            )),
        }
        Ok(())
    }

    /// Revokes a token minted for a write that failed, and returns the error to report.
    async fn undo(&mut self, token: &MintedToken, failure: anyhow::Error) -> anyhow::Error {
        match self.revoke(&token.id).await {
            Ok(()) => failure.context(format!(
                "the new registry token {} was revoked, nothing was changed",
                token.id
            )),
            Err(revoke_error) => failure.context(format!(
                "the new registry token {} could NOT be revoked ({:#}); revoke it with `kubectl dedicated-registry token revoke {}`",
                token.id,
                revoke_error,
                token.id
            )),
        }
    }
}

/// What to do with the existing object.
enum Plan {
    /// Up to date: nothing to write, no token to mint.
    Unchanged(Secret),
    /// Keep the existing token, rewrite the secret (e.g. another e-mail).
    Rewrite {
        existing: Secret,
        token: SecretString,
        token_id: String,
    },
    /// Mint a token; replace `existing` if any, revoking `revoke` after a successful write.
    Mint {
        existing: Option<Secret>,
        revoke: Option<String>,
    },
}

fn annotation<'s>(secret: &'s Secret, key: &str) -> Option<&'s str> {
    secret
        .metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

fn plan(
    existing: Option<Secret>,
    profile: &Profile,
    args: &SecretCreateArgs,
    namespace: &str,
) -> anyhow::Result<Plan> {
    let Some(existing) = existing else {
        return Ok(Plan::Mint {
            existing: None,
            revoke: None,
        });
    };
    let name = &args.common.name;
    if !manifests::is_managed(&existing) {
        if !args.overwrite {
            bail!(
                "secret `{namespace}/{name}` already exists and is not managed by kubectl-dedicated-registry; pass --overwrite to replace it, or choose another name"
            );
        }
        return Ok(Plan::Mint {
            existing: Some(existing),
            revoke: None,
        });
    }
    let same_registry =
        annotation(&existing, manifests::ANNOTATION_REGISTRY) == Some(profile.registry.as_str());
    let old_id = annotation(&existing, manifests::ANNOTATION_TOKEN_ID).map(str::to_string);
    let wanted_access = if args.common.readwrite {
        "read-write"
    } else {
        "read-only"
    };
    let same_access = annotation(&existing, manifests::ANNOTATION_ACCESS) == Some(wanted_access);
    let credential = manifests::existing_credential(&existing, &profile.registry);
    let type_ok = existing.type_.as_deref() == Some(manifests::DOCKERCONFIGJSON_TYPE);
    match (
        same_registry && same_access && type_ok && !args.rotate,
        credential,
        old_id,
    ) {
        (true, Some((user, token, email)), Some(token_id)) if user == manifests::TOKEN_USERNAME => {
            let wanted_email = args.common.docker_email.clone().unwrap_or_default();
            let email_matches = args.common.docker_email.is_none() || wanted_email == email;
            if email_matches {
                Ok(Plan::Unchanged(existing))
            } else {
                Ok(Plan::Rewrite {
                    existing,
                    token: SecretString::from(token),
                    token_id,
                })
            }
        }
        (_, _, old_id) => {
            if !same_registry && let Some(id) = &old_id {
                super::warn(format!(
                    "warning: secret/{name} holds token {id} of registry {}; it will be replaced but cannot be revoked with this profile",
                    annotation(&existing, manifests::ANNOTATION_REGISTRY).unwrap_or("unknown")
                ));
            }
            Ok(Plan::Mint {
                existing: Some(existing),
                revoke: if same_registry { old_id } else { None },
            })
        }
    }
}

/// Writes `desired`: create when `existing` is None, else replace it (keeping others' labels and
/// annotations) with its `resourceVersion` as precondition.
async fn write(
    secrets: &Api<Secret>,
    existing: Option<&Secret>,
    desired: &Secret,
    dry_run: bool,
) -> Result<Secret, kube::Error> {
    let params = PostParams {
        dry_run,
        field_manager: Some(manifests::MANAGER.to_string()),
    };
    let name = desired.metadata.name.clone().unwrap_or_default();
    match existing {
        None => secrets.create(&params, desired).await,
        Some(old) if old.type_ != desired.type_ => {
            // `type` is immutable: delete (only the version we saw) and create. A server dry run
            // cannot show that sequence (the dry-run create would meet the old object), so the
            // replacement is validated as a create into an empty name by the client only.
            if dry_run {
                return Ok(desired.clone());
            }
            let delete = DeleteParams {
                preconditions: Some(Preconditions {
                    resource_version: old.metadata.resource_version.clone(),
                    uid: old.metadata.uid.clone(),
                }),
                ..Default::default()
            };
            secrets.delete(&name, &delete).await?;
            match secrets.create(&params, desired).await {
                Ok(created) => Ok(created),
                Err(e) => {
                    // Put the user's secret back rather than leave nothing.
                    let mut restore = old.clone();
                    restore.metadata.resource_version = None;
                    restore.metadata.uid = None;
                    restore.metadata.managed_fields = None;
                    restore.metadata.creation_timestamp = None;
                    if secrets
                        .create(&PostParams::default(), &restore)
                        .await
                        .is_err()
                    {
                        let token_note = annotation(old, manifests::ANNOTATION_TOKEN_ID)
                            .map(|id| format!("; its token {id} is still valid: `kubectl dedicated-registry token revoke {id}` if it is no longer needed"))
                            .unwrap_or_default();
                        super::warn(format!(
                            "warning: secret/{name} was deleted to change its type and could not be restored{token_note}"
                        ));
                    }
                    Err(e)
                }
            }
        }
        Some(old) => {
            let mut merged = desired.clone();
            let mut labels = old.metadata.labels.clone().unwrap_or_default();
            labels.extend(desired.metadata.labels.clone().unwrap_or_default());
            let mut annotations = old.metadata.annotations.clone().unwrap_or_default();
            annotations.remove(manifests::ANNOTATION_TOKEN_ID);
            // A stale copy of the old object, credential included, must not survive.
            annotations.remove(manifests::LAST_APPLIED);
            annotations.extend(desired.metadata.annotations.clone().unwrap_or_default());
            merged.metadata.labels = Some(labels);
            merged.metadata.annotations = Some(annotations);
            merged.metadata.resource_version = old.metadata.resource_version.clone();
            merged.metadata.owner_references = old.metadata.owner_references.clone();
            secrets.replace(&name, &params, &merged).await
        }
    }
}

/// Appends `secret` to each ServiceAccount's imagePullSecrets (read-modify-write, retried on
/// conflict: the list has no merge key, so a patch would replace others' entries).
async fn attach_to_service_accounts(
    ctx: &Ctx,
    target: &Target,
    secret: &str,
    names: &[String],
    dry_run: bool,
    quiet_stdout: bool,
) -> anyhow::Result<()> {
    // Like kubectl, one `kind/name verb` line per object on stdout, unless stdout carries -o.
    let report = |line: String| -> anyhow::Result<()> {
        if quiet_stdout {
            super::warn(line);
            Ok(())
        } else {
            print_stdout(&line)
        }
    };
    let accounts: Api<ServiceAccount> = Api::namespaced(target.client.clone(), &target.namespace);
    for name in names {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut account = accounts
                .get(name)
                .await
                .map_err(|e| target.error("get", "serviceaccount", name, e))?;
            let list = account.image_pull_secrets.get_or_insert_with(Vec::new);
            if list.iter().any(|r| r.name == secret) {
                report(format!("serviceaccount/{name} unchanged"))?;
                break;
            }
            list.push(LocalObjectReference {
                name: secret.to_string(),
            });
            let params = PostParams {
                dry_run,
                field_manager: Some(manifests::MANAGER.to_string()),
            };
            match accounts.replace(name, &params, &account).await {
                Ok(_) => {
                    report(format!(
                        "serviceaccount/{name} configured{}",
                        if dry_run { " (server dry run)" } else { "" }
                    ))?;
                    break;
                }
                Err(e) if cluster::is_conflict(&e) && attempt < MAX_ATTEMPTS => {
                    ctx.log(
                        1,
                        format!("serviceaccount/{name} changed concurrently; retrying"),
                    );
                    continue;
                }
                Err(e) => {
                    return Err(anyhow::Error::new(target.error("update", "serviceaccount", name, e)).context(format!(
                        "secret/{secret} is in place but serviceaccount/{name} was not updated; re-run the command to retry"
                    )));
                }
            }
        }
    }
    Ok(())
}

fn print_result(
    secret: &Secret,
    verb: &str,
    output: Option<OutputFormat>,
    show_token: bool,
    registry: &str,
    email: &str,
) -> anyhow::Result<()> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    match output {
        None => print_stdout(&format!("secret/{name} {verb}")),
        Some(OutputFormat::Name) => print_stdout(&format!("secret/{name}")),
        Some(format) => {
            let is_placeholder = manifests::existing_credential(secret, registry)
                .is_some_and(|(_, password, _)| password == manifests::PLACEHOLDER_TOKEN);
            let mut shown = if show_token || is_placeholder {
                secret.clone()
            } else {
                manifests::redacted(secret, registry, email)
            };
            shown.metadata.managed_fields = None;
            print_stdout(&to_text(&shown, format == OutputFormat::Yaml)?)
        }
    }
}

/// `secret create`.
pub async fn create(ctx: &Ctx, args: SecretCreateArgs) -> anyhow::Result<()> {
    validate_common(&args.common)?;
    for sa in &args.service_accounts {
        manifests::validate_object_name("serviceaccount", sa)?;
    }
    if args.all_namespaces {
        if args.dry_run == DryRun::Client {
            bail!(
                "--dry-run=client cannot be combined with -A: listing namespaces needs the API server; use --dry-run=server"
            );
        }
        if matches!(args.output, Some(OutputFormat::Yaml | OutputFormat::Json)) {
            bail!(
                "-o yaml|json prints one object and cannot be combined with -A; use -o name or no -o"
            );
        }
    }
    let profile = ctx.require_profile()?;
    let resolved = cluster::resolve(&ctx.kube).await?;
    manifests::validate_namespace(&resolved.namespace)?;
    let email = args.common.docker_email.clone().unwrap_or_default();
    super::warn(format!(
        "Target: context `{}`, cluster `{}`, namespace {}",
        resolved.context.as_deref().unwrap_or("(none)"),
        resolved.cluster.as_deref().unwrap_or("(none)"),
        if args.all_namespaces {
            "all (except kube-* and --exclude)".to_string()
        } else {
            format!("`{}`", resolved.namespace)
        }
    ));

    let placeholder = |namespace: &str| placeholder_secret(&args, &profile, namespace);
    if args.dry_run == DryRun::Client {
        let secret = placeholder(&resolved.namespace);
        // The placeholder is no secret, so the object is printed as is.
        print_result(
            &secret,
            "created (dry run)",
            args.output,
            true,
            &profile.registry,
            &email,
        )?;
        for sa in &args.service_accounts {
            let line = format!("serviceaccount/{sa} configured (dry run)");
            if args.output.is_some() {
                super::warn(line);
            } else {
                print_stdout(&line)?;
            }
        }
        return Ok(());
    }

    let target = resolved.connect()?;
    let mut minter = Minter::new(ctx, &profile)?;
    if !args.all_namespaces {
        return create_in(ctx, &args, &profile, &target, &mut minter, false).await;
    }

    // -A: every namespace but the excluded ones, each with its own secret and token; a failure
    // in one namespace does not stop the others.
    let namespaces: Api<Namespace> = Api::all(target.client.clone());
    let list = namespaces
        .list(&ListParams::default())
        .await
        .map_err(|e| target.error("list", "namespaces", "*", e))?;
    let mut patterns = vec!["kube-*".to_string()];
    patterns.extend(args.exclude.iter().cloned());
    let mut failures = Vec::new();
    let mut names: Vec<String> = list
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .filter(|n| !patterns.iter().any(|p| glob_match(p, n)))
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("no namespace left after excluding {}", patterns.join(", "));
    }
    for namespace in names {
        let in_namespace = Target {
            client: target.client.clone(),
            namespace: namespace.clone(),
            context: target.context.clone(),
            cluster: target.cluster.clone(),
            server: target.server.clone(),
        };
        if let Err(e) = create_in(ctx, &args, &profile, &in_namespace, &mut minter, true).await {
            super::warn(format!("namespace {namespace} failed: {e:#}"));
            failures.push(namespace);
        }
    }
    if !failures.is_empty() {
        bail!(
            "secret/{} failed in {} namespace(s): {}; the others are done, re-run to retry",
            args.common.name,
            failures.len(),
            failures.join(", ")
        );
    }
    Ok(())
}

/// The Secret a dry run shows: the placeholder where the token would be.
fn placeholder_secret(args: &SecretCreateArgs, profile: &Profile, namespace: &str) -> Secret {
    manifests::pull_secret(
        &args.common.name,
        namespace,
        &PullSecretSpec {
            registry: &profile.registry,
            token: manifests::PLACEHOLDER_TOKEN,
            token_id: "",
            email: args.common.docker_email.as_deref().unwrap_or_default(),
            readwrite: args.common.readwrite,
        },
    )
}

/// Reads a secret back after an uncertain write, retrying a failed read twice. `None` when it
/// could not be read at all.
async fn read_back(secrets: &Api<Secret>, name: &str) -> Option<Option<Secret>> {
    for delay in [0u64, 500, 1500] {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        if let Ok(found) = secrets.get_opt(name).await {
            return Some(found);
        }
    }
    None
}

/// `*` wildcard matching for `--exclude`.
fn glob_match(pattern: &str, text: &str) -> bool {
    let regex = format!(
        "^{}$",
        pattern
            .split('*')
            .map(regex::escape)
            .collect::<Vec<_>>()
            .join(".*")
    );
    regex::Regex::new(&regex).is_ok_and(|r| r.is_match(text))
}

/// `secret create` in one namespace.
async fn create_in(
    ctx: &Ctx,
    args: &SecretCreateArgs,
    profile: &Profile,
    target: &Target,
    minter: &mut Minter<'_>,
    multi: bool,
) -> anyhow::Result<()> {
    let name = args.common.name.clone();
    let email = args.common.docker_email.clone().unwrap_or_default();
    let placeholder = |namespace: &str| placeholder_secret(args, profile, namespace);
    let secrets: Api<Secret> = Api::namespaced(target.client.clone(), &target.namespace);
    // Fetch phase: everything that can fail before a token exists.
    let accounts: Api<ServiceAccount> = Api::namespaced(target.client.clone(), &target.namespace);
    for sa in &args.service_accounts {
        accounts
            .get(sa)
            .await
            .map_err(|e| target.error("get", "serviceaccount", sa, e))
            .with_context(|| format!("--service-account {sa} cannot be used"))?;
    }
    let description = description(&args.common, target.cluster.as_deref(), &target.namespace);
    let dry_run = args.dry_run == DryRun::Server;

    let mut attempt = 0;
    let (written, verb) = loop {
        attempt += 1;
        if crate::interrupt::interrupted() {
            bail!("interrupted by Ctrl-C; secret/{name} was not changed");
        }
        let existing = secrets
            .get_opt(&name)
            .await
            .map_err(|e| target.error("get", "secret", &name, e))?;
        let plan = plan(existing, profile, args, &target.namespace)?;
        match plan {
            Plan::Unchanged(secret) => break (secret, "unchanged"),
            Plan::Rewrite {
                existing,
                token,
                token_id,
            } => {
                let desired = manifests::pull_secret(
                    &name,
                    &target.namespace,
                    &PullSecretSpec {
                        registry: &profile.registry,
                        token: token.expose_secret(),
                        token_id: &token_id,
                        email: &email,
                        readwrite: args.common.readwrite,
                    },
                );
                match write(&secrets, Some(&existing), &desired, dry_run).await {
                    Ok(s) => {
                        break (
                            s,
                            if dry_run {
                                "configured (server dry run)"
                            } else {
                                "configured"
                            },
                        );
                    }
                    Err(e) if cluster::is_conflict(&e) && attempt < MAX_ATTEMPTS => continue,
                    Err(e) => return Err(target.error("update", "secret", &name, e).into()),
                }
            }
            Plan::Mint { existing, revoke } => {
                let verb = match (&existing, dry_run) {
                    (None, false) => "created",
                    (None, true) => "created (server dry run)",
                    (Some(_), false) => "configured",
                    (Some(_), true) => "configured (server dry run)",
                };
                if dry_run {
                    let desired = placeholder(&target.namespace);
                    match write(&secrets, existing.as_ref(), &desired, true).await {
                        Ok(s) => break (s, verb),
                        Err(e) => {
                            return Err(target
                                .error(
                                    if existing.is_some() {
                                        "update"
                                    } else {
                                        "create"
                                    },
                                    "secret",
                                    &name,
                                    e,
                                )
                                .into());
                        }
                    }
                }
                let (token, window) = minter
                    .mint_in_window(args.common.readwrite, &description)
                    .await?;
                if !args.skip_verify
                    && let Err(e) = minter.verify(&token).await
                {
                    return Err(minter.undo(&token, e).await);
                }
                if crate::interrupt::interrupted() {
                    return Err(minter
                        .undo(&token, anyhow::anyhow!("interrupted by Ctrl-C"))
                        .await);
                }
                let desired = manifests::pull_secret(
                    &name,
                    &target.namespace,
                    &PullSecretSpec {
                        registry: &profile.registry,
                        token: token.token.expose_secret(),
                        token_id: &token.id,
                        email: &email,
                        readwrite: args.common.readwrite,
                    },
                );
                let landed = match write(&secrets, existing.as_ref(), &desired, false).await {
                    Ok(s) => s,
                    Err(e) if cluster::is_conflict(&e) && attempt < MAX_ATTEMPTS => {
                        // Someone else wrote meanwhile: undo and decide again on fresh state.
                        ctx.log(1, format!("secret/{name} changed concurrently; retrying"));
                        if let Err(revoke_error) = minter.revoke(&token.id).await {
                            return Err(revoke_error.context(format!(
                                "secret/{name} changed concurrently and the new token {} could NOT be revoked; revoke it with `kubectl dedicated-registry token revoke {}`",
                                token.id, token.id
                            )));
                        }
                        continue;
                    }
                    Err(e) => {
                        let write_verb = if existing.is_some() {
                            "update"
                        } else {
                            "create"
                        };
                        // The server may have stored the write although the answer was lost or
                        // was a server-side timeout: look before revoking a token in use.
                        let uncertain = match &e {
                            kube::Error::Api(status) => {
                                status.code >= 500
                                    || matches!(status.reason.as_str(), "Timeout" | "ServerTimeout")
                            }
                            _ => true,
                        };
                        let failure =
                            anyhow::Error::new(target.error(write_verb, "secret", &name, e));
                        if !uncertain {
                            return Err(minter.undo(&token, failure).await);
                        }
                        match read_back(&secrets, &name).await {
                            Some(Some(stored))
                                if annotation(&stored, manifests::ANNOTATION_TOKEN_ID)
                                    == Some(token.id.as_str()) =>
                            {
                                super::warn(format!(
                                    "warning: the {write_verb} of secret/{name} reported an error, but the secret holds the new token: it was written"
                                ));
                                stored
                            }
                            Some(_) => return Err(minter.undo(&token, failure).await),
                            None => {
                                return Err(failure.context(format!(
                                    "it is unknown whether secret/{name} was written; the new token {id} was NOT revoked: check with `kubectl get secret {name}` and run `kubectl dedicated-registry token revoke {id}` if the secret does not use it",
                                    id = token.id
                                )));
                            }
                        }
                    }
                };
                // The new token is in place. The one it replaced is revoked while the window
                // is still open, so Ctrl-C cannot leave it live unreported.
                if let Some(old) = revoke
                    && old != token.id
                    && let Err(e) = minter.revoke(&old).await
                {
                    super::warn(format!(
                        "warning: the replaced token {old} could not be revoked ({e:#}); revoke it with `kubectl dedicated-registry token revoke {old}`"
                    ));
                }
                drop(window);
                if crate::interrupt::interrupted() {
                    bail!(
                        "interrupted by Ctrl-C after secret/{name} was written with the new token {}; the remaining steps were skipped, re-run to finish",
                        token.id
                    );
                }
                break (landed, verb);
            }
        }
    };
    let verb = if multi {
        format!("{verb} (namespace {})", target.namespace)
    } else {
        verb.to_string()
    };
    print_result(
        &written,
        &verb,
        args.output,
        args.show_token,
        &profile.registry,
        &email,
    )?;
    if !args.service_accounts.is_empty() {
        attach_to_service_accounts(
            ctx,
            target,
            &name,
            &args.service_accounts,
            dry_run,
            args.output.is_some(),
        )
        .await?;
    }
    Ok(())
}

/// `secret render`: mints a token and prints the manifest; no cluster is contacted.
pub async fn render(ctx: &Ctx, args: SecretRenderArgs) -> anyhow::Result<()> {
    validate_common(&args.common)?;
    let profile = ctx.require_profile()?;
    // The namespace comes from -n, else the kubeconfig context if there is one, else `default`.
    let (namespace, cluster_name) = match &ctx.kube.namespace {
        Some(ns) => (ns.clone(), None),
        None => match cluster::resolve(&ctx.kube).await {
            Ok(r) => (r.namespace, r.cluster),
            Err(e) => {
                super::warn(format!(
                    "warning: no usable kubeconfig ({e}); rendering for namespace `default` (pass -n to choose)"
                ));
                ("default".to_string(), None)
            }
        },
    };
    manifests::validate_namespace(&namespace)?;
    let email = args.common.docker_email.clone().unwrap_or_default();
    let description = description(&args.common, cluster_name.as_deref(), &namespace);
    let mut minter = Minter::new(ctx, &profile)?;
    let (token, _window) = minter
        .mint_in_window(args.common.readwrite, &description)
        .await?;
    let secret = manifests::pull_secret(
        &args.common.name,
        &namespace,
        &PullSecretSpec {
            registry: &profile.registry,
            token: token.token.expose_secret(),
            token_id: &token.id,
            email: &email,
            readwrite: args.common.readwrite,
        },
    );
    let text = to_text(&secret, args.output == ManifestFormat::Yaml)?;
    if let Err(e) = print_stdout(&text) {
        // Nobody received the token: do not leave it behind. This is a failure even for a
        // closed pipe (which `run` otherwise treats as success), so the cause is flattened.
        let failure = anyhow::anyhow!("cannot write the manifest to standard output ({e})");
        return Err(minter.undo(&token, failure).await);
    }
    super::warn(format!(
        "Minted registry token {} (it is in the printed manifest; keep it safe)",
        token.id
    ));
    Ok(())
}

/// `secret verify`: every registry in the secret's dockerconfigjson, checked with its credential.
pub async fn verify(ctx: &Ctx, args: SecretVerifyArgs) -> anyhow::Result<()> {
    manifests::validate_object_name("secret", &args.name)?;
    // The profile's CA and --insecure-skip-tls-verify apply to the profile's registry only;
    // other registries in the secret are checked with the OS trust store (plus --ca-file).
    let profile = ctx.require_profile().ok();
    let default_client = crate::http::client(args.ca_file.as_deref(), false)?;
    let profile_client = match &profile {
        Some(p) if args.ca_file.is_none() => Some((
            p.registry.clone(),
            crate::http::client(p.ca_file.as_deref(), p.insecure_skip_tls_verify)?,
        )),
        _ => None,
    };
    let target = cluster::resolve(&ctx.kube).await?.connect()?;
    let secrets: Api<Secret> = Api::namespaced(target.client.clone(), &target.namespace);
    let secret = secrets
        .get(&args.name)
        .await
        .map_err(|e| target.error("get", "secret", &args.name, e))?;
    let entries = manifests::credentials(&secret);
    if entries.is_empty() {
        bail!(
            "secret `{}/{}` holds no registry credential (type {}); expected a kubernetes.io/dockerconfigjson pull secret",
            target.namespace,
            args.name,
            secret.type_.as_deref().unwrap_or("unknown")
        );
    }
    let mut failed = Vec::new();
    for manifests::Credential {
        host,
        username,
        password,
        ..
    } in entries
    {
        let password = SecretString::from(password);
        let client = match &profile_client {
            Some((registry, client)) if *registry == host => client,
            _ => &default_client,
        };
        match crate::verify::check(client, &host, &username, &password, false).await {
            Ok(crate::verify::Verified::Accepted) => {
                print_stdout(&format!("{host}: credential of `{username}` accepted"))?
            }
            Ok(crate::verify::Verified::Anonymous) => {
                print_stdout(&format!("{host}: anonymous access, nothing to check"))?
            }
            Err(e) => {
                print_stdout(&format!("{host}: FAILED"))?;
                failed.push(format!("{e:#}"));
            }
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

/// `secret delete`: deletes a managed pull secret, then revokes its token (in that order, so
/// pods never hold a secret whose token is already dead).
pub async fn delete(ctx: &Ctx, args: SecretDeleteArgs) -> anyhow::Result<()> {
    manifests::validate_object_name("secret", &args.name)?;
    let profile = if args.keep_token {
        None
    } else {
        Some(ctx.require_profile()?)
    };
    let target = cluster::resolve(&ctx.kube).await?.connect()?;
    let name = &args.name;
    let secrets: Api<Secret> = Api::namespaced(target.client.clone(), &target.namespace);
    let Some(secret) = secrets
        .get_opt(name)
        .await
        .map_err(|e| target.error("get", "secret", name, e))?
    else {
        if args.ignore_not_found {
            return Ok(());
        }
        bail!(
            "secret `{}/{name}` not found (use --ignore-not-found to accept that)",
            target.namespace
        );
    };
    if !manifests::is_managed(&secret) {
        bail!(
            "secret `{}/{name}` is not managed by kubectl-dedicated-registry; delete it with `kubectl delete secret {name}` if you mean to",
            target.namespace
        );
    }
    let delete = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: secret.metadata.resource_version.clone(),
            uid: secret.metadata.uid.clone(),
        }),
        ..Default::default()
    };
    // The secret is the only record of its token id: from its deletion until the revocation,
    // Ctrl-C waits.
    let _window = crate::interrupt::Window::open();
    secrets
        .delete(name, &delete)
        .await
        .map_err(|e| target.error("delete", "secret", name, e))?;
    print_stdout(&format!("secret/{name} deleted"))?;
    let Some(profile) = profile else {
        return Ok(());
    };
    let token_id = annotation(&secret, manifests::ANNOTATION_TOKEN_ID).map(str::to_string);
    let registry = annotation(&secret, manifests::ANNOTATION_REGISTRY).unwrap_or_default();
    match token_id {
        Some(id) if registry == profile.registry => {
            let mut minter = Minter::new(ctx, &profile)?;
            minter.revoke(&id).await.with_context(|| {
                format!("secret/{name} was deleted but its token {id} could NOT be revoked; run `kubectl dedicated-registry token revoke {id}`")
            })?;
            print_stdout(&format!("token/{id} revoked"))
        }
        Some(id) => {
            super::warn(format!(
                "warning: token {id} belongs to registry {registry}, not this profile's ({}); revoke it with a profile for that registry",
                profile.registry
            ));
            Ok(())
        }
        None => Ok(()),
    }
}

//! `login` and `logout` ([`icr`]: the icr.io login).

mod icr;

use std::io::{BufRead as _, IsTerminal as _, Read as _};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use secrecy::SecretString;

use super::Ctx;
use crate::cli::settings::LoginSettings;
use crate::output;
use crate::providers::dedicated::cf::{self, Endpoints, Grant};
use crate::providers::dedicated::session;
use crate::store::{
    self, ApiKeyRoute, ConfigFile, CredKey, CredentialSource, LoginMethod, Profile, keyring,
};

/// Reads a whole secret from standard input, without its trailing newline.
fn secret_from_stdin(what: &str, flag: &str) -> anyhow::Result<SecretString> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read the {what} from standard input ({flag})"))?;
    // Passcodes and API keys are pasted: surrounding blanks are never part of them. A
    // password keeps everything but its line end.
    let trimmed = if flag == "--password-stdin" {
        text.trim_end_matches(['\n', '\r']).to_string()
    } else {
        text.trim().to_string()
    };
    drop(text);
    if trimmed.is_empty() {
        bail!(
            "{flag} was given but standard input is empty; pipe the {what} in, e.g. `... {flag} < file`"
        );
    }
    Ok(crate::redact::keep(trimmed))
}

/// Prompts on the terminal without echo.
fn hidden_prompt(prompt: &str, what: &str, flag: &str) -> anyhow::Result<SecretString> {
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the {what}: use {flag} to read it from standard input");
    }
    let value = rpassword::prompt_password(prompt)
        .with_context(|| format!("cannot read the {what} from the terminal"))?;
    // A pasted passcode often carries a blank; a password keeps what was typed.
    let value = if what == "password" {
        value
    } else {
        value.trim().to_string()
    };
    if value.is_empty() {
        bail!("no {what} entered");
    }
    Ok(crate::redact::keep(value))
}

/// Reads one visible line from the terminal.
fn visible_prompt(prompt: &str, what: &str, flag: &str) -> anyhow::Result<String> {
    visible_prompt_or(prompt, what, flag, None)
}

/// Reads one visible line from the terminal; an empty line gives `default` when there is one.
fn visible_prompt_or(
    prompt: &str,
    what: &str,
    flag: &str,
    default: Option<&str>,
) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the {what}: pass {flag}");
    }
    eprint!("{prompt}");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim().to_string();
    match default {
        _ if !line.is_empty() => Ok(line),
        Some(default) => Ok(default.to_string()),
        None => bail!("no {what} entered: pass {flag}"),
    }
}

/// The registry host for an API URL: `api.<d>` → `registry.<d>` (port kept).
pub fn default_registry(api: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(api)?;
    let host = url.host_str().unwrap_or_default();
    let Some(rest) = host.strip_prefix("api.") else {
        bail!(
            "cannot derive the registry host from `{api}` (its host does not start with `api.`); pass --registry <host[:port]>"
        );
    };
    Ok(match url.port() {
        Some(port) => format!("registry.{rest}:{port}"),
        None => format!("registry.{rest}"),
    })
}

/// Where the login goes: the flags, completed from the profile's previous login.
struct Environment {
    api: String,
    registry: String,
    ca_file: Option<PathBuf>,
    insecure: bool,
    /// `--iam-url`, or the previous login's.
    iam_url: Option<String>,
}

impl Environment {
    fn resolve(settings: &LoginSettings, previous: Option<&Profile>) -> anyhow::Result<Self> {
        let api = match (&settings.api, previous) {
            (Some(api), _) => api.clone(),
            (None, Some(p)) => p.api.clone(),
            (None, None) => bail!(
                "--api is required for the first login, e.g. `kubectl dedicated-registry login --api https://api.<dedicated_domain>`"
            ),
        };
        // What the previous login of the same environment chose is kept.
        let same = previous.filter(|p| p.api == api);
        let registry = match (&settings.registry, same) {
            (Some(r), _) => r.clone(),
            (None, Some(p)) => p.registry.clone(),
            _ => default_registry(&api)?,
        };
        let ca_file = match (&settings.ca_file, same) {
            _ if settings.insecure_skip_tls_verify => None,
            (Some(f), _) => Some(
                std::fs::canonicalize(f)
                    .with_context(|| format!("cannot read --ca-file `{}`", f.display()))?,
            ),
            (None, Some(p)) => p.ca_file.clone(),
            _ => None,
        };
        Ok(Environment {
            api,
            registry,
            ca_file,
            insecure: settings.insecure_skip_tls_verify,
            iam_url: settings
                .iam_url
                .clone()
                .or_else(|| same.and_then(|p| p.iam_url.clone())),
        })
    }
}

/// How the user authenticates this time.
struct Credential {
    grant: Grant,
    method: LoginMethod,
    source: CredentialSource,
    /// The variable an environment profile reads the API key from.
    api_key_env: Option<String>,
}

/// Reads the API key of `--apikey-env NAME`.
fn api_key_from(name: &str) -> anyhow::Result<SecretString> {
    session::api_key_from_var(name).with_context(|| {
        format!("--apikey-env: the environment variable {name} is not set or empty; export the API key in it (its value is never printed)")
    })
}

/// Decides the grant and reads its secret. The environment is read only when asked
/// (`--apikey-env`): many users have `IBMCLOUD_API_KEY` set for the public cloud.
async fn credential(
    settings: &LoginSettings,
    client: &reqwest::Client,
    endpoints: &Endpoints,
    saved_username: Option<&str>,
) -> anyhow::Result<Credential> {
    let keyring = |grant, method| Credential {
        grant,
        method,
        source: CredentialSource::Keyring,
        api_key_env: None,
    };
    if settings.sso {
        let prompt = cf::passcode_prompt(client, endpoints).await;
        let passcode = if std::io::stdin().is_terminal() {
            hidden_prompt(&format!("{prompt}: "), "one-time passcode", "a pipe")?
        } else {
            output::info(&prompt);
            secret_from_stdin("one-time passcode", "--sso")?
        };
        return Ok(keyring(Grant::Passcode(passcode), LoginMethod::Sso));
    }
    if settings.apikey_stdin {
        // At a terminal there is nothing piped: ask, hidden, instead of waiting for end of
        // input while echoing the key.
        let key = if std::io::stdin().is_terminal() {
            hidden_prompt("API key: ", "API key", "a pipe")?
        } else {
            secret_from_stdin("API key", "--apikey-stdin")?
        };
        return Ok(keyring(Grant::ApiKey(key), LoginMethod::ApiKey));
    }
    if let Some(name) = &settings.apikey_env {
        let key = api_key_from(name)?;
        output::info(format!(
            "Using the API key in {name}; it will be read from the environment on every run and not stored"
        ));
        return Ok(Credential {
            grant: Grant::ApiKey(key),
            method: LoginMethod::ApiKey,
            source: CredentialSource::Environment,
            api_key_env: Some(name.clone()),
        });
    }
    if settings.username.is_none() && session::api_key_from_env().is_some() {
        output::info(format!(
            "{} is set but not used; pass --apikey-env to log in with it",
            crate::env::API_KEY
        ));
    }
    let username = match (&settings.username, saved_username) {
        (Some(u), _) => u.clone(),
        // Re-login without a terminal (the password piped): the saved name.
        (None, Some(saved)) if !std::io::stdin().is_terminal() => {
            output::info(format!(
                "Using the saved user name `{}` (pass --username for another)",
                output::printable(saved)
            ));
            saved.to_string()
        }
        // Re-login: Enter keeps the saved name.
        (None, Some(saved)) => visible_prompt_or(
            &format!("Username [{}]: ", output::printable(saved)),
            "user name",
            "--username",
            Some(saved),
        )?,
        (None, None) => visible_prompt("Username: ", "user name", "--username")?,
    };
    let password = if settings.password_stdin {
        secret_from_stdin("password", "--password-stdin")?
    } else {
        hidden_prompt("Password: ", "password", "--password-stdin")?
    };
    Ok(keyring(
        Grant::Password { username, password },
        LoginMethod::Password,
    ))
}

/// Runs the grant; an API key goes the route `--auth` allows (the UAA, then IAM).
async fn authenticate(
    client: &reqwest::Client,
    endpoints: &Endpoints,
    api: &str,
    credential: &Credential,
    settings: &LoginSettings,
    iam_url: &str,
) -> anyhow::Result<(cf::Tokens, Option<ApiKeyRoute>)> {
    output::log(
        1,
        format!("Authenticating at {}", endpoints.authorization_endpoint),
    );
    Ok(match &credential.grant {
        Grant::ApiKey(key) => {
            let (tokens, route) =
                cf::iam::api_key_login(client, endpoints, api, key, settings.auth, iam_url).await?;
            let route = match route {
                cf::iam::Route::Uaa => ApiKeyRoute::Uaa,
                cf::iam::Route::Iam => ApiKeyRoute::Iam,
            };
            (tokens, Some(route))
        }
        grant => (cf::token(client, endpoints, api, grant).await?, None),
    })
}

/// The environment's login endpoints, from `/v2/info`.
async fn discover(client: &reqwest::Client, api: &str) -> anyhow::Result<Endpoints> {
    output::log(1, format!("Discovering endpoints at {api}/v2/info"));
    let endpoints = cf::discover(client, api).await?;
    output::log(
        2,
        format!(
            "authorization_endpoint={} token_endpoint={}",
            endpoints.authorization_endpoint, endpoints.token_endpoint
        ),
    );
    Ok(endpoints)
}

/// At most this many tries of a typed password, passcode or API key, as `bx login` allows.
const ATTEMPTS: u32 = 3;

/// Asks for the credential and runs the grant; a refused credential typed at a terminal is
/// asked again, up to [`ATTEMPTS`] in all (piped or from the environment: refused at once).
async fn credential_accepted(
    settings: &LoginSettings,
    client: &reqwest::Client,
    (endpoints, api): (&Endpoints, &str),
    iam_url: Option<&str>,
    previous: Option<&Profile>,
) -> anyhow::Result<(Credential, cf::Tokens, Option<ApiKeyRoute>)> {
    let iam_url = iam_url.unwrap_or(cf::iam::DEFAULT_IAM_URL);
    let saved_username = previous
        .filter(|p| p.login_method == LoginMethod::Password)
        .map(|p| p.username.as_str());
    let typed =
        std::io::stdin().is_terminal() && !settings.password_stdin && settings.apikey_env.is_none();
    let mut attempt = 1;
    loop {
        let credential = credential(settings, client, endpoints, saved_username).await?;
        match authenticate(client, endpoints, api, &credential, settings, iam_url).await {
            Ok((tokens, route)) => return Ok((credential, tokens, route)),
            Err(e)
                if typed
                    && attempt < ATTEMPTS
                    && matches!(
                        e.downcast_ref::<cf::AuthError>(),
                        Some(cf::AuthError::BadCredentials { .. })
                    ) =>
            {
                output::info(format!("{e:#}"));
                attempt += 1;
                output::info(format!("Try again (attempt {attempt} of {ATTEMPTS})"));
            }
            Err(e) => return Err(e),
        }
    }
}

/// What identifies the user to the Cloud Controller while the org is chosen.
struct OrgLookup<'a> {
    client: &'a reqwest::Client,
    api: &'a str,
    access: &'a SecretString,
    username: &'a str,
}

impl OrgLookup<'_> {
    /// The org: by GUID, by name, the only one, or asked for at a terminal.
    async fn choose(&self, settings: &LoginSettings) -> anyhow::Result<cf::Org> {
        if let Some(guid) = &settings.org_guid {
            let username = self.username;
            return cf::org_by_guid(self.client, self.api, self.access, guid)
                .await?
                .with_context(|| {
                    format!("org GUID `{guid}` was not found or user `{username}` is not a member; check --org-guid, or pass --org <name>")
                });
        }
        match &settings.org {
            Some(name) => self.by_name(name).await,
            None => {
                // A terminal on stdin means nothing was piped (secrets were asked on it too),
                // so the org can be asked there as well.
                let interactive = std::io::stdin().is_terminal() && settings.apikey_env.is_none();
                self.only_or_asked(interactive).await
            }
        }
    }

    async fn by_name(&self, name: &str) -> anyhow::Result<cf::Org> {
        let found = cf::orgs(self.client, self.api, self.access, Some(name)).await?;
        if let Some(org) = found.iter().find(|o| o.name == name) {
            return Ok(org.clone());
        }
        let all = cf::orgs(self.client, self.api, self.access, None).await?;
        // Org names differ only in case on some Cloud Controllers' answers: one match is it.
        let mut same: Vec<&cf::Org> = found
            .iter()
            .chain(&all)
            .filter(|o| o.name.eq_ignore_ascii_case(name))
            .collect();
        same.sort_by(|a, b| a.guid.cmp(&b.guid));
        same.dedup_by(|a, b| a.guid == b.guid);
        if let [org] = same.as_slice() {
            output::info(format!(
                "Using org `{}` for --org {name} (names compared without case)",
                org.name
            ));
            return Ok((*org).clone());
        }
        let names: Vec<_> = all.iter().map(|o| o.name.as_str()).collect();
        let close = output::did_you_mean(name, &names)
            .map(|close| format!("did you mean `--org {close}`? "))
            .unwrap_or_default();
        bail!(
            "org `{name}` was not found or user `{}` is not a member; {close}your orgs: {}",
            self.username,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        );
    }

    async fn only_or_asked(&self, interactive: bool) -> anyhow::Result<cf::Org> {
        let mut all = cf::orgs(self.client, self.api, self.access, None).await?;
        let username = self.username;
        match all.len() {
            0 => bail!(
                "user `{username}` is not a member of any org at {}; ask an org manager to add you",
                self.api
            ),
            1 => return Ok(all.remove(0)),
            _ => {}
        }
        let names: Vec<_> = all.iter().map(|o| o.name.clone()).collect();
        if !interactive {
            bail!(
                "user `{username}` belongs to several orgs ({}); choose one with --org",
                names.join(", ")
            );
        }
        for (i, n) in names.iter().enumerate() {
            output::info(format!("{}. {n}", i + 1));
        }
        let choice = visible_prompt("Select an org (number or name): ", "org", "--org")?;
        let index = choice
            .parse::<usize>()
            .ok()
            .and_then(|i| i.checked_sub(1))
            .or_else(|| names.iter().position(|n| *n == choice))
            .filter(|i| *i < all.len())
            .with_context(|| format!("`{choice}` is not one of the listed orgs"))?;
        Ok(all.remove(index))
    }
}

/// Stores the credential first: a profile without its credential would be half a login. The
/// profile lock keeps a concurrent refresh from writing an older token over this one.
async fn keep_credential(
    ctx: &Ctx,
    api: &str,
    source: CredentialSource,
    refresh_token: Option<SecretString>,
    previous: Option<&Profile>,
    issuer: &str,
) -> anyhow::Result<store::ProfileLock> {
    let profile_name = ctx.profile_name();
    let key = CredKey::for_profile(profile_name, api);
    let lock = store::lock_credential(&key).await?;
    let store = ctx.store.clone();
    match source {
        CredentialSource::Keyring => {
            let refresh = refresh_token.with_context(|| {
                format!("{issuer} issued no refresh token, so the login cannot be kept; use --apikey-env for non-interactive use")
            })?;
            keyring::blocking(move || store.set(&key, &refresh))
                .await
                .context("cannot store the login in the OS keyring")?;
        }
        CredentialSource::Environment => {
            // A previous keyring login of this profile is replaced: remove its token.
            let _ = keyring::blocking(move || store.delete(&key)).await;
        }
    }
    if let Some(prev) = previous
        && prev.api != api
    {
        let old = CredKey::for_profile(profile_name, &prev.api);
        let store = ctx.store.clone();
        let _ = keyring::blocking(move || store.delete(&old)).await;
    }
    Ok(lock)
}

/// `login`.
pub async fn login(ctx: &Ctx, settings: LoginSettings) -> anyhow::Result<()> {
    if settings.is_icr() {
        icr::login(ctx, settings).await
    } else {
        dedicated_login(ctx, settings).await
    }
}

/// `login` to Bluemix Dedicated.
async fn dedicated_login(ctx: &Ctx, settings: LoginSettings) -> anyhow::Result<()> {
    let profile_name = ctx.profile_name().to_string();
    let (config_path, config_file) = ctx.config()?;
    let previous = config_file.profiles.get(&profile_name).cloned();
    let env = Environment::resolve(&settings, previous.as_ref())?;
    if let Some(previous) = previous
        .as_ref()
        .filter(|p| switches_org_only(&settings, p, &env))
    {
        return switch_org(ctx, &settings, previous.clone(), &config_path).await;
    }
    let client = crate::http::client(env.ca_file.as_deref(), env.insecure)?;
    let api = env.api.clone();
    output::info(format!("Logging in to {api} (profile `{profile_name}`)"));

    let endpoints = discover(&client, &api).await?;
    let (credential, tokens, route) = credential_accepted(
        &settings,
        &client,
        (&endpoints, &api),
        env.iam_url.as_deref(),
        previous.as_ref().filter(|p| p.api == api),
    )
    .await?;
    drop(credential.grant);
    let username = cf::user_name(&tokens.access_token).unwrap_or_else(|| match credential.method {
        LoginMethod::ApiKey => "apikey".to_string(),
        _ => "unknown".to_string(),
    });
    let lookup = OrgLookup {
        client: &client,
        api: &api,
        access: &tokens.access_token,
        username: &username,
    };
    let org = keep_or_choose_org(&lookup, &settings, previous.as_ref()).await?;

    let _lock = keep_credential(
        ctx,
        &api,
        credential.source,
        tokens.refresh_token,
        previous.as_ref(),
        &endpoints.authorization_endpoint,
    )
    .await?;
    let profile = Profile {
        provider: crate::store::ProviderKind::Dedicated,
        api: api.clone(),
        authorization_endpoint: endpoints.authorization_endpoint,
        token_endpoint: endpoints.token_endpoint,
        username: username.clone(),
        login_method: credential.method,
        credential: credential.source,
        org: org.name.clone(),
        org_guid: org.guid.clone(),
        registry: env.registry.clone(),
        ca_file: env.ca_file,
        insecure_skip_tls_verify: env.insecure,
        iam_url: env.iam_url.clone(),
        api_key_route: route,
        api_key_env: credential.api_key_env,
        org_header_on_manage: previous
            .as_ref()
            .filter(|p| p.api == api && p.registry == env.registry)
            .and_then(|p| p.org_header_on_manage),
        registry_namespaces: Vec::new(),
        account_wide: false,
        policy_api: None,
    };
    // Only this profile changes; others' concurrent logins are kept.
    ConfigFile::update(&config_path, |file| {
        file.profiles.insert(profile_name.clone(), profile)
    })?;
    output::info(format!(
        "Logged in to {api} as {username}, org {} ({}); registry {}; profile `{profile_name}`",
        org.name, org.guid, env.registry
    ));
    warn_if_unreachable(&client, &env.registry).await;
    Ok(())
}

/// A registry that does not answer is named after the login (issue 24, friction 5): the login
/// is kept (the registry may be reachable only from elsewhere), but `secret create` will fail
/// until it answers.
pub async fn warn_if_unreachable(client: &reqwest::Client, registry: &str) {
    if let Err(e) = crate::registry::v2::reachable(client, registry).await {
        output::warning(format!(
            "registry {registry} does not answer ({}); the login is saved, but `secret create` needs the registry: check --registry, --ca-file and the network",
            crate::redact::one_line(&e.to_string())
        ));
    }
}

/// Re-login of the same environment without --org/--org-guid keeps the saved org (issue 24,
/// friction 2), if the user can still see it; otherwise it is chosen as on a first login.
async fn keep_or_choose_org(
    lookup: &OrgLookup<'_>,
    settings: &LoginSettings,
    previous: Option<&Profile>,
) -> anyhow::Result<cf::Org> {
    let saved = previous
        .filter(|p| p.api == lookup.api && settings.org.is_none() && settings.org_guid.is_none())
        .filter(|p| !p.org_guid.is_empty());
    let Some(saved) = saved else {
        return lookup.choose(settings).await;
    };
    // The user's org list, as a first login reads it (some Cloud Controllers answer the
    // by-GUID route with "Unknown request").
    let found = cf::orgs(lookup.client, lookup.api, lookup.access, None)
        .await
        .map(|orgs| orgs.into_iter().find(|o| o.guid == saved.org_guid));
    let why = match found {
        Ok(Some(org)) => {
            output::info(format!(
                "Keeping the saved org `{}` (pass --org to choose another)",
                output::printable(&org.name)
            ));
            return Ok(org);
        }
        Ok(None) => format!("user `{}` is no longer a member", lookup.username),
        Err(e) => format!("cannot look it up ({e})"),
    };
    output::warning(format!(
        "the saved org `{}` was not kept: {why}; choosing the org again",
        output::printable(&saved.org)
    ));
    lookup.choose(settings).await
}

/// Whether this `login` only changes the org of a keyring profile of the same environment:
/// then the stored login is used, and nothing is asked again.
fn switches_org_only(settings: &LoginSettings, previous: &Profile, env: &Environment) -> bool {
    (settings.org.is_some() || settings.org_guid.is_some())
        && previous.credential == CredentialSource::Keyring
        && previous.api == env.api
        && previous.registry == env.registry
        && !settings.sso
        && !settings.apikey_stdin
        && !settings.password_stdin
        && settings.username.is_none()
        && settings.apikey_env.is_none()
        && settings.ca_file.is_none()
        && !settings.insecure_skip_tls_verify
}

/// `login --org` on an existing login: the org changes, with the stored refresh token.
async fn switch_org(
    ctx: &Ctx,
    settings: &LoginSettings,
    previous: Profile,
    config_path: &std::path::Path,
) -> anyhow::Result<()> {
    let name = ctx.profile_name().to_string();
    let mut session = crate::providers::dedicated::session::Session::new(
        &name,
        previous.clone(),
        ctx.store.clone(),
        ctx.cancel.clone(),
    )?;
    let access = session.access_token().await?;
    let org = OrgLookup {
        client: session.http(),
        api: &previous.api,
        access: &access,
        username: &previous.username,
    }
    .choose(settings)
    .await?;
    let mut profile = previous;
    profile.org = org.name.clone();
    profile.org_guid = org.guid.clone();
    let api = profile.api.clone();
    ConfigFile::update(config_path, |file| {
        file.profiles.insert(name.clone(), profile)
    })?;
    output::info(format!(
        "Switched profile `{name}` to org {} ({}) at {api} with the stored login",
        org.name, org.guid
    ));
    Ok(())
}

/// `logout`.
pub async fn logout(ctx: &Ctx) -> anyhow::Result<()> {
    let profile_name = ctx.profile_name().to_string();
    let (path, file) = ctx.config()?;
    let Some(profile) = file.profiles.get(&profile_name).cloned() else {
        output::info(format!(
            "Not logged in (no profile `{profile_name}`); nothing to do"
        ));
        return Ok(());
    };
    let key = CredKey::for_profile(&profile_name, &profile.api);
    let _lock = store::lock_credential(&key).await?;
    if profile.credential == CredentialSource::Keyring {
        let store = ctx.store.clone();
        keyring::blocking(move || store.delete(&key))
            .await
            .context("cannot remove the login from the OS keyring; the profile was kept")?;
    }
    ConfigFile::update(&path, |file| file.profiles.remove(&profile_name))?;
    output::info(format!(
        "Logged out of {} (profile `{profile_name}` removed)",
        profile.api
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_defaults_from_api_host() {
        assert_eq!(
            default_registry("https://api.cfsdedicated1.us-south.bluemix.net").unwrap(),
            "registry.cfsdedicated1.us-south.bluemix.net"
        );
        assert_eq!(
            default_registry("https://api.x:8443").unwrap(),
            "registry.x:8443"
        );
        assert!(default_registry("https://127.0.0.1:4000").is_err());
    }
}

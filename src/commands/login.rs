//! `login` and `logout`.

use std::io::{BufRead as _, IsTerminal as _, Read as _};

use anyhow::{Context as _, bail};
use secrecy::SecretString;

use super::Ctx;
use crate::cli::LoginArgs;
use crate::config::{CredentialSource, LoginMethod, Profile};
use crate::secrets::{self, CredKey};
use crate::session;
use crate::uaa::{self, Grant};

/// Reads a whole secret from standard input, without its trailing newline.
fn secret_from_stdin(what: &str, flag: &str) -> anyhow::Result<SecretString> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read the {what} from standard input ({flag})"))?;
    let trimmed = text.trim_end_matches(['\n', '\r']).to_string();
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
    if value.is_empty() {
        bail!("no {what} entered");
    }
    Ok(crate::redact::keep(value))
}

/// Reads one visible line from the terminal.
fn visible_prompt(prompt: &str, what: &str, flag: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the {what}: pass {flag}");
    }
    eprint!("{prompt}");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim().to_string();
    if line.is_empty() {
        bail!("no {what} entered: pass {flag}");
    }
    Ok(line)
}

/// Normalizes `--api`: adds `https://`, refuses plain HTTP, drops a trailing slash.
pub fn normalize_api(api: &str) -> anyhow::Result<String> {
    let api = api.trim();
    let with_scheme = if api.contains("://") {
        api.to_string()
    } else {
        format!("https://{api}")
    };
    let url = url::Url::parse(&with_scheme).with_context(|| {
        format!("invalid --api `{api}`: expected e.g. `https://api.<dedicated_domain>`")
    })?;
    if url.scheme() != "https" {
        bail!(
            "invalid --api `{api}`: only https:// endpoints are supported (credentials are sent to it)"
        );
    }
    if url.host_str().is_none() {
        bail!("invalid --api `{api}`: no host");
    }
    Ok(with_scheme.trim_end_matches('/').to_string())
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

/// Validates `--registry`: a bare `host[:port]`.
fn validate_registry(registry: &str) -> anyhow::Result<String> {
    let registry = registry.trim().trim_end_matches('/');
    let bare = registry
        .strip_prefix("https://")
        .unwrap_or(registry)
        .to_string();
    let parsed = url::Url::parse(&format!("https://{bare}/"));
    match parsed {
        Ok(u) if u.host_str().is_some() && u.path() == "/" && !bare.contains('@') => Ok(bare),
        _ => bail!(
            "invalid --registry `{registry}`: expected a host name with an optional port, e.g. `registry.<dedicated_domain>`"
        ),
    }
}

/// `login`.
pub async fn login(ctx: &Ctx, args: LoginArgs) -> anyhow::Result<()> {
    let profile_name = ctx.profile_name().to_string();
    if let Some(guid) = &args.org_guid {
        let looks_like_guid = (8..=64).contains(&guid.len())
            && guid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        if !looks_like_guid {
            bail!(
                "invalid --org-guid `{guid}`: expected a GUID such as `0d5a3bd1-6f64-4f65-9b8a-4b3f2b8f6a01` (see `ibmcloud iam org <name> --guid`)"
            );
        }
    }
    let (config_path, mut config_file) = ctx.config()?;
    let previous = config_file.profiles.get(&profile_name).cloned();

    let api = match (&args.api, &previous) {
        (Some(api), _) => normalize_api(api)?,
        (None, Some(p)) => p.api.clone(),
        (None, None) => bail!(
            "--api is required for the first login, e.g. `kubectl dedicated-registry login --api https://api.<dedicated_domain>`"
        ),
    };
    let registry = match (&args.registry, &previous) {
        (Some(r), _) => validate_registry(r)?,
        (None, Some(p)) if p.api == api => p.registry.clone(),
        _ => default_registry(&api)?,
    };
    let ca_file = match (&args.ca_file, &previous) {
        _ if args.insecure_skip_tls_verify => None,
        (Some(f), _) => Some(
            std::fs::canonicalize(f)
                .with_context(|| format!("cannot read --ca-file `{}`", f.display()))?,
        ),
        (None, Some(p)) if p.api == api => p.ca_file.clone(),
        _ => None,
    };
    let insecure = args.insecure_skip_tls_verify;
    let client = crate::http::client(ca_file.as_deref(), insecure)?;

    ctx.log(1, format!("Discovering endpoints at {api}/v2/info"));
    let endpoints = uaa::discover(&client, &api).await?;
    ctx.log(
        2,
        format!(
            "authorization_endpoint={} token_endpoint={}",
            endpoints.authorization_endpoint, endpoints.token_endpoint
        ),
    );

    // Decide the grant. IBMCLOUD_API_KEY alone (no other method) means non-interactive use.
    let env_key = session::api_key_from_env();
    let (grant, method, source) = if args.sso {
        let prompt = uaa::passcode_prompt(&client, &endpoints).await?;
        let passcode = if std::io::stdin().is_terminal() {
            hidden_prompt(&format!("{prompt}: "), "one-time passcode", "a pipe")?
        } else {
            super::warn(&prompt);
            secret_from_stdin("one-time passcode", "--sso")?
        };
        (
            Grant::Passcode(passcode),
            LoginMethod::Sso,
            CredentialSource::Keyring,
        )
    } else if args.apikey_stdin {
        let key = secret_from_stdin("API key", "--apikey-stdin")?;
        (
            Grant::ApiKey(key),
            LoginMethod::ApiKey,
            CredentialSource::Keyring,
        )
    } else if let (Some(key), false, None) = (env_key, args.password_stdin, &args.username) {
        super::warn(format!(
            "Using the API key in {}; it will be read from the environment on every run and not stored",
            crate::env::API_KEY
        ));
        (
            Grant::ApiKey(key),
            LoginMethod::ApiKey,
            CredentialSource::Environment,
        )
    } else {
        let username = match &args.username {
            Some(u) => u.clone(),
            None => visible_prompt("Username: ", "user name", "--username")?,
        };
        let password = if args.password_stdin {
            secret_from_stdin("password", "--password-stdin")?
        } else {
            hidden_prompt("Password: ", "password", "--password-stdin")?
        };
        (
            Grant::Password { username, password },
            LoginMethod::Password,
            CredentialSource::Keyring,
        )
    };

    ctx.log(
        1,
        format!("Authenticating at {}", endpoints.authorization_endpoint),
    );
    let tokens = uaa::token(&client, &endpoints, &api, &grant).await?;
    drop(grant);
    let username = uaa::user_name(&tokens.access_token).unwrap_or_else(|| match method {
        LoginMethod::ApiKey => "apikey".to_string(),
        _ => "unknown".to_string(),
    });

    // The org: by name, or the only one, or ask.
    let org = if let Some(guid) = &args.org_guid {
        uaa::org_by_guid(&client, &api, &tokens.access_token, guid)
            .await?
            .with_context(|| {
                format!("org GUID `{guid}` was not found or user `{username}` is not a member; check --org-guid, or pass --org <name>")
            })?
    } else {
        match &args.org {
            Some(name) => {
                let found = uaa::orgs(&client, &api, &tokens.access_token, Some(name)).await?;
                match found.into_iter().find(|o| &o.name == name) {
                    Some(org) => org,
                    None => {
                        let all = uaa::orgs(&client, &api, &tokens.access_token, None).await?;
                        let names: Vec<_> = all.iter().map(|o| o.name.as_str()).collect();
                        bail!(
                            "org `{name}` was not found or user `{username}` is not a member; your orgs: {}",
                            if names.is_empty() {
                                "none".to_string()
                            } else {
                                names.join(", ")
                            }
                        );
                    }
                }
            }
            None => {
                let mut all = uaa::orgs(&client, &api, &tokens.access_token, None).await?;
                match all.len() {
                    0 => bail!(
                        "user `{username}` is not a member of any org at {api}; ask an org manager to add you"
                    ),
                    1 => all.remove(0),
                    _ => {
                        let names: Vec<_> = all.iter().map(|o| o.name.clone()).collect();
                        if !std::io::stdin().is_terminal()
                            || args.password_stdin
                            || args.apikey_stdin
                        {
                            bail!(
                                "user `{username}` belongs to several orgs ({}); choose one with --org",
                                names.join(", ")
                            );
                        }
                        for (i, n) in names.iter().enumerate() {
                            super::warn(format!("{}. {n}", i + 1));
                        }
                        let choice =
                            visible_prompt("Select an org (number or name): ", "org", "--org")?;
                        let index = choice
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| i.checked_sub(1))
                            .or_else(|| names.iter().position(|n| *n == choice))
                            .filter(|i| *i < all.len())
                            .with_context(|| format!("`{choice}` is not one of the listed orgs"))?;
                        all.remove(index)
                    }
                }
            }
        }
    };

    // Store the credential first: a profile without its credential would be half a login. The
    // profile lock keeps a concurrent refresh from writing an older token over this one.
    let _lock = session::lock_profile(&profile_name).await?;
    let key = CredKey::for_profile(&profile_name, &api);
    let store = ctx.store.clone();
    match source {
        CredentialSource::Keyring => {
            let refresh = tokens.refresh_token.with_context(|| {
                format!("{} issued no refresh token, so the login cannot be kept; use {} for non-interactive use", endpoints.authorization_endpoint, crate::env::API_KEY)
            })?;
            secrets::blocking(move || store.set(&key, &refresh))
                .await
                .context("cannot store the login in the OS keyring")?;
        }
        CredentialSource::Environment => {
            // A previous keyring login of this profile is replaced: remove its token.
            let _ = secrets::blocking(move || store.delete(&key)).await;
        }
    }
    if let Some(prev) = &previous
        && prev.api != api
    {
        let old = CredKey::for_profile(&profile_name, &prev.api);
        let store = ctx.store.clone();
        let _ = secrets::blocking(move || store.delete(&old)).await;
    }

    let profile = Profile {
        api: api.clone(),
        authorization_endpoint: endpoints.authorization_endpoint,
        token_endpoint: endpoints.token_endpoint,
        username: username.clone(),
        login_method: method,
        credential: source,
        org: org.name.clone(),
        org_guid: org.guid.clone(),
        registry: registry.clone(),
        ca_file,
        insecure_skip_tls_verify: insecure,
    };
    config_file.profiles.insert(profile_name.clone(), profile);
    config_file.save(&config_path)?;
    super::warn(format!(
        "Logged in to {api} as {username}, org {} ({}); registry {registry}; profile `{profile_name}`",
        org.name, org.guid
    ));
    Ok(())
}

/// `logout`.
pub async fn logout(ctx: &Ctx) -> anyhow::Result<()> {
    let profile_name = ctx.profile_name().to_string();
    let (path, mut file) = ctx.config()?;
    let Some(profile) = file.profiles.remove(&profile_name) else {
        super::warn(format!(
            "Not logged in (no profile `{profile_name}`); nothing to do"
        ));
        return Ok(());
    };
    let _lock = session::lock_profile(&profile_name).await?;
    if profile.credential == CredentialSource::Keyring {
        let key = CredKey::for_profile(&profile_name, &profile.api);
        let store = ctx.store.clone();
        secrets::blocking(move || store.delete(&key))
            .await
            .context("cannot remove the login from the OS keyring; the profile was kept")?;
    }
    file.save(&path)?;
    super::warn(format!(
        "Logged out of {} (profile `{profile_name}` removed)",
        profile.api
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_are_normalized() {
        assert_eq!(
            normalize_api("api.x.example").unwrap(),
            "https://api.x.example"
        );
        assert_eq!(normalize_api("https://api.x/").unwrap(), "https://api.x");
        assert!(normalize_api("http://api.x").is_err());
    }

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
        assert_eq!(validate_registry("https://r.x:5000/").unwrap(), "r.x:5000");
        assert!(validate_registry("r.x/path").is_err());
    }
}

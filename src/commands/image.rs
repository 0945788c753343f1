//! `image list`: the images in the org's registry namespaces (`/api/v1/images` and
//! `/api/v1/namespaces` with the login), and the `--image` values completion offers from them
//! ([`references`], cached briefly).

use anyhow::bail;

use super::Ctx;
use crate::cli::ImageFormat;
use crate::cli::settings::ImageListSettings;
use crate::output::{self, Format};
use crate::providers::dedicated::images::ImageRow;
use crate::providers::dedicated::session::Session;

/// `image list`.
pub async fn list(ctx: &Ctx, settings: ImageListSettings) -> anyhow::Result<()> {
    let mut session = ctx.session()?;
    let namespace = settings.namespace.as_deref();
    if let Some(ns) = namespace {
        check_namespace(&mut session, ns).await?;
    }
    let rows = session
        .registry_idempotent(async |api| api.images(namespace).await)
        .await?;
    match settings.format {
        Some(ImageFormat::Json) => return Ok(output::data(&output::render(&rows, Format::Json)?)?),
        Some(ImageFormat::Yaml) => return Ok(output::data(&output::render(&rows, Format::Yaml)?)?),
        _ => {}
    }
    if rows.is_empty() {
        let profile = session.profile();
        let scope = match namespace {
            Some(ns) => format!("registry namespace `{ns}`"),
            None => "the org's registry namespaces".to_string(),
        };
        output::info(format!(
            "No images in {scope} (org {}, registry {})",
            profile.org, profile.registry
        ));
        return Ok(());
    }
    let text = match settings.format {
        Some(ImageFormat::Name) => {
            let names: Vec<String> = rows.iter().map(ImageRow::reference).collect();
            names.join("\n")
        }
        format => table(&rows, format == Some(ImageFormat::Wide), now()),
    };
    Ok(output::data(&text)?)
}

/// A `--registry-namespace` the org does not have is an error that names the ones it has; a
/// registry that cannot list namespaces leaves the check to the image list.
async fn check_namespace(session: &mut Session, ns: &str) -> anyhow::Result<()> {
    let known = match session
        .registry_idempotent(async |api| api.namespaces().await)
        .await
    {
        Ok(known) => known,
        Err(e) => {
            output::log(1, format!("The registry namespaces were not checked: {e}"));
            return Ok(());
        }
    };
    if known.iter().any(|k| k == ns) {
        return Ok(());
    }
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    let hint = match output::did_you_mean(ns, &names) {
        Some(close) => format!("; did you mean `{close}`?"),
        None => String::new(),
    };
    bail!(
        "org {} has no registry namespace `{ns}` at {}; its namespaces: {}{hint}",
        session.profile().org,
        session.profile().registry,
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The table, kubectl-style: REPOSITORY, TAG, DIGEST (12 hex digits as `ibmcloud cr images`,
/// the whole digest with `wide`), CREATED (age), SIZE; `wide` adds NAMESPACE and VULNERABLE.
fn table(rows: &[ImageRow], wide: bool, now: i64) -> String {
    let mut header = vec!["REPOSITORY", "TAG", "DIGEST"];
    if wide {
        header.push("NAMESPACE");
    }
    header.extend(["CREATED", "SIZE"]);
    if wide {
        header.push("VULNERABLE");
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let digest = if wide {
                r.digest.clone()
            } else {
                let hex = r
                    .digest
                    .split_once(':')
                    .map_or(r.digest.as_str(), |(_, h)| h);
                hex.chars().take(12).collect()
            };
            let mut row = vec![r.repository.clone(), r.tag.clone(), digest];
            if wide {
                row.push(r.namespace.clone());
            }
            row.push(r.created.map_or("<unknown>".into(), |c| human_age(now - c)));
            row.push(r.size.map_or("<unknown>".into(), human_size));
            if wide {
                row.push(r.vulnerable.clone().unwrap_or_else(|| "<unknown>".into()));
            }
            // Server text reaches the terminal without controls or tabs.
            row.iter()
                .map(|c| output::printable(c).replace(['\n', '\t'], " "))
                .collect()
        })
        .collect();
    crate::output::table(&header, &cells)
}

/// An age as kubectl prints it (`duration.HumanDuration`): `90s`, `5m30s`, `3h`, `4d2h`,
/// `400d`, `2y30d`.
fn human_age(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let seconds = seconds.max(0);
    let (minutes, hours) = (seconds / 60, seconds / 3600);
    let days = hours / 24;
    let with = |big: i64, unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{unit}")
        } else {
            format!("{big}{unit}{small}{small_unit}")
        }
    };
    match () {
        _ if seconds < 120 => format!("{seconds}s"),
        _ if minutes < 10 => with(minutes, "m", seconds % 60, "s"),
        _ if minutes < 180 => format!("{minutes}m"),
        _ if hours < 8 => with(hours, "h", minutes % 60, "m"),
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 24 * 8 => with(days, "d", hours % 24, "h"),
        _ if hours < 24 * 365 * 2 => format!("{days}d"),
        _ if hours < 24 * 365 * 8 => with(days / 365, "y", days % 365, "d"),
        _ => format!("{}y", days / 365),
    }
}

/// A size in decimal units, as `ibmcloud cr images` and `docker images` show it: `512 B`,
/// `8.3 kB`, `12 MB`.
fn human_size(bytes: i64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes.max(0) as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value < 10.0 {
        format!("{value:.1} {}", units[unit])
    } else {
        format!("{value:.0} {}", units[unit])
    }
}

/// How long completion reuses the image list it fetched.
const CACHE_LIFETIME_SECS: i64 = 60;

/// The most completion waits for the registry.
const COMPLETION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long completion waits after [`COMPLETION_TIMEOUT`] for a login refresh still storing its
/// rotated refresh token.
const SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The completion cache: image references of one profile's registry and org, and when they
/// were fetched. It holds no credential.
#[derive(serde::Serialize, serde::Deserialize)]
struct Cache {
    registry: String,
    org_guid: String,
    fetched: i64,
    references: Vec<String>,
}

/// `<cache dir>/kubectl-dedicated-registry/images-<profile>.json` (profile names are safe file
/// name parts, see `settings`).
fn cache_path(profile: &str) -> Option<std::path::PathBuf> {
    Some(
        dirs::cache_dir()?
            .join("kubectl-dedicated-registry")
            .join(format!("images-{profile}.json")),
    )
}

/// Writes through a temporary file and a rename, so a concurrent completion never reads half.
fn write_cache(path: &std::path::Path, cache: &Cache) -> Option<()> {
    let dir = path.parent()?;
    std::fs::create_dir_all(dir).ok()?;
    let mut file = tempfile::NamedTempFile::new_in(dir).ok()?;
    serde_json::to_writer(&mut file, cache).ok()?;
    file.persist(path).ok()?;
    Some(())
}

/// Every image reference (`<registry>/<namespace>/<repository>:<tag>`) of profile `name`'s
/// registry: from the cache when it is under a minute old, else from `/api/v1/images` with the
/// login (which may refresh it). Empty on any failure: completion is silent.
fn references(name: &str) -> Vec<String> {
    let Some(profile) = crate::store::profiles::path()
        .ok()
        .and_then(|path| crate::store::ConfigFile::load(&path).ok())
        .and_then(|mut file| file.profiles.remove(name))
    else {
        return Vec::new();
    };
    let path = cache_path(name);
    let cached = path
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|bytes| serde_json::from_slice::<Cache>(&bytes).ok())
        .filter(|c| c.registry == profile.registry && c.org_guid == profile.org_guid)
        .filter(|c| (0..CACHE_LIFETIME_SECS).contains(&(now() - c.fetched)));
    if let Some(cache) = cached {
        return cache.references;
    }
    let (registry, org_guid) = (profile.registry.clone(), profile.org_guid.clone());
    let store: std::sync::Arc<dyn crate::store::CredentialStore> =
        std::sync::Arc::new(crate::store::OsKeyring);
    let Ok(mut session) = Session::new(name, profile, store, crate::cancel::Cancel::process())
    else {
        return Vec::new();
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let settled = session.settled();
    let fetched = runtime.block_on(async {
        // A refresh in flight must finish and be stored, even if the shell gives up.
        crate::cli::signals::install();
        let call = session.registry_idempotent(async |api| api.images(None).await);
        let fetched = tokio::time::timeout(COMPLETION_TIMEOUT, call).await;
        // The timeout does not cancel a refresh storing its rotated token: wait for it.
        let _ = tokio::time::timeout(SETTLE_TIMEOUT, settled.wait()).await;
        fetched
    });
    let Ok(Ok(rows)) = fetched else {
        return Vec::new();
    };
    let references: Vec<String> = rows.iter().map(ImageRow::reference).collect();
    let cache = Cache {
        registry,
        org_guid,
        fetched: now(),
        references,
    };
    if let Some(path) = path {
        let _ = write_cache(&path, &cache);
    }
    cache.references
}

/// Whether `word` already has a tag part (a `:` after its last `/`).
fn has_tag(word: &str) -> bool {
    word.rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
}

/// `--image` candidates for `word`: repositories (`<namespace>/<image>`, in the profile's
/// registry), then, once a `:` was typed, that repository's `:<tag>`s. A word starting with the
/// registry host gets full references.
pub fn completion_candidates(profile: &str, word: &str) -> Vec<String> {
    let references = references(profile);
    let registry = crate::store::profiles::path()
        .ok()
        .and_then(|path| crate::store::ConfigFile::load(&path).ok())
        .and_then(|file| file.profiles.get(profile).map(|p| p.registry.clone()))
        .unwrap_or_default();
    let prefix = format!("{registry}/");
    let full = word.starts_with(&prefix);
    let tagged = has_tag(word);
    references
        .iter()
        .filter(|r| !r.contains('@'))
        .map(|r| {
            let shown = if full {
                r.as_str()
            } else {
                r.strip_prefix(&prefix).unwrap_or(r)
            };
            match (tagged, shown.rsplit_once(':')) {
                (false, Some((repository, _))) => repository.to_string(),
                _ => shown.to_string(),
            }
        })
        .collect()
}

/// `--registry-namespace` candidates: the namespaces of the cached image list.
pub fn namespace_candidates(profile: &str) -> Vec<String> {
    references(profile)
        .iter()
        .filter_map(|r| {
            let (repository, _) = r.split_once('@').or_else(|| r.rsplit_once(':'))?;
            Some(crate::providers::dedicated::images::namespace_of(
                repository,
            ))
        })
        .collect()
}

/// Whether the shell should add no space after `--image` candidates for `word`: a repository
/// may still get its `:tag`.
pub fn completion_goes_on(word: &str) -> bool {
    !has_tag(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_after_the_last_slash() {
        assert!(!has_tag("127.0.0.1:5000/demo/hello"));
        assert!(has_tag("127.0.0.1:5000/demo/hello:"));
        assert!(has_tag("demo/hello:v"));
        assert!(!has_tag(""));
        assert!(completion_goes_on("demo/he"));
    }

    #[test]
    fn ages_read_like_kubectl() {
        for (seconds, age) in [
            (-5, "<invalid>"),
            (0, "0s"),
            (119, "119s"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60 * 20, "3h20m"),
            (30 * 3600, "30h"),
            (4 * 86400 + 2 * 3600, "4d2h"),
            (400 * 86400, "400d"),
            (3 * 365 * 86400 + 30 * 86400, "3y30d"),
            (9 * 365 * 86400, "9y"),
        ] {
            assert_eq!(human_age(seconds), age, "{seconds}");
        }
    }

    #[test]
    fn sizes_are_decimal_and_short() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(8_300), "8.3 kB");
        assert_eq!(human_size(12_345_678), "12 MB");
        assert_eq!(human_size(1_500_000_000), "1.5 GB");
    }

    #[test]
    fn table_truncates_digests_unless_wide() {
        let row = ImageRow {
            repository: "registry.x/demo/hello".into(),
            tag: "v1".into(),
            digest: format!("sha256:{}", "ab".repeat(32)),
            namespace: "demo".into(),
            created: Some(1000),
            size: Some(1234),
            vulnerable: Some("false".into()),
            id: None,
        };
        let text = table(std::slice::from_ref(&row), false, 1000 + 3 * 86400);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["REPOSITORY", "TAG", "DIGEST", "CREATED", "SIZE"]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            [
                "registry.x/demo/hello",
                "v1",
                "abababababab",
                "3d",
                "1.2",
                "kB"
            ]
        );
        let wide = table(&[row], true, 1000);
        assert!(
            wide.contains(&format!("sha256:{}", "ab".repeat(32))),
            "{wide}"
        );
        assert!(wide.lines().next().unwrap().ends_with("VULNERABLE"));
        assert!(wide.contains("demo") && wide.contains("false"));
    }
}

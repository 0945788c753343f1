//! The registry's image list (`GET /api/v1/images`, protocol.md §5.5) read into one row per
//! tag, as `ibmcloud cr images` shows it. Parsing is liberal: every field is optional, and an
//! item that cannot be read is skipped rather than failing the list.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One image of the list, as the registry sends it (`bluemix-go` `images.go`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Listed {
    #[serde(rename = "Id")]
    id: Option<String>,
    #[serde(rename = "DigestTags")]
    digest_tags: Option<BTreeMap<String, Vec<String>>>,
    #[serde(rename = "RepoTags")]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "RepoDigests")]
    repo_digests: Option<Vec<String>>,
    #[serde(rename = "Created")]
    created: Option<i64>,
    #[serde(rename = "Size")]
    size: Option<i64>,
    #[serde(rename = "Vulnerable")]
    vulnerable: Option<serde_json::Value>,
}

/// One tag of one repository.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRow {
    /// `registry.<d>/<namespace>/<repository>`.
    pub repository: String,
    /// The tag, `<none>` for an untagged digest.
    pub tag: String,
    /// The manifest digest (`sha256:...`), empty when the registry did not say.
    pub digest: String,
    /// The registry namespace (the first path component).
    pub namespace: String,
    /// Creation time, epoch seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<i64>,
    /// Size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// The registry's vulnerability verdict (`true`, `false`, or what it says).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vulnerable: Option<String>,
    /// The image (config) id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl ImageRow {
    /// The reference to pull: `<repository>:<tag>`, or `<repository>@<digest>` when untagged.
    pub fn reference(&self) -> String {
        if self.tag == UNTAGGED {
            format!("{}@{}", self.repository, self.digest)
        } else {
            format!("{}:{}", self.repository, self.tag)
        }
    }
}

/// The tag shown for an untagged digest, as `docker images` does.
pub const UNTAGGED: &str = "<none>";

/// `host/ns/repo:tag` → (`host/ns/repo`, `tag`); the tag's `:` comes after the last `/`.
fn split_tag(reference: &str) -> Option<(&str, &str)> {
    let slash = reference.rfind('/').unwrap_or(0);
    let colon = reference[slash..].rfind(':')? + slash;
    Some((&reference[..colon], &reference[colon + 1..]))
}

/// The registry namespace of `host/ns/repo` (`ns`); a path without a host keeps its first part.
pub fn namespace_of(repository: &str) -> String {
    let mut parts = repository.split('/');
    let first = parts.next().unwrap_or_default();
    let second = parts.next();
    let looks_like_host = first.contains('.') || first.contains(':') || first == "localhost";
    match second {
        Some(ns) if looks_like_host => ns.to_string(),
        _ => first.to_string(),
    }
}

impl Listed {
    fn digest_for(&self, reference: &str, repository: &str) -> String {
        let by_tag = self
            .digest_tags
            .iter()
            .flatten()
            .find_map(|(digest, tags)| tags.iter().any(|t| t == reference).then(|| digest.clone()));
        let by_repository = || {
            self.repo_digests.iter().flatten().find_map(|d| {
                let (repo, digest) = d.split_once('@')?;
                (repo == repository).then(|| digest.to_string())
            })
        };
        by_tag.or_else(by_repository).unwrap_or_default()
    }

    fn rows(self) -> Vec<ImageRow> {
        let vulnerable = self.vulnerable.as_ref().and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        });
        let row = |repository: &str, tag: &str, digest: String| ImageRow {
            repository: repository.to_string(),
            tag: tag.to_string(),
            digest,
            namespace: namespace_of(repository),
            created: self.created.filter(|c| *c > 0),
            size: self.size.filter(|s| *s >= 0),
            vulnerable: vulnerable.clone(),
            id: self.id.clone().filter(|i| !i.is_empty()),
        };
        let mut rows: Vec<ImageRow> = self
            .repo_tags
            .iter()
            .flatten()
            .filter_map(|reference| {
                let (repository, tag) = split_tag(reference)?;
                Some(row(repository, tag, self.digest_for(reference, repository)))
            })
            .collect();
        if rows.is_empty() {
            // An untagged image: one row per repository digest.
            rows = self
                .repo_digests
                .iter()
                .flatten()
                .filter_map(|d| d.split_once('@'))
                .map(|(repository, digest)| row(repository, UNTAGGED, digest.to_string()))
                .collect();
        }
        rows
    }
}

/// The rows of an `/api/v1/images` answer, sorted by repository and tag; `None` when the
/// answer is not a JSON array.
pub fn rows(answer: &[u8]) -> Option<Vec<ImageRow>> {
    let items: Vec<serde_json::Value> = serde_json::from_slice(answer).ok()?;
    let mut rows: Vec<ImageRow> = items
        .into_iter()
        .filter_map(|item| serde_json::from_value::<Listed>(item).ok())
        .flat_map(Listed::rows)
        .collect();
    rows.sort_by(|a, b| a.repository.cmp(&b.repository).then(a.tag.cmp(&b.tag)));
    rows.dedup();
    Some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_become_one_row_per_tag() {
        let answer = serde_json::json!([
            {
                "Id": "sha256:cfg",
                "DigestTags": {"sha256:aaa": ["registry.x/demo/hello:v1", "registry.x/demo/hello:latest"]},
                "RepoTags": ["registry.x/demo/hello:v1", "registry.x/demo/hello:latest"],
                "RepoDigests": ["registry.x/demo/hello@sha256:aaa"],
                "Created": 1524441600, "Size": 1234, "Vulnerable": "false"
            },
            {"RepoTags": ["127.0.0.1:5000/ops/tools:1.0"], "RepoDigests": ["127.0.0.1:5000/ops/tools@sha256:bbb"], "Vulnerable": true},
            {"RepoTags": [], "RepoDigests": ["registry.x/demo/old@sha256:ccc"], "Created": 0},
            "not an object",
            {"RepoTags": ["no-tag-here"]}
        ]);
        let rows = rows(answer.to_string().as_bytes()).unwrap();
        let shown: Vec<(String, &str, &str, &str)> = rows
            .iter()
            .map(|r| {
                (
                    r.reference(),
                    r.digest.as_str(),
                    r.namespace.as_str(),
                    r.vulnerable.as_deref().unwrap_or("-"),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "127.0.0.1:5000/ops/tools:1.0".to_string(),
                    "sha256:bbb",
                    "ops",
                    "true"
                ),
                (
                    "registry.x/demo/hello:latest".to_string(),
                    "sha256:aaa",
                    "demo",
                    "false"
                ),
                (
                    "registry.x/demo/hello:v1".to_string(),
                    "sha256:aaa",
                    "demo",
                    "false"
                ),
                (
                    "registry.x/demo/old@sha256:ccc".to_string(),
                    "sha256:ccc",
                    "demo",
                    "-"
                ),
            ]
        );
        assert_eq!(rows[2].created, Some(1524441600));
        assert_eq!(rows[3].created, None);
        assert!(super::rows(b"{\"not\":\"a list\"}").is_none());
    }
}

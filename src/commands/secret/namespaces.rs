//! Which namespaces `secret create -A` writes to: every namespace except `kube-*` and the
//! `--exclude` patterns (`*` matches anything). Pure, so it is unit-tested.

/// The namespaces selected from `all`, sorted; and the patterns applied, for messages.
/// Whether `kube-*` namespaces are left out: always with `-A`, and with `-l` unless the selector
/// names them.
pub fn skips_kube(selector: Option<&str>) -> bool {
    !selector.is_some_and(|s| s.contains("kube-"))
}

/// `kube-*` is skipped only when `skip_kube` (a selector may name those namespaces on purpose).
pub fn select_with(
    all: impl IntoIterator<Item = String>,
    exclude: &[String],
    skip_kube: bool,
) -> (Vec<String>, Vec<String>) {
    let mut patterns = if skip_kube {
        vec!["kube-*".to_string()]
    } else {
        vec![]
    };
    patterns.extend(exclude.iter().cloned());
    let mut names: Vec<String> = all
        .into_iter()
        .filter(|n| !patterns.iter().any(|p| glob_match(p, n)))
        .collect();
    names.sort();
    (names, patterns)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kube_namespaces_and_patterns_are_excluded_and_the_rest_sorted() {
        let (names, patterns) = select_with(
            strings(&[
                "team-b",
                "kube-system",
                "sandbox-1",
                "default",
                "team-a",
                "kube",
            ]),
            &strings(&["sandbox-*"]),
            true,
        );
        assert_eq!(names, strings(&["default", "kube", "team-a", "team-b"]));
        assert_eq!(patterns, strings(&["kube-*", "sandbox-*"]));
    }

    #[test]
    fn a_selector_naming_kube_namespaces_keeps_them() {
        let (names, patterns) = select_with(
            strings(&["kube-system", "kube-public", "team-a"]),
            &strings(&["kube-public"]),
            false,
        );
        assert_eq!(names, strings(&["kube-system", "team-a"]));
        assert_eq!(patterns, strings(&["kube-public"]));
    }

    #[test]
    fn globs_match_whole_names_with_literal_dots() {
        assert!(glob_match("a*c", "abbc"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a*c", "abcd"));
        assert!(!glob_match("a.c", "abc"), "a dot is literal");
        assert!(glob_match("team-?", "team-?"), "only * is special");
        assert!(!glob_match("team-?", "team-a"));
    }
}

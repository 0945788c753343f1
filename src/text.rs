//! Text helpers every layer may use: server text made safe for a terminal, "did you mean"
//! suggestions. Pure.

/// Text from a server made safe for a terminal: C0 and C1 control characters (escape
/// sequences, carriage returns, bells) are dropped, except newline and tab.
pub fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}

/// The closest of `candidates` to a mistyped `name` (edit distance at most a third of its
/// length), for "did you mean" hints.
pub fn did_you_mean<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(name, c), *c))
        .filter(|(distance, _)| *distance > 0 && *distance <= (name.len() / 3).max(1))
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_drops_terminal_controls() {
        assert_eq!(
            printable("a\u{1b}[31mred\u{1b}[0m\r\u{7}\u{9b}2J\u{7f}b\n\tc"),
            "a[31mred[0m2Jb\n\tc"
        );
        assert_eq!(printable("plain: ünïcode"), "plain: ünïcode");
    }

    #[test]
    fn close_names_are_suggested() {
        let contexts = ["sandbox-admin", "sandbox-dev", "prod"];
        assert_eq!(
            did_you_mean("sandbox-admn", &contexts),
            Some("sandbox-admin")
        );
        assert_eq!(did_you_mean("prd", &contexts), Some("prod"));
        assert_eq!(did_you_mean("staging", &contexts), None);
        assert_eq!(
            did_you_mean("prod", &contexts),
            None,
            "an exact name is no typo"
        );
    }
}

//! The pieces of Go's standard library the kubelet's keyring leans on, reproduced as far as
//! registry keys and image names use them: `net/url.Parse` of `"https://" + s` (what it keeps
//! of the host and path, and what it refuses), `net.SplitHostPort`, and `path/filepath.Match`
//! (Unix separator) for one DNS label.

/// What Go's `url.Parse("https://" + s)` keeps of `s`: the host with its port (`URL.Host`) and
/// the unescaped path (`URL.Path`); `Err` with Go's reason when it refuses `s`. The fragment
/// and query are cut off, user info before the last `@` dropped.
pub fn parse_schemeless(s: &str) -> Result<(String, String), String> {
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in URL".into());
    }
    let (rest, fragment) = match s.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (s, None),
    };
    let rest = rest.split_once('?').map_or(rest, |(rest, _)| rest);
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    let host = parse_authority(authority)?;
    let path = unescape(path, false)?;
    if let Some(fragment) = fragment {
        unescape(fragment, false)?;
    }
    Ok((host, path))
}

/// `net/url.parseAuthority`: the host after the last `@`; the user info must be valid.
fn parse_authority(authority: &str) -> Result<String, String> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let host = parse_host(host)?;
    if let Some(userinfo) = userinfo {
        let valid = userinfo
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c));
        if !valid {
            return Err("invalid userinfo".into());
        }
        unescape(userinfo, false)?;
    }
    Ok(host)
}

/// `net/url.validOptionalPort`: empty, or `:` followed by digits only.
fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
}

/// `net/url.parseHost`: an IPv6 literal in brackets or a name, with an optional numeric port.
fn parse_host(host: &str) -> Result<String, String> {
    let port = if host.starts_with('[') {
        let end = host.rfind(']').ok_or("missing ']' in host")?;
        &host[end + 1..]
    } else {
        host.rfind(':').map_or("", |i| &host[i..])
    };
    if !valid_optional_port(port) {
        return Err(format!("invalid port {port:?} after host"));
    }
    unescape(host, true)
}

/// The ASCII characters `net/url` accepts unescaped in a host (`shouldEscape` in host mode).
fn host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&b)
}

/// `net/url.unescape`: `%XX` decoded (a malformed escape is an error); in a host only bytes
/// from 0x80 may be escaped (or `%25`), and the characters of [`host_char`] may appear.
fn unescape(s: &str, host: bool) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let escape = bytes.get(i..i + 3).unwrap_or(&bytes[i..]);
            let hex = escape
                .get(1..3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .filter(|_| escape[1..].iter().all(u8::is_ascii_hexdigit));
            let Some(value) = hex else {
                return Err(format!(
                    "invalid URL escape {:?}",
                    String::from_utf8_lossy(escape)
                ));
            };
            if host && value < 0x80 && escape != b"%25" {
                return Err(format!(
                    "invalid URL escape {:?}",
                    String::from_utf8_lossy(escape)
                ));
            }
            out.push(value);
            i += 3;
        } else if host && b < 0x80 && !host_char(b) {
            return Err(format!("invalid character {:?} in host name", b as char));
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `net.SplitHostPort`: `(host, port)`, or `None` where Go returns an error (no port, too many
/// colons, misplaced brackets). The port may be empty (`host:`).
pub fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let i = hostport.rfind(':')?;
    let (host, j, k) = if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        if end + 1 != i {
            return None;
        }
        (&hostport[1..end], 1, end + 1)
    } else {
        let host = &hostport[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hostport[j..].contains('[') || hostport[k..].contains(']') {
        return None;
    }
    Some((host, &hostport[i + 1..]))
}

/// One element of a compiled `filepath.Match` pattern.
enum Token {
    Literal(char),
    AnyChar,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// `filepath.getEsc`: one character of a class, `\` escaping; something must follow it.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, ()> {
    let c = match chars.next() {
        None | Some('-' | ']') => return Err(()),
        Some('\\') => chars.next().ok_or(())?,
        Some(c) => c,
    };
    if chars.peek().is_none() {
        return Err(());
    }
    Ok(c)
}

/// Compiles a `filepath.Match` pattern; `Err` is Go's `ErrBadPattern`.
fn compile(pattern: &str) -> Result<Vec<Token>, ()> {
    let mut chars = pattern.chars().peekable();
    let mut tokens = Vec::new();
    while let Some(c) = chars.next() {
        let token = match c {
            '*' => Token::Star,
            '?' => Token::AnyChar,
            '\\' => Token::Literal(chars.next().ok_or(())?),
            '[' => {
                let negated = chars.next_if_eq(&'^').is_some();
                let mut ranges = Vec::new();
                loop {
                    if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                        break;
                    }
                    let lo = class_char(&mut chars)?;
                    let hi = if chars.next_if_eq(&'-').is_some() {
                        class_char(&mut chars)?
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                Token::Class { negated, ranges }
            }
            c => Token::Literal(c),
        };
        tokens.push(token);
    }
    Ok(tokens)
}

fn matches_tokens(tokens: &[Token], name: &[char]) -> bool {
    match tokens.split_first() {
        None => name.is_empty(),
        Some((Token::Star, rest)) => (0..=name.len())
            .take_while(|&i| i == 0 || name[i - 1] != '/')
            .any(|i| matches_tokens(rest, &name[i..])),
        Some((token, rest)) => {
            let Some((&c, tail)) = name.split_first() else {
                return false;
            };
            let one = match token {
                Token::Literal(l) => *l == c,
                Token::AnyChar => c != '/',
                Token::Class { negated, ranges } => {
                    ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
                }
                Token::Star => unreachable!("handled above"),
            };
            one && matches_tokens(rest, tail)
        }
    }
}

/// `filepath.Match(pattern, name)` on Unix: `*` any run of characters but `/`, `?` one
/// character, `[...]` a class (`^` negates, `a-z` ranges), `\` escapes. `Err(())` for a
/// malformed pattern (Go's `ErrBadPattern`, which the kubelet treats as no match).
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, ()> {
    let tokens = compile(pattern)?;
    let name: Vec<char> = name.chars().collect();
    Ok(matches_tokens(&tokens, &name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases from Go's `path/filepath` `match_test.go` (`matchTests`) that apply to one label.
    #[test]
    fn glob_follows_go_filepath_match() {
        let cases: &[(&str, &str, Result<bool, ()>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "x", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[]a]", "]", Err(())),
            ("[-]", "-", Err(())),
            ("[x-]", "x", Err(())),
            ("[a-b-c]", "a", Err(())),
            ("\\", "a", Err(())),
            ("a*", "ab/c", Ok(false)),
            ("a/b[", "x", Err(())),
            ("[", "a", Err(())),
            ("[^", "a", Err(())),
            ("[^bc", "a", Err(())),
            ("a[", "a", Err(())),
            ("*x", "xxx", Ok(true)),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(glob_match(pattern, name), *expected, "{pattern} vs {name}");
        }
    }

    #[test]
    fn urls_parse_like_go() {
        let ok = |s: &str| parse_schemeless(s).unwrap();
        assert_eq!(ok("quay.io"), ("quay.io".into(), String::new()));
        assert_eq!(ok("quay.io/v1/"), ("quay.io".into(), "/v1/".into()));
        assert_eq!(ok("r.io:5000/a%2Fb"), ("r.io:5000".into(), "/a/b".into()));
        assert_eq!(ok("user:pw@r.io/x?q=1#f"), ("r.io".into(), "/x".into()));
        assert_eq!(ok("*.r.io"), ("*.r.io".into(), String::new()));
        assert_eq!(ok("[::1]:5000/x"), ("[::1]:5000".into(), "/x".into()));
        assert_eq!(ok("r.io:"), ("r.io:".into(), String::new()));
        for bad in [
            "r.io:port",
            "r.io:50a0/x",
            "r io",
            "r.io/%zz",
            "r\u{7}.io",
            "[::1/x",
            "r.io%2F",
            "r|io",
            "u{}@r.io",
        ] {
            assert!(parse_schemeless(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_and_port_split_like_go() {
        assert_eq!(split_host_port("r.io:5000"), Some(("r.io", "5000")));
        assert_eq!(split_host_port("r.io:"), Some(("r.io", "")));
        assert_eq!(split_host_port("[::1]:5000"), Some(("::1", "5000")));
        for error in ["r.io", "a:b:c", "[::1]", "[::1]x:5", "a]:5", "[a:5"] {
            assert_eq!(split_host_port(error), None, "{error}");
        }
    }
}

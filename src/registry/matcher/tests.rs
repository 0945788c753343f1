//! The kubelet's own published cases, ported: kubernetes/kubernetes
//! `pkg/credentialprovider/keyring_test.go` and `config_test.go` (test names in the comments),
//! the kubernetes.io "Interpretation of config.json" examples, then this module's own rules
//! (the reason of every miss, the findings) and properties.
// Tests are exempt from the 80-line rule (docs/architecture.md); these are tables.
#![allow(clippy::too_many_lines)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use proptest::prelude::*;

use super::*;

const AUTH_FOO_BAR: &str = "Zm9vOmJhcg=="; // base64("foo:bar")

/// `URLsMatchStr(glob, target)`.
fn urls_match_str(glob: &str, target: &str) -> bool {
    split_url(target).is_ok_and(|t| urls_match(glob, &t).is_ok())
}

/// The legacy config the upstream tests build with `readDockerConfigFileFromBytes`: one entry
/// `{email, auth}` for `server`.
fn sample_config(server: &str) -> DockerConfig {
    let json = serde_json::json!({server: {"email": "foo@bar.baz", "auth": AUTH_FOO_BAR}});
    let config = parse_config(Format::DockerCfg, json.to_string().as_bytes());
    assert!(config.fatal().is_none(), "{:?}", config.findings);
    config
}

fn keyring_of(config: &DockerConfig) -> Keyring {
    let mut keyring = Keyring::default();
    keyring.add("test", config);
    keyring
}

fn users(lookup: &Lookup<'_>) -> Vec<String> {
    lookup
        .matches
        .iter()
        .map(|e| e.credential.username.clone())
        .collect()
}

/// keyring_test.go `TestUrlsMatch`.
#[test]
fn upstream_test_urls_match() {
    let cases = [
        // match when there is no path component
        ("*.kubernetes.io", "prefix.kubernetes.io", true),
        ("prefix.*.io", "prefix.kubernetes.io", true),
        ("prefix.kubernetes.*", "prefix.kubernetes.io", true),
        ("*-good.kubernetes.io", "prefix-good.kubernetes.io", true),
        // match with path components
        ("*.kubernetes.io/blah", "prefix.kubernetes.io/blah", true),
        ("prefix.*.io/foo", "prefix.kubernetes.io/foo/bar", true),
        // match with path components and ports
        (
            "*.kubernetes.io:1111/blah",
            "prefix.kubernetes.io:1111/blah",
            true,
        ),
        (
            "prefix.*.io:1111/foo",
            "prefix.kubernetes.io:1111/foo/bar",
            true,
        ),
        // no match when number of parts mismatch
        ("*.kubernetes.io", "kubernetes.io", false),
        ("*.*.kubernetes.io", "prefix.kubernetes.io", false),
        ("*.*.kubernetes.io", "kubernetes.io", false),
        // no match when some parts mismatch
        ("kubernetes.io", "kubernetes.com", false),
        ("k*.io", "quay.io", false),
        // no match when ports mismatch
        (
            "*.kubernetes.io:1234/blah",
            "prefix.kubernetes.io:1111/blah",
            false,
        ),
        (
            "prefix.*.io/foo",
            "prefix.kubernetes.io:1111/foo/bar",
            false,
        ),
    ];
    for (glob, target, expected) in cases {
        assert_eq!(urls_match_str(glob, target), expected, "{glob} vs {target}");
    }
}

/// keyring_test.go `TestDockerKeyringForGlob`: each key finds `<target>/foo/bar`, with the
/// credential from `auth` and the e-mail.
#[test]
fn upstream_test_docker_keyring_for_glob() {
    let cases = [
        ("https://hello.kubernetes.io", "hello.kubernetes.io"),
        ("https://*.docker.io", "prefix.docker.io"),
        ("https://prefix.*.io", "prefix.docker.io"),
        ("https://prefix.docker.*", "prefix.docker.io"),
        ("https://*.docker.io/path", "prefix.docker.io/path"),
        ("https://prefix.*.io/path", "prefix.docker.io/path/subpath"),
        ("https://prefix.docker.*/path", "prefix.docker.io/path"),
        ("https://*.docker.io:8888", "prefix.docker.io:8888"),
        ("https://prefix.*.io:8888", "prefix.docker.io:8888"),
        ("https://prefix.docker.*:8888", "prefix.docker.io:8888"),
        (
            "https://*.docker.io/path:1111",
            "prefix.docker.io/path:1111",
        ),
        ("https://*.docker.io/v1/", "prefix.docker.io/path:1111"),
        ("https://*.docker.io/v2/", "prefix.docker.io/path:1111"),
        (
            "https://prefix.docker.*/path:1111",
            "prefix.docker.io/path:1111",
        ),
        ("prefix.docker.io:1111", "prefix.docker.io:1111/path"),
        ("*.docker.io:1111", "prefix.docker.io:1111/path"),
    ];
    for (glob, target) in cases {
        let keyring = keyring_of(&sample_config(glob));
        let lookup = keyring.lookup_name(&format!("{target}/foo/bar"));
        let first = lookup.matches.first().unwrap_or_else(|| {
            panic!("{glob}: didn't find {target}: {}", lookup.why_not());
        });
        assert_eq!(
            (
                first.credential.username.as_str(),
                first.credential.password.as_str(),
                first.credential.email.as_str()
            ),
            ("foo", "bar", "foo@bar.baz"),
            "{glob}"
        );
    }
}

/// keyring_test.go `TestKeyringMiss`.
#[test]
fn upstream_test_keyring_miss() {
    let cases = [
        ("https://hello.kubernetes.io", "world.mesos.org/foo/bar"),
        ("https://*.docker.com", "prefix.docker.io"),
        ("https://suffix.*.io", "prefix.docker.io"),
        ("https://prefix.docker.c*", "prefix.docker.io"),
        (
            "https://prefix.*.io/path:1111",
            "prefix.docker.io/path/subpath:1111",
        ),
        ("suffix.*.io", "prefix.docker.io"),
    ];
    for (glob, lookup) in cases {
        let keyring = keyring_of(&sample_config(glob));
        let found = keyring.lookup_name(&format!("{lookup}/foo/bar"));
        assert!(found.matches.is_empty(), "{glob} found {lookup}");
        assert_eq!(found.misses.len(), 1, "{glob}: the miss has a reason");
    }
}

/// keyring_test.go `TestKeyringMissWithDockerHubCredentials`,
/// `TestKeyringHitWithUnqualifiedDockerHub`, `TestKeyringHitWithUnqualifiedLibraryDockerHub`,
/// `TestKeyringHitWithQualifiedDockerHub`: the `https://index.docker.io/v1/` key.
#[test]
fn upstream_test_docker_hub_credentials() {
    let keyring = keyring_of(&sample_config("https://index.docker.io/v1/"));
    assert_eq!(keyring.index(), ["index.docker.io"]);
    assert!(
        keyring
            .lookup_name("world.mesos.org/foo/bar")
            .matches
            .is_empty()
    );
    for hit in ["google/docker-registry", "jenkins"] {
        let lookup = keyring.lookup_name(hit);
        assert_eq!(users(&lookup), ["foo"], "{hit}");
        assert!(lookup.fallback, "{hit} comes from the fallback");
        assert!(lookup.misses.is_empty());
    }
    let qualified = keyring.lookup_name("index.docker.io/v1//google/docker-registry");
    assert!(!qualified.matches.is_empty() && qualified.matches.len() <= 2);
    assert_eq!(qualified.matches[0].credential.password, "bar");
}

/// keyring_test.go `TestIsDefaultRegistryMatch`.
#[test]
fn upstream_test_is_default_registry_match() {
    let samples = [
        (true, "foo/bar"),
        (true, "docker.io/foo/bar"),
        (true, "index.docker.io/foo/bar"),
        (true, "foo"),
        (false, ""),
        (false, "registry.tld/foo/bar"),
        (false, "registry:5000/foo/bar"),
        (false, "myhostdocker.io/foo/bar"),
    ];
    for (expected, image) in samples {
        assert_eq!(is_default_registry_match(image), expected, "{image:?}");
    }
}

/// keyring_test.go `TestDockerKeyringLookup`: every matching key, the deeper first.
#[test]
fn upstream_test_docker_keyring_lookup() {
    let config = parse_config(
        Format::DockerCfg,
        serde_json::json!({
            "bar.example.com/pong": {"username": "grace", "password": "squash", "email": "grace@example.com"},
            "bar.example.com": {"username": "ada", "password": "smash", "email": "ada@example.com"},
        })
        .to_string()
        .as_bytes(),
    );
    let keyring = keyring_of(&config);
    let cases: [(&str, &[&str]); 7] = [
        // direct match
        ("bar.example.com", &["ada"]),
        // direct match deeper than other possible matches
        ("bar.example.com/pong", &["grace", "ada"]),
        // no direct match, deeper path ignored
        ("bar.example.com/ping", &["ada"]),
        // match first part of path token
        ("bar.example.com/pongz", &["grace", "ada"]),
        // match regardless of sub-path
        ("bar.example.com/pong/pang", &["grace", "ada"]),
        // no host match
        ("example.com", &[]),
        ("foo.example.com", &[]),
    ];
    for (image, expected) in cases {
        assert_eq!(users(&keyring.lookup_name(image)), expected, "{image}");
    }
    let ada = &keyring.lookup_name("bar.example.com").matches[0].credential;
    assert_eq!(
        (ada.password.as_str(), ada.email.as_str()),
        ("smash", "ada@example.com")
    );
}

/// keyring_test.go `TestIssue3797`: a key with a scheme and `/v1/` matches by host.
#[test]
fn upstream_test_issue_3797() {
    let config = parse_config(
        Format::DockerCfg,
        br#"{"https://quay.io/v1/": {"username": "rex", "password": "tiny arms", "email": "rex@example.com"}}"#,
    );
    let keyring = keyring_of(&config);
    for image in ["quay.io", "quay.io/foo", "quay.io/foo/bar"] {
        let lookup = keyring.lookup_name(image);
        assert_eq!(users(&lookup), ["rex"], "{image}");
        assert_eq!(lookup.matches[0].credential.password, "tiny arms");
    }
}

/// config_test.go `TestDockerConfigJsonJSONDecode` and `TestDockerConfigJSONDecode`: both
/// shapes, keys as written.
#[test]
fn upstream_test_docker_config_json_decode() {
    let entries = r#""http://foo.example.com":{"username": "foo", "password": "bar", "email": "foo@example.com"}, "http://bar.example.com":{"username": "bar", "password": "baz", "email": "bar@example.com"}"#;
    for (format, text) in [
        (
            Format::DockerConfigJson,
            format!(r#"{{"auths": {{{entries}}}}}"#),
        ),
        (Format::DockerCfg, format!("{{{entries}}}")),
    ] {
        let config = parse_config(format, text.as_bytes());
        assert_eq!(config.findings, [], "{format:?}");
        let got: Vec<(&str, &str, &str, &str)> = config
            .entries
            .iter()
            .map(|e| {
                (
                    e.server.as_str(),
                    e.credential.username.as_str(),
                    e.credential.password.as_str(),
                    e.credential.email.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("http://foo.example.com", "foo", "bar", "foo@example.com"),
                ("http://bar.example.com", "bar", "baz", "bar@example.com"),
            ]
        );
        assert_eq!(config.entries[0].key.as_deref(), Ok("foo.example.com"));
    }
}

/// config_test.go `TestDockerConfigEntryJSONDecode`.
#[test]
fn upstream_test_docker_config_entry_json_decode() {
    let cases: [(&str, (&str, &str, &str), bool); 5] = [
        // simple case, just decode the fields
        (
            r#"{"username": "foo", "password": "bar", "email": "foo@example.com"}"#,
            ("foo", "bar", "foo@example.com"),
            false,
        ),
        // auth field decodes to username & password
        (
            r#"{"auth": "Zm9vOmJhcg==", "email": "foo@example.com"}"#,
            ("foo", "bar", "foo@example.com"),
            false,
        ),
        // auth field overrides username & password
        (
            r#"{"username": "foo", "password": "bar", "auth": "cGluZzpwb25n", "email": "foo@example.com"}"#,
            ("ping", "pong", "foo@example.com"),
            false,
        ),
        // poorly-formatted auth causes failure
        (
            r#"{"auth": "pants", "email": "foo@example.com"}"#,
            ("", "", "foo@example.com"),
            true,
        ),
        // invalid JSON causes failure
        (r#"{"email": false}"#, ("", "", ""), true),
    ];
    for (entry, (username, password, email), fail) in cases {
        let config = parse_config(
            Format::DockerCfg,
            format!(r#"{{"r.io": {entry}}}"#).as_bytes(),
        );
        assert_eq!(
            config.fatal().is_some(),
            fail,
            "{entry}: {:?}",
            config.findings
        );
        let c = &config.entries[0].credential;
        assert_eq!(
            (c.username.as_str(), c.password.as_str(), c.email.as_str()),
            (username, password, email),
            "{entry}"
        );
    }
}

/// config_test.go `TestDecodeDockerConfigFieldAuth`, with the cases of kubernetes PR #85687
/// (padded only when it ends in `=`, new lines ignored, nothing else).
#[test]
fn upstream_test_decode_docker_config_field_auth() {
    let ok = [
        // auth field decodes to username & password
        "Zm9vOmJhcg==",
        // same as before but with field not well padded
        "Zm9vOmJhcg",
        // same as before but with new line characters
        "Zm9vOm\nJhcg==\n",
        &STANDARD.encode("foo:bar"),
        &STANDARD_NO_PAD.encode("foo:bar"),
    ];
    for input in ok {
        assert_eq!(
            decode_auth(input),
            Ok(("foo".to_string(), "bar".to_string())),
            "{input:?}"
        );
    }
    // good base64 data, but no colon separating username & password
    assert_eq!(decode_auth("cGFudHM="), Err(Problem::AuthWithoutColon));
    // only new line characters are ignored
    assert_eq!(
        decode_auth("Zm9vOmJhcg== "),
        Err(Problem::AuthNotBase64 { padded: true })
    );
    // bad base64 data
    assert_eq!(
        decode_auth("pants"),
        Err(Problem::AuthNotBase64 { padded: false })
    );
    // Not upstream: the choice is by the trailing `=`, not by the length.
    assert_eq!(
        decode_auth("Zm9vOmJhcjE"),
        Ok(("foo".to_string(), "bar1".to_string()))
    );
    assert_eq!(
        decode_auth("Zm9vOmJhcjE="),
        Ok(("foo".to_string(), "bar1".to_string()))
    );
    assert!(decode_auth("Zm9vOmJhcg=").is_err(), "wrong padding");
}

/// kubernetes.io "Interpretation of config.json" (concepts/containers/images).
#[test]
fn documented_examples_of_key_matching() {
    let cases = [
        ("*.kubernetes.io", "abc.kubernetes.io", true),
        ("*.kubernetes.io", "kubernetes.io", false),
        ("*.*.kubernetes.io", "abc.kubernetes.io", false),
        ("*.*.kubernetes.io", "abc.def.kubernetes.io", true),
        ("prefix.*.io", "prefix.kubernetes.io", true),
        ("*-good.kubernetes.io", "prefix-good.kubernetes.io", true),
        (
            "*.my-registry.example/images",
            "sub.my-registry.example/images/my-image",
            true,
        ),
        (
            "*.my-registry.example/images",
            "a.sub.my-registry.example/images/my-image",
            false,
        ),
        (
            "my-registry.example/images",
            "my-registry.example/images/my-image",
            true,
        ),
    ];
    for (glob, target, expected) in cases {
        assert_eq!(urls_match_str(glob, target), expected, "{glob} vs {target}");
    }
}

/// Images are normalised as `ParseNormalizedNamed` does (distribution/reference v0.6
/// `normalize_test.go` shapes) before the lookup.
#[test]
fn images_are_normalised_like_the_kubelet() {
    let digest = format!("sha256:{}", "a".repeat(64));
    let cases: Vec<(String, &str, Option<&str>, Option<&str>)> = vec![
        ("nginx".into(), "docker.io/library/nginx", None, None),
        (
            "nginx:1.25".into(),
            "docker.io/library/nginx",
            Some("1.25"),
            None,
        ),
        (
            "docker.io/nginx".into(),
            "docker.io/library/nginx",
            None,
            None,
        ),
        (
            "index.docker.io/nginx".into(),
            "docker.io/library/nginx",
            None,
            None,
        ),
        (
            "library/nginx".into(),
            "docker.io/library/nginx",
            None,
            None,
        ),
        ("foo/bar".into(), "docker.io/foo/bar", None, None),
        (
            "index.docker.io/foo/bar".into(),
            "docker.io/foo/bar",
            None,
            None,
        ),
        ("localhost/foo".into(), "localhost/foo", None, None),
        (
            "localhost:5000/foo:v1".into(),
            "localhost:5000/foo",
            Some("v1"),
            None,
        ),
        (
            "localhost:5000".into(),
            "docker.io/library/localhost",
            Some("5000"),
            None,
        ),
        (
            "registry.x:443/a/b/c".into(),
            "registry.x:443/a/b/c",
            None,
            None,
        ),
        ("Foo/bar".into(), "Foo/bar", None, None),
        ("[::1]:5000/foo".into(), "[::1]:5000/foo", None, None),
        (
            format!("icr.io/ns/app:v1@{digest}"),
            "icr.io/ns/app",
            Some("v1"),
            Some(digest.as_str()),
        ),
    ];
    for (image, name, tag, dig) in &cases {
        let parsed = parse_image(image).unwrap_or_else(|e| panic!("{image}: {e}"));
        assert_eq!(
            (
                parsed.name.as_str(),
                parsed.tag.as_deref(),
                parsed.digest.as_deref()
            ),
            (*name, *tag, *dig),
            "{image}"
        );
    }
    let pinned = parse_image(&format!("icr.io/ns/app:v1@{digest}")).unwrap();
    assert_eq!(
        (pinned.domain.as_str(), pinned.path.as_str()),
        ("icr.io", "ns/app")
    );
    assert_eq!(pinned.reference(), digest);
    assert_eq!(parse_image("nginx").unwrap().reference(), "latest");
    let errors = [
        ("", ImageError::Empty),
        (&*"a".repeat(64), ImageError::HexIdentifier("a".repeat(64))),
        ("foo/Bar", ImageError::UpperCase("foo/Bar".into())),
        ("NGINX", ImageError::UpperCase("library/NGINX".into())),
        ("r.io/a//b", ImageError::Format),
        ("r.io/a:b:c", ImageError::Format),
        ("r.io/a:-x", ImageError::Format),
        (
            "r.io/a@md5:0123456789abcdef0123456789abcdef",
            ImageError::DigestUnsupported,
        ),
        (
            &*format!("r.io/a@sha256:{}", "A".repeat(64)),
            ImageError::DigestInvalid,
        ),
        (
            &*format!("r.io/a@sha256:{}", "a".repeat(63)),
            ImageError::DigestInvalid,
        ),
        (&*format!("r.io/{}", "a".repeat(251)), ImageError::TooLong),
    ];
    for (image, error) in errors {
        assert_eq!(parse_image(image), Err(error), "{image:?}");
    }
}

/// The reason of every miss names the rule that failed first, in `URLsMatch`'s order.
#[test]
fn every_miss_says_which_rule_failed() {
    let config = parse_config(
        Format::DockerConfigJson,
        serde_json::json!({"auths": {
            "registry.x": {"username": "a", "password": "1"},
            "registry.x:5000": {"username": "b", "password": "2"},
            "*.x": {"username": "c", "password": "3"},
            "registry.x:443/team": {"username": "d", "password": "4"},
            "mirror.x:443": {"username": "e", "password": "5"},
            "r[.x:443": {"username": "f", "password": "6"},
            "registry.x:443/team-b": {"username": "g", "password": "7"},
        }})
        .to_string()
        .as_bytes(),
    );
    let keyring = keyring_of(&config);
    let image = parse_image("registry.x:443/team-b/app:v1").unwrap();
    let lookup = keyring.lookup(&image);
    assert_eq!(users(&lookup), ["g", "d"], "{}", lookup.why_not());
    let reasons: Vec<(&str, MissReason)> = lookup
        .misses
        .iter()
        .map(|m| (m.key.as_str(), m.reason.clone()))
        .collect();
    let port = |key: &str| MissReason::PortDiffers {
        key: key.into(),
        image: "443".into(),
    };
    assert_eq!(
        reasons,
        [
            ("registry.x:5000", port("5000")),
            ("registry.x", port("")),
            // Go's SplitHostPort refuses a `[` outside brackets: the port stays in the host.
            ("r[.x:443", port("")),
            (
                "mirror.x:443",
                MissReason::HostDiffers {
                    pattern: "mirror".into(),
                    label: "registry".into()
                }
            ),
            ("*.x", port("")),
        ]
    );
    // `team` is a plain string prefix of `team-b`: the kubelet uses that key too.
    assert_eq!(lookup.matches[1].key, "registry.x:443/team");
    let other = keyring.lookup(&parse_image("registry.x:443/other/app").unwrap());
    assert!(other.misses.iter().any(|m| m.key == "registry.x:443/team"
        && m.reason
            == MissReason::PathPrefix {
                key: "/team".into(),
                image: "/other/app".into()
            }));
    let bad_key = one_key("r[.x");
    let bad = bad_key.lookup_name("registry.x/app");
    assert_eq!(
        bad.misses[0].reason,
        MissReason::InvalidPattern {
            pattern: "r[".into()
        }
    );
    let deeper = keyring.lookup(&parse_image("a.b.x/app").unwrap());
    assert!(deeper.misses.contains(&Miss {
        key: "*.x".into(),
        reason: MissReason::LabelCount { key: 2, image: 3 }
    }));
    assert!(
        lookup
            .why_not()
            .contains("key `registry.x`: port differs: the image has port 443, the key none")
    );
}

/// `index.docker.io` is a fallback only: a `docker.io` key (or a broad wildcard) wins, and the
/// fallback key is then reported as unused.
#[test]
fn docker_hub_keys_follow_the_kubelet() {
    let config = parse_config(
        Format::DockerConfigJson,
        br#"{"auths": {"https://index.docker.io/v1/": {"auth": "aHViOnB3"}, "docker.io": {"auth": "aW86cHc="}}}"#,
    );
    let keyring = keyring_of(&config);
    let nginx = parse_image("nginx").unwrap();
    let lookup = keyring.lookup(&nginx);
    assert_eq!(users(&lookup), ["io"]);
    assert!(!lookup.fallback);
    assert_eq!(
        lookup.misses,
        [Miss {
            key: DOCKER_HUB_FALLBACK.into(),
            reason: MissReason::FallbackUnused
        }]
    );
    let only_hub = keyring_of(&parse_config(
        Format::DockerConfigJson,
        br#"{"auths": {"https://index.docker.io/v1/": {"auth": "aHViOnB3"}, "*.io": {"auth": "d2lsZDpwdw=="}}}"#,
    ));
    // `*.io` has two labels like `docker.io`, so it matches and suppresses the fallback.
    assert_eq!(users(&only_hub.lookup(&nginx)), ["wild"]);
    let quay = only_hub.lookup(&parse_image("quay.io/a/b").unwrap());
    assert_eq!(users(&quay), ["wild"]);
    let hub_only = keyring_of(&parse_config(
        Format::DockerConfigJson,
        br#"{"auths": {"https://index.docker.io/v1/": {"auth": "aHViOnB3"}}}"#,
    ));
    assert_eq!(users(&hub_only.lookup(&nginx)), ["hub"]);
    // Not Docker Hub: the fallback key is an ordinary miss.
    let elsewhere = hub_only.lookup(&parse_image("icr.io/ns/app").unwrap());
    assert!(elsewhere.matches.is_empty());
    assert_eq!(
        elsewhere.misses[0].reason,
        MissReason::LabelCount { key: 3, image: 2 }
    );
}

/// What the kubelet rejects (fatal: every pull of the Pod fails) and what it ignores.
#[test]
fn findings_name_what_the_kubelet_rejects_or_ignores() {
    let problems = |format, text: &str| -> Vec<(Option<String>, Problem)> {
        parse_config(format, text.as_bytes())
            .findings
            .into_iter()
            .map(|f| (f.server, f.problem))
            .collect()
    };
    let json = Format::DockerConfigJson;
    let at = |s: &str| Some(s.to_string());
    assert!(matches!(
        problems(json, "{").as_slice(),
        [(None, Problem::NotJson { .. })]
    ));
    assert_eq!(problems(json, "{}"), [(None, Problem::NoAuths)]);
    assert_eq!(
        problems(json, r#"{"auths": {}}"#),
        [(None, Problem::NoAuths)]
    );
    assert_eq!(problems(json, "null"), [(None, Problem::NoAuths)]);
    assert_eq!(
        problems(json, r#"{"r.io": {"auth": "YTpi"}}"#),
        [(None, Problem::LegacyShape)]
    );
    assert_eq!(
        problems(
            Format::DockerCfg,
            r#"{"auths": {"r.io": {"auth": "YTpi"}}}"#
        )[0],
        (None, Problem::AuthsInDockerCfg)
    );
    let wrong = |field: &str, expected| Problem::WrongType {
        field: field.into(),
        expected,
    };
    assert_eq!(
        problems(json, r#"{"auths": []}"#),
        [(None, wrong("auths", "an object"))]
    );
    assert_eq!(
        problems(
            json,
            r#"{"auths": {"r.io": {"auth": "YTpi"}}, "HttpHeaders": {"a": 1}}"#
        ),
        [(None, wrong("HttpHeaders", "an object of strings"))]
    );
    assert_eq!(
        problems(json, r#"{"auths": {"r.io": "YTpi"}}"#),
        [(at("r.io"), wrong("entry", "an object"))]
    );
    assert_eq!(
        problems(
            json,
            r#"{"auths": {"r.io": {"Password": 5, "auth": "YTpi"}}}"#
        ),
        [(at("r.io"), wrong("Password", "a string"))]
    );
    assert_eq!(
        problems(json, r#"{"auths": {"r.io": {"auth": "not base64!"}}}"#),
        [(at("r.io"), Problem::AuthNotBase64 { padded: false })]
    );
    assert_eq!(
        problems(json, r#"{"auths": {"r.io": {"auth": "cGFudHM="}}}"#),
        [(at("r.io"), Problem::AuthWithoutColon)]
    );
    // Silently ignored or surprising, not fatal.
    let quiet = problems(
        json,
        r#"{"auths": {
            "r.io": {"username": "a", "password": "x", "auth": "YTpi", "identitytoken": "t"},
            "https://r.io/v2/": {"USERNAME": "c", "password": "d"},
            "q.io": {},
            "r.io:port": {"auth": "YTpi"},
            "Mixed.IO": {"auth": "YTpi"},
            "r.io/v2/team": {"auth": "YTpi"}
        }}"#,
    );
    assert_eq!(
        quiet,
        [
            (
                at("r.io"),
                Problem::IgnoredField {
                    field: "identitytoken".into()
                }
            ),
            (at("r.io"), Problem::AuthOverridesFields),
            (
                at("https://r.io/v2/"),
                Problem::DuplicateKey {
                    key: "r.io".into(),
                    other: "r.io".into()
                }
            ),
            (at("q.io"), Problem::NoCredential),
            (
                at("r.io:port"),
                Problem::InvalidKey {
                    detail: "invalid port \":port\" after host".into()
                }
            ),
            (at("Mixed.IO"), Problem::UpperCaseHost),
            (
                at("r.io/v2/team"),
                Problem::VersionPrefixDropped {
                    key: "r.io/team".into()
                }
            ),
        ]
    );
    assert!(quiet.iter().all(|(_, p)| !p.is_fatal()));
    // Field names are matched case-insensitively, a later one winning; `null` changes nothing.
    let config = parse_config(
        json,
        br#"{"Auths": {"r.io": {"username": "a", "Username": "b", "password": "p", "PASSWORD": null}}}"#,
    );
    assert_eq!(config.findings, []);
    assert_eq!(
        (
            config.entries[0].credential.username.as_str(),
            config.entries[0].credential.password.as_str()
        ),
        ("b", "p")
    );
    // A key Go cannot parse is left out of the keyring; the rest still works.
    let mixed = parse_config(
        json,
        br#"{"auths": {"r.io:port": {"auth": "YTpi"}, "r.io": {"auth": "YTpi"}}}"#,
    );
    assert_eq!(keyring_of(&mixed).index(), ["r.io"]);
}

#[test]
fn secrets_are_read_by_type_and_key_as_the_kubelet_does() {
    use k8s_openapi::ByteString;
    let secret = |type_: &str, key: &str, bytes: &[u8]| Secret {
        type_: Some(type_.to_string()),
        data: Some([(key.to_string(), ByteString(bytes.to_vec()))].into()),
        ..Default::default()
    };
    let json = br#"{"auths": {"r.io": {"auth": "YTpi"}}}"#;
    let legacy = br#"{"r.io": {"auth": "YTpi"}}"#;
    let good = secret_config(&secret(DOCKERCONFIGJSON_TYPE, ".dockerconfigjson", json));
    assert_eq!((good.entries.len(), good.findings.len()), (1, 0));
    let old = secret_config(&secret(DOCKERCFG_TYPE, ".dockercfg", legacy));
    assert_eq!(old.entries[0].credential.username, "a");
    let problem = |s: Secret| secret_config(&s).findings[0].problem.clone();
    assert_eq!(
        problem(secret("Opaque", ".dockerconfigjson", json)),
        Problem::NotAPullSecret {
            secret_type: "Opaque".into()
        }
    );
    assert_eq!(
        problem(secret(DOCKERCONFIGJSON_TYPE, ".dockercfg", legacy)),
        Problem::MissingData {
            key: ".dockerconfigjson"
        }
    );
    assert_eq!(
        problem(secret(DOCKERCFG_TYPE, ".dockercfg", b"")),
        Problem::MissingData { key: ".dockercfg" }
    );
}

/// The bytes this plugin writes (kubectl's) read back with no finding and the same credential.
#[test]
fn the_plugins_own_secrets_have_no_findings() {
    let bytes = crate::manifests::docker_config_json("registry.x", "token", "p:w", "a@b.c");
    let config = parse_config(Format::DockerConfigJson, &bytes);
    assert_eq!(config.findings, []);
    let c = &config.entries[0].credential;
    assert_eq!((c.username.as_str(), c.password.as_str()), ("token", "p:w"));
    assert!(!format!("{c:?}").contains("p:w"), "Debug redacts");
}

/// A host label as images use them.
fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,8}"
}

/// An image `host[:port]/path` and its parts.
fn image() -> impl Strategy<Value = (Vec<String>, Option<u16>, Vec<String>)> {
    (
        prop::collection::vec(label(), 2..5),
        prop::option::of(1u16..),
        // `v1`/`v2` first would be dropped from a key (Problem::VersionPrefixDropped).
        prop::collection::vec("[a-z0-9]{1,6}", 1..4)
            .prop_filter("no v1/v2 first", |p| p[0] != "v1" && p[0] != "v2"),
    )
}

fn image_name(labels: &[String], port: Option<u16>, path: &[String]) -> String {
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}{port}/{}", labels.join("."), path.join("/"))
}

fn one_key(server: &str) -> Keyring {
    keyring_of(&parse_config(
        Format::DockerConfigJson,
        serde_json::json!({"auths": {server: {"auth": "YTpi"}}})
            .to_string()
            .as_bytes(),
    ))
}

proptest! {
    /// A key built from the image's own host, port and a leading part of its path (with or
    /// without a scheme, `/v2/` for a host-only key) always matches the image.
    #[test]
    fn a_key_from_the_images_own_host_and_path_matches((labels, port, path) in image(),
        depth in 0usize..4, scheme in prop::sample::select(vec!["", "https://", "http://"])) {
        let name = image_name(&labels, port, &path);
        let depth = depth.min(path.len());
        let port_text = port.map(|p| format!(":{p}")).unwrap_or_default();
        let prefix = path[..depth].iter().map(|c| format!("/{c}")).collect::<String>();
        let suffix = if depth == 0 && !scheme.is_empty() { "/v2/" } else { "" };
        let server = format!("{scheme}{}{port_text}{prefix}{suffix}", labels.join("."));
        let keyring = one_key(&server);
        let image = parse_image(&name).unwrap();
        let lookup = keyring.lookup(&image);
        prop_assert_eq!(lookup.matches.len(), 1, "{} for {}: {}", server, name, lookup.why_not());
        // One label replaced by `*` still matches; one `*` label more never does.
        let mut wild = labels.clone();
        wild[0] = "*".into();
        prop_assert_eq!(one_key(&format!("{}{port_text}", wild.join("."))).lookup(&image).matches.len(), 1);
        let more = one_key(&format!("*.{}{port_text}", labels.join(".")));
        prop_assert_eq!(&more.lookup(&image).misses[0].reason,
            &MissReason::LabelCount { key: labels.len() + 1, image: labels.len() });
    }

    /// A key whose port differs from the image's (added, removed or changed) never matches,
    /// and the reason says so.
    #[test]
    fn a_port_change_never_matches((labels, port, path) in image(), other in prop::option::of(1u16..)) {
        prop_assume!(port != other);
        let name = image_name(&labels, port, &path);
        let key_port = other.map(|p| format!(":{p}")).unwrap_or_default();
        let keyring = one_key(&format!("{}{key_port}", labels.join(".")));
        let lookup = keyring.lookup(&parse_image(&name).unwrap());
        prop_assert!(lookup.matches.is_empty());
        prop_assert_eq!(&lookup.misses[0].reason, &MissReason::PortDiffers {
            key: other.map(|p| p.to_string()).unwrap_or_default(),
            image: port.map(|p| p.to_string()).unwrap_or_default(),
        });
    }

    /// Every key that matches is returned, in reverse lexicographic order of the keys.
    #[test]
    fn matches_come_in_reverse_key_order((labels, port, path) in image(), picks in prop::collection::vec(0usize..8, 1..6)) {
        let name = image_name(&labels, port, &path);
        let port_text = port.map(|p| format!(":{p}")).unwrap_or_default();
        let host = labels.join(".");
        let candidates: Vec<String> = (0..=path.len())
            .map(|d| format!("{host}{port_text}{}", path[..d].iter().map(|c| format!("/{c}")).collect::<String>()))
            .chain([format!("*.{}{port_text}", labels[1..].join("."))])
            .collect();
        let mut auths = serde_json::Map::new();
        for p in &picks {
            let key = &candidates[p % candidates.len()];
            auths.insert(key.clone(), serde_json::json!({"username": key, "password": "x"}));
        }
        let config = parse_config(Format::DockerConfigJson,
            serde_json::json!({"auths": auths}).to_string().as_bytes());
        let keyring = keyring_of(&config);
        let got = users(&keyring.lookup(&parse_image(&name).unwrap()));
        let mut expected: Vec<String> = auths.keys().cloned().collect();
        expected.sort_by(|a, b| b.cmp(a));
        prop_assert_eq!(got, expected);
    }

    /// Any user name without `:` and any password survive `auth` in both encodings.
    #[test]
    fn auth_round_trips_padded_and_unpadded(user in "[^:]{0,12}", password in ".{0,20}") {
        let text = format!("{user}:{password}");
        for encoded in [STANDARD.encode(&text), STANDARD_NO_PAD.encode(&text)] {
            prop_assert_eq!(decode_auth(&encoded), Ok((user.clone(), password.clone())));
        }
    }
}

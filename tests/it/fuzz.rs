//! Property tests over every parser that reads server or user input: `WWW-Authenticate`
//! challenges, JWT payloads, image references and names, pull-secret data, kubeconfig files,
//! the command line, and Cloud Controller and registry JSON (through the real clients against
//! the sandbox). None may panic; each case is bounded by the test runner's slow-timeout.
// See: issue 9 ("Also": a fuzz target over the parsers).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kubectl_dedicated_registry::{cli, cluster, jwt, manifests, registry};
use proptest::prelude::*;
use serde_json::Value;

/// Arbitrary JSON, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        ".{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("tokens".to_string()),
                    Just("_id".to_string()),
                    Just("token".to_string()),
                    Just("resources".to_string()),
                    Just("metadata".to_string()),
                    Just("entity".to_string()),
                    Just("guid".to_string()),
                    Just("name".to_string()),
                    Just("next_url".to_string()),
                    Just("auths".to_string()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn challenges_never_panic(header in ".{0,200}") {
        let _ = registry::v2::parse_challenge(&header);
    }

    #[test]
    fn quoted_challenge_parameters_round_trip(
        scheme in "(Bearer|Basic|bearer)",
        realm in "[ -~&&[^\"\\\\]]{0,40}",
        service in "[a-z0-9.,= ]{0,20}",
    ) {
        let header = format!(r#"{scheme} realm="{realm}",service="{service}""#);
        let challenge = registry::v2::parse_challenge(&header).expect("well-formed");
        prop_assert_eq!(challenge.scheme, scheme.to_ascii_lowercase());
        prop_assert_eq!(
            challenge.params,
            vec![("realm".to_string(), realm), ("service".to_string(), service)]
        );
    }

    #[test]
    fn jwt_payloads_never_panic(text in ".{0,120}", payload in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = jwt::claims(&text);
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload);
        let _ = jwt::claims(&format!("eyJ.{encoded}.sig"));
    }

    #[test]
    fn image_references_resolve_idempotently(input in "[a-zA-Z0-9./:@_-]{0,80}") {
        if let Ok(resolved) = manifests::resolve_image(&input, "registry.example") {
            let again = manifests::resolve_image(&resolved.full, "registry.example")
                .expect("a resolved reference resolves");
            prop_assert_eq!(again.full, resolved.full);
        }
    }

    #[test]
    fn accepted_names_are_kubernetes_names(name in ".{0,70}") {
        if manifests::validate_namespace(&name).is_ok() {
            prop_assert!(name.len() <= 63);
            prop_assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        }
        if manifests::validate_object_name("secret", &name).is_ok() {
            prop_assert!(!name.starts_with(['-', '.']) && !name.ends_with(['-', '.']));
        }
    }

    #[test]
    fn pull_secret_data_never_panics(value in json(), raw in prop::collection::vec(any::<u8>(), 0..64)) {
        for (key, bytes) in [
            (".dockerconfigjson", serde_json::to_vec(&value).unwrap()),
            (".dockercfg", serde_json::to_vec(&value).unwrap()),
            (".dockerconfigjson", raw),
        ] {
            let secret = Secret {
                data: Some(BTreeMap::from([(key.to_string(), ByteString(bytes))])),
                ..Default::default()
            };
            let _ = manifests::credentials(&secret);
            let _ = manifests::is_managed(&secret);
        }
    }

    #[test]
    fn command_lines_never_panic(words in prop::collection::vec("[-a-zA-Z0-9=./_ ]{0,12}", 0..8)) {
        use clap::Parser as _;
        let mut argv = vec!["kubectl-dedicated_registry".to_string()];
        argv.extend(words);
        if let Ok(parsed) = cli::Cli::try_parse_from(argv) {
            let _ = cli::settings::Settings::from_cli(parsed);
        }
    }
}

proptest! {
    // Each case writes a file and builds a client: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn kubeconfig_files_never_panic(text in "[a-z:\\- \\n{}\\[\\]\"0-9.]{0,200}") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, text).unwrap();
        let settings = cluster::KubeSettings {
            kubeconfig: Some(path),
            ..Default::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let _ = runtime.block_on(cluster::resolve(&settings));
    }
}

mod servers {
    //! The real clients against the sandbox answering arbitrary JSON.

    use dedicated_sandbox::{Fault, Service};
    use kubectl_dedicated_registry::providers::dedicated::{RegistryApi, cf};
    use kubectl_dedicated_registry::{http, registry};
    use proptest::prelude::*;
    use secrecy::SecretString;

    use crate::common::TestContext;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn registry_and_cloud_controller_json_never_panics(
            body in super::json(),
            status in prop_oneof![Just(200u16), Just(400), Just(401), Just(404), Just(500)],
        ) {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let ctx = TestContext::new();
            let client = http::client(Some(&ctx.sandbox.ca_file()), false).unwrap();
            let urls = ctx.sandbox.urls().clone();
            for (service, method, path) in [
                (Service::Registry, "GET", "/api/v1/tokens"),
                (Service::Registry, "POST", "/api/v1/tokens"),
                (Service::CloudController, "GET", "/v2/organizations"),
                (Service::CloudController, "GET", "/v3/organizations"),
                (Service::CloudController, "GET", "/v2/info"),
            ] {
                ctx.sandbox.inject(Fault::json(service, method, path, status, body.clone()));
            }
            let access = SecretString::from("not-a-real-token");
            ctx.runtime.block_on(async {
                let api = RegistryApi::new(
                    client.clone(),
                    &urls.registry_host,
                    access.clone(),
                    "org",
                );
                let _ = api.list().await;
                let _ = api.mint(true, registry::Access::ReadOnly, "d").await;
                let _ = api.ownership("0f6b1c2e-1111-2222-3333-444455556666", None, "d").await;
                let _ = cf::orgs(&client, &urls.api, &access, None).await;
                let _ = cf::orgs(&client, &urls.api, &access, Some("dev-org")).await;
                let _ = cf::discover(&client, &urls.api).await;
            });
        }
    }
}

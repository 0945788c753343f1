//! The icr.io front of the sandbox (icr-protocol.md §5): every domain on one listener routed by
//! `Host`, Docker v2 token auth decided by IAM policies, `/api/v1`, faults, journal, variants.

mod ibm_common;

use dedicated_sandbox::{Fault, SandboxConfig, Service, Variant};
use ibm_common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SCHEMA2: &str = "application/vnd.docker.distribution.manifest.v2+json";

#[tokio::test(flavor = "multi_thread")]
async fn every_domain_is_served_by_host_under_one_certificate() {
    let ctx = start_default().await;
    let domains = dedicated_sandbox::icr::served_domains(&ctx.sandbox.world.config);
    assert_eq!(
        domains.len(),
        26,
        "13 public domains and their private twins: {domains:?}"
    );
    assert!(domains.contains(&"private.us.icr.io".to_string()));
    let port = ctx
        .sandbox
        .urls()
        .icr_address
        .rsplit_once(':')
        .unwrap()
        .1
        .to_string();
    for domain in &domains {
        let response = ctx
            .client
            .get(format!("{}/v2/", ctx.sandbox.icr_url(domain)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{domain}: {e}"));
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{domain}");
        assert_eq!(
            response.headers()["www-authenticate"],
            format!("Bearer realm=https://{domain}:{port}/oauth/token, service=registry").as_str(),
        );
        assert_eq!(
            response.headers()["docker-distribution-api-version"],
            "registry/2.0"
        );
    }
    // fr2 is in the certificate but served only with its variant.
    let fr2 = ctx
        .client
        .get(format!("{}/v2/", ctx.sandbox.icr_url("fr2.icr.io")))
        .send()
        .await
        .unwrap();
    assert_eq!(fr2.status(), StatusCode::MISDIRECTED_REQUEST);
    let by_address = ctx
        .client
        .get(format!("{}/v2/", ctx.sandbox.urls().icr))
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_address.status(),
        StatusCode::MISDIRECTED_REQUEST,
        "no icr.io name, no registry"
    );
    let with_fr2 = start(with_variants(&[Variant::IcrFr2])).await;
    let fr2 = with_fr2
        .client
        .get(format!(
            "{}/v2/",
            with_fr2.sandbox.icr_url("private.fr2.icr.io")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(fr2.status(), StatusCode::UNAUTHORIZED);
    assert!(with_fr2.sandbox.icr_resolve().contains("fr2.icr.io="));
    assert!(!ctx.sandbox.icr_resolve().contains("fr2.icr.io="));
    assert!(
        ctx.sandbox
            .icr_resolve()
            .starts_with(&format!("icr.io={},", ctx.sandbox.urls().icr_address))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_namespace_reader_pulls_its_namespace_in_its_region_only() {
    let ctx = start_default().await;
    let (_, key) = ctx.reader(Some(ICR_NAMESPACE), Some("us-south")).await;
    let scope = format!("repository:{ICR_NAMESPACE}/app:pull");
    let (status, _, body) = ctx.realm("us.icr.io", "iamapikey", &key, &scope).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token"], body["access_token"]);
    assert_eq!(body["expires_in"], 300);
    assert!(body["issued_at"].is_string());
    let bearer = body["token"].as_str().unwrap().to_string();
    assert_eq!(
        claims(&bearer)["access"],
        json!([{"type": "repository", "name": "team-ns/app", "actions": ["pull"]}])
    );
    assert_eq!(
        ctx.granted("us.icr.io", &key, "repository:team-ns/app:pull,push")
            .await,
        ["pull"],
        "Reader cannot push"
    );
    assert!(
        ctx.granted("us.icr.io", &key, "repository:other-ns/tool:pull")
            .await
            .is_empty()
    );
    assert!(
        ctx.granted("de.icr.io", &key, "repository:de-ns/app:pull")
            .await
            .is_empty(),
        "us-south only"
    );
    assert!(
        ctx.granted("us.icr.io", &key, "repository:b-ns/app:pull")
            .await
            .is_empty(),
        "another account"
    );
    assert_eq!(
        ctx.granted("private.us.icr.io", &key, &scope).await,
        ["pull"]
    );

    let us = ctx.sandbox.icr_url("us.icr.io");
    let manifest = ctx
        .client
        .head(format!("{us}/v2/team-ns/app/manifests/1.0"))
        .bearer_auth(&bearer)
        .header("accept", SCHEMA2)
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.status(), StatusCode::OK);
    let expected = ctx
        .sandbox
        .world
        .icr
        .digest("us-south", "team-ns/app", "1.0")
        .unwrap();
    assert_eq!(
        manifest.headers()["docker-content-digest"],
        expected.as_str()
    );
    let tags: Value = ctx
        .client
        .get(format!("{us}/v2/team-ns/app/tags/list"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        tags,
        json!({"name": "team-ns/app", "tags": ["1.0", "latest"]})
    );
    let unknown_tag = ctx
        .client
        .get(format!("{us}/v2/team-ns/app/manifests/nope"))
        .bearer_auth(&bearer)
        .header("accept", SCHEMA2)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_tag.status(), StatusCode::NOT_FOUND);
    // The bearer covers only what it was issued for, and only at its domain.
    let denied = ctx
        .client
        .get(format!("{us}/v2/other-ns/tool/manifests/2.0"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    let challenge = denied.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.ends_with("scope=repository:other-ns/tool:pull, error=insufficient_scope"),
        "{challenge}"
    );
    let body: Value = denied.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "DENIED");
    let elsewhere = ctx
        .client
        .head(format!(
            "{}/v2/team-ns/app/manifests/1.0",
            ctx.sandbox.icr_url("de.icr.io")
        ))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(
        elsewhere.status(),
        StatusCode::UNAUTHORIZED,
        "a us.icr.io bearer at de.icr.io"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_realm_refuses_what_the_docs_say_it_refuses() {
    let ctx = start_default().await;
    let (service, key) = ctx.reader(Some(ICR_NAMESPACE), None).await;
    let scope = "repository:team-ns/app:pull";
    let url = format!("{}/oauth/token", ctx.sandbox.icr_url("us.icr.io"));
    let anonymous = ctx
        .client
        .get(&url)
        .query(&[("service", "registry"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        StatusCode::UNAUTHORIZED,
        "no credentials: 401"
    );
    for (user, password) in [
        ("iamapikey", "wrong-key"),
        ("token", key.as_str()),
        ("iamapikeys", key.as_str()),
    ] {
        let (status, _, body) = ctx.realm("us.icr.io", user, password, scope).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{user}: a wrong combination is 400"
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("not valid"),
            "{body}"
        );
    }
    let wrong_service = ctx
        .client
        .get(&url)
        .query(&[("service", "us.icr.io"), ("scope", scope)])
        .basic_auth("iamapikey", Some(&key))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_service.status(), StatusCode::BAD_REQUEST);
    // iambearer (the service ID's IAM token) and iamrefresh work too; POST with a form too.
    let (_, _, tokens) = ctx
        .token_request(&[("grant_type", APIKEY_GRANT), ("apikey", &key)])
        .await;
    for (user, secret) in [
        ("iambearer", "access_token"),
        ("iamrefresh", "refresh_token"),
    ] {
        let (status, _, body) = ctx
            .realm("us.icr.io", user, tokens[secret].as_str().unwrap(), scope)
            .await;
        assert_eq!(status, StatusCode::OK, "{user}: {body}");
        assert_eq!(
            claims(body["token"].as_str().unwrap())["sub"],
            service["iam_id"]
        );
    }
    let posted: Value = ctx
        .client
        .post(&url)
        .form(&[
            ("grant_type", "password"),
            ("username", "iamapikey"),
            ("password", key.as_str()),
            ("service", "registry"),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        claims(posted["token"].as_str().unwrap())["access"][0]["actions"],
        json!(["pull"])
    );
    // Locked keys still work; disabled and deleted ones do not.
    let admin = ctx.iam_token(DANA_API_KEY).await;
    let id = ctx
        .sandbox
        .world
        .iam
        .live_api_keys(service["iam_id"].as_str().unwrap())[0]
        .id
        .clone();
    ctx.send(
        Method::POST,
        &ctx.iam(&format!("/v1/apikeys/{id}/lock")),
        &admin,
        None,
        &[],
    )
    .await;
    assert_eq!(
        ctx.realm("us.icr.io", "iamapikey", &key, scope).await.0,
        StatusCode::OK,
        "locked"
    );
    ctx.send(
        Method::POST,
        &ctx.iam(&format!("/v1/apikeys/{id}/disable")),
        &admin,
        None,
        &[],
    )
    .await;
    assert_eq!(
        ctx.realm("us.icr.io", "iamapikey", &key, scope).await.0,
        StatusCode::BAD_REQUEST,
        "disabled"
    );
    ctx.send(
        Method::DELETE,
        &ctx.iam(&format!("/v1/apikeys/{id}/disable")),
        &admin,
        None,
        &[],
    )
    .await;
    assert_eq!(
        ctx.realm("us.icr.io", "iamapikey", &key, scope).await.0,
        StatusCode::OK,
        "enabled again"
    );
    assert!(ctx.sandbox.world.iam.delete_api_key(&id), "deleted by hand");
    assert_eq!(
        ctx.realm("us.icr.io", "iamapikey", &key, scope).await.0,
        StatusCode::BAD_REQUEST,
        "deleted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn account_wide_policies_wildcards_writers_and_unenforced_accounts() {
    let ctx = start_default().await;
    let (_, everywhere) = ctx.reader(None, None).await;
    for (domain, scope) in [
        ("us.icr.io", "repository:other-ns/tool:pull"),
        ("de.icr.io", "repository:de-ns/app:pull"),
        ("icr.io", "repository:global-ns/base:pull"),
    ] {
        assert_eq!(
            ctx.granted(domain, &everywhere, scope).await,
            ["pull"],
            "{domain}"
        );
    }
    let admin = ctx.iam_token(DANA_API_KEY).await;
    let service = ctx.service_id(&admin, "wild").await;
    let iam_id = service["iam_id"].as_str().unwrap();
    let policy = json!({
        "type": "access",
        "control": {"grant": {"roles": [{"role_id": WRITER}]}},
        "subject": {"attributes": [{"key": "iam_id", "operator": "stringEquals", "value": iam_id}]},
        "resource": {"attributes": [
            {"key": "accountId", "operator": "stringEquals", "value": IBM_ACCOUNT},
            {"key": "serviceName", "operator": "stringEquals", "value": "container-registry"},
            {"key": "resourceType", "operator": "stringEquals", "value": "namespace"},
            {"key": "resource", "operator": "stringMatch", "value": "team-*"},
        ]},
    });
    assert_eq!(
        ctx.post("/v2/policies", &admin, policy).await.0,
        StatusCode::CREATED
    );
    let key = ctx.api_key(&admin, iam_id).await["apikey"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        ctx.granted("us.icr.io", &key, "repository:team-ns/app:pull,push")
            .await,
        ["pull", "push"]
    );
    assert!(
        ctx.granted("us.icr.io", &key, "repository:other-ns/tool:pull")
            .await
            .is_empty()
    );
    // A deleted policy grants nothing.
    let policy_id = ctx
        .sandbox
        .world
        .iam
        .policies()
        .iter()
        .find(|p| p.subject == iam_id)
        .unwrap()
        .id
        .clone();
    ctx.send(
        Method::DELETE,
        &ctx.iam(&format!("/v2/policies/{policy_id}")),
        &admin,
        None,
        &[],
    )
    .await;
    assert!(
        ctx.granted("us.icr.io", &key, "repository:team-ns/app:pull")
            .await
            .is_empty()
    );

    // An account that does not enforce IAM policies lets every identity in.
    let mut config = SandboxConfig::default();
    config.ibm.accounts[0].iam_policies_enforced = false;
    let open = start(config).await;
    let admin = open.iam_token(DANA_API_KEY).await;
    let service = open.service_id(&admin, "nopolicy").await;
    let key = open
        .api_key(&admin, service["iam_id"].as_str().unwrap())
        .await["apikey"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        open.granted("us.icr.io", &key, "repository:other-ns/tool:pull")
            .await,
        ["pull"]
    );
}

async fn api(
    ctx: &Ctx,
    domain: &str,
    path: &str,
    token: &str,
    account: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = ctx
        .client
        .get(format!("{}{path}", ctx.sandbox.icr_url(domain)))
        .bearer_auth(token);
    if let Some(a) = account {
        request = request.header("Account", a);
    }
    let (status, _, body) = answer(request.send().await.unwrap()).await;
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn api_v1_lists_what_the_identity_may_read() {
    let ctx = start_default().await;
    let (_, key) = ctx.reader(Some(ICR_NAMESPACE), None).await;
    let token = ctx.iam_token(&key).await;
    let account = Some(IBM_ACCOUNT);
    assert_eq!(
        api(&ctx, "us.icr.io", "/api/v1/namespaces", &token, account).await,
        (StatusCode::OK, json!([ICR_NAMESPACE]))
    );
    let (status, images) = api(&ctx, "us.icr.io", "/api/v1/images", &token, account).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        images.as_array().unwrap().len(),
        2,
        "1.0 and latest: {images}"
    );
    let digest = ctx
        .sandbox
        .world
        .icr
        .digest("us-south", "team-ns/app", "1.0")
        .unwrap();
    let one = images
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["RepoTags"] == json!(["us.icr.io/team-ns/app:1.0"]))
        .expect("1.0 listed");
    assert_eq!(
        one["RepoDigests"],
        json!([format!("us.icr.io/team-ns/app@{digest}")])
    );
    let (_, details) = api(
        &ctx,
        "us.icr.io",
        "/api/v1/namespaces/details",
        &token,
        account,
    )
    .await;
    assert_eq!(details[0]["name"], ICR_NAMESPACE);
    assert_eq!(details[0]["account"], IBM_ACCOUNT);
    assert_eq!(
        api(&ctx, "de.icr.io", "/api/v1/namespaces", &token, account)
            .await
            .1,
        json!([])
    );
    let admin = ctx.iam_token(DANA_API_KEY).await;
    assert_eq!(
        api(&ctx, "us.icr.io", "/api/v1/namespaces", &admin, account)
            .await
            .1,
        json!([ICR_OTHER_NAMESPACE, ICR_NAMESPACE])
    );
    assert_eq!(
        api(&ctx, "icr.io", "/api/v1/namespaces", &admin, account)
            .await
            .1,
        json!([ICR_GLOBAL_NAMESPACE])
    );
    assert_eq!(
        api(
            &ctx,
            "de.icr.io",
            "/api/v1/images?namespace=de-ns",
            &admin,
            account
        )
        .await
        .1[0]["RepoTags"],
        json!(["de.icr.io/de-ns/app:1.0"])
    );
    // Errors.
    let (status, body) = api(&ctx, "us.icr.io", "/api/v1/namespaces", &token, None).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the Account header is required: {body}"
    );
    let (status, body) = api(
        &ctx,
        "us.icr.io",
        "/api/v1/namespaces",
        &token,
        Some(IBM_OTHER_ACCOUNT),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("CRG0009E"))
    );
    let (status, body) = api(&ctx, "us.icr.io", "/api/v1/namespaces", "garbage", account).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("CRG0014E"))
    );
    assert!(body["request-id"].is_string());
    let (status, _) = api(
        &ctx,
        "us.icr.io",
        "/api/v1/images?includeIBM=yes",
        &token,
        account,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // INFERRED: a namespace-scoped identity may see nothing in the list.
    let unlisted = start(with_variants(&[Variant::IcrNamespacesUnlisted])).await;
    let (_, key) = unlisted.reader(Some(ICR_NAMESPACE), None).await;
    let token = unlisted.iam_token(&key).await;
    assert_eq!(
        api(
            &unlisted,
            "us.icr.io",
            "/api/v1/namespaces",
            &token,
            account
        )
        .await
        .1,
        json!([])
    );
    let admin = unlisted.iam_token(DANA_API_KEY).await;
    assert_eq!(
        api(
            &unlisted,
            "us.icr.io",
            "/api/v1/namespaces",
            &admin,
            account
        )
        .await
        .1
        .as_array()
        .unwrap()
        .len(),
        2
    );
    assert_eq!(
        unlisted
            .granted("us.icr.io", &key, "repository:team-ns/app:pull")
            .await,
        ["pull"],
        "pulls still work"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn inferred_realm_and_policy_behaviours_each_way() {
    let default = start_default().await;
    let (_, key) = default.reader(Some(ICR_NAMESPACE), Some("us-south")).await;
    assert_eq!(
        default
            .granted("us.icr.io", &key, "repository:team-ns/app:pull")
            .await,
        ["pull"]
    );

    let other = start(with_variants(&[
        Variant::IcrRealmTokenOnly,
        Variant::IcrRealmQuoted,
        Variant::PolicyRegionUnmatched,
    ]))
    .await;
    let (_, key) = other.reader(Some(ICR_NAMESPACE), Some("us-south")).await;
    let (status, _, body) = other
        .realm(
            "us.icr.io",
            "iamapikey",
            &key,
            "repository:team-ns/app:pull",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["token"].is_string() && body.get("access_token").is_none(),
        "{body}"
    );
    assert_eq!(
        claims(body["token"].as_str().unwrap())["access"][0]["actions"],
        json!([]),
        "region policies match nothing"
    );
    let (_, key_everywhere) = other.reader(None, None).await;
    assert_eq!(
        other
            .granted("us.icr.io", &key_everywhere, "repository:team-ns/app:pull")
            .await,
        ["pull"]
    );
    let v2 = other
        .client
        .get(format!("{}/v2/", other.sandbox.icr_url("us.icr.io")))
        .send()
        .await
        .unwrap();
    let port = other
        .sandbox
        .urls()
        .icr_address
        .rsplit_once(':')
        .unwrap()
        .1
        .to_string();
    assert_eq!(
        v2.headers()["www-authenticate"],
        format!("Bearer realm=\"https://us.icr.io:{port}/oauth/token\",service=\"registry\"")
            .as_str()
    );

    // Service ID keys: a real refresh token by default, `not_supported` with the variant.
    let (_, _, tokens) = default
        .token_request(&[
            ("grant_type", APIKEY_GRANT),
            ("apikey", &default.reader(None, None).await.1),
        ])
        .await;
    assert_eq!(tokens["refresh_token"].as_str().unwrap().len(), 120);
    let lax = start(with_variants(&[Variant::ServiceIdRefreshNotSupported])).await;
    let (_, key) = lax.reader(None, None).await;
    let (_, _, tokens) = lax
        .token_request(&[("grant_type", APIKEY_GRANT), ("apikey", &key)])
        .await;
    assert_eq!(tokens["refresh_token"], "not_supported");
    assert!(tokens.get("refresh_token_expiration").is_none());
    let (_, _, user) = lax
        .token_request(&[("grant_type", APIKEY_GRANT), ("apikey", DANA_API_KEY)])
        .await;
    assert_ne!(user["refresh_token"], "not_supported", "users keep theirs");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_key_is_refused_while_policies_propagate() {
    let mut config = SandboxConfig::default();
    config.ibm.new_key_refusals = 2;
    let ctx = start(config).await;
    let (_, key) = ctx.reader(Some(ICR_NAMESPACE), None).await;
    let scope = "repository:team-ns/app:pull";
    assert_eq!(
        ctx.realm("us.icr.io", "iamapikey", &key, scope).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        ctx.realm("us.icr.io", "iamapikey", &key, scope).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        ctx.granted("us.icr.io", &key, scope).await,
        ["pull"],
        "then it works"
    );
    // The key itself was valid at IAM all along.
    ctx.iam_token(&key).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_match_one_domain_and_the_journal_redacts_keys() {
    let ctx = start_default().await;
    let (_, key) = ctx.reader(None, None).await;
    ctx.sandbox.inject(
        Fault::json(
            Service::Icr,
            "GET",
            "/oauth/token",
            503,
            json!({"errors": [{"code": "UNAVAILABLE"}]}),
        )
        .on_host("de.icr.io")
        .times(1),
    );
    let scope = "repository:de-ns/app:pull";
    assert_eq!(
        ctx.realm("de.icr.io", "iamapikey", &key, scope).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        ctx.realm(
            "us.icr.io",
            "iamapikey",
            &key,
            "repository:team-ns/app:pull"
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        ctx.realm("de.icr.io", "iamapikey", &key, scope).await.0,
        StatusCode::OK,
        "times(1)"
    );
    let icr = ctx.sandbox.journal().for_service(Service::Icr);
    assert_eq!(icr.len(), 3);
    assert_eq!(
        icr.iter().map(|e| e.status).collect::<Vec<_>>(),
        [503, 200, 200]
    );
    let port = ctx
        .sandbox
        .urls()
        .icr_address
        .rsplit_once(':')
        .unwrap()
        .1
        .to_string();
    assert_eq!(
        icr[0].header("host"),
        Some(format!("de.icr.io:{port}").as_str())
    );
    let redacted = icr[0].header("authorization").unwrap();
    assert_eq!(
        redacted,
        format!("Basic iamapikey: {}", dedicated_sandbox::fingerprint(&key))
    );
    // Where the key went: the realm requests only (the creation answer is not a request).
    let holding = ctx.sandbox.journal().containing(&key);
    assert_eq!(holding.len(), 3);
    assert!(
        holding
            .iter()
            .all(|e| e.service == Service::Icr && e.path == "/oauth/token")
    );
    // The IAM side: form secrets fingerprinted, every request journaled with its status.
    ctx.iam_token(&key).await;
    let token_request = ctx
        .sandbox
        .journal()
        .for_service(Service::Iam)
        .into_iter()
        .last()
        .unwrap();
    assert_eq!(
        token_request.form_field("apikey"),
        Some(dedicated_sandbox::fingerprint(&key).as_str())
    );
    assert_eq!(token_request.status, 200);
    let creations = ctx.sandbox.journal().for_service(Service::Iam);
    assert!(
        creations
            .iter()
            .any(|e| e.path == "/v1/serviceids/" && e.status == 201)
    );
    assert!(
        creations
            .iter()
            .any(|e| e.path == "/v1/policies" && e.status == 201)
    );
    // Faults on the Identity API, e.g. the 409 a delete can answer.
    ctx.sandbox.inject(
        Fault::json(
            Service::Iam,
            "DELETE",
            "/v1/serviceids/*",
            409,
            json!({"errors": [{"code": "conflict"}]}),
        )
        .times(1),
    );
    let admin = ctx.iam_token(DANA_API_KEY).await;
    let service = ctx.service_id(&admin, "f").await;
    let path = ctx.iam(&format!(
        "/v1/serviceids/{}",
        service["id"].as_str().unwrap()
    ));
    assert_eq!(
        ctx.send(Method::DELETE, &path, &admin, None, &[]).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        ctx.send(Method::DELETE, &path, &admin, None, &[]).await.0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_port_443_the_real_names_need_no_port() {
    let mut config = SandboxConfig::default();
    config.ibm.icr_on_port_443 = Some(std::net::Ipv4Addr::new(127, 0, 0, 41));
    let ctx = start(config).await;
    assert_eq!(ctx.sandbox.urls().icr_address, "127.0.0.41:443");
    assert_eq!(ctx.sandbox.icr_url("us.icr.io"), "https://us.icr.io");
    assert!(
        ctx.sandbox
            .icr_resolve()
            .contains("us.icr.io=127.0.0.41:443")
    );
    let response = ctx
        .client
        .get("https://us.icr.io/v2/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=https://us.icr.io/oauth/token, service=registry"
    );
    let (_, key) = ctx.reader(Some(ICR_NAMESPACE), None).await;
    let (status, _, body) = ctx
        .realm(
            "us.icr.io",
            "iamapikey",
            &key,
            "repository:team-ns/app:pull",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(claims(body["token"].as_str().unwrap())["aud"], "us.icr.io");
}

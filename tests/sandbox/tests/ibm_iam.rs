//! The public IBM Cloud IAM of the sandbox (icr-protocol.md §1–§3): token grants, the Identity
//! API and the Policy API, through a real HTTPS client.

mod ibm_common;

use dedicated_sandbox::Variant;
use ibm_common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn apikey_grant_answers_like_iam_and_its_errors_have_iam_shape() {
    let ctx = start_default().await;
    let (status, _, body) = ctx
        .token_request(&[
            ("grant_type", APIKEY_GRANT),
            ("apikey", DANA_API_KEY),
            ("response_type", "cloud_iam"),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "refresh_token",
            "ims_user_id",
            "token_type",
            "expires_in",
            "expiration",
            "refresh_token_expiration",
            "scope"
        ]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = claims(body["access_token"].as_str().unwrap());
    assert_eq!(token["account"]["bss"], IBM_ACCOUNT);
    assert_eq!(token["iam_id"], "IBMid-2700DANA01");
    assert_eq!(token["email"], DANA);
    assert_eq!(token["exp"], body["expiration"]);
    assert_eq!(token["client_id"], "bx");
    // `account=` picks another of the user's accounts; a foreign one is refused.
    let (_, _, other) = ctx
        .token_request(&[
            ("grant_type", APIKEY_GRANT),
            ("apikey", DANA_API_KEY),
            ("account", IBM_OTHER_ACCOUNT),
        ])
        .await;
    assert_eq!(
        claims(other["access_token"].as_str().unwrap())["account"]["bss"],
        IBM_OTHER_ACCOUNT
    );
    let (status, _, body) = ctx
        .token_request(&[
            ("grant_type", APIKEY_GRANT),
            ("apikey", ERIN_API_KEY),
            ("account", IBM_OTHER_ACCOUNT),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "BXNIM0355E");
    assert_eq!(
        body["errorMessage"],
        format!("BSS Account '{IBM_OTHER_ACCOUNT}' was not found.")
    );
    // A wrong key: 400, the documented body and header.
    let (status, headers, body) = ctx
        .token_request(&[("grant_type", APIKEY_GRANT), ("apikey", "no-such-key")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "BXNIM0415E");
    assert_eq!(body["errorMessage"], "Provided API key could not be found");
    assert_eq!(body["context"]["requestType"], "incoming.Identity_Token");
    assert!(
        body["context"]["requestId"]
            .as_str()
            .is_some_and(|r| r.len() == 32)
    );
    assert_eq!(headers["ibm-cloud-service-name"], "iam-identity");
    // `cloud_iam,uaa` is the historic bug of bluemix-go #87.
    let (status, _, body) = ctx
        .token_request(&[
            ("grant_type", APIKEY_GRANT),
            ("apikey", DANA_API_KEY),
            ("response_type", "cloud_iam,uaa"),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "BXNIM0106E");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Valid values: 'cloud_iam'")
    );
    let (_, _, body) = ctx.token_request(&[("apikey", DANA_API_KEY)]).await;
    assert_eq!(body["errorCode"], "BXNIM0109E");
    let wrong_client = ctx
        .client
        .post(ctx.iam("/identity/token"))
        .basic_auth("bx", Some("nope"))
        .form(&[("grant_type", APIKEY_GRANT), ("apikey", DANA_API_KEY)])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_client.status(), StatusCode::UNAUTHORIZED);
    // The tokens issued are listed for leak searches.
    assert_eq!(ctx.sandbox.world.iam.access_tokens().len(), 2);
}

/// Grants without Basic auth: the `default` client.
async fn default_client(ctx: &Ctx, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let (status, _, body) = answer(
        ctx.client
            .post(ctx.iam("/identity/token"))
            .form(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_needs_the_original_client_and_never_works_for_default() {
    let ctx = start_default().await;
    let (_, _, bx) = ctx
        .token_request(&[("grant_type", APIKEY_GRANT), ("apikey", DANA_API_KEY)])
        .await;
    let bx_refresh = bx["refresh_token"].as_str().unwrap();
    let (status, _, body) = ctx
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", bx_refresh),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["account"]["bss"],
        IBM_ACCOUNT
    );
    // A refresh may switch the account (the CLI's `SetAccount`).
    let (_, _, switched) = ctx
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", bx_refresh),
            ("account", IBM_OTHER_ACCOUNT),
        ])
        .await;
    assert_eq!(
        claims(switched["access_token"].as_str().unwrap())["account"]["bss"],
        IBM_OTHER_ACCOUNT
    );
    let (status, body) = default_client(
        &ctx,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", bx_refresh),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], "BXNIM0137E");
    // The go-sdk-core way: no Basic; the key works, its refresh token never does.
    let (status, plain) = default_client(
        &ctx,
        &[("grant_type", APIKEY_GRANT), ("apikey", DANA_API_KEY)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        claims(plain["access_token"].as_str().unwrap())["client_id"],
        "default"
    );
    let (status, _, body) = ctx
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", plain["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["errorMessage"],
        "For the original authentication, client id 'default' was passed, refresh the token, client id 'bx' is used."
    );
    // Nor with the `default` client itself.
    let (status, body) = default_client(
        &ctx,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", plain["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(
        (status, &body["errorCode"]),
        (StatusCode::BAD_REQUEST, &json!("BXNIM0137E"))
    );
    let (_, _, body) = ctx
        .token_request(&[("grant_type", "refresh_token"), ("refresh_token", "forged")])
        .await;
    assert_eq!(body["errorCode"], "BXNIM0407E");
    ctx.sandbox.world.iam.revoke_refresh_tokens();
    let (_, _, body) = ctx
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", bx_refresh),
        ])
        .await;
    assert_eq!(body["errorCode"], "BXNIM0407E", "revoked");

    // The other plausible behaviour: any client may refresh.
    let lax = start(with_variants(&[Variant::IamRefreshAnyClient])).await;
    let (_, plain) = default_client(
        &lax,
        &[("grant_type", APIKEY_GRANT), ("apikey", DANA_API_KEY)],
    )
    .await;
    let (status, _, body) = lax
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", plain["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn passcode_grant_is_single_use_and_discovery_names_the_page() {
    let ctx = start_default().await;
    let discovery: Value = ctx
        .client
        .get(ctx.iam("/identity/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["passcode_endpoint"],
        ctx.iam("/identity/passcode")
    );
    assert_eq!(discovery["token_endpoint"], ctx.iam("/identity/token"));
    let code: String = ctx
        .client
        .get(ctx.iam("/identity/passcode"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ctx.sandbox.world.iam.unused_passcodes(), 1);
    let grant = [
        ("grant_type", "urn:ibm:params:oauth:grant-type:passcode"),
        ("passcode", code.as_str()),
    ];
    let (status, _, body) = ctx.token_request(&grant).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = claims(body["access_token"].as_str().unwrap());
    assert_eq!(token["email"], FRANK);
    assert_eq!(token["account"]["bss"], IBM_ACCOUNT);
    let (status, _, body) = ctx.token_request(&grant).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a passcode works once");
    assert_eq!(body["errorCode"], "BXNIM0440E");
    // The password grant exists but nobody here has an IBMid password.
    let (_, _, body) = ctx
        .token_request(&[
            ("grant_type", "password"),
            ("username", DANA),
            ("password", "x"),
        ])
        .await;
    assert_eq!(body["errorCode"], "BXNIM0602E");
}

#[tokio::test(flavor = "multi_thread")]
async fn service_ids_page_filter_and_update_with_if_match() {
    let ctx = start_default().await;
    let admin = ctx.iam_token(DANA_API_KEY).await;
    let mut created = Vec::new();
    for i in 0..5 {
        let name = if i < 2 {
            "cluster-abc".to_string()
        } else {
            format!("other-{i}")
        };
        created.push(
            ctx.service_id(&admin, &name).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // Follow `next` with pagesize 2: 2 + 2 + 1, every id once, `previous` from page 2 on.
    let mut url = ctx.iam(&format!(
        "/v1/serviceids/?account_id={IBM_ACCOUNT}&pagesize=2"
    ));
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, _, body) = ctx.get(&url, &admin).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        assert_eq!(body["limit"], 2);
        assert_eq!(body.get("previous").is_some(), pages > 1, "{body}");
        seen.extend(
            body["serviceids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string()),
        );
        match body["next"].as_str() {
            Some(next) => {
                assert!(
                    next.contains("pagetoken=") && next.contains("pagesize=2"),
                    "{next}"
                );
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);
    let (_, _, named) = ctx
        .get(
            &ctx.iam(&format!(
                "/v1/serviceids/?account_id={IBM_ACCOUNT}&name=cluster-abc"
            )),
            &admin,
        )
        .await;
    assert_eq!(
        named["serviceids"].as_array().unwrap().len(),
        2,
        "names are not unique"
    );
    let (status, _, body) = ctx.get(&ctx.iam("/v1/serviceids/"), &admin).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "account_id is required: {body}"
    );
    let (status, _, _) = ctx
        .get(
            &ctx.iam(&format!("/v1/serviceids/?account_id={IBM_OTHER_ACCOUNT}")),
            &admin,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the token's account only");
    let (status, _, _) = ctx
        .get(
            &ctx.iam(&format!(
                "/v1/serviceids/?account_id={IBM_ACCOUNT}&pagesize=101"
            )),
            &admin,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // PUT: If-Match required, stale tags refused, the tag moves on.
    let id = &created[0];
    let path = ctx.iam(&format!("/v1/serviceids/{id}"));
    let (_, _, current) = ctx.get(&path, &admin).await;
    let tag = current["entity_tag"].as_str().unwrap().to_string();
    assert!(tag.starts_with("1-"), "{tag}");
    let change = json!({"name": "renamed", "description": "new"});
    let (status, _, body) = ctx
        .send(Method::PUT, &path, &admin, Some(change.clone()), &[])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, body) = ctx
        .send(
            Method::PUT,
            &path,
            &admin,
            Some(change.clone()),
            &[("if-match", "0-stale")],
        )
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{body}");
    let (status, _, body) = ctx
        .send(
            Method::PUT,
            &path,
            &admin,
            Some(change.clone()),
            &[("if-match", &tag)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "renamed");
    assert!(body["entity_tag"].as_str().unwrap().starts_with("2-"));
    let (status, _, _) = ctx
        .send(
            Method::PUT,
            &path,
            &admin,
            Some(change),
            &[("if-match", &tag)],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::PRECONDITION_FAILED,
        "the old tag is stale now"
    );

    // Lock: no delete (409) until unlocked; then 204 and the documented 404 body.
    let lock = ctx.iam(&format!("/v1/serviceids/{id}/lock"));
    assert_eq!(
        ctx.send(Method::POST, &lock, &admin, None, &[]).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ctx.send(Method::DELETE, &path, &admin, None, &[]).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        ctx.send(Method::DELETE, &lock, &admin, None, &[]).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ctx.send(Method::DELETE, &path, &admin, None, &[]).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, headers, body) = ctx.get(&path, &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["errors"][0]["code"], "not_found");
    assert_eq!(body["errors"][0]["message_code"], "BXNIM0102E");
    assert_eq!(body["status_code"], 404);
    assert!(headers.contains_key("transaction-id"));
}

#[tokio::test(flavor = "multi_thread")]
async fn rights_and_account_scoping() {
    let ctx = start_default().await;
    let erin = ctx.iam_token(ERIN_API_KEY).await;
    let (status, _, body) = ctx
        .post(
            "/v1/serviceids/",
            &erin,
            json!({"account_id": IBM_ACCOUNT, "name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("'Service ID creator'"),
        "{body}"
    );
    let admin = ctx.iam_token(DANA_API_KEY).await;
    let service = ctx.service_id(&admin, "cluster-a").await;
    let (status, _, body) = ctx
        .policy_v1(
            &erin,
            service["iam_id"].as_str().unwrap(),
            READER,
            Some(ICR_NAMESPACE),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["errors"][0]["code"], "insufficent_permissions");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Administrator role on the service container-registry")
    );
    // Dana's token for the other account does not see the first account's service ID.
    let (_, _, other) = ctx
        .token_request(&[
            ("grant_type", APIKEY_GRANT),
            ("apikey", DANA_API_KEY),
            ("account", IBM_OTHER_ACCOUNT),
        ])
        .await;
    let other = other["access_token"].as_str().unwrap();
    let (status, _, _) = ctx
        .get(
            &ctx.iam(&format!(
                "/v1/serviceids/{}",
                service["id"].as_str().unwrap()
            )),
            other,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = ctx
        .get(
            &ctx.iam(&format!("/v1/serviceids/?account_id={IBM_ACCOUNT}")),
            "garbage",
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errors"][0]["message_code"], "BXNIM0407E");
    // A Dedicated user's IAM token has no account: refused.
    let (_, _, dedicated) = ctx
        .token_request(&[("grant_type", APIKEY_GRANT), ("apikey", ALICE_API_KEY)])
        .await;
    let (status, _, _) = ctx
        .get(
            &ctx.iam(&format!("/v1/serviceids/?account_id={IBM_ACCOUNT}")),
            dedicated["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_are_shown_once_limited_and_authenticate_their_service_id() {
    let mut config = dedicated_sandbox::SandboxConfig::default();
    config.ibm.limits.api_keys_per_identity = 3;
    let ctx = start(config).await;
    let admin = ctx.iam_token(DANA_API_KEY).await;
    let service = ctx.service_id(&admin, "cluster-k").await;
    let iam_id = service["iam_id"].as_str().unwrap();
    let key = ctx.api_key(&admin, iam_id).await;
    let value = key["apikey"].as_str().unwrap().to_string();
    assert_eq!(value.len(), 44);
    let id = key["id"].as_str().unwrap();
    assert!(id.starts_with("ApiKey-"));
    let (_, _, got) = ctx
        .get(&ctx.iam(&format!("/v1/apikeys/{id}")), &admin)
        .await;
    assert_eq!(got["id"], id);
    assert!(
        got.get("apikey").is_none(),
        "the value is shown once: {got}"
    );
    let (_, _, listed) = ctx
        .get(
            &ctx.iam(&format!(
                "/v1/apikeys?account_id={IBM_ACCOUNT}&iam_id={iam_id}"
            )),
            &admin,
        )
        .await;
    assert_eq!(listed["apikeys"].as_array().unwrap().len(), 1);
    assert!(listed["apikeys"][0].get("apikey").is_none());
    let (_, _, details) = ctx
        .send(
            Method::GET,
            &ctx.iam("/v1/apikeys/details"),
            &admin,
            None,
            &[("iam-apikey", &value)],
        )
        .await;
    assert_eq!(details["id"], id);
    // store_value: true keeps it retrievable; a user key may not.
    let (status, _, stored) = ctx
        .post(
            "/v1/apikeys",
            &admin,
            json!({"name": "s", "iam_id": iam_id, "store_value": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, _, again) = ctx
        .get(
            &ctx.iam(&format!("/v1/apikeys/{}", stored["id"].as_str().unwrap())),
            &admin,
        )
        .await;
    assert_eq!(again["apikey"], stored["apikey"]);
    let (status, _, _) = ctx
        .post(
            "/v1/apikeys",
            &admin,
            json!({"name": "u", "iam_id": "IBMid-2700DANA01", "store_value": true}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The third key is the limit (3 here, 20 by default).
    ctx.api_key(&admin, iam_id).await;
    let (status, _, body) = ctx
        .post(
            "/v1/apikeys",
            &admin,
            json!({"name": "4th", "iam_id": iam_id}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["code"], "limit_exceeded");
    let (status, _, body) = ctx
        .post("/v1/apikeys", &admin, json!({"iam_id": iam_id}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["errors"][0]["message"],
        "Property missing or empty: name"
    );
    let (status, _, _) = ctx
        .post(
            "/v1/apikeys",
            &admin,
            json!({"name": "x", "iam_id": iam_id, "expires_at": "tomorrow"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The key authenticates the service ID.
    let token = claims(&ctx.iam_token(&value).await);
    assert_eq!(token["iam_id"], iam_id);
    assert_eq!(token["sub_type"], "ServiceId");
    assert_eq!(token["account"]["bss"], IBM_ACCOUNT);
    // Locked: still authenticates, cannot be deleted. Disabled: refused. Deleted: not found.
    let lock = ctx.iam(&format!("/v1/apikeys/{id}/lock"));
    ctx.send(Method::POST, &lock, &admin, None, &[]).await;
    assert_eq!(
        ctx.send(
            Method::DELETE,
            &ctx.iam(&format!("/v1/apikeys/{id}")),
            &admin,
            None,
            &[]
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    ctx.iam_token(&value).await;
    ctx.send(Method::DELETE, &lock, &admin, None, &[]).await;
    ctx.send(
        Method::POST,
        &ctx.iam(&format!("/v1/apikeys/{id}/disable")),
        &admin,
        None,
        &[],
    )
    .await;
    let (_, _, body) = ctx
        .token_request(&[("grant_type", APIKEY_GRANT), ("apikey", &value)])
        .await;
    assert_eq!(body["errorCode"], "BXNIM0416E");
    assert_eq!(
        ctx.send(
            Method::DELETE,
            &ctx.iam(&format!("/v1/apikeys/{id}")),
            &admin,
            None,
            &[]
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (_, _, body) = ctx
        .token_request(&[("grant_type", APIKEY_GRANT), ("apikey", &value)])
        .await;
    assert_eq!(body["errorCode"], "BXNIM0415E");
    assert!(
        ctx.sandbox
            .world
            .iam
            .api_keys()
            .iter()
            .any(|k| k.id == id && k.deleted)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn service_id_limit_inline_key_and_delete_conflict_both_ways() {
    let mut config = with_variants(&[Variant::ServiceIdDeleteConflict]);
    config.ibm.limits.service_ids_per_account = 2;
    let ctx = start(config).await;
    let admin = ctx.iam_token(DANA_API_KEY).await;
    let (status, _, with_key) = ctx
        .post(
            "/v1/serviceids/",
            &admin,
            json!({"account_id": IBM_ACCOUNT, "name": "inline", "apikey": {"name": "first"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{with_key}");
    assert_eq!(with_key["apikey"]["iam_id"], with_key["iam_id"]);
    assert_eq!(with_key["apikey"]["apikey"].as_str().unwrap().len(), 44);
    ctx.service_id(&admin, "second").await;
    let (status, _, body) = ctx
        .post(
            "/v1/serviceids/",
            &admin,
            json!({"account_id": IBM_ACCOUNT, "name": "third"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["code"], "limit_exceeded");
    // With keys: 409 once (keys deleted), then 204.
    let path = ctx.iam(&format!(
        "/v1/serviceids/{}",
        with_key["id"].as_str().unwrap()
    ));
    let (status, _, body) = ctx.send(Method::DELETE, &path, &admin, None, &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        ctx.send(Method::DELETE, &path, &admin, None, &[]).await.0,
        StatusCode::NO_CONTENT
    );
    let key = with_key["apikey"]["apikey"].as_str().unwrap();
    let (_, _, body) = ctx
        .token_request(&[("grant_type", APIKEY_GRANT), ("apikey", key)])
        .await;
    assert_eq!(body["errorCode"], "BXNIM0415E", "its keys went with it");

    // Default: 204 at once, keys deleted too.
    let plain = start_default().await;
    let admin = plain.iam_token(DANA_API_KEY).await;
    let service = plain.service_id(&admin, "s").await;
    let key = plain
        .api_key(&admin, service["iam_id"].as_str().unwrap())
        .await;
    let path = plain.iam(&format!(
        "/v1/serviceids/{}",
        service["id"].as_str().unwrap()
    ));
    assert_eq!(
        plain.send(Method::DELETE, &path, &admin, None, &[]).await.0,
        StatusCode::NO_CONTENT
    );
    let (_, _, body) = plain
        .token_request(&[
            ("grant_type", APIKEY_GRANT),
            ("apikey", key["apikey"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(body["errorCode"], "BXNIM0415E");
}

fn v2_policy(iam_id: &str, role: &str, extra: Vec<Value>) -> Value {
    let mut attributes = vec![
        json!({"key": "accountId", "operator": "stringEquals", "value": IBM_ACCOUNT}),
        json!({"key": "serviceName", "operator": "stringEquals", "value": "container-registry"}),
    ];
    attributes.extend(extra);
    json!({
        "type": "access",
        "control": {"grant": {"roles": [{"role_id": role}]}},
        "subject": {"attributes": [{"key": "iam_id", "operator": "stringEquals", "value": iam_id}]},
        "resource": {"attributes": attributes},
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn policies_v1_and_v2_validate_list_and_refuse_duplicates() {
    let ctx = start_default().await;
    let admin = ctx.iam_token(DANA_API_KEY).await;
    let service = ctx.service_id(&admin, "cluster-p").await;
    let iam_id = service["iam_id"].as_str().unwrap();
    let (status, headers, v1) = ctx
        .policy_v1(
            &admin,
            iam_id,
            READER,
            Some(ICR_NAMESPACE),
            Some("us-south"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v1}");
    assert!(headers.contains_key("etag"));
    assert_eq!(v1["roles"][0]["role_id"], READER);
    assert_eq!(v1["roles"][0]["display_name"], "Reader");
    assert_eq!(
        v1["resources"][0]["attributes"][4],
        json!({"name": "resource", "value": ICR_NAMESPACE})
    );
    // The same policy again: 409 naming the existing one.
    let (status, _, conflict) = ctx
        .policy_v1(
            &admin,
            iam_id,
            READER,
            Some(ICR_NAMESPACE),
            Some("us-south"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(conflict["errors"][0]["code"], "policy_conflict_error");
    assert_eq!(
        conflict["errors"][0]["details"]["conflicts_with"]["policy"]["id"],
        v1["id"]
    );
    // v2, with a wildcard.
    let body = v2_policy(
        iam_id,
        READER,
        vec![
            json!({"key": "resourceType", "operator": "stringEquals", "value": "namespace"}),
            json!({"key": "resource", "operator": "stringMatch", "value": "other-*"}),
        ],
    );
    let (status, _, v2) = ctx.post("/v2/policies", &admin, body).await;
    assert_eq!(status, StatusCode::CREATED, "{v2}");
    assert_eq!(v2["control"]["grant"]["roles"][0]["role_id"], READER);
    // v1 lists show a placeholder for the v2 policy; v2 lists show both in v2 form.
    let (_, _, list) = ctx
        .get(
            &ctx.iam(&format!(
                "/v1/policies?account_id={IBM_ACCOUNT}&iam_id={iam_id}"
            )),
            &admin,
        )
        .await;
    let policies = list["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 2);
    let placeholder = policies.iter().find(|p| p["id"] == v2["id"]).unwrap();
    assert_eq!(placeholder["roles"], json!([]));
    assert!(
        placeholder["href"]
            .as_str()
            .unwrap()
            .contains("/v2/policies/")
    );
    let (_, _, list2) = ctx
        .get(
            &ctx.iam(&format!("/v2/policies?account_id={IBM_ACCOUNT}")),
            &admin,
        )
        .await;
    assert!(
        list2["policies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["control"]["grant"]["roles"].is_array())
    );
    let (status, _, _) = ctx.get(&ctx.iam("/v1/policies"), &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "account_id is required");
    // Edit and delete with the matching version only.
    let v2_id = v2["id"].as_str().unwrap();
    assert_eq!(
        ctx.send(
            Method::DELETE,
            &ctx.iam(&format!("/v1/policies/{v2_id}")),
            &admin,
            None,
            &[]
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        ctx.send(
            Method::DELETE,
            &ctx.iam(&format!("/v2/policies/{v2_id}")),
            &admin,
            None,
            &[]
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    // Replace needs If-Match.
    let v1_path = ctx.iam(&format!("/v1/policies/{}", v1["id"].as_str().unwrap()));
    let (_, headers, _) = ctx.get(&v1_path, &admin).await;
    let etag = headers["etag"].to_str().unwrap().to_string();
    let replacement = json!({
        "type": "access",
        "subjects": [{"attributes": [{"name": "iam_id", "value": iam_id}]}],
        "roles": [{"role_id": WRITER}],
        "resources": [{"attributes": [
            {"name": "accountId", "value": IBM_ACCOUNT}, {"name": "serviceName", "value": "container-registry"}]}],
    });
    assert_eq!(
        ctx.send(
            Method::PUT,
            &v1_path,
            &admin,
            Some(replacement.clone()),
            &[]
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        ctx.send(
            Method::PUT,
            &v1_path,
            &admin,
            Some(replacement.clone()),
            &[("if-match", "\"9-x\"")]
        )
        .await
        .0,
        StatusCode::PRECONDITION_FAILED
    );
    let (status, _, replaced) = ctx
        .send(
            Method::PUT,
            &v1_path,
            &admin,
            Some(replacement),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["roles"][0]["role_id"], WRITER);

    // Validation, as strict as the doc allows.
    let bad = |attributes: Value, role: &str| {
        json!({"type": "access", "subjects": [{"attributes": [{"name": "iam_id", "value": iam_id}]}],
               "roles": [{"role_id": role}], "resources": [{"attributes": attributes}]})
    };
    let account = json!({"name": "accountId", "value": IBM_ACCOUNT});
    let registry = json!({"name": "serviceName", "value": "container-registry"});
    for (what, body) in [
        ("no accountId", bad(json!([registry]), READER)),
        (
            "another service",
            bad(
                json!([account, {"name": "serviceName", "value": "cloud-object-storage"}]),
                READER,
            ),
        ),
        (
            "resource without resourceType",
            bad(
                json!([account, registry, {"name": "resource", "value": "x"}]),
                READER,
            ),
        ),
        (
            "unknown attribute",
            bad(
                json!([account, registry, {"name": "color", "value": "x"}]),
                READER,
            ),
        ),
        (
            "unknown region",
            bad(
                json!([account, registry, {"name": "region", "value": "mars-1"}]),
                READER,
            ),
        ),
        (
            "generic role form",
            bad(
                json!([account, registry]),
                "crn:v1:bluemix:public:iam::::serviceRole:Reader",
            ),
        ),
        (
            "unknown role",
            bad(
                json!([account, registry]),
                "crn:v1:bluemix:public:container-registry::::serviceRole:Owner",
            ),
        ),
        ("v2 body on v1", v2_policy(iam_id, READER, vec![])),
    ] {
        let (status, _, body) = ctx.post("/v1/policies", &admin, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
        assert_eq!(body["errors"][0]["code"], "invalid_body", "{what}");
    }
    let (status, _, _) = ctx.post("/v2/policies", &admin, v2_policy(iam_id, READER, vec![
        json!({"key": "resource", "operator": "stringEqualsAnyOf", "value": (0..11).map(|i| format!("n{i}")).collect::<Vec<_>>()}),
        json!({"key": "resourceType", "operator": "stringEquals", "value": "namespace"}),
    ])).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "AnyOf takes at most 10 values"
    );
    let (status, _, _) = ctx
        .policy_v1(
            &admin,
            "iam-ServiceId-00000000-0000-0000-0000-000000000000",
            READER,
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown subject");

    // The generic role form is accepted with its variant.
    let lax = start(with_variants(&[Variant::GenericServiceRole])).await;
    let admin = lax.iam_token(DANA_API_KEY).await;
    let service = lax.service_id(&admin, "g").await;
    let (status, _, body) = lax
        .policy_v1(
            &admin,
            service["iam_id"].as_str().unwrap(),
            "crn:v1:bluemix:public:iam::::serviceRole:Reader",
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_limits_per_subject() {
    let mut config = dedicated_sandbox::SandboxConfig::default();
    config.ibm.limits.policies_per_subject = 1;
    let ctx = start(config).await;
    let admin = ctx.iam_token(DANA_API_KEY).await;
    let service = ctx.service_id(&admin, "l").await;
    let iam_id = service["iam_id"].as_str().unwrap();
    assert_eq!(
        ctx.policy_v1(&admin, iam_id, READER, Some(ICR_NAMESPACE), None)
            .await
            .0,
        StatusCode::CREATED
    );
    let (status, _, body) = ctx
        .policy_v1(&admin, iam_id, READER, Some(ICR_OTHER_NAMESPACE), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["code"], "policy_limit_exceeded");
}

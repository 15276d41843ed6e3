//! Whose tokens an API accepts (issue 15, findings 6 and 8): anonymous clients never get the
//! issuer as `aud`, an API pinned to its client refuses every other client's tokens, and a
//! builder may name only audiences that are theirs or the server's (`GPTAUTH_RESOURCES`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gptauth_verify::{Verifier, VerifyError};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::cli::gptauth;
use crate::helpers::*;
use crate::portal::builder;

/// Another builder's private API, and a resource of theirs.
const PRIVATE_API: &str = "https://api.victim.example/v1";
const PRIVATE_MCP: &str = "https://mcp.victim.example/mcp";
/// What the operator offers every client.
const SHARED: &str = "https://mcp.shared.example/mcp";

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("b64")).expect("json")
}

fn access_token(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("access token")
}

/// The README's check: signature, `typ`, `iss` and `aud` = the issuer (no client pinned).
async fn accepted_by_issuer_audience_check(app: &TestApp, token: &str) -> bool {
    let header = jsonwebtoken::decode_header(token).expect("header");
    let jwks: jsonwebtoken::jwk::JwkSet = reqwest::get(app.url("/.well-known/jwks.json"))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let jwk = jwks.find(&header.kid.expect("kid")).expect("published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[&app.address]);
    validation.set_audience(&[&app.address]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).is_ok()
}

async fn register(app: &TestApp, body: Value) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(app.url("/oauth/register"))
        .json(&body)
        .send()
        .await
        .expect("register");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A confidential client registered anonymously at `/oauth/register`.
async fn registered_client(app: &TestApp) -> TestClient {
    let (status, body) = register(
        app,
        json!({
            "client_name": "Anyone",
            "redirect_uris": [CHATGPT_OPENAI],
            "token_endpoint_auth_method": "client_secret_post",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    TestClient {
        id: body["client_id"].as_str().expect("id").into(),
        secret: body["client_secret"].as_str().expect("secret").into(),
    }
}

/// A client of `owner` whose audience and resource an operator set.
async fn owned_client(app: &TestApp, owner: Uuid) -> String {
    let id = format!("gpt_{}", Uuid::new_v4().simple());
    app.db
        .insert_client(&gptauth::store::NewClient {
            client_id: &id,
            name: "Victim GPT",
            secret_hash: Some(&gptauth::crypto::digest("s")),
            scope: "openid profile",
            audience: Some(PRIVATE_API),
            require_pkce: false,
            chatgpt_callbacks: true,
            resources: &[PRIVATE_MCP.to_string()],
            id_token_alg: None,
            registration_token_hash: None,
            registered_auth_method: None,
            owner_id: Some(owner),
            logo_uri: None,
            policy_uri: None,
            redirect_uris: &[],
        })
        .await
        .expect("insert client");
    id
}

/// Posts the portal's new-client form with `audience`; the status and the page.
async fn portal_create(
    app: &TestApp,
    portal: &reqwest::Client,
    audience: &str,
) -> (StatusCode, String) {
    let (_, _, form) = app.get(portal, &app.url("/portal/clients/new")).await;
    let (status, _, page) = app
        .post_form(
            portal,
            &app.url("/portal/clients"),
            &[
                ("csrf_token", &form_value(&form, "csrf_token")),
                ("name", "My GPT"),
                ("chatgpt", "on"),
                ("scope", "openid profile"),
                ("audience", audience),
            ],
        )
        .await;
    (status, page)
}

fn alert(page: &str) -> String {
    let marker = "<p class=\"error\" role=\"alert\">";
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("no alert: {page}"))
        + marker.len();
    unescape(&page[start..start + page[start..].find("</p>").expect("end of alert")])
}

async fn a_token_of_client_b_is_refused_by_an_api_pinned_to_client_a(app: TestApp) {
    let a = app.client().await;
    let b = app.client().await;
    app.user("ada@example.com").await;
    let token_a = app.tokens_for(&a, "ada@example.com").await;
    let token_b = app.tokens_for(&b, "ada@example.com").await;
    let api_a = Verifier::builder(&app.address)
        .client_id(&a.id)
        .leeway(0)
        .build()
        .expect("verifier");
    let user = api_a
        .verify(access_token(&token_a))
        .await
        .expect("client A's own token");
    assert_eq!(user.client_id, a.id);
    assert_eq!(
        api_a.verify(access_token(&token_b)).await,
        Err(VerifyError::Client),
        "client B's token"
    );
    // Several clients may be pinned (a GPT and its ChatGPT app, say).
    let both = Verifier::builder(&app.address)
        .client_id(&a.id)
        .client_id(&b.id)
        .build()
        .expect("verifier");
    assert!(both.verify(access_token(&token_b)).await.is_ok());
    // The README's check pins the client the same way: by the `client_id` claim (RFC 9068 §2.2).
    assert_eq!(payload(access_token(&token_b))["client_id"], b.id.as_str());
}

async fn a_dynamically_registered_clients_token_is_not_for_an_api_that_checks_aud_is_the_issuer(
    app: TestApp,
) {
    app.user("ada@example.com").await;
    let anonymous = registered_client(&app).await;
    let tokens = app.tokens_for(&anonymous, "ada@example.com").await;
    let token = access_token(&tokens);
    assert_eq!(
        payload(token)["aud"],
        anonymous.id.as_str(),
        "an anonymous client's own ID, never the issuer (RFC 9068 §3)"
    );
    assert!(
        !accepted_by_issuer_audience_check(&app, token).await,
        "the README's aud check refuses it"
    );
    let api = Verifier::builder(&app.address).build().expect("verifier");
    assert_eq!(api.verify(token).await, Err(VerifyError::Audience));
    // Refreshed tokens keep that audience.
    let (status, refreshed) = app
        .refresh(
            &anonymous,
            false,
            tokens["refresh_token"].as_str().expect("rt"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(
        payload(access_token(&refreshed))["aud"],
        anonymous.id.as_str()
    );
    // An operator's client keeps the issuer (compatibility), and pinning sets it apart.
    let operators = app.client().await;
    let tokens = app.tokens_for(&operators, "ada@example.com").await;
    assert!(accepted_by_issuer_audience_check(&app, access_token(&tokens)).await);
}

async fn a_builder_cannot_name_another_builders_audience_or_resource_in_the_portal(app: TestApp) {
    let victim = app.user("victim@example.com").await;
    owned_client(&app, victim).await;
    let (mallory, portal) = builder(&app, "mallory@example.com").await;
    for taken in [PRIVATE_API, PRIVATE_MCP] {
        let (status, page) = portal_create(&app, &portal, taken).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{taken}: {page}");
        assert!(alert(&page).starts_with("Audience: "), "{}", alert(&page));
    }
    assert!(
        app.db.clients_of(mallory).await.expect("db").is_empty(),
        "nothing was created"
    );
    // Not merely someone else's: any URL the operator has not offered is refused too.
    let (status, _) = portal_create(&app, &portal, "https://unclaimed.example/api").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The issuer is the default anyway.
    let (status, page) = portal_create(&app, &portal, &app.address).await;
    assert_eq!(status, StatusCode::OK, "{page}");
}

async fn the_owner_may_name_their_own_audience_and_the_cli_may_name_any(app: TestApp) {
    let (victim, portal) = builder(&app, "victim@example.com").await;
    owned_client(&app, victim).await;
    for own in [PRIVATE_API, PRIVATE_MCP] {
        let (status, page) = portal_create(&app, &portal, own).await;
        assert_eq!(status, StatusCode::OK, "{own}: {page}");
    }
    let out = gptauth(
        &app,
        &[
            "client",
            "create",
            "--name",
            "Operator's",
            "--redirect-uri",
            CHATGPT_OPENAI,
            "--audience",
            PRIVATE_API,
            "--resource",
            PRIVATE_MCP,
            "--json",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(created["audience"], PRIVATE_API);
    assert_eq!(created["resources"], json!([PRIVATE_MCP]));
}

async fn registration_refuses_an_audience_or_resource_the_server_does_not_offer(app: TestApp) {
    let victim = app.user("victim@example.com").await;
    owned_client(&app, victim).await;
    for metadata in [
        json!({ "redirect_uris": [CHATGPT_OPENAI], "resource": PRIVATE_MCP }),
        json!({ "redirect_uris": [CHATGPT_OPENAI], "resource": [SHARED, PRIVATE_MCP] }),
        json!({ "redirect_uris": [CHATGPT_OPENAI], "audience": [PRIVATE_API] }),
        json!({ "redirect_uris": [CHATGPT_OPENAI], "audience": "https://unclaimed.example/api" }),
        json!({ "redirect_uris": [CHATGPT_OPENAI], "audience": 7 }),
    ] {
        let (status, body) = register(&app, metadata.clone()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_client_metadata")),
            "{metadata}: {body}"
        );
    }
    assert_eq!(
        app.db.list_clients().await.expect("db").len(),
        1,
        "nothing was registered"
    );
    // Nor through an update of the registration (RFC 7592 §2.2).
    let (status, registered) = register(&app, json!({ "redirect_uris": [CHATGPT_OPENAI] })).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let resp = reqwest::Client::new()
        .put(registered["registration_client_uri"].as_str().expect("uri"))
        .bearer_auth(
            registered["registration_access_token"]
                .as_str()
                .expect("token"),
        )
        .json(&json!({
            "client_id": registered["client_id"],
            "redirect_uris": [CHATGPT_OPENAI],
            "resource": PRIVATE_MCP,
        }))
        .send()
        .await
        .expect("put");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "invalid_client_metadata", "{body}");
}

crate::both_backends!(
    a_token_of_client_b_is_refused_by_an_api_pinned_to_client_a,
    a_dynamically_registered_clients_token_is_not_for_an_api_that_checks_aud_is_the_issuer,
    a_builder_cannot_name_another_builders_audience_or_resource_in_the_portal,
    the_owner_may_name_their_own_audience_and_the_cli_may_name_any,
    registration_refuses_an_audience_or_resource_the_server_does_not_offer
);

async fn the_servers_own_resources_may_be_named_by_builders_and_registrations(app: TestApp) {
    let (_, portal) = builder(&app, "builder@example.com").await;
    let (status, page) = portal_create(&app, &portal, SHARED).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (status, body) = register(
        &app,
        json!({ "redirect_uris": [CHATGPT_OPENAI], "resource": SHARED, "audience": [SHARED] }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A registered client's token for the shared resource carries it as `aud` (RFC 8707 §2).
    let anonymous = TestClient {
        id: body["client_id"].as_str().expect("id").into(),
        secret: body["client_secret"].as_str().expect("secret").into(),
    };
    app.user("ada@example.com").await;
    let url = app.authorize_url_with(&anonymous, CHATGPT_OPENAI, &[("resource", SHARED)]);
    let code = app
        .sign_in(&browser(), &url, "ada@example.com", PASSWORD)
        .await
        .code();
    let (status, tokens) = app
        .exchange_code(&anonymous, false, &code, CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(payload(access_token(&tokens))["aud"], SHARED);
}

crate::both_backends_with!(
    &[("GPTAUTH_RESOURCES", SHARED)];
    the_servers_own_resources_may_be_named_by_builders_and_registrations,
);

//! Dynamic client registration (RFC 7591), as MCP hosts use it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

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

async fn a_registered_public_client_signs_a_user_in_with_pkce(app: TestApp) {
    let meta: Value = reqwest::get(app.url("/.well-known/oauth-authorization-server"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(meta["registration_endpoint"], app.url("/oauth/register"));
    let (status, client) = register(
        &app,
        json!({
            "client_name": "Claude", "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"], "logo_uri": "https://example.com/ignored.png",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    assert!(
        client.get("client_secret").is_none(),
        "a public client gets no secret"
    );
    assert_eq!(client["token_endpoint_auth_method"], "none");
    assert_eq!(
        client["id_token_signed_response_alg"], "RS256",
        "the OpenID Connect default"
    );
    let public = TestClient {
        id: client["client_id"].as_str().expect("id").into(),
        secret: String::new(),
    };
    app.user("ada@example.com").await;
    // Without PKCE: refused at the redirect URI.
    let (_, location, _) = app
        .get(
            &browser(),
            &app.authorize_url(
                &public,
                "https://claude.ai/api/mcp/auth_callback",
                "s",
                None,
            ),
        )
        .await;
    assert!(
        location
            .unwrap_or_default()
            .contains("error=invalid_request")
    );

    let (status, confidential) = register(
        &app,
        json!({
            "client_name": "Server app",
            "redirect_uris": [CHATGPT_OPENAI],
            "token_endpoint_auth_method": "client_secret_post",
            "id_token_signed_response_alg": "ES256",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(confidential["id_token_signed_response_alg"], "ES256");
    let confidential = TestClient {
        id: confidential["client_id"].as_str().expect("id").into(),
        secret: confidential["client_secret"]
            .as_str()
            .expect("secret")
            .into(),
    };
    let tokens = app.tokens_for(&confidential, "ada@example.com").await;
    // An anonymous client's tokens are for its own ID, never the issuer (issue 15, finding 6).
    app.verify_jwt_for(
        tokens["access_token"].as_str().expect("at"),
        &confidential.id,
    )
    .await;
    let id_header = jsonwebtoken::decode_header(tokens["id_token"].as_str().expect("id_token"))
        .expect("header");
    assert_eq!(
        id_header.alg,
        jsonwebtoken::Algorithm::ES256,
        "the registered ID token algorithm"
    );
}

async fn bad_registrations_get_rfc_7591_errors(app: TestApp) {
    for (body, error) in [
        (
            json!({ "redirect_uris": ["javascript:alert(1)"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["http://evil.example/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["https://ok.example/cb#frag"] }),
            "invalid_redirect_uri",
        ),
        (json!({ "redirect_uris": [] }), "invalid_redirect_uri"),
        (
            json!({
                "redirect_uris": ["https://ok.example/cb"],
                "token_endpoint_auth_method": "private_key_jwt",
            }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": ["https://ok.example/cb"], "grant_types": ["password"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": ["https://ok.example/cb"], "scope": "admin" }),
            "invalid_client_metadata",
        ),
        (
            json!({
                "redirect_uris": ["https://ok.example/cb"],
                "id_token_signed_response_alg": "HS256",
            }),
            "invalid_client_metadata",
        ),
        (
            json!({
                "redirect_uris": ["https://ok.example/cb"],
                "id_token_signed_response_alg": "none",
            }),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ] {
        let (status, answer) = register(&app, body.clone()).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(error)),
            "{body}"
        );
    }
    let huge =
        json!({ "redirect_uris": ["https://ok.example/cb"], "client_name": "x".repeat(20_000) });
    let (status, answer) = register(&app, huge).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_client_metadata"))
    );
    assert_eq!(
        app.db.list_clients().await.expect("clients").len(),
        0,
        "nothing was registered"
    );
}

crate::both_backends!(
    a_registered_public_client_signs_a_user_in_with_pkce,
    bad_registrations_get_rfc_7591_errors
);

#[tokio::test]
async fn registration_can_be_closed() {
    let app = spawn_app(Backend::Sqlite, &[("GPTAUTH_REGISTRATION", "closed")])
        .await
        .expect("app");
    let (status, body) =
        register(&app, json!({ "redirect_uris": ["https://ok.example/cb"] })).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let meta: Value = reqwest::get(app.url("/.well-known/oauth-authorization-server"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(meta.get("registration_endpoint").is_none());
}

/// A request to a client's RFC 7592 management URI.
async fn manage(
    method: reqwest::Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Option<String>, Value) {
    let mut req = reqwest::Client::new().request(method, uri);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, challenge, resp.json().await.unwrap_or(Value::Null))
}

const NEW_CALLBACK: &str = "https://claude.com/api/mcp/auth_callback";

async fn a_registered_client_is_read_updated_and_deleted_with_its_registration_token(app: TestApp) {
    let (status, reg) = register(
        &app,
        json!({
            "client_name": "Host",
            "redirect_uris": [CHATGPT_OPENAI],
            "token_endpoint_auth_method": "client_secret_post",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reg}");
    let id = reg["client_id"].as_str().expect("id").to_string();
    let token = reg["registration_access_token"]
        .as_str()
        .expect("registration_access_token")
        .to_string();
    let uri = reg["registration_client_uri"]
        .as_str()
        .expect("registration_client_uri")
        .to_string();
    assert_eq!(uri, app.url(&format!("/oauth/register/{id}")));

    let (status, _, read) = manage(reqwest::Method::GET, &uri, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["client_id"], id.as_str());
    assert_eq!(
        read["token_endpoint_auth_method"], "client_secret_post",
        "as registered"
    );
    assert_eq!(read["redirect_uris"], json!([CHATGPT_OPENAI]));
    assert!(
        read.get("client_secret").is_none() && read.get("registration_access_token").is_none(),
        "{read}"
    );

    // Refused: no token, a wrong one, another client's, and an operator's client.
    let (status, challenge, _) = manage(reqwest::Method::GET, &uri, None, None).await;
    assert_eq!(
        (status, challenge.as_deref()),
        (StatusCode::UNAUTHORIZED, Some("Bearer"))
    );
    let (_, other) = register(&app, json!({ "redirect_uris": [CHATGPT_COM] })).await;
    let other_token = other["registration_access_token"].as_str().expect("token");
    for wrong in ["nope", other_token] {
        let (status, challenge, _) = manage(reqwest::Method::GET, &uri, Some(wrong), None).await;
        assert_eq!(
            (status, challenge.as_deref()),
            (
                StatusCode::UNAUTHORIZED,
                Some("Bearer error=\"invalid_token\"")
            )
        );
    }
    let operator = app.client().await;
    let (status, _, _) = manage(
        reqwest::Method::GET,
        &app.url(&format!("/oauth/register/{}", operator.id)),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Sign a user in before the update, to see the grant die with the client later.
    let client = TestClient {
        id: id.clone(),
        secret: reg["client_secret"].as_str().expect("secret").into(),
    };
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;

    // Bad updates change nothing.
    for (body, error) in [
        (
            json!({ "redirect_uris": [NEW_CALLBACK] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "client_id": other["client_id"], "redirect_uris": [NEW_CALLBACK] }),
            "invalid_client_metadata",
        ),
        (
            json!({
                "client_id": id,
                "redirect_uris": [NEW_CALLBACK],
                "token_endpoint_auth_method": "none",
            }),
            "invalid_client_metadata",
        ),
        (
            json!({ "client_id": id, "redirect_uris": ["http://evil.example/cb"] }),
            "invalid_redirect_uri",
        ),
    ] {
        let (status, _, answer) =
            manage(reqwest::Method::PUT, &uri, Some(&token), Some(body.clone())).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(error)),
            "{body}"
        );
    }
    let (status, _, updated) = manage(
        reqwest::Method::PUT,
        &uri,
        Some(&token),
        Some(json!({
            "client_id": id, "client_name": "Host 2", "redirect_uris": [NEW_CALLBACK],
            "token_endpoint_auth_method": "client_secret_basic",
            "id_token_signed_response_alg": "ES256",
        })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["client_name"], "Host 2");
    assert_eq!(updated["redirect_uris"], json!([NEW_CALLBACK]));
    assert_eq!(updated["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(updated["id_token_signed_response_alg"], "ES256");
    // The old callback is no longer accepted; the new one is.
    let (status, location, _) = app
        .get(
            &browser(),
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
        )
        .await;
    assert_eq!(
        (status, location),
        (StatusCode::BAD_REQUEST, None),
        "an error page, never a redirect"
    );
    let cb = app
        .sign_in(
            &browser(),
            &app.authorize_url(&client, NEW_CALLBACK, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    assert!(cb.url.as_str().starts_with(NEW_CALLBACK));

    let (status, _, body) = manage(reqwest::Method::DELETE, &uri, Some(&token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _, _) = manage(reqwest::Method::GET, &uri, Some(&token), None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "gone, and its token with it"
    );
    let (status, body) = app
        .refresh(&client, true, tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    assert!(
        app.db
            .client(other["client_id"].as_str().expect("id"))
            .await
            .expect("db")
            .is_some(),
        "others stay"
    );
}

async fn registrations_unused_for_30_days_are_swept(app: TestApp) {
    let (_, used) = register(
        &app,
        json!({ "redirect_uris": [CHATGPT_OPENAI], "client_name": "used" }),
    )
    .await;
    let (_, idle) = register(
        &app,
        json!({ "redirect_uris": [CHATGPT_OPENAI], "client_name": "idle" }),
    )
    .await;
    let operator = app.client().await;
    app.user("ada@example.com").await;
    app.advance(31 * 86400);
    let used_client = TestClient {
        id: used["client_id"].as_str().expect("id").into(),
        secret: used["client_secret"].as_str().expect("secret").into(),
    };
    app.tokens_for(&used_client, "ada@example.com").await;
    let (_, fresh) = register(
        &app,
        json!({ "redirect_uris": [CHATGPT_OPENAI], "client_name": "fresh" }),
    )
    .await;
    let state = app.state.as_ref().expect("state");
    assert_eq!(
        gptauth::app::upkeep::sweep_abandoned_registrations(state).await,
        1
    );
    let left: Vec<String> = app
        .db
        .list_clients()
        .await
        .expect("clients")
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert!(
        !left.contains(&idle["client_id"].as_str().expect("id").to_string()),
        "the idle registration is gone"
    );
    for kept in [
        used["client_id"].as_str().expect("id"),
        fresh["client_id"].as_str().expect("id"),
        operator.id.as_str(),
    ] {
        assert!(left.iter().any(|c| c == kept), "{kept} is kept");
    }
}

crate::both_backends!(
    a_registered_client_is_read_updated_and_deleted_with_its_registration_token,
    registrations_unused_for_30_days_are_swept
);

async fn the_token_policy_asks_for_a_live_initial_access_token(app: TestApp) {
    let meta: Value = reqwest::get(app.url("/.well-known/oauth-authorization-server"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(meta["registration_endpoint"], app.url("/oauth/register"));
    let doc = json!({ "redirect_uris": ["https://ok.example/cb"] });
    let post = |token: Option<&'static str>| {
        let mut req = reqwest::Client::new()
            .post(app.url("/oauth/register"))
            .json(&doc);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let resp = req.send().await.expect("post");
            (
                resp.status(),
                resp.headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
            )
        }
    };
    assert_eq!(
        post(None).await,
        (StatusCode::UNAUTHORIZED, Some("Bearer".to_string()))
    );
    assert_eq!(
        post(Some("made-up")).await,
        (
            StatusCode::UNAUTHORIZED,
            Some("Bearer error=\"invalid_token\"".to_string())
        )
    );
    let now = app.now();
    for (value, expires_at, uses_left) in [
        ("one-use", now + 600, Some(1)),
        ("expired", now - 1, None),
        ("revoked", now + 600, None),
    ] {
        let id = uuid::Uuid::now_v7();
        app.db
            .insert_initial_access_token(
                &gptauth::store::InitialAccessToken {
                    id,
                    note: None,
                    created_at: now,
                    expires_at,
                    uses_left,
                    revoked_at: None,
                },
                &gptauth::crypto::digest(value),
            )
            .await
            .expect("insert");
        if value == "revoked" {
            assert!(
                app.db
                    .revoke_initial_access_token(id)
                    .await
                    .expect("revoke")
            );
        }
    }
    assert_eq!(post(Some("one-use")).await.0, StatusCode::CREATED);
    assert_eq!(
        post(Some("one-use")).await.0,
        StatusCode::UNAUTHORIZED,
        "spent"
    );
    assert_eq!(post(Some("expired")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(post(Some("revoked")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.db.list_clients().await.expect("clients").len(), 1);
}

crate::both_backends_with!(
    &[("GPTAUTH_REGISTRATION", "token")];
    the_token_policy_asks_for_a_live_initial_access_token,
);

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

crate::both_backends! {
    async fn a_registered_public_client_signs_a_user_in_with_pkce(app: TestApp) {
        let meta: Value = reqwest::get(app.url("/.well-known/oauth-authorization-server")).await.expect("get").json().await.expect("json");
        assert_eq!(meta["registration_endpoint"], app.url("/oauth/register"));
        let (status, client) = register(&app, json!({
            "client_name": "Claude", "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"], "logo_uri": "https://example.com/ignored.png",
        })).await;
        assert_eq!(status, StatusCode::CREATED, "{client}");
        assert!(client.get("client_secret").is_none(), "a public client gets no secret");
        assert_eq!(client["token_endpoint_auth_method"], "none");
        assert_eq!(client["id_token_signed_response_alg"], "RS256", "the OpenID Connect default");
        let public = TestClient { id: client["client_id"].as_str().expect("id").into(), secret: String::new() };
        app.user("ada@example.com").await;
        // Without PKCE: refused at the redirect URI.
        let (_, location, _) = app.get(&browser(), &app.authorize_url(&public, "https://claude.ai/api/mcp/auth_callback", "s", None)).await;
        assert!(location.unwrap_or_default().contains("error=invalid_request"));

        let (status, confidential) = register(&app, json!({
            "client_name": "Server app", "redirect_uris": [CHATGPT_OPENAI], "token_endpoint_auth_method": "client_secret_post",
            "id_token_signed_response_alg": "ES256",
        })).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(confidential["id_token_signed_response_alg"], "ES256");
        let confidential = TestClient {
            id: confidential["client_id"].as_str().expect("id").into(),
            secret: confidential["client_secret"].as_str().expect("secret").into(),
        };
        let tokens = app.tokens_for(&confidential, "ada@example.com").await;
        app.verify_jwt(tokens["access_token"].as_str().expect("at")).await;
        let id_header = jsonwebtoken::decode_header(tokens["id_token"].as_str().expect("id_token")).expect("header");
        assert_eq!(id_header.alg, jsonwebtoken::Algorithm::ES256, "the registered ID token algorithm");
    }

    async fn bad_registrations_get_rfc_7591_errors(app: TestApp) {
        for (body, error) in [
            (json!({ "redirect_uris": ["javascript:alert(1)"] }), "invalid_redirect_uri"),
            (json!({ "redirect_uris": ["http://evil.example/cb"] }), "invalid_redirect_uri"),
            (json!({ "redirect_uris": ["https://ok.example/cb#frag"] }), "invalid_redirect_uri"),
            (json!({ "redirect_uris": [] }), "invalid_redirect_uri"),
            (json!({ "redirect_uris": ["https://ok.example/cb"], "token_endpoint_auth_method": "private_key_jwt" }), "invalid_client_metadata"),
            (json!({ "redirect_uris": ["https://ok.example/cb"], "grant_types": ["password"] }), "invalid_client_metadata"),
            (json!({ "redirect_uris": ["https://ok.example/cb"], "scope": "admin" }), "invalid_client_metadata"),
            (json!({ "redirect_uris": ["https://ok.example/cb"], "id_token_signed_response_alg": "HS256" }), "invalid_client_metadata"),
            (json!({ "redirect_uris": ["https://ok.example/cb"], "id_token_signed_response_alg": "none" }), "invalid_client_metadata"),
            (json!(["not", "an", "object"]), "invalid_client_metadata"),
        ] {
            let (status, answer) = register(&app, body.clone()).await;
            assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some(error)), "{body}");
        }
        let huge = json!({ "redirect_uris": ["https://ok.example/cb"], "client_name": "x".repeat(20_000) });
        let (status, answer) = register(&app, huge).await;
        assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_client_metadata")));
        assert_eq!(app.db.list_clients().await.expect("clients").len(), 0, "nothing was registered");
    }
}

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

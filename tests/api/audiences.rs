//! Whose tokens an API accepts (issue 15, finding 6): anonymous clients never get the issuer as
//! `aud`, and an API pinned to its client refuses every other client's tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gptauth_verify::{Verifier, VerifyError};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

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
        json!({ "client_name": "Anyone", "redirect_uris": [CHATGPT_OPENAI], "token_endpoint_auth_method": "client_secret_post" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    TestClient {
        id: body["client_id"].as_str().expect("id").into(),
        secret: body["client_secret"].as_str().expect("secret").into(),
    }
}

crate::both_backends! {
    async fn a_token_of_client_b_is_refused_by_an_api_pinned_to_client_a(app: TestApp) {
        let a = app.client().await;
        let b = app.client().await;
        app.user("ada@example.com").await;
        let token_a = app.tokens_for(&a, "ada@example.com").await;
        let token_b = app.tokens_for(&b, "ada@example.com").await;
        let api_a = Verifier::builder(&app.address).client_id(&a.id).leeway(0).build().expect("verifier");
        let user = api_a.verify(access_token(&token_a)).await.expect("client A's own token");
        assert_eq!(user.client_id, a.id);
        assert_eq!(api_a.verify(access_token(&token_b)).await, Err(VerifyError::Client), "client B's token");
        // Several clients may be pinned (a GPT and its ChatGPT app, say).
        let both = Verifier::builder(&app.address).client_id(&a.id).client_id(&b.id).build().expect("verifier");
        assert!(both.verify(access_token(&token_b)).await.is_ok());
        // The README's check pins the client the same way: by the `client_id` claim (RFC 9068 §2.2).
        assert_eq!(payload(access_token(&token_b))["client_id"], b.id.as_str());
    }

    async fn a_dynamically_registered_clients_token_is_not_for_an_api_that_checks_aud_is_the_issuer(app: TestApp) {
        app.user("ada@example.com").await;
        let anonymous = registered_client(&app).await;
        let tokens = app.tokens_for(&anonymous, "ada@example.com").await;
        let token = access_token(&tokens);
        assert_eq!(payload(token)["aud"], anonymous.id.as_str(), "an anonymous client's own ID, never the issuer (RFC 9068 §3)");
        assert!(!accepted_by_issuer_audience_check(&app, token).await, "the README's aud check refuses it");
        let api = Verifier::builder(&app.address).build().expect("verifier");
        assert_eq!(api.verify(token).await, Err(VerifyError::Audience));
        // Refreshed tokens keep that audience.
        let (status, refreshed) = app.refresh(&anonymous, false, tokens["refresh_token"].as_str().expect("rt")).await;
        assert_eq!(status, StatusCode::OK, "{refreshed}");
        assert_eq!(payload(access_token(&refreshed))["aud"], anonymous.id.as_str());
        // An operator's client keeps the issuer (compatibility), and pinning sets it apart.
        let operators = app.client().await;
        let tokens = app.tokens_for(&operators, "ada@example.com").await;
        assert!(accepted_by_issuer_audience_check(&app, access_token(&tokens)).await);
    }

}

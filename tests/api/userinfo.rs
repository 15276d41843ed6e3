//! `/oauth/userinfo` (OpenID Connect Core §5.3).

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

async fn userinfo_tells_who_the_token_is_for_within_its_scopes(app: TestApp) {
    let client = app.client().await;
    let user = app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    let at = tokens["access_token"].as_str().expect("at");
    let http = reqwest::Client::new();
    let info: Value = http
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(info["sub"].as_str(), Some(user.to_string().as_str()));
    assert_eq!(info["email"], "ada@example.com");
    assert_eq!(info["email_verified"], false);
    let posted = http
        .post(app.url("/oauth/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .expect("post");
    assert_eq!(posted.status(), StatusCode::OK);

    let narrow = app.client_with("openid", &[CHATGPT_OPENAI]).await;
    let only_openid = app.tokens_for(&narrow, "ada@example.com").await;
    let info: Value = http
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(only_openid["access_token"].as_str().expect("at"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(
        info.get("email").is_none(),
        "no email without the email scope: {info}"
    );

    let no_openid = app.client_with("notes", &[CHATGPT_OPENAI]).await;
    let tokens = app.tokens_for(&no_openid, "ada@example.com").await;
    let resp = http
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().expect("at"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let resp = http
        .get(app.url("/oauth/userinfo"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    let resp = http
        .get(app.url("/oauth/userinfo"))
        .bearer_auth("garbage")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer error=\"invalid_token\"")
    );
    let meta: Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(meta["userinfo_endpoint"], app.url("/oauth/userinfo"));
}

crate::both_backends!(userinfo_tells_who_the_token_is_for_within_its_scopes);

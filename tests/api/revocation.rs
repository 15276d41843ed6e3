//! Revocation (RFC 7009) and introspection (RFC 7662).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

async fn post_as(
    app: &TestApp,
    path: &str,
    client: Option<&TestClient>,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    app.post_as(
        path,
        client.map(|c| (c.id.as_str(), c.secret.as_str())),
        form,
    )
    .await
}

async fn introspect(app: &TestApp, client: &TestClient, token: &str) -> Value {
    let (status, body) = post_as(app, "/oauth/introspect", Some(client), &[("token", token)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn revoke(app: &TestApp, client: &TestClient, token: &str) {
    let (status, body) = post_as(app, "/oauth/revoke", Some(client), &[("token", token)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn tampered(jwt: &str) -> String {
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    claims["sub"] = Value::String("00000000-0000-0000-0000-000000000000".into());
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    )
}

async fn an_access_token_introspects_as_active_until_its_client_revokes_it(app: TestApp) {
    let client = app.client().await;
    let other = app.client().await;
    let user = app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    let at = tokens["access_token"].as_str().expect("at");
    let info = introspect(&app, &other, at).await;
    assert_eq!(
        info["active"], true,
        "a resource server (any confidential client) may introspect"
    );
    assert_eq!(info["sub"].as_str(), Some(user.to_string().as_str()));
    assert_eq!(info["client_id"].as_str(), Some(client.id.as_str()));
    assert_eq!(info["iss"].as_str(), Some(app.address.as_str()));
    assert_eq!(info["aud"].as_str(), Some(app.address.as_str()));
    assert_eq!(info["token_type"], "Bearer");
    assert!(info["exp"].is_i64() && info["iat"].is_i64() && info["scope"].is_string());
    // Another client cannot revoke it (and is not told so).
    revoke(&app, &other, at).await;
    assert_eq!(introspect(&app, &client, at).await["active"], true);
    revoke(&app, &client, at).await;
    assert_eq!(
        introspect(&app, &client, at).await,
        serde_json::json!({ "active": false })
    );
}

async fn revoking_a_refresh_token_kills_its_family(app: TestApp) {
    let client = app.client().await;
    let other = app.client().await;
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    let rt = tokens["refresh_token"].as_str().expect("rt").to_string();
    let (status, refreshed) = app.refresh(&client, true, &rt).await;
    assert_eq!(status, StatusCode::OK);
    let newest = refreshed["refresh_token"]
        .as_str()
        .expect("rt2")
        .to_string();
    let info = introspect(&app, &client, &newest).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["token_type"], "refresh_token");
    assert_eq!(
        introspect(&app, &other, &newest).await["active"],
        false,
        "a refresh token is its client's business"
    );
    revoke(&app, &other, &newest).await;
    assert_eq!(
        app.refresh(&client, true, &newest).await.0,
        StatusCode::OK,
        "another client cannot revoke it"
    );
    // The client revokes the original token: the whole family goes, newest included.
    revoke(&app, &client, &rt).await;
    assert_eq!(introspect(&app, &client, &newest).await["active"], false);
    let (status, body) = app.refresh(&client, true, &newest).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

async fn unknown_malformed_tampered_and_foreign_tokens_are_inactive_and_revoke_answers_200(
    app: TestApp,
) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    let at = tokens["access_token"].as_str().expect("at");
    let foreign = {
        let key = gptauth::tokens::generate_es256().expect("key");
        let encoding = jsonwebtoken::EncodingKey::from_ec_der(&key.private_der);
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("at+jwt".into());
        header.kid = jsonwebtoken::decode_header(at).expect("header").kid;
        let claims: Value = app.verify_jwt(at).await;
        jsonwebtoken::encode(&header, &claims, &encoding).expect("sign")
    };
    for token in [
        "",
        "garbage",
        "a.b.c",
        &tampered(at),
        &foreign,
        &"x".repeat(43),
    ] {
        if token.is_empty() {
            let (status, body) = post_as(
                &app,
                "/oauth/introspect",
                Some(&client),
                &[("token", token)],
            )
            .await;
            assert_eq!(
                (status, body["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_request"))
            );
            continue;
        }
        assert_eq!(
            introspect(&app, &client, token).await,
            serde_json::json!({ "active": false }),
            "{token}"
        );
        revoke(&app, &client, token).await;
    }
    assert_eq!(
        introspect(&app, &client, at).await["active"],
        true,
        "the real one is untouched"
    );
}

async fn both_endpoints_require_client_authentication(app: TestApp) {
    let client = app.client().await;
    let public = app.public_client().await;
    let wrong = TestClient {
        id: client.id.clone(),
        secret: "wrong".into(),
    };
    for path in ["/oauth/introspect", "/oauth/revoke"] {
        let (status, body) = post_as(&app, path, None, &[("token", "x")]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{path}"
        );
        let (status, _) = post_as(&app, path, Some(&wrong), &[("token", "x")]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let (status, _) = post_as(
        &app,
        "/oauth/introspect",
        None,
        &[("token", "x"), ("client_id", &public.id)],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "public clients cannot introspect"
    );
    let (status, _) = post_as(
        &app,
        "/oauth/revoke",
        None,
        &[("token", "x"), ("client_id", &public.id)],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "public clients can revoke their own tokens"
    );
    let meta: Value = reqwest::get(app.url("/.well-known/oauth-authorization-server"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(meta["revocation_endpoint"], app.url("/oauth/revoke"));
    assert_eq!(meta["introspection_endpoint"], app.url("/oauth/introspect"));
}

crate::both_backends!(
    an_access_token_introspects_as_active_until_its_client_revokes_it,
    revoking_a_refresh_token_kills_its_family,
    unknown_malformed_tampered_and_foreign_tokens_are_inactive_and_revoke_answers_200,
    both_endpoints_require_client_authentication
);

async fn an_expired_access_token_is_inactive(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        introspect(&app, &client, tokens["access_token"].as_str().expect("at")).await,
        serde_json::json!({ "active": false })
    );
    assert_eq!(
        introspect(&app, &client, tokens["refresh_token"].as_str().expect("rt")).await["active"],
        true
    );
}

crate::both_backends_with!(
    &[("GPTAUTH_ACCESS_TOKEN_TTL", "1")];
    an_expired_access_token_is_inactive,
);

//! Several gptauth instances on one database, as behind a load balancer: whatever one
//! instance did, the others know at once. (Shared sign-in throttling is in `security.rs`,
//! scheduled key rotation in `verifier.rs`.)

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// Another instance on `app`'s database, behind the same public URL (one issuer).
async fn twin(app: &TestApp, overrides: &[(&str, &str)]) -> TestApp {
    let mut all = vec![("GPTAUTH_ISSUER", app.address.as_str())];
    all.extend_from_slice(overrides);
    spawn_app_on(app.backend, &app.database_url, &all).await
}

async fn introspect(app: &TestApp, client: &TestClient, token: &str) -> Value {
    let (status, body) = app
        .post_as(
            "/oauth/introspect",
            Some((&client.id, &client.secret)),
            &[("token", token)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Runs the popup at `front` and redeems the code at `back`.
async fn code_at_then_tokens_at(front: &TestApp, back: &TestApp, client: &TestClient) -> Value {
    let cb = front
        .sign_in(
            &browser(),
            &front.authorize_url(client, CHATGPT_OPENAI, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    let (status, tokens) = back
        .exchange_code(client, true, &cb.code(), CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

async fn codes_refresh_tokens_and_revocations_are_shared(app: TestApp) {
    let b = twin(&app, &[("GPTAUTH_REFRESH_GRACE_SECONDS", "1")]).await;
    let client = app.client().await;
    app.user("ada@example.com").await;
    let tokens = code_at_then_tokens_at(&app, &b, &client).await;
    let at = tokens["access_token"].as_str().expect("at");
    assert_eq!(introspect(&app, &client, at).await["active"], true);

    // Parallel refresh of one token at both instances (ChatGPT retrying): both succeed
    // within the grace window.
    let rt = tokens["refresh_token"].as_str().expect("rt");
    let (first, second) = futures::join!(
        app.refresh(&client, true, rt),
        b.refresh(&client, false, rt)
    );
    assert_eq!(
        (first.0, second.0),
        (StatusCode::OK, StatusCode::OK),
        "{} {}",
        first.1,
        second.1
    );
    // After the window, a reuse at either instance revokes the family for both.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = b.refresh(&client, true, rt).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    for successor in [&first.1, &second.1] {
        let (status, _) = app
            .refresh(
                &client,
                true,
                successor["refresh_token"].as_str().expect("rt"),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "the family is revoked everywhere"
        );
    }

    // A revocation at B is seen at A.
    let fresh = code_at_then_tokens_at(&b, &app, &client).await;
    let at = fresh["access_token"].as_str().expect("at");
    let (status, _) = b
        .post_as(
            "/oauth/revoke",
            Some((&client.id, &client.secret)),
            &[("token", at)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(introspect(&app, &client, at).await["active"], false);
}

async fn a_key_rotated_on_one_instance_verifies_and_signs_on_the_other_at_once(app: TestApp) {
    let b = twin(&app, &[]).await;
    let client = app.client().await;
    app.user("ada@example.com").await;
    let before = code_at_then_tokens_at(&app, &app, &client).await;
    // Rotate on A only; B keeps its loaded keys (its periodic reload is a minute away).
    let key = gptauth::tokens::generate_es256().expect("key");
    app.db.rotate_in_key(&key).await.expect("rotate");
    let a_state = app.state.as_ref().expect("state");
    a_state
        .keys
        .reload(&a_state.db, 3600)
        .await
        .expect("reload");
    let after = code_at_then_tokens_at(&app, &app, &client).await;
    let at = after["access_token"].as_str().expect("at");
    assert_eq!(
        jsonwebtoken::decode_header(at)
            .expect("header")
            .kid
            .as_deref(),
        Some(key.kid.as_str())
    );
    // B has never seen that kid: it reloads and accepts the token.
    assert_eq!(
        introspect(&b, &client, at).await["active"],
        true,
        "B verifies A's new key at once"
    );
    let userinfo = reqwest::Client::new()
        .get(b.url("/oauth/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .expect("get");
    assert_eq!(userinfo.status(), StatusCode::OK);
    // And B now signs with the new key too; old tokens still verify.
    let from_b = code_at_then_tokens_at(&b, &b, &client).await;
    let kid = jsonwebtoken::decode_header(from_b["access_token"].as_str().expect("at"))
        .expect("header")
        .kid;
    assert_eq!(kid.as_deref(), Some(key.kid.as_str()));
    assert_eq!(
        introspect(&b, &client, before["access_token"].as_str().expect("at")).await["active"],
        true
    );
    // An unknown kid that is nobody's stays refused.
    let mut forged = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    forged.kid = Some("made-up".into());
    forged.typ = Some("at+jwt".into());
    let parts: Vec<&str> = at.split('.').collect();
    use base64::Engine;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_string(&forged).expect("json"));
    let token = format!("{header}.{}.{}", parts[1], parts[2]);
    assert_eq!(introspect(&b, &client, &token).await["active"], false);
}

crate::both_backends_with!(
    &[("GPTAUTH_REFRESH_GRACE_SECONDS", "1")];
    codes_refresh_tokens_and_revocations_are_shared,
    a_key_rotated_on_one_instance_verifies_and_signs_on_the_other_at_once,
);

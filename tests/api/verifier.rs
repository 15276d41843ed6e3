//! `gptauth-verify` against a live server: every way a token can be wrong, key rotation, an
//! unreachable JWKS with a warm cache, and the actix and axum extractors.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gptauth_verify::{AuthenticatedUser, InsufficientScope, Verifier, VerifyError};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

fn verifier(app: &TestApp) -> Verifier {
    Verifier::builder(&app.address)
        .leeway(0)
        .build()
        .expect("verifier")
}

async fn access_token(app: &TestApp, client: &TestClient, email: &str) -> String {
    app.tokens_for(client, email).await["access_token"]
        .as_str()
        .expect("at")
        .to_string()
}

fn unsigned(token: &str, header: Value) -> String {
    let payload = token.split('.').nth(1).expect("payload");
    format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(header.to_string()))
}

/// Rotates the signing key as `gptauth keys rotate` does, and has the running server pick it up.
async fn rotate_keys(app: &TestApp) {
    let key = gptauth::tokens::generate_es256().expect("key");
    app.db.rotate_in_key(&key).await.expect("rotate");
    let state = app.state.as_ref().expect("in-process app");
    state
        .keys
        .reload(&state.db, state.config.access_token_ttl)
        .await
        .expect("reload");
}

/// Serves a copy of the server's JWKS on another port, counting requests, until aborted.
async fn jwks_mirror(app: &TestApp) -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let jwks: Value = reqwest::get(app.url("/.well-known/jwks.json"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let router = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                axum::Json(jwks)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, hits, server)
}

async fn a_real_token_verifies_to_its_user(app: TestApp) {
    let client = app.client().await;
    let user = app.user("ada@example.com").await;
    let token = access_token(&app, &client, "ada@example.com").await;
    let verified = verifier(&app)
        .verify_header(&format!("Bearer {token}"))
        .await
        .expect("valid");
    assert_eq!(verified.sub, user.to_string());
    assert_eq!(verified.client_id, client.id);
    assert_eq!(verified.issuer, app.address);
    assert!(verified.has_scope("openid") && verified.has_scope("profile"));
    assert!(verified.require_scope("admin").is_err());
}

async fn wrong_audience_issuer_algorithm_and_signature_are_refused(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let token = access_token(&app, &client, "ada@example.com").await;
    let other_audience = Verifier::builder(&app.address)
        .audience("https://api.elsewhere.example")
        .build()
        .expect("v");
    assert_eq!(
        other_audience.verify(&token).await,
        Err(VerifyError::Audience)
    );
    let other_issuer = Verifier::builder("https://auth.elsewhere.example")
        .audience(&app.address)
        .jwks_uri(app.url("/.well-known/jwks.json"))
        .build()
        .expect("v");
    assert_eq!(other_issuer.verify(&token).await, Err(VerifyError::Issuer));

    let v = verifier(&app);
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().expect("h"))
            .expect("b64"),
    )
    .expect("json");
    let kid = header["kid"].as_str().expect("kid").to_string();
    // alg none
    let none = unsigned(
        &token,
        serde_json::json!({ "alg": "none", "typ": "at+jwt", "kid": kid }),
    );
    assert!(
        matches!(
            v.verify(&none).await,
            Err(VerifyError::Malformed | VerifyError::Algorithm)
        ),
        "alg none"
    );
    // HS256 keyed with the public key (the algorithm-confusion attack)
    let jwks: Value = reqwest::get(app.url("/.well-known/jwks.json"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let public = jwks["keys"][0].to_string();
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.typ = Some("at+jwt".into());
    hs.kid = Some(kid.clone());
    let claims: Value = app.verify_jwt(&token).await;
    let confused = jsonwebtoken::encode(
        &hs,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()).expect("hmac key"),
    )
    .expect("sign");
    assert_eq!(v.verify(&confused).await, Err(VerifyError::Algorithm));
    // tampered payload
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims.clone();
    forged["sub"] = Value::String("someone-else".into());
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged.to_string()),
        parts[2]
    );
    assert_eq!(v.verify(&tampered).await, Err(VerifyError::Signature));
    // not an access token
    let mut id_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    id_header.kid = Some(kid);
    id_header.typ = Some("JWT".into());
    let wrong_type = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_string(&id_header).expect("h")),
        parts[1],
        parts[2]
    );
    assert_eq!(v.verify(&wrong_type).await, Err(VerifyError::WrongType));
}

async fn a_rotated_key_is_fetched_once_and_old_tokens_keep_verifying_until_it_leaves(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let v = verifier(&app);
    let old_token = access_token(&app, &client, "ada@example.com").await;
    v.verify(&old_token).await.expect("old key");
    rotate_keys(&app).await;
    let jwks: Value = reqwest::get(app.url("/.well-known/jwks.json"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        jwks["keys"].as_array().map(Vec::len),
        Some(3),
        "old and new ES256 key, and the RS256 key, are published"
    );
    let new_token = access_token(&app, &client, "ada@example.com").await;
    assert_ne!(
        jsonwebtoken::decode_header(&new_token).expect("h").kid,
        jsonwebtoken::decode_header(&old_token).expect("h").kid,
        "new tokens are signed with the new key"
    );
    v.verify(&new_token)
        .await
        .expect("the unknown kid triggers a refetch");
    v.verify(&old_token)
        .await
        .expect("tokens of the retired key still verify");
    // Once every token of the retired key has expired, it leaves the JWKS.
    let state = app.state.as_ref().expect("state");
    // A minute before the last of its tokens expires (plus the 300 s of skew allowed)…
    app.advance(state.config.access_token_ttl + 300 - 60);
    state
        .keys
        .reload(&state.db, state.config.access_token_ttl)
        .await
        .expect("reload");
    let jwks: Value = reqwest::get(app.url("/.well-known/jwks.json"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        jwks["keys"].as_array().map(Vec::len),
        Some(3),
        "not before the last of its tokens has expired"
    );
    app.advance(61);
    state
        .keys
        .reload(&state.db, state.config.access_token_ttl)
        .await
        .expect("reload");
    let jwks: Value = reqwest::get(app.url("/.well-known/jwks.json"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        jwks["keys"].as_array().map(Vec::len),
        Some(2),
        "the active ES256 and RS256 keys only"
    );
}

async fn a_warm_cache_survives_an_unreachable_jwks_and_refetches_are_rate_limited(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let token = access_token(&app, &client, "ada@example.com").await;
    let (jwks_url, hits, mirror) = jwks_mirror(&app).await;
    let v = Verifier::builder(&app.address)
        .jwks_uri(&jwks_url)
        .leeway(0)
        .build()
        .expect("v");
    v.verify(&token).await.expect("valid");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Forged kids do not hammer the issuer: one refetch at most per interval.
    let parts: Vec<&str> = token.split('.').collect();
    for i in 0..5 {
        let header =
            serde_json::json!({ "alg": "ES256", "typ": "at+jwt", "kid": format!("forged-{i}") });
        let forged = format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            parts[1],
            parts[2]
        );
        assert_eq!(v.verify(&forged).await, Err(VerifyError::UnknownKey));
    }
    assert!(
        hits.load(Ordering::SeqCst) <= 2,
        "{} fetches",
        hits.load(Ordering::SeqCst)
    );
    mirror.abort();
    let _ = mirror.await;
    v.verify(&token)
        .await
        .expect("verified from the warm cache while the JWKS is down");
    let cold = Verifier::builder(&app.address)
        .jwks_uri(&jwks_url)
        .timeout(std::time::Duration::from_secs(1))
        .build()
        .expect("v");
    assert!(matches!(
        cold.verify(&token).await,
        Err(VerifyError::KeysUnavailable(_))
    ));
}

async fn the_actix_extractor_answers_401_and_403_as_rfc_6750_says(app: TestApp) {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let client = app.client().await;
    app.user("ada@example.com").await;
    let token = access_token(&app, &client, "ada@example.com").await;
    async fn me(user: AuthenticatedUser) -> HttpResponse {
        HttpResponse::Ok().body(user.sub)
    }
    async fn admin(user: AuthenticatedUser) -> Result<HttpResponse, actix_web::Error> {
        user.require_scope("admin")?;
        Ok(HttpResponse::Ok().finish())
    }
    let v = verifier(&app);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(v.clone())
            .route("/me", web::get().to(me))
            .route("/admin", web::get().to(admin))
    })
    .listen(listener)
    .expect("listen")
    .workers(1)
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    check_resource_api(&api, &token, &app).await;
    handle.stop(false).await;
}

async fn the_axum_extractor_answers_401_and_403_as_rfc_6750_says(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let token = access_token(&app, &client, "ada@example.com").await;
    async fn me(user: AuthenticatedUser) -> String {
        user.sub
    }
    async fn admin(user: AuthenticatedUser) -> Result<&'static str, InsufficientScope> {
        user.require_scope("admin")?;
        Ok("ok")
    }
    let router = axum::Router::new()
        .route("/me", axum::routing::get(me))
        .route("/admin", axum::routing::get(admin))
        .with_state(verifier(&app));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    check_resource_api(&api, &token, &app).await;
    server.abort();
}

crate::both_backends!(
    a_real_token_verifies_to_its_user,
    wrong_audience_issuer_algorithm_and_signature_are_refused,
    a_rotated_key_is_fetched_once_and_old_tokens_keep_verifying_until_it_leaves,
    a_warm_cache_survives_an_unreachable_jwks_and_refetches_are_rate_limited,
    the_actix_extractor_answers_401_and_403_as_rfc_6750_says,
    the_axum_extractor_answers_401_and_403_as_rfc_6750_says
);

async fn check_resource_api(api: &str, token: &str, app: &TestApp) {
    let http = reqwest::Client::new();
    let resp = http
        .get(format!("{api}/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("me");
    assert_eq!(resp.status(), StatusCode::OK);
    let sub = resp.text().await.expect("body");
    assert_eq!(
        sub,
        app.verify_jwt(token).await["sub"].as_str().expect("sub")
    );

    let resp = http.get(format!("{api}/me")).send().await.expect("me");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );

    let resp = http
        .get(format!("{api}/me"))
        .bearer_auth("not.a.token")
        .send()
        .await
        .expect("me");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );

    let resp = http
        .get(format!("{api}/admin"))
        .bearer_auth(token)
        .send()
        .await
        .expect("admin");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(
        challenge,
        "Bearer error=\"insufficient_scope\", scope=\"admin\""
    );
}

async fn an_expired_token_is_refused(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let token = access_token(&app, &client, "ada@example.com").await;
    let v = verifier(&app);
    v.verify(&token).await.expect("fresh");
    tokio::time::sleep(std::time::Duration::from_millis(4100)).await;
    assert_eq!(v.verify(&token).await, Err(VerifyError::Expired));
    assert_eq!(VerifyError::Expired.status(), 401);
}

crate::both_backends_with!(&[("GPTAUTH_ACCESS_TOKEN_TTL", "3")]; an_expired_token_is_refused);

async fn the_key_rotates_on_schedule_once_across_instances(app: TestApp) {
    let state = app.state.as_ref().expect("state").clone();
    let other = spawn_app_on_with_clock(
        app.backend,
        &app.database_url,
        &[("GPTAUTH_KEY_ROTATION_DAYS", "30")],
        app.db.clock().clone(),
    )
    .await;
    let other_state = other.state.as_ref().expect("state").clone();
    assert_eq!(
        state
            .keys
            .rotate_if_due(&state.db, 30, 3600)
            .await
            .expect("check"),
        0,
        "fresh keys are not due"
    );
    app.advance(31 * 86400);
    let old_kid = state
        .keys
        .current()
        .access_signer()
        .expect("signer")
        .kid
        .clone();
    let (a, b) = futures::join!(
        state.keys.rotate_if_due(&state.db, 30, 3600),
        other_state.keys.rotate_if_due(&other_state.db, 30, 3600),
    );
    assert_eq!(
        a.expect("a") + b.expect("b"),
        2,
        "each algorithm's key is rotated once, by one instance"
    );
    other_state
        .keys
        .reload(&other_state.db, 3600)
        .await
        .expect("reload");
    state.keys.reload(&state.db, 3600).await.expect("reload");
    assert_ne!(
        state.keys.current().access_signer().expect("signer").kid,
        old_kid
    );
    assert_eq!(
        state.keys.current().access_signer().expect("signer").kid,
        other_state
            .keys
            .current()
            .access_signer()
            .expect("signer")
            .kid,
        "both instances sign with the new key"
    );
    assert_eq!(
        state.keys.current().jwks.keys.len(),
        4,
        "the old keys are still published"
    );
}

crate::both_backends_with!(
    &[("GPTAUTH_KEY_ROTATION_DAYS", "30")];
    the_key_rotates_on_schedule_once_across_instances,
);

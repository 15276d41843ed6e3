//! OpenID Connect: ID tokens (RS256 by default, ES256 on request), `nonce`, `auth_time`,
//! `at_hash`, and the sign-in controls `prompt`, `max_age`, `id_token_hint` and `login_hint`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::*;

/// Verifies an ID token against the JWKS as a relying party would; returns its alg and claims.
async fn verify_id_token(app: &TestApp, token: &str, client_id: &str) -> (Algorithm, Value) {
    let header = jsonwebtoken::decode_header(token).expect("jwt header");
    assert_ne!(
        header.typ.as_deref(),
        Some("at+jwt"),
        "an ID token is not an access token"
    );
    let jwks: JwkSet = reqwest::get(app.url("/.well-known/jwks.json"))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("the kid is published");
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&app.address]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_jwk(jwk).expect("key"),
        &validation,
    )
    .expect("the ID token verifies")
    .claims;
    (header.alg, claims)
}

fn left_half_sha256(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(token.as_bytes())[..16])
}

/// Signs in through the popup with extra authorization parameters; returns the callback.
async fn popup(
    app: &TestApp,
    browser: &reqwest::Client,
    client: &TestClient,
    extra: &[(&str, &str)],
) -> Callback {
    app.sign_in(
        browser,
        &app.authorize_url_with(client, CHATGPT_OPENAI, extra),
        "ada@example.com",
        PASSWORD,
    )
    .await
}

/// Where the authorization endpoint sends the browser, without following.
async fn authorize_location(
    app: &TestApp,
    browser: &reqwest::Client,
    client: &TestClient,
    extra: &[(&str, &str)],
) -> String {
    let (status, location, body) = app
        .get(
            browser,
            &app.authorize_url_with(client, CHATGPT_OPENAI, extra),
        )
        .await;
    assert!(status.is_redirection(), "{status}: {body}");
    location.expect("location")
}

fn query_param(location: &str, name: &str) -> Option<String> {
    url::Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn the_openid_scope_yields_an_rs256_id_token_with_nonce_auth_time_and_at_hash(app: TestApp) {
    let client = app.client().await;
    let user = app.user("ada@example.com").await;
    let browser = browser();
    let before = app.now();
    let cb = popup(
        &app,
        &browser,
        &client,
        &[("scope", "openid email"), ("nonce", "n-0S6_WzA2Mj")],
    )
    .await;
    let (status, body) = app
        .exchange_code(&client, true, &cb.code(), CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id_token = body["id_token"].as_str().expect("an id_token");
    let (alg, claims) = verify_id_token(&app, id_token, &client.id).await;
    assert_eq!(alg, Algorithm::RS256, "the OpenID Connect default");
    assert_eq!(claims["sub"], user.to_string());
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    let auth_time = claims["auth_time"].as_i64().expect("auth_time");
    assert!(auth_time >= before && auth_time <= app.now(), "{claims}");
    assert_eq!(
        claims["at_hash"],
        left_half_sha256(body["access_token"].as_str().expect("at"))
    );
    // The access token's subject is the ID token's.
    assert_eq!(
        app.verify_jwt(body["access_token"].as_str().expect("at"))
            .await["sub"],
        claims["sub"]
    );

    // A refresh gives a new ID token: same person and sign-in time, no nonce (Core §12.2).
    let (status, refreshed) = app
        .refresh(&client, false, body["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let (_, again) = verify_id_token(
        &app,
        refreshed["id_token"].as_str().expect("id_token on refresh"),
        &client.id,
    )
    .await;
    assert_eq!(again["sub"], claims["sub"]);
    assert_eq!(again["auth_time"], claims["auth_time"]);
    assert!(again.get("nonce").is_none(), "{again}");
    assert_eq!(
        again["at_hash"],
        left_half_sha256(refreshed["access_token"].as_str().expect("at"))
    );

    // Without `openid`, no ID token.
    let plain = app.client_with("profile", &[CHATGPT_OPENAI]).await;
    let tokens = app.tokens_for(&plain, "ada@example.com").await;
    assert!(tokens.get("id_token").is_none(), "{tokens}");
}

async fn a_client_may_ask_for_es256_id_tokens(app: TestApp) {
    let id = format!("gpt_{}", uuid::Uuid::new_v4().simple());
    let uris = vec![CHATGPT_OPENAI.to_string()];
    app.db
        .insert_client(&gptauth::store::NewClient {
            client_id: &id,
            name: "EC GPT",
            secret_hash: Some(&gptauth::crypto::digest("s3cret")),
            scope: "openid",
            audience: None,
            require_pkce: false,
            chatgpt_callbacks: false,
            resources: &[],
            id_token_alg: Some(Algorithm::ES256),
            registration_token_hash: None,
            registered_auth_method: None,
            owner_id: None,
            logo_uri: None,
            policy_uri: None,
            redirect_uris: &uris,
        })
        .await
        .expect("insert");
    let client = TestClient {
        id,
        secret: "s3cret".into(),
    };
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    let (alg, claims) = verify_id_token(
        &app,
        tokens["id_token"].as_str().expect("id_token"),
        &client.id,
    )
    .await;
    assert_eq!(alg, Algorithm::ES256);
    assert!(claims.get("nonce").is_none(), "no nonce was sent: {claims}");
}

async fn prompt_none_answers_at_once_with_login_or_consent_required(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let browser = browser();
    let loc = authorize_location(&app, &browser, &client, &[("prompt", "none")]).await;
    assert!(loc.starts_with(CHATGPT_OPENAI), "{loc}");
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("login_required")
    );
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st"));
    assert_eq!(
        query_param(&loc, "iss").as_deref(),
        Some(app.address.as_str())
    );

    // Signed in, but this client was never allowed: consent_required.
    let other = app.client().await;
    popup(&app, &browser, &other, &[]).await;
    let loc = authorize_location(&app, &browser, &client, &[("prompt", "none")]).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("consent_required"),
        "{loc}"
    );

    // Signed in and allowed: a code, without any page.
    popup(&app, &browser, &client, &[]).await;
    let loc = authorize_location(&app, &browser, &client, &[("prompt", "none")]).await;
    assert!(query_param(&loc, "code").is_some(), "{loc}");

    // prompt=consent asks again although consent was given.
    let loc = authorize_location(&app, &browser, &client, &[("prompt", "consent")]).await;
    assert!(loc.starts_with("/consent?"), "{loc}");

    for bad in ["none login", "select_account"] {
        let loc = authorize_location(&app, &browser, &client, &[("prompt", bad)]).await;
        assert_eq!(
            query_param(&loc, "error").as_deref(),
            Some("invalid_request"),
            "{bad}: {loc}"
        );
    }
}

async fn prompt_login_and_max_age_ask_for_the_password_again(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let browser = browser();
    let first = popup(&app, &browser, &client, &[("scope", "openid")]).await;
    let (_, body) = app
        .exchange_code(&client, true, &first.code(), CHATGPT_OPENAI)
        .await;
    let (_, first_claims) = verify_id_token(
        &app,
        body["id_token"].as_str().expect("id_token"),
        &client.id,
    )
    .await;

    // Remembered consent and a live session: normally straight back with a code.
    let loc = authorize_location(&app, &browser, &client, &[("scope", "openid")]).await;
    assert!(loc.starts_with(CHATGPT_OPENAI), "{loc}");

    for extra in [&[("prompt", "login")][..], &[("max_age", "1")][..]] {
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let mut params = vec![("scope", "openid")];
        params.extend_from_slice(extra);
        let loc = authorize_location(&app, &browser, &client, &params).await;
        assert!(
            loc.starts_with("/login?") && loc.contains("fresh=1"),
            "{extra:?}: {loc}"
        );
        let (status, _, page) = app.get(&browser, &app.absolute(&loc)).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the login page shows although a session exists"
        );
        assert!(page.contains("action=\"/login\""));
        assert!(
            !form_value(&page, "next").contains("prompt=login"),
            "signing in satisfies the prompt"
        );
        let cb = popup(&app, &browser, &client, &params).await;
        let (_, body) = app
            .exchange_code(&client, true, &cb.code(), CHATGPT_OPENAI)
            .await;
        let (_, claims) = verify_id_token(
            &app,
            body["id_token"].as_str().expect("id_token"),
            &client.id,
        )
        .await;
        assert!(
            claims["auth_time"].as_i64() > first_claims["auth_time"].as_i64(),
            "{extra:?}: a new sign-in time"
        );
    }
}

async fn id_token_hint_and_login_hint_guide_the_sign_in(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    app.user("bob@example.com").await;
    let ada = browser();
    let cb = popup(&app, &ada, &client, &[("scope", "openid")]).await;
    let (_, body) = app
        .exchange_code(&client, true, &cb.code(), CHATGPT_OPENAI)
        .await;
    let ada_hint = body["id_token"].as_str().expect("id_token").to_string();

    // The hinted user is the signed-in one: silent re-authorization works.
    let loc = authorize_location(
        &app,
        &ada,
        &client,
        &[
            ("scope", "openid"),
            ("prompt", "none"),
            ("id_token_hint", &ada_hint),
        ],
    )
    .await;
    assert!(query_param(&loc, "code").is_some(), "{loc}");

    // Another user is signed in in this browser: not silently.
    let bob = browser();
    app.sign_in(
        &bob,
        &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
        "bob@example.com",
        PASSWORD,
    )
    .await;
    let loc = authorize_location(
        &app,
        &bob,
        &client,
        &[("prompt", "none"), ("id_token_hint", &ada_hint)],
    )
    .await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("login_required"),
        "{loc}"
    );
    let loc = authorize_location(&app, &bob, &client, &[("id_token_hint", &ada_hint)]).await;
    assert!(
        loc.starts_with("/login?") && loc.contains("fresh=1"),
        "{loc}"
    );

    // Not an ID token of ours for this client.
    let other = app.client().await;
    for bad in [ada_hint.as_str(), "not.a.jwt"] {
        let loc = authorize_location(&app, &ada, &other, &[("id_token_hint", bad)]).await;
        assert_eq!(
            query_param(&loc, "error").as_deref(),
            Some("invalid_request"),
            "{loc}"
        );
    }
    let access_token = body["access_token"].as_str().expect("at");
    let loc = authorize_location(&app, &ada, &client, &[("id_token_hint", access_token)]).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("invalid_request"),
        "an access token is no hint: {loc}"
    );

    // login_hint fills in the e-mail field.
    let fresh = browser();
    let loc = authorize_location(
        &app,
        &fresh,
        &client,
        &[("login_hint", "carol@example.com")],
    )
    .await;
    let (_, _, page) = app.get(&fresh, &app.absolute(&loc)).await;
    assert!(page.contains("value=\"carol@example.com\""), "{page}");
}

async fn discovery_lists_exactly_the_openid_connect_support(app: TestApp) {
    let meta: Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        meta["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256"])
    );
    assert_eq!(
        meta["prompt_values_supported"],
        serde_json::json!(["none", "login", "consent"])
    );
    assert_eq!(meta["request_parameter_supported"], false);
    for claim in [
        "sub",
        "auth_time",
        "nonce",
        "email",
        "email_verified",
        "name",
    ] {
        assert!(
            meta["claims_supported"]
                .as_array()
                .expect("claims")
                .iter()
                .any(|c| c == claim),
            "{claim}"
        );
    }
}

crate::both_backends!(
    the_openid_scope_yields_an_rs256_id_token_with_nonce_auth_time_and_at_hash,
    a_client_may_ask_for_es256_id_tokens,
    prompt_none_answers_at_once_with_login_or_consent_required,
    prompt_login_and_max_age_ask_for_the_password_again,
    id_token_hint_and_login_hint_guide_the_sign_in,
    discovery_lists_exactly_the_openid_connect_support
);

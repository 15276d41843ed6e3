//! PKCE (RFC 7636, S256 only) and public clients.

use base64::Engine;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::helpers::*;

fn pkce_pair() -> (String, String) {
    let verifier = gptauth::crypto::random_token();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

async fn code_with(app: &TestApp, client: &TestClient, extra: &[(&str, &str)]) -> Callback {
    app.sign_in(
        &browser(),
        &app.authorize_url_with(client, CHATGPT_OPENAI, extra),
        "ada@example.com",
        PASSWORD,
    )
    .await
}

async fn a_confidential_client_that_sends_a_challenge_must_send_the_right_verifier(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let (verifier, challenge) = pkce_pair();
    let pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    for wrong in [
        None,
        Some("wrong-verifier-wrong-verifier-wrong-verifier-00"),
    ] {
        let code = code_with(&app, &client, &pkce).await.code();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CHATGPT_OPENAI),
        ];
        if let Some(w) = wrong {
            form.push(("code_verifier", w));
        }
        let (status, _, body) = app.token(&client, true, &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{wrong:?}"
        );
    }
    let code = code_with(&app, &client, &pkce).await.code();
    let (status, _, body) = app
        .token(
            &client,
            true,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CHATGPT_OPENAI),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn the_plain_method_is_refused(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let cb = code_with(
        &app,
        &client,
        &[
            (
                "code_challenge",
                "a-plain-challenge-a-plain-challenge-a-plain-00",
            ),
            ("code_challenge_method", "plain"),
        ],
    )
    .await;
    assert_eq!(cb.param("code"), None, "{}", cb.url);
    assert!(cb.param("error").is_some(), "{}", cb.url);
}

async fn a_public_client_must_use_pkce_and_then_needs_no_secret(app: TestApp) {
    let client = app.public_client().await;
    app.user("ada@example.com").await;
    // Without a challenge: an error back at the (verified) redirect URI.
    let (status, location, _) = app
        .get(
            &browser(),
            &app.authorize_url(&client, CHATGPT_OPENAI, "st-pub", None),
        )
        .await;
    assert_eq!(status, StatusCode::FOUND);
    let location = location.expect("location");
    assert!(
        location.starts_with(CHATGPT_OPENAI)
            && location.contains("error=invalid_request")
            && location.contains("state=st-pub"),
        "{location}"
    );

    let (verifier, challenge) = pkce_pair();
    let code = code_with(
        &app,
        &client,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await
    .code();
    let (status, body) = app
        .token_raw(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CHATGPT_OPENAI),
                ("client_id", &client.id),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .token_raw(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", body["refresh_token"].as_str().expect("rt")),
                ("client_id", &client.id),
            ],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a public client refreshes with its client_id: {body}"
    );
}

async fn client_authentication_must_be_one_method_and_consistent(app: TestApp) {
    let client = app.client().await;
    let (status, body) = app
        .token_raw(
            Some((&client.id, &client.secret)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_secret", &client.secret),
                ("client_id", &client.id),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, body) = app
        .token_raw(
            Some((&client.id, &client.secret)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", "gpt_someone_else"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, body) = app
        .token_raw(
            None,
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    // A confidential client cannot pass as public by leaving its secret out.
    let (status, body) = app
        .token_raw(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", &client.id),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
}

async fn every_response_carries_a_request_id(app: TestApp) {
    let resp = reqwest::get(app.url("/healthz")).await.expect("get");
    let id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id");
    assert_eq!(uuid::Uuid::parse_str(id).map(|_| ()), Ok(()));
}

crate::both_backends!(
    a_confidential_client_that_sends_a_challenge_must_send_the_right_verifier,
    the_plain_method_is_refused,
    a_public_client_must_use_pkce_and_then_needs_no_secret,
    client_authentication_must_be_one_method_and_consistent,
    every_response_carries_a_request_id
);

async fn a_token_request_may_leave_out_redirect_uri_when_nothing_else_could_be_meant(app: TestApp) {
    app.user("ada@example.com").await;
    // OAuth 2.1: PKCE binds the code, so redirect_uri is not needed.
    let client = app.client().await;
    let (verifier, challenge) = pkce_pair();
    let pkce = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let code = code_with(&app, &client, &pkce).await.code();
    let (status, _, body) = app
        .token(
            &client,
            true,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Without PKCE, and the client has two callbacks: it must say which.
    let code = code_with(&app, &client, &[]).await.code();
    let (status, _, body) = app
        .token(
            &client,
            true,
            &[("grant_type", "authorization_code"), ("code", &code)],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );
    let (status, body) = app
        .exchange_code(&client, true, &code, CHATGPT_OPENAI)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the refusal did not burn the code: {body}"
    );
    // One callback only: nothing else could be meant.
    let single = app.client_with("openid", &[CHATGPT_OPENAI]).await;
    let code = code_with(&app, &single, &[]).await.code();
    let (status, _, body) = app
        .token(
            &single,
            false,
            &[("grant_type", "authorization_code"), ("code", &code)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A wrong redirect_uri still fails, PKCE or not.
    let code = code_with(&app, &client, &pkce).await.code();
    let (status, _, body) = app
        .token(
            &client,
            true,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
                ("redirect_uri", CHATGPT_COM),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

crate::both_backends!(a_token_request_may_leave_out_redirect_uri_when_nothing_else_could_be_meant);

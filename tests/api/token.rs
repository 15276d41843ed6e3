//! The token endpoint: both client authentication methods, RFC 6749 §5.2 errors.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

async fn code_for(app: &TestApp, client: &TestClient, email: &str, redirect_uri: &str) -> String {
    let browser = browser();
    app.sign_in(
        &browser,
        &app.authorize_url(client, redirect_uri, "s", None),
        email,
        PASSWORD,
    )
    .await
    .code()
}

fn error_of(body: &Value) -> &str {
    body["error"].as_str().unwrap_or("<none>")
}

async fn client_secret_post_swaps_the_code_for_a_verifiable_jwt_and_a_refresh_token(app: TestApp) {
    let client = app.client().await;
    let user = app.user("ada@example.com").await;
    let code = code_for(&app, &client, "ada@example.com", CHATGPT_OPENAI).await;
    let (status, headers, body) = app
        .token(
            &client,
            false,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CHATGPT_OPENAI),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].is_i64(), "expires_in is an integer");
    let expires_in = body["expires_in"].as_i64().unwrap_or(0);
    assert!((3590..=3600).contains(&expires_in), "{expires_in}");
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|r| r.len() == 43)
    );
    let claims = app
        .verify_jwt(body["access_token"].as_str().expect("at"))
        .await;
    assert_eq!(
        claims["sub"].as_str(),
        Some(user.to_string().as_str()),
        "sub is the user's UUID"
    );
    assert_eq!(claims["client_id"].as_str(), Some(client.id.as_str()));
    assert_eq!(claims["iss"].as_str(), Some(app.address.as_str()));
    assert_eq!(claims["aud"].as_str(), Some(app.address.as_str()));
    assert!(claims["jti"].as_str().is_some());
    assert!(claims["iat"].is_i64() && claims["exp"].is_i64());
}

async fn client_secret_basic_works_on_the_chatgpt_com_callback(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let code = code_for(&app, &client, "ada@example.com", CHATGPT_COM).await;
    let (status, body) = app.exchange_code(&client, true, &code, CHATGPT_COM).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.verify_jwt(body["access_token"].as_str().expect("at"))
        .await;
}

async fn two_sign_ins_of_one_user_give_one_sub_and_two_users_two(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    app.user("grace@example.com").await;
    let first = app.tokens_for(&client, "ada@example.com").await;
    let second = app.tokens_for(&client, "ada@example.com").await;
    let other = app.tokens_for(&client, "grace@example.com").await;
    let mut subs = Vec::new();
    for t in [&first, &second, &other] {
        let claims = app
            .verify_jwt(t["access_token"].as_str().expect("at"))
            .await;
        subs.push(claims["sub"].as_str().expect("sub").to_string());
    }
    let (a1, a2, g) = (&subs[0], &subs[1], &subs[2]);
    assert_eq!(a1, a2, "one person, one sub across sessions");
    assert_ne!(a1, g, "two people, two subs");
}

async fn a_replayed_code_is_refused_with_invalid_grant(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let code = code_for(&app, &client, "ada@example.com", CHATGPT_OPENAI).await;
    let (status, _) = app
        .exchange_code(&client, false, &code, CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .exchange_code(&client, false, &code, CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&body), "invalid_grant");
}

async fn of_parallel_redemptions_of_one_code_exactly_one_wins(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let code = code_for(&app, &client, "ada@example.com", CHATGPT_OPENAI).await;
    let attempts = (0..8).map(|i| app.exchange_code(&client, i % 2 == 0, &code, CHATGPT_OPENAI));
    let results = futures::future::join_all(attempts).await;
    let wins = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(wins, 1, "{results:?}");
    for (status, body) in results.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!(*status, StatusCode::BAD_REQUEST);
        assert_eq!(error_of(body), "invalid_grant");
    }
}

async fn a_code_is_bound_to_its_client_and_redirect_uri(app: TestApp) {
    let client = app.client().await;
    let other = app.client().await;
    app.user("ada@example.com").await;
    let code = code_for(&app, &client, "ada@example.com", CHATGPT_OPENAI).await;
    let (status, body) = app.exchange_code(&client, false, &code, CHATGPT_COM).await;
    assert_eq!(
        (status, error_of(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let code = code_for(&app, &client, "ada@example.com", CHATGPT_OPENAI).await;
    let (status, body) = app
        .exchange_code(&other, false, &code, CHATGPT_OPENAI)
        .await;
    assert_eq!(
        (status, error_of(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

async fn a_wrong_secret_is_401_invalid_client_with_www_authenticate(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let code = code_for(&app, &client, "ada@example.com", CHATGPT_OPENAI).await;
    for basic in [true, false] {
        let wrong = TestClient {
            id: client.id.clone(),
            secret: "not-the-secret".into(),
        };
        let (status, headers, body) = app
            .token(
                &wrong,
                basic,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", CHATGPT_OPENAI),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(error_of(&body), "invalid_client");
        assert!(
            headers
                .get("www-authenticate")
                .is_some_and(|v| v.to_str().unwrap_or("").starts_with("Basic"))
        );
    }
    // The failed attempts did not burn the code.
    let (status, body) = app
        .exchange_code(&client, false, &code, CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn an_unknown_grant_type_is_unsupported_grant_type(app: TestApp) {
    let client = app.client().await;
    let (status, _, body) = app
        .token(
            &client,
            true,
            &[
                ("grant_type", "password"),
                ("username", "a"),
                ("password", "b"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&body), "unsupported_grant_type");
}

async fn malformed_token_requests_are_invalid_request_never_500(app: TestApp) {
    let client = app.client().await;
    let cases: &[&[(&str, &str)]] = &[
        &[],
        &[
            ("grant_type", "authorization_code"),
            ("redirect_uri", CHATGPT_OPENAI),
        ],
        &[("grant_type", "authorization_code"), ("code", "x")],
        &[("grant_type", "refresh_token")],
    ];
    for form in cases {
        let (status, _, body) = app.token(&client, true, form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}");
        assert_eq!(error_of(&body), "invalid_request", "{form:?}");
    }
    // Repeated parameters (RFC 6749 §3.1), a JSON body, a garbage Basic header.
    let http = reqwest::Client::new();
    let resp = http
        .post(app.url("/oauth/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&code=a&code=b&redirect_uri=x")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_of(&resp.json::<Value>().await.expect("json")),
        "invalid_request"
    );
    let resp = http
        .post(app.url("/oauth/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_of(&resp.json::<Value>().await.expect("json")),
        "invalid_request"
    );
    let resp = http
        .post(app.url("/oauth/token"))
        .header("authorization", "Basic %%%")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=refresh_token&refresh_token=x")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        error_of(&resp.json::<Value>().await.expect("json")),
        "invalid_client"
    );
}

async fn an_unknown_client_is_invalid_client(app: TestApp) {
    let ghost = TestClient {
        id: "gpt_ghost".into(),
        secret: "x".into(),
    };
    let (status, _, body) = app
        .token(
            &ghost,
            false,
            &[
                ("grant_type", "authorization_code"),
                ("code", "abc"),
                ("redirect_uri", CHATGPT_OPENAI),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(&body), "invalid_client");
}

crate::both_backends!(
    client_secret_post_swaps_the_code_for_a_verifiable_jwt_and_a_refresh_token,
    client_secret_basic_works_on_the_chatgpt_com_callback,
    two_sign_ins_of_one_user_give_one_sub_and_two_users_two,
    a_replayed_code_is_refused_with_invalid_grant,
    of_parallel_redemptions_of_one_code_exactly_one_wins,
    a_code_is_bound_to_its_client_and_redirect_uri,
    a_wrong_secret_is_401_invalid_client_with_www_authenticate,
    an_unknown_grant_type_is_unsupported_grant_type,
    malformed_token_requests_are_invalid_request_never_500,
    an_unknown_client_is_invalid_client
);

async fn an_expired_code_is_invalid_grant(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let code = code_for(&app, &client, "ada@example.com", CHATGPT_OPENAI).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = app
        .exchange_code(&client, false, &code, CHATGPT_OPENAI)
        .await;
    assert_eq!(
        (status, error_of(&body)),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

crate::both_backends_with!(&[("GPTAUTH_CODE_TTL", "1")]; an_expired_code_is_invalid_grant);

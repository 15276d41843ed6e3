//! Refresh: rotation, the grace window for parallel refreshes, reuse detection.

use reqwest::StatusCode;

use crate::helpers::*;

async fn refresh_rotates_and_keeps_the_sub_with_either_auth_method(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let first = app.tokens_for(&client, "ada@example.com").await;
    let sub = app
        .verify_jwt(first["access_token"].as_str().expect("at"))
        .await["sub"]
        .clone();
    let mut refresh_token = first["refresh_token"].as_str().expect("rt").to_string();
    for basic in [false, true, false] {
        let (status, body) = app.refresh(&client, basic, &refresh_token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        let next = body["refresh_token"]
            .as_str()
            .expect("a rotated refresh token")
            .to_string();
        assert_ne!(next, refresh_token, "rotated on every use");
        let claims = app
            .verify_jwt(body["access_token"].as_str().expect("at"))
            .await;
        assert_eq!(claims["sub"], sub, "refresh keeps the sub");
        refresh_token = next;
    }
}

async fn a_refresh_token_is_bound_to_its_client(app: TestApp) {
    let client = app.client().await;
    let other = app.client().await;
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    let (status, body) = app
        .refresh(&other, true, tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

async fn refresh_may_narrow_the_scope_but_not_widen_it(app: TestApp) {
    let client = app
        .client_with("notes.read notes.write", &[CHATGPT_OPENAI])
        .await;
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    let rt = tokens["refresh_token"].as_str().expect("rt");
    let (status, _, body) = app
        .token(
            &client,
            true,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("scope", "notes.read admin"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (status, _, body) = app
        .token(
            &client,
            true,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("scope", "notes.read"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = app
        .verify_jwt(body["access_token"].as_str().expect("at"))
        .await;
    assert_eq!(claims["scope"], "notes.read");
}

async fn a_garbage_refresh_token_is_invalid_grant(app: TestApp) {
    let client = app.client().await;
    let (status, body) = app.refresh(&client, false, "not-a-token").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

crate::both_backends!(
    refresh_rotates_and_keeps_the_sub_with_either_auth_method,
    a_refresh_token_is_bound_to_its_client,
    refresh_may_narrow_the_scope_but_not_widen_it,
    a_garbage_refresh_token_is_invalid_grant
);

async fn a_rotated_token_works_inside_the_grace_window_and_reuse_after_it_revokes_the_family(
    app: TestApp,
) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    let old = tokens["refresh_token"].as_str().expect("rt").to_string();
    // ChatGPT refreshing twice at once: both succeed.
    let (a, b) = futures::join!(
        app.refresh(&client, false, &old),
        app.refresh(&client, true, &old)
    );
    assert_eq!(a.0, StatusCode::OK, "{}", a.1);
    assert_eq!(b.0, StatusCode::OK, "{}", b.1);
    let newest = a.1["refresh_token"].as_str().expect("rt").to_string();
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    // Reuse after the window: refused, and the whole family is revoked with it.
    let (status, body) = app.refresh(&client, false, &old).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) = app.refresh(&client, false, &newest).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "family revoked"
    );
    // A fresh sign-in starts a new, working family.
    let again = app.tokens_for(&client, "ada@example.com").await;
    let (status, _) = app
        .refresh(&client, true, again["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

crate::both_backends_with!(
    &[("GPTAUTH_REFRESH_GRACE_SECONDS", "3")];
    a_rotated_token_works_inside_the_grace_window_and_reuse_after_it_revokes_the_family,
);

//! `/account`: connected GPTs, and disconnecting one.

use reqwest::StatusCode;

use crate::helpers::*;

crate::both_backends! {
    async fn disconnecting_a_gpt_withdraws_consent_and_kills_its_refresh_tokens(app: TestApp) {
        let client = app.client().await;
        app.user("ada@example.com").await;
        let browser = browser();
        let cb = app.sign_in(&browser, &app.authorize_url(&client, CHATGPT_OPENAI, "s", None), "ada@example.com", PASSWORD).await;
        let (status, tokens) = app.exchange_code(&client, false, &cb.code(), CHATGPT_OPENAI).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, page) = app.get(&browser, &app.url("/account")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Notes GPT") && page.contains("ada@example.com"), "{page}");
        assert!(!page.contains("last used never"), "the token exchange counts as use");

        let (status, location, _) = app.post_form(&browser, &app.url("/account/disconnect"), &[
            ("csrf_token", &form_value(&page, "csrf_token")), ("client_id", &client.id),
        ]).await;
        assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/account")));
        let (status, body) = app.refresh(&client, true, tokens["refresh_token"].as_str().expect("rt")).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "the GPT must ask again");
        let (_, _, page) = app.get(&browser, &app.url("/account")).await;
        assert!(page.contains("No GPT is connected"), "{page}");
        let (status, location, _) = app.get(&browser, &app.authorize_url(&client, CHATGPT_OPENAI, "s", None)).await;
        assert_eq!(status, StatusCode::FOUND);
        assert!(location.unwrap_or_default().starts_with("/consent"), "consent is asked again");
    }

    async fn the_account_page_needs_a_session_and_the_form_a_csrf_token(app: TestApp) {
        let (status, location, _) = app.get(&browser(), &app.url("/account")).await;
        assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("/login?next=%2Faccount")));
        let (status, _, _) = app.post_form(&browser(), &app.url("/account/disconnect"), &[("csrf_token", "forged"), ("client_id", "x")]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}

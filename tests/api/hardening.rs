//! Regression tests for the holes found by attacking a running server (issue 15): each fails on
//! the code before its fix.

use reqwest::StatusCode;

use crate::helpers::*;

crate::both_backends! {
    // Finding 10: RFC 9700 §2.1.1: a code_verifier for a code issued without a challenge is
    // refused (else a PKCE downgrade goes unnoticed).
    async fn a_code_verifier_without_a_challenge_is_invalid_grant(app: TestApp) {
        let client = app.client().await;
        app.user("ada@example.com").await;
        let cb = app.sign_in(&browser(), &app.authorize_url(&client, CHATGPT_OPENAI, "s", None), "ada@example.com", PASSWORD).await;
        let verifier = "a-verifier-a-verifier-a-verifier-a-verifier-0";
        let (status, _, body) = app.token(&client, true, &[
            ("grant_type", "authorization_code"), ("code", &cb.code()),
            ("redirect_uri", CHATGPT_OPENAI), ("code_verifier", verifier),
        ]).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    }
}

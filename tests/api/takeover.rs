//! Account takeover: what an attacker who once knew the password (or claimed an address before
//! its owner) can no longer do after the owner resets it or says "this wasn't me".

use reqwest::StatusCode;

use crate::helpers::*;
use crate::mail::{MailSink, sign_up, with_mail};

/// Signs `email` in with a fresh browser (no authorization request) and returns it.
async fn signed_in(app: &TestApp, email: &str, password: &str) -> reqwest::Client {
    let browser = browser();
    let (_, _, page) = app.get(&browser, &app.url("/login?next=%2Faccount")).await;
    let (status, _, body) = app
        .post_form(
            &browser,
            &app.url("/login"),
            &[
                ("email", email),
                ("password", password),
                ("csrf_token", &form_value(&page, "csrf_token")),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "sign-in failed: {body}");
    browser
}

/// Asks, from a signed-in browser, to move the account to `new_email`.
async fn ask_to_change_address(app: &TestApp, browser: &reqwest::Client, new_email: &str) {
    let (_, _, page) = app.get(browser, &app.url("/account")).await;
    let (status, location, body) = app
        .post_form(
            browser,
            &app.url("/account/email"),
            &[
                ("csrf_token", &form_value(&page, "csrf_token")),
                ("new_email", new_email),
                ("current_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/account?done=email")),
        "{body}"
    );
}

/// Asks for a reset link for `email`.
async fn forgot(app: &TestApp, email: &str) {
    let browser = browser();
    let (_, _, page) = app.get(&browser, &app.url("/forgot-password")).await;
    let (status, _, body) = app
        .post_form(
            &browser,
            &app.url("/forgot-password"),
            &[
                ("email", email),
                ("csrf_token", &form_value(&page, "csrf_token")),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Opens a reset link and sets `password`; returns the status of the form's answer.
async fn reset_with(app: &TestApp, link: &str, password: &str) -> StatusCode {
    let browser = browser();
    let (status, _, page) = app.get(&browser, link).await;
    if status != StatusCode::OK {
        return status;
    }
    let (status, _, _) = app
        .post_form(
            &browser,
            &app.url("/reset-password"),
            &[
                ("csrf_token", &form_value(&page, "csrf_token")),
                ("token", &form_value(&page, "token")),
                ("password", password),
                ("confirm", password),
            ],
        )
        .await;
    status
}

const NEW_PASSWORD: &str = "only the owner knows this one 7";

async fn a_reset_voids_the_attackers_pending_change_of_address(app: TestApp, mail: MailSink) {
    let user = app.user("ada@example.com").await;
    let attacker = signed_in(&app, "ada@example.com", PASSWORD).await;
    ask_to_change_address(&app, &attacker, "mallory@evil.example").await;
    let change_link = mail.wait_for("mallory@evil.example", 1).await.link(&app);
    let _notice = mail.wait_for("ada@example.com", 1).await;

    // The owner notices and resets; a second reset link asked for before stays unused.
    forgot(&app, "ada@example.com").await;
    forgot(&app, "ada@example.com").await;
    let first = mail.wait_for("ada@example.com", 2).await.link(&app);
    let second = mail.wait_for("ada@example.com", 3).await.link(&app);
    assert_eq!(
        reset_with(&app, &second, NEW_PASSWORD).await,
        StatusCode::OK
    );

    let (status, _, _) = app.get(&browser(), &change_link).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the pending change link is void"
    );
    let account = app.db.user_by_id(user).await.expect("db").expect("user");
    assert_eq!(
        account.email, "ada@example.com",
        "the address stays the owner's"
    );
    assert_eq!(
        reset_with(&app, &first, "the attackers own password 1").await,
        StatusCode::NOT_FOUND,
        "every other reset link is void (finding 14)"
    );
    let (status, location, _) = app.get(&attacker, &app.url("/account")).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the attacker's session is over: {location:?}"
    );
    signed_in(&app, "ada@example.com", NEW_PASSWORD).await;
}

async fn a_password_change_voids_links_mailed_before_it(app: TestApp, mail: MailSink) {
    let user = app.user("ada@example.com").await;
    let attacker = signed_in(&app, "ada@example.com", PASSWORD).await;
    ask_to_change_address(&app, &attacker, "mallory@evil.example").await;
    let change_link = mail.wait_for("mallory@evil.example", 1).await.link(&app);
    forgot(&app, "ada@example.com").await;
    let reset_link = mail.wait_for("ada@example.com", 2).await.link(&app);

    let owner = signed_in(&app, "ada@example.com", PASSWORD).await;
    let (_, _, page) = app.get(&owner, &app.url("/account")).await;
    let (status, _, body) = app
        .post_form(
            &owner,
            &app.url("/account/password"),
            &[
                ("csrf_token", &form_value(&page, "csrf_token")),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");

    let (status, _, _) = app.get(&browser(), &change_link).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the change link is void");
    assert_eq!(
        reset_with(&app, &reset_link, "the attackers own password 1").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.db
            .user_by_id(user)
            .await
            .expect("db")
            .expect("user")
            .email,
        "ada@example.com"
    );
}

async fn this_wasnt_me_moves_the_account_back_and_signs_everyone_out(app: TestApp, mail: MailSink) {
    let user = app.user("ada@example.com").await;
    let client = app.client().await;
    let attacker = signed_in(&app, "ada@example.com", PASSWORD).await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    ask_to_change_address(&app, &attacker, "mallory@evil.example").await;
    let change_link = mail.wait_for("mallory@evil.example", 1).await.link(&app);
    let notice = mail.wait_for("ada@example.com", 1).await;
    let secure_link = notice.link(&app);
    assert!(
        secure_link.contains("/secure-account?token="),
        "{}",
        notice.text()
    );
    // The attacker confirms first: the address moved.
    let (status, _, _) = app.get(&attacker, &change_link).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.db
            .user_by_id(user)
            .await
            .expect("db")
            .expect("user")
            .email,
        "mallory@evil.example"
    );

    // Opening the link changes nothing until its button is pressed (mail scanners open links).
    let owner = browser();
    let (status, _, page) = app.get(&owner, &secure_link).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        app.db
            .user_by_id(user)
            .await
            .expect("db")
            .expect("user")
            .email,
        "mallory@evil.example"
    );
    let (status, _, done) = app
        .post_form(
            &owner,
            &app.url("/secure-account"),
            &[
                ("csrf_token", &form_value(&page, "csrf_token")),
                ("token", &form_value(&page, "token")),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let account = app.db.user_by_id(user).await.expect("db").expect("user");
    assert_eq!(
        (account.id, account.email.as_str()),
        (user, "ada@example.com"),
        "the same sub, back at the owner's address"
    );
    let (status, _, _) = app.get(&attacker, &app.url("/account")).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the attacker is signed out");
    let (status, body) = app
        .refresh(&client, true, tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // The owner gets a reset link; the attacker's address gets nothing more.
    let reset = mail.wait_for("ada@example.com", 2).await;
    assert_eq!(reset.subject(), "Reset your password");
    assert_eq!(
        reset_with(&app, &reset.link(&app), NEW_PASSWORD).await,
        StatusCode::OK
    );
    forgot(&app, "mallory@evil.example").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        mail.to("mallory@evil.example").len(),
        1,
        "only the first confirmation ever went there"
    );
    let (status, _, _) = app.get(&owner, &secure_link).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "single use");
}

async fn a_reset_by_the_owner_ends_what_an_address_squatter_set_up(app: TestApp, mail: MailSink) {
    // The attacker signs up first with the victim's address (never verified) and connects a GPT.
    let client = app.client().await;
    let squatter = sign_up(&app, "ada@example.com", "/account").await;
    let authorize = app.authorize_url(&client, CHATGPT_OPENAI, "s", None);
    let cb = app
        .sign_in(&squatter, &authorize, "ada@example.com", PASSWORD)
        .await;
    let (status, tokens) = app
        .exchange_code(&client, true, &cb.code(), CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    ask_to_change_address(&app, &squatter, "mallory@evil.example").await;
    let change_link = mail.wait_for("mallory@evil.example", 1).await.link(&app);

    // The owner resets through their mailbox.
    forgot(&app, "ada@example.com").await;
    mail.wait_for("ada@example.com", 3).await;
    let reset = mail
        .to("ada@example.com")
        .into_iter()
        .find(|m| m.subject() == "Reset your password")
        .expect("a reset mail");
    assert_eq!(
        reset_with(&app, &reset.link(&app), NEW_PASSWORD).await,
        StatusCode::OK
    );

    let (status, _, _) = app.get(&browser(), &change_link).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the squatter's change link is void"
    );
    let (status, _) = app
        .refresh(&client, true, tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = app.get(&squatter, &app.url("/account")).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the squatter's session is over"
    );
    signed_in(&app, "ada@example.com", NEW_PASSWORD).await;
}

with_mail!(
    a_reset_voids_the_attackers_pending_change_of_address,
    a_password_change_voids_links_mailed_before_it,
    this_wasnt_me_moves_the_account_back_and_signs_everyone_out,
    a_reset_by_the_owner_ends_what_an_address_squatter_set_up
);

async fn a_disabled_user_keeps_no_code_and_no_refresh(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    let cb = app
        .sign_in(
            &browser(),
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    let out = crate::cli::gptauth(
        &app,
        &["user", "disable", "--email", "ada@example.com"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = app
        .exchange_code(&client, true, &cb.code(), CHATGPT_OPENAI)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "a code sent before the disable is dead: {body}"
    );
    let (status, body) = app
        .refresh(&client, true, tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

async fn a_withdrawn_consent_keeps_no_code_and_no_refresh(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    let popup = browser();
    let cb = app
        .sign_in(
            &popup,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    let (_, _, page) = app.get(&popup, &app.url("/account")).await;
    let (status, _, _) = app
        .post_form(
            &popup,
            &app.url("/account/disconnect"),
            &[
                ("csrf_token", &form_value(&page, "csrf_token")),
                ("client_id", &client.id),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, body) = app
        .exchange_code(&client, true, &cb.code(), CHATGPT_OPENAI)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "a code sent before the disconnect is dead: {body}"
    );
    let (status, body) = app
        .refresh(&client, true, tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

crate::both_backends!(
    a_disabled_user_keeps_no_code_and_no_refresh,
    a_withdrawn_consent_keeps_no_code_and_no_refresh
);

async fn a_lookalike_address_with_invisible_characters_is_refused_at_sign_up(app: TestApp) {
    app.user("ada@example.com").await;
    for lookalike in [
        "ada\u{200b}@example.com",
        "ada@exa\u{200d}mple.com",
        "\u{feff}ada@example.com",
        "ad\u{ad}a@example.com",
    ] {
        let browser = browser();
        let (_, _, page) = app.get(&browser, &app.url("/signup")).await;
        let (status, _, body) = app
            .post_form(
                &browser,
                &app.url("/signup"),
                &[
                    ("email", lookalike),
                    ("password", PASSWORD),
                    ("csrf_token", &form_value(&page, "csrf_token")),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{lookalike:?}: {body}");
        assert!(body.contains("valid e-mail address"), "{body}");
    }
    assert_eq!(
        app.db.list_users().await.expect("users").len(),
        1,
        "no second account that looks like the first"
    );
}

async fn the_password_limit_counts_characters_not_bytes(app: TestApp) {
    // 128 two-byte characters (256 bytes) are within the limit; 129 are not.
    let longest = "é".repeat(127) + "z";
    for (password, expected) in [
        (longest.as_str(), StatusCode::SEE_OTHER),
        (&*("é".repeat(128) + "z"), StatusCode::BAD_REQUEST),
    ] {
        let browser = browser();
        let (_, _, page) = app.get(&browser, &app.url("/signup")).await;
        let email = format!("user{}@example.com", password.chars().count());
        let (status, _, body) = app
            .post_form(
                &browser,
                &app.url("/signup"),
                &[
                    ("email", &email),
                    ("password", password),
                    ("csrf_token", &form_value(&page, "csrf_token")),
                ],
            )
            .await;
        assert_eq!(
            status,
            expected,
            "{} characters: {body}",
            password.chars().count()
        );
        if expected == StatusCode::SEE_OTHER {
            signed_in(&app, &email, password).await;
        } else {
            assert!(body.contains("at most 128 characters"), "{body}");
        }
    }
}

crate::both_backends!(
    a_lookalike_address_with_invisible_characters_is_refused_at_sign_up,
    the_password_limit_counts_characters_not_bytes
);

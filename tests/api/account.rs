//! `/account`: profile, password change, connected GPTs, account deletion.

use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::*;

const NEW_PASSWORD: &str = "a brand new passphrase";
const WRONG_LOGIN: &str = "Incorrect e-mail or password.";

/// Signs in at `/login` with this browser; the status and the page.
async fn login(
    app: &TestApp,
    browser: &reqwest::Client,
    email: &str,
    password: &str,
) -> (StatusCode, String) {
    let (_, _, page) = app.get(browser, &app.url("/login?next=%2Faccount")).await;
    let (status, _, body) = app
        .post_form(
            browser,
            &app.url("/login"),
            &[
                ("email", email),
                ("password", password),
                ("csrf_token", &form_value(&page, "csrf_token")),
                ("next", "/account"),
            ],
        )
        .await;
    (status, body)
}

/// A browser signed in at `/login` (another device, say).
async fn signed_in(app: &TestApp, email: &str) -> reqwest::Client {
    let browser = browser();
    let (status, body) = login(app, &browser, email, PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    browser
}

/// Whether `password` signs `email` in, on a fresh browser.
async fn can_sign_in(app: &TestApp, email: &str, password: &str) -> bool {
    login(app, &browser(), email, password).await.0 == StatusCode::SEE_OTHER
}

/// Submits one of the account page's forms with the page's CSRF token.
async fn submit(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, Option<String>, String) {
    let (status, _, page) = app.get(browser, &app.url("/account")).await;
    assert_eq!(status, StatusCode::OK, "the browser is signed in");
    let token = form_value(&page, "csrf_token");
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    app.post_form(browser, &app.url(path), &form).await
}

async fn change_password(
    app: &TestApp,
    browser: &reqwest::Client,
    current: &str,
    new: &str,
    again: &str,
) -> (StatusCode, Option<String>, String) {
    submit(
        app,
        browser,
        "/account/password",
        &[
            ("current_password", current),
            ("new_password", new),
            ("confirm_password", again),
        ],
    )
    .await
}

async fn delete_account(
    app: &TestApp,
    browser: &reqwest::Client,
    password: &str,
    confirmation: &str,
) -> (StatusCode, Option<String>, String) {
    submit(
        app,
        browser,
        "/account/delete",
        &[
            ("current_password", password),
            ("confirmation", confirmation),
        ],
    )
    .await
}

/// Whether the browser still has a live session.
async fn has_session(app: &TestApp, browser: &reqwest::Client) -> bool {
    let (status, location, _) = app.get(browser, &app.url("/account")).await;
    match status {
        StatusCode::OK => true,
        StatusCode::SEE_OTHER => {
            assert_eq!(location.as_deref(), Some("/login?next=%2Faccount"));
            false
        }
        other => panic!("/account answered {other}"),
    }
}

async fn password_hash(app: &TestApp, email: &str) -> String {
    app.db
        .user_by_email(email)
        .await
        .expect("db")
        .expect("the account exists")
        .password_hash
}

async fn session_ids(app: &TestApp) -> Vec<String> {
    app.side()
        .await
        .strings("SELECT id_hash FROM sessions")
        .await
}

/// The kinds of the audit events about `user`, once every `expected` one is written (the writer
/// is asynchronous).
async fn audit_kinds(app: &TestApp, user: Uuid, expected: &[&str]) -> Vec<String> {
    let mut kinds = Vec::new();
    for _ in 0..60 {
        kinds = app
            .db
            .audit_since(0, 1000)
            .await
            .expect("audit")
            .into_iter()
            .filter(|e| e.user_id == Some(user))
            .map(|e| e.kind)
            .collect();
        if expected.iter().all(|e| kinds.iter().any(|k| k == e)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    kinds
}

fn refresh_token(tokens: &serde_json::Value) -> String {
    tokens["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string()
}

async fn disconnecting_a_gpt_withdraws_consent_and_kills_its_refresh_tokens(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let browser = browser();
    let cb = app
        .sign_in(
            &browser,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    let (status, tokens) = app
        .exchange_code(&client, false, &cb.code(), CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, page) = app.get(&browser, &app.url("/account")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Notes GPT") && page.contains("ada@example.com"),
        "{page}"
    );
    assert!(
        !page.contains("last used never"),
        "the token exchange counts as use"
    );

    let (status, location, _) = app
        .post_form(
            &browser,
            &app.url("/account/disconnect"),
            &[
                ("csrf_token", &form_value(&page, "csrf_token")),
                ("client_id", &client.id),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/account"))
    );
    let (status, body) = app
        .refresh(&client, true, tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "the GPT must ask again"
    );
    let (_, _, page) = app.get(&browser, &app.url("/account")).await;
    assert!(page.contains("No GPT is connected"), "{page}");
    let (status, location, _) = app
        .get(
            &browser,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
        )
        .await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(
        location.unwrap_or_default().starts_with("/consent"),
        "consent is asked again"
    );
}

async fn the_account_page_needs_a_session_and_the_form_a_csrf_token(app: TestApp) {
    let (status, location, _) = app.get(&browser(), &app.url("/account")).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/login?next=%2Faccount"))
    );
    let (status, _, _) = app
        .post_form(
            &browser(),
            &app.url("/account/disconnect"),
            &[("csrf_token", "forged"), ("client_id", "x")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn the_account_page_has_labelled_sections_for_each_task(app: TestApp) {
    app.user("ada@example.com").await;
    let here = signed_in(&app, "ada@example.com").await;
    let (status, _, page) = app.get(&here, &app.url("/account")).await;
    assert_eq!(status, StatusCode::OK);
    for heading in [
        ">Profile</h2>",
        ">E-mail address</h2>",
        ">Password</h2>",
        ">Connected GPTs</h2>",
        ">Delete account</h2>",
    ] {
        assert!(page.contains(heading), "{heading} missing: {page}");
    }
    for field in [
        "for=\"name\"",
        "for=\"current-password\"",
        "for=\"new-password\"",
        "for=\"confirm-password\"",
        "for=\"delete-password\"",
        "for=\"delete-confirmation\"",
        "autocomplete=\"current-password\"",
        "autocomplete=\"new-password\"",
    ] {
        assert!(page.contains(field), "{field} missing");
    }
    assert!(
        page.contains("each one will ask you to sign in again"),
        "the page warns before a password change"
    );
    assert_eq!(
        page.matches("name=\"csrf_token\"").count(),
        6,
        "sign-out, profile, resend confirmation, e-mail, password and delete forms"
    );
    assert!(
        !page.contains("role=\"alert\""),
        "no error before any form was sent"
    );
}

async fn the_display_name_can_be_changed_cleared_and_is_bounded(app: TestApp) {
    app.user("ada@example.com").await;
    let here = signed_in(&app, "ada@example.com").await;
    let name = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            db.user_by_email("ada@example.com")
                .await
                .expect("db")
                .expect("user")
                .name
        }
    };

    let (status, location, _) = submit(
        &app,
        &here,
        "/account/profile",
        &[("name", "  Ada <Lovelace>  ")],
    )
    .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/account?done=profile"))
    );
    let (_, _, page) = app.get(&here, &app.url("/account?done=profile")).await;
    // askama writes `<` as `&#60;`, which the shared `unescape` does not know.
    let shown = form_value(&page, "name")
        .replace("&#60;", "<")
        .replace("&#62;", ">");
    assert_eq!(shown, "Ada <Lovelace>", "trimmed, shown");
    assert!(!page.contains("<Lovelace>"), "escaped");
    assert!(
        page.contains("role=\"status\"") && page.contains("Your profile was saved."),
        "{page}"
    );
    assert_eq!(name(&app).await.as_deref(), Some("Ada <Lovelace>"));

    let long = "é".repeat(101);
    let (status, _, page) = submit(&app, &here, "/account/profile", &[("name", &long)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("role=\"alert\"") && page.contains("at most 100 characters"),
        "{page}"
    );
    assert_eq!(
        form_value(&page, "name"),
        long,
        "what was typed is shown again"
    );
    assert_eq!(
        name(&app).await.as_deref(),
        Some("Ada <Lovelace>"),
        "unchanged"
    );

    let (status, _, _) = submit(
        &app,
        &here,
        "/account/profile",
        &[("name", &"é".repeat(100))],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "100 characters are fine");
    let (status, _, _) = submit(&app, &here, "/account/profile", &[("name", "   ")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(name(&app).await, None, "an empty name clears it");
}

async fn a_wrong_current_password_changes_nothing_and_is_throttled_like_a_login(app: TestApp) {
    let user = app.user("ada@example.com").await;
    let here = signed_in(&app, "ada@example.com").await;
    let before = password_hash(&app, "ada@example.com").await;
    for _ in 0..3 {
        let (status, _, page) =
            change_password(&app, &here, "not my password", NEW_PASSWORD, NEW_PASSWORD).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            page.contains("role=\"alert\"") && page.contains(WRONG_LOGIN),
            "the login page's message: {page}"
        );
    }
    // The failures count against the same account key as /login's.
    let (status, page) = login(&app, &browser(), "ada@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{page}");
    let (status, _, page) =
        change_password(&app, &here, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "not even the right password is tried now"
    );
    assert!(page.contains("Too many failed sign-ins"), "{page}");
    assert_eq!(
        password_hash(&app, "ada@example.com").await,
        before,
        "nothing changed"
    );
    assert!(has_session(&app, &here).await);
    let kinds = audit_kinds(&app, user, &["password_change_failed", "login_throttled"]).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "password_change_failed")
            .count(),
        3,
        "{kinds:?}"
    );
    assert!(!kinds.iter().any(|k| k == "password_changed"), "{kinds:?}");
}

async fn a_weak_or_mistyped_new_password_is_refused_without_counting_a_failure(app: TestApp) {
    app.user("ada@example.com").await;
    let here = signed_in(&app, "ada@example.com").await;
    let before = password_hash(&app, "ada@example.com").await;
    for (new, again, says) in [
        ("short1", "short1", "at least 8 characters"),
        ("password123", "password123", "most common"),
        (NEW_PASSWORD, "a brand new passphrasE", "not the same"),
        (&"x".repeat(129), &"x".repeat(129), "at most 128 characters"),
    ] {
        let (status, _, page) = change_password(&app, &here, PASSWORD, new, again).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{new}");
        assert!(
            page.contains("role=\"alert\"") && page.contains(says),
            "{says}: {page}"
        );
    }
    assert_eq!(password_hash(&app, "ada@example.com").await, before);
    // Four refusals, yet no throttling: they were no failed sign-ins.
    let (status, location, _) =
        change_password(&app, &here, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/account?done=password"))
    );
}

async fn changing_the_password_signs_out_every_other_session_and_every_gpt(app: TestApp) {
    let client = app.client().await;
    let user = app.user("ada@example.com").await;
    let here = browser();
    let cb = app
        .sign_in(
            &here,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    let (status, tokens) = app
        .exchange_code(&client, false, &cb.code(), CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK);
    let elsewhere = signed_in(&app, "ada@example.com").await;
    let sessions_before = session_ids(&app).await;
    assert_eq!(sessions_before.len(), 2);

    let (status, location, _) =
        change_password(&app, &here, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/account?done=password"))
    );
    let (status, _, page) = app.get(&here, &app.url("/account?done=password")).await;
    assert_eq!(status, StatusCode::OK, "this browser stays signed in");
    assert!(page.contains("Your password was changed"), "{page}");
    assert!(
        !has_session(&app, &elsewhere).await,
        "the other browser is signed out"
    );
    let sessions_after = session_ids(&app).await;
    assert_eq!(sessions_after.len(), 1);
    assert!(
        !sessions_before.contains(&sessions_after[0]),
        "a fresh session id"
    );

    let (status, body) = app.refresh(&client, false, &refresh_token(&tokens)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "the GPT must sign in again"
    );
    let (status, page) = login(&app, &browser(), "ada@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is dead");
    assert!(page.contains(WRONG_LOGIN));
    assert!(can_sign_in(&app, "ada@example.com", NEW_PASSWORD).await);
    let kinds = audit_kinds(&app, user, &["password_changed"]).await;
    assert!(kinds.iter().any(|k| k == "password_changed"), "{kinds:?}");
}

async fn deleting_needs_the_password_and_the_typed_confirmation(app: TestApp) {
    let client = app.client().await;
    let user = app.user("ada@example.com").await;
    let here = browser();
    let cb = app
        .sign_in(
            &here,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    let (_, tokens) = app
        .exchange_code(&client, false, &cb.code(), CHATGPT_OPENAI)
        .await;

    let (status, _, page) = delete_account(&app, &here, "not my password", "DELETE").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        page.contains("role=\"alert\"") && page.contains(WRONG_LOGIN),
        "{page}"
    );
    for typed in ["", "delete", "DELETE IT", "ada@example.com"] {
        let (status, _, page) = delete_account(&app, &here, PASSWORD, typed).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{typed:?}");
        assert!(
            page.contains("role=\"alert\"") && page.contains("type DELETE"),
            "{page}"
        );
    }

    assert!(has_session(&app, &here).await, "still signed in");
    assert!(
        app.db
            .user_by_email("ada@example.com")
            .await
            .expect("db")
            .is_some()
    );
    assert!(
        app.db
            .consent(user, &client.id)
            .await
            .expect("db")
            .is_some(),
        "consent kept"
    );
    let (status, body) = app.refresh(&client, false, &refresh_token(&tokens)).await;
    assert_eq!(status, StatusCode::OK, "the GPT keeps working: {body}");
    let kinds = audit_kinds(&app, user, &["account_delete_failed"]).await;
    assert!(
        kinds.iter().any(|k| k == "account_delete_failed"),
        "{kinds:?}"
    );
    assert!(!kinds.iter().any(|k| k == "account_deleted"), "{kinds:?}");
}

async fn a_deleted_account_is_gone_but_its_audit_trail_stays_and_its_sub_is_never_reused(
    app: TestApp,
) {
    let client = app.client().await;
    let user = app.user("ada@example.com").await;
    let here = browser();
    let cb = app
        .sign_in(
            &here,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    let (_, tokens) = app
        .exchange_code(&client, false, &cb.code(), CHATGPT_OPENAI)
        .await;
    let access = tokens["access_token"].as_str().expect("at").to_string();
    assert_eq!(app.verify_jwt(&access).await["sub"], user.to_string());
    let elsewhere = signed_in(&app, "ada@example.com").await;

    let (status, _, page) = delete_account(&app, &here, PASSWORD, " DELETE ").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Account deleted") && page.contains("signed out"),
        "{page}"
    );
    assert!(
        !has_session(&app, &here).await,
        "this browser is signed out"
    );
    assert!(!has_session(&app, &elsewhere).await, "and every other one");
    assert!(session_ids(&app).await.is_empty());

    let (status, body) = app.refresh(&client, false, &refresh_token(&tokens)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let userinfo = reqwest::Client::new()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(
        userinfo.status(),
        StatusCode::UNAUTHORIZED,
        "no personal data for a live access token"
    );
    let (status, page) = login(&app, &browser(), "ada@example.com", PASSWORD).await;
    let (unknown_status, unknown_page) =
        login(&app, &browser(), "nobody@example.com", PASSWORD).await;
    assert_eq!(
        (status, unknown_status),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert!(
        page.contains(WRONG_LOGIN) && unknown_page.contains(WRONG_LOGIN),
        "like an unknown account"
    );
    assert!(
        app.db
            .consent(user, &client.id)
            .await
            .expect("db")
            .is_none(),
        "consent gone"
    );
    assert!(app.db.connections(user).await.expect("db").is_empty());

    let tombstone = app
        .db
        .user_by_id(user)
        .await
        .expect("db")
        .expect("the id stays reserved");
    assert!(
        !tombstone.email.contains('@')
            && tombstone.name.is_none()
            && tombstone.disabled_at.is_some(),
        "{tombstone:?}"
    );
    assert!(
        !tombstone.password_hash.starts_with("$argon2"),
        "no password is kept"
    );
    assert!(
        app.db
            .list_users()
            .await
            .expect("db")
            .iter()
            .all(|u| u.id != user),
        "not listed as an account"
    );
    let kinds = audit_kinds(&app, user, &["account_deleted"]).await;
    for kind in ["login_succeeded", "token_issued", "account_deleted"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} kept: {kinds:?}");
    }

    // The address is free again, for a new person with a new sub.
    let newcomer = browser();
    let (_, _, page) = app.get(&newcomer, &app.url("/signup")).await;
    let (status, _, body) = app
        .post_form(
            &newcomer,
            &app.url("/signup"),
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &form_value(&page, "csrf_token")),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let fresh = app.tokens_for(&client, "ada@example.com").await;
    let sub = app
        .verify_jwt(fresh["access_token"].as_str().expect("at"))
        .await["sub"]
        .clone();
    assert_ne!(sub, user.to_string(), "a new person, a new sub");
    assert!(
        app.db
            .user_by_id(user)
            .await
            .expect("db")
            .is_some_and(|u| u.email != "ada@example.com")
    );
}

async fn every_account_form_refuses_a_missing_or_wrong_csrf_token(app: TestApp) {
    app.user("ada@example.com").await;
    let here = signed_in(&app, "ada@example.com").await;
    let before = password_hash(&app, "ada@example.com").await;
    let forms: [(&str, &[(&str, &str)]); 3] = [
        ("/account/profile", &[("name", "Mallory")]),
        (
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        ),
        (
            "/account/delete",
            &[("current_password", PASSWORD), ("confirmation", "DELETE")],
        ),
    ];
    for (path, fields) in forms {
        let wrong: Vec<(&str, &str)> = [("csrf_token", "forged")]
            .into_iter()
            .chain(fields.iter().copied())
            .collect();
        for form in [fields.to_vec(), wrong] {
            let (status, _, page) = app.post_form(&here, &app.url(path), &form).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
            assert!(page.contains("Form expired"), "{path}: {page}");
        }
    }
    let user = app
        .db
        .user_by_email("ada@example.com")
        .await
        .expect("db")
        .expect("not deleted");
    assert_eq!(user.name, None, "name unchanged");
    assert_eq!(user.password_hash, before, "password unchanged");
    assert!(has_session(&app, &here).await, "still signed in");
    assert!(can_sign_in(&app, "ada@example.com", PASSWORD).await);
}

async fn account_forms_need_a_session(app: TestApp) {
    app.user("ada@example.com").await;
    let anonymous = browser();
    let (_, _, page) = app.get(&anonymous, &app.url("/login")).await;
    let csrf = form_value(&page, "csrf_token");
    for (path, fields) in [
        ("/account/profile", vec![("name", "Mallory")]),
        (
            "/account/password",
            vec![
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("confirm_password", NEW_PASSWORD),
            ],
        ),
        (
            "/account/delete",
            vec![("current_password", PASSWORD), ("confirmation", "DELETE")],
        ),
    ] {
        let mut form = vec![("csrf_token", csrf.as_str())];
        form.extend(fields);
        let (status, location, _) = app.post_form(&anonymous, &app.url(path), &form).await;
        assert_eq!(
            (status, location.as_deref()),
            (StatusCode::SEE_OTHER, Some("/login?next=%2Faccount")),
            "{path}"
        );
    }
    assert!(
        can_sign_in(&app, "ada@example.com", PASSWORD).await,
        "nothing changed"
    );
}

crate::both_backends!(
    disconnecting_a_gpt_withdraws_consent_and_kills_its_refresh_tokens,
    the_account_page_needs_a_session_and_the_form_a_csrf_token,
    the_account_page_has_labelled_sections_for_each_task,
    the_display_name_can_be_changed_cleared_and_is_bounded,
    a_wrong_current_password_changes_nothing_and_is_throttled_like_a_login,
    a_weak_or_mistyped_new_password_is_refused_without_counting_a_failure,
    changing_the_password_signs_out_every_other_session_and_every_gpt,
    deleting_needs_the_password_and_the_typed_confirmation,
    a_deleted_account_is_gone_but_its_audit_trail_stays_and_its_sub_is_never_reused,
    every_account_form_refuses_a_missing_or_wrong_csrf_token,
    account_forms_need_a_session
);

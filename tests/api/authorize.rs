//! The popup: login, consent, redirects back to ChatGPT.

use reqwest::StatusCode;

use crate::helpers::*;

async fn a_signed_out_user_is_sent_to_login_and_comes_back_with_a_code_and_the_state(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let browser = browser();
    let state = "5e4f1b0c-6d1a-4c1e-9c55-0d2a3f4b5c6d";
    let url = app.authorize_url(&client, CHATGPT_OPENAI, state, Some("openid profile"));
    let (status, location, _) = app.get(&browser, &url).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(
        location
            .as_deref()
            .unwrap_or("")
            .starts_with("/login?next=%2Foauth%2Fauthorize"),
        "{location:?}"
    );

    let cb = app
        .sign_in(&browser, &url, "ada@example.com", PASSWORD)
        .await;
    assert!(cb.url.as_str().starts_with(CHATGPT_OPENAI), "{}", cb.url);
    assert_eq!(
        cb.param("state").as_deref(),
        Some(state),
        "state is echoed unchanged"
    );
    assert_eq!(
        cb.param("iss").as_deref(),
        Some(app.address.as_str()),
        "RFC 9207 iss"
    );
    assert_eq!(cb.code().len(), 43, "a 256-bit code");
}

async fn consent_is_remembered_so_a_returning_user_goes_straight_back(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let browser = browser();
    let url = app.authorize_url(&client, CHATGPT_COM, "first", None);
    app.sign_in(&browser, &url, "ada@example.com", PASSWORD)
        .await;
    // Second time: signed in and consented, one redirect straight to the callback.
    let url = app.authorize_url(&client, CHATGPT_COM, "second", None);
    let (status, location, _) = app.get(&browser, &url).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = location.expect("location");
    assert!(location.starts_with(CHATGPT_COM), "{location}");
    assert!(location.contains("state=second"));
    assert!(location.contains("code="));
}

async fn a_wider_scope_asks_for_consent_again(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let browser = browser();
    app.sign_in(
        &browser,
        &app.authorize_url(&client, CHATGPT_COM, "a", Some("profile")),
        "ada@example.com",
        PASSWORD,
    )
    .await;
    let (status, location, _) = app
        .get(
            &browser,
            &app.authorize_url(&client, CHATGPT_COM, "b", Some("profile email")),
        )
        .await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(
        location.unwrap_or_default().starts_with("/consent?"),
        "consent needed for the new scope"
    );
}

async fn deny_returns_access_denied_with_the_state(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let browser = browser();
    let url = app.authorize_url(&client, CHATGPT_OPENAI, "st-deny", None);
    // Log in, then stop at the consent page.
    let (_, location, _) = app.get(&browser, &url).await;
    let (_, _, login) = app
        .get(&browser, &app.absolute(&location.expect("login")))
        .await;
    let (s, loc, _) = app
        .post_form(
            &browser,
            &app.url("/login"),
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &form_value(&login, "csrf_token")),
                ("next", &form_value(&login, "next")),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let (_, loc, _) = app.get(&browser, &app.absolute(&loc.expect("next"))).await;
    let (status, _, consent) = app
        .get(&browser, &app.absolute(&loc.expect("consent")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(consent.contains("Notes GPT"));
    let cb = app.decide(&browser, &consent, "deny").await;
    assert!(cb.url.as_str().starts_with(CHATGPT_OPENAI));
    assert_eq!(cb.param("error").as_deref(), Some("access_denied"));
    assert_eq!(cb.param("state").as_deref(), Some("st-deny"));
    assert_eq!(
        cb.param("iss").as_deref(),
        Some(app.address.as_str()),
        "iss on errors too"
    );
    assert_eq!(cb.param("code"), None);
}

async fn an_unregistered_redirect_uri_gets_an_error_page_naming_it_and_no_redirect(app: TestApp) {
    let client = app.client().await;
    let tried = "https://chatgpt.com/aip/g-edited0000000000000000000000000000000000/oauth/callback";
    let (status, location, body) = app
        .get(&browser(), &app.authorize_url(&client, tried, "s", None))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(location, None, "never a redirect");
    assert!(
        body.contains(tried),
        "the page names the URI that was tried"
    );
}

async fn a_redirect_uri_differing_only_by_a_trailing_slash_is_not_registered(app: TestApp) {
    let client = app.client().await;
    let tried = format!("{CHATGPT_OPENAI}/");
    let (status, location, _) = app
        .get(&browser(), &app.authorize_url(&client, &tried, "s", None))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(location, None);
}

async fn an_unknown_client_gets_an_error_page_and_no_redirect(app: TestApp) {
    let ghost = TestClient {
        id: "gpt_nobody".into(),
        secret: String::new(),
    };
    let (status, location, body) = app
        .get(
            &browser(),
            &app.authorize_url(&ghost, CHATGPT_OPENAI, "s", None),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(location, None);
    assert!(body.contains("gpt_nobody"));
}

async fn an_empty_scope_means_the_clients_default_scopes(app: TestApp) {
    let client = app
        .client_with("notes.read notes.write", &[CHATGPT_OPENAI])
        .await;
    app.user("ada@example.com").await;
    let browser = browser();
    let cb = app
        .sign_in(
            &browser,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", Some("")),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    let (status, body) = app
        .exchange_code(&client, false, &cb.code(), CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = app
        .verify_jwt(body["access_token"].as_str().expect("at"))
        .await;
    let mut scopes: Vec<&str> = claims["scope"]
        .as_str()
        .expect("scope")
        .split(' ')
        .collect();
    scopes.sort();
    assert_eq!(scopes, ["notes.read", "notes.write"]);
}

async fn a_scope_beyond_the_clients_is_refused_with_invalid_scope_at_the_callback(app: TestApp) {
    let client = app.client_with("profile", &[CHATGPT_OPENAI]).await;
    app.user("ada@example.com").await;
    let browser = browser();
    let (status, location, _) = app
        .get(
            &browser,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", Some("admin")),
        )
        .await;
    assert_eq!(status, StatusCode::FOUND);
    let location = location.expect("location");
    assert!(location.starts_with(CHATGPT_OPENAI), "{location}");
    assert!(location.contains("error=invalid_scope"), "{location}");
}

async fn a_wrong_password_gives_no_code_and_no_hint_whether_the_email_exists(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let url = app.authorize_url(&client, CHATGPT_OPENAI, "s", None);
    let mut answers = Vec::new();
    for email in ["ada@example.com", "nobody@example.com"] {
        let browser = browser();
        let (_, location, _) = app.get(&browser, &url).await;
        let (_, _, login) = app
            .get(&browser, &app.absolute(&location.expect("login")))
            .await;
        let (status, location, body) = app
            .post_form(
                &browser,
                &app.url("/login"),
                &[
                    ("email", email),
                    ("password", "wrong password!"),
                    ("csrf_token", &form_value(&login, "csrf_token")),
                    ("next", &form_value(&login, "next")),
                ],
            )
            .await;
        assert_eq!(location, None, "no redirect, so no code");
        assert!(body.contains("Incorrect e-mail or password."));
        answers.push((
            status,
            body.replace(email, "EMAIL")
                .replace(&form_value(&body, "csrf_token"), "CSRF"),
        ));
    }
    assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answers[0], answers[1],
        "the same answer whether or not the account exists"
    );
}

async fn a_login_without_the_csrf_token_is_refused(app: TestApp) {
    app.user("ada@example.com").await;
    let browser = browser();
    let (status, location, _) = app
        .post_form(
            &browser,
            &app.url("/login"),
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(location, None);
}

async fn login_never_redirects_off_site(app: TestApp) {
    app.user("ada@example.com").await;
    let browser = browser();
    let (_, _, login) = app
        .get(
            &browser,
            &app.url("/login?next=https%3A%2F%2Fevil.example%2F"),
        )
        .await;
    assert_eq!(form_value(&login, "next"), "/");
    let (status, location, _) = app
        .post_form(
            &browser,
            &app.url("/login"),
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &form_value(&login, "csrf_token")),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/"));
}

async fn a_new_user_can_sign_up_from_the_popup(app: TestApp) {
    let client = app.client().await;
    let browser = browser();
    let url = app.authorize_url(&client, CHATGPT_OPENAI, "s", None);
    let (_, location, _) = app.get(&browser, &url).await;
    let login_url = app.absolute(&location.expect("login"));
    let (_, _, login) = app.get(&browser, &login_url).await;
    assert!(
        login.contains("/signup?next="),
        "the login page links to sign-up"
    );
    let next = form_value(&login, "next");
    let (_, _, signup) = app
        .get(
            &browser,
            &app.url(&format!("/signup?next={}", urlencode(&next))),
        )
        .await;
    let (status, location, body) = app
        .post_form(
            &browser,
            &app.url("/signup"),
            &[
                ("email", "Grace@Example.com"),
                ("name", "Grace"),
                ("password", PASSWORD),
                ("csrf_token", &form_value(&signup, "csrf_token")),
                ("next", &form_value(&signup, "next")),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location.as_deref(), Some(next.as_str()));
    let cb = app
        .sign_in(&browser, &url, "grace@example.com", PASSWORD)
        .await;
    let (status, body) = app
        .exchange_code(&client, true, &cb.code(), CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored = app
        .db
        .user_by_email("grace@example.com")
        .await
        .expect("db")
        .expect("user");
    let claims = app
        .verify_jwt(body["access_token"].as_str().expect("at"))
        .await;
    assert_eq!(claims["sub"].as_str(), Some(stored.id.to_string().as_str()));
}

async fn sign_up_refuses_a_short_password_and_a_taken_email(app: TestApp) {
    app.user("ada@example.com").await;
    let browser = browser();
    let (_, _, page) = app.get(&browser, &app.url("/signup")).await;
    let csrf = form_value(&page, "csrf_token");
    let (status, _, body) = app
        .post_form(
            &browser,
            &app.url("/signup"),
            &[
                ("email", "new@example.com"),
                ("password", "short"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("at least 8 characters"));
    let (status, location, _) = app
        .post_form(
            &browser,
            &app.url("/signup"),
            &[
                ("email", "ADA@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(location, None);
    assert_eq!(
        app.db.list_users().await.expect("users").len(),
        1,
        "nothing written"
    );
}

async fn logout_ends_the_session(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let browser = browser();
    app.sign_in(
        &browser,
        &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
        "ada@example.com",
        PASSWORD,
    )
    .await;
    let (_, _, home) = app.get(&browser, &app.url("/")).await;
    assert!(home.contains("ada@example.com"));
    let (status, location, _) = app
        .post_form(
            &browser,
            &app.url("/logout"),
            &[("csrf_token", &form_value(&home, "csrf_token"))],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/"));
    let (status, location, _) = app
        .get(
            &browser,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
        )
        .await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(
        location.unwrap_or_default().starts_with("/login"),
        "signed out again"
    );
}

async fn a_disabled_user_cannot_sign_in_or_refresh(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    assert!(
        app.db
            .disable_user("ada@example.com")
            .await
            .expect("disable")
    );
    let (status, body) = app
        .refresh(&client, true, tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "refresh tokens die with the account"
    );
    let browser = browser();
    let (_, location, _) = app
        .get(
            &browser,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
        )
        .await;
    let (_, _, login) = app
        .get(&browser, &app.absolute(&location.expect("login")))
        .await;
    let (status, location, _) = app
        .post_form(
            &browser,
            &app.url("/login"),
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &form_value(&login, "csrf_token")),
                ("next", &form_value(&login, "next")),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(location, None);
}

crate::both_backends!(
    a_signed_out_user_is_sent_to_login_and_comes_back_with_a_code_and_the_state,
    consent_is_remembered_so_a_returning_user_goes_straight_back,
    a_wider_scope_asks_for_consent_again,
    deny_returns_access_denied_with_the_state,
    an_unregistered_redirect_uri_gets_an_error_page_naming_it_and_no_redirect,
    a_redirect_uri_differing_only_by_a_trailing_slash_is_not_registered,
    an_unknown_client_gets_an_error_page_and_no_redirect,
    an_empty_scope_means_the_clients_default_scopes,
    a_scope_beyond_the_clients_is_refused_with_invalid_scope_at_the_callback,
    a_wrong_password_gives_no_code_and_no_hint_whether_the_email_exists,
    a_login_without_the_csrf_token_is_refused,
    login_never_redirects_off_site,
    a_new_user_can_sign_up_from_the_popup,
    sign_up_refuses_a_short_password_and_a_taken_email,
    logout_ends_the_session,
    a_disabled_user_cannot_sign_in_or_refresh
);

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn the_authorization_request_may_be_posted_as_a_form(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let browser = browser();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client.id.as_str()),
            ("redirect_uri", CHATGPT_OPENAI),
            ("state", "posted"),
        ])
        .finish();
    let resp = browser
        .post(app.url("/oauth/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(
        resp.status(),
        StatusCode::FOUND,
        "OIDC Core 3.1.2.1: POST works like GET"
    );
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        location.starts_with("/login?next=%2Foauth%2Fauthorize"),
        "{location}"
    );
    // The sign-in continues the very request that was posted.
    let cb = app
        .sign_in(
            &browser,
            &app.absolute(&location),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    assert_eq!(cb.param("state").as_deref(), Some("posted"));
    let resp = browser
        .post(app.url("/oauth/authorize"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

async fn request_objects_and_a_missing_response_type_are_refused_not_ignored(app: TestApp) {
    let client = app.client().await;
    let without_type = {
        let mut url = url::Url::parse(&app.url("/oauth/authorize")).expect("url");
        url.query_pairs_mut().extend_pairs([
            ("client_id", client.id.as_str()),
            ("redirect_uri", CHATGPT_OPENAI),
            ("state", "s"),
        ]);
        url.to_string()
    };
    for (url, error) in [
        (without_type, "invalid_request"),
        (
            app.authorize_url_with(
                &client,
                CHATGPT_OPENAI,
                &[("request", "eyJhbGciOiJub25lIn0.e30.")],
            ),
            "request_not_supported",
        ),
        (
            app.authorize_url_with(
                &client,
                CHATGPT_OPENAI,
                &[("request_uri", "https://evil.example/r")],
            ),
            "request_uri_not_supported",
        ),
        (
            app.authorize_url(&client, CHATGPT_OPENAI, "s", None)
                .replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
    ] {
        let (status, location, _) = app.get(&browser(), &url).await;
        assert_eq!(status, StatusCode::FOUND, "{url}");
        let location = url::Url::parse(&location.expect("to the client")).expect("url");
        assert!(location.as_str().starts_with(CHATGPT_OPENAI), "{location}");
        let error_of = location
            .query_pairs()
            .find(|(k, _)| k == "error")
            .map(|(_, v)| v.into_owned());
        assert_eq!(error_of.as_deref(), Some(error), "{url}");
    }
}

crate::both_backends!(
    the_authorization_request_may_be_posted_as_a_form,
    request_objects_and_a_missing_response_type_are_refused_not_ignored
);

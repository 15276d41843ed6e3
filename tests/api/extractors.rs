//! The web extractors (`SignedIn`, `Builder`, `Admin`, `CsrfForm`): a stale or forged CSRF
//! token on each kind of form gets the answer it got before them, and the guarded `/portal`
//! scope turns away whoever is not a builder (or, for the users page, an administrator).

use reqwest::StatusCode;

use crate::helpers::*;

/// A browser signed in as `email` (which must exist).
async fn signed_in(app: &TestApp, email: &str) -> reqwest::Client {
    let browser = browser();
    let (_, _, page) = app.get(&browser, &app.url("/login")).await;
    let csrf = form_value(&page, "csrf_token");
    let form = [
        ("email", email),
        ("password", PASSWORD),
        ("csrf_token", &csrf),
    ];
    let (status, _, body) = app.post_form(&browser, &app.url("/login"), &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    browser
}

/// The forms before a session show themselves again, with a note and what was typed.
async fn stale_token_before_sign_in(app: TestApp) {
    let here = browser();
    // The browser has its CSRF cookie; the token sent is not its own.
    let (_, _, _) = app.get(&here, &app.url("/login")).await;
    for (path, fields) in [
        (
            "/login",
            vec![("email", "ada@example.com"), ("password", PASSWORD)],
        ),
        (
            "/signup",
            vec![("email", "ada@example.com"), ("password", PASSWORD)],
        ),
        ("/forgot-password", vec![("email", "ada@example.com")]),
        (
            "/reset-password",
            vec![
                ("token", "t"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        ),
    ] {
        let mut form = fields.clone();
        form.push(("csrf_token", "stale"));
        let (status, _, page) = app.post_form(&here, &app.url(path), &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(
            page.contains("The form expired. Please try again."),
            "{path}: {page}"
        );
        assert!(
            page.contains("name=\"csrf_token\""),
            "{path}: the form again"
        );
        if path != "/reset-password" {
            assert!(page.contains("ada@example.com"), "{path}: what was typed");
        }
    }
    let form = [("token", "t"), ("csrf_token", "stale")];
    let (status, _, page) = app
        .post_form(&here, &app.url("/secure-account"), &form)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Form expired"), "{page}");
}

/// A signed-in person's forms get the "Form expired" page; nothing changes.
async fn stale_token_signed_in(app: TestApp) {
    app.user("ada@example.com").await;
    let here = signed_in(&app, "ada@example.com").await;
    for (path, fields) in [
        ("/logout", vec![]),
        ("/account/profile", vec![("name", "Mallory")]),
        ("/account/disconnect", vec![("client_id", "x")]),
        (
            "/account/email",
            vec![
                ("new_email", "m@example.com"),
                ("current_password", PASSWORD),
            ],
        ),
        ("/verify-email/resend", vec![]),
    ] {
        let mut form = fields.clone();
        form.push(("csrf_token", "stale"));
        let (status, _, page) = app.post_form(&here, &app.url(path), &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(page.contains("Form expired"), "{path}: {page}");
    }
    let (status, _, _) = app.get(&here, &app.url("/account")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "still signed in: the logout was refused"
    );
    let user = app
        .db
        .user_by_email("ada@example.com")
        .await
        .expect("db")
        .expect("user");
    assert_eq!(user.name, None, "name unchanged");
}

/// Without a session, each page sends the browser to sign in and come back where it says.
async fn signed_in_pages_send_to_sign_in(app: TestApp) {
    for (path, login) in [
        ("/account", "/login?next=%2Faccount"),
        ("/verify-email/pending", "/login"),
        ("/portal", "/login?next=%2Fportal"),
        ("/portal/clients/new", "/login?next=%2Fportal"),
        ("/portal/users", "/login?next=%2Fportal"),
    ] {
        let (status, location, _) = app.get(&browser(), &app.url(path)).await;
        assert_eq!(
            (status, location.as_deref()),
            (StatusCode::SEE_OTHER, Some(login)),
            "{path}"
        );
    }
}

/// The portal scope refuses an end user on every page and form; the users pages refuse a
/// builder who is not an administrator, before reading the form.
async fn the_portal_scope_refuses_end_users_and_the_users_pages_builders(app: TestApp) {
    app.user("ada@example.com").await;
    let person = signed_in(&app, "ada@example.com").await;
    for path in [
        "/portal",
        "/portal/clients/new",
        "/portal/clients/x",
        "/portal/users",
    ] {
        let (status, _, page) = app.get(&person, &app.url(path)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(page.contains("For GPT builders"), "{path}: {page}");
    }
    let (status, _, _) = app
        .post_form(&person, &app.url("/portal/clients"), &[("csrf_token", "x")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, builder) = crate::portal::builder(&app, "builder@example.com").await;
    let (status, _, page) = app.get(&builder, &app.url("/portal/users")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("For administrators"), "{page}");
    let form = [
        ("csrf_token", "forged"),
        ("user_id", "x"),
        ("action", "grant"),
    ];
    let (status, _, page) = app
        .post_form(&builder, &app.url("/portal/users/role"), &form)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    let (status, _, _) = app.get(&builder, &app.url("/portal")).await;
    assert_eq!(status, StatusCode::OK);
}

crate::both_backends!(
    stale_token_before_sign_in,
    stale_token_signed_in,
    signed_in_pages_send_to_sign_in,
    the_portal_scope_refuses_end_users_and_the_users_pages_builders,
);

//! The builder portal and the first-administrator setup: who may see what, every form's CSRF
//! token, and a client made in the portal working in the ChatGPT flow with the values it shows.

use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::*;

/// A browser signed in as `email` (which must exist).
async fn signed_in(app: &TestApp, email: &str) -> reqwest::Client {
    let browser = browser();
    let (_, _, page) = app.get(&browser, &app.url("/login?next=%2Fportal")).await;
    let (status, location, body) = app
        .post_form(
            &browser,
            &app.url("/login"),
            &[
                ("email", email),
                ("password", PASSWORD),
                ("csrf_token", &form_value(&page, "csrf_token")),
                ("next", &form_value(&page, "next")),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/portal")),
        "{body}"
    );
    browser
}

pub(crate) async fn builder(app: &TestApp, email: &str) -> (Uuid, reqwest::Client) {
    let id = app.user(email).await;
    assert!(app.db.set_builder(id, true).await.expect("role"));
    (id, signed_in(app, email).await)
}

/// The text of the element with this id.
fn text_by_id(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in page"))
        + marker.len();
    let end = start + html[start..].find('<').expect("element end");
    unescape(&html[start..end])
}

/// Creates a client in the portal; returns its page (with the secret shown once).
pub(crate) async fn create_client(
    app: &TestApp,
    browser: &reqwest::Client,
    fields: &[(&str, &str)],
) -> String {
    let (status, _, form) = app.get(browser, &app.url("/portal/clients/new")).await;
    assert_eq!(status, StatusCode::OK, "{form}");
    let csrf = form_value(&form, "csrf_token");
    let mut body = vec![("csrf_token", csrf.as_str())];
    body.extend_from_slice(fields);
    let (status, _, page) = app
        .post_form(browser, &app.url("/portal/clients"), &body)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

/// Polls the page until it contains `needle` (audit events are written in the background).
async fn eventually_contains(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    needle: &str,
) -> String {
    let mut page = String::new();
    for _ in 0..50 {
        page = app.get(browser, &app.url(path)).await.2;
        if page.contains(needle) {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{path} never showed {needle:?}: {page}");
}

async fn a_setup_link_creates_the_first_administrator_once(app: TestApp) {
    let state = app.state.as_ref().expect("state");
    let link = gptauth::app::setup::new_setup_link(state)
        .await
        .expect("link");
    let link = link.replace(&state.config.issuer.to_string(), &app.address);
    let first = browser();
    let (status, _, page) = app.get(&first, &link).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let token = form_value(&page, "token");
    let form = |csrf: String| {
        vec![
            ("csrf_token".to_string(), csrf),
            ("token".to_string(), token.clone()),
            ("email".to_string(), "root@example.com".to_string()),
            ("password".to_string(), PASSWORD.to_string()),
        ]
    };
    let body: Vec<(String, String)> = form(form_value(&page, "csrf_token"));
    let pairs: Vec<(&str, &str)> = body.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, location, _) = app.post_form(&first, &app.url("/setup"), &pairs).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/portal"))
    );
    let (status, _, portal) = app.get(&first, &app.url("/portal")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        portal.contains("All clients") && portal.contains("root@example.com"),
        "{portal}"
    );
    let admin = app
        .db
        .user_by_email("root@example.com")
        .await
        .expect("db")
        .expect("admin");
    assert!(admin.is_admin);

    // The link is spent, and no new link works once an administrator exists.
    let (status, _, _) = app.get(&browser(), &link).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let another = gptauth::app::setup::new_setup_link(state)
        .await
        .expect("link")
        .replace(&state.config.issuer.to_string(), &app.address);
    let other_browser = browser();
    let (_, _, page) = app.get(&other_browser, &another).await;
    let body = [
        ("csrf_token", form_value(&page, "csrf_token")),
        ("token", form_value(&page, "token")),
        ("email", "second@example.com".to_string()),
        ("password", PASSWORD.to_string()),
    ];
    let pairs: Vec<(&str, &str)> = body.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, _) = app
        .post_form(&other_browser, &app.url("/setup"), &pairs)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an administrator exists");
    assert!(
        app.db
            .user_by_email("second@example.com")
            .await
            .expect("db")
            .is_none()
    );
    let (status, _, _) = app.get(&browser(), &app.url("/setup?token=made-up")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_client_made_in_the_portal_signs_chatgpt_users_in_with_the_values_it_shows(app: TestApp) {
    let (_, portal) = builder(&app, "builder@example.com").await;
    let page = create_client(
        &app,
        &portal,
        &[
            ("name", "Trip Planner"),
            ("chatgpt", "on"),
            ("scope", "openid profile email"),
            ("logo_uri", "https://cdn.example.com/logo.png"),
            ("policy_uri", "https://example.com/privacy"),
            ("redirect_uris", ""),
            ("audience", ""),
        ],
    )
    .await;
    let client = TestClient {
        id: text_by_id(&page, "value-client-id"),
        secret: text_by_id(&page, "value-client-secret"),
    };
    assert_eq!(
        text_by_id(&page, "value-authorization-url"),
        app.url("/oauth/authorize")
    );
    assert_eq!(
        text_by_id(&page, "value-token-url"),
        app.url("/oauth/token")
    );
    assert_eq!(text_by_id(&page, "value-scope"), "email openid profile");
    assert_eq!(text_by_id(&page, "value-method"), "Default (POST request)");
    // Shown once: the client's page later does not show it.
    let (_, _, later) = app
        .get(&portal, &app.url(&format!("/portal/clients/{}", client.id)))
        .await;
    assert!(!later.contains(&client.secret) && !later.contains("value-client-secret"));

    // A ChatGPT user signs in with those values: the consent page names the GPT in plain words.
    app.user("ada@example.com").await;
    let user = browser();
    let authorize = app.authorize_url(&client, CHATGPT_COM, "xyz", Some("openid profile email"));
    let (_, location, _) = app.get(&user, &authorize).await;
    let login = app.absolute(&location.expect("to login"));
    let (_, _, login_page) = app.get(&user, &login).await;
    let (_, location, _) = app
        .post_form(
            &user,
            &app.url("/login"),
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &form_value(&login_page, "csrf_token")),
                ("next", &form_value(&login_page, "next")),
            ],
        )
        .await;
    let (_, location, _) = app
        .get(&user, &app.absolute(&location.expect("back")))
        .await;
    let (_, _, consent) = app
        .get(&user, &app.absolute(&location.expect("to consent")))
        .await;
    assert!(
        consent.contains("Trip Planner") && consent.contains("See your e-mail address"),
        "{consent}"
    );
    assert!(
        consent.contains("src=\"https://cdn.example.com/logo.png\"")
            && consent.contains("href=\"https://example.com/privacy\"")
    );
    let cb = app.decide(&user, &consent, "allow").await;
    for basic in [false, true] {
        let code = if basic {
            app.sign_in(&user, &authorize, "ada@example.com", PASSWORD)
                .await
                .code()
        } else {
            cb.code()
        };
        let (status, tokens) = app.exchange_code(&client, basic, &code, CHATGPT_COM).await;
        assert_eq!(status, StatusCode::OK, "basic={basic}: {tokens}");
    }
    let page = eventually_contains(
        &app,
        &portal,
        &format!("/portal/clients/{}", client.id),
        "id=\"signins-7d\">2<",
    )
    .await;
    assert_eq!(text_by_id(&page, "connected-users"), "1");
    assert!(
        page.contains("<svg") && page.contains("class=\"signins\""),
        "the chart is drawn"
    );
    let (_, _, list) = app.get(&portal, &app.url("/portal")).await;
    assert!(list.contains("Trip Planner"), "{list}");
}

async fn builders_see_only_their_clients_and_end_users_not_the_portal(app: TestApp) {
    let (_, alice) = builder(&app, "alice@example.com").await;
    let (_, bob) = builder(&app, "bob@example.com").await;
    let page = create_client(
        &app,
        &alice,
        &[
            ("name", "Alice GPT"),
            ("chatgpt", "on"),
            ("scope", "openid"),
        ],
    )
    .await;
    let id = text_by_id(&page, "value-client-id");
    let path = format!("/portal/clients/{id}");
    let (status, _, _) = app.get(&bob, &app.url(&path)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another builder's client does not exist for Bob"
    );
    let (_, _, bob_list) = app.get(&bob, &app.url("/portal")).await;
    assert!(!bob_list.contains("Alice GPT"));
    let (_, _, bob_page) = app.get(&bob, &app.url("/portal/clients/new")).await;
    let csrf = form_value(&bob_page, "csrf_token");
    for action in ["delete", "rotate-secret"] {
        let (status, _, _) = app
            .post_form(
                &bob,
                &app.url(&format!("{path}/{action}")),
                &[("csrf_token", &csrf)],
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}");
    }
    let (status, _, _) = app
        .post_form(
            &bob,
            &app.url(&format!("{path}/redirects")),
            &[
                ("csrf_token", &csrf),
                ("redirect_uris", "https://evil.example/cb"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let client = app.db.client(&id).await.expect("db").expect("still there");
    assert!(
        client.redirect_uris.is_empty() && client.chatgpt_callbacks,
        "unchanged"
    );

    app.user("enduser@example.com").await;
    let end_user = signed_in(&app, "enduser@example.com").await;
    for path in [
        "/portal",
        "/portal/clients/new",
        path.as_str(),
        "/portal/users",
    ] {
        let (status, _, _) = app.get(&end_user, &app.url(path)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let (status, location, _) = app.get(&browser(), &app.url("/portal")).await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/login?next=%2Fportal"))
    );
    let (status, _, _) = app.get(&alice, &app.url("/portal/users")).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "builders do not manage users"
    );

    // An administrator sees every client and grants the builder role.
    let admin_id = app.user("root@example.com").await;
    app.sql("UPDATE users SET is_admin = TRUE WHERE email = 'root@example.com'")
        .await;
    let admin = signed_in(&app, "root@example.com").await;
    let (_, _, all) = app.get(&admin, &app.url("/portal")).await;
    assert!(all.contains("Alice GPT"), "{all}");
    let (status, _, _) = app.get(&admin, &app.url(&path)).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, users) = app.get(&admin, &app.url("/portal/users")).await;
    let end_user_id = app
        .db
        .user_by_email("enduser@example.com")
        .await
        .expect("db")
        .expect("user")
        .id;
    let (status, _, _) = app
        .post_form(
            &admin,
            &app.url("/portal/users/role"),
            &[
                ("csrf_token", &form_value(&users, "csrf_token")),
                ("user_id", &end_user_id.to_string()),
                ("action", "grant"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = app.get(&end_user, &app.url("/portal")).await;
    assert_eq!(status, StatusCode::OK, "now a builder");
    assert_ne!(admin_id, end_user_id);
}

async fn every_portal_form_needs_its_csrf_token(app: TestApp) {
    let (_, portal) = builder(&app, "builder@example.com").await;
    let page = create_client(
        &app,
        &portal,
        &[("name", "GPT"), ("chatgpt", "on"), ("scope", "openid")],
    )
    .await;
    let id = text_by_id(&page, "value-client-id");
    let secret_before = app
        .db
        .client(&id)
        .await
        .expect("db")
        .expect("client")
        .secret_hash;
    let target = app.user("x@example.com").await.to_string();
    app.sql("UPDATE users SET is_admin = TRUE WHERE email = 'builder@example.com'")
        .await;
    for (path, form) in [
        (
            "/portal/clients".to_string(),
            vec![("name", "Forged"), ("chatgpt", "on"), ("scope", "openid")],
        ),
        (
            format!("/portal/clients/{id}/redirects"),
            vec![("redirect_uris", "https://evil.example/cb")],
        ),
        (format!("/portal/clients/{id}/rotate-secret"), vec![]),
        (format!("/portal/clients/{id}/delete"), vec![]),
        (
            "/portal/users/role".to_string(),
            vec![("user_id", target.as_str()), ("action", "grant")],
        ),
    ] {
        for csrf in [None, Some("forged")] {
            let mut body = form.clone();
            if let Some(c) = csrf {
                body.push(("csrf_token", c));
            }
            let (status, _, page) = app.post_form(&portal, &app.url(&path), &body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {csrf:?}");
            assert!(
                page.contains("expired") || page.contains("Invalid form"),
                "{path}: {page}"
            );
        }
    }
    let client = app.db.client(&id).await.expect("db").expect("not deleted");
    assert_eq!(client.secret_hash, secret_before, "not rotated");
    assert!(client.redirect_uris.is_empty());
    assert_eq!(
        app.db.list_clients().await.expect("db").len(),
        1,
        "nothing forged was created"
    );
    assert!(
        !app.db
            .user_by_email("x@example.com")
            .await
            .expect("db")
            .expect("user")
            .is_builder
    );
}

async fn a_rotated_secret_keeps_the_old_one_working_for_the_overlap_only(app: TestApp) {
    let (_, portal) = builder(&app, "builder@example.com").await;
    let page = create_client(
        &app,
        &portal,
        &[("name", "GPT"), ("chatgpt", "on"), ("scope", "openid")],
    )
    .await;
    let id = text_by_id(&page, "value-client-id");
    let old = TestClient {
        id: id.clone(),
        secret: text_by_id(&page, "value-client-secret"),
    };
    let (_, _, client_page) = app
        .get(&portal, &app.url(&format!("/portal/clients/{id}")))
        .await;
    let (status, _, rotated) = app
        .post_form(
            &portal,
            &app.url(&format!("/portal/clients/{id}/rotate-secret")),
            &[("csrf_token", &form_value(&client_page, "csrf_token"))],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = TestClient {
        id: id.clone(),
        secret: text_by_id(&rotated, "value-client-secret"),
    };
    assert_ne!(new.secret, old.secret);
    app.user("ada@example.com").await;
    app.tokens_for(&new, "ada@example.com").await;
    app.tokens_for(&old, "ada@example.com").await;
    app.sql("UPDATE clients SET previous_secret_expires_at = 1")
        .await;
    let (status, body) = app.refresh(&old, true, "whatever").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "the overlap is over"
    );
    app.tokens_for(&new, "ada@example.com").await;
}

async fn a_redirect_uri_mismatch_shows_in_recent_errors_and_is_fixed_in_the_portal(app: TestApp) {
    let (_, portal) = builder(&app, "builder@example.com").await;
    let page = create_client(
        &app,
        &portal,
        &[
            ("name", "Strict GPT"),
            ("redirect_uris", CHATGPT_COM),
            ("scope", "openid"),
        ],
    )
    .await;
    let client = TestClient {
        id: text_by_id(&page, "value-client-id"),
        secret: text_by_id(&page, "value-client-secret"),
    };
    app.user("ada@example.com").await;
    let (status, _, _) = app
        .get(
            &browser(),
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let path = format!("/portal/clients/{}", client.id);
    let page = eventually_contains(&app, &portal, &path, "Redirect URI not registered").await;
    assert!(page.contains(CHATGPT_OPENAI), "the URI tried is shown");
    let (status, location, _) = app
        .post_form(
            &portal,
            &app.url(&format!("{path}/redirects")),
            &[
                ("csrf_token", &form_value(&page, "csrf_token")),
                (
                    "redirect_uris",
                    &format!("{CHATGPT_COM}\n{CHATGPT_OPENAI}\n"),
                ),
            ],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some(path.as_str()))
    );
    let cb = app
        .sign_in(
            &browser(),
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    assert!(cb.url.as_str().starts_with(CHATGPT_OPENAI));
    let (status, _, page) = app
        .post_form(
            &portal,
            &app.url(&format!("{path}/redirects")),
            &[
                ("csrf_token", &form_value(&page, "csrf_token")),
                ("redirect_uris", "javascript:alert(1)"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("role=\"alert\""), "{page}");
    let (status, location, _) = app
        .post_form(
            &portal,
            &app.url(&format!("{path}/delete")),
            &[("csrf_token", &form_value(&page, "csrf_token"))],
        )
        .await;
    assert_eq!(
        (status, location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/portal"))
    );
    assert!(app.db.client(&client.id).await.expect("db").is_none());
}

async fn the_new_client_form_explains_what_is_wrong(app: TestApp) {
    let (_, portal) = builder(&app, "builder@example.com").await;
    let (_, _, form) = app.get(&portal, &app.url("/portal/clients/new")).await;
    let csrf = form_value(&form, "csrf_token");
    // The alert itself must say what is wrong (the form's labels name every field anyway).
    for (fields, message) in [
        (
            vec![("name", ""), ("chatgpt", "on"), ("scope", "openid")],
            "Give the client a name of 1 to 100 characters.",
        ),
        (
            vec![("name", "X"), ("scope", "openid")],
            "Add at least one redirect URI, or keep the ChatGPT preset on.",
        ),
        (
            vec![
                ("name", "X"),
                ("redirect_uris", "http://evil.example/cb"),
                ("scope", "openid"),
            ],
            "Redirect URI: ",
        ),
        (
            vec![
                ("name", "X"),
                ("chatgpt", "on"),
                ("scope", "openid"),
                ("logo_uri", "http://insecure.example/l.png"),
            ],
            "The logo URL must be an https URL.",
        ),
        (
            vec![("name", "X"), ("chatgpt", "on"), ("scope", "")],
            "Name at least one scope.",
        ),
    ] {
        let mut body = vec![("csrf_token", csrf.as_str())];
        body.extend(fields);
        let (status, _, page) = app
            .post_form(&portal, &app.url("/portal/clients"), &body)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{message}");
        let marker = "<p class=\"error\" role=\"alert\">";
        let start = page
            .find(marker)
            .unwrap_or_else(|| panic!("no alert for {message:?}: {page}"))
            + marker.len();
        let alert =
            unescape(&page[start..start + page[start..].find("</p>").expect("end of alert")]);
        if message.ends_with(": ") {
            assert!(
                alert.starts_with(message) && alert.len() > message.len() + 5,
                "{message:?}: {alert:?}"
            );
        } else {
            assert_eq!(alert, message);
        }
    }
    assert!(app.db.list_clients().await.expect("db").is_empty());
}

async fn an_administrator_sees_that_a_private_key_jwt_client_signs_rather_than_holds_a_secret(
    app: TestApp,
) {
    let (_, browser) = builder(&app, "admin@example.com").await;
    app.sql("UPDATE users SET is_admin = TRUE").await;
    let jwk = serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
    });
    let registered: serde_json::Value = reqwest::Client::new()
        .post(app.url("/oauth/register"))
        .json(
            &serde_json::json!({ "client_name": "Signer", "redirect_uris": [CHATGPT_OPENAI],
            "token_endpoint_auth_method": "private_key_jwt", "jwks": { "keys": [jwk] } }),
        )
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let id = registered["client_id"].as_str().expect("client_id");
    let (status, _, page) = app
        .get(&browser, &app.url(&format!("/portal/clients/{id}")))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("private_key_jwt") && !page.contains("a public client"),
        "{page}"
    );
    assert!(
        !page.contains("Rotate the secret"),
        "it has no secret to rotate: {page}"
    );
}

crate::both_backends!(
    a_setup_link_creates_the_first_administrator_once,
    a_client_made_in_the_portal_signs_chatgpt_users_in_with_the_values_it_shows,
    builders_see_only_their_clients_and_end_users_not_the_portal,
    every_portal_form_needs_its_csrf_token,
    a_rotated_secret_keeps_the_old_one_working_for_the_overlap_only,
    a_redirect_uri_mismatch_shows_in_recent_errors_and_is_fixed_in_the_portal,
    the_new_client_form_explains_what_is_wrong,
    an_administrator_sees_that_a_private_key_jwt_client_signs_rather_than_holds_a_secret
);

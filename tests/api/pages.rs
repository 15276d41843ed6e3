//! Pages forbid framing, are not cached, and carry CSRF tokens.

use reqwest::StatusCode;

use crate::helpers::*;

crate::both_backends! {
    async fn login_and_consent_pages_forbid_framing_and_caching(app: TestApp) {
        let client = app.client().await;
        app.user("ada@example.com").await;
        let browser = browser();
        let resp = browser.get(app.url("/login")).send().await.expect("get");
        assert_eq!(resp.status(), StatusCode::OK);
        let h = resp.headers();
        assert_eq!(h.get("x-frame-options").and_then(|v| v.to_str().ok()), Some("DENY"));
        let csp = h.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self';") && !csp.contains("unsafe-inline"), "scripts from this server only, never inline: {csp}");
        assert!(!body_has_script(&app).await, "the login page runs no script at all");
        assert_eq!(h.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
        assert_eq!(h.get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
        assert_eq!(h.get("referrer-policy").and_then(|v| v.to_str().ok()), Some("no-referrer"));
        let set_cookie: Vec<String> = h.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok().map(str::to_string)).collect();
        assert!(set_cookie.iter().any(|c| c.starts_with("gptauth_csrf=") && c.contains("HttpOnly")), "{set_cookie:?}");
        let body = resp.text().await.expect("body");
        assert_eq!(form_value(&body, "csrf_token").len(), 43);

        // Signed in, the session cookie is HttpOnly and SameSite=Lax.
        let (_, location, _) = app.get(&browser, &app.authorize_url(&client, CHATGPT_OPENAI, "s", None)).await;
        let (_, _, login) = app.get(&browser, &app.absolute(&location.expect("login"))).await;
        let resp = browser.post(app.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(url::form_urlencoded::Serializer::new(String::new()).extend_pairs([
                ("email", "ada@example.com"), ("password", PASSWORD),
                ("csrf_token", &form_value(&login, "csrf_token")), ("next", &form_value(&login, "next")),
            ]).finish())
            .send().await.expect("post");
        let session = resp.headers().get_all("set-cookie").iter()
            .filter_map(|v| v.to_str().ok()).find(|c| c.starts_with("gptauth_session=")).expect("session cookie").to_string();
        assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"), "{session}");
        assert!(!session.contains("Secure"), "plain http issuer: no Secure flag");
    }
}

#[tokio::test]
async fn an_https_issuer_makes_cookies_secure_and_sends_hsts() {
    let app = spawn_app(
        Backend::Sqlite,
        &[("GPTAUTH_ISSUER", "https://auth.example.com")],
    )
    .await
    .expect("app");
    let resp = reqwest::get(app.url("/login")).await.expect("get");
    assert!(resp.headers().get("strict-transport-security").is_some());
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(cookie.contains("Secure"), "{cookie}");
}

/// Whether the login page loads any script.
async fn body_has_script(app: &TestApp) -> bool {
    let page = reqwest::get(app.url("/login"))
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    page.contains("<script")
}

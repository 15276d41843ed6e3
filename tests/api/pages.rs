//! Pages forbid framing, are not cached, and carry CSRF tokens.

use reqwest::StatusCode;

use crate::helpers::*;

async fn login_and_consent_pages_forbid_framing_and_caching(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let browser = browser();
    let resp = browser.get(app.url("/login")).send().await.expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers();
    assert_eq!(
        h.get("x-frame-options").and_then(|v| v.to_str().ok()),
        Some("DENY")
    );
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self';")
            && !csp.contains("unsafe-inline"),
        "scripts from this server only, never inline: {csp}"
    );
    assert!(
        !body_has_script(&app).await,
        "the login page runs no script at all"
    );
    assert_eq!(
        h.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert_eq!(
        h.get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    assert_eq!(
        h.get("referrer-policy").and_then(|v| v.to_str().ok()),
        Some("no-referrer")
    );
    let set_cookie: Vec<String> = h
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    assert!(
        set_cookie
            .iter()
            .any(|c| c.starts_with("gptauth_csrf=") && c.contains("HttpOnly")),
        "{set_cookie:?}"
    );
    let body = resp.text().await.expect("body");
    assert_eq!(form_value(&body, "csrf_token").len(), 43);

    // Signed in, the session cookie is HttpOnly and SameSite=Lax.
    let (_, location, _) = app
        .get(
            &browser,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
        )
        .await;
    let (_, _, login) = app
        .get(&browser, &app.absolute(&location.expect("login")))
        .await;
    let resp = browser
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("email", "ada@example.com"),
                    ("password", PASSWORD),
                    ("csrf_token", &form_value(&login, "csrf_token")),
                    ("next", &form_value(&login, "next")),
                ])
                .finish(),
        )
        .send()
        .await
        .expect("post");
    let session = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("gptauth_session="))
        .expect("session cookie")
        .to_string();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(
        !session.contains("Secure"),
        "plain http issuer: no Secure flag"
    );
}

crate::both_backends!(login_and_consent_pages_forbid_framing_and_caching);

/// The `Set-Cookie` header of a response that sets `name`.
fn set_cookie(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", resp.headers()))
        .to_string()
}

/// Cookies an https issuer sets: `__Host-` names (no sibling subdomain can set or shadow them),
/// `Secure`, `Path=/`, no `Domain`; HSTS for a year. The test server itself speaks plain http,
/// so the cookies are sent back by hand, as a browser would over https.
fn assert_host_only_secure(cookie: &str) {
    assert!(cookie.starts_with("__Host-"), "{cookie}");
    assert!(
        cookie.contains("; Secure") && cookie.contains("; HttpOnly") && cookie.contains("; Path=/"),
        "{cookie}"
    );
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
}

#[tokio::test]
async fn an_https_issuer_makes_cookies_secure_and_sends_hsts() {
    let app = spawn_app(
        Backend::Sqlite,
        &[("GPTAUTH_ISSUER", "https://auth.example.com")],
    )
    .await
    .expect("app");
    app.user("ada@example.com").await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = http.get(app.url("/login")).send().await.expect("get");
    assert_eq!(
        resp.headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some("max-age=31536000")
    );
    let csrf = set_cookie(&resp, "__Host-gptauth_csrf");
    assert_host_only_secure(&csrf);
    let nonce = csrf.split(';').next().expect("pair").to_string();
    let page = resp.text().await.expect("body");
    let resp = http
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &nonce)
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("email", "ada@example.com"),
                    ("password", PASSWORD),
                    ("csrf_token", &form_value(&page, "csrf_token")),
                    ("next", "/account"),
                ])
                .finish(),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&resp, "__Host-gptauth_session");
    assert_host_only_secure(&session);
    assert!(session.contains("SameSite=Lax"), "{session}");
    assert_host_only_secure(&set_cookie(&resp, "__Host-gptauth_device"));
    // A cookie without the prefix (planted by a sibling subdomain) is no session here.
    let planted = session
        .split(';')
        .next()
        .expect("pair")
        .trim_start_matches("__Host-")
        .to_string();
    let resp = http
        .get(app.url("/account"))
        .header("cookie", &planted)
        .send()
        .await
        .expect("get");
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "not signed in by an unprefixed cookie"
    );
}

/// The `name=value` pair of the cookie `name` a response sets.
fn pair(resp: &reqwest::Response, name: &str) -> String {
    set_cookie(resp, name)
        .split(';')
        .next()
        .expect("pair")
        .to_string()
}

/// Signs `email` in without a cookie jar; returns its CSRF nonce and session cookie pairs.
async fn cookies_of_a_sign_in(
    app: &TestApp,
    http: &reqwest::Client,
    email: &str,
) -> (String, String) {
    let resp = http.get(app.url("/login")).send().await.expect("get");
    let nonce = pair(&resp, "gptauth_csrf");
    let page = resp.text().await.expect("body");
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("email", email),
            ("password", PASSWORD),
            ("csrf_token", &form_value(&page, "csrf_token")),
            ("next", "/account"),
        ])
        .finish();
    let resp = http
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &nonce)
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    (nonce, pair(&resp, "gptauth_session"))
}

async fn a_csrf_token_is_bound_to_the_session(app: TestApp) {
    app.user("ada@example.com").await;
    app.user("mallory@example.com").await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let (_, victim_session) = cookies_of_a_sign_in(&app, &http, "ada@example.com").await;
    // The attacker reads a token off their own account page, for their own nonce...
    let (attacker_nonce, attacker_session) =
        cookies_of_a_sign_in(&app, &http, "mallory@example.com").await;
    let page = http
        .get(app.url("/account"))
        .header("cookie", format!("{attacker_nonce}; {attacker_session}"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    let token = form_value(&page, "csrf_token");
    // ...plants that nonce beside the victim's session (a sibling subdomain could, before
    // __Host-) and has the victim's browser post a form with the token.
    let post = |cookies: String, token: String| {
        let http = &http;
        let url = app.url("/account/profile");
        async move {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([("csrf_token", token.as_str()), ("name", "pwned")])
                .finish();
            http.post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", cookies)
                .body(body)
                .send()
                .await
                .expect("post")
                .status()
        }
    };
    assert_eq!(
        post(format!("{attacker_nonce}; {victim_session}"), token.clone()).await,
        StatusCode::BAD_REQUEST,
        "a token made for another session is refused"
    );
    assert_eq!(
        post(format!("{attacker_nonce}; {attacker_session}"), token).await,
        StatusCode::SEE_OTHER,
        "the token works with the session it was made for"
    );
}

crate::both_backends!(a_csrf_token_is_bound_to_the_session);

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

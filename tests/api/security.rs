//! RFC 9700 / OWASP hardening: redirect policy, PKCE policy, passwords, throttling, sessions,
//! limits, audit trail, secrets out of logs.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// Opens the login page through the popup and submits credentials; returns the answer.
async fn try_login(
    app: &TestApp,
    client: &TestClient,
    email: &str,
    password: &str,
) -> (StatusCode, Option<String>, String) {
    let browser = browser();
    let (_, location, _) = app
        .get(
            &browser,
            &app.authorize_url(client, CHATGPT_OPENAI, "s", None),
        )
        .await;
    let (_, _, login) = app
        .get(&browser, &app.absolute(&location.expect("login")))
        .await;
    app.post_form(
        &browser,
        &app.url("/login"),
        &[
            ("email", email),
            ("password", password),
            ("csrf_token", &form_value(&login, "csrf_token")),
            ("next", &form_value(&login, "next")),
        ],
    )
    .await
}

async fn chatgpt_callbacks_client(app: &TestApp, opt_in: bool) -> TestClient {
    let id = format!("gpt_{}", uuid::Uuid::new_v4().simple());
    let secret = gptauth::crypto::random_token();
    app.db
        .insert_client(&gptauth::store::NewClient {
            client_id: &id,
            name: "Any GPT",
            secret_hash: Some(&gptauth::crypto::digest(&secret)),
            scope: "profile",
            audience: None,
            require_pkce: false,
            chatgpt_callbacks: opt_in,
            resources: &[],
            id_token_alg: None,
            registration_token_hash: None,
            registered_auth_method: None,
            owner_id: None,
            logo_uri: None,
            policy_uri: None,
            redirect_uris: &[],
        })
        .await
        .expect("insert client");
    TestClient { id, secret }
}

async fn audit_kinds(app: &TestApp, expected: &[&str]) -> Vec<String> {
    // The writer is asynchronous: give it a moment to catch up.
    let mut kinds = Vec::new();
    for _ in 0..60 {
        kinds = app
            .db
            .audit_since(0, 1000)
            .await
            .expect("audit")
            .into_iter()
            .map(|e| e.kind)
            .collect::<Vec<_>>();
        if expected.iter().all(|e| kinds.iter().any(|k| k == e)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    kinds
}

async fn the_chatgpt_callbacks_opt_in_accepts_any_gpt_callback_and_nothing_else(app: TestApp) {
    let open = chatgpt_callbacks_client(&app, true).await;
    let strict = chatgpt_callbacks_client(&app, false).await;
    app.user("ada@example.com").await;
    let edited = "https://chatgpt.com/aip/g-edited_after-save123/oauth/callback";
    let cb = app
        .sign_in(
            &browser(),
            &app.authorize_url(&open, edited, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    assert!(cb.url.as_str().starts_with(edited));
    let (status, body) = app.exchange_code(&open, true, &cb.code(), edited).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for lookalike in [
        "https://chatgpt.com.evil.example/aip/g-abc/oauth/callback",
        "https://chatgpt.com/aip/g-abc/oauth/callback/../../evil",
        "http://chatgpt.com/aip/g-abc/oauth/callback",
    ] {
        let (status, location, _) = app
            .get(&browser(), &app.authorize_url(&open, lookalike, "s", None))
            .await;
        assert_eq!(
            (status, location),
            (StatusCode::BAD_REQUEST, None),
            "{lookalike}"
        );
    }
    let (status, location, _) = app
        .get(&browser(), &app.authorize_url(&strict, edited, "s", None))
        .await;
    assert_eq!(
        (status, location),
        (StatusCode::BAD_REQUEST, None),
        "exact matching without the opt-in"
    );
}

async fn a_client_that_requires_pkce_gets_an_error_without_a_challenge(app: TestApp) {
    let id = format!("gpt_{}", uuid::Uuid::new_v4().simple());
    let uris = vec![CHATGPT_OPENAI.to_string()];
    app.db
        .insert_client(&gptauth::store::NewClient {
            client_id: &id,
            name: "Strict",
            secret_hash: Some(&gptauth::crypto::digest("s3cret")),
            scope: "profile",
            audience: None,
            require_pkce: true,
            chatgpt_callbacks: false,
            resources: &[],
            id_token_alg: None,
            registration_token_hash: None,
            registered_auth_method: None,
            owner_id: None,
            logo_uri: None,
            policy_uri: None,
            redirect_uris: &uris,
        })
        .await
        .expect("insert");
    let client = TestClient {
        id,
        secret: "s3cret".into(),
    };
    let (status, location, _) = app
        .get(
            &browser(),
            &app.authorize_url(&client, CHATGPT_OPENAI, "st", None),
        )
        .await;
    assert_eq!(status, StatusCode::FOUND);
    let location = location.expect("location");
    assert!(
        location.starts_with(CHATGPT_OPENAI)
            && location.contains("error=invalid_request")
            && location.contains("state=st"),
        "{location}"
    );
}

async fn a_common_password_is_refused_at_sign_up(app: TestApp) {
    let browser = browser();
    let (_, _, page) = app.get(&browser, &app.url("/signup")).await;
    let (status, location, body) = app
        .post_form(
            &browser,
            &app.url("/signup"),
            &[
                ("email", "new@example.com"),
                ("password", "password123"),
                ("csrf_token", &form_value(&page, "csrf_token")),
            ],
        )
        .await;
    assert_eq!((status, location), (StatusCode::BAD_REQUEST, None));
    assert!(body.contains("most common"), "{body}");
}

async fn failed_logins_are_delayed_alike_for_real_and_unknown_accounts(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let mut sequences = Vec::new();
    for email in ["ada@example.com", "nobody@example.com"] {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(try_login(&app, &client, email, "wrong password!").await.0);
        }
        // The fourth attempt comes too soon: refused before the password is even looked at.
        let (status, location, body) = try_login(&app, &client, email, PASSWORD).await;
        assert_eq!(location, None, "no sign-in while throttled");
        assert!(body.contains("Too many failed sign-ins"), "{body}");
        statuses.push(status);
        sequences.push(statuses);
    }
    assert_eq!(
        sequences[0],
        vec![
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(
        sequences[0], sequences[1],
        "no difference between real and unknown accounts"
    );
}

async fn probing_sign_up_for_taken_addresses_is_throttled(app: TestApp) {
    app.user("ada@example.com").await;
    let browser = browser();
    let (_, _, page) = app.get(&browser, &app.url("/signup")).await;
    let csrf = form_value(&page, "csrf_token");
    let mut statuses = Vec::new();
    // Sign-ups naming one address: three, then a wait (SIGNUP_ADDRESS).
    for _ in 0..4 {
        let (status, _, _) = app
            .post_form(
                &browser,
                &app.url("/signup"),
                &[
                    ("email", "ada@example.com"),
                    ("password", PASSWORD),
                    ("csrf_token", &csrf),
                ],
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::CONFLICT,
            StatusCode::CONFLICT,
            StatusCode::CONFLICT,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

async fn throttling_holds_across_instances_sharing_the_database(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let other = spawn_app_on(app.backend, &app.database_url, &[]).await;
    for _ in 0..3 {
        assert_eq!(
            try_login(&app, &client, "ada@example.com", "wrong password!")
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, _, _) = try_login(&other, &client, "ada@example.com", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the second instance sees the first one's failures"
    );
}

async fn signing_in_again_rotates_the_session_id(app: TestApp) {
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
    let session_cookie = |headers: &reqwest::header::HeaderMap| {
        headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("gptauth_session="))
            .map(|c| c.split(';').next().unwrap_or("").to_string())
    };
    // Sign in twice from one browser: a new session id each time, and the old one is dead.
    let fresh = crate::helpers::browser();
    let (_, _, page) = app.get(&fresh, &app.url("/login")).await;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("email", "ada@example.com"),
            ("password", PASSWORD),
            ("csrf_token", &form_value(&page, "csrf_token")),
        ])
        .finish();
    let first = fresh
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .expect("login");
    let first_cookie = session_cookie(first.headers()).expect("first session");
    let second = fresh
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("login");
    let second_cookie = session_cookie(second.headers()).expect("second session");
    assert_ne!(first_cookie, second_cookie);
    let old = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = old
        .get(app.authorize_url(&client, CHATGPT_OPENAI, "s", None))
        .header("cookie", &first_cookie)
        .send()
        .await
        .expect("get");
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        location.starts_with("/login"),
        "the old session id no longer signs anyone in: {location}"
    );
}

async fn sign_out_everywhere_ends_the_sessions_of_other_browsers(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let (laptop, phone) = (browser(), browser());
    for b in [&laptop, &phone] {
        app.sign_in(
            b,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    }
    let (_, _, home) = app.get(&laptop, &app.url("/")).await;
    let (status, _, _) = app
        .post_form(
            &laptop,
            &app.url("/logout"),
            &[
                ("csrf_token", &form_value(&home, "csrf_token")),
                ("everywhere", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, location, _) = app
        .get(
            &phone,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
        )
        .await;
    assert!(
        location.unwrap_or_default().starts_with("/login"),
        "the phone is signed out too"
    );
}

async fn an_idle_session_expires(app: TestApp) {
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
    app.advance(gptauth::app::sessions::IDLE_SECONDS + 1);
    let (_, location, _) = app
        .get(
            &browser,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
        )
        .await;
    assert!(location.unwrap_or_default().starts_with("/login"));
    assert_eq!(
        app.db
            .purge_expired_sessions(gptauth::app::sessions::IDLE_SECONDS)
            .await
            .expect("purge"),
        1,
        "swept"
    );
}

async fn overlong_and_oversized_requests_get_clear_400s(app: TestApp) {
    let client = app.client().await;
    let long_state = "x".repeat(5000);
    let (status, location, body) = app
        .get(
            &browser(),
            &app.authorize_url(&client, CHATGPT_OPENAI, &long_state, None),
        )
        .await;
    assert_eq!((status, location), (StatusCode::BAD_REQUEST, None));
    assert!(body.contains("too long"), "{body}");
    let (status, _, body) = app
        .get(
            &browser(),
            &app.url("/oauth/authorize?client_id=a&client_id=b"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("more than once"));
    let (status, body) = app
        .token_raw(
            Some((&client.id, &client.secret)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &"y".repeat(20_000)),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let resp = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 100_000])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["error"],
        "invalid_request"
    );
}

async fn an_unreadable_form_gets_an_error_page(app: TestApp) {
    let browser = browser();
    let (status, location, body) = app
        .post_form(
            &browser,
            &app.url("/login"),
            &[("email", "ada@example.com")],
        )
        .await;
    assert_eq!((status, location), (StatusCode::BAD_REQUEST, None));
    assert!(body.contains("<h1>Invalid form</h1>"), "{body}");
}

async fn the_audit_trail_records_security_events_without_secrets(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    let old = tokens["refresh_token"].as_str().expect("rt").to_string();
    let (status, _) = app.refresh(&client, true, &old).await;
    assert_eq!(status, StatusCode::OK);
    // Force the rotated token out of its grace window, then reuse it.
    app.advance(3600);
    let (status, _) = app.refresh(&client, true, &old).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    try_login(&app, &client, "ada@example.com", "wrong password!").await;
    let expected = [
        "login_succeeded",
        "consent_granted",
        "code_issued",
        "token_issued",
        "token_refreshed",
        "refresh_reuse_detected",
        "login_failed",
    ];
    let kinds = audit_kinds(&app, &expected).await;
    for expected in expected {
        assert!(
            kinds.iter().any(|k| k == expected),
            "{expected} missing from {kinds:?}"
        );
    }
    let dump = format!("{:?}", app.db.audit_since(0, 1000).await.expect("audit"));
    for secret in [
        old.as_str(),
        tokens["access_token"].as_str().expect("at"),
        client.secret.as_str(),
        PASSWORD,
        "wrong password!",
    ] {
        assert!(
            !dump.contains(secret),
            "a secret leaked into the audit trail"
        );
    }
}

async fn expired_codes_and_dead_refresh_tokens_are_swept(app: TestApp) {
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
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    // Past the codes' lifetime (the default, 60 s), within the access token's (which the
    // spent code's record keeps to)...
    app.advance(60 + 1);
    assert_eq!(
        app.db.purge_expired_codes().await.expect("purge"),
        1,
        "the unredeemed code"
    );
    // ...and past the refresh tokens' (the default, 90 days).
    app.advance(7_776_000);
    assert_eq!(
        app.db.purge_dead_refresh_families().await.expect("purge"),
        2,
        "one token and its family"
    );
    let (status, _) = app
        .refresh(&client, true, tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

crate::both_backends!(
    the_chatgpt_callbacks_opt_in_accepts_any_gpt_callback_and_nothing_else,
    a_client_that_requires_pkce_gets_an_error_without_a_challenge,
    a_common_password_is_refused_at_sign_up,
    failed_logins_are_delayed_alike_for_real_and_unknown_accounts,
    probing_sign_up_for_taken_addresses_is_throttled,
    throttling_holds_across_instances_sharing_the_database,
    signing_in_again_rotates_the_session_id,
    sign_out_everywhere_ends_the_sessions_of_other_browsers,
    an_idle_session_expires,
    overlong_and_oversized_requests_get_clear_400s,
    an_unreadable_form_gets_an_error_page,
    the_audit_trail_records_security_events_without_secrets,
    expired_codes_and_dead_refresh_tokens_are_swept
);

/// The binary's own log, at debug level, over a whole sign-in: no code, token, secret or
/// password appears in it.
#[tokio::test]
async fn secrets_never_reach_the_log() {
    let dir = std::env::temp_dir().join(format!("gptauth-log-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let database_url = format!("sqlite://{}", dir.join("gptauth.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let address = format!("http://127.0.0.1:{port}");
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_gptauth"))
        .arg("serve")
        .env("DATABASE_URL", &database_url)
        .env("GPTAUTH_ISSUER", &address)
        .env("GPTAUTH_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "debug")
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start gptauth");
    let mut ready = false;
    for _ in 0..100 {
        if reqwest::get(format!("{address}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "server did not start");
    let db = gptauth::store::Db::connect(&database_url)
        .await
        .expect("db");
    let app = TestApp {
        address: address.clone(),
        backend: Backend::Sqlite,
        database_url,
        db,
        state: None,
    };
    let client = app.client().await;
    app.user("ada@example.com").await;
    let browser = browser();
    let cb = app
        .sign_in(
            &browser,
            &app.authorize_url(&client, CHATGPT_OPENAI, "secret-state-4711", None),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    let code = cb.code();
    let (status, tokens) = app
        .exchange_code(&client, false, &code, CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, refreshed) = app
        .refresh(&client, true, tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(status, StatusCode::OK);
    // The failed sign-in must really happen (and be logged about), or its password is not
    // tested below.
    let (status, _, _) = try_login(&app, &client, "ada@example.com", "wrong password!").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the wrong password was checked"
    );
    let kinds = audit_kinds(&app, &["login_failed"]).await;
    assert!(kinds.iter().any(|k| k == "login_failed"), "{kinds:?}");
    let _ = server.kill();
    let _ = server.wait();
    let log = std::fs::read_to_string(&log_path).expect("read log");
    assert!(log.contains("request"), "the log has request lines: {log}");
    assert!(
        log.contains("security event"),
        "the log has the audit's security events: {log}"
    );
    for secret in [
        code.as_str(),
        tokens["access_token"].as_str().expect("at"),
        tokens["refresh_token"].as_str().expect("rt"),
        refreshed["refresh_token"].as_str().expect("rt2"),
        client.secret.as_str(),
        PASSWORD,
        "wrong password!",
        "secret-state-4711",
    ] {
        // As sent in a form or a query (`correct+horse+…`, `%21`), and percent-encoded.
        let form_encoded: String =
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let percent_encoded = form_encoded.replace('+', "%20");
        for variant in [secret, form_encoded.as_str(), percent_encoded.as_str()] {
            assert!(!log.contains(variant), "a secret reached the log");
        }
    }
}

/// Sends a request head promising `declared` body bytes, then only `sent`, and waits for the
/// answer (at most `wait`).
async fn trickle(
    app: &TestApp,
    path: &str,
    sent: &str,
    wait: std::time::Duration,
) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.address.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n{sent}"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = vec![0u8; 4096];
    match tokio::time::timeout(wait, stream.read(&mut answer)).await {
        Ok(Ok(n)) if n > 0 => Some(String::from_utf8_lossy(&answer[..n]).to_string()),
        _ => None,
    }
}

async fn a_body_that_never_finishes_arriving_is_cut_off(app: TestApp) {
    let started = std::time::Instant::now();
    let answer = trickle(
        &app,
        "/oauth/token",
        "grant_type=refresh",
        std::time::Duration::from_secs(8),
    )
    .await
    .expect("an answer, not a connection held open");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("invalid_request"),
        "the token endpoint's own error shape: {answer}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(6),
        "cut off after about a second"
    );
    let answer = trickle(&app, "/login", "email=a", std::time::Duration::from_secs(8))
        .await
        .expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

crate::both_backends_with!(
    &[("GPTAUTH_REQUEST_BODY_TIMEOUT", "1")];
    a_body_that_never_finishes_arriving_is_cut_off,
);

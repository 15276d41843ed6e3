//! Sign-in throttling under attack: attempts are counted before the password is hashed (so
//! parallel guesses cannot outrun the count, on one instance or several), client addresses come
//! from the trusted proxy's entry only, sign-ups are throttled, and a lock others caused does not
//! keep the owner out.

use reqwest::StatusCode;

use crate::helpers::*;

/// A browser with a CSRF token for the login form.
async fn login_form(app: &TestApp) -> (reqwest::Client, String) {
    let browser = browser();
    let (_, _, page) = app.get(&browser, &app.url("/login?next=%2Faccount")).await;
    let csrf = form_value(&page, "csrf_token");
    (browser, csrf)
}

async fn post_login(
    app: &TestApp,
    browser: &reqwest::Client,
    csrf: &str,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> (StatusCode, Option<String>) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("email", email),
            ("password", password),
            ("csrf_token", csrf),
            ("next", "/account"),
        ])
        .finish();
    let mut request = browser
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(xff) = forwarded_for {
        request = request
            .header("x-forwarded-for", xff)
            // The client's own Forwarded header, different on every attempt.
            .header("forwarded", format!("for=198.51.100.{}", rand_octet()));
    }
    let resp = request.send().await.expect("POST /login");
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (resp.status(), retry_after)
}

fn rand_octet() -> u8 {
    (uuid::Uuid::new_v4().as_u128() % 250) as u8
}

/// Password checks so far: every checked wrong password leaves one `login_failed` event.
async fn failed_checks(app: &TestApp) -> usize {
    // The audit writer batches; give it a moment.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    app.db
        .audit_since(0, 10_000)
        .await
        .expect("audit")
        .iter()
        .filter(|e| e.kind == "login_failed")
        .count()
}

/// Serves the wait a delayed key would have to sit out, without sleeping: the counters' last
/// failure moves a minute back (the failures stay within the hour they are counted for).
async fn serve_the_delay(app: &TestApp) {
    app.sql("UPDATE login_throttle SET last_failure_at = last_failure_at - 61")
        .await;
}

/// 64 parallel attempts on one account (63 wrong, 1 right), split across `instances`.
async fn parallel_attempts(instances: &[&TestApp]) -> Vec<StatusCode> {
    let mut forms = Vec::new();
    for i in 0..64 {
        let app = instances[i % instances.len()];
        forms.push((app, login_form(app).await, i == 40));
    }
    let attempts = forms
        .iter()
        .map(|(app, (browser, csrf), right)| async move {
            let password = if *right { PASSWORD } else { "a wrong password" };
            post_login(app, browser, csrf, "ada@example.com", password, None)
                .await
                .0
        });
    futures::future::join_all(attempts).await
}

fn assert_at_most_the_free_attempts_were_checked(statuses: &[StatusCode]) {
    let checked = statuses
        .iter()
        .filter(|s| **s != StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        checked <= 3,
        "policy: 3 free attempts, then a wait; {checked} of 64 were checked: {statuses:?}"
    );
    assert!(checked >= 1, "some attempt must go through: {statuses:?}");
}

async fn parallel_guesses_cost_at_most_the_free_attempts(app: TestApp) {
    app.user("ada@example.com").await;
    let statuses = parallel_attempts(&[&app]).await;
    assert_at_most_the_free_attempts_were_checked(&statuses);
    assert!(failed_checks(&app).await <= 3);
}

async fn parallel_guesses_at_two_instances_cost_at_most_the_free_attempts(app: TestApp) {
    app.user("ada@example.com").await;
    let twin = spawn_app_on(
        app.backend,
        &app.database_url,
        &[("GPTAUTH_ISSUER", app.address.as_str())],
    )
    .await;
    let statuses = parallel_attempts(&[&app, &twin]).await;
    assert_at_most_the_free_attempts_were_checked(&statuses);
    assert!(failed_checks(&app).await <= 3);
}

async fn a_burst_from_a_penalised_address_gets_no_password_checks(app: TestApp) {
    let mut forms = Vec::new();
    for _ in 0..100 {
        forms.push(login_form(&app).await);
    }
    // Twenty failures on twenty accounts use up the address's free attempts.
    for i in 0..20 {
        let (browser, csrf) = login_form(&app).await;
        let (status, _) = post_login(
            &app,
            &browser,
            &csrf,
            &format!("user{i}@example.com"),
            "a wrong password",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The wait is served: the next attempt may go, and only that one.
    serve_the_delay(&app).await;
    let burst = forms.iter().enumerate().map(|(i, (browser, csrf))| {
        let app = &app;
        async move {
            post_login(
                app,
                browser,
                csrf,
                &format!("other{i}@example.com"),
                "a wrong password",
                None,
            )
            .await
            .0
        }
    });
    let statuses = futures::future::join_all(burst).await;
    let checked = statuses
        .iter()
        .filter(|s| **s != StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        checked <= 1,
        "one attempt after the wait, then the next wait: {checked} checked: {statuses:?}"
    );
    assert!(
        failed_checks(&app).await <= 21,
        "at most one password checked in the burst"
    );
}

async fn ten_failures_lock_an_account_for_fifteen_minutes_and_nine_do_not(app: TestApp) {
    app.user("ada@example.com").await;
    for _ in 0..9 {
        let (browser, csrf) = login_form(&app).await;
        let (status, _) = post_login(
            &app,
            &browser,
            &csrf,
            "ada@example.com",
            "a wrong password",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        serve_the_delay(&app).await;
    }
    // After nine failures the right password still gets in.
    let (browser, csrf) = login_form(&app).await;
    let (status, _) = post_login(&app, &browser, &csrf, "ADA@example.com ", PASSWORD, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "nine failures do not lock");
    // A success clears the count: ten more failures from scratch, the tenth locks.
    for _ in 0..10 {
        let (browser, csrf) = login_form(&app).await;
        let (status, _) = post_login(
            &app,
            &browser,
            &csrf,
            "ada@example.com",
            "a wrong password",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        serve_the_delay(&app).await;
    }
    let (browser, csrf) = login_form(&app).await;
    let (status, retry_after) =
        post_login(&app, &browser, &csrf, "ada@example.com", PASSWORD, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "locked");
    let wait: i64 = retry_after.expect("Retry-After").parse().expect("seconds");
    assert!((895..=900).contains(&wait), "fifteen minutes, got {wait}");
}

crate::both_backends!(
    parallel_guesses_cost_at_most_the_free_attempts,
    parallel_guesses_at_two_instances_cost_at_most_the_free_attempts,
    a_burst_from_a_penalised_address_gets_no_password_checks,
    ten_failures_lock_an_account_for_fifteen_minutes_and_nine_do_not
);

async fn behind_a_proxy_the_address_is_the_entry_the_proxy_added(app: TestApp) {
    for i in 0..26 {
        let (browser, csrf) = login_form(&app).await;
        // The client writes its own entries (and a Forwarded header) in front of the proxy's.
        let xff = format!("10.9.{i}.1, 203.0.113.7");
        let (status, _) = post_login(
            &app,
            &browser,
            &csrf,
            &format!("user{i}@example.com"),
            "a wrong password",
            Some(&xff),
        )
        .await;
        let expected = if i < 20 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(
            status,
            expected,
            "attempt {}: the address's 20 free attempts, whatever the client wrote",
            i + 1
        );
    }
    // Another client behind the same proxy is unaffected.
    let (browser, csrf) = login_form(&app).await;
    let (status, _) = post_login(
        &app,
        &browser,
        &csrf,
        "someone@example.com",
        "a wrong password",
        Some("203.0.113.8"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn sign_ups_are_throttled_per_address_and_per_address_named(app: TestApp) {
    let sign_up = |email: String, xff: &'static str| {
        let app = &app;
        async move {
            let browser = browser();
            let (_, _, page) = app.get(&browser, &app.url("/signup")).await;
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("email", email.as_str()),
                    ("password", PASSWORD),
                    ("csrf_token", &form_value(&page, "csrf_token")),
                ])
                .finish();
            browser
                .post(app.url("/signup"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-forwarded-for", xff)
                .body(body)
                .send()
                .await
                .expect("POST /signup")
                .status()
        }
    };
    let mut from_one_address = Vec::new();
    for i in 0..6 {
        from_one_address.push(sign_up(format!("new{i}@example.com"), "203.0.113.20").await);
    }
    assert_eq!(
        from_one_address[..5],
        [StatusCode::SEE_OTHER; 5],
        "{from_one_address:?}"
    );
    assert_eq!(
        from_one_address[5],
        StatusCode::TOO_MANY_REQUESTS,
        "five sign-ups, then a wait"
    );
    let mut one_address_named = Vec::new();
    for xff in [
        "203.0.113.30",
        "203.0.113.31",
        "203.0.113.32",
        "203.0.113.33",
    ] {
        one_address_named.push(sign_up("victim@example.com".into(), xff).await);
    }
    assert_eq!(
        one_address_named,
        [
            StatusCode::SEE_OTHER,
            StatusCode::CONFLICT,
            StatusCode::CONFLICT,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

crate::both_backends_with!(
    &[("GPTAUTH_TRUST_PROXY", "true")];
    behind_a_proxy_the_address_is_the_entry_the_proxy_added,
    sign_ups_are_throttled_per_address_and_per_address_named,
);

async fn the_owner_gets_past_a_lock_that_others_caused(app: TestApp) {
    app.user("ada@example.com").await;
    // The owner signed in from this browser before.
    let (owner, csrf) = login_form(&app).await;
    assert_eq!(
        post_login(&app, &owner, &csrf, "ada@example.com", PASSWORD, None)
            .await
            .0,
        StatusCode::SEE_OTHER
    );
    // Someone else locks the account.
    for _ in 0..10 {
        let (browser, csrf) = login_form(&app).await;
        post_login(
            &app,
            &browser,
            &csrf,
            "ada@example.com",
            "a wrong password",
            None,
        )
        .await;
        serve_the_delay(&app).await;
    }
    let (stranger, csrf) = login_form(&app).await;
    assert_eq!(
        post_login(&app, &stranger, &csrf, "ada@example.com", PASSWORD, None)
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS,
        "locked for new browsers"
    );
    // The owner's browser is let through with the right password...
    let (_, _, page) = app
        .get(&owner, &app.url("/login?next=%2Faccount&fresh=1"))
        .await;
    let csrf = form_value(&page, "csrf_token");
    assert_eq!(
        post_login(&app, &owner, &csrf, "ada@example.com", PASSWORD, None)
            .await
            .0,
        StatusCode::SEE_OTHER
    );
    // ...and its wrong guesses are throttled on their own counter.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            post_login(
                &app,
                &owner,
                &csrf,
                "ada@example.com",
                "a wrong password",
                None,
            )
            .await
            .0,
        );
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

crate::both_backends!(the_owner_gets_past_a_lock_that_others_caused);

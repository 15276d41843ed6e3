//! Regression tests for the holes found by attacking a running server (issue 15): each fails on
//! the code before its fix.

use std::process::{Command, Output, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

/// Runs the `gptauth` binary on the app's database.
fn gptauth(app: &TestApp, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gptauth"))
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("GPTAUTH_ISSUER", "https://auth.example.com")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run gptauth")
}

/// What a terminal would act on: C0 and C1 controls (ESC, BEL, CR…) and bidi overrides.
fn control_characters(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| {
            (c.is_control() && *c != '\n')
                || matches!(*c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

async fn introspect(app: &TestApp, by: &TestClient, token: &str) -> Value {
    let (status, body) = app
        .post_as(
            "/oauth/introspect",
            Some((by.id.as_str(), by.secret.as_str())),
            &[("token", token)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn userinfo(app: &TestApp, access_token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo")
        .status()
}

/// Tokens for a fresh client and user, and another confidential client (a resource server)
/// to introspect with.
async fn signed_in(app: &TestApp) -> (TestClient, TestClient, Value) {
    let client = app.client().await;
    let resource_server = app.client().await;
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    (client, resource_server, tokens)
}

fn invalid_grant(outcome: &(StatusCode, Value)) -> bool {
    outcome.0 == StatusCode::BAD_REQUEST && outcome.1["error"] == "invalid_grant"
}

fn refresh_token(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh token in {body}"))
        .to_string()
}

// Finding 5: a label per distinct method or path would let anyone grow memory and
// /metrics without bound.
async fn unknown_methods_and_unmatched_paths_collapse_to_one_metric_label(app: TestApp) {
    let http = reqwest::Client::new();
    let marker = Uuid::new_v4().simple().to_string().to_uppercase();
    for i in 0..5 {
        let method =
            reqwest::Method::from_bytes(format!("X{marker}{i}{}", "A".repeat(4000)).as_bytes())
                .expect("method");
        let _ = http
            .request(method.clone(), app.url("/healthz"))
            .send()
            .await;
        let _ = http
            .request(method, app.url(&format!("/no/such/{marker}/{i}")))
            .send()
            .await;
        let _ = http
            .get(app.url(&format!("/no/such/{marker}/{i}")))
            .send()
            .await;
    }
    let text = http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    assert!(
        !text.contains(&marker),
        "a request's method or path became a label"
    );
    let known = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "OTHER",
    ];
    for label in text.split("method=\"").skip(1) {
        let method = &label[..label.find('"').expect("closing quote")];
        assert!(
            known.contains(&method),
            "method label {method:?} is not from the fixed set"
        );
    }
    assert!(
        text.contains("method=\"OTHER\""),
        "unknown methods are counted as OTHER"
    );
    assert!(
        text.contains("route=\"unmatched\",method=\"GET\",status=\"404\"} 5"),
        "{text}"
    );
}

// Finding 9: a disabled user's tokens are no longer active.
async fn introspection_and_userinfo_refuse_the_tokens_of_a_disabled_user(app: TestApp) {
    let (client, resource_server, tokens) = signed_in(&app).await;
    let at = tokens["access_token"].as_str().expect("at");
    let rt = tokens["refresh_token"].as_str().expect("rt");
    assert_eq!(introspect(&app, &resource_server, at).await["active"], true);
    assert_eq!(introspect(&app, &client, rt).await["active"], true);
    app.sql("UPDATE users SET disabled_at = 1").await;
    assert_eq!(
        introspect(&app, &resource_server, at).await,
        json!({ "active": false })
    );
    assert_eq!(
        introspect(&app, &client, rt).await,
        json!({ "active": false })
    );
    assert_eq!(userinfo(&app, at).await, StatusCode::UNAUTHORIZED);
}

async fn introspection_refuses_the_access_token_of_a_deleted_user(app: TestApp) {
    let (_, resource_server, tokens) = signed_in(&app).await;
    let at = tokens["access_token"].as_str().expect("at");
    app.sql("DELETE FROM users").await;
    assert_eq!(
        introspect(&app, &resource_server, at).await,
        json!({ "active": false })
    );
    assert_eq!(userinfo(&app, at).await, StatusCode::UNAUTHORIZED);
}

async fn introspection_and_userinfo_refuse_the_tokens_of_a_deleted_client(app: TestApp) {
    let (client, resource_server, tokens) = signed_in(&app).await;
    let at = tokens["access_token"].as_str().expect("at");
    assert_eq!(userinfo(&app, at).await, StatusCode::OK);
    assert!(app.db.delete_client(&client.id).await.expect("delete"));
    assert_eq!(
        introspect(&app, &resource_server, at).await,
        json!({ "active": false })
    );
    assert_eq!(userinfo(&app, at).await, StatusCode::UNAUTHORIZED);
}

// Finding 10: RFC 9700 §2.1.1: a code_verifier for a code issued without a challenge is
// refused (else a PKCE downgrade goes unnoticed).
async fn a_code_verifier_without_a_challenge_is_invalid_grant(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let cb = app
        .sign_in(
            &browser(),
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    let verifier = "a-verifier-a-verifier-a-verifier-a-verifier-0";
    let (status, _, body) = app
        .token(
            &client,
            true,
            &[
                ("grant_type", "authorization_code"),
                ("code", &cb.code()),
                ("redirect_uri", CHATGPT_OPENAI),
                ("code_verifier", verifier),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
}

// Finding 11: a replay inside the grace window may fork the chain once (ChatGPT's parallel
// refresh); a second replay is a stolen copy.
async fn a_second_replay_inside_the_grace_window_revokes_the_family(app: TestApp) {
    let (client, _, tokens) = signed_in(&app).await;
    let old = refresh_token(&tokens);
    let first = app.refresh(&client, false, &old).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    let parallel = app.refresh(&client, false, &old).await;
    assert_eq!(
        parallel.0,
        StatusCode::OK,
        "one parallel refresh is allowed: {}",
        parallel.1
    );
    assert!(
        invalid_grant(&app.refresh(&client, false, &old).await),
        "a second replay is refused"
    );
    assert!(
        invalid_grant(&app.refresh(&client, false, &refresh_token(&first.1)).await),
        "family revoked"
    );
    assert!(
        invalid_grant(
            &app.refresh(&client, false, &refresh_token(&parallel.1))
                .await
        ),
        "family revoked"
    );
}

async fn once_one_branch_of_a_parallel_refresh_is_used_the_other_is_a_reuse(app: TestApp) {
    let (client, _, tokens) = signed_in(&app).await;
    let old = refresh_token(&tokens);
    let (a, b) = futures::join!(
        app.refresh(&client, false, &old),
        app.refresh(&client, true, &old)
    );
    assert_eq!(
        (a.0, b.0),
        (StatusCode::OK, StatusCode::OK),
        "both parallel refreshes get tokens: {} {}",
        a.1,
        b.1
    );
    let kept = app.refresh(&client, false, &refresh_token(&b.1)).await;
    assert_eq!(
        kept.0,
        StatusCode::OK,
        "the branch the client kept works: {}",
        kept.1
    );
    assert!(
        invalid_grant(&app.refresh(&client, false, &refresh_token(&a.1)).await),
        "the other branch is dead"
    );
    assert!(
        invalid_grant(&app.refresh(&client, false, &refresh_token(&kept.1)).await),
        "and its use revoked the family"
    );
}

async fn a_replay_after_the_successor_was_itself_rotated_revokes_the_family(app: TestApp) {
    let (client, _, tokens) = signed_in(&app).await;
    let old = refresh_token(&tokens);
    let first = app.refresh(&client, false, &old).await;
    let second = app.refresh(&client, false, &refresh_token(&first.1)).await;
    assert_eq!(second.0, StatusCode::OK, "{}", second.1);
    assert!(
        invalid_grant(&app.refresh(&client, false, &old).await),
        "the chain moved on: no grace"
    );
    assert!(
        invalid_grant(&app.refresh(&client, false, &refresh_token(&second.1)).await),
        "family revoked"
    );
}

// Finding 13: RFC 6749 §4.1.2: a replayed code revokes what was issued for it.
async fn a_replayed_code_revokes_the_tokens_issued_for_it(app: TestApp) {
    let client = app.client().await;
    let resource_server = app.client().await;
    app.user("ada@example.com").await;
    let cb = app
        .sign_in(
            &browser(),
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    let code = cb.code();
    let (status, tokens) = app
        .exchange_code(&client, false, &code, CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    // Whoever holds the tokens refreshed them once already.
    let (status, refreshed) = app.refresh(&client, false, &refresh_token(&tokens)).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let replay = app
        .exchange_code(&client, false, &code, CHATGPT_OPENAI)
        .await;
    assert!(invalid_grant(&replay), "{}", replay.1);
    assert!(
        invalid_grant(
            &app.refresh(&client, false, &refresh_token(&refreshed))
                .await
        ),
        "refresh family revoked"
    );
    for at in [&tokens["access_token"], &refreshed["access_token"]] {
        let at = at.as_str().expect("at");
        assert_eq!(
            introspect(&app, &resource_server, at).await,
            json!({ "active": false })
        );
        assert_eq!(userinfo(&app, at).await, StatusCode::UNAUTHORIZED);
    }
    // A later sign-in is not affected (access tokens carry whole seconds).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let other = app.tokens_for(&client, "ada@example.com").await;
    assert_eq!(
        introspect(
            &app,
            &resource_server,
            other["access_token"].as_str().expect("at")
        )
        .await["active"],
        true
    );
    assert_eq!(
        app.refresh(&client, false, &refresh_token(&other)).await.0,
        StatusCode::OK
    );
}

// Finding 15: names and URIs chosen by strangers must not drive the operator's terminal.
async fn control_characters_never_reach_the_cli_or_the_audit_trail(app: TestApp) {
    let evil = "Notes\u{1b}[2J\u{1b}]0;pwned\u{7}\r\u{202e}GPT\u{9b}";
    let resp = reqwest::Client::new()
        .post(app.url("/oauth/register"))
        .json(&json!({ "client_name": evil, "redirect_uris": [CHATGPT_OPENAI] }))
        .send()
        .await
        .expect("register");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let registered: Value = resp.json().await.expect("json");
    let name = registered["client_name"].as_str().expect("name");
    assert_eq!(control_characters(name), Vec::<char>::new(), "{name:?}");
    assert!(
        name.contains("Notes") && name.contains("GPT"),
        "the printable part is kept: {name:?}"
    );
    let client = TestClient {
        id: registered["client_id"].as_str().expect("id").into(),
        secret: registered["client_secret"].as_str().expect("secret").into(),
    };
    // A tried redirect URI with controls: kept in the audit trail for the builder.
    let tried = format!("{CHATGPT_OPENAI}\u{1b}[31m\u{7}");
    let (status, _, _) = app
        .get(&browser(), &app.authorize_url(&client, &tried, "s", None))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The audit trail is written in the background.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for args in [
        &["client", "list"][..],
        &["client", "show", &client.id],
        &["audit"],
    ] {
        let out = gptauth(&app, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).expect("utf-8");
        assert_eq!(
            control_characters(&stdout),
            Vec::<char>::new(),
            "{args:?} printed controls: {stdout:?}"
        );
    }
    let audit = String::from_utf8(gptauth(&app, &["audit"]).stdout).expect("utf-8");
    assert!(
        audit.contains("oauth/callback\\u{1b}[31m\\u{7}"),
        "the tried URI is shown, escaped once: {audit}"
    );
}

crate::both_backends!(
    unknown_methods_and_unmatched_paths_collapse_to_one_metric_label,
    introspection_and_userinfo_refuse_the_tokens_of_a_disabled_user,
    introspection_refuses_the_access_token_of_a_deleted_user,
    introspection_and_userinfo_refuse_the_tokens_of_a_deleted_client,
    a_code_verifier_without_a_challenge_is_invalid_grant,
    a_second_replay_inside_the_grace_window_revokes_the_family,
    once_one_branch_of_a_parallel_refresh_is_used_the_other_is_a_reuse,
    a_replay_after_the_successor_was_itself_rotated_revokes_the_family,
    a_replayed_code_revokes_the_tokens_issued_for_it,
    control_characters_never_reach_the_cli_or_the_audit_trail
);

// Finding 11: no grace at all (strict rotation) is a legitimate choice.
async fn with_no_grace_window_any_replay_revokes_the_family(app: TestApp) {
    let (client, _, tokens) = signed_in(&app).await;
    let old = refresh_token(&tokens);
    let first = app.refresh(&client, false, &old).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert!(invalid_grant(&app.refresh(&client, false, &old).await));
    assert!(
        invalid_grant(&app.refresh(&client, false, &refresh_token(&first.1)).await),
        "family revoked"
    );
}

crate::both_backends_with!(
    &[("GPTAUTH_REFRESH_GRACE_SECONDS", "0")];
    with_no_grace_window_any_replay_revokes_the_family,
);

/// Registers `body` with its content type; the status and the JSON answer.
async fn register_as(
    app: &TestApp,
    content_type: &str,
    body: String,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .post(app.url("/oauth/register"))
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("register");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn registration_takes_only_json_and_only_redirect_uris_that_mean_one_thing(app: TestApp) {
    let doc = serde_json::json!({
        "client_name": "X",
        "redirect_uris": ["https://ok.example/cb"],
        "token_endpoint_auth_method": "none",
    })
    .to_string();
    // A cross-site form or fetch without preflight can send text/plain.
    let (status, body) = register_as(&app, "text/plain", doc.clone(), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_client_metadata")),
        "{body}"
    );
    for uri in [
        "https:evil.example/cb",
        "https://chatgpt.com\\@evil.example/cb",
        "https://ok.example\\cb",
        "https://chatgpt.com@evil.example/cb",
    ] {
        let doc =
            serde_json::json!({ "redirect_uris": [uri], "token_endpoint_auth_method": "none" })
                .to_string();
        let (status, body) = register_as(&app, "application/json", doc, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_redirect_uri")),
            "{uri}: {body}"
        );
    }
    assert!(
        app.db.list_clients().await.expect("clients").is_empty(),
        "nothing was registered"
    );
    let (status, body) = register_as(&app, "application/json; charset=utf-8", doc, None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

crate::both_backends!(registration_takes_only_json_and_only_redirect_uris_that_mean_one_thing);

async fn a_refused_registration_leaves_a_single_use_token_unspent(app: TestApp) {
    let now = app.now();
    app.db
        .insert_initial_access_token(
            &gptauth::store::InitialAccessToken {
                id: uuid::Uuid::now_v7(),
                note: None,
                created_at: now,
                expires_at: now + 600,
                uses_left: Some(1),
                revoked_at: None,
            },
            &gptauth::crypto::digest("one-use"),
        )
        .await
        .expect("insert");
    let bad = serde_json::json!({ "redirect_uris": ["javascript:alert(1)"] }).to_string();
    let (status, body) = register_as(&app, "application/json", bad, Some("one-use")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_redirect_uri"))
    );
    let good = serde_json::json!({ "redirect_uris": ["https://ok.example/cb"] }).to_string();
    let (status, body) = register_as(&app, "application/json", good.clone(), Some("one-use")).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the corrected document registers with the same token: {body}"
    );
    let (status, _) = register_as(&app, "application/json", good, Some("one-use")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "and then it is spent");
}

crate::both_backends_with!(
    &[("GPTAUTH_REGISTRATION", "token")];
    a_refused_registration_leaves_a_single_use_token_unspent,
);

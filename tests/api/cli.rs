//! The `gptauth` binary: the contract in DESIGN.md, errors on stderr with a non-zero exit.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

pub(crate) fn gptauth(app: &TestApp, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gptauth"))
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("GPTAUTH_ISSUER", "https://auth.example.com")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gptauth");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("gptauth output")
}

fn json_out(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON document")
}

fn fails_with(out: &Output, needle: &str) {
    assert!(
        !out.status.success(),
        "expected failure, stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(needle),
        "stderr {stderr:?} lacks {needle:?}"
    );
    assert!(out.stdout.is_empty(), "nothing on stdout on error");
}

async fn client_create_prints_every_value_the_gpt_editor_asks_for_and_the_secret_works(
    app: TestApp,
) {
    let out = gptauth(
        &app,
        &[
            "client",
            "create",
            "--name",
            "Notes GPT",
            "--redirect-uri",
            CHATGPT_OPENAI,
            "--redirect-uri",
            CHATGPT_COM,
            "--json",
        ],
        None,
    );
    let client = json_out(&out);
    for key in [
        "client_id",
        "client_secret",
        "redirect_uris",
        "authorization_url",
        "token_url",
        "scope",
        "token_exchange_method",
    ] {
        assert!(!client[key].is_null(), "{key} missing in {client}");
    }
    assert_eq!(
        client["authorization_url"],
        "https://auth.example.com/oauth/authorize"
    );
    assert_eq!(client["token_url"], "https://auth.example.com/oauth/token");
    assert_eq!(
        client["redirect_uris"],
        serde_json::json!([CHATGPT_OPENAI, CHATGPT_COM])
    );
    // The secret printed once is the one the token endpoint accepts.
    let test_client = TestClient {
        id: client["client_id"].as_str().expect("id").into(),
        secret: client["client_secret"].as_str().expect("secret").into(),
    };
    let user = json_out(&gptauth(
        &app,
        &[
            "user",
            "create",
            "--email",
            "ada@example.com",
            "--password-stdin",
            "--json",
        ],
        Some(&format!("{PASSWORD}\n")),
    ));
    assert_eq!(user["email"], "ada@example.com");
    let tokens = app.tokens_for(&test_client, "ada@example.com").await;
    let claims = app
        .verify_jwt(tokens["access_token"].as_str().expect("at"))
        .await;
    assert_eq!(claims["sub"], user["id"]);
    // The secret is not shown again.
    let shown = json_out(&gptauth(
        &app,
        &["client", "show", &test_client.id, "--json"],
        None,
    ));
    assert!(shown.get("client_secret").is_none());
    let listed = json_out(&gptauth(&app, &["client", "list", "--json"], None));
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
}

async fn a_duplicate_email_fails_and_writes_nothing(app: TestApp) {
    json_out(&gptauth(
        &app,
        &[
            "user",
            "create",
            "--email",
            "ada@example.com",
            "--password",
            PASSWORD,
            "--json",
        ],
        None,
    ));
    let out = gptauth(
        &app,
        &[
            "user",
            "create",
            "--email",
            "ADA@example.com",
            "--password",
            PASSWORD,
        ],
        None,
    );
    fails_with(&out, "exists already");
    let users = json_out(&gptauth(&app, &["user", "list", "--json"], None));
    assert_eq!(users.as_array().map(Vec::len), Some(1));
}

async fn an_unknown_client_fails_clearly(app: TestApp) {
    for args in [
        vec!["client", "show", "gpt_nope"],
        vec!["client", "delete", "gpt_nope"],
        vec!["client", "rotate-secret", "gpt_nope"],
        vec!["client", "add-redirect", "gpt_nope", CHATGPT_COM],
    ] {
        fails_with(
            &gptauth(&app, &args, None),
            "no client with the ID gpt_nope",
        );
    }
}

async fn a_malformed_redirect_uri_fails_and_writes_nothing(app: TestApp) {
    for bad in [
        "chatgpt.com/callback",
        "http://example.com/cb",
        "https://example.com/cb#x",
    ] {
        let out = gptauth(
            &app,
            &[
                "client",
                "create",
                "--name",
                "X",
                "--redirect-uri",
                CHATGPT_COM,
                "--redirect-uri",
                bad,
            ],
            None,
        );
        fails_with(&out, "--redirect-uri");
    }
    let clients = json_out(&gptauth(&app, &["client", "list", "--json"], None));
    assert_eq!(clients, serde_json::json!([]));
}

async fn redirect_uris_can_be_updated_when_chatgpt_changes_its_callback(app: TestApp) {
    let client = json_out(&gptauth(
        &app,
        &[
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            CHATGPT_OPENAI,
            "--json",
        ],
        None,
    ));
    let id = client["client_id"].as_str().expect("id");
    let edited = "https://chatgpt.com/aip/g-new/oauth/callback";
    assert!(
        gptauth(&app, &["client", "add-redirect", id, edited], None)
            .status
            .success()
    );
    assert!(
        gptauth(
            &app,
            &["client", "remove-redirect", id, CHATGPT_OPENAI],
            None
        )
        .status
        .success()
    );
    fails_with(
        &gptauth(
            &app,
            &["client", "remove-redirect", id, CHATGPT_OPENAI],
            None,
        ),
        "not registered",
    );
    let shown = json_out(&gptauth(&app, &["client", "show", id, "--json"], None));
    assert_eq!(shown["redirect_uris"], serde_json::json!([edited]));
}

async fn rotate_secret_replaces_the_secret(app: TestApp) {
    let client = json_out(&gptauth(
        &app,
        &[
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            CHATGPT_OPENAI,
            "--json",
        ],
        None,
    ));
    let id = client["client_id"].as_str().expect("id").to_string();
    let rotated = json_out(&gptauth(
        &app,
        &["client", "rotate-secret", &id, "--json"],
        None,
    ));
    let new_secret = rotated["client_secret"]
        .as_str()
        .expect("secret")
        .to_string();
    assert_ne!(new_secret, client["client_secret"].as_str().expect("old"));
    app.user("ada@example.com").await;
    let old = TestClient {
        id: id.clone(),
        secret: client["client_secret"].as_str().expect("old").into(),
    };
    let (status, _, body) = app
        .token(
            &old,
            true,
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let new = TestClient {
        id,
        secret: new_secret,
    };
    app.tokens_for(&new, "ada@example.com").await;
}

async fn keys_rotate_adds_an_active_key_and_keeps_the_old_one_listed(app: TestApp) {
    let before = json_out(&gptauth(&app, &["keys", "list", "--json"], None));
    assert_eq!(
        before.as_array().map(Vec::len),
        Some(2),
        "one ES256 and one RS256 key"
    );
    let new = json_out(&gptauth(&app, &["keys", "rotate", "--json"], None));
    assert_eq!(new["alg"], "ES256", "the access-token key on top: {new}");
    let after = json_out(&gptauth(&app, &["keys", "list", "--json"], None));
    let after = after.as_array().expect("array");
    assert_eq!(after.len(), 4);
    let mut active: Vec<&Value> = after.iter().filter(|k| k["active"] == true).collect();
    active.sort_by_key(|k| k["alg"].as_str().map(str::to_string));
    let mut rotated: Vec<&Value> = new["rotated"].as_array().expect("rotated").iter().collect();
    rotated.sort_by_key(|k| k["alg"].as_str().map(str::to_string));
    assert_eq!(
        active.iter().map(|k| &k["kid"]).collect::<Vec<_>>(),
        rotated.iter().map(|k| &k["kid"]).collect::<Vec<_>>()
    );
    assert_eq!(active[0]["kid"], new["kid"]);
}

async fn an_operator_prints_a_reset_link_that_sets_a_new_password(app: TestApp) {
    app.user("ada@example.com").await;
    let out = json_out(&gptauth(
        &app,
        &["user", "reset-link", "--email", "ada@example.com", "--json"],
        None,
    ));
    let link = out["link"]
        .as_str()
        .expect("link")
        .replace("https://auth.example.com", &app.address);
    assert_eq!(out["expires_in"], 1800);
    let browser = browser();
    let (status, _, page) = app.get(&browser, &link).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let new_password = "handed over by the operator";
    let (status, _, _) = app
        .post_form(
            &browser,
            &app.url("/reset-password"),
            &[
                ("csrf_token", &form_value(&page, "csrf_token")),
                ("token", &form_value(&page, "token")),
                ("password", new_password),
                ("confirm", new_password),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let client = app.client().await;
    let cb = app
        .sign_in(
            &browser,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
            "ada@example.com",
            new_password,
        )
        .await;
    assert!(cb.param("code").is_some());
    fails_with(
        &gptauth(
            &app,
            &["user", "reset-link", "--email", "nobody@example.com"],
            None,
        ),
        "nobody@example.com",
    );
    let strict = json_out(&gptauth(
        &app,
        &[
            "client",
            "create",
            "--name",
            "S",
            "--redirect-uri",
            CHATGPT_OPENAI,
            "--require-verified-email",
            "--json",
        ],
        None,
    ));
    assert_eq!(strict["require_verified_email"], true);
}

async fn registration_tokens_are_created_listed_and_revoked(app: TestApp) {
    let created = json_out(&gptauth(
        &app,
        &[
            "registration-token",
            "create",
            "--uses",
            "2",
            "--expires-in",
            "1h",
            "--note",
            "Claude",
            "--json",
        ],
        None,
    ));
    let token = created["token"].as_str().expect("token");
    assert_eq!(created["uses_left"], 2);
    let expires = created["expires_at"].as_i64().expect("expires_at")
        - created["created_at"].as_i64().expect("created_at");
    assert_eq!(expires, 3600);
    assert!(
        app.db
            .consume_initial_access_token(&gptauth::crypto::digest(token))
            .await
            .expect("use"),
        "the printed token works"
    );
    let listed = json_out(&gptauth(
        &app,
        &["registration-token", "list", "--json"],
        None,
    ));
    assert_eq!(listed[0]["uses_left"], 1);
    assert_eq!(listed[0]["note"], "Claude");
    assert!(listed[0].get("token").is_none(), "never listed");
    let id = created["id"].as_str().expect("id");
    assert!(
        gptauth(&app, &["registration-token", "revoke", id], None)
            .status
            .success()
    );
    assert!(
        !app.db
            .consume_initial_access_token(&gptauth::crypto::digest(token))
            .await
            .expect("use"),
        "revoked"
    );
    assert!(
        !gptauth(&app, &["registration-token", "revoke", id], None)
            .status
            .success(),
        "already revoked"
    );
    assert!(
        !gptauth(
            &app,
            &["registration-token", "create", "--expires-in", "soon"],
            None
        )
        .status
        .success()
    );
}

async fn the_audit_command_lists_security_events(app: TestApp) {
    let client = json_out(&gptauth(
        &app,
        &[
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            CHATGPT_OPENAI,
            "--json",
        ],
        None,
    ));
    let id = client["client_id"].as_str().expect("id");
    json_out(&gptauth(
        &app,
        &["client", "rotate-secret", id, "--json"],
        None,
    ));
    let events = json_out(&gptauth(&app, &["audit", "--since", "1h", "--json"], None));
    let events = events.as_array().expect("array");
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "client_secret_rotated" && e["client_id"] == id),
        "{events:?}"
    );
    let none = json_out(&gptauth(
        &app,
        &["audit", "--since", "2999-01-01T00:00:00Z", "--json"],
        None,
    ));
    assert_eq!(none, serde_json::json!([]));
    fails_with(
        &gptauth(&app, &["audit", "--since", "yesterday"], None),
        "--since",
    );
}

async fn a_client_can_opt_in_to_every_chatgpt_callback(app: TestApp) {
    let client = json_out(&gptauth(
        &app,
        &[
            "client",
            "create",
            "--name",
            "Any",
            "--chatgpt-callbacks",
            "--require-pkce",
            "--json",
        ],
        None,
    ));
    assert_eq!(client["chatgpt_callbacks"], true);
    assert_eq!(client["require_pkce"], true);
    assert_eq!(client["redirect_uris"], serde_json::json!([]));
    fails_with(
        &gptauth(&app, &["client", "create", "--name", "None"], None),
        "--redirect-uri",
    );
}

async fn connector_presets_register_the_known_ai_client_callbacks(app: TestApp) {
    let client = json_out(&gptauth(
        &app,
        &[
            "client",
            "create",
            "--name",
            "MCP",
            "--connector",
            "claude",
            "--connector",
            "chatgpt",
            "--resource",
            "https://api.example.com/mcp",
            "--json",
        ],
        None,
    ));
    let mut uris: Vec<&str> = client["redirect_uris"]
        .as_array()
        .expect("uris")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    uris.sort_unstable();
    assert_eq!(
        uris,
        [
            "https://chatgpt.com/connector_platform_oauth_redirect",
            "https://claude.ai/api/mcp/auth_callback",
            "https://claude.com/api/mcp/auth_callback",
        ]
    );
    assert_eq!(
        client["resources"],
        serde_json::json!(["https://api.example.com/mcp"])
    );
    // A ChatGPT app's own callback, with the id ChatGPT picked for it, works at once.
    assert_eq!(client["chatgpt_callbacks"], true);
    let connector = TestClient {
        id: client["client_id"].as_str().expect("id").into(),
        secret: client["client_secret"].as_str().expect("secret").into(),
    };
    app.user("ada@example.com").await;
    let app_callback = "https://chatgpt.com/connector/oauth/Xy12_ab-C";
    let cb = app
        .sign_in(
            &browser(),
            &app.authorize_url(&connector, app_callback, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    assert!(cb.url.as_str().starts_with(app_callback), "{}", cb.url);
    fails_with(
        &gptauth(
            &app,
            &["client", "create", "--name", "X", "--connector", "bard"],
            None,
        ),
        "bard",
    );
    fails_with(
        &gptauth(
            &app,
            &[
                "client",
                "create",
                "--name",
                "X",
                "--redirect-uri",
                CHATGPT_COM,
                "--resource",
                "no-uri",
            ],
            None,
        ),
        "--resource",
    );
}

async fn user_disable_and_bad_input_fail_cleanly(app: TestApp) {
    fails_with(
        &gptauth(
            &app,
            &["user", "disable", "--email", "ghost@example.com"],
            None,
        ),
        "no user",
    );
    fails_with(
        &gptauth(
            &app,
            &[
                "user",
                "create",
                "--email",
                "not-an-email",
                "--password",
                PASSWORD,
            ],
            None,
        ),
        "--email",
    );
    fails_with(
        &gptauth(
            &app,
            &[
                "user",
                "create",
                "--email",
                "a@example.com",
                "--password",
                "short",
            ],
            None,
        ),
        "password",
    );
    let users = json_out(&gptauth(&app, &["user", "list", "--json"], None));
    assert_eq!(users, serde_json::json!([]));
}

crate::both_backends!(
    client_create_prints_every_value_the_gpt_editor_asks_for_and_the_secret_works,
    a_duplicate_email_fails_and_writes_nothing,
    an_unknown_client_fails_clearly,
    a_malformed_redirect_uri_fails_and_writes_nothing,
    redirect_uris_can_be_updated_when_chatgpt_changes_its_callback,
    rotate_secret_replaces_the_secret,
    keys_rotate_adds_an_active_key_and_keeps_the_old_one_listed,
    an_operator_prints_a_reset_link_that_sets_a_new_password,
    registration_tokens_are_created_listed_and_revoked,
    the_audit_command_lists_security_events,
    a_client_can_opt_in_to_every_chatgpt_callback,
    connector_presets_register_the_known_ai_client_callbacks,
    user_disable_and_bad_input_fail_cleanly
);

#[tokio::test]
async fn a_bad_configuration_value_stops_with_a_line_naming_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_gptauth"))
        .args(["migrate"])
        .env("GPTAUTH_CODE_TTL", "0")
        .env("DATABASE_URL", "sqlite::memory:")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("GPTAUTH_CODE_TTL"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

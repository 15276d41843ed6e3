//! Running gptauth: structured logs with request ids, graceful shutdown on SIGTERM, and
//! backups that restore.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn json_logs_carry_the_request_id_and_sigterm_stops_the_server_cleanly() {
    let database_url = fresh_database(Backend::Sqlite).await.expect("sqlite");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let address = format!("http://127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_gptauth"))
        .arg("serve")
        .env("DATABASE_URL", &database_url)
        .env("GPTAUTH_ISSUER", &address)
        .env("GPTAUTH_BIND", format!("127.0.0.1:{port}"))
        .env("GPTAUTH_LOG_FORMAT", "json")
        .env(
            "RUST_LOG",
            "info,gptauth::telemetry=debug,tracing_actix_web=debug",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gptauth");
    let stderr = server.stderr.take().expect("stderr");
    let lines = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });

    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if http.get(format!("{address}/healthz")).send().await.is_ok() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A caller's request id is kept and echoed; an odd one is replaced.
    let resp = http
        .get(format!("{address}/readyz"))
        .header("x-request-id", "trace-4f2a.9")
        .send()
        .await
        .expect("get");
    assert_eq!(
        resp.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("trace-4f2a.9")
    );
    let resp = http
        .get(format!("{address}/readyz"))
        .header("x-request-id", "no spaces\tor tabs")
        .send()
        .await
        .expect("get");
    let replaced = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("an id")
        .to_string();
    assert!(!replaced.contains(' ') && !replaced.is_empty());
    let resp = http
        .get(format!("{address}/oauth/authorize?client_id=nobody"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // SIGTERM: the server stops accepting, finishes what it has, and exits 0.
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = server.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "gptauth did not stop within 20 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status {exit:?}");
    assert!(
        http.get(format!("{address}/healthz")).send().await.is_err(),
        "no longer listening"
    );

    let lines = lines.join().expect("log lines");
    assert!(!lines.is_empty());
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        parsed.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("listening"))),
        "{lines:?}"
    );
    assert!(
        parsed
            .iter()
            .any(|l| l["span"]["request_id"] == "trace-4f2a.9"),
        "a log line of that request carries its id: {lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("client_id=nobody")),
        "query strings are not logged"
    );
}

crate::both_backends! {
    async fn a_backup_restores_users_clients_keys_and_grants(app: TestApp) {
        let client = app.client().await;
        app.user("ada@example.com").await;
        let tokens = app.tokens_for(&client, "ada@example.com").await;
        let dir = std::env::temp_dir().join(format!("gptauth-backup-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("copy.db");
        let out = Command::new(env!("CARGO_BIN_EXE_gptauth"))
            .args(["backup", path.to_str().expect("path"), "--json"])
            .env("DATABASE_URL", &app.database_url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("backup");
        if app.backend == Backend::Postgres {
            assert!(!out.status.success());
            assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"), "points to pg_dump");
            return;
        }
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert!(report["bytes"].as_u64().is_some_and(|b| b > 0));
        // Restore: a server started on the copy knows the user, the client, the keys and the grant.
        let restored = spawn_app_on(Backend::Sqlite, &format!("sqlite://{}", path.display()), &[("GPTAUTH_ISSUER", &app.address)]).await;
        let (status, introspected) = restored.post_as("/oauth/introspect", Some((&client.id, &client.secret)), &[("token", tokens["access_token"].as_str().expect("at"))]).await;
        assert_eq!((status, introspected["active"].as_bool()), (StatusCode::OK, Some(true)), "{introspected}");
        let (status, refreshed) = restored.refresh(&client, true, tokens["refresh_token"].as_str().expect("rt")).await;
        assert_eq!(status, StatusCode::OK, "{refreshed}");
        let cb = restored.sign_in(&browser(), &restored.authorize_url(&client, CHATGPT_OPENAI, "s", None), "ada@example.com", PASSWORD).await;
        assert!(cb.param("code").is_some());
        let again = Command::new(env!("CARGO_BIN_EXE_gptauth"))
            .args(["backup", path.to_str().expect("path")])
            .env("DATABASE_URL", &app.database_url)
            .output()
            .expect("backup");
        assert!(!again.status.success(), "an existing file is never overwritten");
    }
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no metric {line_start} in:\n{text}"))
}

crate::both_backends! {
    async fn metrics_count_requests_tokens_and_security_events(app: TestApp) {
        let client = app.client().await;
        app.user("ada@example.com").await;
        let tokens = app.tokens_for(&client, "ada@example.com").await;
        let (status, _) = app.refresh(&client, true, tokens["refresh_token"].as_str().expect("rt")).await;
        assert_eq!(status, StatusCode::OK);
        let wrong = TestClient { id: client.id.clone(), secret: "wrong".into() };
        let (status, _) = app.refresh(&wrong, true, "whatever").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _, _) = app.get(&browser(), &app.url("/portal/clients/some-client-id")).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "to the login page");
        let text = reqwest::get(app.url("/metrics")).await.expect("get").text().await.expect("body");
        assert_eq!(metric(&text, "gptauth_tokens_issued_authorization_code_total "), 1);
        assert_eq!(metric(&text, "gptauth_tokens_issued_refresh_token_total "), 1);
        assert_eq!(metric(&text, "gptauth_client_auth_failures_total "), 1);
        assert_eq!(metric(&text, "gptauth_http_requests_total{route=\"/oauth/token\",method=\"POST\",status=\"200\"}"), 2);
        assert_eq!(metric(&text, "gptauth_http_requests_total{route=\"/oauth/token\",method=\"POST\",status=\"401\"}"), 1);
        assert!(metric(&text, "gptauth_http_request_duration_seconds_count{route=\"/oauth/token\"}") >= 3);
        assert!(text.contains("route=\"/portal/clients/{id}\""), "routes by pattern");
        assert!(!text.contains("some-client-id"), "no identifiers in label values");
        assert!(metric(&text, "gptauth_db_pool_connections{state=\"open\"}") >= 1);
    }
}

#[tokio::test]
async fn a_metrics_token_keeps_metrics_private() {
    let app = spawn_app(
        Backend::Sqlite,
        &[("GPTAUTH_METRICS_TOKEN", "s3cret-scrape")],
    )
    .await
    .expect("app");
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(app.url("/metrics"))
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        http.get(app.url("/metrics"))
            .bearer_auth("nope")
            .send()
            .await
            .expect("get")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let ok = http
        .get(app.url("/metrics"))
        .bearer_auth("s3cret-scrape")
        .send()
        .await
        .expect("get");
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(
        ok.text()
            .await
            .expect("body")
            .contains("gptauth_http_requests_total")
    );
}

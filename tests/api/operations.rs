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
            "info,gptauth::web::middleware=debug,tracing_actix_web=debug",
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

async fn a_backup_restores_users_clients_keys_and_grants(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    let dir =
        std::env::temp_dir().join(format!("gptauth-backup-{}", uuid::Uuid::new_v4().simple()));
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
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("pg_dump"),
            "points to pg_dump"
        );
        return;
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(report["bytes"].as_u64().is_some_and(|b| b > 0));
    // Restore: a server started on the copy knows the user, the client, the keys and the grant.
    let restored = spawn_app_on(
        Backend::Sqlite,
        &format!("sqlite://{}", path.display()),
        &[("GPTAUTH_ISSUER", &app.address)],
    )
    .await;
    let (status, introspected) = restored
        .post_as(
            "/oauth/introspect",
            Some((&client.id, &client.secret)),
            &[("token", tokens["access_token"].as_str().expect("at"))],
        )
        .await;
    assert_eq!(
        (status, introspected["active"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{introspected}"
    );
    let (status, refreshed) = restored
        .refresh(&client, true, tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let cb = restored
        .sign_in(
            &browser(),
            &restored.authorize_url(&client, CHATGPT_OPENAI, "s", None),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    assert!(cb.param("code").is_some());
    let again = Command::new(env!("CARGO_BIN_EXE_gptauth"))
        .args(["backup", path.to_str().expect("path")])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .expect("backup");
    assert!(
        !again.status.success(),
        "an existing file is never overwritten"
    );
}

crate::both_backends!(a_backup_restores_users_clients_keys_and_grants);

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no metric {line_start} in:\n{text}"))
}

async fn metrics_count_requests_tokens_and_security_events(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    let (status, _) = app
        .refresh(&client, true, tokens["refresh_token"].as_str().expect("rt"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let wrong = TestClient {
        id: client.id.clone(),
        secret: "wrong".into(),
    };
    let (status, _) = app.refresh(&wrong, true, "whatever").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = app
        .get(&browser(), &app.url("/portal/clients/some-client-id"))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "to the login page");
    let text = reqwest::get(app.url("/metrics"))
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert_eq!(
        metric(&text, "gptauth_tokens_issued_authorization_code_total "),
        1
    );
    assert_eq!(
        metric(&text, "gptauth_tokens_issued_refresh_token_total "),
        1
    );
    assert_eq!(metric(&text, "gptauth_client_auth_failures_total "), 1);
    assert_eq!(
        metric(
            &text,
            "gptauth_http_requests_total{route=\"/oauth/token\",method=\"POST\",status=\"200\"}"
        ),
        2
    );
    assert_eq!(
        metric(
            &text,
            "gptauth_http_requests_total{route=\"/oauth/token\",method=\"POST\",status=\"401\"}"
        ),
        1
    );
    assert!(
        metric(
            &text,
            "gptauth_http_request_duration_seconds_count{route=\"/oauth/token\"}"
        ) >= 3
    );
    assert!(
        text.contains("route=\"/portal/clients/{id}\""),
        "routes by pattern"
    );
    assert!(
        !text.contains("some-client-id"),
        "no identifiers in label values"
    );
    assert!(metric(&text, "gptauth_db_pool_connections{state=\"open\"}") >= 1);
}

crate::both_backends!(metrics_count_requests_tokens_and_security_events);

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

/// Starts `gptauth serve` on `database_url` at `port`; returns once it answers.
async fn serve(database_url: &str, port: u16) -> std::process::Child {
    let address = format!("http://127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_gptauth"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("GPTAUTH_ISSUER", &address)
        .env("GPTAUTH_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gptauth");
    let started = Instant::now();
    while reqwest::get(format!("{address}/healthz")).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}

/// `kill -9` in the middle of refresh traffic, then a restart: every refresh token a client
/// last received still works (within the grace window), every access token it received
/// verifies, and nothing half-written is left.
async fn crash_under_load(backend: Backend) {
    let Some(database_url) = fresh_database(backend).await else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut server = serve(&database_url, port).await;
    let db = gptauth::store::Db::connect(&database_url)
        .await
        .expect("db");
    let app = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        backend,
        database_url: database_url.clone(),
        db,
        state: None,
    };
    let client = app.client().await;
    app.user("ada@example.com").await;
    let mut chains = Vec::new();
    for _ in 0..6 {
        chains.push(app.tokens_for(&client, "ada@example.com").await);
    }
    let received: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>> = Default::default();
    let refreshes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for chain in chains {
        let (received, client_id, secret, address) = (
            received.clone(),
            client.id.clone(),
            client.secret.clone(),
            app.address.clone(),
        );
        let refreshes = refreshes.clone();
        workers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut refresh = chain["refresh_token"].as_str().expect("rt").to_string();
            let mut access = chain["access_token"].as_str().expect("at").to_string();
            loop {
                let sent = http
                    .post(format!("{address}/oauth/token"))
                    .basic_auth(&client_id, Some(&secret))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh.as_str()),
                    ])
                    .send()
                    .await;
                let Ok(resp) = sent else { break };
                let Ok(body) = resp.json::<Value>().await else {
                    break;
                };
                match (
                    body["refresh_token"].as_str(),
                    body["access_token"].as_str(),
                ) {
                    (Some(r), Some(a)) => {
                        refresh = r.to_string();
                        access = a.to_string();
                        refreshes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    _ => panic!("a refresh failed before the crash: {body}"),
                }
            }
            received.lock().expect("received").push((refresh, access));
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Command::new("kill")
        .args(["-KILL", &server.id().to_string()])
        .status()
        .expect("kill");
    let _ = server.wait();
    for w in workers {
        w.await.expect("worker");
    }
    let done = refreshes.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        done >= 30,
        "the crash came under load ({done} refreshes before it)"
    );
    let mut server = serve(&database_url, port).await;
    let received = received.lock().expect("received").clone();
    assert_eq!(received.len(), 6);
    for (refresh, access) in &received {
        let (status, body) = app
            .post_as(
                "/oauth/introspect",
                Some((&client.id, &client.secret)),
                &[("token", access)],
            )
            .await;
        assert_eq!(
            (status, body["active"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{body}"
        );
        let (status, body) = app.refresh(&client, true, refresh).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the last refresh token a client received works after the crash: {body}"
        );
    }
    const ORPHANS: &str = "SELECT COUNT(*) FROM refresh_tokens t \
        WHERE NOT EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = t.family_id)";
    let side = app.side().await;
    if let Side::Sqlite(p) = &side {
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(p)
            .await
            .expect("integrity");
        assert_eq!(check, "ok");
    }
    let orphans = side.count(ORPHANS, &[]).await;
    assert_eq!(orphans, 0);
    let _ = server.kill();
    let _ = server.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_under_load_loses_nothing_a_client_received_sqlite() {
    crash_under_load(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_under_load_loses_nothing_a_client_received_postgres() {
    crash_under_load(Backend::Postgres).await;
}

/// Soak: 64 virtual users, each signed in once, repeat the ChatGPT cycle (authorize → code →
/// token → refresh) for `GPTAUTH_SOAK_SECONDS` (default 60) against Postgres. No request may
/// fail, and the database must hold exactly what the clients were given. Run by `.ci/run`
/// (`cargo test --test api -- --ignored soak`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "takes a minute; .ci/run runs it"]
async fn soak_64_users_full_cycle_against_postgres() {
    let seconds: u64 = std::env::var("GPTAUTH_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    // Sixty-four people, each from their own address (behind one proxy, as in production): one
    // address with 64 password checks in flight at once would be throttled, as it should be.
    let Some(app) = spawn_app(Backend::Postgres, &[("GPTAUTH_TRUST_PROXY", "true")]).await else {
        return;
    };
    let app = std::sync::Arc::new(app);
    let client = std::sync::Arc::new(app.client().await);
    let users = 64;
    for i in 0..users {
        app.user(&format!("user{i}@example.com")).await;
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for i in 0..users {
        let (app, client) = (app.clone(), client.clone());
        workers.push(tokio::spawn(async move {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(
                "x-forwarded-for",
                reqwest::header::HeaderValue::from_str(&format!("198.51.100.{i}")).expect("header"),
            );
            let browser = reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(headers)
                .build()
                .expect("http client");
            let email = format!("user{i}@example.com");
            let authorize = app.authorize_url(&client, CHATGPT_OPENAI, "s", None);
            let (mut exchanges, mut refreshes) = (0u64, 0u64);
            // The first round signs in and consents; later ones reuse the session and consent.
            while Instant::now() < deadline {
                let cb = app.sign_in(&browser, &authorize, &email, PASSWORD).await;
                let (status, tokens) = app
                    .exchange_code(&client, exchanges % 2 == 0, &cb.code(), CHATGPT_OPENAI)
                    .await;
                assert_eq!(status, StatusCode::OK, "exchange: {tokens}");
                exchanges += 1;
                let (status, refreshed) = app
                    .refresh(&client, true, tokens["refresh_token"].as_str().expect("rt"))
                    .await;
                assert_eq!(status, StatusCode::OK, "refresh: {refreshed}");
                refreshes += 1;
            }
            (exchanges, refreshes)
        }));
    }
    let (mut exchanges, mut refreshes) = (0u64, 0u64);
    for w in workers {
        let (e, r) = w.await.expect("a virtual user failed");
        exchanges += e;
        refreshes += r;
    }
    eprintln!(
        "soak: {users} users, {seconds} s: {exchanges} code exchanges, \
         {refreshes} refreshes, 0 errors"
    );
    assert!(exchanges >= users as u64);
    let side = app.side().await;
    let families = side
        .count(
            "SELECT COUNT(*) FROM refresh_families WHERE client_id = $1",
            &[&client.id],
        )
        .await;
    let tokens = side
        .count(
            "SELECT COUNT(*) FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
             WHERE f.client_id = $1",
            &[&client.id],
        )
        .await;
    let codes_left = side.count("SELECT COUNT(*) FROM auth_codes", &[]).await;
    assert_eq!(families as u64, exchanges, "one family per code exchanged");
    assert_eq!(
        tokens as u64,
        exchanges + refreshes,
        "one refresh token per exchange and per refresh"
    );
    assert_eq!(codes_left, 0, "every code issued was redeemed exactly once");
}

/// A TCP proxy in front of Postgres that can cut every connection and refuse new ones, to
/// stage a database outage without stopping the Postgres other tests use.
struct CuttableProxy {
    port: u16,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pipes: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl CuttableProxy {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pipes: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> =
            Default::default();
        let (is_down, kept) = (down.clone(), pipes.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if is_down.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                kept.lock().expect("pipes").push(pipe.abort_handle());
            }
        });
        CuttableProxy { port, down, pipes }
    }

    fn cut(&self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
        for pipe in self.pipes.lock().expect("pipes").drain(..) {
            pipe.abort();
        }
    }

    fn restore(&self) {
        self.down.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_outage_answers_503_fast_and_service_recovers_without_a_restart() {
    let Some(database_url) = fresh_database(Backend::Postgres).await else {
        return;
    };
    let mut url = url::Url::parse(&database_url).expect("url");
    let target = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().unwrap_or(5432)
    );
    let proxy = CuttableProxy::start(target).await;
    url.set_port(Some(proxy.port)).expect("port");
    let app = spawn_app_on(Backend::Postgres, url.as_str(), &[]).await;
    let client = app.client().await;
    app.user("ada@example.com").await;
    let tokens = app.tokens_for(&client, "ada@example.com").await;
    let refresh = tokens["refresh_token"].as_str().expect("rt").to_string();

    proxy.cut();
    let started = Instant::now();
    let (status, body) = app.refresh(&client, true, &refresh).await;
    let took = started.elapsed();
    assert_eq!(
        (status, body["error"].as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("temporarily_unavailable")
        ),
        "{body}"
    );
    assert!(took < Duration::from_secs(10), "failed fast: {took:?}");
    let ready = reqwest::get(app.url("/readyz")).await.expect("readyz");
    assert_eq!(
        ready.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "readiness reports the outage"
    );
    let (status, _, page) = app
        .get(
            &browser(),
            &app.authorize_url(&client, CHATGPT_OPENAI, "s", None),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the popup says so: {page}"
    );

    proxy.restore();
    let back = Instant::now();
    while reqwest::get(app.url("/readyz"))
        .await
        .expect("readyz")
        .status()
        != StatusCode::OK
    {
        assert!(
            back.elapsed() < Duration::from_secs(30),
            "the service did not recover"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The refresh that failed changed nothing: the same token works now.
    let (status, body) = app.refresh(&client, true, &refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.tokens_for(&client, "ada@example.com").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_lets_requests_in_flight_finish() {
    let database_url = fresh_database(Backend::Sqlite).await.expect("sqlite");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut server = serve(&database_url, port).await;
    let db = gptauth::store::Db::connect(&database_url)
        .await
        .expect("db");
    let app = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        backend: Backend::Sqlite,
        database_url,
        db,
        state: None,
    };
    // Sign-ins hash with argon2id (a few at a time): a burst keeps requests in flight. The
    // forms are fetched first, so that all the sign-ins are on their way when SIGTERM comes.
    // Sixteen people, one attempt each: within the throttle's free attempts per account and per
    // client address, which count attempts in flight.
    let mut forms = Vec::new();
    for i in 0..16 {
        let email = format!("user{i}@example.com");
        app.user(&email).await;
        let browser = browser();
        let page = browser
            .get(app.url("/login"))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("page");
        forms.push((browser, form_value(&page, "csrf_token"), email));
    }
    let mut logins = Vec::new();
    for (browser, csrf, email) in forms {
        let address = app.address.clone();
        logins.push(tokio::spawn(async move {
            let form = [
                ("email", email.as_str()),
                ("password", PASSWORD),
                ("csrf_token", csrf.as_str()),
                ("next", "/"),
            ];
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish();
            let answer = browser
                .post(format!("{address}/login"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .map(|r| r.status());
            (answer, Instant::now())
        }));
    }
    // Long enough for every sign-in to reach the server (loopback), far shorter than the
    // hashing of 16: all of them are in flight when SIGTERM comes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill");
    let signalled = Instant::now();
    let mut answered_after_signal = 0;
    for (i, login) in logins.into_iter().enumerate() {
        // Every request in flight at SIGTERM gets its answer: none may be dropped.
        let (answer, at) = login.await.expect("task");
        let status = answer.unwrap_or_else(|e| panic!("sign-in {i} in flight was dropped: {e}"));
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "sign-in {i} in flight completed"
        );
        if at > signalled {
            answered_after_signal += 1;
        }
    }
    assert!(
        answered_after_signal > 0,
        "some sign-ins were still in flight at SIGTERM (else this tests nothing)"
    );
    let exit = server.wait().expect("wait");
    assert!(exit.success(), "{exit:?}");
}

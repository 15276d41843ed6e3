//! Test kit: the real server on a random port with a fresh database, and a client that behaves
//! like ChatGPT (cookie jar, no automatic redirects).

use std::collections::HashMap;
use std::net::TcpListener;

use gptauth::Application;
use gptauth::config::Config;
use gptauth::store::{Clock, Db, NewClient, NewUser};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

#[path = "../common/databases.rs"]
mod databases;
pub use databases::{Backend, fresh_database};

pub const CHATGPT_OPENAI: &str =
    "https://chat.openai.com/aip/g-0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6/oauth/callback";
pub const CHATGPT_COM: &str =
    "https://chatgpt.com/aip/g-0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6/oauth/callback";
pub const PASSWORD: &str = "correct horse battery staple";

/// Generates one test per backend for each scenario: `both_backends!(a, b);` lists top-level
/// `async fn a(app: TestApp) { … }` functions of the calling module and makes the tests
/// `a::sqlite` and `a::postgres` (a module and a function may share a name).
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $crate::both_backends_with!(&[]; $($name),+);
    };
}

/// Like `both_backends!`, with configuration overrides:
/// `both_backends_with!(&[("GPTAUTH_X", "y")]; a, b);`.
#[macro_export]
macro_rules! both_backends_with {
    ($env:expr; $($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let backend = $crate::helpers::Backend::Sqlite;
                    let app = $crate::helpers::spawn_app(backend, $env).await;
                    super::$name(app.expect("sqlite is always available")).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let backend = $crate::helpers::Backend::Postgres;
                    if let Some(app) = $crate::helpers::spawn_app(backend, $env).await {
                        super::$name(app).await
                    }
                }
            }
        )+
    };
}

pub struct TestApp {
    pub address: String,
    pub backend: Backend,
    pub database_url: String,
    pub db: Db,
    /// The in-process server's state (absent when the test runs the binary).
    pub state: Option<std::sync::Arc<gptauth::web::AppState>>,
}

/// A registered confidential client.
pub struct TestClient {
    pub id: String,
    pub secret: String,
}

pub async fn spawn_app(backend: Backend, overrides: &[(&str, &str)]) -> Option<TestApp> {
    let database_url = fresh_database(backend).await?;
    Some(spawn_app_on(backend, &database_url, overrides).await)
}

/// Another instance on an existing database (instances share all state through it).
pub async fn spawn_app_on(
    backend: Backend,
    database_url: &str,
    overrides: &[(&str, &str)],
) -> TestApp {
    spawn_app_on_with_clock(backend, database_url, overrides, Clock::system()).await
}

/// `spawn_app_on` with the clock the instance reads: pass `app.db.clock().clone()` for a twin
/// that keeps the time `app.advance` sets.
pub async fn spawn_app_on_with_clock(
    backend: Backend,
    database_url: &str,
    overrides: &[(&str, &str)],
    clock: Clock,
) -> TestApp {
    let database_url = database_url.to_string();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a random port");
    let port = listener.local_addr().expect("local addr").port();
    let address = format!("http://127.0.0.1:{port}");
    let mut env: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".to_string(), database_url.clone()),
        ("GPTAUTH_ISSUER".to_string(), address.clone()),
        ("GPTAUTH_BIND".to_string(), format!("127.0.0.1:{port}")),
        ("RUST_LOG".to_string(), "warn".to_string()),
    ]);
    for (k, v) in overrides {
        env.insert(k.to_string(), v.to_string());
    }
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test config");
    let db = Db::connect_with_clock(&config.database_url, clock)
        .await
        .expect("connect");
    let app = Application::build_with(config, db.clone(), listener)
        .await
        .expect("build app");
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        backend,
        database_url,
        db,
        state: Some(state),
    }
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// The outcome of the popup: where the browser was sent back to.
pub struct Callback {
    pub url: url::Url,
}

impl Callback {
    pub fn param(&self, name: &str) -> Option<String> {
        self.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    pub fn code(&self) -> String {
        self.param("code")
            .unwrap_or_else(|| panic!("no code in {}", self.url))
    }
}

/// A pool of the test's own on the app's database, beside the server's (whose `Db` is opaque):
/// for reads the store has no method for, and rows in a shape no use of the server makes.
/// To age rows, move the clock instead (`TestApp::advance`).
pub enum Side {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

impl Side {
    /// Runs one statement, binding `binds` as text in order.
    pub async fn execute(&self, statement: &'static str, binds: &[&str]) {
        match self {
            Side::Postgres(p) => {
                let mut q = sqlx::query(statement);
                for b in binds {
                    q = q.bind(b.to_string());
                }
                q.execute(p).await.map(|_| ())
            }
            Side::Sqlite(p) => {
                let mut q = sqlx::query(statement);
                for b in binds {
                    q = q.bind(b.to_string());
                }
                q.execute(p).await.map(|_| ())
            }
        }
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }

    /// The first column of every row, as text.
    pub async fn strings(&self, query: &'static str) -> Vec<String> {
        match self {
            Side::Postgres(p) => sqlx::query_scalar(query).fetch_all(p).await,
            Side::Sqlite(p) => sqlx::query_scalar(query).fetch_all(p).await,
        }
        .unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    /// A count (the first column of the one row), binding `binds` as text in order.
    pub async fn count(&self, query: &'static str, binds: &[&str]) -> i64 {
        match self {
            Side::Postgres(p) => {
                let mut q = sqlx::query_scalar(query);
                for b in binds {
                    q = q.bind(b.to_string());
                }
                q.fetch_one(p).await
            }
            Side::Sqlite(p) => {
                let mut q = sqlx::query_scalar(query);
                for b in binds {
                    q = q.bind(b.to_string());
                }
                q.fetch_one(p).await
            }
        }
        .unwrap_or_else(|e| panic!("{query}: {e}"))
    }
}

impl TestApp {
    /// A pool of the test's own on this app's database (see `Side`).
    pub async fn side(&self) -> Side {
        match self.backend {
            Backend::Postgres => Side::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&self.database_url)
                    .await
                    .expect("a side connection"),
            ),
            Backend::Sqlite => Side::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect(&self.database_url)
                    .await
                    .expect("a side connection"),
            ),
        }
    }

    /// Runs one statement on the app's database, bypassing the server (a row in a shape no
    /// use of the server makes; to age rows, `advance` the clock).
    pub async fn sql(&self, statement: &'static str) {
        self.side().await.execute(statement, &[]).await;
    }

    /// Unix seconds now, by the server's clock.
    pub fn now(&self) -> i64 {
        self.db.now()
    }

    /// Moves the server's clock `seconds` ahead: every expiry and age it decides moves with it.
    pub fn advance(&self, seconds: i64) {
        self.db.clock().advance(seconds);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Registers a confidential client with both ChatGPT callbacks.
    pub async fn client(&self) -> TestClient {
        self.client_with("openid profile email", &[CHATGPT_OPENAI, CHATGPT_COM])
            .await
    }

    pub async fn client_with(&self, scope: &str, uris: &[&str]) -> TestClient {
        let id = format!("gpt_{}", Uuid::new_v4().simple());
        let secret = gptauth::crypto::random_token();
        let uris: Vec<String> = uris.iter().map(|s| s.to_string()).collect();
        self.db
            .insert_client(&NewClient {
                client_id: &id,
                name: "Notes GPT",
                secret_hash: Some(&gptauth::crypto::digest(&secret)),
                scope,
                audience: None,
                require_pkce: false,
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
            .expect("insert client");
        TestClient { id, secret }
    }

    /// Registers a public client (no secret: PKCE).
    pub async fn public_client(&self) -> TestClient {
        let id = format!("pub_{}", Uuid::new_v4().simple());
        let uris = vec![CHATGPT_OPENAI.to_string()];
        self.db
            .insert_client(&NewClient {
                client_id: &id,
                name: "Public App",
                secret_hash: None,
                scope: "openid profile",
                audience: None,
                require_pkce: false,
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
            .expect("insert client");
        TestClient {
            id,
            secret: String::new(),
        }
    }

    /// Creates a user directly in the database; returns their id.
    pub async fn user(&self, email: &str) -> Uuid {
        let id = Uuid::now_v7();
        let hash = gptauth::app::hasher::hash_blocking(PASSWORD).expect("hash");
        self.db
            .insert_user(&NewUser {
                id,
                email,
                name: None,
                password_hash: &hash,
                is_admin: false,
            })
            .await
            .expect("insert user");
        id
    }

    pub fn authorize_url(
        &self,
        client: &TestClient,
        redirect_uri: &str,
        state: &str,
        scope: Option<&str>,
    ) -> String {
        let mut url = url::Url::parse(&self.url("/oauth/authorize")).expect("url");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &client.id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("state", state);
            if let Some(scope) = scope {
                q.append_pair("scope", scope);
            }
        }
        url.to_string()
    }

    /// The authorization URL with extra parameters (PKCE and the like).
    pub fn authorize_url_with(
        &self,
        client: &TestClient,
        redirect_uri: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let mut url =
            url::Url::parse(&self.authorize_url(client, redirect_uri, "st", None)).expect("url");
        url.query_pairs_mut().extend_pairs(extra);
        url.to_string()
    }

    /// POSTs a raw form to the token endpoint, with optional Basic credentials.
    pub async fn token_raw(
        &self,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        self.post_as("/oauth/token", basic, form).await
    }

    /// POSTs a form to an endpoint with optional Basic credentials; the body as JSON (or null).
    pub async fn post_as(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let resp = self.send_form(path, basic, form).await;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Sends a form-encoded POST, with Basic credentials when given.
    async fn send_form(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = reqwest::Client::new().post(self.url(path));
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        req.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("form request")
    }

    /// GET with the browser; returns status, Location, body.
    pub async fn get(
        &self,
        browser: &reqwest::Client,
        url: &str,
    ) -> (StatusCode, Option<String>, String) {
        let resp = browser.get(url).send().await.expect("GET");
        let status = resp.status();
        let location = location(&resp);
        (status, location, resp.text().await.unwrap_or_default())
    }

    pub async fn post_form(
        &self,
        browser: &reqwest::Client,
        url: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, Option<String>, String) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let resp = browser
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST");
        let status = resp.status();
        let location = location(&resp);
        (status, location, resp.text().await.unwrap_or_default())
    }

    /// Follows the popup like a person: login when asked, Allow on consent. Returns the
    /// redirect to the client's callback.
    pub async fn sign_in(
        &self,
        browser: &reqwest::Client,
        authorize_url: &str,
        email: &str,
        password: &str,
    ) -> Callback {
        let mut next = authorize_url.to_string();
        for _ in 0..8 {
            let (status, location, body) = self.get(browser, &next).await;
            if status == StatusCode::OK && body.contains("action=\"/login\"") {
                let (s, loc, b) = self
                    .post_form(
                        browser,
                        &self.url("/login"),
                        &[
                            ("email", email),
                            ("password", password),
                            ("csrf_token", &form_value(&body, "csrf_token")),
                            ("next", &form_value(&body, "next")),
                        ],
                    )
                    .await;
                assert_eq!(s, StatusCode::SEE_OTHER, "login failed: {b}");
                next = self.absolute(&loc.expect("login redirects"));
                continue;
            }
            if status == StatusCode::OK && body.contains("name=\"decision\"") {
                return self.decide(browser, &body, "allow").await;
            }
            assert!(
                status.is_redirection(),
                "unexpected {status} at {next}: {body}"
            );
            let loc = location.expect("redirect has a location");
            if loc.starts_with('/') {
                next = self.absolute(&loc);
                continue;
            }
            return Callback {
                url: url::Url::parse(&loc).expect("callback url"),
            };
        }
        panic!("the popup never returned to the client");
    }

    /// Submits the consent page's form with `decision`.
    pub async fn decide(
        &self,
        browser: &reqwest::Client,
        consent_html: &str,
        decision: &str,
    ) -> Callback {
        let action = form_action(consent_html);
        let (status, location, body) = self
            .post_form(
                browser,
                &self.url(&action),
                &[
                    ("csrf_token", &form_value(consent_html, "csrf_token")),
                    ("decision", decision),
                ],
            )
            .await;
        assert_eq!(
            status,
            StatusCode::FOUND,
            "consent answered {status}: {body}"
        );
        Callback {
            url: url::Url::parse(&location.expect("location")).expect("callback url"),
        }
    }

    pub fn absolute(&self, location: &str) -> String {
        if location.starts_with('/') {
            self.url(location)
        } else {
            location.to_string()
        }
    }

    /// POSTs to the token endpoint; `basic` puts the credentials in the header, else the body.
    pub async fn token(
        &self,
        client: &TestClient,
        basic: bool,
        form: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut pairs: Vec<(&str, &str)> = form.to_vec();
        let credentials = if basic {
            Some((client.id.as_str(), client.secret.as_str()))
        } else {
            pairs.push(("client_id", &client.id));
            pairs.push(("client_secret", &client.secret));
            None
        };
        let resp = self.send_form("/oauth/token", credentials, &pairs).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let json = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, headers, json)
    }

    pub async fn exchange_code(
        &self,
        client: &TestClient,
        basic: bool,
        code: &str,
        redirect_uri: &str,
    ) -> (StatusCode, Value) {
        let (s, _, v) = self
            .token(
                client,
                basic,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", redirect_uri),
                ],
            )
            .await;
        (s, v)
    }

    pub async fn refresh(
        &self,
        client: &TestClient,
        basic: bool,
        refresh_token: &str,
    ) -> (StatusCode, Value) {
        let (s, _, v) = self
            .token(
                client,
                basic,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                ],
            )
            .await;
        (s, v)
    }

    /// Verifies an access token offline against the JWKS, as a resource API would.
    pub async fn verify_jwt(&self, token: &str) -> Value {
        self.verify_jwt_for(token, &self.address).await
    }

    /// Verifies an access token as the resource API `audience` would.
    pub async fn verify_jwt_for(&self, token: &str, audience: &str) -> Value {
        let header = jsonwebtoken::decode_header(token).expect("jwt header");
        assert_eq!(header.typ.as_deref(), Some("at+jwt"), "RFC 9068 typ");
        let kid = header.kid.expect("kid");
        let jwks: JwkSet = reqwest::get(self.url("/.well-known/jwks.json"))
            .await
            .expect("jwks")
            .json()
            .await
            .expect("jwks json");
        let jwk = jwks.find(&kid).expect("kid is published");
        let key = DecodingKey::from_jwk(jwk).expect("decoding key");
        let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_issuer(&[&self.address]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Value>(token, &key, &validation)
            .expect("the token verifies")
            .claims
    }

    /// A full sign-in and code exchange; returns the token response.
    pub async fn tokens_for(&self, client: &TestClient, email: &str) -> Value {
        let browser = browser();
        let cb = self
            .sign_in(
                &browser,
                &self.authorize_url(client, CHATGPT_OPENAI, "s", None),
                email,
                PASSWORD,
            )
            .await;
        let (status, body) = self
            .exchange_code(client, false, &cb.code(), CHATGPT_OPENAI)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

fn location(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The `value` of the input named `name` in a page, unescaped.
pub fn form_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no input {name} in page"))
        + marker.len();
    let end = start + html[start..].find('"').expect("closing quote");
    unescape(&html[start..end])
}

/// The `action` of the page's form that carries `decision` buttons.
pub fn form_action(html: &str) -> String {
    let marker = "action=\"/consent?";
    let start = html.find(marker).expect("consent form") + "action=\"".len();
    let end = start + html[start..].find('"').expect("closing quote");
    unescape(&html[start..end])
}

pub fn unescape(s: &str) -> String {
    s.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

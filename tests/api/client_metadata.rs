//! Client ID Metadata Documents: a `client_id` that is a URL is fetched, validated and used as
//! the client. The documents come from a small web server in the test, reachable only because
//! the test-only flag permits plain http on 127.0.0.1.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use base64::Engine;
use gptauth::client_metadata::{MAX_LIFETIME_SECONDS, MIN_LIFETIME_SECONDS};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;

const TEST_ONLY_FLAG: &[(&str, &str)] =
    &[("GPTAUTH_CLIENT_METADATA_ALLOW_INSECURE_LOOPBACK", "true")];
const CALLBACK: &str = "https://app.example.com/oauth/callback";
const DOC_PATH: &str = "/oauth/client.json";

/// How the publisher answers one path (also used by `private_key_jwt`).
#[derive(Clone)]
pub(crate) enum Reply {
    /// 200, `application/json`, with an optional `Cache-Control`.
    Document {
        body: String,
        cache_control: Option<&'static str>,
    },
    /// Anything else, spelled out.
    Raw {
        status: u16,
        content_type: &'static str,
        location: Option<String>,
        body: Vec<u8>,
    },
    /// A JSON body that never ends, sent without a Content-Length.
    Endless,
    /// Never answers.
    Silent,
}

#[derive(Default)]
struct Published {
    replies: Mutex<HashMap<String, Reply>>,
    hits: Mutex<HashMap<String, usize>>,
}

/// A web server on 127.0.0.1 that publishes client metadata documents and counts fetches.
pub(crate) struct Publisher {
    pub(crate) base: String,
    published: Arc<Published>,
}

impl Publisher {
    pub(crate) async fn start() -> Self {
        let published = Arc::new(Published::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let router = axum::Router::new()
            .fallback(answer)
            .with_state(published.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Publisher { base, published }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn publish(&self, path: &str, reply: Reply) {
        self.published
            .replies
            .lock()
            .expect("lock")
            .insert(path.to_string(), reply);
    }

    pub(crate) fn document(&self, path: &str, doc: &Value, cache_control: Option<&'static str>) {
        self.publish(
            path,
            Reply::Document {
                body: doc.to_string(),
                cache_control,
            },
        );
    }

    pub(crate) fn hits(&self, path: &str) -> usize {
        self.published
            .hits
            .lock()
            .expect("lock")
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

async fn answer(State(published): State<Arc<Published>>, uri: Uri) -> Response {
    let path = uri.path().to_string();
    *published
        .hits
        .lock()
        .expect("lock")
        .entry(path.clone())
        .or_default() += 1;
    let reply = published.replies.lock().expect("lock").get(&path).cloned();
    let response = Response::builder();
    match reply {
        None => response.status(404).body(Body::from("not found")),
        Some(Reply::Document {
            body,
            cache_control,
        }) => {
            let mut response = response.header("content-type", "application/json");
            if let Some(cc) = cache_control {
                response = response.header("cache-control", cc);
            }
            response.body(Body::from(body))
        }
        Some(Reply::Raw {
            status,
            content_type,
            location,
            body,
        }) => {
            let mut response = response.status(status).header("content-type", content_type);
            if let Some(location) = location {
                response = response.header("location", location);
            }
            response.body(Body::from(body))
        }
        Some(Reply::Endless) => {
            static SPACES: [u8; 1024] = [b' '; 1024];
            let stream = futures::stream::repeat_with(|| {
                Ok::<_, std::io::Error>(Bytes::from_static(&SPACES))
            });
            response
                .header("content-type", "application/json")
                .body(Body::from_stream(stream))
        }
        Some(Reply::Silent) => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            response.body(Body::empty())
        }
    }
    .expect("a response")
}

/// A valid document for `id`.
fn document(id: &str, name: &str) -> Value {
    json!({
        "client_id": id,
        "client_name": name,
        "client_uri": "https://app.example.com",
        "logo_uri": "https://app.example.com/logo.png",
        "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "openid profile",
    })
}

pub(crate) fn pkce_pair() -> (String, String) {
    let verifier = gptauth::crypto::random_token();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn named(id: &str) -> TestClient {
    TestClient {
        id: id.to_string(),
        secret: String::new(),
    }
}

/// An authorization request from the client `id`, with PKCE.
fn authorize_url(app: &TestApp, id: &str, redirect_uri: &str) -> String {
    let (_, challenge) = pkce_pair();
    app.authorize_url_with(
        &named(id),
        redirect_uri,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
}

/// Asserts the authorization endpoint answers with an error page (never a redirect) that
/// contains `needle`.
async fn refused(app: &TestApp, id: &str, needle: &str) {
    let (status, location, body) = app.get(&browser(), &authorize_url(app, id, CALLBACK)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{id}: {body}");
    assert_eq!(location, None, "{id}: never a redirect");
    assert!(body.contains("Client not accepted"), "{id}: {body}");
    assert!(
        body.contains(needle),
        "{id}: the page should say {needle:?}: {body}"
    );
}

/// Makes the stored copy of a document stale: the server's clock moves past its lifetime.
async fn expire(app: &TestApp, id: &str) {
    let left = stored_expiry(app, id).await - app.now();
    app.advance(left.max(0) + 1);
}

async fn stored_expiry(app: &TestApp, id: &str) -> i64 {
    let client = app.db.client(id).await.expect("query").expect("stored");
    client
        .metadata_expires_at
        .expect("marked as a metadata document")
}

async fn a_metadata_document_client_signs_in_exchanges_its_code_with_pkce_and_refreshes(
    app: TestApp,
) {
    let publisher = Publisher::start().await;
    let id = publisher.url(DOC_PATH);
    publisher.document(
        DOC_PATH,
        &document(&id, "Example MCP Client"),
        Some("max-age=600"),
    );
    app.user("ada@example.com").await;
    let client = named(&id);

    // PKCE is required, as for every public client: an error back at the verified redirect.
    let (status, location, _) = app
        .get(
            &browser(),
            &app.authorize_url(&client, CALLBACK, "st", None),
        )
        .await;
    assert_eq!(status, StatusCode::FOUND);
    let location = location.expect("location");
    assert!(
        location.starts_with(CALLBACK) && location.contains("error=invalid_request"),
        "{location}"
    );

    // Sign in, and stop at the consent page: it says who is asking, and who publishes it.
    let browser = browser();
    let (verifier, challenge) = pkce_pair();
    let url = app.authorize_url_with(
        &client,
        CALLBACK,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("scope", "openid profile"),
        ],
    );
    let (_, location, _) = app.get(&browser, &url).await;
    let (_, _, login) = app
        .get(&browser, &app.absolute(&location.expect("to login")))
        .await;
    assert!(
        login.contains("Example MCP Client"),
        "the login page names the client: {login}"
    );
    let (status, location, _) = app
        .post_form(
            &browser,
            &app.url("/login"),
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &form_value(&login, "csrf_token")),
                ("next", &form_value(&login, "next")),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, location, _) = app
        .get(
            &browser,
            &app.absolute(&location.expect("back to authorize")),
        )
        .await;
    let (status, _, consent) = app
        .get(&browser, &app.absolute(&location.expect("to consent")))
        .await;
    assert_eq!(status, StatusCode::OK, "{consent}");
    assert!(consent.contains("Example MCP Client"), "{consent}");
    assert!(
        consent.contains("id=\"client-publisher\"")
            && consent.contains("<strong>127.0.0.1</strong>"),
        "the document's host is shown: {consent}"
    );
    let callback = app.decide(&browser, &consent, "allow").await;
    assert!(
        callback.url.as_str().starts_with(CALLBACK),
        "{}",
        callback.url
    );
    assert_eq!(callback.param("iss").as_deref(), Some(app.address.as_str()));

    // The code, for the client named in the body, with the verifier and no secret.
    let (status, tokens) = app
        .token_raw(
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &callback.code()),
                ("redirect_uri", CALLBACK),
                ("client_id", &id),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    // `aud` is the client's own ID, never the issuer: anyone can name a document.
    let claims = app
        .verify_jwt_for(tokens["access_token"].as_str().expect("access token"), &id)
        .await;
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["scope"], "openid profile");
    assert!(
        tokens["id_token"].is_string(),
        "openid was granted: {tokens}"
    );

    let (status, refreshed) = app
        .token_raw(
            None,
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    tokens["refresh_token"].as_str().expect("rt"),
                ),
                ("client_id", &id),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_ne!(
        refreshed["refresh_token"], tokens["refresh_token"],
        "rotated"
    );

    // Its refresh tokens are its own, and it cannot use another client's.
    let other = app.public_client().await;
    let (status, body) = app
        .token_raw(
            None,
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    refreshed["refresh_token"].as_str().expect("rt"),
                ),
                ("client_id", &other.id),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let confidential = app.client().await;
    let foreign = app.tokens_for(&confidential, "ada@example.com").await;
    let (status, body) = app
        .token_raw(
            None,
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    foreign["refresh_token"].as_str().expect("rt"),
                ),
                ("client_id", &id),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    // It is public: a secret is refused rather than ignored.
    let (status, body) = app
        .token_raw(
            None,
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    refreshed["refresh_token"].as_str().expect("rt"),
                ),
                ("client_id", &id),
                ("client_secret", "guessed"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{body}"
    );

    // Everything above, authorize to refresh, used one fetch.
    assert_eq!(publisher.hits(DOC_PATH), 1);
    let stored = app.db.client(&id).await.expect("query").expect("stored");
    assert_eq!(stored.redirect_uris, [CALLBACK]);
    assert_eq!(stored.secret_hash, None);
    assert!(stored.requires_pkce());
}

async fn a_document_is_fetched_once_within_its_lifetime_and_again_after_it(app: TestApp) {
    let publisher = Publisher::start().await;
    let id = publisher.url(DOC_PATH);
    // no-store still gets the minimum lifetime.
    publisher.document(DOC_PATH, &document(&id, "First Name"), Some("no-store"));
    for _ in 0..2 {
        let (status, location, body) = app
            .get(&browser(), &authorize_url(&app, &id, CALLBACK))
            .await;
        assert_eq!(status, StatusCode::FOUND, "{body}");
        assert!(location.unwrap_or_default().starts_with("/login?"));
    }
    assert_eq!(
        publisher.hits(DOC_PATH),
        1,
        "the second authorization used the stored copy"
    );
    let until = stored_expiry(&app, &id).await - app.now();
    assert!(
        (MIN_LIFETIME_SECONDS - 5..=MIN_LIFETIME_SECONDS).contains(&until),
        "{until}"
    );

    // Once stale, the next request fetches it again and takes the changes.
    let mut changed = document(&id, "Second Name");
    changed["redirect_uris"] = json!(["https://app.example.com/new-callback"]);
    publisher.document(DOC_PATH, &changed, Some("public, max-age=31536000"));
    expire(&app, &id).await;
    let (status, _, body) = app
        .get(
            &browser(),
            &authorize_url(&app, &id, "https://app.example.com/new-callback"),
        )
        .await;
    assert_eq!(status, StatusCode::FOUND, "{body}");
    assert_eq!(publisher.hits(DOC_PATH), 2);
    let stored = app.db.client(&id).await.expect("query").expect("stored");
    assert_eq!(stored.name, "Second Name");
    assert_eq!(
        stored.redirect_uris,
        ["https://app.example.com/new-callback"],
        "redirect URIs are replaced"
    );
    let until = stored_expiry(&app, &id).await - app.now();
    assert!(
        (MAX_LIFETIME_SECONDS - 5..=MAX_LIFETIME_SECONDS).contains(&until),
        "max-age is capped: {until}"
    );
    let (status, _, body) = app
        .get(&browser(), &authorize_url(&app, &id, CALLBACK))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the old redirect URI is gone: {body}"
    );
    assert!(body.contains("Redirect URI not registered"));

    // A stale copy whose refetch fails is not used: fail closed, at both endpoints.
    publisher.publish(
        DOC_PATH,
        Reply::Raw {
            status: 500,
            content_type: "text/plain",
            location: None,
            body: b"down".to_vec(),
        },
    );
    expire(&app, &id).await;
    refused(&app, &id, "HTTP 500").await;
    let (status, body) = app
        .token_raw(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", &id),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .contains("HTTP 500"),
        "{body}"
    );
    assert_eq!(publisher.hits(DOC_PATH), 4, "failures are not cached");
    assert!(
        app.db.client(&id).await.expect("query").is_some(),
        "nothing is deleted"
    );

    // Back again: it works again.
    publisher.document(DOC_PATH, &document(&id, "Third Name"), None);
    let (status, _, body) = app
        .get(&browser(), &authorize_url(&app, &id, CALLBACK))
        .await;
    assert_eq!(status, StatusCode::FOUND, "{body}");
}

async fn a_document_that_names_another_client_id_is_refused(app: TestApp) {
    let publisher = Publisher::start().await;
    let id = publisher.url(DOC_PATH);
    publisher.document(
        DOC_PATH,
        &document(&publisher.url("/other.json"), "Impostor"),
        None,
    );
    refused(&app, &id, "must be exactly the URL it is served at").await;
    let mut no_id = document(&id, "No ID");
    no_id.as_object_mut().expect("object").remove("client_id");
    publisher.document(DOC_PATH, &no_id, None);
    refused(&app, &id, "client_id must be exactly").await;
    assert!(
        app.db.client(&id).await.expect("query").is_none(),
        "nothing was stored"
    );
}

async fn a_document_without_valid_redirect_uris_is_refused(app: TestApp) {
    let publisher = Publisher::start().await;
    let id = publisher.url(DOC_PATH);
    let mut doc = document(&id, "App");
    doc.as_object_mut().expect("object").remove("redirect_uris");
    publisher.document(DOC_PATH, &doc, None);
    refused(&app, &id, "redirect_uris must list 1 to 10 redirect URIs").await;
    for (uris, needle) in [
        (json!([]), "redirect_uris must list"),
        (
            json!("https://app.example.com/cb"),
            "redirect_uris must be an array of strings",
        ),
        (
            json!(["http://app.example.com/cb"]),
            "plain http is allowed only for loopback hosts",
        ),
        (
            json!(["https://app.example.com/cb#x"]),
            "must not contain a fragment",
        ),
        (json!(["javascript:alert(1)"]), "is not allowed; use https"),
    ] {
        doc["redirect_uris"] = uris;
        publisher.document(DOC_PATH, &doc, None);
        refused(&app, &id, needle).await;
    }
}

async fn an_unregistered_redirect_uri_gets_an_error_page_that_names_it(app: TestApp) {
    let publisher = Publisher::start().await;
    let id = publisher.url(DOC_PATH);
    publisher.document(DOC_PATH, &document(&id, "App"), None);
    let tried = "https://evil.example/steal";
    let (status, location, body) = app.get(&browser(), &authorize_url(&app, &id, tried)).await;
    assert_eq!((status, location), (StatusCode::BAD_REQUEST, None));
    assert!(
        body.contains("Redirect URI not registered") && body.contains(tried),
        "{body}"
    );
}

async fn a_document_asking_for_a_secret_based_or_unsupported_auth_method_is_refused(app: TestApp) {
    let publisher = Publisher::start().await;
    let id = publisher.url(DOC_PATH);
    for method in [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ] {
        let mut doc = document(&id, "App");
        doc["token_endpoint_auth_method"] = json!(method);
        publisher.document(DOC_PATH, &doc, None);
        refused(&app, &id, "token_endpoint_auth_method is").await;
    }
    let mut doc = document(&id, "App");
    doc["client_secret"] = json!("s3cret");
    publisher.document(DOC_PATH, &doc, None);
    refused(&app, &id, "cannot carry a shared secret").await;
}

async fn a_huge_or_endless_document_is_cut_off(app: TestApp) {
    let publisher = Publisher::start().await;
    let id = publisher.url(DOC_PATH);
    let mut doc = document(&id, "App");
    doc["padding"] = json!("x".repeat(100 * 1024));
    publisher.document(DOC_PATH, &doc, None);
    refused(&app, &id, "larger than 64 KiB").await;
    publisher.publish(DOC_PATH, Reply::Endless);
    let started = Instant::now();
    refused(&app, &id, "larger than 64 KiB").await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "cut off while streaming, not by the timeout"
    );
}

async fn a_server_that_never_answers_times_out(app: TestApp) {
    let publisher = Publisher::start().await;
    let id = publisher.url(DOC_PATH);
    publisher.publish(DOC_PATH, Reply::Silent);
    let started = Instant::now();
    refused(&app, &id, "no complete answer within 5 seconds").await;
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    // The failure is remembered briefly (issue 15, finding 18): asked again at once, no
    // second connection is held open for seconds.
    let again = Instant::now();
    refused(&app, &id, "no complete answer within 5 seconds").await;
    assert!(
        again.elapsed() < Duration::from_secs(2),
        "{:?}",
        again.elapsed()
    );
    assert_eq!(publisher.hits(DOC_PATH), 1, "fetched once");
}

async fn a_document_behind_a_redirect_is_refused_and_the_redirect_not_followed(app: TestApp) {
    let publisher = Publisher::start().await;
    let id = publisher.url(DOC_PATH);
    let target = publisher.url("/moved.json");
    publisher.document("/moved.json", &document(&id, "App"), None);
    publisher.publish(
        DOC_PATH,
        Reply::Raw {
            status: 302,
            content_type: "text/plain",
            location: Some(target.clone()),
            body: Vec::new(),
        },
    );
    refused(&app, &id, &format!("redirect to {target}")).await;
    assert_eq!(publisher.hits("/moved.json"), 0, "never followed");
}

async fn a_document_that_is_not_served_as_json_or_not_found_is_refused(app: TestApp) {
    let publisher = Publisher::start().await;
    let id = publisher.url(DOC_PATH);
    let body = document(&id, "App").to_string().into_bytes();
    publisher.publish(
        DOC_PATH,
        Reply::Raw {
            status: 200,
            content_type: "text/html",
            location: None,
            body,
        },
    );
    refused(&app, &id, "it must be application/json").await;
    refused(&app, &publisher.url("/missing.json"), "HTTP 404").await;
    publisher.publish(
        DOC_PATH,
        Reply::Raw {
            status: 200,
            content_type: "application/json",
            location: None,
            body: b"{\"client_id\":".to_vec(),
        },
    );
    refused(&app, &id, "not JSON").await;
}

async fn expired_metadata_clients_nobody_uses_are_purged_and_used_ones_kept(app: TestApp) {
    let publisher = Publisher::start().await;
    let used = publisher.url("/used.json");
    let unused = publisher.url("/unused.json");
    publisher.document("/used.json", &document(&used, "Used"), None);
    publisher.document("/unused.json", &document(&unused, "Unused"), None);
    app.user("ada@example.com").await;
    app.sign_in(
        &browser(),
        &authorize_url(&app, &used, CALLBACK),
        "ada@example.com",
        PASSWORD,
    )
    .await
    .code();
    let (status, _, body) = app
        .get(&browser(), &authorize_url(&app, &unused, CALLBACK))
        .await;
    assert_eq!(status, StatusCode::FOUND, "{body}");
    assert_eq!(
        app.db
            .purge_unused_metadata_clients(app.now())
            .await
            .expect("purge"),
        0,
        "both are fresh"
    );
    expire(&app, &used).await;
    expire(&app, &unused).await;
    assert_eq!(
        app.db
            .purge_unused_metadata_clients(app.now())
            .await
            .expect("purge"),
        1
    );
    assert!(app.db.client(&unused).await.expect("query").is_none());
    assert!(
        app.db.client(&used).await.expect("query").is_some(),
        "its consent keeps it"
    );
}

async fn metadata_document_clients_are_marked_in_client_list(app: TestApp) {
    let publisher = Publisher::start().await;
    let id = publisher.url(DOC_PATH);
    publisher.document(DOC_PATH, &document(&id, "Listed App"), None);
    let (status, _, body) = app
        .get(&browser(), &authorize_url(&app, &id, CALLBACK))
        .await;
    assert_eq!(status, StatusCode::FOUND, "{body}");
    app.client().await;
    let run = |json: bool| {
        let mut args = vec!["client", "list"];
        if json {
            args.push("--json");
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gptauth"))
            .args(&args)
            .env("DATABASE_URL", &app.database_url)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run gptauth");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let human = run(false);
    let line = human.lines().find(|l| l.starts_with(&id)).expect("listed");
    assert!(
        line.contains("Listed App") && line.ends_with("[metadata document]"),
        "{human}"
    );
    assert_eq!(
        human.matches("[metadata document]").count(),
        1,
        "only that one: {human}"
    );
    let listed: Value = serde_json::from_str(&run(true)).expect("json");
    let entry = listed
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["client_id"] == id.as_str())
        .expect("listed");
    assert_eq!(entry["metadata_document"], true);
    assert!(entry["metadata_expires_at"].is_i64());
}

crate::both_backends_with!(
    TEST_ONLY_FLAG;
    a_metadata_document_client_signs_in_exchanges_its_code_with_pkce_and_refreshes,
    a_document_is_fetched_once_within_its_lifetime_and_again_after_it,
    a_document_that_names_another_client_id_is_refused,
    a_document_without_valid_redirect_uris_is_refused,
    an_unregistered_redirect_uri_gets_an_error_page_that_names_it,
    a_document_asking_for_a_secret_based_or_unsupported_auth_method_is_refused,
    a_huge_or_endless_document_is_cut_off,
    a_server_that_never_answers_times_out,
    a_document_behind_a_redirect_is_refused_and_the_redirect_not_followed,
    a_document_that_is_not_served_as_json_or_not_found_is_refused,
    expired_metadata_clients_nobody_uses_are_purged_and_used_ones_kept,
    metadata_document_clients_are_marked_in_client_list,
);

async fn without_the_test_flag_private_loopback_and_plain_http_urls_are_refused(app: TestApp) {
    for url in [
        "https://127.0.0.1/client.json",
        "https://10.1.2.3/client.json",
        "https://192.168.0.10/client.json",
        "https://169.254.169.254/latest/meta-data/client.json",
        "https://100.64.0.1/client.json",
        "https://[::1]/client.json",
        "https://[fd00::1]/client.json",
        "https://[::ffff:127.0.0.1]/client.json",
    ] {
        refused(&app, url, "is not a public address").await;
    }
    refused(
        &app,
        "https://localhost/client.json",
        "localhost is not a public address",
    )
    .await;
    // What the name resolves to is not told (issue 15, finding 18).
    let (_, _, page) = app
        .get(
            &browser(),
            &authorize_url(&app, "https://localhost/client.json", CALLBACK),
        )
        .await;
    assert!(
        !page.contains("127.0.0.1") && !page.contains("::1"),
        "{page}"
    );
    // A real server, but plain http: refused before any request is made.
    let publisher = Publisher::start().await;
    let id = publisher.url(DOC_PATH);
    publisher.document(DOC_PATH, &document(&id, "App"), None);
    refused(&app, &id, "plain http is refused").await;
    assert_eq!(publisher.hits(DOC_PATH), 0);
    let (status, body) = app
        .token_raw(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", &id),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{body}"
    );
    // Malformed client ID URLs say what is wrong with them.
    refused(&app, "http://app.example/client.json", "must use https").await;
    refused(&app, "https://app.example", "must have a path").await;
    refused(
        &app,
        "https://app.example/a/../client.json",
        "path segments",
    )
    .await;
}

async fn the_token_endpoint_fetches_nothing_for_a_document_client_nobody_signed_in_with(
    app: TestApp,
) {
    let publisher = Publisher::start().await;
    let id = publisher.url(DOC_PATH);
    publisher.document(DOC_PATH, &document(&id, "App"), None);
    for grant in [
        vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", id.as_str()),
        ],
        vec![
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", CALLBACK),
            ("code_verifier", "x"),
            ("client_id", id.as_str()),
        ],
    ] {
        let (status, body) = app.token_raw(None, &grant).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{body}"
        );
    }
    let (status, body) = app
        .post_as("/oauth/revoke", None, &[("token", "x"), ("client_id", &id)])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{body}"
    );
    assert_eq!(
        publisher.hits(DOC_PATH),
        0,
        "nothing fetched for a client with nothing to redeem"
    );
}

async fn the_metadata_advertises_client_id_metadata_documents(app: TestApp) {
    let meta: Value = reqwest::get(app.url("/.well-known/oauth-authorization-server"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    assert!(
        meta["token_endpoint_auth_methods_supported"]
            .as_array()
            .expect("array")
            .contains(&json!("none"))
    );
}

crate::both_backends!(
    without_the_test_flag_private_loopback_and_plain_http_urls_are_refused,
    the_token_endpoint_fetches_nothing_for_a_document_client_nobody_signed_in_with,
    the_metadata_advertises_client_id_metadata_documents
);

/// Signs ada in through the popup for the client `id` and returns the consent page.
async fn consent_page(app: &TestApp, id: &str, redirect_uri: &str) -> String {
    let browser = browser();
    let (_, location, body) = app
        .get(&browser, &authorize_url(app, id, redirect_uri))
        .await;
    let location = location.unwrap_or_else(|| panic!("to login: {body}"));
    let (_, _, login) = app.get(&browser, &app.absolute(&location)).await;
    let (status, location, _) = app
        .post_form(
            &browser,
            &app.url("/login"),
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &form_value(&login, "csrf_token")),
                ("next", &form_value(&login, "next")),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, location, _) = app
        .get(
            &browser,
            &app.absolute(&location.expect("back to authorize")),
        )
        .await;
    let (status, _, consent) = app
        .get(&browser, &app.absolute(&location.expect("to consent")))
        .await;
    assert_eq!(status, StatusCode::OK, "{consent}");
    consent
}

async fn advertised(app: &TestApp) -> Value {
    let meta: Value = reqwest::get(app.url("/.well-known/oauth-authorization-server"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    meta["client_id_metadata_document_supported"].clone()
}

async fn with_documents_off_a_url_client_id_is_refused_unfetched_and_not_advertised(app: TestApp) {
    let publisher = Publisher::start().await;
    let id = publisher.url(DOC_PATH);
    publisher.document(DOC_PATH, &document(&id, "App"), None);
    refused(
        &app,
        &id,
        "does not accept clients identified by a metadata document",
    )
    .await;
    let (status, body) = app
        .token_raw(
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", &id),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "{body}"
    );
    assert_eq!(publisher.hits(DOC_PATH), 0, "nothing fetched");
    assert_eq!(advertised(&app).await, false);
}

crate::both_backends_with!(
    &[
        ("GPTAUTH_CLIENT_METADATA_ALLOW_INSECURE_LOOPBACK", "true"),
        ("GPTAUTH_CLIENT_METADATA_DOCUMENTS", "off"),
    ];
    with_documents_off_a_url_client_id_is_refused_unfetched_and_not_advertised,
);

async fn an_allowlist_of_hosts_admits_only_those_hosts(app: TestApp) {
    let publisher = Publisher::start().await;
    let id = publisher.url(DOC_PATH);
    publisher.document(DOC_PATH, &document(&id, "App"), None);
    refused(&app, &id, "from 127.0.0.1").await;
    assert_eq!(publisher.hits(DOC_PATH), 0, "nothing fetched");
    assert_eq!(advertised(&app).await, true);
}

crate::both_backends_with!(
    &[
        ("GPTAUTH_CLIENT_METADATA_ALLOW_INSECURE_LOOPBACK", "true"),
        ("GPTAUTH_CLIENT_METADATA_DOCUMENTS", "chatgpt.com claude.ai"),
    ];
    an_allowlist_of_hosts_admits_only_those_hosts,
);

async fn an_allowlisted_host_is_accepted_and_a_localhost_only_document_is_warned_about(
    app: TestApp,
) {
    app.user("ada@example.com").await;
    let publisher = Publisher::start().await;
    let id = publisher.url(DOC_PATH);
    publisher.document(DOC_PATH, &document(&id, "Remote App"), None);
    let consent = consent_page(&app, &id, CALLBACK).await;
    assert!(
        consent.contains("<strong>127.0.0.1</strong>"),
        "the publishing host is shown: {consent}"
    );
    assert!(!consent.contains("localhost-warning"), "{consent}");

    let local_path = "/local/client.json";
    let local_id = publisher.url(local_path);
    let local_callback = "http://localhost:33418/callback";
    let mut doc = document(&local_id, "Local App");
    doc["redirect_uris"] = json!([local_callback, "http://127.0.0.1:33418/callback"]);
    publisher.document(local_path, &doc, None);
    let consent = consent_page(&app, &local_id, local_callback).await;
    assert!(consent.contains("id=\"localhost-warning\""), "{consent}");
}

crate::both_backends_with!(
    &[
        ("GPTAUTH_CLIENT_METADATA_ALLOW_INSECURE_LOOPBACK", "true"),
        ("GPTAUTH_CLIENT_METADATA_DOCUMENTS", "chatgpt.com 127.0.0.1"),
    ];
    an_allowlisted_host_is_accepted_and_a_localhost_only_document_is_warned_about,
);

#[tokio::test]
async fn documents_are_off_by_default_when_registration_is_not_open() {
    for registration in ["closed", "token"] {
        let app = spawn_app(Backend::Sqlite, &[("GPTAUTH_REGISTRATION", registration)])
            .await
            .expect("app");
        assert_eq!(advertised(&app).await, false, "{registration}");
        refused(
            &app,
            "https://app.example/oauth/client.json",
            "does not accept",
        )
        .await;
    }
}

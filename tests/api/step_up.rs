//! Step-up authorization (RFC 6750 §3.1, the MCP scope challenge): a resource server built with
//! `gptauth-verify` answers a token without the route's scope with 403 `insufficient_scope`,
//! the scope and its resource metadata; the client re-authorizes for the added scope, the user
//! is asked for that scope only, and the new token passes.

use gptauth_verify::{RequiredScopes, Scoped, Verifier};
use reqwest::StatusCode;

use crate::helpers::*;

struct NotesWrite;
impl RequiredScopes for NotesWrite {
    const SCOPES: &'static [&'static str] = &["notes.write"];
}

/// The resource server's verifier, naming where its protected resource metadata lives.
fn verifier(app: &TestApp, api: &str) -> Verifier {
    Verifier::builder(&app.address)
        .leeway(0)
        .resource_metadata(format!("{api}/.well-known/oauth-protected-resource"))
        .build()
        .expect("verifier")
}

fn challenge(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The items of the list whose tag carries `attribute` (`class="scopes"`, say).
fn list_items(html: &str, attribute: &str) -> Vec<String> {
    let Some(start) = html.find(attribute) else {
        return Vec::new();
    };
    let end = start + html[start..].find("</ul>").expect("list ends");
    html[start..end]
        .split("<li>")
        .skip(1)
        .map(|item| unescape(item.split("</li>").next().unwrap_or("")))
        .collect()
}

async fn access_token_for(app: &TestApp, client: &TestClient, cb: &Callback) -> (String, String) {
    let (status, body) = app
        .exchange_code(client, false, &cb.code(), CHATGPT_OPENAI)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["access_token"].as_str().expect("at").to_string(),
        body["scope"].as_str().unwrap_or("").to_string(),
    )
}

/// The whole step-up against a resource server at `api` whose `/notes` needs `notes.write`.
async fn step_up(app: &TestApp, api: &str) {
    let client = app
        .client_with("openid notes.read notes.write", &[CHATGPT_OPENAI])
        .await;
    let user_id = app.user("ada@example.com").await;
    let browser = browser();
    let http = reqwest::Client::new();
    let metadata = format!("{api}/.well-known/oauth-protected-resource");

    // No token: 401 naming the route's scope and the resource metadata (RFC 6750 §3,
    // RFC 9728 §5.1).
    let resp = http
        .get(format!("{api}/notes"))
        .send()
        .await
        .expect("notes");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp),
        format!("Bearer scope=\"notes.write\", resource_metadata=\"{metadata}\"")
    );
    let resp = http
        .get(format!("{api}/notes"))
        .bearer_auth("not.a.token")
        .send()
        .await
        .expect("notes");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let refused = challenge(&resp);
    assert!(
        refused.starts_with("Bearer error=\"invalid_token\"")
            && refused.ends_with(&format!(
                "scope=\"notes.write\", resource_metadata=\"{metadata}\""
            )),
        "{refused}"
    );

    // A token for notes.read only: 403 insufficient_scope (RFC 6750 §3.1).
    let cb = app
        .sign_in(
            &browser,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s1", Some("notes.read")),
            "ada@example.com",
            PASSWORD,
        )
        .await;
    let (read_only, scope) = access_token_for(app, &client, &cb).await;
    assert_eq!(scope, "notes.read");
    let resp = http
        .get(format!("{api}/notes"))
        .bearer_auth(&read_only)
        .send()
        .await
        .expect("notes");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&resp),
        format!(
            "Bearer error=\"insufficient_scope\", scope=\"notes.write\", \
             resource_metadata=\"{metadata}\""
        )
    );

    // The client steps up: the consent page asks for the added scope only.
    let (status, location, _) = app
        .get(
            &browser,
            &app.authorize_url(
                &client,
                CHATGPT_OPENAI,
                "s2",
                Some("notes.read notes.write"),
            ),
        )
        .await;
    assert!(status.is_redirection(), "{status}");
    let consent_url = app.absolute(&location.expect("location"));
    assert!(consent_url.contains("/consent?"), "{consent_url}");
    let (status, _, page) = app.get(&browser, &consent_url).await;
    assert_eq!(status, StatusCode::OK);
    let asked = list_items(&page, "class=\"scopes\"");
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(asked[0].contains("notes.write"), "{asked:?}");
    let kept = list_items(&page, "id=\"scopes-granted\"");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].contains("notes.read"), "{kept:?}");
    assert!(page.contains(">Allow</button>"));

    let cb = app.decide(&browser, &page, "allow").await;
    assert_eq!(cb.param("state").as_deref(), Some("s2"));
    let (both, scope) = access_token_for(app, &client, &cb).await;
    assert_eq!(scope, "notes.read notes.write");
    let resp = http
        .get(format!("{api}/notes"))
        .bearer_auth(&both)
        .send()
        .await
        .expect("notes");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.text().await.expect("body"),
        app.verify_jwt(&both).await["sub"].as_str().expect("sub")
    );

    // The stored consent is the union, and the old subset needs no consent page.
    let given = app
        .db
        .consent(user_id, &client.id)
        .await
        .expect("consent")
        .expect("a consent");
    assert_eq!(given, "notes.read notes.write");
    let (status, location, _) = app
        .get(
            &browser,
            &app.authorize_url(&client, CHATGPT_OPENAI, "s3", Some("notes.read")),
        )
        .await;
    assert!(status.is_redirection(), "{status}");
    let location = location.expect("location");
    assert!(
        location.starts_with(CHATGPT_OPENAI),
        "straight back to the client: {location}"
    );
    let cb = Callback {
        url: url::Url::parse(&location).expect("callback"),
    };
    let (_, scope) = access_token_for(app, &client, &cb).await;
    assert_eq!(scope, "notes.read");

    // prompt=consent with nothing new (OIDC Core §3.1.2.1) asks for all of it again.
    let (status, location, _) = app
        .get(
            &browser,
            &app.authorize_url_with(
                &client,
                CHATGPT_OPENAI,
                &[("scope", "notes.read notes.write"), ("prompt", "consent")],
            ),
        )
        .await;
    assert!(status.is_redirection(), "{status}");
    let (_, _, page) = app
        .get(&browser, &app.absolute(&location.expect("location")))
        .await;
    assert_eq!(list_items(&page, "class=\"scopes\"").len(), 2, "{page}");
    assert!(list_items(&page, "id=\"scopes-granted\"").is_empty());
}

async fn an_actix_route_challenges_for_the_missing_scope_and_the_step_up_asks_only_for_it(
    app: TestApp,
) {
    use actix_web::{App, HttpResponse, HttpServer, web};
    async fn notes(user: Scoped<NotesWrite>) -> HttpResponse {
        HttpResponse::Ok().body(user.sub.clone())
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let v = verifier(&app, &api);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(v.clone())
            .route("/notes", web::get().to(notes))
    })
    .listen(listener)
    .expect("listen")
    .workers(1)
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    step_up(&app, &api).await;
    handle.stop(false).await;
}

async fn an_axum_route_challenges_for_the_missing_scope_and_the_step_up_asks_only_for_it(
    app: TestApp,
) {
    async fn notes(user: Scoped<NotesWrite>) -> String {
        // Clone and Debug need nothing of the marker type.
        let copy = user.clone();
        assert!(format!("{copy:?}").starts_with("Scoped"));
        user.into_inner().sub
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let router = axum::Router::new()
        .route("/notes", axum::routing::get(notes))
        .with_state(verifier(&app, &api));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    step_up(&app, &api).await;
    server.abort();
}

crate::both_backends!(
    an_actix_route_challenges_for_the_missing_scope_and_the_step_up_asks_only_for_it,
    an_axum_route_challenges_for_the_missing_scope_and_the_step_up_asks_only_for_it
);

//! The example resource API (`examples/notes_api.rs`) end to end: sign in through the popup,
//! then create and list notes as two different people.

use actix_web::{App, HttpServer, web};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;

#[path = "../../examples/notes_api.rs"]
#[allow(dead_code)]
mod notes_api;

async fn each_user_sees_only_their_own_notes(app: TestApp) {
    let client = app.client().await;
    app.user("ada@example.com").await;
    app.user("grace@example.com").await;
    let verifier = gptauth_verify::Verifier::builder(&app.address)
        .build()
        .expect("verifier");
    let notes = web::Data::new(notes_api::Notes::default());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("addr"));
    let urls = web::Data::new(notes_api::Urls {
        api: api.clone(),
        auth: app.address.clone(),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .app_data(notes.clone())
            .app_data(urls.clone())
            .configure(notes_api::configure)
    })
    .listen(listener)
    .expect("listen")
    .workers(1)
    .run();
    let handle = server.handle();
    tokio::spawn(server);

    let http = reqwest::Client::new();
    let ada = app.tokens_for(&client, "ada@example.com").await["access_token"]
        .as_str()
        .expect("at")
        .to_string();
    let grace = app.tokens_for(&client, "grace@example.com").await["access_token"]
        .as_str()
        .expect("at")
        .to_string();
    for (token, text) in [
        (&ada, "buy milk"),
        (&ada, "call Bob"),
        (&grace, "grace's secret"),
    ] {
        let resp = http
            .post(format!("{api}/notes"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "text": text }))
            .send()
            .await
            .expect("create");
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let list = |token: String| {
        let http = http.clone();
        let api = api.clone();
        async move {
            let body: Value = http
                .get(format!("{api}/notes"))
                .bearer_auth(token)
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            body["notes"]
                .as_array()
                .expect("notes")
                .iter()
                .map(|n| n["text"].as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(ada.clone()).await, vec!["call Bob", "buy milk"]);
    assert_eq!(list(grace.clone()).await, vec!["grace's secret"]);
    // Ada signs in again (a new ChatGPT session): same sub, same notes.
    let again = app.tokens_for(&client, "ada@example.com").await["access_token"]
        .as_str()
        .expect("at")
        .to_string();
    assert_eq!(list(again).await, vec!["call Bob", "buy milk"]);
    let resp = http
        .get(format!("{api}/notes"))
        .send()
        .await
        .expect("anonymous");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let doc = http
        .get(format!("{api}/openapi.yaml"))
        .send()
        .await
        .expect("openapi")
        .text()
        .await
        .expect("yaml");
    assert!(
        doc.contains("openapi: 3.1.0")
            && doc.contains(&format!("{}/oauth/token", app.address))
            && doc.contains(&api)
    );
    handle.stop(false).await;
}

crate::both_backends!(each_user_sees_only_their_own_notes);

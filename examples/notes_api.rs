//! A tiny "notes" API for a GPT Action, protected by gptauth.
//!
//! Every note belongs to the person in the access token's `sub`, so each ChatGPT user sees only
//! their own notes, in every chat. Run it beside gptauth:
//!
//! ```sh
//! NOTES_ISSUER=https://auth.example.com NOTES_PUBLIC_URL=https://api.example.com \
//!   NOTES_CLIENT_ID=gpt_… cargo run --example notes_api
//! ```
//!
//! `NOTES_CLIENT_ID` (space-separated for several) pins your GPT's client: without it, a token
//! any other client of the same gptauth obtained for the issuer audience is accepted too.
//!
//! Then paste `NOTES_PUBLIC_URL/openapi.yaml` into the GPT editor's "Import from URL".
//! Notes live in memory: this is an example, not a product.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::{App, HttpResponse, HttpServer, http::header, web};
use gptauth_verify::{AuthenticatedUser, Verifier};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize)]
pub struct Note {
    pub id: u64,
    pub text: String,
    pub created_at: i64,
}

/// Notes by user (`sub`).
#[derive(Default)]
pub struct Notes {
    by_user: Mutex<HashMap<String, Vec<Note>>>,
    next_id: AtomicU64,
}

#[derive(Deserialize)]
pub struct NewNote {
    text: String,
}

/// Where the OpenAPI document says the API and the authorization server are.
#[derive(Clone)]
pub struct Urls {
    pub api: String,
    pub auth: String,
}

/// The routes; the app data must hold a `Verifier`, `web::Data<Notes>` and `web::Data<Urls>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/notes", web::get().to(list))
        .route("/notes", web::post().to(create))
        .route("/openapi.yaml", web::get().to(openapi));
}

async fn list(user: AuthenticatedUser, notes: web::Data<Notes>) -> HttpResponse {
    let by_user = notes.by_user.lock().unwrap_or_else(|e| e.into_inner());
    let mut mine = by_user.get(&user.sub).cloned().unwrap_or_default();
    mine.reverse();
    HttpResponse::Ok().json(serde_json::json!({ "notes": mine }))
}

async fn create(
    user: AuthenticatedUser,
    notes: web::Data<Notes>,
    body: web::Json<NewNote>,
) -> HttpResponse {
    let text = body.text.trim();
    if text.is_empty() || text.chars().count() > 2000 {
        return HttpResponse::BadRequest()
            .json(serde_json::json!({ "error": "text must have 1 to 2000 characters" }));
    }
    let note = Note {
        id: notes.next_id.fetch_add(1, Ordering::Relaxed) + 1,
        text: text.to_string(),
        created_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    };
    notes
        .by_user
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(user.sub)
        .or_default()
        .push(note.clone());
    HttpResponse::Created().json(note)
}

async fn openapi(urls: web::Data<Urls>) -> HttpResponse {
    let doc = include_str!("notes_api.openapi.yaml")
        .replace("{{API_URL}}", &urls.api)
        .replace("{{AUTH_URL}}", &urls.auth);
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/yaml"))
        .body(doc)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
    let issuer = env("NOTES_ISSUER", "http://127.0.0.1:8080");
    let bind = env("NOTES_BIND", "127.0.0.1:3000");
    let urls = Urls {
        api: env("NOTES_PUBLIC_URL", &format!("http://{bind}")),
        auth: issuer.clone(),
    };
    let mut builder = Verifier::builder(&issuer);
    if let Ok(audience) = std::env::var("NOTES_AUDIENCE") {
        builder = builder.audience(audience);
    }
    for client_id in env("NOTES_CLIENT_ID", "").split_whitespace() {
        builder = builder.client_id(client_id);
    }
    let verifier = builder
        .build()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let notes = web::Data::new(Notes::default());
    let urls = web::Data::new(urls);
    println!("notes API on http://{bind}, trusting tokens from {issuer}");
    HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .app_data(notes.clone())
            .app_data(urls.clone())
            .configure(configure)
    })
    .bind(&bind)?
    .run()
    .await
}

//! `/setup?token=…`: creates the first administrator in the browser. While no administrator
//! exists, the server logs a one-time link at start (see `startup::offer_setup_link`), so a
//! newcomer goes from `cargo run` to the portal without the CLI.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use crate::crypto;
use crate::domain::{DisplayName, Email, Password};
use crate::store::{AuditEvent, NewUser, SetupOutcome, StoreError};
use crate::web::csrf;
use crate::web::errors::unavailable;
use crate::web::extract::{CsrfBinding, CsrfForm, CsrfProtected};
use crate::web::pages::login::EXPIRED;
use crate::web::pages::render::{error_page, render};
use crate::web::session;
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "setup.html")]
pub struct SetupPage {
    pub csrf_token: String,
    pub token: String,
    pub email: String,
    pub name: String,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn link_over() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Setup link not valid",
        "This setup link is unknown, expired or used, or an administrator exists already. Restart gptauth for a new link while there is no administrator, or run `gptauth user create --admin`.".into(),
    )
}

fn page(req: &HttpRequest, state: &AppState, status: StatusCode, view: SetupPage) -> HttpResponse {
    let (csrf_token, cookie) = csrf::token_before_sign_in(req, state.config.issuer.is_https());
    render(
        status,
        &SetupPage { csrf_token, ..view },
        cookie.into_iter().collect(),
    )
}

pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    match state
        .db
        .setup_link_valid(&crypto::digest(&query.token))
        .await
    {
        Ok(true) => {}
        Ok(false) => return link_over(),
        Err(e) => return unavailable(e),
    }
    let view = SetupPage {
        csrf_token: String::new(),
        token: query.into_inner().token,
        email: String::new(),
        name: String::new(),
        error: None,
    };
    page(&req, &state, StatusCode::OK, view)
}

#[derive(Deserialize)]
pub struct SetupForm {
    csrf_token: String,
    token: String,
    email: String,
    #[serde(default)]
    name: String,
    password: String,
}

impl CsrfProtected for SetupForm {
    const BINDING: CsrfBinding = CsrfBinding::BeforeSignIn;

    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }

    async fn expired(self, req: &HttpRequest, state: &AppState) -> HttpResponse {
        let view = SetupPage {
            csrf_token: String::new(),
            token: self.token,
            email: self.email,
            name: self.name,
            error: Some(EXPIRED.into()),
        };
        page(req, state, StatusCode::BAD_REQUEST, view)
    }
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<SetupForm>,
) -> HttpResponse {
    let again = |error: String| {
        let view = SetupPage {
            csrf_token: String::new(),
            token: form.token.clone(),
            email: form.email.clone(),
            name: form.name.clone(),
            error: Some(error),
        };
        page(&req, &state, StatusCode::BAD_REQUEST, view)
    };
    let email = match Email::parse(&form.email) {
        Ok(e) => e,
        Err(e) => return again(e.to_string()),
    };
    let password = match Password::parse(&form.password) {
        Ok(p) => p,
        Err(e) => return again(e.to_string()),
    };
    let name = match DisplayName::parse(&form.name) {
        Ok(name) => name,
        Err(e) => return again(e.to_string()),
    };
    let hash = match state.hasher.hash(&password).await {
        Ok(h) => h,
        Err(e) => return unavailable(e),
    };
    let id = Uuid::now_v7();
    let admin = NewUser {
        id,
        email: email.as_ref(),
        name: name.as_ref().map(AsRef::as_ref),
        password_hash: &hash,
        is_admin: true,
    };
    match state
        .db
        .create_first_admin(&crypto::digest(&form.token), &admin)
        .await
    {
        Ok(SetupOutcome::Created) => {}
        Ok(SetupOutcome::InvalidLink | SetupOutcome::AdminExists) => return link_over(),
        Err(StoreError::Duplicate) => {
            return again(
                "An account with this e-mail exists; choose another, or make it an administrator with `gptauth user create --admin`."
                    .into(),
            );
        }
        Err(e) => return unavailable(e),
    }
    state.audit.record(AuditEvent {
        user_id: Some(id),
        ..AuditEvent::new(crate::domain::AuditKind::FirstAdminCreated)
    });
    match session::start(&req, &state.db, id, state.config.issuer.is_https()).await {
        Ok(cookie) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/portal"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(cookie)
            .finish(),
        Err(e) => unavailable(e),
    }
}

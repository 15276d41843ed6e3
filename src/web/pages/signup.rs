//! `GET /signup` and `POST /signup`: create an account and sign in.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;
use uuid::Uuid;

use crate::app::mail_links;
use crate::app::throttle;
use crate::config::SignupPolicy;
use crate::domain::{Email, Password};
use crate::store::{AuditEvent, NewUser, StoreError};
use crate::web::csrf;
use crate::web::errors::unavailable;
use crate::web::pages::login::NextQuery;
use crate::web::pages::render::{SignupPage, error_page, render, safe_next};
use crate::web::session;
use crate::web::state::AppState;

pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> HttpResponse {
    if state.config.signup == SignupPolicy::Closed {
        return closed();
    }
    let next = safe_next(query.into_inner().next.as_deref());
    page(
        &req,
        &state,
        StatusCode::OK,
        next,
        String::new(),
        String::new(),
        None,
    )
}

#[derive(Deserialize)]
pub struct SignupForm {
    email: String,
    #[serde(default)]
    name: String,
    password: String,
    csrf_token: String,
    next: Option<String>,
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SignupForm>,
) -> HttpResponse {
    if state.config.signup == SignupPolicy::Closed {
        return closed();
    }
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    let again = |status, error: String| {
        page(
            &req,
            &state,
            status,
            next.clone(),
            form.email.clone(),
            form.name.clone(),
            Some(error),
        )
    };
    if !csrf::verify_before_sign_in(&req, state.config.issuer.is_https(), &form.csrf_token) {
        return again(
            StatusCode::BAD_REQUEST,
            "The form expired. Please try again.".into(),
        );
    }
    let ip = crate::web::extract::client_ip(&req, &state);
    // Every sign-up counts, per client address and per address named: each hashes a password
    // and mails someone, and a taken address answers differently.
    let keys = throttle::Keys::signup(&form.email, ip.as_deref());
    match throttle::count(&state.db, &keys).await {
        Ok(throttle::Verdict::Go) => {}
        Ok(throttle::Verdict::Wait(wait)) => {
            return again(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many attempts. Try again in {wait} seconds."),
            );
        }
        Err(e) => return unavailable(e),
    }
    let email = match Email::parse(&form.email) {
        Ok(e) => e,
        Err(e) => return again(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let password = match Password::parse(&form.password) {
        Ok(p) => p,
        Err(e) => return again(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let name = form.name.trim();
    if name.chars().count() > 100 {
        return again(
            StatusCode::BAD_REQUEST,
            "A name has at most 100 characters.".into(),
        );
    }
    let hash = match state.hasher.hash(&password).await {
        Ok(h) => h,
        Err(e) => return unavailable(e),
    };
    let id = Uuid::now_v7();
    let new_user = NewUser {
        id,
        email: email.as_ref(),
        name: (!name.is_empty()).then_some(name),
        password_hash: &hash,
        is_admin: false,
    };
    match state.db.insert_user(&new_user).await {
        Ok(()) => {}
        Err(StoreError::Duplicate) => {
            // Without verifying the address first, a taken one cannot be hidden here; the
            // sign-up throttle above bounds how fast anyone can probe for accounts.
            return again(
                StatusCode::CONFLICT,
                "This account could not be created. If you already have one, sign in instead."
                    .into(),
            );
        }
        Err(e) => return unavailable(e),
    }
    state.audit.record(AuditEvent {
        user_id: Some(id),
        ip,
        ..AuditEvent::new(crate::domain::AuditKind::UserSignedUp)
    });
    let client_name = crate::web::pages::render::client_name(&state, &next).await;
    if let Err(e) =
        mail_links::send_verification(&state, id, email.as_ref(), client_name, Some(&next)).await
    {
        return unavailable(e);
    }
    match session::start(&req, &state.db, id, state.config.issuer.is_https()).await {
        Ok(cookie) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, next.clone()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(cookie)
            .finish(),
        Err(e) => unavailable(e),
    }
}

fn page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    next: String,
    email: String,
    name: String,
    error: Option<String>,
) -> HttpResponse {
    let (csrf_token, cookie) = csrf::token_before_sign_in(req, state.config.issuer.is_https());
    render(
        status,
        &SignupPage {
            csrf_token,
            next,
            email,
            name,
            error,
        },
        cookie.into_iter().collect(),
    )
}

fn closed() -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Sign-up is closed",
        "New accounts are created by the administrator of this server.".into(),
    )
}

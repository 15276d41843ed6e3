//! `GET /login` and `POST /login`: e-mail and password.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;

use super::authorize::unavailable;
use super::pages::{LoginPage, render, safe_next};
use crate::auth::{csrf, session};
use crate::config::SignupPolicy;
use crate::domain::{Email, Password};
use crate::startup::AppState;

#[derive(Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
}

pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> HttpResponse {
    let next = safe_next(query.next.as_deref());
    match session::current_user(&req, &state.db).await {
        Ok(Some(_)) => return see_other(&next),
        Ok(None) => {}
        Err(e) => return unavailable(e),
    }
    page(&req, &state, StatusCode::OK, next, String::new(), None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    csrf_token: String,
    pub next: Option<String>,
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let next = safe_next(form.next.as_deref());
    if !csrf::verify(&req, &form.csrf_token) {
        return page(
            &req,
            &state,
            StatusCode::BAD_REQUEST,
            next,
            form.email,
            Some("The form expired. Please try again."),
        );
    }
    let user = match Email::parse(&form.email) {
        Ok(email) => match state.db.user_by_email(email.as_ref()).await {
            Ok(u) => u.filter(|u| u.disabled_at.is_none()),
            Err(e) => return unavailable(e),
        },
        Err(_) => None,
    };
    let verified = match Password::for_login(&form.password) {
        // Always hash (a dummy when there is no such account), so that timing reveals nothing.
        Some(pw) => {
            state
                .hasher
                .verify(user.as_ref().map(|u| u.password_hash.clone()), &pw)
                .await
        }
        None => false,
    };
    let Some(user) = user.filter(|_| verified) else {
        tracing::info!(target: "security", "failed login");
        return page(
            &req,
            &state,
            StatusCode::UNAUTHORIZED,
            next,
            form.email,
            Some("Incorrect e-mail or password."),
        );
    };
    match session::start(&state.db, user.id, state.config.issuer.is_https()).await {
        Ok(cookie) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, next))
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
    error: Option<&str>,
) -> HttpResponse {
    let (csrf_token, cookie) = csrf::token_for(req, state.config.issuer.is_https());
    render(
        status,
        &LoginPage {
            csrf_token,
            next,
            email,
            error: error.map(str::to_string),
            signup_open: state.config.signup == SignupPolicy::Open,
        },
        cookie.into_iter().collect(),
    )
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

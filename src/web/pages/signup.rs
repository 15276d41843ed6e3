//! `GET /signup` and `POST /signup`: create an account and sign in.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;

use crate::app::accounts::{self, SignUpError};
use crate::config::SignupPolicy;
use crate::web::csrf;
use crate::web::errors::unavailable;
use crate::web::extract::{ClientIp, CsrfBinding, CsrfForm, CsrfProtected};
use crate::web::pages::login::{EXPIRED, NextQuery};
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

impl CsrfProtected for SignupForm {
    const BINDING: CsrfBinding = CsrfBinding::BeforeSignIn;

    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }

    async fn expired(self, req: &HttpRequest, state: &AppState) -> HttpResponse {
        if state.config.signup == SignupPolicy::Closed {
            return closed();
        }
        let next = safe_next(self.next.as_deref());
        let error = Some(EXPIRED.to_string());
        page(
            req,
            state,
            StatusCode::BAD_REQUEST,
            next,
            self.email,
            self.name,
            error,
        )
    }
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm(form): CsrfForm<SignupForm>,
) -> HttpResponse {
    if state.config.signup == SignupPolicy::Closed {
        return closed();
    }
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
    let sign_up = accounts::SignUp {
        email: &form.email,
        name: &form.name,
        password: &form.password,
        ip,
        client_name: crate::web::pages::render::client_name(&state, &next).await,
        next: &next,
    };
    let id = match accounts::sign_up(&state, sign_up).await {
        Ok(id) => id,
        Err(e @ SignUpError::Throttled(_)) => {
            return again(StatusCode::TOO_MANY_REQUESTS, e.to_string());
        }
        Err(e @ SignUpError::Taken) => return again(StatusCode::CONFLICT, e.to_string()),
        Err(e @ (SignUpError::Email(_) | SignUpError::Password(_) | SignUpError::Name(_))) => {
            return again(StatusCode::BAD_REQUEST, e.to_string());
        }
        Err(SignUpError::Store(e)) => return unavailable(e),
        Err(SignUpError::Hash(e)) => return unavailable(e),
    };
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

//! `GET /login` and `POST /login`: e-mail and password, throttled.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;

use crate::app::accounts::{self, CredentialError};
use crate::config::SignupPolicy;
use crate::domain::Email;
use crate::store::AuditEvent;
use crate::web::csrf;
use crate::web::device;
use crate::web::errors::unavailable;
use crate::web::extract::{ClientIp, CsrfBinding, CsrfForm, CsrfProtected};
use crate::web::pages::render::{
    LoginPage, authorize_param, client_name, render, safe_next, see_other,
};
use crate::web::session;
use crate::web::state::AppState;

#[derive(Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
    /// Set when the client asked for a new sign-in (`prompt=login`, `max_age`, another user's
    /// `id_token_hint`): show the form although a session exists.
    pub fresh: Option<String>,
}

pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> HttpResponse {
    let next = safe_next(query.next.as_deref());
    if query.fresh.is_none() {
        match session::current_user(&req, &state.db, state.config.issuer.is_https()).await {
            Ok(Some(_)) => return see_other(&next),
            Ok(None) => {}
            Err(e) => return unavailable(e),
        }
    }
    let client_name = client_name(&state, &next).await;
    // OpenID Connect `login_hint`: the address the client expects, pre-filled.
    let hint = authorize_param(&next, "login_hint")
        .filter(|h| Email::parse(h).is_ok())
        .unwrap_or_default();
    page(&req, &state, StatusCode::OK, next, hint, None, client_name)
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    csrf_token: String,
    next: Option<String>,
}

impl CsrfProtected for LoginForm {
    const BINDING: CsrfBinding = CsrfBinding::BeforeSignIn;

    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }

    async fn expired(self, req: &HttpRequest, state: &AppState) -> HttpResponse {
        let next = safe_next(self.next.as_deref());
        let shown_name = client_name(state, &next).await;
        page(
            req,
            state,
            StatusCode::BAD_REQUEST,
            next,
            self.email,
            Some(EXPIRED),
            shown_name,
        )
    }
}

/// What a sign-in form with a stale token says (the form is shown again).
pub(crate) const EXPIRED: &str = "The form expired. Please try again.";

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> HttpResponse {
    let next = safe_next(form.next.as_deref());
    let shown_name = client_name(&state, &next).await;
    let fail = |status, message: &str| {
        page(
            &req,
            &state,
            status,
            next.clone(),
            form.email.clone(),
            Some(message),
            shown_name.clone(),
        )
    };
    let secure = state.config.issuer.is_https();
    let attempt = accounts::Attempt {
        email: &form.email,
        password: &form.password,
        ip: ip.clone(),
        device: device::digest(&req, secure),
        failed_event: crate::domain::AuditKind::LoginFailed,
        audit_user: None,
    };
    let user = match accounts::verify_password(&state, attempt).await {
        Ok(user) => user,
        Err(CredentialError::Throttled(wait)) => {
            let message = format!(
                "Too many failed sign-ins. Try again in {wait} seconds, or reset your password to sign in now."
            );
            let mut resp = fail(StatusCode::TOO_MANY_REQUESTS, &message);
            if let Ok(v) = header::HeaderValue::from_str(&wait.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return resp;
        }
        Err(e @ CredentialError::Refused) => {
            return fail(StatusCode::UNAUTHORIZED, &e.to_string());
        }
        Err(CredentialError::Store(e)) => return unavailable(e),
    };
    let session = match session::start(&req, &state.db, user.id, secure).await {
        Ok(cookie) => cookie,
        Err(e) => return unavailable(e),
    };
    let device = match device::remember(&state.db, user.id, secure).await {
        Ok(cookie) => cookie,
        Err(e) => return unavailable(e),
    };
    state.audit.record(AuditEvent {
        user_id: Some(user.id),
        ip,
        ..AuditEvent::new(crate::domain::AuditKind::LoginSucceeded)
    });
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, next))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(session)
        .cookie(device)
        .finish()
}

fn page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    next: String,
    email: String,
    error: Option<&str>,
    client_name: Option<String>,
) -> HttpResponse {
    let (csrf_token, cookie) = csrf::token_before_sign_in(req, state.config.issuer.is_https());
    render(
        status,
        &LoginPage {
            csrf_token,
            next,
            email,
            error: error.map(str::to_string),
            signup_open: state.config.signup == SignupPolicy::Open,
            client_name,
        },
        cookie.into_iter().collect(),
    )
}

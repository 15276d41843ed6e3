//! Forgotten passwords: `GET|POST /forgot-password` mails a reset link (the same answer whether
//! or not the address has an account), `GET|POST /reset-password` sets the new password.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::app::accounts::{self, RequestResetError, ResetPasswordError, SecureAccountError};
use crate::crypto;
use crate::store::EmailPurpose;
use crate::web::csrf;
use crate::web::errors::unavailable;
use crate::web::extract::{ClientIp, CsrfBinding, CsrfForm, CsrfProtected};
use crate::web::pages::login::EXPIRED;
use crate::web::pages::render::{NoticePage, render, safe_next};
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "forgot_password.html")]
pub struct ForgotPage {
    pub csrf_token: String,
    pub next: String,
    pub email: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "reset_password.html")]
pub struct ResetPage {
    pub csrf_token: String,
    pub token: String,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn forgot_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    view: ForgotPage,
) -> HttpResponse {
    let (csrf_token, cookie) = csrf::token_before_sign_in(req, state.config.issuer.is_https());
    render(
        status,
        &ForgotPage { csrf_token, ..view },
        cookie.into_iter().collect(),
    )
}

pub async fn forgot_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> HttpResponse {
    let view = ForgotPage {
        csrf_token: String::new(),
        next: safe_next(query.next.as_deref()),
        email: String::new(),
        error: None,
    };
    forgot_page(&req, &state, StatusCode::OK, view)
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    email: String,
    next: Option<String>,
}

impl CsrfProtected for ForgotForm {
    const BINDING: CsrfBinding = CsrfBinding::BeforeSignIn;

    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }

    async fn expired(self, req: &HttpRequest, state: &AppState) -> HttpResponse {
        let view = ForgotPage {
            csrf_token: String::new(),
            next: safe_next(self.next.as_deref()),
            email: self.email,
            error: Some(EXPIRED.into()),
        };
        forgot_page(req, state, StatusCode::BAD_REQUEST, view)
    }
}

pub async fn forgot(
    req: HttpRequest,
    state: web::Data<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm(form): CsrfForm<ForgotForm>,
) -> HttpResponse {
    let next = safe_next(form.next.as_deref());
    let again = |status, error: &str| {
        let view = ForgotPage {
            csrf_token: String::new(),
            next: next.clone(),
            email: form.email.clone(),
            error: Some(error.to_string()),
        };
        forgot_page(&req, &state, status, view)
    };
    let email = match accounts::request_reset(&state, &form.email, ip).await {
        Ok(email) => email,
        Err(e @ RequestResetError::Email) => return again(StatusCode::BAD_REQUEST, &e.to_string()),
        Err(e @ RequestResetError::Throttled(_)) => {
            return again(StatusCode::TOO_MANY_REQUESTS, &e.to_string());
        }
        Err(RequestResetError::Store(e)) => return unavailable(e),
    };
    // The same page either way: nobody learns whether the address has an account.
    render(
        StatusCode::OK,
        &NoticePage {
            title: "Check your e-mail".into(),
            message: format!(
                "If an account uses {}, a link to choose a new password is on its way. It works once, for 30 minutes.",
                email.as_ref()
            ),
            link_href: Some(format!(
                "/login?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            )),
            link_text: "Back to sign-in".into(),
        },
        Vec::new(),
    )
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn link_dead() -> HttpResponse {
    render(
        StatusCode::NOT_FOUND,
        &NoticePage {
            title: "This link no longer works".into(),
            message: "Reset links work once, for 30 minutes. Ask for a new one.".into(),
            link_href: Some("/forgot-password".into()),
            link_text: "Send a new link".into(),
        },
        Vec::new(),
    )
}

fn reset_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    token: String,
    error: Option<String>,
) -> HttpResponse {
    let (csrf_token, cookie) = csrf::token_before_sign_in(req, state.config.issuer.is_https());
    render(
        status,
        &ResetPage {
            csrf_token,
            token,
            error,
        },
        cookie.into_iter().collect(),
    )
}

pub async fn reset_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    match state
        .db
        .email_token_live(&crypto::digest(&query.token), EmailPurpose::Reset)
        .await
    {
        Ok(true) => reset_page(&req, &state, StatusCode::OK, query.into_inner().token, None),
        Ok(false) => link_dead(),
        Err(e) => unavailable(e),
    }
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

impl CsrfProtected for ResetForm {
    const BINDING: CsrfBinding = CsrfBinding::BeforeSignIn;

    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }

    async fn expired(self, req: &HttpRequest, state: &AppState) -> HttpResponse {
        let error = Some(EXPIRED.into());
        reset_page(req, state, StatusCode::BAD_REQUEST, self.token, error)
    }
}

pub async fn reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm(form): CsrfForm<ResetForm>,
) -> HttpResponse {
    let again = |error: String| {
        reset_page(
            &req,
            &state,
            StatusCode::BAD_REQUEST,
            form.token.clone(),
            Some(error),
        )
    };
    let reset =
        accounts::reset_password(&state, &form.token, &form.password, &form.confirm, ip).await;
    match reset {
        Ok(_) => {}
        Err(e @ (ResetPasswordError::Policy(_) | ResetPasswordError::Mismatch)) => {
            return again(e.to_string());
        }
        Err(ResetPasswordError::LinkDead) => return link_dead(),
        Err(ResetPasswordError::Store(e)) => return unavailable(e),
        Err(ResetPasswordError::Hash(e)) => return unavailable(e),
    }
    render(
        StatusCode::OK,
        &NoticePage {
            title: "Password changed".into(),
            message: "Your new password is set. You were signed out everywhere; GPTs connected to your account will ask you to sign in again.".into(),
            link_href: Some("/login".into()),
            link_text: "Sign in".into(),
        },
        Vec::new(),
    )
}

/// The "this wasn't me" link mailed to the previous address: a page with one button, since a
/// GET must change nothing (mail scanners open links).
#[derive(Template)]
#[template(path = "secure_account.html")]
pub struct SecureAccountPage {
    pub csrf_token: String,
    pub token: String,
}

fn secure_link_dead() -> HttpResponse {
    render(
        StatusCode::NOT_FOUND,
        &NoticePage {
            title: "This link no longer works".into(),
            message: "This link was used already or has expired. If someone else has your password, reset it now.".into(),
            link_href: Some("/forgot-password".into()),
            link_text: "Reset the password".into(),
        },
        Vec::new(),
    )
}

pub async fn secure_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TokenQuery>,
) -> HttpResponse {
    match state
        .db
        .email_token_live(&crypto::digest(&query.token), EmailPurpose::Secure)
        .await
    {
        Ok(true) => {
            let (csrf_token, cookie) =
                csrf::token_before_sign_in(&req, state.config.issuer.is_https());
            render(
                StatusCode::OK,
                &SecureAccountPage {
                    csrf_token,
                    token: query.into_inner().token,
                },
                cookie.into_iter().collect(),
            )
        }
        Ok(false) => secure_link_dead(),
        Err(e) => unavailable(e),
    }
}

#[derive(Deserialize)]
pub struct SecureForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
}

/// `POST /secure-account`: cancels (or undoes) the change of address, signs the account out
/// everywhere, and mails a reset link to the address the notice went to.
impl CsrfProtected for SecureForm {
    const BINDING: CsrfBinding = CsrfBinding::BeforeSignIn;

    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

pub async fn secure(
    state: web::Data<AppState>,
    ClientIp(ip): ClientIp,
    CsrfForm(form): CsrfForm<SecureForm>,
) -> HttpResponse {
    let email = match accounts::secure_account(&state, &form.token, ip).await {
        Ok(email) => email,
        Err(SecureAccountError::LinkDead) => return secure_link_dead(),
        Err(SecureAccountError::Store(e)) => return unavailable(e),
    };
    render(
        StatusCode::OK,
        &NoticePage {
            title: "Your account is safe again".into(),
            message: format!(
                "The change of address is cancelled and everyone was signed out. A link to choose a new password is on its way to {}.",
                email
            ),
            link_href: None,
            link_text: String::new(),
        },
        Vec::new(),
    )
}

//! Proving an e-mail address: `GET /verify-email` (the mailed link), the page that waits for
//! it (`GET /verify-email/pending`) with "send again" (`POST /verify-email/resend`), and
//! `GET /confirm-email` for a new address.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::app::accounts::{self, ConfirmEmailError};
use crate::app::mail_links;
use crate::app::throttle;
use crate::crypto;
use crate::store::{AuditEvent, EmailPurpose, UserRecord};
use crate::web::csrf;
use crate::web::errors::unavailable;
use crate::web::extract::{ClientIp, CsrfProtected, SignedIn, SignedInForm};
use crate::web::pages::render::see_other;
use crate::web::pages::render::{NoticePage, render, safe_next};
use crate::web::state::AppState;

#[derive(Template)]
#[template(path = "verify_pending.html")]
pub struct PendingPage {
    pub csrf_token: String,
    pub email: String,
    pub next: String,
    pub client_name: Option<String>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    token: String,
    next: Option<String>,
}

fn notice(status: StatusCode, title: &str, message: &str, href: &str, text: &str) -> HttpResponse {
    render(
        status,
        &NoticePage {
            title: title.into(),
            message: message.into(),
            link_href: Some(href.into()),
            link_text: text.into(),
        },
        Vec::new(),
    )
}

/// The mailed link: the address is proven, whichever browser opens it.
pub async fn verify(state: web::Data<AppState>, query: web::Query<LinkQuery>) -> HttpResponse {
    let next = safe_next(query.next.as_deref());
    match state
        .db
        .spend_email_token(&crypto::digest(&query.token), EmailPurpose::Verify)
        .await
    {
        Ok(Some(spent)) => {
            if let Err(e) = state.db.mark_email_verified(spent.user_id).await {
                return unavailable(e);
            }
            state.audit.record(AuditEvent {
                user_id: Some(spent.user_id),
                ..AuditEvent::new(crate::domain::AuditKind::EmailVerified)
            });
            notice(
                StatusCode::OK,
                "E-mail address confirmed",
                "Thank you: your e-mail address is confirmed.",
                &next,
                "Continue",
            )
        }
        Ok(None) => notice(
            StatusCode::NOT_FOUND,
            "This link no longer works",
            "Confirmation links work once, for 24 hours. Sign in to get a new one.",
            "/account",
            "Go to your account",
        ),
        Err(e) => unavailable(e),
    }
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// "Check your mail", for a signed-in person whose address is not proven yet.
pub async fn pending(
    req: HttpRequest,
    state: web::Data<AppState>,
    SignedIn(user, ..): SignedIn,
    query: web::Query<NextQuery>,
) -> HttpResponse {
    let next = safe_next(query.next.as_deref());
    pending_page(&req, &state, user, next, None, None).await
}

async fn pending_page(
    req: &HttpRequest,
    state: &AppState,
    user: UserRecord,
    next: String,
    notice: Option<String>,
    error: Option<String>,
) -> HttpResponse {
    if user.email_verified_at.is_some() {
        return see_other(&next);
    }
    let client_name = crate::web::pages::render::client_name(state, &next).await;
    let (csrf_token, cookie) = csrf::token_for(req, state.config.issuer.is_https());
    let status = if error.is_some() {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::OK
    };
    render(
        status,
        &PendingPage {
            csrf_token,
            email: user.email,
            next,
            client_name,
            notice,
            error,
        },
        cookie.into_iter().collect(),
    )
}

#[derive(Deserialize)]
pub struct ResendForm {
    #[serde(default)]
    csrf_token: String,
    next: Option<String>,
}

impl CsrfProtected for ResendForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

pub async fn resend(
    req: HttpRequest,
    state: web::Data<AppState>,
    ClientIp(ip): ClientIp,
    form: SignedInForm<ResendForm>,
) -> HttpResponse {
    let SignedInForm { user, form, .. } = form;
    let next = safe_next(form.next.as_deref());
    if user.email_verified_at.is_some() {
        return see_other(&next);
    }
    let keys = throttle::Keys::mail(&user.email, ip.as_deref());
    match throttle::count(&state.db, &keys).await {
        Ok(throttle::Verdict::Go) => {}
        Ok(throttle::Verdict::Wait(wait)) => {
            let message = format!("Too many requests. Try again in {wait} seconds.");
            return pending_page(&req, &state, user, next, None, Some(message)).await;
        }
        Err(e) => return unavailable(e),
    }
    let client_name = crate::web::pages::render::client_name(&state, &next).await;
    if let Err(e) =
        mail_links::send_verification(&state, user.id, &user.email, client_name, Some(&next)).await
    {
        return unavailable(e);
    }
    pending_page(
        &req,
        &state,
        user,
        next,
        Some("A new link is on its way.".into()),
        None,
    )
    .await
}

/// The link mailed to a new address: the account moves to it; its `sub` stays.
pub async fn confirm_change(
    state: web::Data<AppState>,
    query: web::Query<LinkQuery>,
) -> HttpResponse {
    match accounts::confirm_email_change(&state, &query.token).await {
        Ok(_) => notice(
            StatusCode::OK,
            "E-mail address changed",
            "Your account now uses the new address. Sign in with it from now on.",
            "/account",
            "Go to your account",
        ),
        Err(e @ ConfirmEmailError::Taken) => notice(
            StatusCode::CONFLICT,
            "Address already in use",
            &e.to_string(),
            "/account",
            "Go to your account",
        ),
        Err(ConfirmEmailError::LinkDead) => notice(
            StatusCode::NOT_FOUND,
            "This link no longer works",
            "Confirmation links work once, for 24 hours. Ask for the change again from your account.",
            "/account",
            "Go to your account",
        ),
        Err(ConfirmEmailError::Store(e)) => unavailable(e),
    }
}

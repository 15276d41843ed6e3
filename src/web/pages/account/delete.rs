//! `POST /account/delete`: the person deletes their account, after their password and a typed
//! confirmation.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{Messages, Reauth, form_user, page, reauth_error, reauthenticate, with_retry_after};
use crate::store::{AuditEvent, UserRecord};
use crate::web::errors::unavailable;
use crate::web::extract::client_ip;
use crate::web::pages::render::{AccountDeletedPage, render};
use crate::web::session;
use crate::web::state::AppState;

/// What the person types to show they mean it (the page asks for exactly this).
const CONFIRMATION: &str = "DELETE";

/// No `Debug`: it holds a password. Fields default so that a missing CSRF token gets the
/// "form expired" page.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeleteForm {
    csrf_token: String,
    current_password: String,
    confirmation: String,
}

async fn again(
    req: &HttpRequest,
    state: &AppState,
    user: &UserRecord,
    status: StatusCode,
    error: String,
) -> HttpResponse {
    let messages = Messages {
        delete_error: Some(error),
        ..Default::default()
    };
    page(req, state, user, status, messages).await
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<DeleteForm>,
) -> HttpResponse {
    let user = match form_user(&req, &state, &form.csrf_token).await {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    // Checked before the password, so that a slip of the keyboard counts no failed sign-in.
    if form.confirmation.trim() != CONFIRMATION {
        let error = format!("To delete your account, type {CONFIRMATION} in capital letters.");
        return again(&req, &state, &user, StatusCode::BAD_REQUEST, error).await;
    }
    let outcome = match reauthenticate(
        &req,
        &state,
        &user,
        &form.current_password,
        crate::domain::AuditKind::AccountDeleteFailed,
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(e) => return unavailable(e),
    };
    if !matches!(outcome, Reauth::Confirmed) {
        let (status, error) = reauth_error(&outcome);
        let resp = again(&req, &state, &user, status, error).await;
        return with_retry_after(resp, &outcome);
    }
    match state.db.delete_account(user.id).await {
        // The audit trail outlives the account: its events keep the (never reused) user id.
        Ok(true) => state.audit.record(AuditEvent {
            user_id: Some(user.id),
            ip: client_ip(&req, &state),
            ..AuditEvent::new(crate::domain::AuditKind::AccountDeleted)
        }),
        // Deleted meanwhile, from another browser: the outcome the person asked for.
        Ok(false) => {}
        Err(e) => return unavailable(e),
    }
    // The session went with the account; this clears the browser's cookie.
    match session::end(&req, &state.db, state.config.issuer.is_https(), false).await {
        Ok(cookie) => render(StatusCode::OK, &AccountDeletedPage, vec![cookie]),
        Err(e) => unavailable(e),
    }
}

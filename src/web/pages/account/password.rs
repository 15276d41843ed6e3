//! `POST /account/password`: a new password, after the current one.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;

use super::{Messages, Reauth, form_user, page, reauth_error, reauthenticate, with_retry_after};
use crate::domain::{ParseError, Password};
use crate::store::{AuditEvent, UserRecord};
use crate::web::errors::unavailable;
use crate::web::pages::render::see_other;
use crate::web::session;
use crate::web::state::AppState;

/// No `Debug`: it holds passwords. Fields default so that a missing CSRF token gets the
/// "form expired" page.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    csrf_token: String,
    current_password: String,
    new_password: String,
    confirm_password: String,
}

#[derive(Debug, thiserror::Error)]
enum NewPasswordError {
    #[error("Choose another new password: {0}.")]
    Policy(#[from] ParseError),
    #[error("The new password and its confirmation are not the same.")]
    Mismatch,
}

/// The new password, checked against the same rules as at sign-up.
fn new_password(form: &PasswordForm) -> Result<Password, NewPasswordError> {
    let password = Password::parse(&form.new_password)?;
    if form.confirm_password != form.new_password {
        return Err(NewPasswordError::Mismatch);
    }
    Ok(password)
}

async fn again(
    req: &HttpRequest,
    state: &AppState,
    user: &UserRecord,
    status: StatusCode,
    error: String,
) -> HttpResponse {
    let messages = Messages {
        password_error: Some(error),
        ..Default::default()
    };
    page(req, state, user, status, messages).await
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<PasswordForm>,
) -> HttpResponse {
    let user = match form_user(&req, &state, &form.csrf_token).await {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    // The new password is checked first: it costs no hashing and counts no failure.
    let password = match new_password(&form) {
        Ok(p) => p,
        Err(e) => return again(&req, &state, &user, StatusCode::BAD_REQUEST, e.to_string()).await,
    };
    let outcome = match reauthenticate(
        &req,
        &state,
        &user,
        &form.current_password,
        crate::domain::AuditKind::PasswordChangeFailed,
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
    let hash = match state.hasher.hash(&password).await {
        Ok(h) => h,
        Err(e) => return unavailable(e),
    };
    match state.db.change_password(user.id, &hash).await {
        Ok(true) => {}
        // Deleted meanwhile, from another browser.
        Ok(false) => return see_other(super::SIGN_IN),
        Err(e) => return unavailable(e),
    }
    state.audit.record(AuditEvent {
        user_id: Some(user.id),
        ip: crate::web::extract::client_ip(&req, &state),
        ..AuditEvent::new(crate::domain::AuditKind::PasswordChanged)
    });
    // Every session ended with the change; this browser continues under a new session id.
    match session::start(&req, &state.db, user.id, state.config.issuer.is_https()).await {
        Ok(cookie) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/account?done=password"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(cookie)
            .finish(),
        Err(e) => unavailable(e),
    }
}

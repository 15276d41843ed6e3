//! `POST /account/password`: a new password, after the current one.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;

use super::{AccountForm, Messages, credential_refusal, page, with_retry_after};
use crate::app::accounts::{self, ChangePasswordError};
use crate::store::UserRecord;
use crate::web::errors::unavailable;
use crate::web::extract::{ClientIp, CsrfProtected, SignedInForm};
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

impl CsrfProtected for PasswordForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    ClientIp(ip): ClientIp,
    form: AccountForm<PasswordForm>,
) -> HttpResponse {
    let SignedInForm { user, form, .. } = form;
    let change = accounts::ChangePassword {
        current: &form.current_password,
        new: &form.new_password,
        confirm: &form.confirm_password,
        ip,
    };
    match accounts::change_password(&state, &user, change).await {
        Ok(()) => {}
        Err(ChangePasswordError::Credentials(e)) => {
            return match credential_refusal(e) {
                Ok((status, error, wait)) => {
                    with_retry_after(again(&req, &state, &user, status, error).await, wait)
                }
                Err(e) => unavailable(e),
            };
        }
        // Deleted meanwhile, from another browser.
        Err(ChangePasswordError::Gone) => return see_other(super::SIGN_IN),
        Err(ChangePasswordError::Store(e)) => return unavailable(e),
        Err(ChangePasswordError::Hash(e)) => return unavailable(e),
        Err(e @ (ChangePasswordError::Policy(_) | ChangePasswordError::Mismatch)) => {
            return again(&req, &state, &user, StatusCode::BAD_REQUEST, e.to_string()).await;
        }
    }
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

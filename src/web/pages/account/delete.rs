//! `POST /account/delete`: the person deletes their account, after their password and a typed
//! confirmation.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{AccountForm, Messages, credential_refusal, page, with_retry_after};
use crate::app::accounts::{self, DeleteAccountError};
use crate::store::UserRecord;
use crate::web::errors::unavailable;
use crate::web::extract::{ClientIp, CsrfProtected, SignedInForm};
use crate::web::pages::render::{AccountDeletedPage, render};
use crate::web::session;
use crate::web::state::AppState;

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

impl CsrfProtected for DeleteForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    ClientIp(ip): ClientIp,
    form: AccountForm<DeleteForm>,
) -> HttpResponse {
    let SignedInForm { user, form, .. } = form;
    let deleted = accounts::delete_account(
        &state,
        &user,
        &form.current_password,
        &form.confirmation,
        ip,
    )
    .await;
    match deleted {
        Ok(()) => {}
        Err(DeleteAccountError::Credentials(e)) => {
            return match credential_refusal(e) {
                Ok((status, error, wait)) => {
                    with_retry_after(again(&req, &state, &user, status, error).await, wait)
                }
                Err(e) => unavailable(e),
            };
        }
        Err(e @ DeleteAccountError::NotConfirmed) => {
            return again(&req, &state, &user, StatusCode::BAD_REQUEST, e.to_string()).await;
        }
        Err(DeleteAccountError::Store(e)) => return unavailable(e),
    }
    // The session went with the account; this clears the browser's cookie.
    match session::end(&req, &state.db, state.config.issuer.is_https(), false).await {
        Ok(cookie) => render(StatusCode::OK, &AccountDeletedPage, vec![cookie]),
        Err(e) => unavailable(e),
    }
}

//! `POST /account/delete`: the person deletes their account, after their password and a typed
//! confirmation.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{Messages, credential_refusal, form_user, page, with_retry_after};
use crate::app::accounts::{self, DeleteAccountError};
use crate::store::UserRecord;
use crate::web::errors::unavailable;
use crate::web::extract::client_ip;
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

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<DeleteForm>,
) -> HttpResponse {
    let user = match form_user(&req, &state, &form.csrf_token).await {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    let deleted = accounts::delete_account(
        &state,
        &user,
        &form.current_password,
        &form.confirmation,
        client_ip(&req, &state),
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

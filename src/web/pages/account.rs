//! `/account`: the signed-in person's profile, password, connected GPTs, and deleting the
//! account. Every form needs a session and a CSRF token; changing the password and deleting the
//! account also ask for the current password, checked exactly as `/login` checks it.

pub mod delete;
pub mod password;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::app::accounts::{self, ChangeEmailError, CredentialError, SetNameError};
use crate::store::{AuditEvent, UserRecord};
use crate::web::csrf;
use crate::web::errors::unavailable;
use crate::web::extract::client_ip;
use crate::web::pages::render::see_other;
use crate::web::pages::render::{AccountPage, ConnectionView, date, form_expired, render};
use crate::web::session;
use crate::web::state::AppState;

/// Where a form posted without a session sends the browser.
const SIGN_IN: &str = "/login?next=%2Faccount";

/// The signed-in user, or the answer to send instead.
async fn signed_in(req: &HttpRequest, state: &AppState) -> Result<UserRecord, HttpResponse> {
    match session::current_user(req, &state.db, state.config.issuer.is_https()).await {
        Ok(Some(u)) => Ok(u),
        Ok(None) => Err(see_other(SIGN_IN)),
        Err(e) => Err(unavailable(e)),
    }
}

/// The user posting an account form: the form's CSRF token is checked first (a forged form
/// learns nothing, not even whether a session exists), then the session.
async fn form_user(
    req: &HttpRequest,
    state: &AppState,
    csrf_token: &str,
) -> Result<UserRecord, HttpResponse> {
    if !csrf::verify(req, state.config.issuer.is_https(), csrf_token) {
        return Err(form_expired());
    }
    signed_in(req, state).await
}

/// What one rendering of the page says beside the account itself, each in its own section.
#[derive(Default)]
struct Messages {
    notice: Option<&'static str>,
    /// The name as typed, shown again when it was refused.
    typed_name: Option<String>,
    profile_error: Option<String>,
    password_error: Option<String>,
    delete_error: Option<String>,
    email_error: Option<String>,
}

async fn page(
    req: &HttpRequest,
    state: &AppState,
    user: &UserRecord,
    status: StatusCode,
    messages: Messages,
) -> HttpResponse {
    let connections = match state.db.connections(user.id).await {
        Ok(c) => c,
        Err(e) => return unavailable(e),
    };
    let (csrf_token, cookie) = csrf::token_for(req, state.config.issuer.is_https());
    render(
        status,
        &AccountPage {
            csrf_token,
            email: user.email.clone(),
            name: messages
                .typed_name
                .unwrap_or_else(|| user.name.clone().unwrap_or_default()),
            connections: connections
                .into_iter()
                .map(|c| ConnectionView {
                    client_id: c.client_id,
                    client_name: c.client_name,
                    scopes: c.scope,
                    connected: date(c.connected_at),
                    last_used: c.last_used_at.map(date).unwrap_or_else(|| "never".into()),
                })
                .collect(),
            notice: messages.notice,
            profile_error: messages.profile_error,
            password_error: messages.password_error,
            delete_error: messages.delete_error,
            email_verified: user.email_verified_at.is_some(),
            email_error: messages.email_error,
        },
        cookie.into_iter().collect(),
    )
}

#[derive(Deserialize)]
pub struct AccountQuery {
    /// Which form just succeeded (Post/Redirect/Get); only known values show a notice.
    done: Option<String>,
}

pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<AccountQuery>,
) -> HttpResponse {
    let user = match signed_in(&req, &state).await {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    let notice = match query.done.as_deref() {
        Some("profile") => Some("Your profile was saved."),
        Some("email") => Some(
            "We sent a confirmation link to the new address (and told the current one). Your \
             address changes once you open that link.",
        ),
        Some("verify") => Some("We sent a new confirmation link to your address."),
        Some("password") => Some(
            "Your password was changed. You were signed out on every other device, \
             and each connected GPT will ask you to sign in again.",
        ),
        _ => None,
    };
    let messages = Messages {
        notice,
        ..Default::default()
    };
    page(&req, &state, &user, StatusCode::OK, messages).await
}

#[derive(Deserialize)]
pub struct DisconnectForm {
    csrf_token: String,
    client_id: String,
}

pub async fn disconnect(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<DisconnectForm>,
) -> HttpResponse {
    let user = match form_user(&req, &state, &form.csrf_token).await {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    match state.db.disconnect(user.id, &form.client_id).await {
        Ok(true) => state.audit.record(AuditEvent {
            user_id: Some(user.id),
            client_id: Some(form.client_id.clone()),
            ..AuditEvent::new(crate::domain::AuditKind::ConsentWithdrawn)
        }),
        Ok(false) => {}
        Err(e) => return unavailable(e),
    }
    see_other("/account")
}

/// Every field defaults, so that a form without its CSRF token gets the "form expired" page
/// rather than an unreadable-form error.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ProfileForm {
    csrf_token: String,
    name: String,
}

pub async fn profile(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<ProfileForm>,
) -> HttpResponse {
    let user = match form_user(&req, &state, &form.csrf_token).await {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    match accounts::set_name(&state, &user, &form.name).await {
        Ok(()) => see_other("/account?done=profile"),
        Err(SetNameError::Name(e)) => {
            let messages = Messages {
                typed_name: Some(form.name.clone()),
                profile_error: Some(e.to_string()),
                ..Default::default()
            };
            page(&req, &state, &user, StatusCode::BAD_REQUEST, messages).await
        }
        Err(SetNameError::Store(e)) => unavailable(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailForm {
    csrf_token: String,
    new_email: String,
    current_password: String,
}

/// `POST /account/email`: mails a confirmation link to the new address and a notice to the
/// current one; the account moves when the link is opened. The current password is asked, as
/// the address is how the account is recovered.
pub async fn change_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<EmailForm>,
) -> HttpResponse {
    let user = match form_user(&req, &state, &form.csrf_token).await {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    let refuse = |status, message: String| {
        let messages = Messages {
            email_error: Some(message),
            ..Default::default()
        };
        page(&req, &state, &user, status, messages)
    };
    let requested = accounts::request_email_change(
        &state,
        &user,
        &form.new_email,
        &form.current_password,
        client_ip(&req, &state),
    )
    .await;
    match requested {
        Ok(()) => see_other("/account?done=email"),
        Err(ChangeEmailError::Credentials(e)) => match credential_refusal(e) {
            Ok((status, message, wait)) => with_retry_after(refuse(status, message).await, wait),
            Err(e) => unavailable(e),
        },
        Err(ChangeEmailError::Store(e)) => unavailable(e),
        Err(e @ (ChangeEmailError::Email(_) | ChangeEmailError::Same)) => {
            refuse(StatusCode::BAD_REQUEST, e.to_string()).await
        }
    }
}

/// The status and message of a re-authentication that did not confirm (with the seconds to
/// wait, when throttled), or the storage failure behind it.
fn credential_refusal(
    e: CredentialError,
) -> Result<(StatusCode, String, Option<i64>), crate::store::StoreError> {
    match e {
        CredentialError::Throttled(wait) => {
            Ok((StatusCode::TOO_MANY_REQUESTS, e.to_string(), Some(wait)))
        }
        CredentialError::Refused => Ok((StatusCode::UNAUTHORIZED, e.to_string(), None)),
        CredentialError::Store(e) => Err(e),
    }
}

/// Adds `Retry-After` to a throttled answer.
fn with_retry_after(mut resp: HttpResponse, wait: Option<i64>) -> HttpResponse {
    if let Some(wait) = wait
        && let Ok(v) = header::HeaderValue::from_str(&wait.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

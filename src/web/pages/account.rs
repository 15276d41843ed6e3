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
use crate::web::extract::{ClientIp, CsrfProtected, SignedIn, SignedInForm, ToAccount};
use crate::web::pages::render::see_other;
use crate::web::pages::render::{AccountPage, ConnectionView, date, render};
use crate::web::state::AppState;

/// An account form: its CSRF token, then the session (without one, sign in and come back).
pub type AccountForm<T> = SignedInForm<T, ToAccount>;

/// Where a form posted without a session sends the browser.
const SIGN_IN: &str = "/login?next=%2Faccount";

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
    SignedIn(user, ..): SignedIn<ToAccount>,
    query: web::Query<AccountQuery>,
) -> HttpResponse {
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

impl CsrfProtected for DisconnectForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

pub async fn disconnect(
    state: web::Data<AppState>,
    form: AccountForm<DisconnectForm>,
) -> HttpResponse {
    let SignedInForm { user, form, .. } = form;
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

impl CsrfProtected for ProfileForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

pub async fn profile(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: AccountForm<ProfileForm>,
) -> HttpResponse {
    let SignedInForm { user, form, .. } = form;
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
impl CsrfProtected for EmailForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

pub async fn change_email(
    req: HttpRequest,
    state: web::Data<AppState>,
    ClientIp(ip): ClientIp,
    form: AccountForm<EmailForm>,
) -> HttpResponse {
    let SignedInForm { user, form, .. } = form;
    let refuse = |status, message: String| {
        let messages = Messages {
            email_error: Some(message),
            ..Default::default()
        };
        page(&req, &state, &user, status, messages)
    };
    let requested =
        accounts::request_email_change(&state, &user, &form.new_email, &form.current_password, ip)
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

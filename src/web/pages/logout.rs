//! `POST /logout`: ends the browser session.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;

use crate::store::AuditEvent;
use crate::web::errors::unavailable;
use crate::web::extract::{CsrfForm, CsrfProtected, MaybeSignedIn};
use crate::web::session;
use crate::web::state::AppState;

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf_token: String,
    /// Any value: end every session of this user, on every device.
    everywhere: Option<String>,
}

impl CsrfProtected for LogoutForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    CsrfForm(form): CsrfForm<LogoutForm>,
    MaybeSignedIn(user): MaybeSignedIn,
) -> HttpResponse {
    if let Some(user) = user {
        state.audit.record(crate::store::AuditEvent {
            user_id: Some(user.id),
            ..AuditEvent::new(if form.everywhere.is_some() {
                crate::domain::AuditKind::LogoutEverywhere
            } else {
                crate::domain::AuditKind::Logout
            })
        });
    }
    match session::end(
        &req,
        &state.db,
        state.config.issuer.is_https(),
        form.everywhere.is_some(),
    )
    .await
    {
        Ok(cookie) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(cookie)
            .finish(),
        Err(e) => unavailable(e),
    }
}

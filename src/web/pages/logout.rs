//! `POST /logout`: ends the browser session.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;

use crate::store::AuditEvent;
use crate::web::csrf;
use crate::web::errors::unavailable;
use crate::web::pages::render::form_expired;
use crate::web::session;
use crate::web::state::AppState;

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf_token: String,
    /// Any value: end every session of this user, on every device.
    everywhere: Option<String>,
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LogoutForm>,
) -> HttpResponse {
    if !csrf::verify(&req, state.config.issuer.is_https(), &form.csrf_token) {
        return form_expired();
    }
    if let Ok(Some(user)) =
        session::current_user(&req, &state.db, state.config.issuer.is_https()).await
    {
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

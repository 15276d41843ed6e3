//! `/account`: the signed-in person's profile and the GPTs they have connected.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::authorize::unavailable;
use super::login::see_other;
use super::pages::{AccountPage, ConnectionView, form_expired, render};
use crate::auth::{csrf, session};
use crate::startup::AppState;
use crate::store::AuditEvent;

fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_default()
}

pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let user = match session::current_user(&req, &state.db).await {
        Ok(Some(u)) => u,
        Ok(None) => return see_other("/login?next=%2Faccount"),
        Err(e) => return unavailable(e),
    };
    let connections = match state.db.connections(user.id).await {
        Ok(c) => c,
        Err(e) => return unavailable(e),
    };
    let (csrf_token, cookie) = csrf::token_for(&req, state.config.issuer.is_https());
    render(
        StatusCode::OK,
        &AccountPage {
            csrf_token,
            email: user.email,
            name: user.name.unwrap_or_default(),
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
        },
        cookie.into_iter().collect(),
    )
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
    if !csrf::verify(&req, &form.csrf_token) {
        return form_expired();
    }
    let user = match session::current_user(&req, &state.db).await {
        Ok(Some(u)) => u,
        Ok(None) => return see_other("/login?next=%2Faccount"),
        Err(e) => return unavailable(e),
    };
    match state.db.disconnect(user.id, &form.client_id).await {
        Ok(true) => state.audit.record(AuditEvent {
            kind: "consent_withdrawn",
            user_id: Some(user.id),
            client_id: Some(form.client_id.clone()),
            ..Default::default()
        }),
        Ok(false) => {}
        Err(e) => return unavailable(e),
    }
    see_other("/account")
}

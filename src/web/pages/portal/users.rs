//! `/portal/users`: administrators grant and withdraw the builder role.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::{builder, date};
use crate::store::{AuditEvent, UserRecord};
use crate::web::csrf;
use crate::web::errors::unavailable;
use crate::web::pages::render::see_other;
use crate::web::pages::render::{error_page, form_expired, render};
use crate::web::state::AppState;

pub struct UserRow {
    pub id: String,
    pub email: String,
    pub since: String,
    pub is_admin: bool,
    pub is_builder: bool,
    pub disabled: bool,
}

#[derive(Template)]
#[template(path = "portal/users.html")]
pub struct UsersPage {
    pub csrf_token: String,
    pub users: Vec<UserRow>,
}

/// The signed-in administrator, or the response that turns the request away.
async fn admin(req: &HttpRequest, state: &AppState) -> Result<UserRecord, HttpResponse> {
    let user = builder(req, state).await?;
    if user.is_admin {
        Ok(user)
    } else {
        Err(error_page(
            StatusCode::FORBIDDEN,
            "For administrators",
            "Only an administrator can manage who builds clients.".into(),
        ))
    }
}

pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(resp) = admin(&req, &state).await {
        return resp;
    }
    let users = match state.db.list_users().await {
        Ok(u) => u,
        Err(e) => return unavailable(e),
    };
    let (csrf_token, cookie) = csrf::token_for(&req, state.config.issuer.is_https());
    render(
        StatusCode::OK,
        &UsersPage {
            csrf_token,
            users: users
                .into_iter()
                .map(|u| UserRow {
                    id: u.id.to_string(),
                    since: date(u.created_at),
                    is_admin: u.is_admin,
                    is_builder: u.is_builder,
                    disabled: u.disabled_at.is_some(),
                    email: u.email,
                })
                .collect(),
        },
        cookie.into_iter().collect(),
    )
}

#[derive(Deserialize)]
pub struct RoleForm {
    csrf_token: String,
    user_id: String,
    /// `grant` or `withdraw`.
    action: String,
}

pub async fn set_role(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<RoleForm>,
) -> HttpResponse {
    let me = match admin(&req, &state).await {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    if !csrf::verify(&req, state.config.issuer.is_https(), &form.csrf_token) {
        return form_expired();
    }
    let builder = match form.action.as_str() {
        "grant" => true,
        "withdraw" => false,
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Invalid choice",
                "Grant or withdraw the builder role.".into(),
            );
        }
    };
    let Ok(user_id) = Uuid::parse_str(&form.user_id) else {
        return error_page(
            StatusCode::NOT_FOUND,
            "No such user",
            "There is no such user.".into(),
        );
    };
    match state.db.set_builder(user_id, builder).await {
        Ok(true) => {}
        Ok(false) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "No such user",
                "There is no such user.".into(),
            );
        }
        Err(e) => return unavailable(e),
    }
    state.audit.record(AuditEvent {
        user_id: Some(user_id),
        detail: Some(format!("by {}", me.id)),
        ..AuditEvent::new(if builder {
            crate::domain::AuditKind::BuilderRoleGranted
        } else {
            crate::domain::AuditKind::BuilderRoleWithdrawn
        })
    });
    see_other("/portal/users")
}

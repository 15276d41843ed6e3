//! `/portal/users`: administrators grant and withdraw the builder role.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::date;
use crate::store::AuditEvent;
use crate::web::csrf;
use crate::web::errors::unavailable;
use crate::web::extract::{Admin, CsrfForm, CsrfProtected};
use crate::web::pages::render::see_other;
use crate::web::pages::render::{error_page, render};
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

pub async fn list(req: HttpRequest, state: web::Data<AppState>, _: Admin) -> HttpResponse {
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

impl CsrfProtected for RoleForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `Admin` comes first: the guard already looked the user up, so it answers before the form
/// is read (a builder's forged form gets the 403 page, as before the extractors).
pub async fn set_role(
    state: web::Data<AppState>,
    Admin(me): Admin,
    CsrfForm(form): CsrfForm<RoleForm>,
) -> HttpResponse {
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

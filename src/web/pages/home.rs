//! `GET /`: who is signed in, with a sign-out button.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::web::csrf;
use crate::web::errors::unavailable;
use crate::web::pages::render::{HomePage, render};
use crate::web::session;
use crate::web::state::AppState;

pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let user = match session::current_user(&req, &state.db, state.config.issuer.is_https()).await {
        Ok(u) => u,
        Err(e) => return unavailable(e),
    };
    let (csrf_token, cookie) = csrf::token_for(&req, state.config.issuer.is_https());
    render(
        StatusCode::OK,
        &HomePage {
            csrf_token,
            user_email: user.map(|u| u.email),
        },
        cookie.into_iter().collect(),
    )
}

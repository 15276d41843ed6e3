//! `POST /logout`: ends the browser session.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;

use super::authorize::unavailable;
use super::pages::error_page;
use crate::auth::{csrf, session};
use crate::startup::AppState;

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf_token: String,
}

pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LogoutForm>,
) -> HttpResponse {
    if !csrf::verify(&req, &form.csrf_token) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Form expired",
            "This form has expired. Reload the page and try again.".into(),
        );
    }
    match session::end(&req, &state.db, state.config.issuer.is_https()).await {
        Ok(cookie) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/"))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(cookie)
            .finish(),
        Err(e) => unavailable(e),
    }
}

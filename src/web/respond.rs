//! Turning a template or an outcome into a response: pages, error pages, redirects.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, http::header};
use askama::Template;

/// Renders a page with `Cache-Control: no-store` (login, consent and errors carry
/// request-specific data) and any cookies to set.
pub fn render(
    status: StatusCode,
    page: &impl Template,
    cookies: Vec<Cookie<'static>>,
) -> HttpResponse {
    match page.render() {
        Ok(html) => {
            let mut resp = HttpResponse::build(status);
            resp.insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
                .insert_header((header::CACHE_CONTROL, "no-store"));
            for c in cookies {
                resp.cookie(c);
            }
            resp.body(html)
        }
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            HttpResponse::InternalServerError()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body("internal error")
        }
    }
}

/// An error page: never a redirect, so an unverified client or URI cannot receive anything.
pub fn error_page(status: StatusCode, title: &str, message: String) -> HttpResponse {
    render(
        status,
        &ErrorPage {
            title: title.to_string(),
            message,
            tried: None,
        },
        Vec::new(),
    )
}

/// A form whose CSRF token did not match (stale page, or a forgery).
pub fn form_expired() -> HttpResponse {
    error_page(
        StatusCode::BAD_REQUEST,
        "Form expired",
        "This form has expired. Reload the page and try again.".into(),
    )
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
    /// The redirect URI that was tried, shown so a builder can register it.
    pub tried: Option<String>,
}

/// A `303 See Other` to `location`, never cached.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

//! How the edge answers what went wrong, for pages and JSON alike.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

use super::respond as render;

/// A form that could not be read (missing field, bad encoding, too large): a page, not a bare
/// text error.
pub fn bad_form(err: &actix_web::error::UrlencodedError) -> HttpResponse {
    tracing::info!(error = %err, "unreadable form");
    render::error_page(
        StatusCode::BAD_REQUEST,
        "Invalid form",
        "The form could not be read. Go back, reload the page and try again.".into(),
    )
}

/// A query string that could not be read.
pub fn bad_query(err: &actix_web::error::QueryPayloadError) -> HttpResponse {
    tracing::info!(error = %err, "unreadable query string");
    render::error_page(
        StatusCode::BAD_REQUEST,
        "Invalid request",
        "The address could not be read.".into(),
    )
}

/// The page for a storage failure: logged, and the person is asked to try again.
pub fn unavailable(e: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "storage failed");
    render::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "The sign-in service could not reach its database. Please try again in a moment.".into(),
    )
}

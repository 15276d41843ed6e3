//! Bearer tokens in the `Authorization` header (RFC 6750 §2.1). Refusing them (§3) is
//! `web::errors::ApiError::Bearer`'s.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};

/// The token of an `Authorization: Bearer …` header; the scheme is case-insensitive.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A refusal with its `WWW-Authenticate` challenge, as registration's management endpoint
/// (RFC 7592 §3) answers it; the endpoints of this area answer with `web::errors::ApiError`.
pub fn refuse(status: StatusCode, challenge: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::WWW_AUTHENTICATE, challenge.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

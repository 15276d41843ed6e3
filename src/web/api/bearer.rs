//! Bearer tokens in the `Authorization` header (RFC 6750 §2.1). Refusing them (§3) is
//! `web::errors::ApiError::Bearer`'s.

use actix_web::HttpRequest;
use actix_web::http::header;

/// The token of an `Authorization: Bearer …` header; the scheme is case-insensitive.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

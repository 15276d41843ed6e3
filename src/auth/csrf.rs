//! CSRF protection for every form: a random token in an HttpOnly, SameSite=Strict cookie that the
//! form must echo in a hidden `csrf_token` field (double submit), compared in constant time.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};

use crate::crypto;

pub const COOKIE: &str = "gptauth_csrf";

/// The token to embed in a form, and the cookie to set when the browser has none yet.
pub fn token_for(req: &HttpRequest, secure: bool) -> (String, Option<Cookie<'static>>) {
    if let Some(existing) = req.cookie(COOKIE).filter(|c| c.value().len() == 43) {
        return (existing.value().to_string(), None);
    }
    let token = crypto::random_token();
    let cookie = Cookie::build(COOKIE, token.clone())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .finish();
    (token, Some(cookie))
}

/// Whether the submitted form token matches the browser's cookie.
pub fn verify(req: &HttpRequest, submitted: &str) -> bool {
    match req.cookie(COOKIE) {
        Some(cookie) if cookie.value().len() == 43 => {
            crypto::constant_time_eq(cookie.value().as_bytes(), submitted.as_bytes())
        }
        _ => false,
    }
}

//! CSRF protection for every form: a random nonce in an HttpOnly, SameSite=Strict cookie, and a
//! hidden `csrf_token` field the form must echo, compared in constant time. The forms of a
//! signed-in person (`token_for` / `verify`) carry a token bound to the session (a digest of the
//! nonce and the session's secret), so a nonce planted by someone else (a sibling subdomain, say)
//! yields no token they could know; the forms that come before a session (sign-in, sign-up,
//! recovery: `token_before_sign_in` / `verify_before_sign_in`) echo the nonce, so a session that
//! starts or changes in another tab does not spoil them. Under an https issuer the cookies carry
//! the `__Host-` prefix, so they cannot be planted at all.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};

use super::cookies::cookie_name;
use super::session;
use crate::crypto;

pub const COOKIE: &str = "gptauth_csrf";

/// A cookie value of ours: 43 characters of URL-safe base64 (256 bits).
fn well_formed(value: &str) -> bool {
    value.len() == 43
}

/// The form token for a nonce, on a request with or without a session.
fn token(nonce: &str, session: Option<&str>) -> String {
    match session {
        // Domain-separated, so the token is neither the session's secret nor its stored digest.
        Some(session) => crypto::digest(&format!("csrf\0{nonce}\0{session}")),
        None => nonce.to_string(),
    }
}

/// The token to embed in a signed-in person's form, and the cookie to set when the browser has
/// none yet.
pub fn token_for(req: &HttpRequest, secure: bool) -> (String, Option<Cookie<'static>>) {
    issue(req, secure, session::cookie_value(req, secure))
}

/// The token to embed in a form that comes before a session (see the module's comment).
pub fn token_before_sign_in(req: &HttpRequest, secure: bool) -> (String, Option<Cookie<'static>>) {
    issue(req, secure, None)
}

fn issue(
    req: &HttpRequest,
    secure: bool,
    session: Option<String>,
) -> (String, Option<Cookie<'static>>) {
    if let Some(existing) = req
        .cookie(&cookie_name(COOKIE, secure))
        .filter(|c| well_formed(c.value()))
    {
        return (token(existing.value(), session.as_deref()), None);
    }
    let nonce = crypto::random_token();
    let cookie = Cookie::build(cookie_name(COOKIE, secure), nonce.clone())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .finish();
    (token(&nonce, session.as_deref()), Some(cookie))
}

/// Whether the submitted token of a signed-in person's form matches the browser's cookies.
pub fn verify(req: &HttpRequest, secure: bool, submitted: &str) -> bool {
    check(req, secure, session::cookie_value(req, secure), submitted)
}

/// Whether the submitted token of a form before a session matches the browser's nonce.
pub fn verify_before_sign_in(req: &HttpRequest, secure: bool, submitted: &str) -> bool {
    check(req, secure, None, submitted)
}

fn check(req: &HttpRequest, secure: bool, session: Option<String>, submitted: &str) -> bool {
    match req.cookie(&cookie_name(COOKIE, secure)) {
        Some(nonce) if well_formed(nonce.value()) => {
            let expected = token(nonce.value(), session.as_deref());
            crypto::constant_time_eq(expected.as_bytes(), submitted.as_bytes())
        }
        _ => false,
    }
}

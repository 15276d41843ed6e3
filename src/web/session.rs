//! The session cookie: it carries the token of an `app::sessions` session.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};

use super::cookies::cookie_name;
use crate::app::sessions::{self, LIFETIME_SECONDS};
use crate::store::{Db, SessionRecord, StoreError, UserRecord};

pub const COOKIE: &str = "gptauth_session";

/// The session cookie's value on this request, if well formed (live or not).
pub(super) fn cookie_value(req: &HttpRequest, secure: bool) -> Option<String> {
    req.cookie(&cookie_name(COOKIE, secure))
        .filter(|c| c.value().len() == 43)
        .map(|c| c.value().to_string())
}

/// The user signed in on this request, if any.
pub async fn current_user(
    req: &HttpRequest,
    db: &Db,
    secure: bool,
) -> Result<Option<UserRecord>, StoreError> {
    match cookie_value(req, secure) {
        Some(token) => sessions::user(db, &token).await,
        None => Ok(None),
    }
}

/// The live session on this request, with its user and sign-in time.
pub async fn current(
    req: &HttpRequest,
    db: &Db,
    secure: bool,
) -> Result<Option<SessionRecord>, StoreError> {
    match cookie_value(req, secure) {
        Some(token) => sessions::find(db, &token).await,
        None => Ok(None),
    }
}

/// Starts a fresh session (any session the browser had before is ended) and returns the
/// cookie to set.
pub async fn start(
    req: &HttpRequest,
    db: &Db,
    user_id: uuid::Uuid,
    secure: bool,
) -> Result<Cookie<'static>, StoreError> {
    let previous = cookie_value(req, secure);
    let token = sessions::start(db, previous.as_deref(), user_id).await?;
    Ok(cookie(
        token,
        secure,
        CookieDuration::seconds(LIFETIME_SECONDS),
    ))
}

/// Ends the session on this request (or, with `everywhere`, every session of its user) and
/// returns a cookie that clears it.
pub async fn end(
    req: &HttpRequest,
    db: &Db,
    secure: bool,
    everywhere: bool,
) -> Result<Cookie<'static>, StoreError> {
    if let Some(token) = cookie_value(req, secure) {
        sessions::end(db, &token, everywhere).await?;
    }
    Ok(cookie(String::new(), secure, CookieDuration::ZERO))
}

fn cookie(value: String, secure: bool, max_age: CookieDuration) -> Cookie<'static> {
    Cookie::build(cookie_name(COOKIE, secure), value)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(max_age)
        .finish()
}

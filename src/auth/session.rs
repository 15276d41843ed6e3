//! Browser sessions: a random cookie whose SHA-256 is stored server-side, with an absolute and
//! an idle lifetime.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};

use super::cookie_name;
use crate::crypto;
use crate::store::{Db, SessionRecord, StoreError, UserRecord};

pub const COOKIE: &str = "gptauth_session";
/// Absolute lifetime of a browser session.
pub const LIFETIME_SECONDS: i64 = 30 * 24 * 3600;
/// A session unused this long is over.
pub const IDLE_SECONDS: i64 = 7 * 24 * 3600;

/// The session cookie's value on this request, if well formed (live or not).
pub(super) fn cookie_value(req: &HttpRequest, secure: bool) -> Option<String> {
    req.cookie(&cookie_name(COOKIE, secure))
        .filter(|c| c.value().len() == 43)
        .map(|c| c.value().to_string())
}

fn cookie_digest(req: &HttpRequest, secure: bool) -> Option<String> {
    cookie_value(req, secure).map(|v| crypto::digest(&v))
}

/// The user signed in on this request, if any.
pub async fn current_user(
    req: &HttpRequest,
    db: &Db,
    secure: bool,
) -> Result<Option<UserRecord>, StoreError> {
    match cookie_digest(req, secure) {
        Some(digest) => db.session_user(&digest, IDLE_SECONDS).await,
        None => Ok(None),
    }
}

/// The live session on this request, with its user and sign-in time.
pub async fn current(
    req: &HttpRequest,
    db: &Db,
    secure: bool,
) -> Result<Option<SessionRecord>, StoreError> {
    match cookie_digest(req, secure) {
        Some(digest) => db.session(&digest, IDLE_SECONDS).await,
        None => Ok(None),
    }
}

/// Starts a fresh session (a new id at every sign-in; any session the browser had before is
/// ended) and returns the cookie to set.
pub async fn start(
    req: &HttpRequest,
    db: &Db,
    user_id: uuid::Uuid,
    secure: bool,
) -> Result<Cookie<'static>, StoreError> {
    if let Some(previous) = cookie_digest(req, secure) {
        db.delete_session(&previous).await?;
    }
    let value = crypto::random_token();
    db.insert_session(
        &crypto::digest(&value),
        user_id,
        crate::store::now() + LIFETIME_SECONDS,
    )
    .await?;
    Ok(cookie(
        value,
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
    if let Some(digest) = cookie_digest(req, secure) {
        let user = if everywhere {
            db.session_user(&digest, IDLE_SECONDS).await?
        } else {
            None
        };
        if let Some(user) = user {
            db.delete_user_sessions(user.id).await?;
        }
        db.delete_session(&digest).await?;
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

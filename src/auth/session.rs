//! Browser sessions: a random cookie whose SHA-256 is stored server-side.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};

use crate::crypto;
use crate::store::{Db, StoreError, UserRecord};

pub const COOKIE: &str = "gptauth_session";
/// Absolute lifetime of a browser session.
pub const LIFETIME_SECONDS: i64 = 14 * 24 * 3600;

/// The user signed in on this request, if any.
pub async fn current_user(req: &HttpRequest, db: &Db) -> Result<Option<UserRecord>, StoreError> {
    let Some(cookie) = req.cookie(COOKIE) else {
        return Ok(None);
    };
    if cookie.value().len() != 43 {
        return Ok(None);
    }
    db.session_user(&crypto::digest(cookie.value())).await
}

/// Starts a session and returns the cookie to set.
pub async fn start(
    db: &Db,
    user_id: uuid::Uuid,
    secure: bool,
) -> Result<Cookie<'static>, StoreError> {
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

/// Ends the session on this request (if any) and returns a cookie that clears it.
pub async fn end(req: &HttpRequest, db: &Db, secure: bool) -> Result<Cookie<'static>, StoreError> {
    if let Some(c) = req.cookie(COOKIE) {
        db.delete_session(&crypto::digest(c.value())).await?;
    }
    Ok(cookie(String::new(), secure, CookieDuration::ZERO))
}

fn cookie(value: String, secure: bool, max_age: CookieDuration) -> Cookie<'static> {
    Cookie::build(COOKIE, value)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(max_age)
        .finish()
}

//! Device cookies (OWASP: "Slow down online guessing attacks with device cookies"): a browser
//! where an account signed in successfully gets a long-lived random cookie; the next sign-in to
//! that account from it is throttled on the device's own counter instead of the account's, so
//! that someone guessing the password (and locking the account) does not lock its owner out.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use uuid::Uuid;

use super::cookies::cookie_name;
use crate::crypto;
use crate::store::{Db, StoreError};

pub const COOKIE: &str = "gptauth_device";
/// A device stays known for a year after its last successful sign-in.
pub const LIFETIME_SECONDS: i64 = 365 * 24 * 3600;

/// The digest of the device cookie this browser sent, if any.
pub fn digest(req: &HttpRequest, secure: bool) -> Option<String> {
    req.cookie(&cookie_name(COOKIE, secure))
        .filter(|c| c.value().len() == 43)
        .map(|c| crypto::digest(c.value()))
}

/// Remembers this browser for `user_id` after a successful sign-in; the cookie to set.
pub async fn remember(db: &Db, user_id: Uuid, secure: bool) -> Result<Cookie<'static>, StoreError> {
    let value = crypto::random_token();
    db.insert_known_device(
        &crypto::digest(&value),
        user_id,
        db.now() + LIFETIME_SECONDS,
    )
    .await?;
    Ok(Cookie::build(cookie_name(COOKIE, secure), value)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(LIFETIME_SECONDS))
        .finish())
}

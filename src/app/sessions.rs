//! Browser sessions: a random token whose SHA-256 is stored server-side, with an absolute and
//! an idle lifetime. The web edge carries the token in a cookie (`web::session`).

use uuid::Uuid;

use crate::crypto;
use crate::store::{Db, SessionRecord, StoreError, UserRecord};

/// Absolute lifetime of a browser session.
pub const LIFETIME_SECONDS: i64 = 30 * 24 * 3600;
/// A session unused this long is over.
pub const IDLE_SECONDS: i64 = 7 * 24 * 3600;

/// The user of the live session `token` names, if any.
pub async fn user(db: &Db, token: &str) -> Result<Option<UserRecord>, StoreError> {
    db.session_user(&crypto::digest(token), IDLE_SECONDS).await
}

/// The live session `token` names, with its user and sign-in time.
pub async fn find(db: &Db, token: &str) -> Result<Option<SessionRecord>, StoreError> {
    db.session(&crypto::digest(token), IDLE_SECONDS).await
}

/// Starts a fresh session for `user_id` (a new token at every sign-in; the `previous` session
/// of the browser, if any, is ended) and returns its token.
pub async fn start(db: &Db, previous: Option<&str>, user_id: Uuid) -> Result<String, StoreError> {
    if let Some(previous) = previous {
        db.delete_session(&crypto::digest(previous)).await?;
    }
    let token = crypto::random_token();
    db.insert_session(
        &crypto::digest(&token),
        user_id,
        db.now() + LIFETIME_SECONDS,
    )
    .await?;
    Ok(token)
}

/// Ends the session `token` names, or with `everywhere` every session of its user.
pub async fn end(db: &Db, token: &str, everywhere: bool) -> Result<(), StoreError> {
    let digest = crypto::digest(token);
    if everywhere && let Some(user) = db.session_user(&digest, IDLE_SECONDS).await? {
        db.delete_user_sessions(user.id).await?;
    }
    db.delete_session(&digest).await
}

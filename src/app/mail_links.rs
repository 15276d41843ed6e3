//! The links mailed to people: one random token each, stored as its SHA-256 with a purpose and
//! an expiry, spent once.

use uuid::Uuid;

use super::App;
use crate::config::Issuer;
use crate::crypto;
use crate::mail::{ChangeNotice, ConfirmNewAddress, ResetPassword, VerifyEmail};
use crate::store::{Db, EmailPurpose, StoreError};

/// A verification link lasts a day; a reset link half an hour (it is as good as a password).
pub const VERIFY_SECONDS: i64 = 24 * 3600;
pub const RESET_SECONDS: i64 = 30 * 60;
/// A "this wasn't me" link outlives the change it cancels, so the owner can undo a change that
/// was confirmed while they were away.
pub const SECURE_SECONDS: i64 = 7 * 24 * 3600;

async fn link(
    db: &Db,
    issuer: &Issuer,
    user_id: Uuid,
    purpose: EmailPurpose,
    new_email: Option<&str>,
    path: &str,
    ttl: i64,
) -> Result<String, StoreError> {
    let token = crypto::random_token();
    db.insert_email_token(
        &crypto::digest(&token),
        user_id,
        purpose,
        new_email,
        db.now() + ttl,
    )
    .await?;
    Ok(issuer.url(&format!("{path}?token={token}")))
}

/// Mails a link that proves `email` is the user's; `next` (a safe local path) is where the
/// verification page offers to continue, e.g. the authorization that asked for it.
pub async fn send_verification(
    state: &App,
    user_id: Uuid,
    email: &str,
    client_name: Option<String>,
    next: Option<&str>,
) -> Result<(), StoreError> {
    let mut url = link(
        &state.db,
        &state.config.issuer,
        user_id,
        EmailPurpose::Verify,
        None,
        "/verify-email",
        VERIFY_SECONDS,
    )
    .await?;
    if let Some(next) = next {
        let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
        url = format!("{url}&next={next}");
    }
    state.mailer.send(
        email,
        VerifyEmail {
            link: url,
            client_name,
        }
        .build(),
    );
    Ok(())
}

/// A password reset link, for mailing or for an operator to hand over.
pub async fn reset_link(db: &Db, issuer: &Issuer, user_id: Uuid) -> Result<String, StoreError> {
    link(
        db,
        issuer,
        user_id,
        EmailPurpose::Reset,
        None,
        "/reset-password",
        RESET_SECONDS,
    )
    .await
}

pub async fn send_reset(state: &App, user_id: Uuid, email: &str) -> Result<(), StoreError> {
    let url = reset_link(&state.db, &state.config.issuer, user_id).await?;
    state
        .mailer
        .send(email, ResetPassword { link: url }.build());
    Ok(())
}

/// A confirmation to the new address, and a notice to the old one.
pub async fn send_change(
    state: &App,
    user_id: Uuid,
    old_email: &str,
    new_email: &str,
) -> Result<(), StoreError> {
    let url = link(
        &state.db,
        &state.config.issuer,
        user_id,
        EmailPurpose::Change,
        Some(new_email),
        "/confirm-email",
        VERIFY_SECONDS,
    )
    .await?;
    state.mailer.send(
        new_email,
        ConfirmNewAddress {
            link: url,
            new_email: new_email.to_string(),
        }
        .build(),
    );
    // The previous address is sent a way back: the request proves only the password.
    let secure_link = link(
        &state.db,
        &state.config.issuer,
        user_id,
        EmailPurpose::Secure,
        Some(old_email),
        "/secure-account",
        SECURE_SECONDS,
    )
    .await?;
    state.mailer.send(
        old_email,
        ChangeNotice {
            new_email: new_email.to_string(),
            secure_link,
        }
        .build(),
    );
    Ok(())
}

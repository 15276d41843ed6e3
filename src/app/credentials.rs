//! Checking an e-mail and password: the one rule behind `/login` and every re-authentication
//! on `/account`. The attempt is counted before the password is hashed (`throttle::begin`), so
//! parallel guesses cost at most what the policy allows; a browser where the account signed in
//! before is throttled on its own counter (`device`); an unknown account is hashed against a
//! dummy, so that neither timing nor answers tell whether it exists.

use uuid::Uuid;

use super::hasher::PasswordHasher;
use super::throttle::{self, Keys, Verdict};
use crate::audit::Audit;
use crate::domain::{Email, Password};
use crate::store::{AuditEvent, Db, StoreError, UserRecord};

/// One attempt to prove who one is with a password.
pub struct Attempt<'a> {
    /// The address as typed.
    pub email: &'a str,
    pub password: &'a str,
    pub ip: Option<String>,
    /// The digest of the browser's device cookie, if it sent one (see `device`).
    pub device: Option<String>,
    /// The audit event of a wrong password (`login_failed`, `password_change_failed`, …).
    pub failed_event: crate::domain::AuditKind,
    /// The account the audit events name: none for a sign-in (the address typed may be a typo
    /// of someone else's), the session's user for a re-authentication.
    pub audit_user: Option<Uuid>,
}

/// What the attempt came to.
pub enum Outcome {
    Verified(UserRecord),
    /// Too many recent failures: try again after this many seconds.
    Throttled(i64),
    /// Wrong e-mail or password (or a disabled account): the same answer for each.
    Refused,
}

pub async fn check(
    db: &Db,
    hasher: &PasswordHasher,
    audit: &Audit,
    attempt: Attempt<'_>,
) -> Result<Outcome, StoreError> {
    let user = match Email::parse(attempt.email) {
        Ok(email) => db
            .user_by_email(email.as_ref())
            .await?
            .filter(|u| u.disabled_at.is_none()),
        Err(_) => None,
    };
    let user_id = user.as_ref().map(|u| u.id);
    let known_device = match (&attempt.device, user_id) {
        (Some(device), Some(id)) if db.is_known_device(device, id).await? => Some(device),
        _ => None,
    };
    let keys = match known_device {
        Some(device) => Keys::known_device(device, attempt.ip.as_deref()),
        None => Keys::new(attempt.email, attempt.ip.as_deref()),
    };
    if let Verdict::Wait(wait) = throttle::begin(db, &keys).await? {
        audit.record(AuditEvent {
            user_id: attempt.audit_user,
            ip: attempt.ip,
            ..AuditEvent::new(crate::domain::AuditKind::LoginThrottled)
        });
        return Ok(Outcome::Throttled(wait));
    }
    let verified = match Password::for_login(attempt.password) {
        // Always hash (a dummy when there is no such account), so that timing reveals nothing.
        Some(pw) => {
            hasher
                .verify(user.as_ref().map(|u| u.password_hash.clone()), &pw)
                .await
        }
        None => false,
    };
    if let Some(user) = user.filter(|_| verified) {
        throttle::succeeded(db, &keys).await?;
        return Ok(Outcome::Verified(user));
    }
    let locked = throttle::failed(db, &keys).await?;
    audit.record(AuditEvent {
        user_id: attempt.audit_user,
        ip: attempt.ip.clone(),
        ..AuditEvent::new(attempt.failed_event)
    });
    for key in locked {
        audit.record(AuditEvent {
            user_id: attempt.audit_user,
            ip: attempt.ip.clone(),
            detail: Some(
                if key.starts_with("ip:") {
                    "address"
                } else if key.starts_with("device:") {
                    "device"
                } else {
                    "account"
                }
                .into(),
            ),
            ..AuditEvent::new(crate::domain::AuditKind::LoginLocked)
        });
    }
    Ok(Outcome::Refused)
}

//! The end user's account, one function per use case: sign up, prove who one is with a password
//! (`verify_password`, behind `/login` and every re-authentication on `/account`), change or
//! reset the password, change the e-mail address, secure the account from a "this wasn't me"
//! link, and delete it. Each records its own audit event; each returns a typed error whose
//! message is what the person may be told (storage and hashing failures aside).
//!
//! The password check counts the attempt before the password is hashed (`throttle::begin`), so
//! parallel guesses cost at most what the policy allows; a browser where the account signed in
//! before is throttled on its own counter (`device`); an unknown account is hashed against a
//! dummy, so that neither timing nor answers tell whether it exists.

use uuid::Uuid;

use super::App;
use super::hasher::HashError;
use super::mail_links;
use super::throttle::{self, Keys, Verdict};
use crate::crypto;
use crate::domain::{AuditKind, DisplayName, Email, NameTooLong, ParseError, Password};
use crate::store::{AuditEvent, NewUser, StoreError, UserRecord};

/// What `/login` says about a wrong password; a re-authentication says the same.
pub const WRONG_PASSWORD: &str = "Incorrect e-mail or password.";

/// One attempt to prove who one is with a password.
pub struct Attempt<'a> {
    /// The address as typed.
    pub email: &'a str,
    pub password: &'a str,
    pub ip: Option<String>,
    /// The digest of the browser's device cookie, if it sent one (see `web::device`).
    pub device: Option<String>,
    /// The audit event of a wrong password (`login_failed`, `password_change_failed`, …).
    pub failed_event: AuditKind,
    /// The account the audit events name: none for a sign-in (the address typed may be a typo
    /// of someone else's), the session's user for a re-authentication.
    pub audit_user: Option<Uuid>,
}

/// Why a password did not prove who one is.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Too many recent failures: try again after this many seconds.
    #[error("Too many failed sign-ins. Try again in {0} seconds.")]
    Throttled(i64),
    /// Wrong e-mail or password (or a disabled account): the same answer for each.
    #[error("{WRONG_PASSWORD}")]
    Refused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The throttled credential check: the one rule behind `/login` and every re-authentication.
pub async fn verify_password(
    app: &App,
    attempt: Attempt<'_>,
) -> Result<UserRecord, CredentialError> {
    let db = &app.db;
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
        app.audit.record(AuditEvent {
            user_id: attempt.audit_user,
            ip: attempt.ip,
            ..AuditEvent::new(AuditKind::LoginThrottled)
        });
        return Err(CredentialError::Throttled(wait));
    }
    let verified = match Password::for_login(attempt.password) {
        // Always hash (a dummy when there is no such account), so that timing reveals nothing.
        Some(pw) => {
            app.hasher
                .verify(user.as_ref().map(|u| u.password_hash.clone()), &pw)
                .await
        }
        None => false,
    };
    if let Some(user) = user.filter(|_| verified) {
        throttle::succeeded(db, &keys).await?;
        return Ok(user);
    }
    let locked = throttle::failed(db, &keys).await?;
    app.audit.record(AuditEvent {
        user_id: attempt.audit_user,
        ip: attempt.ip.clone(),
        ..AuditEvent::new(attempt.failed_event)
    });
    for key in locked {
        app.audit.record(AuditEvent {
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
            ..AuditEvent::new(AuditKind::LoginLocked)
        });
    }
    Err(CredentialError::Refused)
}

/// A signed-in person re-enters their password: checked exactly as `/login` checks it (the
/// same hasher and the account's throttle keys), so that a stolen session gives no faster way
/// to guess the password than the login page.
async fn confirm_password(
    app: &App,
    user: &UserRecord,
    password: &str,
    ip: Option<String>,
    failed_event: AuditKind,
) -> Result<(), CredentialError> {
    let attempt = Attempt {
        email: &user.email,
        password,
        ip,
        // Always the account's counter: a stolen session (with its browser's device cookie)
        // must not add a counter of its own to guess on.
        device: None,
        failed_event,
        audit_user: Some(user.id),
    };
    match verify_password(app, attempt).await? {
        // The session's own account: another account's password must not do.
        checked if checked.id == user.id => Ok(()),
        _ => Err(CredentialError::Refused),
    }
}

/// A new account, as typed on `/signup`.
pub struct SignUp<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password: &'a str,
    pub ip: Option<String>,
    /// The client the sign-up is for, named in the verification mail.
    pub client_name: Option<String>,
    /// Where the verification page offers to continue (a safe local path).
    pub next: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    #[error("Too many attempts. Try again in {0} seconds.")]
    Throttled(i64),
    #[error("{0}")]
    Email(ParseError),
    #[error("{0}")]
    Password(ParseError),
    #[error(transparent)]
    Name(#[from] NameTooLong),
    /// Without verifying the address first, a taken one cannot be hidden here; the sign-up
    /// throttle bounds how fast anyone can probe for accounts.
    #[error("This account could not be created. If you already have one, sign in instead.")]
    Taken,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Creates an account and mails the link that proves its address; returns its id.
pub async fn sign_up(app: &App, new: SignUp<'_>) -> Result<Uuid, SignUpError> {
    // Every sign-up counts, per client address and per address named: each hashes a password
    // and mails someone, and a taken address answers differently.
    let keys = Keys::signup(new.email, new.ip.as_deref());
    if let Verdict::Wait(wait) = throttle::count(&app.db, &keys).await? {
        return Err(SignUpError::Throttled(wait));
    }
    let email = Email::parse(new.email).map_err(SignUpError::Email)?;
    let password = Password::parse(new.password).map_err(SignUpError::Password)?;
    let name = DisplayName::parse(new.name)?;
    let hash = app.hasher.hash(&password).await?;
    let id = Uuid::now_v7();
    let new_user = NewUser {
        id,
        email: email.as_ref(),
        name: name.as_ref().map(AsRef::as_ref),
        password_hash: &hash,
        is_admin: false,
    };
    match app.db.insert_user(&new_user).await {
        Ok(()) => {}
        Err(StoreError::Duplicate) => return Err(SignUpError::Taken),
        Err(e) => return Err(e.into()),
    }
    app.audit.record(AuditEvent {
        user_id: Some(id),
        ip: new.ip,
        ..AuditEvent::new(AuditKind::UserSignedUp)
    });
    mail_links::send_verification(app, id, email.as_ref(), new.client_name, Some(new.next)).await?;
    Ok(id)
}

/// Sets (or, with an empty name, clears) the display name.
pub async fn set_name(app: &App, user: &UserRecord, name: &str) -> Result<(), SetNameError> {
    let name = DisplayName::parse(name)?;
    app.db
        .set_user_name(user.id, name.as_ref().map(AsRef::as_ref))
        .await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum SetNameError {
    #[error(transparent)]
    Name(#[from] NameTooLong),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new password, after the current one.
pub struct ChangePassword<'a> {
    pub current: &'a str,
    pub new: &'a str,
    pub confirm: &'a str,
    pub ip: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangePasswordError {
    #[error("Choose another new password: {0}.")]
    Policy(ParseError),
    #[error("The new password and its confirmation are not the same.")]
    Mismatch,
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// The account was deleted meanwhile, from another browser.
    #[error("the account no longer exists")]
    Gone,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Changes the password; every session of the account ends with it.
pub async fn change_password(
    app: &App,
    user: &UserRecord,
    change: ChangePassword<'_>,
) -> Result<(), ChangePasswordError> {
    // The new password is checked first: it costs no hashing and counts no failure.
    let password = Password::parse(change.new).map_err(ChangePasswordError::Policy)?;
    if change.confirm != change.new {
        return Err(ChangePasswordError::Mismatch);
    }
    confirm_password(
        app,
        user,
        change.current,
        change.ip.clone(),
        AuditKind::PasswordChangeFailed,
    )
    .await?;
    let hash = app.hasher.hash(&password).await?;
    if !app.db.change_password(user.id, &hash).await? {
        return Err(ChangePasswordError::Gone);
    }
    app.audit.record(AuditEvent {
        user_id: Some(user.id),
        ip: change.ip,
        ..AuditEvent::new(AuditKind::PasswordChanged)
    });
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ResetPasswordError {
    #[error("{0}")]
    Policy(ParseError),
    #[error("The two passwords differ.")]
    Mismatch,
    /// Unknown, spent or expired.
    #[error("the reset link no longer works")]
    LinkDead,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Sets a new password from a mailed reset link: the link is spent, the password set and every
/// session ended in one store transaction; a lock others caused by guessing ends too.
pub async fn reset_password(
    app: &App,
    token: &str,
    new: &str,
    confirm: &str,
    ip: Option<String>,
) -> Result<Uuid, ResetPasswordError> {
    // The new password is checked before the link is spent, so a typo costs nothing.
    let password = Password::parse(new).map_err(ResetPasswordError::Policy)?;
    if new != confirm {
        return Err(ResetPasswordError::Mismatch);
    }
    let hash = app.hasher.hash(&password).await?;
    let Some(user_id) = app.db.reset_password(&crypto::digest(token), &hash).await? else {
        return Err(ResetPasswordError::LinkDead);
    };
    // The mailbox proved the owner: a lock others caused by guessing ends with the reset.
    if let Some(user) = app.db.user_by_id(user_id).await? {
        throttle::unlock_account(&app.db, &user.email).await?;
    }
    app.audit.record(AuditEvent {
        user_id: Some(user_id),
        ip,
        ..AuditEvent::new(AuditKind::PasswordReset)
    });
    Ok(user_id)
}

/// Mails a reset link to `email` if an (enabled) account uses it; the same outcome either way,
/// so nobody learns whether the address has an account. Returns the address as parsed.
pub async fn request_reset(
    app: &App,
    email: &str,
    ip: Option<String>,
) -> Result<Email, RequestResetError> {
    let email = Email::parse(email).map_err(|_| RequestResetError::Email)?;
    // Every request counts, found or not: per address and per client address.
    let keys = Keys::mail(email.as_ref(), ip.as_deref());
    if let Verdict::Wait(wait) = throttle::count(&app.db, &keys).await? {
        return Err(RequestResetError::Throttled(wait));
    }
    let user = app
        .db
        .user_by_email(email.as_ref())
        .await?
        .filter(|u| u.disabled_at.is_none());
    if let Some(user) = user {
        mail_links::send_reset(app, user.id, &user.email).await?;
        app.audit.record(AuditEvent {
            user_id: Some(user.id),
            ip,
            ..AuditEvent::new(AuditKind::PasswordResetRequested)
        });
    }
    Ok(email)
}

#[derive(Debug, thiserror::Error)]
pub enum RequestResetError {
    #[error("Enter an e-mail address.")]
    Email,
    #[error("Too many requests. Try again in {0} seconds.")]
    Throttled(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeEmailError {
    #[error("{0}")]
    Email(ParseError),
    #[error("That is already your address.")]
    Same,
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Asks to move the account to `new_email`, after the current password (the address is how the
/// account is recovered): a confirmation link goes to the new address and a notice to the
/// current one; the account moves when the link is opened (`confirm_email_change`).
pub async fn request_email_change(
    app: &App,
    user: &UserRecord,
    new_email: &str,
    current_password: &str,
    ip: Option<String>,
) -> Result<(), ChangeEmailError> {
    let new_email = Email::parse(new_email).map_err(ChangeEmailError::Email)?;
    if new_email.as_ref() == user.email {
        return Err(ChangeEmailError::Same);
    }
    confirm_password(
        app,
        user,
        current_password,
        ip,
        AuditKind::EmailChangeFailed,
    )
    .await?;
    // An address another account uses gets no mail, and the answer is the same: nobody learns
    // which addresses have accounts.
    if app.db.user_by_email(new_email.as_ref()).await?.is_none() {
        mail_links::send_change(app, user.id, &user.email, new_email.as_ref()).await?;
    }
    app.audit.record(AuditEvent {
        user_id: Some(user.id),
        ..AuditEvent::new(AuditKind::EmailChangeRequested)
    });
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ConfirmEmailError {
    /// Another account took the address meanwhile.
    #[error("Another account uses this address now, so yours was not changed.")]
    Taken,
    #[error("the confirmation link no longer works")]
    LinkDead,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The link mailed to a new address: the account moves to it; its `sub` stays.
pub async fn confirm_email_change(app: &App, token: &str) -> Result<Uuid, ConfirmEmailError> {
    use crate::store::EmailChange;
    match app.db.confirm_email_change(&crypto::digest(token)).await? {
        EmailChange::Changed { user_id } => {
            // The old address was told when the change was asked for.
            app.audit.record(AuditEvent {
                user_id: Some(user_id),
                ..AuditEvent::new(AuditKind::EmailChanged)
            });
            Ok(user_id)
        }
        EmailChange::Taken => Err(ConfirmEmailError::Taken),
        EmailChange::InvalidLink => Err(ConfirmEmailError::LinkDead),
    }
}

/// What typing this confirms a deletion (the page asks for exactly this).
pub const DELETE_CONFIRMATION: &str = "DELETE";

#[derive(Debug, thiserror::Error)]
pub enum DeleteAccountError {
    #[error("To delete your account, type {DELETE_CONFIRMATION} in capital letters.")]
    NotConfirmed,
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Deletes the account after its password and the typed confirmation. An account deleted
/// meanwhile (from another browser) is the outcome asked for: no error.
pub async fn delete_account(
    app: &App,
    user: &UserRecord,
    current_password: &str,
    confirmation: &str,
    ip: Option<String>,
) -> Result<(), DeleteAccountError> {
    // Checked before the password, so that a slip of the keyboard counts no failed sign-in.
    if confirmation.trim() != DELETE_CONFIRMATION {
        return Err(DeleteAccountError::NotConfirmed);
    }
    confirm_password(
        app,
        user,
        current_password,
        ip.clone(),
        AuditKind::AccountDeleteFailed,
    )
    .await?;
    if app.db.delete_account(user.id).await? {
        // The audit trail outlives the account: its events keep the (never reused) user id.
        app.audit.record(AuditEvent {
            user_id: Some(user.id),
            ip,
            ..AuditEvent::new(AuditKind::AccountDeleted)
        });
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum SecureAccountError {
    #[error("the link was used already or has expired")]
    LinkDead,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The "this wasn't me" link: cancels (or undoes) the change of address, signs the account out
/// everywhere, and mails a reset link to the address the notice went to. Returns that address.
pub async fn secure_account(
    app: &App,
    token: &str,
    ip: Option<String>,
) -> Result<String, SecureAccountError> {
    let Some(secured) = app.db.secure_account(&crypto::digest(token)).await? else {
        return Err(SecureAccountError::LinkDead);
    };
    mail_links::send_reset(app, secured.user_id, &secured.email).await?;
    app.audit.record(AuditEvent {
        user_id: Some(secured.user_id),
        ip,
        ..AuditEvent::new(AuditKind::AccountSecured)
    });
    Ok(secured.email)
}

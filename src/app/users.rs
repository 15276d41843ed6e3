//! Accounts an operator manages from the command line: create one, disable one. Each records
//! its audit event, as the web's own account changes do.

use uuid::Uuid;

use super::App;
use crate::app::hasher::HashError;
use crate::domain::{AuditKind, DisplayName, Email, Password};
use crate::store::{AuditEvent, NewUser, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("a user with the e-mail {0} exists already")]
    Taken(Email),
    #[error("no user with the e-mail {0}")]
    NoSuchUser(Email),
    #[error("hashing the password failed: {0}")]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new account, with what an operator may set.
pub struct NewAccount {
    pub email: Email,
    pub name: Option<DisplayName>,
    pub password: Password,
    pub admin: bool,
}

/// Creates an account (an operator's act: `detail` says by whom) and returns its id.
pub async fn create(app: &App, account: NewAccount, detail: &str) -> Result<Uuid, UserError> {
    let hash = app.hasher.hash(&account.password).await?;
    let id = Uuid::now_v7();
    match app
        .db
        .insert_user(&NewUser {
            id,
            email: account.email.as_ref(),
            name: account.name.as_ref().map(AsRef::as_ref),
            password_hash: &hash,
            is_admin: account.admin,
        })
        .await
    {
        Ok(()) => {}
        Err(StoreError::Duplicate) => return Err(UserError::Taken(account.email)),
        Err(e) => return Err(e.into()),
    }
    let role = if account.admin {
        ", as an administrator"
    } else {
        ""
    };
    app.audit.record(AuditEvent {
        user_id: Some(id),
        detail: Some(format!("{detail}{role}")),
        ..AuditEvent::new(AuditKind::UserCreated)
    });
    Ok(id)
}

/// Disables the account of `email`: it can no longer sign in, and everything that could bring
/// it back (sessions, refresh tokens, codes) ends with it.
pub async fn disable(app: &App, email: &Email, detail: &str) -> Result<(), UserError> {
    let user = app.db.user_by_email(email.as_ref()).await?;
    if !app.db.disable_user(email.as_ref()).await? {
        return Err(UserError::NoSuchUser(email.clone()));
    }
    app.audit.record(AuditEvent {
        user_id: user.map(|u| u.id),
        detail: Some(detail.to_string()),
        ..AuditEvent::new(AuditKind::UserDisabled)
    });
    Ok(())
}

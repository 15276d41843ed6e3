//! Single-use links mailed to people: verify an address, reset a password, confirm a new
//! address. Stored as SHA-256 digests; spent atomically.

use uuid::Uuid;

use super::users::end_user_access;
use super::{Db, Result, StoreError, on_db};

/// What a mailed link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailPurpose {
    Verify,
    Reset,
    Change,
    /// "This wasn't me", mailed to the previous address when a change of address is asked for:
    /// it cancels the change (or undoes it) and signs the account out everywhere.
    Secure,
}

impl EmailPurpose {
    fn as_str(self) -> &'static str {
        match self {
            EmailPurpose::Verify => "verify",
            EmailPurpose::Reset => "reset",
            EmailPurpose::Change => "change",
            EmailPurpose::Secure => "secure",
        }
    }
}

/// A spent link: whose it was, and the address it confirms (for `Change`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SpentEmailToken {
    pub user_id: Uuid,
    pub new_email: Option<String>,
}

/// What confirming a new address came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailChange {
    /// The address is the account's now.
    Changed { user_id: Uuid },
    /// The link is unknown, expired or used.
    InvalidLink,
    /// Someone else took the address meanwhile.
    Taken,
}

/// An account secured through a "this wasn't me" link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuredAccount {
    pub user_id: Uuid,
    /// The account's address now (the one the link was mailed to, unless another account took
    /// it meanwhile).
    pub email: String,
}

impl Db {
    pub async fn insert_email_token(
        &self,
        token_hash: &str,
        user_id: Uuid,
        purpose: EmailPurpose,
        new_email: Option<&str>,
        expires_at: i64,
    ) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "INSERT INTO email_tokens (token_hash, user_id, purpose, new_email, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(new_email)
        .bind(self.now())
        .bind(expires_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Whether a link is live (to show its form before spending it).
    pub async fn email_token_live(&self, token_hash: &str, purpose: EmailPurpose) -> Result<bool> {
        let found: Option<i64> = on_db!(self, |p| sqlx::query_scalar(
            "SELECT expires_at FROM email_tokens WHERE token_hash = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3"
        )
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(self.now())
        .fetch_optional(p)
        .await)?;
        Ok(found.is_some())
    }

    /// Spends a live link: of two uses racing, one gets it.
    pub async fn spend_email_token(
        &self,
        token_hash: &str,
        purpose: EmailPurpose,
    ) -> Result<Option<SpentEmailToken>> {
        let now = self.now();
        Ok(on_db!(self, |p| sqlx::query_as::<_, SpentEmailToken>(
            "UPDATE email_tokens SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3 RETURNING user_id, new_email"
        )
        .bind(token_hash)
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(p)
        .await)?)
    }

    /// Marks the account's current address as proven.
    pub async fn mark_email_verified(&self, user_id: Uuid) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "UPDATE users SET email_verified_at = $2 WHERE id = $1 AND email_verified_at IS NULL"
        )
        .bind(user_id)
        .bind(self.now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Spends a change link and moves the account to the new, now proven, address; the `sub`
    /// stays. One transaction.
    pub async fn confirm_email_change(&self, token_hash: &str) -> Result<EmailChange> {
        let now = self.now();
        let outcome = on_db!(self, |p| {
            let mut tx = p.begin().await?;
            let spent: Option<(Uuid, Option<String>)> = sqlx::query_as(
                "UPDATE email_tokens SET used_at = $2 WHERE token_hash = $1 AND purpose = 'change' \
                 AND used_at IS NULL AND expires_at > $2 RETURNING user_id, new_email",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let outcome = match spent {
                Some((user_id, Some(new_email))) => {
                    let live: Option<Uuid> = sqlx::query_scalar(
                        "SELECT id FROM users WHERE id = $1 AND deleted_at IS NULL",
                    )
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    match live {
                        Some(user_id) => {
                            let moved = sqlx::query(
                                "UPDATE users SET email = $2, email_verified_at = $3 WHERE id = $1",
                            )
                            .bind(user_id)
                            .bind(&new_email)
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(StoreError::from_insert);
                            match moved {
                                Ok(_) => EmailChange::Changed { user_id },
                                Err(StoreError::Duplicate) => EmailChange::Taken,
                                Err(e) => return Err(e),
                            }
                        }
                        None => EmailChange::InvalidLink,
                    }
                }
                _ => EmailChange::InvalidLink,
            };
            if outcome == EmailChange::Taken {
                tx.rollback().await?;
            } else {
                tx.commit().await?;
            }
            outcome
        });
        Ok(outcome)
    }

    /// Spends a "this wasn't me" link, in one transaction: the account's address goes back to
    /// the one the link was mailed to (if it was changed and no other account has taken it
    /// since), every pending link is voided and every way in ends (`end_user_access!`). The
    /// caller mails a reset link to the returned address: whoever asked for the change knew
    /// the password. `None` when the link is unknown, expired or spent, or the account is gone.
    pub async fn secure_account(&self, token_hash: &str) -> Result<Option<SecuredAccount>> {
        let now = self.now();
        Ok(on_db!(self, |p| {
            let mut tx = p.begin().await?;
            let spent: Option<(Uuid, Option<String>)> = sqlx::query_as(
                "UPDATE email_tokens SET used_at = $2 WHERE token_hash = $1 AND purpose = 'secure' \
                 AND used_at IS NULL AND expires_at > $2 RETURNING user_id, new_email",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let live: Option<(Uuid, String)> = match &spent {
                Some((user_id, _)) => {
                    sqlx::query_as(
                        "SELECT id, email FROM users WHERE id = $1 AND deleted_at IS NULL",
                    )
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?
                }
                None => None,
            };
            match (live, spent.and_then(|(_, previous)| previous)) {
                (Some((user_id, current)), Some(previous)) => {
                    let mut email = current;
                    if email != previous {
                        let free: Option<Uuid> =
                            sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
                                .bind(&previous)
                                .fetch_optional(&mut *tx)
                                .await?;
                        if free.is_none() {
                            sqlx::query(
                                "UPDATE users SET email = $2, email_verified_at = $3 WHERE id = $1",
                            )
                            .bind(user_id)
                            .bind(&previous)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                            email = previous;
                        }
                    }
                    end_user_access!(tx, user_id, now, "account secured");
                    tx.commit().await?;
                    Some(SecuredAccount { user_id, email })
                }
                _ => {
                    tx.rollback().await?;
                    None
                }
            }
        }))
    }
}

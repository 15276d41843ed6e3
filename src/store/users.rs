use uuid::Uuid;

use super::{Db, Result, StoreError, on_db, on_db_read};

/// A person who signs in. `id` is the `sub` of every token issued for them, forever.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRecord {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub password_hash: String,
    pub is_admin: bool,
    /// May use the builder portal (administrators always may).
    pub is_builder: bool,
    /// When the person proved they receive mail at `email`.
    pub email_verified_at: Option<i64>,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
}

impl UserRecord {
    pub fn may_build(&self) -> bool {
        self.is_admin || self.is_builder
    }
}

pub struct NewUser<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub password_hash: &'a str,
    pub is_admin: bool,
}

/// Takes away every way back into an account, inside the caller's transaction `tx` (a macro:
/// each driver's transaction has its own type): sessions end, refresh-token families are
/// revoked, unredeemed codes are dropped, known devices are forgotten, and every pending mailed link (verification, reset,
/// change of address) is voided, so that none issued before (possibly to an attacker) can be
/// used afterwards. Links that secure the account (mailed to the previous address when it was
/// changed) stay: they only ever help the owner.
macro_rules! end_user_access {
    ($tx:ident, $id:expr, $now:expr, $reason:expr) => {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind($id)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(
            "UPDATE refresh_families SET revoked_at = $2, revoked_reason = $3 \
             WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind($id)
        .bind($now)
        .bind($reason)
        .execute(&mut *$tx)
        .await?;
        sqlx::query("DELETE FROM auth_codes WHERE user_id = $1")
            .bind($id)
            .execute(&mut *$tx)
            .await?;
        sqlx::query("DELETE FROM known_devices WHERE user_id = $1")
            .bind($id)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(
            "UPDATE email_tokens SET used_at = $2 \
             WHERE user_id = $1 AND used_at IS NULL AND purpose <> 'secure'",
        )
        .bind($id)
        .bind($now)
        .execute(&mut *$tx)
        .await?;
    };
}
pub(crate) use end_user_access;

impl Db {
    /// Fails with `Duplicate` when the e-mail is taken.
    pub async fn insert_user(&self, user: &NewUser<'_>) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, is_admin, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(user.id)
        .bind(user.email)
        .bind(user.name)
        .bind(user.password_hash)
        .bind(user.is_admin)
        .bind(self.now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::from_insert)?;
        Ok(())
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        const SQL: &str = "SELECT id, email, name, password_hash, is_admin, is_builder, email_verified_at, disabled_at, created_at \
                           FROM users WHERE email = $1";
        Ok(on_db_read!(self, |p| sqlx::query_as::<_, UserRecord>(SQL)
            .bind(email)
            .fetch_optional(p)
            .await)?)
    }

    pub async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>> {
        const SQL: &str = "SELECT id, email, name, password_hash, is_admin, is_builder, email_verified_at, disabled_at, created_at \
                           FROM users WHERE id = $1";
        Ok(on_db_read!(self, |p| sqlx::query_as::<_, UserRecord>(SQL)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    /// Every account, without the tombstones of deleted ones.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>> {
        const SQL: &str = "SELECT id, email, name, password_hash, is_admin, is_builder, email_verified_at, \
                           disabled_at, created_at FROM users WHERE deleted_at IS NULL ORDER BY created_at, email";
        Ok(on_db!(self, |p| sqlx::query_as::<_, UserRecord>(SQL)
            .fetch_all(p)
            .await)?)
    }

    /// Grants or withdraws the builder role; false when no such user.
    pub async fn set_builder(&self, id: Uuid, builder: bool) -> Result<bool> {
        let done = on_db!(self, |p| sqlx::query(
            "UPDATE users SET is_builder = $2 WHERE id = $1"
        )
        .bind(id)
        .bind(builder)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    pub async fn any_admin(&self) -> Result<bool> {
        let found: Option<i32> = on_db!(self, |p| sqlx::query_scalar(
            "SELECT 1 FROM users WHERE is_admin = TRUE AND disabled_at IS NULL LIMIT 1"
        )
        .fetch_optional(p)
        .await)?;
        Ok(found.is_some())
    }

    /// Disables the account, ends its sessions and revokes its refresh tokens, in one
    /// transaction; false when no such user.
    pub async fn disable_user(&self, email: &str) -> Result<bool> {
        let now = self.now();
        let exists = on_db!(self, |p| {
            let mut tx = p.begin().await?;
            let id: Option<Uuid> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
                .bind(email)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(id) = id {
                sqlx::query(
                    "UPDATE users SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                end_user_access!(tx, id, now, "user disabled");
            }
            tx.commit().await?;
            id.is_some()
        });
        Ok(exists)
    }

    /// Sets the display name (`None` clears it); false when there is no such live account.
    pub async fn set_user_name(&self, id: Uuid, name: Option<&str>) -> Result<bool> {
        let changed = on_db!(self, |p| sqlx::query(
            "UPDATE users SET name = $2 WHERE id = $1 AND deleted_at IS NULL"
        )
        .bind(id)
        .bind(name)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(changed == 1)
    }

    /// Replaces the password hash and, in the same transaction, takes away every way in that the
    /// old password gave (see `end_user_access!`): each client must send the person through
    /// sign-in again, and no link mailed before the change works after it. The caller starts a
    /// fresh session for the browser that made the change. False when there is no such live
    /// account.
    pub async fn change_password(&self, id: Uuid, password_hash: &str) -> Result<bool> {
        let now = self.now();
        let changed = on_db!(self, |p| {
            let mut tx = p.begin().await?;
            let changed = sqlx::query(
                "UPDATE users SET password_hash = $2 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 1 {
                end_user_access!(tx, id, now, "password changed");
            }
            tx.commit().await?;
            changed
        });
        Ok(changed == 1)
    }

    /// A password reset, in one transaction: spends the mailed reset link, sets the new hash,
    /// takes away every way in (`end_user_access!`: for an address claimed by someone before its
    /// owner, everything that person set going) and marks the address proven (the link reached
    /// it). `None` when the link is unknown, expired or spent, or the account is gone.
    pub async fn reset_password(
        &self,
        token_hash: &str,
        password_hash: &str,
    ) -> Result<Option<Uuid>> {
        let now = self.now();
        let reset = on_db!(self, |p| {
            let mut tx = p.begin().await?;
            let spent: Option<Uuid> = sqlx::query_scalar(
                "UPDATE email_tokens SET used_at = $2 WHERE token_hash = $1 AND purpose = 'reset' \
                 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
            )
            .bind(token_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let account: Option<Uuid> = match spent {
                Some(id) => {
                    sqlx::query_scalar("SELECT id FROM users WHERE id = $1 AND deleted_at IS NULL")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?
                }
                None => None,
            };
            match account {
                Some(id) => {
                    sqlx::query(
                        "UPDATE users SET password_hash = $2, \
                         email_verified_at = COALESCE(email_verified_at, $3) WHERE id = $1",
                    )
                    .bind(id)
                    .bind(password_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    end_user_access!(tx, id, now, "password reset");
                    tx.commit().await?;
                    Some(id)
                }
                None => {
                    tx.rollback().await?;
                    None
                }
            }
        });
        Ok(reset)
    }

    /// Deletes a person's account, in one transaction: sessions, codes, consents and refresh
    /// tokens go, and the user row becomes an anonymised, disabled tombstone.
    ///
    /// Why a tombstone rather than `DELETE FROM users`: the row's id is the `sub` that resource
    /// APIs have stored, and keeping it as the primary key guarantees that no one else can ever
    /// be given it (not even by an operator re-creating or restoring users), while a deleted row
    /// would only make reuse unlikely. Audit events (which have no foreign key) keep pointing at
    /// an account that visibly was deleted, and nothing that references users cascades away by
    /// surprise. What identifies the person goes: the e-mail becomes `deleted:<id>` (no `@`, so
    /// no sign-in or sign-up can ever match it, and the address is free for a new account), the
    /// name is cleared and the password hash emptied (it verifies nothing). False when there was
    /// no such live account.
    pub async fn delete_account(&self, id: Uuid) -> Result<bool> {
        let now = self.now();
        let deleted = on_db!(self, |p| {
            let mut tx = p.begin().await?;
            let deleted = sqlx::query(
                "UPDATE users SET email = $2, name = NULL, password_hash = '', is_admin = $3, \
                 disabled_at = COALESCE(disabled_at, $4), deleted_at = $4 \
                 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(format!("deleted:{id}"))
            .bind(false)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if deleted == 1 {
                for statement in [
                    "DELETE FROM sessions WHERE user_id = $1",
                    "DELETE FROM auth_codes WHERE user_id = $1",
                    "DELETE FROM consents WHERE user_id = $1",
                    "DELETE FROM refresh_tokens WHERE family_id IN \
                     (SELECT id FROM refresh_families WHERE user_id = $1)",
                    "DELETE FROM refresh_families WHERE user_id = $1",
                ] {
                    sqlx::query(statement).bind(id).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            deleted
        });
        Ok(deleted == 1)
    }
}

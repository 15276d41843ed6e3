use uuid::Uuid;

use super::{Db, Result, StoreError, on_db};

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
        .bind(super::now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::from_insert)?;
        Ok(())
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        const SQL: &str = "SELECT id, email, name, password_hash, is_admin, is_builder, disabled_at, created_at \
                           FROM users WHERE email = $1";
        Ok(on_db!(self, |p| sqlx::query_as::<_, UserRecord>(SQL)
            .bind(email)
            .fetch_optional(p)
            .await)?)
    }

    pub async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>> {
        const SQL: &str = "SELECT id, email, name, password_hash, is_admin, is_builder, disabled_at, created_at \
                           FROM users WHERE id = $1";
        Ok(on_db!(self, |p| sqlx::query_as::<_, UserRecord>(SQL)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    pub async fn list_users(&self) -> Result<Vec<UserRecord>> {
        const SQL: &str = "SELECT id, email, name, password_hash, is_admin, is_builder, disabled_at, created_at \
                           FROM users ORDER BY created_at, email";
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
        let now = super::now();
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
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE refresh_families SET revoked_at = $2, revoked_reason = $3 \
                     WHERE user_id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .bind("user disabled")
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            id.is_some()
        });
        Ok(exists)
    }
}

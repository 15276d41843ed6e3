use super::{Db, Result, UserRecord, on_db};

impl Db {
    pub async fn insert_session(
        &self,
        id_hash: &str,
        user_id: uuid::Uuid,
        expires_at: i64,
    ) -> Result<()> {
        on_db!(self, |p| {
            sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)"
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(super::now())
        .bind(expires_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// The signed-in user behind a live session; disabled accounts have none.
    pub async fn session_user(&self, id_hash: &str) -> Result<Option<UserRecord>> {
        Ok(on_db!(self, |p| {
            sqlx::query_as::<_, UserRecord>(
            "SELECT u.id, u.email, u.name, u.password_hash, u.is_admin, u.disabled_at, u.created_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL"
        )
        .bind(id_hash)
        .bind(super::now())
        .fetch_optional(p)
        .await
        })?)
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "DELETE FROM sessions WHERE id_hash = $1"
        )
        .bind(id_hash)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }
}

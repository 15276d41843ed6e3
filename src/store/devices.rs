//! Browsers where an account signed in before (see migration 0012).

use uuid::Uuid;

use super::{Db, Result, on_db, on_db_read};

impl Db {
    pub async fn insert_known_device(
        &self,
        id_hash: &str,
        user_id: Uuid,
        expires_at: i64,
    ) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "INSERT INTO known_devices (id_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (id_hash) DO NOTHING"
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(self.now())
        .bind(expires_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Whether the device is one where `user_id` signed in (and it has not expired).
    pub async fn is_known_device(&self, id_hash: &str, user_id: Uuid) -> Result<bool> {
        let found: Option<i64> = on_db_read!(self, |p| sqlx::query_scalar(
            "SELECT expires_at FROM known_devices WHERE id_hash = $1 AND user_id = $2 \
             AND expires_at > $3"
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(self.now())
        .fetch_optional(p)
        .await)?;
        Ok(found.is_some())
    }

    pub async fn purge_known_devices(&self) -> Result<u64> {
        Ok(on_db!(self, |p| sqlx::query(
            "DELETE FROM known_devices WHERE expires_at <= $1"
        )
        .bind(self.now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
    }
}

use uuid::Uuid;

use super::{Db, Result, on_db, on_db_read};

impl Db {
    /// The scope a user has consented to for a client, if any.
    pub async fn consent(&self, user_id: Uuid, client_id: &str) -> Result<Option<String>> {
        Ok(on_db_read!(self, |p| sqlx::query_scalar::<_, String>(
            "SELECT scope FROM consents WHERE user_id = $1 AND client_id = $2"
        )
        .bind(user_id)
        .bind(client_id)
        .fetch_optional(p)
        .await)?)
    }

    /// Records (or widens) a consent.
    pub async fn save_consent(&self, user_id: Uuid, client_id: &str, scope: &str) -> Result<()> {
        let now = self.now();
        on_db!(self, |p| sqlx::query(
            "INSERT INTO consents (user_id, client_id, scope, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scope = $3, updated_at = $4"
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }
}

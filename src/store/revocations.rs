use uuid::Uuid;

use super::{Db, Result, on_db, on_db_read};

impl Db {
    /// Records an access token as revoked until it would have expired anyway.
    pub async fn revoke_access_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: i64,
    ) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "INSERT INTO revoked_access_tokens (jti, client_id, revoked_at, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING"
        )
        .bind(jti)
        .bind(client_id)
        .bind(self.now())
        .bind(expires_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn is_access_token_revoked(&self, jti: &str) -> Result<bool> {
        let found = on_db!(self, |p| sqlx::query_scalar::<_, String>(
            "SELECT jti FROM revoked_access_tokens WHERE jti = $1"
        )
        .bind(jti)
        .fetch_optional(p)
        .await)?;
        Ok(found.is_some())
    }

    /// Whether the user a token stands for is still enabled and its client still exists: a
    /// disabled or deleted user's, or a deleted client's, tokens are not active (RFC 7662 §2.2)
    /// even before they expire. With `issued_at` (an access token's `iat`), also whether that
    /// user's grant to that client was revoked at or after it (a replayed code).
    pub async fn token_parties_active(
        &self,
        user_id: Uuid,
        client_id: &str,
        issued_at: Option<i64>,
    ) -> Result<bool> {
        let found: i64 = on_db_read!(self, |p| sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM users \
                     WHERE id = $1 AND disabled_at IS NULL AND deleted_at IS NULL) \
                  + (SELECT COUNT(*) FROM clients WHERE client_id = $2) \
                  - (SELECT COUNT(*) FROM revoked_grants \
                     WHERE user_id = $1 AND client_id = $2 AND revoked_before >= $3)"
        )
        .bind(user_id)
        .bind(client_id)
        .bind(issued_at)
        .fetch_one(p)
        .await)?;
        Ok(found == 2)
    }

    /// Entries for tokens that have expired by now matter no more.
    pub async fn purge_revoked_access_tokens(&self) -> Result<u64> {
        let now = self.now();
        let tokens = on_db!(self, |p| sqlx::query(
            "DELETE FROM revoked_access_tokens WHERE expires_at <= $1"
        )
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        let grants = on_db!(self, |p| sqlx::query(
            "DELETE FROM revoked_grants WHERE expires_at <= $1"
        )
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(tokens + grants)
    }
}

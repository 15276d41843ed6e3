use super::{Db, Result, UserRecord, on_db, on_db_read};

/// A live session's user and when they signed in with their password.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRecord {
    #[sqlx(flatten)]
    pub user: UserRecord,
    /// The session's start: every password sign-in starts a new session.
    pub authenticated_at: i64,
    /// When it was last used (kept to the minute).
    pub last_seen_at: i64,
}

impl Db {
    pub async fn insert_session(
        &self,
        id_hash: &str,
        user_id: uuid::Uuid,
        expires_at: i64,
    ) -> Result<()> {
        let now = self.now();
        on_db!(self, |p| sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $3, $4)"
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The signed-in user behind a live session: not past its absolute expiry, used within
    /// `idle_seconds`, and not disabled. Marks the session as used (at most once a minute).
    pub async fn session_user(
        &self,
        id_hash: &str,
        idle_seconds: i64,
    ) -> Result<Option<UserRecord>> {
        Ok(self.session(id_hash, idle_seconds).await?.map(|s| s.user))
    }

    /// Like `session_user`, with the time of the sign-in.
    pub async fn session(&self, id_hash: &str, idle_seconds: i64) -> Result<Option<SessionRecord>> {
        let now = self.now();
        let user = on_db_read!(self, |p| {
            sqlx::query_as::<_, SessionRecord>(
            "SELECT u.id, u.email, u.name, u.password_hash, u.is_admin, u.is_builder, u.email_verified_at, u.disabled_at, u.created_at, \
                    s.created_at AS authenticated_at, s.last_seen_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3 \
               AND u.disabled_at IS NULL"
        )
        .bind(id_hash)
        .bind(now)
        .bind(now - idle_seconds)
        .fetch_optional(p)
        .await
        })?;
        // A write only once a minute, not on every request.
        if user.as_ref().is_some_and(|u| u.last_seen_at < now - 60) {
            on_db!(self, |p| sqlx::query(
                "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $3"
            )
            .bind(id_hash)
            .bind(now)
            .bind(now - 60)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        }
        Ok(user)
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

    /// Ends every session of a user ("sign out everywhere").
    pub async fn delete_user_sessions(&self, user_id: uuid::Uuid) -> Result<u64> {
        Ok(on_db!(self, |p| sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1"
        )
        .bind(user_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
    }

    /// Removes sessions past their absolute or idle lifetime.
    pub async fn purge_expired_sessions(&self, idle_seconds: i64) -> Result<u64> {
        let now = self.now();
        Ok(on_db!(self, |p| sqlx::query(
            "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2"
        )
        .bind(now)
        .bind(now - idle_seconds)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
    }
}

use super::{Db, Result, on_db};

/// Failed sign-ins under one key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ThrottleRecord {
    pub key: String,
    pub failures: i32,
    pub last_failure_at: i64,
    pub locked_until: i64,
}

impl Db {
    pub async fn throttle_records(&self, keys: &[String]) -> Result<Vec<ThrottleRecord>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let row = on_db!(self, |p| {
                sqlx::query_as::<_, ThrottleRecord>(
                "SELECT key, failures, last_failure_at, locked_until FROM login_throttle WHERE key = $1"
            )
            .bind(key)
            .fetch_optional(p)
            .await
            })?;
            out.extend(row);
        }
        Ok(out)
    }

    /// Counts a failure atomically; failures older than `window_start` no longer count.
    /// Returns the new count.
    pub async fn record_failure(&self, key: &str, window_start: i64) -> Result<i32> {
        let now = super::now();
        Ok(on_db!(self, |p| sqlx::query_scalar::<_, i32>(
            "INSERT INTO login_throttle (key, failures, last_failure_at, locked_until) \
             VALUES ($1, 1, $2, 0) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN login_throttle.last_failure_at < $3 THEN 1 \
                               ELSE login_throttle.failures + 1 END, \
               last_failure_at = $2 \
             RETURNING failures"
        )
        .bind(key)
        .bind(now)
        .bind(window_start)
        .fetch_one(p)
        .await)?)
    }

    pub async fn lock_key(&self, key: &str, until: i64) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "UPDATE login_throttle SET locked_until = $2 WHERE key = $1"
        )
        .bind(key)
        .bind(until)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn clear_throttle(&self, key: &str) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "DELETE FROM login_throttle WHERE key = $1"
        )
        .bind(key)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Drops counters that no longer matter.
    pub async fn purge_throttle(&self, older_than: i64) -> Result<u64> {
        Ok(on_db!(self, |p| sqlx::query(
            "DELETE FROM login_throttle WHERE last_failure_at < $1 AND locked_until < $2"
        )
        .bind(older_than)
        .bind(super::now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
    }
}

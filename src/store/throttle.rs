use super::{Db, Result, on_db};

/// Failed sign-ins under one key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ThrottleRecord {
    pub key: String,
    pub failures: i32,
    pub last_failure_at: i64,
    pub locked_until: i64,
}

/// The part of a throttling policy the database needs to decide on an attempt.
#[derive(Debug, Clone, Copy)]
pub struct AttemptLimits {
    /// Failures that need no wait.
    pub free: i32,
    /// The first wait once the free failures are used up, seconds; it doubles with each failure.
    pub first_delay: i64,
    /// The longest wait, seconds.
    pub max_delay: i64,
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

    /// Counts an attempt under `key` before its password is checked, if the key may try now:
    /// one statement that reads the counter, decides and increments, so that parallel attempts
    /// (on any number of instances) cannot all pass a check made before any of them counted.
    /// The attempt counts as a failure until `refund_attempt` or `clear_throttle` says
    /// otherwise. `None` when the key must wait (nothing is counted then); else the new count.
    ///
    /// The verdict mirrors `auth::throttle::wait_seconds`: not locked, and either the failures
    /// are forgotten (older than `window_start`), or within the free ones, or the last failure
    /// is at least `first_delay << (failures - free)` seconds ago (capped at `max_delay`).
    pub async fn begin_attempt(
        &self,
        key: &str,
        window_start: i64,
        limits: AttemptLimits,
    ) -> Result<Option<i32>> {
        let now = self.now();
        Ok(on_db!(self, |p| sqlx::query_scalar::<_, i32>(
            "INSERT INTO login_throttle (key, failures, last_failure_at, locked_until) \
             VALUES ($1, 1, $2, 0) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN login_throttle.last_failure_at < $3 THEN 1 \
                               ELSE login_throttle.failures + 1 END, \
               last_failure_at = $2 \
             WHERE login_throttle.locked_until <= $2 AND ( \
               login_throttle.last_failure_at < $3 \
               OR login_throttle.failures < $4 \
               OR login_throttle.last_failure_at + CASE \
                    WHEN login_throttle.failures - $4 >= 16 THEN $6 \
                    WHEN ($5 << (login_throttle.failures - $4)) > $6 THEN $6 \
                    ELSE ($5 << (login_throttle.failures - $4)) END <= $2) \
             RETURNING failures"
        )
        .bind(key)
        .bind(now)
        .bind(window_start)
        .bind(limits.free)
        .bind(limits.first_delay)
        .bind(limits.max_delay)
        .fetch_optional(p)
        .await)?)
    }

    /// Takes back an attempt counted by `begin_attempt` that turned out not to be a failure.
    pub async fn refund_attempt(&self, key: &str) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "UPDATE login_throttle SET failures = failures - 1 WHERE key = $1 AND failures > 0"
        )
        .bind(key)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Locks `key` until `until` when it has at least `lock_after` failures and is not locked
    /// already; true when this call locked it.
    pub async fn lock_if_exceeded(&self, key: &str, lock_after: i32, until: i64) -> Result<bool> {
        let now = self.now();
        let locked = on_db!(self, |p| sqlx::query(
            "UPDATE login_throttle SET locked_until = $2 \
             WHERE key = $1 AND failures >= $3 AND locked_until <= $4"
        )
        .bind(key)
        .bind(until)
        .bind(lock_after)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(locked == 1)
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
        .bind(self.now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
    }
}

//! The `jti`s of client assertions (RFC 7523 §3 item 7): each one once, until it expires, on
//! every instance sharing the database.

use super::{Db, Result, on_db};

/// What recording an assertion's `jti` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JtiOutcome {
    /// First use: recorded until the assertion expires.
    Fresh,
    /// Seen before, and that assertion has not expired: a replay.
    Replayed,
}

impl Db {
    /// Records `jti_hash` (a digest of the `jti`) for `client_id` until `expires_at`, in one
    /// statement, so two instances racing with the same assertion cannot both see `Fresh`. A row
    /// left over from an assertion that has expired is taken over.
    pub async fn use_assertion_jti(
        &self,
        client_id: &str,
        jti_hash: &str,
        expires_at: i64,
    ) -> Result<JtiOutcome> {
        let recorded = on_db!(self, |p| sqlx::query(
            "INSERT INTO client_assertion_jtis (client_id, jti_hash, expires_at) \
             VALUES ($1, $2, $3) ON CONFLICT (client_id, jti_hash) DO UPDATE \
             SET expires_at = excluded.expires_at \
             WHERE client_assertion_jtis.expires_at < $4"
        )
        .bind(client_id)
        .bind(jti_hash)
        .bind(expires_at)
        .bind(self.now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(if recorded == 1 {
            JtiOutcome::Fresh
        } else {
            JtiOutcome::Replayed
        })
    }

    /// Entries for assertions that have expired matter no more.
    pub async fn purge_assertion_jtis(&self) -> Result<u64> {
        Ok(on_db!(self, |p| sqlx::query(
            "DELETE FROM client_assertion_jtis WHERE expires_at < $1"
        )
        .bind(self.now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
    }
}

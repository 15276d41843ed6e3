use uuid::Uuid;

use super::{Db, Result, on_db, on_db_read};

/// A refresh token with its family, as presented at the token endpoint.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshLookup {
    pub family_id: Uuid,
    pub client_id: String,
    pub user_id: Uuid,
    pub scope: String,
    pub resource: Option<String>,
    /// When the user signed in for the grant that started the family (OpenID Connect).
    pub auth_time: Option<i64>,
    /// The user's address now (the `email` claim of refreshed tokens).
    pub email: String,
    pub email_verified_at: Option<i64>,
    pub family_revoked_at: Option<i64>,
    pub expires_at: i64,
    pub rotated_at: Option<i64>,
}

/// A new token family and its first refresh token.
pub struct NewRefreshFamily<'a> {
    pub id: Uuid,
    pub client_id: &'a str,
    pub user_id: Uuid,
    pub scope: &'a str,
    /// The resource (RFC 8707) every access token of the family is for.
    pub resource: Option<&'a str>,
    pub auth_time: Option<i64>,
    pub token_hash: &'a str,
    pub expires_at: i64,
}

/// What became of a refresh token presented for rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// First use: it is now rotated and the successor is stored.
    Rotated,
    /// Rotated moments ago (parallel refresh): a second successor is stored in the family.
    /// This happens at most once per token, and only while its first successor is unused.
    WithinGrace,
    /// Rotated longer ago than the grace window, replayed a second time within it, or
    /// superseded by its sibling's use: the family is revoked now.
    Reused,
    /// Unknown, or its family is revoked.
    Invalid,
}

/// A presented refresh token with its family and user (see `Db::find_refresh`).
const FIND_REFRESH: &str = "SELECT f.id AS family_id, f.client_id, f.user_id, f.scope, \
        f.resource, f.auth_time, u.email, u.email_verified_at, \
        f.revoked_at AS family_revoked_at, t.expires_at, t.rotated_at \
     FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
          JOIN users u ON u.id = f.user_id \
     WHERE t.token_hash = $1";

/// The rotation of a first-used refresh token (see `Db::rotate_refresh`). It also supersedes
/// the family's other live tokens (a grace-window sibling: `rotated_at = 0`, so that its use
/// is a reuse), so at most one branch of a fork lives on; SQLite does this in a trigger.
const ROTATE_POSTGRES: &str = "WITH rotated AS (\
       UPDATE refresh_tokens t SET rotated_at = $3 \
       WHERE t.token_hash = $1 AND t.rotated_at IS NULL AND t.expires_at > $3 \
         AND EXISTS (SELECT 1 FROM refresh_families f \
                     WHERE f.id = t.family_id AND f.revoked_at IS NULL) \
       RETURNING t.family_id, t.token_hash), \
     superseded AS (\
       UPDATE refresh_tokens s SET rotated_at = 0 FROM rotated r \
       WHERE s.family_id = r.family_id AND s.rotated_at IS NULL AND s.token_hash <> r.token_hash) \
     INSERT INTO refresh_tokens \
       (token_hash, family_id, created_at, expires_at, rotated_from) \
     SELECT $2, family_id, $3, $4, token_hash FROM rotated RETURNING family_id";
const ROTATE_SQLITE: &str = "INSERT INTO refresh_tokens \
       (token_hash, family_id, created_at, expires_at, rotated_from) \
     SELECT $2, t.family_id, $3, $4, t.token_hash \
     FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
     WHERE t.token_hash = $1 AND t.rotated_at IS NULL AND t.expires_at > $3 \
       AND f.revoked_at IS NULL \
     RETURNING family_id";

/// The one grace-window use of a rotated token (see `Db::rotate_refresh`): allowed while its
/// first successor is unused; spending it (`rotated_at = 0`) under the row's lock makes any
/// further replay a reuse.
const GRACE_USE: &str = "UPDATE refresh_tokens SET rotated_at = 0 \
     WHERE token_hash = $1 AND rotated_at > 0 AND rotated_at >= $3 AND expires_at > $2 \
       AND EXISTS (SELECT 1 FROM refresh_families f \
                   WHERE f.id = refresh_tokens.family_id AND f.revoked_at IS NULL) \
       AND NOT EXISTS (SELECT 1 FROM refresh_tokens c \
                       WHERE c.family_id = refresh_tokens.family_id \
                         AND c.rotated_from = refresh_tokens.token_hash \
                         AND c.rotated_at IS NOT NULL) \
     RETURNING family_id";

impl Db {
    /// Starts a family with its first token, atomically, in one statement.
    pub async fn create_refresh_family(&self, family: &NewRefreshFamily<'_>) -> Result<()> {
        let now = self.now();
        // Postgres: a data-modifying WITH; SQLite: a view whose trigger writes both rows.
        const POSTGRES: &str = "WITH f AS (\
               INSERT INTO refresh_families \
               (id, client_id, user_id, scope, resource, auth_time, created_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id) \
             INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) \
             SELECT $8, id, $7, $9 FROM f";
        const SQLITE: &str = "INSERT INTO refresh_family_starts \
             (id, client_id, user_id, scope, resource, auth_time, created_at, token_hash, \
              expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        let sql = self.per_dialect(POSTGRES, SQLITE);
        on_db!(self, |p| sqlx::query(sql)
            .bind(family.id)
            .bind(family.client_id)
            .bind(family.user_id)
            .bind(family.scope)
            .bind(family.resource)
            .bind(family.auth_time)
            .bind(now)
            .bind(family.token_hash)
            .bind(family.expires_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn find_refresh(&self, token_hash: &str) -> Result<Option<RefreshLookup>> {
        Ok(on_db_read!(self, |p| sqlx::query_as::<_, RefreshLookup>(
            FIND_REFRESH
        )
        .bind(token_hash)
        .fetch_optional(p)
        .await)?)
    }

    /// Rotates `old_hash` to `new_hash` in one transaction: the successor exists exactly when
    /// the answer is `Rotated` or `WithinGrace`. A use after the grace window, a second replay
    /// within it, or the use of a superseded sibling revokes the family (RFC 9700 §4.14.2).
    /// `grace_seconds` 0 is strict rotation.
    pub async fn rotate_refresh(
        &self,
        old_hash: &str,
        new_hash: &str,
        grace_seconds: i64,
        new_expires_at: i64,
    ) -> Result<Rotation> {
        let now = self.now();
        // The usual case, a first use, in one statement: the successor is inserted only if the
        // presented token is live, and inserting it marks the token rotated (Postgres: a
        // data-modifying WITH; SQLite: a trigger on `rotated_from`). The family is looked up by
        // its key: an `IN (SELECT id … WHERE revoked_at IS NULL)` here made SQLite build an index
        // of every live family on each refresh (refresh fell to 170/s with 100k families).
        let sql = self.per_dialect(ROTATE_POSTGRES, ROTATE_SQLITE);
        let first_use: Option<Uuid> = on_db!(self, |p| sqlx::query_scalar(sql)
            .bind(old_hash)
            .bind(new_hash)
            .bind(now)
            .bind(new_expires_at)
            .fetch_optional(p)
            .await)?;
        if first_use.is_some() {
            return Ok(Rotation::Rotated);
        }
        // Otherwise: a parallel refresh within the grace window, a reuse, or nothing known.
        // RFC 9700 §4.14.2: a replay must not start a chain of its own, so the grace window
        // allows one sibling, which lives only until either branch is used.
        let outcome = on_db!(self, |p| {
            let mut tx = p.begin().await?;
            let grace_family: Option<Uuid> = if grace_seconds > 0 {
                sqlx::query_scalar(GRACE_USE)
                    .bind(old_hash)
                    .bind(now)
                    .bind(now - grace_seconds)
                    .fetch_optional(&mut *tx)
                    .await?
            } else {
                None
            };
            let outcome = if let Some(family) = grace_family {
                sqlx::query(
                    "INSERT INTO refresh_tokens \
                     (token_hash, family_id, created_at, expires_at, rotated_from) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(new_hash)
                .bind(family)
                .bind(now)
                .bind(new_expires_at)
                .bind(old_hash)
                .execute(&mut *tx)
                .await?;
                Rotation::WithinGrace
            } else {
                let seen: Option<(Uuid, Option<i64>, Option<i64>)> = sqlx::query_as(
                    "SELECT t.family_id, t.rotated_at, f.revoked_at \
                     FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
                     WHERE t.token_hash = $1",
                )
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
                match seen {
                    Some((family, Some(_), None)) => {
                        sqlx::query(
                            "UPDATE refresh_families SET revoked_at = $2, revoked_reason = $3 \
                             WHERE id = $1 AND revoked_at IS NULL",
                        )
                        .bind(family)
                        .bind(now)
                        .bind("refresh token reused")
                        .execute(&mut *tx)
                        .await?;
                        Rotation::Reused
                    }
                    _ => Rotation::Invalid,
                }
            };
            tx.commit().await?;
            outcome
        });
        Ok(outcome)
    }

    /// Revokes a family (and so every refresh token in it).
    pub async fn revoke_refresh_family(&self, family_id: Uuid, reason: &str) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "UPDATE refresh_families SET revoked_at = $2, revoked_reason = $3 \
             WHERE id = $1 AND revoked_at IS NULL"
        )
        .bind(family_id)
        .bind(self.now())
        .bind(reason)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Deletes expired refresh tokens, and families with no live token left (revoked ones are
    /// kept a day for the audit of reuse).
    pub async fn purge_dead_refresh_families(&self) -> Result<u64> {
        let now = self.now();
        let tokens = on_db!(self, |p| sqlx::query(
            "DELETE FROM refresh_tokens WHERE expires_at <= $1"
        )
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        let families = on_db!(self, |p| {
            sqlx::query(
            "DELETE FROM refresh_families WHERE \
               (revoked_at IS NOT NULL AND revoked_at < $1) OR \
               (revoked_at IS NULL AND created_at < $2 AND \
                NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.family_id = refresh_families.id))"
        )
        .bind(now - 86_400)
        .bind(now - 60)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(tokens + families)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What SQLite plans for `sql`, one line per step.
    async fn plan(db: &Db, sql: &str) -> Vec<String> {
        let rows: Vec<(i64, i64, i64, String)> = on_db!(db, |p| sqlx::query_as(
            sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}"))
        )
        .fetch_all(p)
        .await)
        .expect("plan");
        rows.into_iter().map(|r| r.3).collect()
    }

    /// The statements of every refresh find their rows by key: their cost must not grow with
    /// the number of tokens or families (an `IN (SELECT …)` once indexed every live family on
    /// each refresh).
    #[tokio::test]
    async fn refresh_statements_search_by_key_only() {
        let db = Db::connect("sqlite::memory:").await.expect("db");
        for sql in [ROTATE_SQLITE, FIND_REFRESH] {
            let steps = plan(&db, sql).await;
            assert!(
                steps.iter().all(|s| s.starts_with("SEARCH ")),
                "{sql}\n{steps:?}"
            );
        }
    }
}

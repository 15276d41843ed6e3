use uuid::Uuid;

use super::{Db, Result, on_db};

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
    WithinGrace,
    /// Rotated longer ago than the grace window: the family is revoked now.
    Reused,
    /// Unknown, or its family is revoked.
    Invalid,
}

impl Db {
    /// Starts a family with its first token, atomically.
    pub async fn create_refresh_family(&self, family: &NewRefreshFamily<'_>) -> Result<()> {
        let now = super::now();
        on_db!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO refresh_families \
                 (id, client_id, user_id, scope, resource, auth_time, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(family.id)
            .bind(family.client_id)
            .bind(family.user_id)
            .bind(family.scope)
            .bind(family.resource)
            .bind(family.auth_time)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(family.token_hash)
            .bind(family.id)
            .bind(now)
            .bind(family.expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn find_refresh(&self, token_hash: &str) -> Result<Option<RefreshLookup>> {
        Ok(on_db!(self, |p| sqlx::query_as::<_, RefreshLookup>(
            "SELECT f.id AS family_id, f.client_id, f.user_id, f.scope, f.resource, \
                    f.auth_time, u.email, u.email_verified_at, \
                    f.revoked_at AS family_revoked_at, t.expires_at, t.rotated_at \
             FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
                  JOIN users u ON u.id = f.user_id \
             WHERE t.token_hash = $1"
        )
        .bind(token_hash)
        .fetch_optional(p)
        .await)?)
    }

    /// Rotates `old_hash` to `new_hash` in one transaction: the successor exists exactly when
    /// the answer is `Rotated` or `WithinGrace`. A use after the grace window revokes the family
    /// (RFC 9700 §4.14.2).
    pub async fn rotate_refresh(
        &self,
        old_hash: &str,
        new_hash: &str,
        grace_seconds: i64,
        new_expires_at: i64,
    ) -> Result<Rotation> {
        let now = super::now();
        let outcome = on_db!(self, |p| {
            let mut tx = p.begin().await?;
            let first_use: Option<Uuid> = sqlx::query_scalar(
                "UPDATE refresh_tokens SET rotated_at = $2 \
                 WHERE token_hash = $1 AND rotated_at IS NULL AND expires_at > $2 \
                   AND family_id IN (SELECT id FROM refresh_families WHERE revoked_at IS NULL) \
                 RETURNING family_id",
            )
            .bind(old_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let (outcome, family) = match first_use {
                Some(family) => (Rotation::Rotated, Some(family)),
                None => {
                    let seen: Option<(Uuid, Option<i64>, i64, Option<i64>)> = sqlx::query_as(
                        "SELECT t.family_id, t.rotated_at, t.expires_at, f.revoked_at \
                         FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
                         WHERE t.token_hash = $1",
                    )
                    .bind(old_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                    match seen {
                        Some((family, Some(rotated), expires, None))
                            if now - rotated <= grace_seconds && expires > now =>
                        {
                            (Rotation::WithinGrace, Some(family))
                        }
                        Some((family, Some(_), _, None)) => {
                            sqlx::query(
                                "UPDATE refresh_families SET revoked_at = $2, revoked_reason = $3 \
                                 WHERE id = $1 AND revoked_at IS NULL",
                            )
                            .bind(family)
                            .bind(now)
                            .bind("refresh token reused")
                            .execute(&mut *tx)
                            .await?;
                            (Rotation::Reused, None)
                        }
                        _ => (Rotation::Invalid, None),
                    }
                }
            };
            if let Some(family) = family {
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(new_hash)
                .bind(family)
                .bind(now)
                .bind(new_expires_at)
                .execute(&mut *tx)
                .await?;
            }
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
        .bind(super::now())
        .bind(reason)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Deletes expired refresh tokens, and families with no live token left (revoked ones are
    /// kept a day for the audit of reuse).
    pub async fn purge_dead_refresh_families(&self) -> Result<u64> {
        let now = super::now();
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

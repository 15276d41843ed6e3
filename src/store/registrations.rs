//! Dynamic registration's own state: RFC 7592 updates of registered clients, RFC 7591 initial
//! access tokens, and the sweep of registrations nobody uses.

use jsonwebtoken::Algorithm;
use uuid::Uuid;

use super::clients::replace_redirect_uris;
use super::{Db, Result, on_db};

/// An initial access token as listed (never its value).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InitialAccessToken {
    pub id: Uuid,
    pub note: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub uses_left: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What an RFC 7592 update may change.
pub struct RegistrationUpdate<'a> {
    pub name: &'a str,
    pub scope: &'a str,
    pub id_token_alg: Algorithm,
    pub auth_method: &'a str,
    pub redirect_uris: &'a [String],
    /// A private_key_jwt client's keys, replaced with the rest.
    pub keys: Option<&'a super::ClientKeys>,
}

impl Db {
    /// Replaces a dynamically registered client's metadata and redirect URIs in one
    /// transaction. `false` when no such registered client exists.
    pub async fn update_registered_client(
        &self,
        client_id: &str,
        update: &RegistrationUpdate<'_>,
    ) -> Result<bool> {
        let now = self.now();
        let done = on_db!(self, |p| {
            let mut tx = p.begin().await?;
            let changed = sqlx::query(
                "UPDATE clients SET name = $2, scope = $3, id_token_alg = $4, registered_auth_method = $5 \
                 WHERE client_id = $1 AND registration_token_hash IS NOT NULL",
            )
            .bind(client_id)
            .bind(update.name)
            .bind(update.scope)
            .bind(crate::domain::alg_name(update.id_token_alg))
            .bind(update.auth_method)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 1 && update.keys.is_some() {
                let (jwks_uri, jwks) = super::ClientKeys::columns(update.keys);
                sqlx::query("UPDATE clients SET jwks_uri = $2, jwks = $3 WHERE client_id = $1")
                    .bind(client_id)
                    .bind(jwks_uri)
                    .bind(jwks)
                    .execute(&mut *tx)
                    .await?;
            }
            if changed == 1 {
                replace_redirect_uris!(tx, client_id, update.redirect_uris, now);
            }
            tx.commit().await?;
            changed == 1
        });
        Ok(done)
    }

    /// Deletes dynamically registered clients created before `cutoff` that issued no token
    /// since then; returns their ids. Clients made by an operator are never swept.
    pub async fn sweep_abandoned_registrations(&self, cutoff: i64) -> Result<Vec<String>> {
        Ok(on_db!(self, |p| sqlx::query_scalar::<_, String>(
            "DELETE FROM clients WHERE registration_token_hash IS NOT NULL AND created_at < $1 \
               AND NOT EXISTS (SELECT 1 FROM refresh_tokens t \
                               JOIN refresh_families f ON f.id = t.family_id \
                               WHERE f.client_id = clients.client_id AND t.created_at >= $1) \
             RETURNING client_id"
        )
        .bind(cutoff)
        .fetch_all(p)
        .await)?)
    }

    pub async fn insert_initial_access_token(
        &self,
        token: &InitialAccessToken,
        token_hash: &str,
    ) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "INSERT INTO initial_access_tokens (id, token_hash, note, created_at, expires_at, \
             uses_left) VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(token.id)
        .bind(token_hash)
        .bind(&token.note)
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(token.uses_left)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Spends one use of a live initial access token, atomically: of two registrations racing
    /// for a token's last use, one gets it.
    pub async fn consume_initial_access_token(&self, token_hash: &str) -> Result<bool> {
        let spent = on_db!(self, |p| sqlx::query(
            "UPDATE initial_access_tokens \
             SET uses_left = CASE WHEN uses_left IS NULL THEN NULL ELSE uses_left - 1 END \
             WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2 \
               AND (uses_left IS NULL OR uses_left > 0)"
        )
        .bind(token_hash)
        .bind(self.now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(spent == 1)
    }

    pub async fn initial_access_tokens(&self) -> Result<Vec<InitialAccessToken>> {
        Ok(on_db!(self, |p| sqlx::query_as::<_, InitialAccessToken>(
            "SELECT id, note, created_at, expires_at, uses_left, revoked_at \
             FROM initial_access_tokens ORDER BY created_at, id"
        )
        .fetch_all(p)
        .await)?)
    }

    pub async fn revoke_initial_access_token(&self, id: Uuid) -> Result<bool> {
        let done = on_db!(self, |p| {
            sqlx::query(
            "UPDATE initial_access_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL"
        )
        .bind(id)
        .bind(self.now())
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(done == 1)
    }
}

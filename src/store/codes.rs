use uuid::Uuid;

use super::{Db, Result, on_db, on_db_read};

/// An authorization code's grant, stored under the code's SHA-256 digest.
#[derive(Clone, sqlx::FromRow)]
pub struct CodeRecord {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: Uuid,
    pub redirect_uri: String,
    pub scope: String,
    pub pkce: Option<String>,
    /// The resource (RFC 8707) the grant is for, if one was named.
    pub resource: Option<String>,
    /// OpenID Connect: the client's `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    /// When the user last signed in with a password, for the ID token's `auth_time`.
    pub auth_time: Option<i64>,
    /// With the `email` scope: the address and whether it is proven, for the access token.
    pub email: Option<String>,
    pub email_verified: bool,
    pub created_at: i64,
    pub expires_at: i64,
}

impl std::fmt::Debug for CodeRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeRecord")
            .field("client_id", &self.client_id)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A redeemed code and what was issued for it, kept while that access token lives so that a
/// replay of the code can revoke it (RFC 6749 §4.1.2).
pub struct SpentCode<'a> {
    pub code_hash: &'a str,
    pub family_id: Uuid,
    pub client_id: &'a str,
    pub access_jti: &'a str,
    pub access_expires_at: i64,
}

impl Db {
    pub async fn insert_code(&self, code: &CodeRecord) -> Result<()> {
        on_db!(self, |p| {
            sqlx::query(
            "INSERT INTO auth_codes \
             (code_hash, client_id, user_id, redirect_uri, scope, pkce, resource, nonce, auth_time, \
              email, email_verified, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        )
        .bind(&code.code_hash)
        .bind(&code.client_id)
        .bind(code.user_id)
        .bind(&code.redirect_uri)
        .bind(&code.scope)
        .bind(&code.pkce)
        .bind(&code.resource)
        .bind(&code.nonce)
        .bind(code.auth_time)
        .bind(&code.email)
        .bind(code.email_verified)
        .bind(code.created_at)
        .bind(code.expires_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Single use: the row is deleted as it is read, so of N parallel redemptions exactly one
    /// sees it (`DELETE … RETURNING`, Postgres and SQLite ≥ 3.35). Expired codes are not returned.
    pub async fn take_code(&self, code_hash: &str) -> Result<Option<CodeRecord>> {
        let row = on_db!(self, |p| {
            sqlx::query_as::<_, CodeRecord>(
                "DELETE FROM auth_codes WHERE code_hash = $1 \
             RETURNING code_hash, client_id, user_id, redirect_uri, scope, pkce, resource, nonce, \
             auth_time, email, email_verified, created_at, expires_at",
            )
            .bind(code_hash)
            .fetch_optional(p)
            .await
        })?;
        Ok(row.filter(|c| c.expires_at > self.now()))
    }

    /// The redirect URI a code was issued to, when a token request may leave it out: the code
    /// is bound by PKCE (OAuth 2.1 §4.1.3), or its client can redirect nowhere else. Reads
    /// without redeeming.
    pub async fn implied_redirect_uri(&self, code_hash: &str) -> Result<Option<String>> {
        let row: Option<(String, bool, bool, i64)> = on_db_read!(self, |p| sqlx::query_as(
            "SELECT c.redirect_uri, c.pkce IS NOT NULL, cl.chatgpt_callbacks, \
                    (SELECT COUNT(*) FROM client_redirect_uris u WHERE u.client_id = c.client_id) \
             FROM auth_codes c JOIN clients cl ON cl.client_id = c.client_id \
             WHERE c.code_hash = $1"
        )
        .bind(code_hash)
        .fetch_optional(p)
        .await)?;
        Ok(
            row.and_then(|(uri, pkce, any_chatgpt_callback, registered)| {
                (pkce || (!any_chatgpt_callback && registered == 1)).then_some(uri)
            }),
        )
    }

    /// Remembers what a redeemed code was exchanged for (see `revoke_replayed_code`).
    pub async fn insert_spent_code(&self, spent: &SpentCode<'_>) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "INSERT INTO spent_codes \
             (code_hash, family_id, client_id, access_jti, access_expires_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (code_hash) DO NOTHING"
        )
        .bind(spent.code_hash)
        .bind(spent.family_id)
        .bind(spent.client_id)
        .bind(spent.access_jti)
        .bind(spent.access_expires_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// A code presented again after it was redeemed: revokes the refresh family and the access
    /// token issued for it (RFC 6749 §4.1.2: SHOULD), and every access token of that user for
    /// that client issued until now (refreshed ones too: see `token_parties_active`), in one
    /// transaction. `access_ttl` bounds how long that last revocation must be kept. Returns the
    /// family's user and client when there was something to revoke.
    pub async fn revoke_replayed_code(
        &self,
        code_hash: &str,
        access_ttl: i64,
    ) -> Result<Option<(Uuid, String)>> {
        let now = self.now();
        let revoked = on_db!(self, |p| {
            let mut tx = p.begin().await?;
            let spent: Option<(Uuid, String, String, i64, Uuid)> = sqlx::query_as(
                "SELECT s.family_id, s.client_id, s.access_jti, s.access_expires_at, f.user_id \
                 FROM spent_codes s JOIN refresh_families f ON f.id = s.family_id \
                 WHERE s.code_hash = $1 AND s.expires_at > $2",
            )
            .bind(code_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((family, client_id, jti, access_expires_at, _)) = &spent {
                sqlx::query(
                    "UPDATE refresh_families SET revoked_at = $2, revoked_reason = $3 \
                     WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(family)
                .bind(now)
                .bind("authorization code replayed")
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO revoked_access_tokens (jti, client_id, revoked_at, expires_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING",
                )
                .bind(jti)
                .bind(client_id)
                .bind(now)
                .bind(access_expires_at)
                .execute(&mut *tx)
                .await?;
            }
            if let Some((_, client_id, _, _, user)) = &spent {
                sqlx::query(
                    "INSERT INTO revoked_grants (user_id, client_id, revoked_before, expires_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, client_id) DO UPDATE \
                     SET revoked_before = excluded.revoked_before, expires_at = excluded.expires_at",
                )
                .bind(user)
                .bind(client_id)
                .bind(now)
                .bind(now + access_ttl)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            spent.map(|(_, client_id, _, _, user)| (user, client_id))
        });
        Ok(revoked)
    }

    /// Removes expired codes, and spent ones whose access token has expired; returns how many.
    pub async fn purge_expired_codes(&self) -> Result<u64> {
        let now = self.now();
        let codes = on_db!(self, |p| sqlx::query(
            "DELETE FROM auth_codes WHERE expires_at <= $1"
        )
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        let spent = on_db!(self, |p| sqlx::query(
            "DELETE FROM spent_codes WHERE expires_at <= $1"
        )
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(codes + spent)
    }
}

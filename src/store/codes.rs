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
        Ok(row.filter(|c| c.expires_at > super::now()))
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

    /// Removes expired codes; returns how many.
    pub async fn purge_expired_codes(&self) -> Result<u64> {
        let done = on_db!(self, |p| sqlx::query(
            "DELETE FROM auth_codes WHERE expires_at <= $1"
        )
        .bind(super::now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done)
    }
}

use uuid::Uuid;

use super::{Db, Result, on_db};

/// A client (GPT) a user has connected: consented to, possibly holding tokens.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Connection {
    pub client_id: String,
    pub client_name: String,
    pub scope: String,
    pub connected_at: i64,
    /// The last token issuance or refresh for this user and client.
    pub last_used_at: Option<i64>,
}

impl Db {
    pub async fn connections(&self, user_id: Uuid) -> Result<Vec<Connection>> {
        Ok(on_db!(self, |p| sqlx::query_as::<_, Connection>(
            "SELECT c.client_id, cl.name AS client_name, c.scope, c.created_at AS connected_at, \
                    (SELECT MAX(t.created_at) FROM refresh_tokens t \
                       JOIN refresh_families f ON f.id = t.family_id \
                      WHERE f.user_id = c.user_id AND f.client_id = c.client_id) AS last_used_at \
             FROM consents c JOIN clients cl ON cl.client_id = c.client_id \
             WHERE c.user_id = $1 ORDER BY c.created_at DESC"
        )
        .bind(user_id)
        .fetch_all(p)
        .await)?)
    }

    /// Withdraws consent, drops the client's unredeemed codes for this user and revokes every
    /// refresh-token family of this user and client at once, so the client can neither redeem
    /// a code it was sent before nor refresh, and must ask the user again.
    pub async fn disconnect(&self, user_id: Uuid, client_id: &str) -> Result<bool> {
        let now = self.now();
        let removed = on_db!(self, |p| {
            let mut tx = p.begin().await?;
            let removed = sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM auth_codes WHERE user_id = $1 AND client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE refresh_families SET revoked_at = $3, revoked_reason = $4 \
                 WHERE user_id = $1 AND client_id = $2 AND revoked_at IS NULL",
            )
            .bind(user_id)
            .bind(client_id)
            .bind(now)
            .bind("disconnected by the user")
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            removed
        });
        Ok(removed == 1)
    }
}

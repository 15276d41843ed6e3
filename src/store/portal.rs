//! What the builder portal reads and the first-administrator setup: per-client activity and
//! errors from the audit trail, connected users, and one-time setup links.

use crate::domain::AuditKind;

use super::{AuditRecord, Db, NewUser, Result, StoreError, on_db};

/// Audit kinds a builder sees as their client's recent errors.
pub const CLIENT_ERROR_KINDS: [AuditKind; 3] = [
    AuditKind::RedirectUriMismatch,
    AuditKind::ClientAuthFailed,
    AuditKind::RefreshReuseDetected,
];

/// Events of one kind on one day (days counted from the `since` of the query).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DayCount {
    pub day: i64,
    pub kind: String,
    pub count: i64,
}

/// What using a setup link came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupOutcome {
    Created,
    /// Unknown, expired or already used.
    InvalidLink,
    /// An administrator exists already: setup links are over.
    AdminExists,
}

impl Db {
    /// Sign-ins (`token_issued`) and refreshes (`token_refreshed`) of a client per day since
    /// `since`, counted by the database (integer division works alike in both dialects).
    pub async fn client_activity(&self, client_id: &str, since: i64) -> Result<Vec<DayCount>> {
        Ok(on_db!(self, |p| sqlx::query_as::<_, DayCount>(
            "SELECT (at - $2) / 86400 AS day, kind, COUNT(*) AS count FROM audit_events \
             WHERE client_id = $1 AND at >= $2 AND kind IN ('token_issued', 'token_refreshed') \
             GROUP BY (at - $2) / 86400, kind"
        )
        .bind(client_id)
        .bind(since)
        .fetch_all(p)
        .await)?)
    }

    /// The most recent errors of a client (see `CLIENT_ERROR_KINDS`), newest first.
    pub async fn client_errors(&self, client_id: &str, limit: i64) -> Result<Vec<AuditRecord>> {
        Ok(on_db!(self, |p| sqlx::query_as::<_, AuditRecord>(
            "SELECT id, at, kind, user_id, client_id, ip, detail FROM audit_events \
             WHERE client_id = $1 AND kind IN ($2, $3, $4) ORDER BY at DESC, id DESC LIMIT $5"
        )
        .bind(client_id)
        .bind(CLIENT_ERROR_KINDS[0].as_str())
        .bind(CLIENT_ERROR_KINDS[1].as_str())
        .bind(CLIENT_ERROR_KINDS[2].as_str())
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// How many people have allowed the client.
    pub async fn connected_users(&self, client_id: &str) -> Result<i64> {
        Ok(on_db!(self, |p| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM consents WHERE client_id = $1"
        )
        .bind(client_id)
        .fetch_one(p)
        .await)?)
    }

    pub async fn insert_setup_link(&self, token_hash: &str, expires_at: i64) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "INSERT INTO setup_links (token_hash, created_at, expires_at) VALUES ($1, $2, $3)"
        )
        .bind(token_hash)
        .bind(self.now())
        .bind(expires_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Whether a setup link is live (to show the form).
    pub async fn setup_link_valid(&self, token_hash: &str) -> Result<bool> {
        let found: Option<i64> = on_db!(self, |p| sqlx::query_scalar(
            "SELECT expires_at FROM setup_links WHERE token_hash = $1 AND expires_at > $2"
        )
        .bind(token_hash)
        .bind(self.now())
        .fetch_optional(p)
        .await)?;
        Ok(found.is_some())
    }

    /// Spends the link and creates the first administrator, in one transaction: every setup
    /// link ends with it.
    pub async fn create_first_admin(
        &self,
        token_hash: &str,
        admin: &NewUser<'_>,
    ) -> Result<SetupOutcome> {
        let now = self.now();
        let outcome = on_db!(self, |p| {
            let mut tx = p.begin().await?;
            let spent =
                sqlx::query("DELETE FROM setup_links WHERE token_hash = $1 AND expires_at > $2")
                    .bind(token_hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            let admin_exists: Option<i32> = sqlx::query_scalar(
                "SELECT 1 FROM users WHERE is_admin = TRUE AND disabled_at IS NULL LIMIT 1",
            )
            .fetch_optional(&mut *tx)
            .await?;
            let outcome = if spent != 1 {
                SetupOutcome::InvalidLink
            } else if admin_exists.is_some() {
                SetupOutcome::AdminExists
            } else {
                sqlx::query(
                    "INSERT INTO users (id, email, name, password_hash, is_admin, is_builder, \
                     created_at) VALUES ($1, $2, $3, $4, TRUE, TRUE, $5)",
                )
                .bind(admin.id)
                .bind(admin.email)
                .bind(admin.name)
                .bind(admin.password_hash)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_insert)?;
                sqlx::query("DELETE FROM setup_links")
                    .execute(&mut *tx)
                    .await?;
                SetupOutcome::Created
            };
            tx.commit().await?;
            outcome
        });
        Ok(outcome)
    }
}

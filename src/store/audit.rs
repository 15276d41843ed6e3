use uuid::Uuid;

use super::{Db, Result, on_db};

/// A security event, without secrets.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent {
    pub kind: &'static str,
    pub user_id: Option<Uuid>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub user_id: Option<Uuid>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

impl Db {
    pub async fn insert_audit(&self, at: i64, event: &AuditEvent) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "INSERT INTO audit_events (at, kind, user_id, client_id, ip, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(at)
        .bind(event.kind)
        .bind(event.user_id)
        .bind(&event.client_id)
        .bind(&event.ip)
        .bind(&event.detail)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Events at or after `since` (Unix seconds), oldest first, at most `limit`.
    pub async fn audit_since(&self, since: i64, limit: i64) -> Result<Vec<AuditRecord>> {
        Ok(on_db!(self, |p| sqlx::query_as::<_, AuditRecord>(
            "SELECT id, at, kind, user_id, client_id, ip, detail FROM audit_events \
             WHERE at >= $1 ORDER BY at, id LIMIT $2"
        )
        .bind(since)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }
}

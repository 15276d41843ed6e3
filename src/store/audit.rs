use uuid::Uuid;

use crate::domain::AuditKind;

use super::{Db, Result, on_db};

/// A security event, without secrets.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub kind: AuditKind,
    pub user_id: Option<Uuid>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event of `kind` about no one in particular; set the fields that apply.
    pub fn new(kind: AuditKind) -> Self {
        AuditEvent {
            kind,
            user_id: None,
            client_id: None,
            ip: None,
            detail: None,
        }
    }
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
    /// Writes events in one statement (the audit writer batches what queued up under load).
    pub async fn insert_audit(&self, events: &[(i64, AuditEvent)]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        on_db!(self, |p| {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO audit_events (at, kind, user_id, client_id, ip, detail) ",
            );
            insert.push_values(events, |mut row, (at, event)| {
                row.push_bind(*at)
                    .push_bind(event.kind.as_str())
                    .push_bind(event.user_id)
                    .push_bind(event.client_id.as_deref())
                    .push_bind(event.ip.as_deref())
                    .push_bind(event.detail.as_deref());
            });
            insert.build().execute(p).await.map(|r| r.rows_affected())
        })?;
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

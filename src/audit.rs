//! The audit trail: security events written to the database by a background task, so that
//! recording one never adds a round trip to the request that caused it.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::metrics::Metrics;

use crate::store::{AuditEvent, Db};

/// Events waiting for the writer; beyond this the newest are dropped (and said so in the log).
const BACKLOG: usize = 10_000;

#[derive(Clone)]
pub struct Audit {
    tx: mpsc::Sender<(i64, AuditEvent)>,
    metrics: Arc<Metrics>,
}

impl Audit {
    /// Starts the writer on the current runtime.
    pub fn start(db: Db, metrics: Arc<Metrics>) -> Self {
        let (tx, mut rx) = mpsc::channel::<(i64, AuditEvent)>(BACKLOG);
        tokio::spawn(async move {
            while let Some((at, event)) = rx.recv().await {
                if let Err(e) = db.insert_audit(at, &event).await {
                    tracing::warn!(error = %e, kind = event.kind, "writing an audit event failed");
                }
            }
        });
        Audit { tx, metrics }
    }

    pub fn record(&self, event: AuditEvent) {
        self.metrics.observe_event(event.kind);
        tracing::info!(
            target: "audit",
            kind = event.kind,
            user_id = ?event.user_id,
            client_id = ?event.client_id,
            "security event"
        );
        if self.tx.try_send((crate::store::now(), event)).is_err() {
            tracing::warn!("audit backlog full: an event was dropped");
        }
    }
}

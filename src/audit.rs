//! The audit trail: security events written to the database by a background task, so that
//! recording one never adds a round trip to the request that caused it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, mpsc};

use crate::metrics::Metrics;

use crate::store::{AuditEvent, Clock, Db};

/// Events waiting for the writer; beyond this the newest are dropped (and said so in the log).
const BACKLOG: usize = 10_000;
/// At most this many queued events go into one INSERT (6 parameters each, far below either
/// database's limit). When idle, each event is written on its own at once.
const BATCH: usize = 256;

#[derive(Clone)]
pub struct Audit {
    tx: mpsc::Sender<(i64, AuditEvent)>,
    metrics: Arc<Metrics>,
    /// Events queued and not yet written, and a wake-up when that count falls.
    pending: Arc<(AtomicUsize, Notify)>,
    /// The database's clock: events are stamped with the time the store reads.
    clock: Clock,
}

impl Audit {
    /// Starts the writer on the current runtime.
    pub fn start(db: Db, metrics: Arc<Metrics>) -> Self {
        let (tx, mut rx) = mpsc::channel::<(i64, AuditEvent)>(BACKLOG);
        let pending = Arc::new((AtomicUsize::new(0), Notify::new()));
        let written = pending.clone();
        let clock = db.clock().clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while rx.recv_many(&mut batch, BATCH).await > 0 {
                if let Err(e) = db.insert_audit(&batch).await {
                    tracing::warn!(error = %e, events = batch.len(), "writing audit events failed");
                }
                written.0.fetch_sub(batch.len(), Ordering::AcqRel);
                written.1.notify_waiters();
                batch.clear();
            }
        });
        Audit {
            tx,
            metrics,
            pending,
            clock,
        }
    }

    /// Waits until every event recorded so far is written (or failed to be): for a short-lived
    /// process such as a CLI command, which would otherwise exit before the writer ran.
    pub async fn flush(&self) {
        loop {
            let notified = self.pending.1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.pending.0.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    pub fn record(&self, mut event: AuditEvent) {
        // Details and client IDs can be anyone's text (a tried redirect URI, a Basic header):
        // stored with control characters escaped, for `gptauth audit` and the portal.
        for text in [&mut event.client_id, &mut event.detail, &mut event.ip]
            .into_iter()
            .flatten()
        {
            *text = crate::domain::escape_controls(text);
        }
        self.metrics.observe_event(event.kind);
        tracing::info!(
            target: "audit",
            kind = event.kind.as_str(),
            user_id = ?event.user_id,
            client_id = ?event.client_id,
            "security event"
        );
        self.pending.0.fetch_add(1, Ordering::AcqRel);
        if self.tx.try_send((self.clock.now(), event)).is_err() {
            self.pending.0.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!("audit backlog full: an event was dropped");
        }
    }
}

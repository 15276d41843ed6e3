//! Background upkeep: keys rotated elsewhere, expired rows, abandoned registrations.

use std::time::Duration;

use super::App;
use crate::store::AuditEvent;

/// Periodic work: pick up keys rotated by another instance, drop expired codes.
pub async fn run(state: std::sync::Arc<App>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.tick().await;
    let mut minutes: u64 = 0;
    loop {
        tick.tick().await;
        minutes += 1;
        if let Err(e) = state
            .keys
            .reload(&state.db, state.config.access_token_ttl)
            .await
        {
            tracing::warn!(error = %e, "reloading signing keys failed");
        }
        if let Err(e) = state
            .keys
            .rotate_if_due(
                &state.db,
                state.config.key_rotation_days,
                state.config.access_token_ttl,
            )
            .await
        {
            tracing::warn!(error = %e, "scheduled key rotation failed");
        }
        if minutes.is_multiple_of(60) {
            sweep_abandoned_registrations(&state).await;
        }
        if let Err(e) = state.db.purge_expired_codes().await {
            tracing::warn!(error = %e, "purging expired codes failed");
        }
        if let Err(e) = state
            .db
            .purge_expired_sessions(super::sessions::IDLE_SECONDS)
            .await
        {
            tracing::warn!(error = %e, "purging expired sessions failed");
        }
        let stale = state.db.now() - crate::app::throttle::WINDOW_SECONDS;
        if let Err(e) = state.db.purge_throttle(stale).await {
            tracing::warn!(error = %e, "purging login throttle counters failed");
        }
        if let Err(e) = state.db.purge_known_devices().await {
            tracing::warn!(error = %e, "purging expired device cookies failed");
        }
        if let Err(e) = state.db.purge_dead_refresh_families().await {
            tracing::warn!(error = %e, "purging dead refresh tokens failed");
        }
        if let Err(e) = state.db.purge_revoked_access_tokens().await {
            tracing::warn!(error = %e, "purging revoked access tokens failed");
        }
        if let Err(e) = state.db.purge_assertion_jtis().await {
            tracing::warn!(error = %e, "purging used client assertion ids failed");
        }
        if let Err(e) = state.db.purge_unused_metadata_clients(state.db.now()).await {
            tracing::warn!(error = %e, "purging unused metadata-document clients failed");
        }
    }
}

/// Dynamically registered clients unused this long are deleted: MCP hosts register on every
/// new connection and never clean up after themselves.
pub const ABANDONED_REGISTRATION_SECONDS: i64 = 30 * 86_400;

/// Deletes abandoned registrations (see `ABANDONED_REGISTRATION_SECONDS`); returns how many.
pub async fn sweep_abandoned_registrations(state: &App) -> usize {
    let cutoff = state.db.now() - ABANDONED_REGISTRATION_SECONDS;
    match state.db.sweep_abandoned_registrations(cutoff).await {
        Ok(swept) => {
            for client_id in &swept {
                state.audit.record(AuditEvent {
                    client_id: Some(client_id.clone()),
                    detail: Some("registration unused for 30 days".into()),
                    ..AuditEvent::new(crate::domain::AuditKind::ClientDeleted)
                });
            }
            if !swept.is_empty() {
                tracing::info!(count = swept.len(), "swept abandoned client registrations");
            }
            swept.len()
        }
        Err(e) => {
            tracing::warn!(error = %e, "sweeping abandoned registrations failed");
            0
        }
    }
}

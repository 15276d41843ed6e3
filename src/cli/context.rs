//! The use cases' context for one command, so that the CLI calls the same `app` functions as
//! the web edge (and its changes land in the audit trail).

use std::sync::Arc;

use crate::app::App;
use crate::app::hasher::PasswordHasher;
use crate::audit::Audit;
use crate::client_metadata::ClientMetadata;
use crate::config::Config;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::store::Db;
use crate::tokens::Keys;

/// Builds the context over an open database. Call `app.audit.flush()` before exiting.
pub(super) async fn app(db: &Db, config: &Config) -> anyhow::Result<App> {
    let keys =
        Keys::load_or_create(db, config.access_token_ttl, crate::app::sealer(config)).await?;
    let metrics = Arc::new(Metrics::default());
    Ok(App {
        config: config.clone(),
        db: db.clone(),
        keys,
        hasher: PasswordHasher::default(),
        audit: Audit::start(db.clone(), metrics.clone()),
        client_metadata: ClientMetadata::new(
            config.client_metadata_allow_insecure_loopback,
            config.client_metadata_documents.clone(),
        )?,
        mailer: Mailer::new(config.smtp_url.as_deref(), &config.mail_from)?,
        metrics,
    })
}

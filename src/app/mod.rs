//! The use cases: what a person, a builder, an operator or a client can do, each one function
//! that every adapter (web, CLI, registration) calls. Nothing here knows HTTP.

pub mod accounts;
pub mod clients;
pub mod hasher;
pub mod mail_links;
pub mod sessions;
pub mod setup;
pub mod throttle;
pub mod upkeep;
pub mod users;

use std::sync::Arc;

use crate::audit::Audit;
use crate::client_metadata::ClientMetadata;
use crate::config::Config;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::store::Db;
use crate::tokens::Keys;
use hasher::PasswordHasher;

/// What the use cases work with: storage, keys, the hasher, the audit trail, mail. One per
/// process, shared by every worker and every adapter.
pub struct App {
    pub config: Config,
    pub db: Db,
    pub keys: Keys,
    pub hasher: PasswordHasher,
    pub audit: Audit,
    /// Clients named by a client ID metadata document URL.
    pub client_metadata: ClientMetadata,
    pub mailer: Mailer,
    pub metrics: Arc<Metrics>,
}

impl App {
    /// The protocol core's view of this context.
    pub fn oauth(&self) -> crate::oauth::Core<'_> {
        crate::oauth::Core {
            db: &self.db,
            keys: &self.keys,
            config: &self.config,
            audit: &self.audit,
        }
    }
}

/// What opens and seals the stored private keys under this configuration.
pub fn sealer(config: &Config) -> crate::tokens::sealing::Sealer {
    crate::tokens::sealing::Sealer::new(
        config.key_encryption_key.as_ref().map(|s| s.expose()),
        config
            .key_encryption_key_previous
            .as_ref()
            .map(|s| s.expose()),
    )
}

//! Builds the application: storage, keys, the route table, the listener.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, NormalizePath, TrailingSlash, from_fn};
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::audit::Audit;
use crate::auth::password::PasswordHasher;
use crate::client_metadata::ClientMetadata;
use crate::config::Config;
use crate::routes;
use crate::store::{AuditEvent, Db};
use crate::tokens::Keys;

/// Everything a request handler may need, shared by all workers.
pub struct AppState {
    pub config: Config,
    pub db: Db,
    pub keys: Keys,
    pub hasher: PasswordHasher,
    pub audit: Audit,
    /// Clients named by a client ID metadata document URL.
    pub client_metadata: ClientMetadata,
    pub mailer: crate::mail::Mailer,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    state: Arc<AppState>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    /// Transparent: a key error names the signing key already, and `{:#}` would repeat it.
    #[error(transparent)]
    Keys(#[from] crate::tokens::KeyError),
    #[error("client metadata HTTP client: {0}")]
    ClientMetadata(#[from] reqwest::Error),
    #[error("mail: {0}")]
    Mail(#[from] crate::mail::MailError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

impl Application {
    /// Connects to the database (applying migrations), loads or creates the signing key, and
    /// binds `config.bind` (port 0 picks a free port; read it back with `port()`).
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let db = Db::connect(&config.database_url).await?;
        let listener = TcpListener::bind(&config.bind).map_err(|source| StartupError::Bind {
            addr: config.bind.clone(),
            source,
        })?;
        Self::build_with(config, db, listener).await
    }

    pub async fn build_with(
        config: Config,
        db: Db,
        listener: TcpListener,
    ) -> Result<Self, StartupError> {
        let keys = Keys::load_or_create(&db, config.access_token_ttl, sealer(&config)).await?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: config.bind.clone(),
                source,
            })?
            .port();
        if config.client_metadata_allow_insecure_loopback {
            tracing::warn!(
                "GPTAUTH_CLIENT_METADATA_ALLOW_INSECURE_LOOPBACK is on: client metadata documents \
                 may be fetched over plain http from 127.0.0.1. This is for tests only; never \
                 turn it on in production."
            );
        }
        let client_metadata = ClientMetadata::new(
            config.client_metadata_allow_insecure_loopback,
            config.client_metadata_documents.clone(),
        )?;
        let mailer = crate::mail::Mailer::new(config.smtp_url.as_deref(), &config.mail_from)?;
        if mailer.is_logging() {
            tracing::warn!(
                "GPTAUTH_SMTP_URL is not set: e-mail (verification, password reset) is written to \
                 this log instead of being sent"
            );
        }
        let db_for_audit = db.clone();
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let state = Arc::new(AppState {
            config,
            db,
            keys,
            hasher: PasswordHasher::default(),
            audit: Audit::start(db_for_audit, metrics.clone()),
            metrics,
            client_metadata,
            mailer,
        });
        offer_setup_link(&state).await;
        let server = run(listener, state.clone()).map_err(|source| StartupError::Bind {
            addr: state.config.bind.clone(),
            source,
        })?;
        Ok(Application {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until stopped; background upkeep runs beside it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let upkeep = tokio::spawn(upkeep(self.state.clone()));
        let result = self.server.await;
        upkeep.abort();
        result
    }
}

/// Periodic work: pick up keys rotated by another instance, drop expired codes.
async fn upkeep(state: Arc<AppState>) {
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
            .purge_expired_sessions(crate::auth::session::IDLE_SECONDS)
            .await
        {
            tracing::warn!(error = %e, "purging expired sessions failed");
        }
        let stale = crate::store::now() - crate::auth::throttle::WINDOW_SECONDS;
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
        if let Err(e) = state
            .db
            .purge_unused_metadata_clients(crate::store::now())
            .await
        {
            tracing::warn!(error = %e, "purging unused metadata-document clients failed");
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

/// How long a setup link works.
const SETUP_LINK_SECONDS: i64 = 3600;

/// Mints a one-time link that creates the first administrator in the browser.
pub async fn new_setup_link(state: &AppState) -> Result<String, crate::store::StoreError> {
    let token = crate::crypto::random_token();
    state
        .db
        .insert_setup_link(
            &crate::crypto::digest(&token),
            crate::store::now() + SETUP_LINK_SECONDS,
        )
        .await?;
    Ok(state.config.issuer.url(&format!("/setup?token={token}")))
}

/// While there is no administrator, logs a setup link. The one secret this server ever logs,
/// on purpose: it is short-lived, single-use, and only useful before anyone can sign in.
async fn offer_setup_link(state: &AppState) {
    match state.db.any_admin().await {
        Ok(true) => {}
        Ok(false) => match new_setup_link(state).await {
            Ok(link) => tracing::warn!(
                "no administrator yet: open {link} within the hour to create one (or run `gptauth user create --admin`)"
            ),
            Err(e) => tracing::warn!(error = %e, "could not create a setup link"),
        },
        Err(e) => tracing::warn!(error = %e, "could not check for an administrator"),
    }
}

/// Dynamically registered clients unused this long are deleted: MCP hosts register on every
/// new connection and never clean up after themselves.
pub const ABANDONED_REGISTRATION_SECONDS: i64 = 30 * 86_400;

/// Deletes abandoned registrations (see `ABANDONED_REGISTRATION_SECONDS`); returns how many.
pub async fn sweep_abandoned_registrations(state: &AppState) -> usize {
    let cutoff = crate::store::now() - ABANDONED_REGISTRATION_SECONDS;
    match state.db.sweep_abandoned_registrations(cutoff).await {
        Ok(swept) => {
            for client_id in &swept {
                state.audit.record(AuditEvent {
                    kind: "client_deleted",
                    client_id: Some(client_id.clone()),
                    detail: Some("registration unused for 30 days".into()),
                    ..Default::default()
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

fn run(listener: TcpListener, state: Arc<AppState>) -> std::io::Result<Server> {
    let hsts = state.config.issuer.is_https();
    let body_timeout =
        std::time::Duration::from_secs(state.config.request_body_timeout.unsigned_abs());
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        let mut headers = DefaultHeaders::new()
            .add(("X-Content-Type-Options", "nosniff"))
            .add(("X-Frame-Options", "DENY"))
            .add(("Referrer-Policy", "no-referrer"))
            .add((
                "Content-Security-Policy",
                "default-src 'none'; script-src 'self'; style-src 'self'; \
                 img-src 'self' data: https:; frame-ancestors 'none'; base-uri 'none'",
            ));
        if hsts {
            headers = headers.add(("Strict-Transport-Security", "max-age=31536000"));
        }
        App::new()
            .wrap(headers)
            .wrap(NormalizePath::new(TrailingSlash::Trim))
            .wrap(from_fn(crate::telemetry::echo_request_id))
            .wrap(from_fn(crate::telemetry::count_request))
            .wrap(from_fn(move |req, next| {
                routes::body_deadline::enforce(body_timeout, req, next)
            }))
            .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(64 * 1024))
            .app_data(
                web::FormConfig::default()
                    .limit(64 * 1024)
                    .error_handler(|err, _req| {
                        let page = crate::routes::bad_form(&err);
                        actix_web::error::InternalError::from_response(err, page).into()
                    }),
            )
            .app_data(web::QueryConfig::default().error_handler(|err, _req| {
                let page = crate::routes::bad_query(&err);
                actix_web::error::InternalError::from_response(err, page).into()
            }))
            .configure(routes::configure)
    })
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(server)
}

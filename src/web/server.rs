//! Builds the server: storage, keys, the app's context, the route table, the listener.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, NormalizePath, TrailingSlash, from_fn};
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::app::hasher::PasswordHasher;
use crate::audit::Audit;
use crate::client_metadata::ClientMetadata;
use crate::config::Config;
use crate::store::Db;
use crate::tokens::Keys;
use crate::web::state::AppState;

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
        let keys =
            Keys::load_or_create(&db, config.access_token_ttl, crate::app::sealer(&config)).await?;
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
        let state = Arc::new(AppState::new(crate::app::App {
            config,
            db,
            keys,
            hasher: PasswordHasher::default(),
            audit: Audit::start(db_for_audit, metrics.clone()),
            metrics,
            client_metadata,
            mailer,
        }));
        crate::app::setup::offer_setup_link(&state).await;
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
        let upkeep = tokio::spawn(crate::app::upkeep::run(self.state.app()));
        let result = self.server.await;
        upkeep.abort();
        result
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
            .wrap(from_fn(super::middleware::echo_request_id))
            .wrap(from_fn(super::middleware::count_request))
            .wrap(from_fn(move |req, next| {
                super::middleware::body_deadline::enforce(body_timeout, req, next)
            }))
            .wrap(TracingLogger::<super::middleware::RequestSpan>::new())
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(64 * 1024))
            .app_data(
                web::FormConfig::default()
                    .limit(64 * 1024)
                    .error_handler(|err, _req| {
                        let page = crate::web::errors::bad_form(&err);
                        actix_web::error::InternalError::from_response(err, page).into()
                    }),
            )
            .app_data(web::QueryConfig::default().error_handler(|err, _req| {
                let page = crate::web::errors::bad_query(&err);
                actix_web::error::InternalError::from_response(err, page).into()
            }))
            .configure(super::routes::configure)
    })
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(server)
}

//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document), the MCP
//! authorization spec's preferred registration: a `client_id` that is an https URL names a
//! JSON document describing the client. We fetch it, validate it like a dynamic registration,
//! and keep it as a row in `clients` (codes, consents and refresh families refer to clients by
//! foreign key), refreshed when its cache lifetime has passed.

mod cache;
mod document;
mod fetch;
mod jwks;
mod ssrf;

pub use cache::{MAX_LIFETIME_SECONDS, MIN_LIFETIME_SECONDS};
pub use document::DocumentError;
pub use fetch::FetchError;
pub use jwks::{JwksError, KeysError, REFETCH_INTERVAL, check_keys, parse_set};

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::MetadataDocumentPolicy;
use crate::domain::{ClientMetadataUrl, Scope};
use crate::store::{ClientRecord, Db, MetadataClient, StoreError};

/// Why a metadata-document client cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "this server does not accept clients identified by a metadata document from {0} (its operator allows: {1})"
    )]
    NotAllowed(String, String),
    #[error("its metadata document could not be fetched: {0}")]
    Fetch(#[from] FetchError),
    #[error("its metadata document is invalid: {0}")]
    Document(#[from] DocumentError),
    /// Not the client's fault: answer "temporarily unavailable".
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

/// Resolves Client Identifier URLs to clients.
pub struct ClientMetadata {
    fetcher: fetch::Fetcher,
    jwks: jwks::JwksCache,
    policy: MetadataDocumentPolicy,
    /// Recent failed fetches by URL, each until when it is answered without fetching again.
    failures: Mutex<HashMap<String, (FetchError, Instant)>>,
}

/// A failed document fetch is answered from memory this long before the URL is tried again.
pub const FAILURE_SECONDS: u64 = 5;
/// Failed URLs remembered at most.
const MAX_FAILURES: usize = 1024;

impl ClientMetadata {
    /// `allow_insecure_loopback` is `GPTAUTH_CLIENT_METADATA_ALLOW_INSECURE_LOOPBACK` (tests only);
    /// `policy` says which hosts' documents are accepted.
    pub fn new(
        allow_insecure_loopback: bool,
        policy: MetadataDocumentPolicy,
    ) -> Result<Self, reqwest::Error> {
        Ok(ClientMetadata {
            fetcher: fetch::Fetcher::new(allow_insecure_loopback)?,
            jwks: jwks::JwksCache::default(),
            policy,
            failures: Mutex::default(),
        })
    }

    /// The public keys of a private_key_jwt client at `jwks_uri`, fetched through the same
    /// guarded fetcher as documents (see `jwks`).
    pub async fn keys(
        &self,
        jwks_uri: &url::Url,
        kid: Option<&str>,
    ) -> Result<std::sync::Arc<Vec<jsonwebtoken::jwk::Jwk>>, JwksError> {
        self.jwks.keys(&self.fetcher, jwks_uri, kid).await
    }

    /// The client `id` names: the stored copy while it is fresh, else the document fetched,
    /// validated and stored anew (its redirect URIs replaced).
    ///
    /// A failed refetch is an error even when an older copy exists: the copy expired, and a
    /// document that is gone or now invalid no longer vouches for its redirect URIs, so we
    /// fail closed rather than keep honouring them. Nothing is deleted: the client's consents
    /// and tokens come back with its document. A fetch that failed in transport (a timeout, no
    /// connection, a name that resolves to a private address, an oversized body) is remembered
    /// for [`FAILURE_SECONDS`], so that requests naming a dead or hostile URL cannot each hold
    /// a connection open for seconds; a server that answers (a 500, a wrong content type) is
    /// asked again at once, so its fix takes effect at once.
    pub async fn resolve(
        &self,
        db: &Db,
        id: &ClientMetadataUrl,
    ) -> Result<ClientRecord, ResolveError> {
        self.check_policy(id)?;
        let stored = db.client(id.as_ref()).await?;
        self.refresh(db, id, stored).await
    }

    /// Like [`resolve`](Self::resolve), for the token, revocation and introspection endpoints:
    /// a client that was never stored (so has no code or token here) is `None`, without any
    /// fetch. Only clients someone signed in with can make this server fetch from there.
    pub async fn resolve_stored(
        &self,
        db: &Db,
        id: &ClientMetadataUrl,
    ) -> Result<Option<ClientRecord>, ResolveError> {
        self.check_policy(id)?;
        match db.client(id.as_ref()).await? {
            None => Ok(None),
            Some(stored) => self.refresh(db, id, Some(stored)).await.map(Some),
        }
    }

    fn check_policy(&self, id: &ClientMetadataUrl) -> Result<(), ResolveError> {
        if self.policy.allows(id.host()) {
            return Ok(());
        }
        let allowed = match &self.policy {
            MetadataDocumentPolicy::Hosts(hosts) => hosts.join(", "),
            _ => "no host".into(),
        };
        Err(ResolveError::NotAllowed(id.host().to_string(), allowed))
    }

    /// `stored` while it is fresh, else the document fetched anew.
    async fn refresh(
        &self,
        db: &Db,
        id: &ClientMetadataUrl,
        stored: Option<ClientRecord>,
    ) -> Result<ClientRecord, ResolveError> {
        let now = db.now();
        if let Some(client) = stored
            && client.metadata_expires_at.is_some_and(|until| until > now)
        {
            return Ok(client);
        }
        if let Some(failure) = self.recent_failure(id) {
            return Err(failure.into());
        }
        let fetched = match self.fetcher.fetch(id).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(client_id = %id, error = %e, "client metadata document fetch failed");
                if e.is_costly() {
                    self.remember_failure(id, &e);
                }
                return Err(e.into());
            }
        };
        let offered = Scope::parse(crate::domain::DEFAULT_SCOPE).unwrap_or_default();
        let doc = document::validate(&fetched.body, id, &offered).inspect_err(|e| {
            tracing::warn!(client_id = %id, error = %e, "client metadata document refused");
        })?;
        let lifetime = cache::lifetime(fetched.cache_control.as_deref());
        let client = db
            .upsert_metadata_client(&MetadataClient {
                client_id: id.as_ref(),
                name: &doc.name,
                scope: &doc.scope.to_string(),
                redirect_uris: &doc.redirect_uris,
                expires_at: now + lifetime,
                jwks_uri: doc.jwks_uri.as_ref().map(url::Url::as_str),
            })
            .await?;
        tracing::info!(client_id = %id, lifetime, "client metadata document fetched");
        Ok(client)
    }

    fn recent_failure(&self, id: &ClientMetadataUrl) -> Option<FetchError> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .get(id.as_ref())
            .filter(|(_, until)| *until > Instant::now())
            .map(|(e, _)| e.clone())
    }

    fn remember_failure(&self, id: &ClientMetadataUrl, error: &FetchError) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_FAILURES {
            failures.retain(|_, (_, until)| *until > now);
            if failures.len() >= MAX_FAILURES {
                failures.clear();
            }
        }
        let until = now + Duration::from_secs(FAILURE_SECONDS);
        failures.insert(id.to_string(), (error.clone(), until));
    }
}

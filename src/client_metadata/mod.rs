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
pub use jwks::{JwksError, REFETCH_INTERVAL, parse_set};

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
}

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
    /// and tokens come back with its document. Failures are not cached (§5.2).
    pub async fn resolve(
        &self,
        db: &Db,
        id: &ClientMetadataUrl,
    ) -> Result<ClientRecord, ResolveError> {
        if !self.policy.allows(id.host()) {
            let allowed = match &self.policy {
                MetadataDocumentPolicy::Hosts(hosts) => hosts.join(", "),
                _ => "no host".into(),
            };
            return Err(ResolveError::NotAllowed(id.host().to_string(), allowed));
        }
        let now = crate::store::now();
        if let Some(client) = db.client(id.as_ref()).await?
            && client.metadata_expires_at.is_some_and(|until| until > now)
        {
            return Ok(client);
        }
        let fetched = self.fetcher.fetch(id).await.inspect_err(|e| {
            tracing::warn!(client_id = %id, error = %e, "client metadata document fetch failed");
        })?;
        let offered = Scope::parse(crate::cli::DEFAULT_SCOPE).unwrap_or_default();
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
}

use jsonwebtoken::Algorithm;
use uuid::Uuid;

use super::{Db, Result, StoreError, on_db, on_db_read};
use crate::domain::RedirectUri;

/// A registered OAuth client with its redirect URIs.
#[derive(Debug, Clone)]
pub struct ClientRecord {
    pub client_id: String,
    pub name: String,
    /// SHA-256 of the secret; `None` for a public client.
    pub secret_hash: Option<String>,
    /// Allowed scopes, and the default when a request names none.
    pub scope: String,
    pub audience: Option<String>,
    /// PKCE demanded even though the client has a secret.
    pub require_pkce: bool,
    /// Also accept any ChatGPT callback: GPT Actions' and apps' (see
    /// `RedirectUri::is_chatgpt_callback`).
    pub chatgpt_callbacks: bool,
    /// Resources (RFC 8707) this client may ask tokens for.
    pub resources: Vec<String>,
    /// How this client's ID tokens are signed (OpenID Connect).
    pub id_token_alg: Algorithm,
    /// SHA-256 of the RFC 7592 registration access token: set for dynamically registered
    /// clients only.
    pub registration_token_hash: Option<String>,
    /// The `token_endpoint_auth_method` a dynamic registration named.
    pub registered_auth_method: Option<String>,
    /// The builder who made it in the portal.
    pub owner_id: Option<Uuid>,
    /// Shown on the consent page.
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    /// After a rotation, the old secret's digest and until when it still works.
    pub previous_secret_hash: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    /// Only people who proved their e-mail address may sign in to this client.
    pub require_verified_email: bool,
    pub created_at: i64,
    pub redirect_uris: Vec<String>,
    /// `Some` for a client described by a client ID metadata document (its `client_id` is the
    /// document's URL): until when the stored copy may be used without fetching it again.
    pub metadata_expires_at: Option<i64>,
    /// private_key_jwt (RFC 7523 §2.2): where the client publishes its public keys.
    pub jwks_uri: Option<String>,
    /// private_key_jwt with the keys held here: a JWK Set as JSON text.
    pub jwks: Option<String>,
}

/// How a client authenticates at the token, revocation and introspection endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A public client: its `client_id` alone, bound by PKCE (RFC 6749 §2.1).
    None,
    /// `client_secret_basic` or `client_secret_post` (RFC 6749 §2.3.1).
    ClientSecret,
    /// A JWT signed with one of its keys (RFC 7523 §2.2).
    PrivateKeyJwt,
}

impl ClientRecord {
    /// The one method this client may use; a client with keys must sign (a bare `client_id`
    /// is no authentication for it).
    pub fn auth_method(&self) -> AuthMethod {
        if self.jwks_uri.is_some() || self.jwks.is_some() {
            AuthMethod::PrivateKeyJwt
        } else if self.secret_hash.is_some() {
            AuthMethod::ClientSecret
        } else {
            AuthMethod::None
        }
    }

    /// Exact string match against the registered URIs (RFC 9700 §4.1.3), or, when the client
    /// opted in, any ChatGPT action callback.
    pub fn accepts_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
            || (self.chatgpt_callbacks && RedirectUri::is_chatgpt_callback(uri))
    }

    /// PKCE is required for public clients and for clients that asked for it.
    pub fn requires_pkce(&self) -> bool {
        self.require_pkce || self.secret_hash.is_none()
    }

    /// Made by anyone at all: dynamically registered (RFC 7591) or described by a client ID
    /// metadata document, rather than by an operator or a builder.
    pub fn is_anonymous(&self) -> bool {
        self.owner_id.is_none()
            && (self.registration_token_hash.is_some() || self.metadata_expires_at.is_some())
    }

    /// `aud` of this client's access tokens when the request names no resource: its configured
    /// audience, else the issuer for an operator's or builder's client (what existing APIs
    /// check), else its own ID. Anyone can register a client, so an anonymous one never gets
    /// the issuer: its tokens would pass every API that checks only `aud` (RFC 9068 §3 has the
    /// resource server check that `aud` names it).
    pub fn default_audience(&self, issuer: &str) -> String {
        match &self.audience {
            Some(audience) => audience.clone(),
            None if self.is_anonymous() => self.client_id.clone(),
            None => issuer.to_string(),
        }
    }
}

/// Replaces a client's redirect URIs inside the caller's transaction `tx` (a macro: each
/// driver's transaction has its own type).
macro_rules! replace_redirect_uris {
    ($tx:ident, $client_id:expr, $uris:expr, $now:expr) => {
        sqlx::query("DELETE FROM client_redirect_uris WHERE client_id = $1")
            .bind($client_id)
            .execute(&mut *$tx)
            .await?;
        for uri in $uris {
            sqlx::query(
                "INSERT INTO client_redirect_uris (client_id, uri, created_at) VALUES ($1, $2, $3)",
            )
            .bind($client_id)
            .bind(uri)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
        }
    };
}
pub(super) use replace_redirect_uris;

/// The columns a `ClientRow` reads (a macro, so queries stay static strings).
macro_rules! client_columns {
    () => {
        "client_id, name, secret_hash, scope, audience, require_pkce, chatgpt_callbacks, \
         resources, id_token_alg, registration_token_hash, registered_auth_method, owner_id, \
         logo_uri, policy_uri, previous_secret_hash, previous_secret_expires_at, \
         require_verified_email, created_at, \
         metadata_document, metadata_expires_at, jwks_uri, jwks"
    };
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    client_id: String,
    name: String,
    secret_hash: Option<String>,
    scope: String,
    audience: Option<String>,
    require_pkce: bool,
    chatgpt_callbacks: bool,
    resources: String,
    id_token_alg: String,
    registration_token_hash: Option<String>,
    registered_auth_method: Option<String>,
    owner_id: Option<Uuid>,
    logo_uri: Option<String>,
    policy_uri: Option<String>,
    previous_secret_hash: Option<String>,
    previous_secret_expires_at: Option<i64>,
    require_verified_email: bool,
    created_at: i64,
    metadata_document: bool,
    metadata_expires_at: Option<i64>,
    jwks_uri: Option<String>,
    jwks: Option<String>,
}

impl ClientRow {
    fn with_uris(self, redirect_uris: Vec<String>) -> ClientRecord {
        ClientRecord {
            client_id: self.client_id,
            name: self.name,
            secret_hash: self.secret_hash,
            scope: self.scope,
            audience: self.audience,
            require_pkce: self.require_pkce,
            chatgpt_callbacks: self.chatgpt_callbacks,
            resources: self
                .resources
                .split(' ')
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect(),
            // The column only ever holds what `NewClient` wrote; anything else means RS256,
            // the OpenID Connect default.
            id_token_alg: match self.id_token_alg.as_str() {
                "ES256" => Algorithm::ES256,
                _ => Algorithm::RS256,
            },
            registration_token_hash: self.registration_token_hash,
            registered_auth_method: self.registered_auth_method,
            owner_id: self.owner_id,
            logo_uri: self.logo_uri,
            policy_uri: self.policy_uri,
            previous_secret_hash: self.previous_secret_hash,
            previous_secret_expires_at: self.previous_secret_expires_at,
            require_verified_email: self.require_verified_email,
            created_at: self.created_at,
            redirect_uris,
            // A document row always has an expiry; a missing one just means "refetch".
            metadata_expires_at: self
                .metadata_document
                .then(|| self.metadata_expires_at.unwrap_or(0)),
            jwks_uri: self.jwks_uri,
            jwks: self.jwks,
        }
    }
}

pub struct NewClient<'a> {
    pub client_id: &'a str,
    pub name: &'a str,
    pub secret_hash: Option<&'a str>,
    pub scope: &'a str,
    pub audience: Option<&'a str>,
    pub require_pkce: bool,
    pub chatgpt_callbacks: bool,
    pub resources: &'a [String],
    /// `None`: RS256, the OpenID Connect default.
    pub id_token_alg: Option<Algorithm>,
    /// SHA-256 of the registration access token (RFC 7592), for dynamically registered clients.
    pub registration_token_hash: Option<&'a str>,
    pub registered_auth_method: Option<&'a str>,
    /// The builder creating it in the portal.
    pub owner_id: Option<Uuid>,
    pub logo_uri: Option<&'a str>,
    pub policy_uri: Option<&'a str>,
    pub redirect_uris: &'a [String],
}

/// The public keys of a private_key_jwt client (RFC 7523 §2.2): where it publishes them, or
/// a JWK Set (JSON text) held here. One of the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKeys {
    JwksUri(String),
    Jwks(String),
}

impl ClientKeys {
    /// The `jwks_uri` and `jwks` columns.
    pub(super) fn columns(keys: Option<&ClientKeys>) -> (Option<&str>, Option<&str>) {
        match keys {
            None => (None, None),
            Some(ClientKeys::JwksUri(uri)) => (Some(uri), None),
            Some(ClientKeys::Jwks(set)) => (None, Some(set)),
        }
    }
}

/// A client as its client ID metadata document describes it: public, PKCE required.
pub struct MetadataClient<'a> {
    /// The document's URL.
    pub client_id: &'a str,
    pub name: &'a str,
    pub scope: &'a str,
    pub redirect_uris: &'a [String],
    /// Until when this copy may be used (Unix seconds).
    pub expires_at: i64,
    /// Set when the document's client authenticates with private_key_jwt.
    pub jwks_uri: Option<&'a str>,
}

impl Db {
    /// Inserts the client and its redirect URIs in one transaction.
    pub async fn insert_client(&self, client: &NewClient<'_>) -> Result<()> {
        self.insert_client_with_keys(client, None).await
    }

    /// Inserts the client, with the keys of a private_key_jwt client, and its redirect URIs in
    /// one transaction (so it never exists, even briefly, as a keyless public client).
    pub async fn insert_client_with_keys(
        &self,
        client: &NewClient<'_>,
        keys: Option<&ClientKeys>,
    ) -> Result<()> {
        let (jwks_uri, jwks) = ClientKeys::columns(keys);
        let now = self.now();
        on_db!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO clients (client_id, name, secret_hash, scope, audience, require_pkce, \
                 chatgpt_callbacks, resources, id_token_alg, registration_token_hash, \
                 registered_auth_method, owner_id, logo_uri, policy_uri, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(client.client_id)
            .bind(client.name)
            .bind(client.secret_hash)
            .bind(client.scope)
            .bind(client.audience)
            .bind(client.require_pkce)
            .bind(client.chatgpt_callbacks)
            .bind(client.resources.join(" "))
            .bind(crate::domain::alg_name(
                client.id_token_alg.unwrap_or(Algorithm::RS256),
            ))
            .bind(client.registration_token_hash)
            .bind(client.registered_auth_method)
            .bind(client.owner_id)
            .bind(client.logo_uri)
            .bind(client.policy_uri)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_insert)?;
            if keys.is_some() {
                sqlx::query("UPDATE clients SET jwks_uri = $2, jwks = $3 WHERE client_id = $1")
                    .bind(client.client_id)
                    .bind(jwks_uri)
                    .bind(jwks)
                    .execute(&mut *tx)
                    .await?;
            }
            for uri in client.redirect_uris {
                sqlx::query(
                    "INSERT INTO client_redirect_uris (client_id, uri, created_at) VALUES ($1, $2, $3)",
                )
                .bind(client.client_id)
                .bind(uri)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_insert)?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Stores a freshly fetched metadata document: inserts the client, or updates it and
    /// replaces its redirect URIs, in one transaction. Never touches a client that was not
    /// made from a document (`Duplicate`, though issued IDs cannot contain `:` anyway).
    pub async fn upsert_metadata_client(
        &self,
        client: &MetadataClient<'_>,
    ) -> Result<ClientRecord> {
        let now = self.now();
        let updated = on_db!(self, |p| {
            let mut tx = p.begin().await?;
            let updated = sqlx::query(
                "INSERT INTO clients (client_id, name, secret_hash, scope, audience, require_pkce, \
                 chatgpt_callbacks, resources, id_token_alg, created_at, metadata_document, \
                 metadata_expires_at, jwks_uri) \
                 VALUES ($1, $2, NULL, $3, NULL, $4, $5, '', $6, $7, $8, $9, $10) \
                 ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, \
                 scope = excluded.scope, metadata_expires_at = excluded.metadata_expires_at, \
                 jwks_uri = excluded.jwks_uri \
                 WHERE clients.metadata_document",
            )
            .bind(client.client_id)
            .bind(client.name)
            .bind(client.scope)
            .bind(true)
            .bind(false)
            .bind(crate::domain::alg_name(Algorithm::RS256))
            .bind(now)
            .bind(true)
            .bind(client.expires_at)
            .bind(client.jwks_uri)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 1 {
                sqlx::query("DELETE FROM client_redirect_uris WHERE client_id = $1")
                    .bind(client.client_id)
                    .execute(&mut *tx)
                    .await?;
                for uri in client.redirect_uris {
                    // DO NOTHING: a concurrent refetch of the same document may have added it.
                    sqlx::query(
                        "INSERT INTO client_redirect_uris (client_id, uri, created_at) \
                         VALUES ($1, $2, $3) ON CONFLICT (client_id, uri) DO NOTHING",
                    )
                    .bind(client.client_id)
                    .bind(uri)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            updated
        });
        if updated != 1 {
            return Err(StoreError::Duplicate);
        }
        self.client(client.client_id)
            .await?
            .ok_or(StoreError::Database(sqlx::Error::RowNotFound))
    }

    /// Deletes metadata-document clients whose copy has expired and that nobody uses (no
    /// consent, code or refresh token): anyone can make us store one by naming a URL, so they
    /// must not pile up. A later request simply fetches the document again.
    pub async fn purge_unused_metadata_clients(&self, now: i64) -> Result<u64> {
        Ok(on_db!(self, |p| {
            sqlx::query(
            "DELETE FROM clients WHERE metadata_document AND metadata_expires_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM consents c WHERE c.client_id = clients.client_id) \
             AND NOT EXISTS (SELECT 1 FROM auth_codes a WHERE a.client_id = clients.client_id) \
             AND NOT EXISTS (SELECT 1 FROM refresh_families f WHERE f.client_id = clients.client_id)"
        )
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?)
    }

    /// The client without its redirect URIs (the token endpoint needs no more).
    pub async fn client_credentials(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        let row = on_db_read!(self, |p| {
            sqlx::query_as::<_, ClientRow>(concat!(
                "SELECT ",
                client_columns!(),
                " FROM clients WHERE client_id = $1"
            ))
            .bind(client_id)
            .fetch_optional(p)
            .await
        })?;
        Ok(row.map(|r| r.with_uris(Vec::new())))
    }

    /// A client with its redirect URIs, in one round trip: they come along as one
    /// space-separated string (a URI has no spaces).
    pub async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        #[derive(sqlx::FromRow)]
        struct WithUris {
            #[sqlx(flatten)]
            client: ClientRow,
            redirect_uris: Option<String>,
        }
        // The dialects differ only in the aggregate's name.
        macro_rules! with_uris {
            ($aggregate:literal) => {
                concat!(
                    "SELECT ",
                    client_columns!(),
                    ", (SELECT ",
                    $aggregate,
                    "(uri, ' ' ORDER BY created_at, uri) FROM client_redirect_uris u \
                     WHERE u.client_id = c.client_id) AS redirect_uris \
                     FROM clients c WHERE c.client_id = $1"
                )
            };
        }
        const POSTGRES: &str = with_uris!("string_agg");
        const SQLITE: &str = with_uris!("group_concat");
        let sql = self.per_dialect(POSTGRES, SQLITE);
        let row = on_db_read!(self, |p| sqlx::query_as::<_, WithUris>(sql)
            .bind(client_id)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(|r| {
            let uris = r
                .redirect_uris
                .as_deref()
                .unwrap_or_default()
                .split(' ')
                .filter(|u| !u.is_empty())
                .map(str::to_string)
                .collect();
            r.client.with_uris(uris)
        }))
    }

    async fn with_redirect_uris(&self, rows: Vec<ClientRow>) -> Result<Vec<ClientRecord>> {
        let mut clients = Vec::with_capacity(rows.len());
        for row in rows {
            let uris = self.redirect_uris(&row.client_id).await?;
            clients.push(row.with_uris(uris));
        }
        Ok(clients)
    }

    async fn redirect_uris(&self, client_id: &str) -> Result<Vec<String>> {
        Ok(on_db_read!(self, |p| sqlx::query_scalar::<_, String>(
            "SELECT uri FROM client_redirect_uris WHERE client_id = $1 ORDER BY created_at, uri"
        )
        .bind(client_id)
        .fetch_all(p)
        .await)?)
    }

    pub async fn list_clients(&self) -> Result<Vec<ClientRecord>> {
        let rows = on_db!(self, |p| {
            sqlx::query_as::<_, ClientRow>(concat!(
                "SELECT ",
                client_columns!(),
                " FROM clients ORDER BY created_at, client_id"
            ))
            .fetch_all(p)
            .await
        })?;
        self.with_redirect_uris(rows).await
    }

    /// Deletes the client and, by cascade, its codes, refresh tokens and consents.
    pub async fn delete_client(&self, client_id: &str) -> Result<bool> {
        let done = on_db!(self, |p| sqlx::query(
            "DELETE FROM clients WHERE client_id = $1"
        )
        .bind(client_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Replaces the secret; the old one keeps working until `old_valid_until` (a time in the
    /// past ends it at once).
    pub async fn set_client_secret(
        &self,
        client_id: &str,
        secret_hash: &str,
        old_valid_until: i64,
    ) -> Result<bool> {
        let done = on_db!(self, |p| {
            sqlx::query(
                "UPDATE clients SET previous_secret_hash = secret_hash, \
                 previous_secret_expires_at = $3, secret_hash = $2 \
                 WHERE client_id = $1 AND secret_hash IS NOT NULL",
            )
            .bind(client_id)
            .bind(secret_hash)
            .bind(old_valid_until)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(done == 1)
    }

    /// Whether only people with a proven e-mail address may sign in to the client.
    pub async fn set_require_verified_email(
        &self,
        client_id: &str,
        required: bool,
    ) -> Result<bool> {
        let done = on_db!(self, |p| sqlx::query(
            "UPDATE clients SET require_verified_email = $2 WHERE client_id = $1"
        )
        .bind(client_id)
        .bind(required)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// The clients a builder made, newest first.
    pub async fn clients_of(&self, owner: Uuid) -> Result<Vec<ClientRecord>> {
        let rows = on_db!(self, |p| {
            sqlx::query_as::<_, ClientRow>(concat!(
                "SELECT ",
                client_columns!(),
                " FROM clients WHERE owner_id = $1 ORDER BY created_at DESC, client_id"
            ))
            .bind(owner)
            .fetch_all(p)
            .await
        })?;
        self.with_redirect_uris(rows).await
    }

    /// Every audience and resource on the clients `owner` made: what they may name again on
    /// another client of theirs (`domain::may_be_named`).
    pub async fn audiences_of(&self, owner: Uuid) -> Result<Vec<String>> {
        let rows = on_db_read!(self, |p| {
            sqlx::query_as::<_, (Option<String>, String)>(
                "SELECT audience, resources FROM clients WHERE owner_id = $1",
            )
            .bind(owner)
            .fetch_all(p)
            .await
        })?;
        let mut named: Vec<String> = Vec::new();
        for (audience, resources) in rows {
            for n in audience
                .into_iter()
                .chain(crate::domain::ResourceIndicator::split(Some(&resources)))
            {
                if !named.contains(&n) {
                    named.push(n);
                }
            }
        }
        Ok(named)
    }

    /// Replaces the redirect URIs and the ChatGPT-callback switch in one transaction.
    pub async fn set_redirects(
        &self,
        client_id: &str,
        uris: &[String],
        chatgpt_callbacks: bool,
    ) -> Result<bool> {
        let now = self.now();
        let done = on_db!(self, |p| {
            let mut tx = p.begin().await?;
            let changed =
                sqlx::query("UPDATE clients SET chatgpt_callbacks = $2 WHERE client_id = $1")
                    .bind(client_id)
                    .bind(chatgpt_callbacks)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            replace_redirect_uris!(tx, client_id, uris, now);
            tx.commit().await?;
            changed == 1
        });
        Ok(done)
    }

    /// `Duplicate` when the URI is registered already.
    pub async fn add_redirect_uri(&self, client_id: &str, uri: &str) -> Result<()> {
        on_db!(self, |p| sqlx::query(
            "INSERT INTO client_redirect_uris (client_id, uri, created_at) VALUES ($1, $2, $3)"
        )
        .bind(client_id)
        .bind(uri)
        .bind(self.now())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::from_insert)?;
        Ok(())
    }

    pub async fn remove_redirect_uri(&self, client_id: &str, uri: &str) -> Result<bool> {
        let done = on_db!(self, |p| sqlx::query(
            "DELETE FROM client_redirect_uris WHERE client_id = $1 AND uri = $2"
        )
        .bind(client_id)
        .bind(uri)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }
}

//! The client use cases: create, rotate the secret, set the redirect URIs, delete, and the
//! dynamic registration protocol's register and update. The portal, the CLI and
//! `/oauth/register` call these, so a client obeys the same rules wherever it is made, and each
//! change records its audit event here.

use jsonwebtoken::Algorithm;
use serde_json::Value;
use uuid::Uuid;

use super::App;
use crate::client_metadata::KeysError;
use crate::crypto;
use crate::domain::{AuditKind, ClientId, RedirectUri, ResourceIndicator, Scope, may_be_named};
use crate::oauth::OAuthError;
use crate::oauth::registration::Registration;
use crate::store::{
    AuditEvent, AuthMethod, ClientRecord, NewClient, RegistrationUpdate, StoreError,
};

/// A client name has this many characters at most.
pub const MAX_NAME: usize = 100;
/// A client made by an operator or a builder has at most this many redirect URIs.
pub const MAX_REDIRECT_URIS: usize = 20;

/// Who changes a client: it goes into the audit trail, and a builder names fewer audiences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// An operator at the command line.
    Operator,
    /// A builder (or an administrator) in the portal.
    Builder(Uuid),
    /// The client itself, with its registration access token (RFC 7592).
    Registrant,
}

impl Actor {
    fn event(self, kind: AuditKind, client_id: &str) -> AuditEvent {
        let (user_id, detail) = match self {
            Actor::Operator => (None, "by an operator"),
            Actor::Builder(user) => (Some(user), "in the portal"),
            Actor::Registrant => (None, "by its registration access token"),
        };
        AuditEvent {
            user_id,
            client_id: Some(client_id.to_string()),
            detail: Some(detail.into()),
            ..AuditEvent::new(kind)
        }
    }

    fn owner(self) -> Option<Uuid> {
        match self {
            Actor::Builder(user) => Some(user),
            Actor::Operator | Actor::Registrant => None,
        }
    }
}

/// Why a client change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("a client name has 1 to {MAX_NAME} characters")]
    Name,
    #[error("at most {MAX_REDIRECT_URIS} redirect URIs")]
    TooManyRedirectUris,
    #[error("add at least one redirect URI, or accept the ChatGPT callbacks")]
    NoRedirectUri,
    #[error("name at least one scope")]
    NoScope,
    #[error("{0:?} is not an absolute URL")]
    AudienceNotUrl(String),
    /// A builder names only what the operator offers, what is already on a client of theirs,
    /// or the issuer (issue 15, finding 8). Operators name any.
    #[error("{0} is neither one of this server's resources nor an audience of one of your clients")]
    AudienceNotOffered(String),
    #[error("the {0} must be an https URL")]
    NotHttps(&'static str),
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error("no client with the ID {0}")]
    NotFound(String),
    #[error("client {0} is public and has no secret")]
    NoSecret(String),
    #[error("{0} is not registered for client {1}")]
    RedirectNotRegistered(String, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A client to create, with values already parsed into their domain types.
#[derive(Debug, Clone)]
pub struct NewClientRequest {
    pub name: String,
    pub redirect_uris: Vec<RedirectUri>,
    /// Also accept every ChatGPT callback (GPT Actions' and ChatGPT apps').
    pub chatgpt_callbacks: bool,
    pub scope: Scope,
    /// `aud` of its access tokens (default: the issuer).
    pub audience: Option<String>,
    pub resources: Vec<ResourceIndicator>,
    /// No secret, PKCE.
    pub public: bool,
    /// private_key_jwt (RFC 7523 §2.2): where it publishes its keys, or the keys.
    pub jwks_uri: Option<String>,
    pub jwks: Option<Value>,
    pub require_pkce: bool,
    pub require_verified_email: bool,
    /// `None`: RS256, the OpenID Connect default.
    pub id_token_alg: Option<Algorithm>,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
}

impl NewClientRequest {
    /// A confidential client with these redirect URIs and scope, and nothing else set.
    pub fn new(name: impl Into<String>, redirect_uris: Vec<RedirectUri>, scope: Scope) -> Self {
        NewClientRequest {
            name: name.into(),
            redirect_uris,
            chatgpt_callbacks: false,
            scope,
            audience: None,
            resources: Vec::new(),
            public: false,
            jwks_uri: None,
            jwks: None,
            require_pkce: false,
            require_verified_email: false,
            id_token_alg: None,
            logo_uri: None,
            policy_uri: None,
        }
    }
}

/// A client just made, with its secret (shown once), if it has one.
pub struct Created {
    pub client: ClientRecord,
    pub secret: Option<String>,
}

/// Redirect URIs without repeats, within the limit, and at least one unless the ChatGPT
/// callbacks are accepted.
fn checked_redirects(
    uris: &[RedirectUri],
    chatgpt_callbacks: bool,
) -> Result<Vec<String>, ClientError> {
    let mut out: Vec<String> = Vec::new();
    for uri in uris {
        if !out.iter().any(|u| u == uri.as_ref()) {
            out.push(uri.to_string());
        }
    }
    if out.len() > MAX_REDIRECT_URIS {
        return Err(ClientError::TooManyRedirectUris);
    }
    if out.is_empty() && !chatgpt_callbacks {
        return Err(ClientError::NoRedirectUri);
    }
    Ok(out)
}

/// An optional https URL (logo, privacy policy).
fn optional_https(raw: Option<&str>, what: &'static str) -> Result<Option<String>, ClientError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    match url::Url::parse(raw) {
        Ok(u) if u.scheme() == "https" && u.host_str().is_some() && raw.len() <= 2000 => {
            Ok(Some(raw.to_string()))
        }
        _ => Err(ClientError::NotHttps(what)),
    }
}

/// Whether `actor` may name `audience` for the client `client_id`.
async fn may_name_audience(
    app: &App,
    actor: Actor,
    audience: &str,
    client_id: &str,
) -> Result<bool, StoreError> {
    let Actor::Builder(user) = actor else {
        return Ok(true);
    };
    if audience == app.config.issuer.as_str() {
        return Ok(true);
    }
    let owned = app.db.audiences_of(user).await?;
    Ok(may_be_named(
        audience,
        &app.config.resources,
        &owned,
        Some(client_id),
    ))
}

/// Finds a client by its ID.
pub async fn find(app: &App, client_id: &str) -> Result<ClientRecord, ClientError> {
    let id = ClientId::parse(client_id).map_err(|_| ClientError::NotFound(client_id.into()))?;
    app.db
        .client(id.as_ref())
        .await?
        .ok_or_else(|| ClientError::NotFound(client_id.into()))
}

/// Creates a client made by an operator or a builder (not by registration): the same rules
/// wherever it is asked for.
pub async fn create(
    app: &App,
    actor: Actor,
    request: NewClientRequest,
) -> Result<Created, ClientError> {
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(ClientError::Name);
    }
    let redirect_uris = checked_redirects(&request.redirect_uris, request.chatgpt_callbacks)?;
    if request.scope.is_empty() {
        return Err(ClientError::NoScope);
    }
    let audience = request
        .audience
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    if let Some(aud) = audience {
        url::Url::parse(aud).map_err(|_| ClientError::AudienceNotUrl(aud.to_string()))?;
    }
    let logo_uri = optional_https(request.logo_uri.as_deref(), "logo URL")?;
    let policy_uri = optional_https(request.policy_uri.as_deref(), "privacy policy URL")?;
    let client_id = ClientId::generate();
    if let Some(aud) = audience
        && !may_name_audience(app, actor, aud, client_id.as_ref()).await?
    {
        return Err(ClientError::AudienceNotOffered(aud.to_string()));
    }
    let keys = crate::client_metadata::check_keys(
        request
            .jwks_uri
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty()),
        request.jwks.as_ref(),
    )?;
    let mut resources: Vec<String> = Vec::new();
    for r in &request.resources {
        if !resources.iter().any(|x| x == r.as_ref()) {
            resources.push(r.to_string());
        }
    }
    // A client with keys signs its token requests instead of holding a secret.
    let secret = (!request.public && keys.is_none()).then(crypto::random_token);
    let secret_hash = secret.as_deref().map(crypto::digest);
    app.db
        .insert_client_with_keys(
            &NewClient {
                client_id: client_id.as_ref(),
                name,
                secret_hash: secret_hash.as_deref(),
                scope: &request.scope.to_string(),
                audience,
                require_pkce: request.require_pkce,
                chatgpt_callbacks: request.chatgpt_callbacks,
                resources: &resources,
                id_token_alg: request.id_token_alg,
                registration_token_hash: None,
                registered_auth_method: None,
                owner_id: actor.owner(),
                logo_uri: logo_uri.as_deref(),
                policy_uri: policy_uri.as_deref(),
                redirect_uris: &redirect_uris,
            },
            keys.as_ref(),
        )
        .await?;
    if request.require_verified_email {
        app.db
            .set_require_verified_email(client_id.as_ref(), true)
            .await?;
    }
    app.audit
        .record(actor.event(AuditKind::ClientCreated, client_id.as_ref()));
    let client = find(app, client_id.as_ref()).await?;
    Ok(Created { client, secret })
}

/// Gives the client a new secret; the old one keeps working for `overlap_seconds`.
pub async fn rotate_secret(
    app: &App,
    actor: Actor,
    client_id: &str,
    overlap_seconds: i64,
) -> Result<String, ClientError> {
    let client = find(app, client_id).await?;
    let client_id = client.client_id.as_str();
    let secret = crypto::random_token();
    let rotated = app
        .db
        .set_client_secret(
            client_id,
            &crypto::digest(&secret),
            app.db.now().saturating_add(overlap_seconds),
        )
        .await?;
    if !rotated {
        return Err(ClientError::NoSecret(client_id.into()));
    }
    app.audit
        .record(actor.event(AuditKind::ClientSecretRotated, client_id));
    Ok(secret)
}

/// Replaces the client's redirect URIs (and whether it accepts every ChatGPT callback).
pub async fn set_redirects(
    app: &App,
    actor: Actor,
    client_id: &str,
    uris: &[RedirectUri],
    chatgpt_callbacks: bool,
) -> Result<(), ClientError> {
    let uris = checked_redirects(uris, chatgpt_callbacks)?;
    if !app
        .db
        .set_redirects(client_id, &uris, chatgpt_callbacks)
        .await?
    {
        return Err(ClientError::NotFound(client_id.into()));
    }
    app.audit
        .record(actor.event(AuditKind::ClientRedirectsChanged, client_id));
    Ok(())
}

/// Registers one more redirect URI (nothing changes if it is registered already).
pub async fn add_redirect(
    app: &App,
    actor: Actor,
    client_id: &str,
    uri: RedirectUri,
) -> Result<(), ClientError> {
    let client = find(app, client_id).await?;
    let mut uris = parsed(&client.redirect_uris);
    uris.push(uri);
    set_redirects(app, actor, client_id, &uris, client.chatgpt_callbacks).await
}

/// Unregisters a redirect URI.
pub async fn remove_redirect(
    app: &App,
    actor: Actor,
    client_id: &str,
    uri: &str,
) -> Result<(), ClientError> {
    let client = find(app, client_id).await?;
    if !client.redirect_uris.iter().any(|u| u == uri) {
        return Err(ClientError::RedirectNotRegistered(
            uri.into(),
            client.client_id,
        ));
    }
    let mut uris = parsed(&client.redirect_uris);
    uris.retain(|u| u.as_ref() != uri);
    set_redirects(app, actor, client_id, &uris, client.chatgpt_callbacks).await
}

/// Stored redirect URIs as domain values (one that no longer parses is dropped).
fn parsed(stored: &[String]) -> Vec<RedirectUri> {
    stored
        .iter()
        .filter_map(|u| RedirectUri::parse(u).ok())
        .collect()
}

/// Deletes the client with its codes, tokens and consents.
pub async fn delete(app: &App, actor: Actor, client_id: &str) -> Result<(), ClientError> {
    if !app.db.delete_client(client_id).await? {
        return Err(ClientError::NotFound(client_id.into()));
    }
    app.audit
        .record(actor.event(AuditKind::ClientDeleted, client_id));
    Ok(())
}

/// Why a registration (RFC 7591) or an update (RFC 7592) was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// RFC 7591 §3.2.2.
    #[error(transparent)]
    Refused(#[from] OAuthError),
    /// The initial access token (or, for an update, the client) is unknown or used up.
    #[error("invalid token")]
    InvalidToken,
    #[error("the registered client vanished")]
    Vanished,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A client just registered: its record, its registration access token and its secret.
pub struct Registered {
    pub client: ClientRecord,
    pub method: &'static str,
    pub registration_token: String,
    pub secret: Option<String>,
}

/// Registers a client that asked for itself (RFC 7591 §3). With `initial_access_token`
/// (`GPTAUTH_REGISTRATION=token`), it is spent only by a registration that is going to happen:
/// a document refused here leaves a single-use token usable for the corrected one.
pub async fn register(
    app: &App,
    registration: Registration,
    initial_access_token: Option<&str>,
) -> Result<Registered, RegisterError> {
    let client_id = ClientId::generate();
    registration.check_audiences(&app.config.resources, client_id.as_ref())?;
    if let Some(token) = initial_access_token
        && !app
            .db
            .consume_initial_access_token(&crypto::digest(token))
            .await?
    {
        return Err(RegisterError::InvalidToken);
    }
    let secret =
        (registration.auth_method() == AuthMethod::ClientSecret).then(crypto::random_token);
    let secret_hash = secret.as_deref().map(crypto::digest);
    let registration_token = crypto::random_token();
    let registration_token_hash = crypto::digest(&registration_token);
    app.db
        .insert_client_with_keys(
            &NewClient {
                client_id: client_id.as_ref(),
                name: &registration.name,
                secret_hash: secret_hash.as_deref(),
                scope: &registration.scope.to_string(),
                audience: None,
                // Public clients must use PKCE (`requires_pkce` follows from having no secret).
                require_pkce: false,
                chatgpt_callbacks: false,
                resources: &[],
                id_token_alg: Some(registration.id_token_alg),
                registration_token_hash: Some(&registration_token_hash),
                registered_auth_method: Some(registration.method),
                owner_id: None,
                logo_uri: None,
                policy_uri: None,
                redirect_uris: &registration.redirect_uris,
            },
            registration.keys.as_ref(),
        )
        .await?;
    app.audit.record(AuditEvent {
        client_id: Some(client_id.to_string()),
        ..AuditEvent::new(AuditKind::ClientRegistered)
    });
    let client = app
        .db
        .client(client_id.as_ref())
        .await?
        .ok_or(RegisterError::Vanished)?;
    Ok(Registered {
        client,
        method: registration.method,
        registration_token,
        secret,
    })
}

/// Replaces a registered client's metadata (RFC 7592 §2.2); it keeps its ID, secret and
/// authentication method. Returns the client as it is now.
pub async fn update(
    app: &App,
    client: &ClientRecord,
    registration: Registration,
) -> Result<ClientRecord, RegisterError> {
    registration.check_update_of(client)?;
    registration.check_audiences(&app.config.resources, &client.client_id)?;
    registration.check_same_auth_method(client)?;
    let changed = app
        .db
        .update_registered_client(
            &client.client_id,
            &RegistrationUpdate {
                name: &registration.name,
                scope: &registration.scope.to_string(),
                id_token_alg: registration.id_token_alg,
                auth_method: registration.method,
                redirect_uris: &registration.redirect_uris,
                keys: registration.keys.as_ref(),
            },
        )
        .await?;
    if !changed {
        // Deleted between the check and the update.
        return Err(RegisterError::InvalidToken);
    }
    app.audit.record(AuditEvent {
        client_id: Some(client.client_id.clone()),
        ..AuditEvent::new(AuditKind::ClientUpdated)
    });
    app.db
        .client(&client.client_id)
        .await?
        .ok_or(RegisterError::InvalidToken)
}

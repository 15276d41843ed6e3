//! Dynamic client registration (RFC 7591) at `POST /oauth/register`, as MCP hosts use it, and
//! its management protocol (RFC 7592) at `/oauth/register/{client_id}`: read, update and delete
//! with the registration access token handed out at registration.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::RegistrationPolicy;
use crate::crypto;
use crate::domain::alg_name;
use crate::domain::{ClientId, RedirectUri, ResourceIndicator, Scope, may_be_named};
use crate::store::{
    AuditEvent, AuthMethod, ClientKeys, ClientRecord, NewClient, RegistrationUpdate,
};
use crate::web::api::bearer::{bearer_token, refuse as challenge};
use crate::web::api::docs::{ClientInformation, ClientMetadataRequest, RegistrationError};
use crate::web::state::AppState;

/// Largest registration document accepted.
const MAX_DOCUMENT: usize = 16 * 1024;

/// The metadata we read; anything else is ignored, as RFC 7591 §2 asks.
#[derive(Deserialize)]
pub struct Metadata {
    #[serde(default)]
    redirect_uris: Vec<String>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    scope: Option<String>,
    /// OpenID Connect Registration §2; RS256 when absent.
    id_token_signed_response_alg: Option<String>,
    /// Only in RFC 7592 updates, where it must name the client being updated.
    client_id: Option<String>,
    /// private_key_jwt (RFC 7523 §2.2): where the client publishes its keys, or the keys.
    jwks_uri: Option<String>,
    jwks: Option<Value>,
}

/// The audiences (Hydra's name) or resources (RFC 8707's) a registration names, each a string
/// or an array of strings.
#[derive(Deserialize)]
struct Audiences {
    audience: Option<OneOrMany>,
    resource: Option<OneOrMany>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// An anonymous client may name only what every client may ask for (`GPTAUTH_RESOURCES`) or
/// its own ID; anything else could be a builder's private API (issue 15, finding 8). Nothing
/// is stored: every client may already ask for those, and its own ID is its default `aud`.
/// Runs on a document `validate` accepted.
fn check_audiences(
    body: &[u8],
    server: &[ResourceIndicator],
    own_client_id: &str,
) -> Result<(), Refusal> {
    let named: Audiences = serde_json::from_slice(body).map_err(|_| {
        Refusal::new(
            "invalid_client_metadata",
            "audience and resource are a string or an array of strings",
        )
    })?;
    let named = [named.audience, named.resource]
        .into_iter()
        .flatten()
        .flat_map(|n| match n {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        });
    for candidate in named {
        if !may_be_named(&candidate, server, &[], Some(own_client_id)) {
            let shown: String = crate::domain::strip_controls(&candidate)
                .chars()
                .take(200)
                .collect();
            return Err(Refusal {
                error: "invalid_client_metadata",
                description: format!("audience/resource {shown:?} is not offered by this server"),
            });
        }
    }
    Ok(())
}

/// Client metadata that passed every check.
struct Valid {
    name: String,
    redirect_uris: Vec<String>,
    /// `none`, `client_secret_basic`, `client_secret_post` or `private_key_jwt`.
    method: &'static str,
    scope: Scope,
    id_token_alg: Algorithm,
    /// Set exactly when `method` is `private_key_jwt`.
    keys: Option<ClientKeys>,
}

impl Valid {
    /// How a client registered like this authenticates.
    fn auth_method(&self) -> AuthMethod {
        match self.method {
            "none" => AuthMethod::None,
            "private_key_jwt" => AuthMethod::PrivateKeyJwt,
            _ => AuthMethod::ClientSecret,
        }
    }
}

/// An RFC 7591 §3.2.2 error.
fn refuse(error: &str, description: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "error": error, "error_description": description }))
}

fn unavailable(e: impl std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "registration storage failed");
    HttpResponse::ServiceUnavailable().json(json!({ "error": "temporarily_unavailable" }))
}

/// An RFC 7591 §3.2.2 error, before it becomes a response.
struct Refusal {
    error: &'static str,
    description: String,
}

impl Refusal {
    fn new(error: &'static str, description: &str) -> Self {
        Refusal {
            error,
            description: description.to_string(),
        }
    }

    fn respond(&self) -> HttpResponse {
        refuse(self.error, &self.description)
    }
}

/// A registration document must be sent as JSON (RFC 7591 §3.1): a `text/plain` body would be a
/// "simple" cross-site request that no CORS preflight stops, so any page a browser visits could
/// register clients (or update one) in its name.
fn json_body(req: &HttpRequest) -> Result<(), Refusal> {
    let json = crate::web::extract::has_media_type(req, "application/json");
    if json {
        Ok(())
    } else {
        Err(Refusal::new(
            "invalid_client_metadata",
            "send the client metadata as application/json",
        ))
    }
}

/// Parses and checks a registration document.
fn validate(body: &[u8]) -> Result<(Valid, Option<String>), Refusal> {
    if body.len() > MAX_DOCUMENT {
        return Err(Refusal::new(
            "invalid_client_metadata",
            "the registration document is too large",
        ));
    }
    let meta: Metadata = serde_json::from_slice(body).map_err(|_| {
        Refusal::new(
            "invalid_client_metadata",
            "the body must be a JSON object of client metadata",
        )
    })?;
    if meta.redirect_uris.is_empty() || meta.redirect_uris.len() > 10 {
        return Err(Refusal::new(
            "invalid_redirect_uri",
            "give 1 to 10 redirect_uris",
        ));
    }
    let mut redirect_uris = Vec::new();
    for raw in &meta.redirect_uris {
        let uri = RedirectUri::parse(raw)
            .map_err(|e| Refusal::new("invalid_redirect_uri", &e.to_string()))?
            .to_string();
        if !redirect_uris.contains(&uri) {
            redirect_uris.push(uri);
        }
    }
    let method = match meta
        .token_endpoint_auth_method
        .as_deref()
        .unwrap_or("client_secret_basic")
    {
        "none" => "none",
        "client_secret_basic" => "client_secret_basic",
        "client_secret_post" => "client_secret_post",
        "private_key_jwt" => "private_key_jwt",
        _ => {
            return Err(Refusal::new(
                "invalid_client_metadata",
                "token_endpoint_auth_method must be none, client_secret_basic, client_secret_post or private_key_jwt",
            ));
        }
    };
    let keys = crate::client_metadata::check_keys(meta.jwks_uri.as_deref(), meta.jwks.as_ref())
        .map_err(|e| Refusal::new("invalid_client_metadata", &e.to_string()))?;
    let keys = match (method, keys) {
        ("private_key_jwt", Some(keys)) => Some(keys),
        ("private_key_jwt", None) => {
            return Err(Refusal::new(
                "invalid_client_metadata",
                "private_key_jwt needs the client's public keys: a jwks_uri or a jwks",
            ));
        }
        // Keys another method would never use are not kept.
        _ => None,
    };
    if meta.grant_types.as_ref().is_some_and(|g| {
        g.iter()
            .any(|t| t != "authorization_code" && t != "refresh_token")
    }) {
        return Err(Refusal::new(
            "invalid_client_metadata",
            "grant_types: authorization_code and refresh_token only",
        ));
    }
    if meta
        .response_types
        .as_ref()
        .is_some_and(|r| r.iter().any(|t| t != "code"))
    {
        return Err(Refusal::new(
            "invalid_client_metadata",
            "response_types: code only",
        ));
    }
    // Registered clients get at most what the server offers; none asked means all of it.
    let offered = Scope::parse(crate::domain::DEFAULT_SCOPE).unwrap_or_default();
    let scope = match meta
        .scope
        .as_deref()
        .map(|raw| Scope::parse(raw).map(Scope::without_offline_access))
    {
        None => offered,
        Some(Ok(s)) if !s.is_empty() && offered.contains_all(&s) => s,
        Some(_) => {
            return Err(Refusal::new(
                "invalid_client_metadata",
                "scope: choose among openid, profile and email",
            ));
        }
    };
    let id_token_alg = match meta.id_token_signed_response_alg.as_deref() {
        None | Some("RS256") => Algorithm::RS256,
        Some("ES256") => Algorithm::ES256,
        Some(_) => {
            return Err(Refusal::new(
                "invalid_client_metadata",
                "id_token_signed_response_alg must be RS256 or ES256",
            ));
        }
    };
    // Without control characters: the name is shown in the operator's terminal and logs.
    let name = meta
        .client_name
        .as_deref()
        .map(crate::domain::strip_controls)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "Unnamed client".into())
        .chars()
        .take(100)
        .collect::<String>();
    let valid = Valid {
        name,
        redirect_uris,
        method,
        scope,
        id_token_alg,
        keys,
    };
    Ok((valid, meta.client_id))
}

/// The client's metadata as RFC 7591 §3.2.1 and RFC 7592 §3 return it.
fn document(state: &AppState, client: &ClientRecord, method: &str) -> Value {
    let mut doc = json!({
        "client_id": client.client_id,
        "client_id_issued_at": client.created_at,
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "token_endpoint_auth_method": method,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": client.scope,
        "id_token_signed_response_alg": alg_name(client.id_token_alg),
        "registration_client_uri": state
            .config
            .issuer
            .url(&format!("/oauth/register/{}", client.client_id)),
    });
    if let Some(uri) = &client.jwks_uri {
        doc["jwks_uri"] = json!(uri);
    }
    if let Some(set) = client
        .jwks
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    {
        doc["jwks"] = set;
    }
    doc
}

/// The auth method as registered (both secret methods work at our token endpoint).
fn method_of(client: &ClientRecord) -> &str {
    if client.auth_method() == AuthMethod::PrivateKeyJwt {
        return "private_key_jwt";
    }
    match (&client.secret_hash, &client.registered_auth_method) {
        (None, _) => "none",
        (Some(_), Some(method)) => method,
        (Some(_), None) => "client_secret_basic",
    }
}

fn created(body: Value) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// `POST /oauth/register`.
#[utoipa::path(
    post,
    path = "/oauth/register",
    operation_id = "register",
    tag = "registration",
    summary = "Register a client (RFC 7591)",
    request_body(content = ClientMetadataRequest, content_type = "application/json"),
    security((), ("initial_access_token" = [])),
    responses(
        (status = 201, description = "Registered: the client's metadata, its registration access token and, when confidential, its secret", body = ClientInformation),
        (status = 400, description = "`invalid_client_metadata` or `invalid_redirect_uri`", body = RegistrationError),
        (status = 401, description = "Registration needs an initial access token (`GPTAUTH_REGISTRATION=token`) and none, or a used or unknown one, was given",
            headers(("WWW-Authenticate" = String, description = "`Bearer` or `Bearer error=\"invalid_token\"`"))),
        (status = 403, description = "`access_denied`: registration is closed on this server", body = RegistrationError),
        (status = 503, description = "`temporarily_unavailable`: the database cannot be reached", body = RegistrationError),
    )
)]
pub async fn post(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    match state.config.registration {
        RegistrationPolicy::Closed => {
            return HttpResponse::build(StatusCode::FORBIDDEN).json(json!({
                "error": "access_denied",
                "error_description": "dynamic registration is closed on this server",
            }));
        }
        // RFC 7591 §3: an initial access token, presented as a bearer token (RFC 6750).
        RegistrationPolicy::Token if bearer_token(&req).is_none() => {
            return challenge(StatusCode::UNAUTHORIZED, "Bearer");
        }
        RegistrationPolicy::Token | RegistrationPolicy::Open => {}
    }
    let (valid, _) = match json_body(&req).and_then(|()| validate(&body)) {
        Ok(v) => v,
        Err(refusal) => return refusal.respond(),
    };
    let client_id = ClientId::generate();
    if let Err(refusal) = check_audiences(&body, &state.config.resources, client_id.as_ref()) {
        return refusal.respond();
    }
    // The token is spent only by a registration that is going to happen: a document refused
    // above leaves a single-use token usable for the corrected one.
    if state.config.registration == RegistrationPolicy::Token {
        let token = bearer_token(&req).unwrap_or_default();
        match state
            .db
            .consume_initial_access_token(&crypto::digest(token))
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                return challenge(StatusCode::UNAUTHORIZED, "Bearer error=\"invalid_token\"");
            }
            Err(e) => return unavailable(e),
        }
    }
    let secret = (valid.auth_method() == AuthMethod::ClientSecret).then(crypto::random_token);
    let secret_hash = secret.as_deref().map(crypto::digest);
    let registration_token = crypto::random_token();
    let registration_token_hash = crypto::digest(&registration_token);
    let inserted = state
        .db
        .insert_client_with_keys(
            &NewClient {
                client_id: client_id.as_ref(),
                name: &valid.name,
                secret_hash: secret_hash.as_deref(),
                scope: &valid.scope.to_string(),
                audience: None,
                // Public clients must use PKCE (`requires_pkce` follows from having no secret).
                require_pkce: false,
                chatgpt_callbacks: false,
                resources: &[],
                id_token_alg: Some(valid.id_token_alg),
                registration_token_hash: Some(&registration_token_hash),
                registered_auth_method: Some(valid.method),
                owner_id: None,
                logo_uri: None,
                policy_uri: None,
                redirect_uris: &valid.redirect_uris,
            },
            valid.keys.as_ref(),
        )
        .await;
    if let Err(e) = inserted {
        return unavailable(e);
    }
    state.audit.record(AuditEvent {
        client_id: Some(client_id.to_string()),
        ..AuditEvent::new(crate::domain::AuditKind::ClientRegistered)
    });
    let client = match state.db.client(client_id.as_ref()).await {
        Ok(Some(c)) => c,
        Ok(None) => return unavailable("the registered client vanished"),
        Err(e) => return unavailable(e),
    };
    let mut out = document(&state, &client, valid.method);
    out["registration_access_token"] = json!(registration_token);
    if let Some(secret) = secret {
        out["client_secret"] = json!(secret);
        out["client_secret_expires_at"] = json!(0);
    }
    created(out)
}

/// The registered client the request's registration access token manages (RFC 7592 §2): the
/// same 401 for an unknown client, a wrong token or a client made by an operator.
async fn managed(
    req: &HttpRequest,
    state: &AppState,
    client_id: &str,
) -> Result<ClientRecord, HttpResponse> {
    let invalid = || challenge(StatusCode::UNAUTHORIZED, "Bearer error=\"invalid_token\"");
    let Some(token) = bearer_token(req) else {
        return Err(challenge(StatusCode::UNAUTHORIZED, "Bearer"));
    };
    let client = match ClientId::parse(client_id) {
        Ok(id) => state.db.client(id.as_ref()).await.map_err(unavailable)?,
        Err(_) => None,
    };
    let Some(client) = client else {
        return Err(invalid());
    };
    let presented = crypto::digest(token);
    match &client.registration_token_hash {
        Some(stored) if crypto::constant_time_eq(stored.as_bytes(), presented.as_bytes()) => {
            Ok(client)
        }
        _ => Err(invalid()),
    }
}

/// `GET /oauth/register/{client_id}` (RFC 7592 §2.1).
#[utoipa::path(
    get,
    path = "/oauth/register/{client_id}",
    operation_id = "read_registration",
    tag = "registration",
    summary = "Read a registered client (RFC 7592)",
    params(("client_id" = String, Path, description = "The registered client's ID")),
    security(("registration_access_token" = [])),
    responses(
        (status = 200, description = "The client's metadata", body = ClientInformation),
        (status = 401, description = "No bearer token, or not this client's registration access token (also for an unknown client)",
            headers(("WWW-Authenticate" = String, description = "`Bearer` or `Bearer error=\"invalid_token\"`"))),
        (status = 503, description = "`temporarily_unavailable`: the database cannot be reached", body = RegistrationError),
    )
)]
pub async fn read(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    match managed(&req, &state, &path).await {
        Ok(client) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(document(&state, &client, method_of(&client))),
        Err(resp) => resp,
    }
}

/// `PUT /oauth/register/{client_id}` (RFC 7592 §2.2): the document replaces the metadata. The
/// client keeps its ID, secret and authentication method.
#[utoipa::path(
    put,
    path = "/oauth/register/{client_id}",
    operation_id = "update_registration",
    tag = "registration",
    summary = "Replace a registered client's metadata (RFC 7592)",
    params(("client_id" = String, Path, description = "The registered client's ID")),
    security(("registration_access_token" = [])),
    request_body(content = ClientMetadataRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated metadata", body = ClientInformation),
        (status = 400, description = "`invalid_client_metadata` or `invalid_redirect_uri`", body = RegistrationError),
        (status = 401, description = "No bearer token, or not this client's registration access token (also for an unknown client)",
            headers(("WWW-Authenticate" = String, description = "`Bearer` or `Bearer error=\"invalid_token\"`"))),
        (status = 503, description = "`temporarily_unavailable`: the database cannot be reached", body = RegistrationError),
    )
)]
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let client = match managed(&req, &state, &path).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let (valid, named) = match json_body(&req).and_then(|()| validate(&body)) {
        Ok(v) => v,
        Err(refusal) => return refusal.respond(),
    };
    if named.as_deref() != Some(client.client_id.as_str()) {
        return refuse(
            "invalid_client_metadata",
            "the document's client_id must be this client's",
        );
    }
    if let Err(refusal) = check_audiences(&body, &state.config.resources, &client.client_id) {
        return refusal.respond();
    }
    if valid.auth_method() != client.auth_method() {
        return refuse(
            "invalid_client_metadata",
            "token_endpoint_auth_method cannot switch between a public client, a client with a secret and a private_key_jwt client; register a new client",
        );
    }
    let changed = state
        .db
        .update_registered_client(
            &client.client_id,
            &RegistrationUpdate {
                name: &valid.name,
                scope: &valid.scope.to_string(),
                id_token_alg: valid.id_token_alg,
                auth_method: valid.method,
                redirect_uris: &valid.redirect_uris,
                keys: valid.keys.as_ref(),
            },
        )
        .await;
    match changed {
        Ok(true) => {}
        // Deleted between the check and the update.
        Ok(false) => return challenge(StatusCode::UNAUTHORIZED, "Bearer error=\"invalid_token\""),
        Err(e) => return unavailable(e),
    }
    state.audit.record(AuditEvent {
        client_id: Some(client.client_id.clone()),
        ..AuditEvent::new(crate::domain::AuditKind::ClientUpdated)
    });
    match state.db.client(&client.client_id).await {
        Ok(Some(updated)) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(document(&state, &updated, valid.method)),
        Ok(None) => challenge(StatusCode::UNAUTHORIZED, "Bearer error=\"invalid_token\""),
        Err(e) => unavailable(e),
    }
}

/// `DELETE /oauth/register/{client_id}` (RFC 7592 §2.3): the client, its grants, consents and
/// refresh tokens are gone.
#[utoipa::path(
    delete,
    path = "/oauth/register/{client_id}",
    operation_id = "delete_registration",
    tag = "registration",
    summary = "Delete a registered client (RFC 7592)",
    params(("client_id" = String, Path, description = "The registered client's ID")),
    security(("registration_access_token" = [])),
    responses(
        (status = 204, description = "Deleted, with its grants, consents and tokens"),
        (status = 401, description = "No bearer token, or not this client's registration access token (also for an unknown client)",
            headers(("WWW-Authenticate" = String, description = "`Bearer` or `Bearer error=\"invalid_token\"`"))),
        (status = 503, description = "`temporarily_unavailable`: the database cannot be reached", body = RegistrationError),
    )
)]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let client = match managed(&req, &state, &path).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    if let Err(e) = state.db.delete_client(&client.client_id).await {
        return unavailable(e);
    }
    state.audit.record(AuditEvent {
        client_id: Some(client.client_id),
        detail: Some("by its registration access token".into()),
        ..AuditEvent::new(crate::domain::AuditKind::ClientDeleted)
    });
    HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

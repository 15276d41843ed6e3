//! Dynamic client registration (RFC 7591) at `POST /oauth/register`, as MCP hosts use it, and
//! its management protocol (RFC 7592) at `/oauth/register/{client_id}`: read, update and delete
//! with the registration access token handed out at registration.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::{Value, json};

use crate::app::App;
use crate::app::clients::{self, Actor, ClientError, RegisterError};
use crate::config::RegistrationPolicy;
use crate::crypto;
use crate::domain::ClientId;
use crate::domain::alg_name;
use crate::oauth::registration::{self, Registration, method_of};
use crate::oauth::{ErrorCode, OAuthError};
use crate::store::ClientRecord;
use crate::web::api::bearer::bearer_token;
use crate::web::api::docs::{ClientInformation, ClientMetadataRequest, RegistrationError};
use crate::web::errors::{ApiError, unavailable_json};
use crate::web::state::AppState;

/// An RFC 7591 §3.2.2 error, in the one JSON error shape (`web::errors`).
fn refuse(error: OAuthError) -> HttpResponse {
    ApiError::Json(error).error_response()
}

/// A registration access token that is missing (`None`) or refused (RFC 7592 §3, RFC 6750
/// §3.1).
fn bad_token(error: Option<OAuthError>) -> HttpResponse {
    match error {
        Some(e) => ApiError::bearer(e),
        None => ApiError::no_bearer(),
    }
    .error_response()
}

fn invalid_token() -> HttpResponse {
    bad_token(Some(ErrorCode::InvalidToken.with("")))
}

/// A refused registration or update as its response.
fn respond(error: RegisterError) -> HttpResponse {
    match error {
        RegisterError::Refused(e) => refuse(e),
        RegisterError::InvalidToken => invalid_token(),
        RegisterError::Vanished => {
            unavailable_json("the registered client vanished").error_response()
        }
        RegisterError::Store(e) => unavailable_json(e).error_response(),
    }
}

/// A registration document must be sent as JSON (RFC 7591 §3.1): a `text/plain` body would be a
/// "simple" cross-site request that no CORS preflight stops, so any page a browser visits could
/// register clients (or update one) in its name. Then the document's rules.
fn read_document(req: &HttpRequest, body: &[u8]) -> Result<Registration, OAuthError> {
    if !crate::web::extract::has_media_type(req, "application/json") {
        return Err(OAuthError::invalid_client_metadata(
            "send the client metadata as application/json",
        ));
    }
    registration::validate(body)
}

/// The client's metadata as RFC 7591 §3.2.1 and RFC 7592 §3 return it.
fn document(state: &App, client: &ClientRecord, method: &str) -> Value {
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
            return refuse(
                ErrorCode::AccessDenied.with("dynamic registration is closed on this server"),
            );
        }
        // RFC 7591 §3: an initial access token, presented as a bearer token (RFC 6750).
        RegistrationPolicy::Token if bearer_token(&req).is_none() => {
            return bad_token(None);
        }
        RegistrationPolicy::Token | RegistrationPolicy::Open => {}
    }
    let registration = match read_document(&req, &body) {
        Ok(r) => r,
        Err(e) => return refuse(e),
    };
    let initial_access_token = match state.config.registration {
        RegistrationPolicy::Token => Some(bearer_token(&req).unwrap_or_default()),
        _ => None,
    };
    let registered = match clients::register(&state, registration, initial_access_token).await {
        Ok(r) => r,
        Err(e) => return respond(e),
    };
    let mut out = document(&state, &registered.client, registered.method);
    out["registration_access_token"] = json!(registered.registration_token);
    if let Some(secret) = registered.secret {
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
    let invalid = invalid_token;
    let Some(token) = bearer_token(req) else {
        return Err(bad_token(None));
    };
    let client = match ClientId::parse(client_id) {
        Ok(id) => state
            .db
            .client(id.as_ref())
            .await
            .map_err(|e| unavailable_json(e).error_response())?,
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
    let registration = match read_document(&req, &body) {
        Ok(r) => r,
        Err(e) => return refuse(e),
    };
    let method = registration.method;
    match clients::update(&state, &client, registration).await {
        Ok(updated) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(document(&state, &updated, method)),
        Err(e) => respond(e),
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
    match clients::delete(&state, Actor::Registrant, &client.client_id).await {
        // Deleted meanwhile: gone all the same.
        Ok(()) | Err(ClientError::NotFound(_)) => {}
        Err(e) => return unavailable_json(e).error_response(),
    }
    HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

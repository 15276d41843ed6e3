use actix_web::{HttpResponse, http::header, web};
use serde_json::json;

use crate::config::RegistrationPolicy;
use crate::domain::OFFLINE_ACCESS;
use crate::oauth::client_assertion::ALGORITHM_NAMES;
use crate::web::api::docs::{Jwks, ServerMetadata};
use crate::web::state::AppState;

/// RFC 8414 authorization server metadata (also served as OpenID discovery). Lists only what
/// exists.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "discovery",
    summary = "Authorization server metadata (RFC 8414)",
    responses((status = 200, description = "The metadata", body = ServerMetadata)),
)]
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let issuer = &state.config.issuer;
    let mut doc = document(&state);
    if state.config.registration != RegistrationPolicy::Closed
        && let Some(obj) = doc.as_object_mut()
    {
        obj.insert(
            "registration_endpoint".into(),
            json!(issuer.url("/oauth/register")),
        );
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(doc)
}

/// The same document as OpenID Connect Discovery 1.0 §4.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "discovery",
    summary = "OpenID Provider metadata (the same document)",
    responses((status = 200, description = "The metadata", body = ServerMetadata)),
)]
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    metadata(state).await
}

fn document(state: &AppState) -> serde_json::Value {
    let issuer = &state.config.issuer;
    json!({
            "issuer": issuer.as_str(),
            "authorization_endpoint": issuer.url("/oauth/authorize"),
            "token_endpoint": issuer.url("/oauth/token"),
            "jwks_uri": issuer.url("/.well-known/jwks.json"),
            "revocation_endpoint": issuer.url("/oauth/revoke"),
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "revocation_endpoint_auth_signing_alg_values_supported": ALGORITHM_NAMES,
            "introspection_endpoint": issuer.url("/oauth/introspect"),
            "userinfo_endpoint": issuer.url("/oauth/userinfo"),
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "introspection_endpoint_auth_signing_alg_values_supported": ALGORITHM_NAMES,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            // private_key_jwt assertions (RFC 7523): asymmetric algorithms only.
            "token_endpoint_auth_signing_alg_values_supported": ALGORITHM_NAMES,
            "code_challenge_methods_supported": ["S256"],
            // offline_access: accepted, meaning a refresh token (which every grant has anyway).
            "scopes_supported": ["openid", "profile", "email", OFFLINE_ACCESS],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "email", "email_verified", "name"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "prompt_values_supported": crate::oauth::oidc::PROMPT_VALUES,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "subject_types_supported": ["public"],
            "authorization_response_iss_parameter_supported": true,
            "client_id_metadata_document_supported": state.config.client_metadata_documents.is_on(),
    })
}

/// The public keys that verify our access tokens.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "discovery",
    summary = "The public signing keys (RFC 7517)",
    responses((status = 200, description = "The key set", body = Jwks)),
)]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(&state.keys.current().jwks)
}

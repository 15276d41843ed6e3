//! `POST /oauth/register`: dynamic client registration (RFC 7591), as MCP hosts use it.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::config::RegistrationPolicy;
use crate::crypto;
use crate::domain::{ClientId, RedirectUri, Scope};
use crate::startup::AppState;
use crate::store::{AuditEvent, NewClient};
use crate::tokens::alg_name;
use jsonwebtoken::Algorithm;

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
}

/// RFC 7591 §3.2.2 errors.
fn refuse(error: &str, description: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "error": error, "error_description": description }))
}

pub async fn post(state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    if state.config.registration == RegistrationPolicy::Closed {
        return HttpResponse::build(StatusCode::FORBIDDEN).json(json!({
            "error": "access_denied",
            "error_description": "dynamic registration is closed on this server",
        }));
    }
    if body.len() > 16 * 1024 {
        return refuse(
            "invalid_client_metadata",
            "the registration document is too large",
        );
    }
    let meta: Metadata = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(_) => {
            return refuse(
                "invalid_client_metadata",
                "the body must be a JSON object of client metadata",
            );
        }
    };
    if meta.redirect_uris.is_empty() || meta.redirect_uris.len() > 10 {
        return refuse("invalid_redirect_uri", "give 1 to 10 redirect_uris");
    }
    let mut uris = Vec::new();
    for raw in &meta.redirect_uris {
        match RedirectUri::parse(raw) {
            Ok(uri) if !uris.contains(&uri.to_string()) => uris.push(uri.to_string()),
            Ok(_) => {}
            Err(e) => return refuse("invalid_redirect_uri", &e.to_string()),
        }
    }
    let method = meta
        .token_endpoint_auth_method
        .as_deref()
        .unwrap_or("client_secret_basic");
    if !matches!(
        method,
        "none" | "client_secret_basic" | "client_secret_post"
    ) {
        return refuse(
            "invalid_client_metadata",
            "token_endpoint_auth_method must be none, client_secret_basic or client_secret_post",
        );
    }
    if meta.grant_types.as_ref().is_some_and(|g| {
        g.iter()
            .any(|t| t != "authorization_code" && t != "refresh_token")
    }) {
        return refuse(
            "invalid_client_metadata",
            "grant_types: authorization_code and refresh_token only",
        );
    }
    if meta
        .response_types
        .as_ref()
        .is_some_and(|r| r.iter().any(|t| t != "code"))
    {
        return refuse("invalid_client_metadata", "response_types: code only");
    }
    let id_token_alg = match meta.id_token_signed_response_alg.as_deref() {
        None | Some("RS256") => Algorithm::RS256,
        Some("ES256") => Algorithm::ES256,
        Some(_) => {
            return refuse(
                "invalid_client_metadata",
                "id_token_signed_response_alg must be RS256 or ES256",
            );
        }
    };
    // Registered clients get at most what the server offers; none asked means all of it.
    let offered = Scope::parse(crate::cli::DEFAULT_SCOPE).unwrap_or_default();
    let scope = match meta.scope.as_deref().map(Scope::parse) {
        None => offered,
        Some(Ok(s)) if !s.is_empty() && offered.contains_all(&s) => s,
        Some(_) => {
            return refuse(
                "invalid_client_metadata",
                "scope: choose among openid, profile and email",
            );
        }
    };
    let name = meta
        .client_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("Unnamed client")
        .chars()
        .take(100)
        .collect::<String>();
    let client_id = ClientId::generate();
    let secret = (method != "none").then(crypto::random_token);
    let secret_hash = secret.as_deref().map(crypto::digest);
    let inserted = state
        .db
        .insert_client(&NewClient {
            client_id: client_id.as_ref(),
            name: &name,
            secret_hash: secret_hash.as_deref(),
            scope: &scope.to_string(),
            audience: None,
            // Public clients must use PKCE (`requires_pkce` follows from having no secret).
            require_pkce: false,
            chatgpt_callbacks: false,
            resources: &[],
            id_token_alg: Some(id_token_alg),
            redirect_uris: &uris,
        })
        .await;
    if let Err(e) = inserted {
        tracing::error!(error = %e, "storing a registered client failed");
        return HttpResponse::ServiceUnavailable()
            .json(json!({ "error": "temporarily_unavailable" }));
    }
    state.audit.record(AuditEvent {
        kind: "client_registered",
        client_id: Some(client_id.to_string()),
        ..Default::default()
    });
    let mut out = json!({
        "client_id": client_id.as_ref(),
        "client_id_issued_at": crate::store::now(),
        "client_name": name,
        "redirect_uris": uris,
        "token_endpoint_auth_method": method,
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": scope.to_string(),
        "id_token_signed_response_alg": alg_name(id_token_alg),
    });
    if let (Some(secret), Some(obj)) = (secret, out.as_object_mut()) {
        obj.insert("client_secret".into(), json!(secret));
        obj.insert("client_secret_expires_at".into(), json!(0));
    }
    HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(out)
}

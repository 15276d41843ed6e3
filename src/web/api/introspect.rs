//! `POST /oauth/introspect` (RFC 7662): is this token active, and what does it stand for?

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::web::api::docs::{IntrospectionResponse, OAuthError, TokenQuery};
use crate::web::api::presented_token::{Presented, token_request};
use crate::web::errors::{ApiError, no_store, unavailable_json};
use crate::web::state::AppState;

#[utoipa::path(
    post,
    path = "/oauth/introspect",
    operation_id = "introspect",
    tag = "oauth",
    summary = "Introspect a token (RFC 7662); confidential clients only",
    request_body(content = TokenQuery, content_type = "application/x-www-form-urlencoded"),
    security(("client_secret_basic" = []), ()),
    responses(
        (status = 200, description = "The token's state; `{\"active\": false}` for anything not active", body = IntrospectionResponse),
        (status = 400, description = "RFC 6749 §5.2 error: `invalid_request` (unreadable or misplaced parameters, a body that is not a form, a missing `token`)", body = OAuthError),
        (status = 401, description = "`invalid_client`: missing, malformed or wrong client credentials, or a public client", body = OAuthError,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"gptauth\"`"))),
        (status = 503, description = "`temporarily_unavailable`: the database cannot be reached", body = OAuthError),
    )
)]
#[tracing::instrument(name = "introspect", skip_all, fields(client_id))]
pub async fn post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (client, presented) = token_request(&req, payload, &state).await?;
    // Introspection tells about tokens: confidential clients only (RFC 7662 §2.1), those with
    // a secret or keys.
    if client.auth_method() == crate::store::AuthMethod::None {
        return Err(
            crate::oauth::OAuthError::invalid_client("public clients cannot introspect").into(),
        );
    }
    let now = state.db.now();
    // A token whose user was disabled or deleted, or whose client was deleted, is not active.
    let (user, client_id, issued_at) = match &presented {
        Presented::Access(claims) => (
            uuid::Uuid::parse_str(&claims.sub).ok(),
            &claims.client_id,
            Some(claims.iat),
        ),
        Presented::Refresh(found) => (Some(found.user_id), &found.client_id, None),
        Presented::Unknown => (None, &client.client_id, None),
    };
    let parties_active = match user {
        Some(user) => match state
            .db
            .token_parties_active(user, client_id, issued_at)
            .await
        {
            Ok(active) => active,
            Err(e) => return Err(unavailable_json(e)),
        },
        None => false,
    };
    let body = match presented {
        _ if !parties_active => json!({ "active": false }),
        // Any authenticated client may introspect access tokens: resource servers do.
        Presented::Access(claims) => match state.db.is_access_token_revoked(&claims.jti).await {
            Ok(true) => json!({ "active": false }),
            Ok(false) => json!({
                "active": true,
                "token_type": "Bearer",
                "sub": claims.sub,
                "client_id": claims.client_id,
                "scope": claims.scope,
                "exp": claims.exp,
                "iat": claims.iat,
                "iss": claims.iss,
                "aud": claims.aud,
                "jti": claims.jti,
                "email": claims.email,
                "email_verified": claims.email_verified,
            }),
            Err(e) => return Err(unavailable_json(e)),
        },
        // A refresh token is its own client's business only.
        Presented::Refresh(found)
            if found.client_id == client.client_id
                && found.family_revoked_at.is_none()
                && found.expires_at > now
                && found.rotated_at.is_none_or(|at| {
                    // Superseded or spent (0), or rotated outside the grace window: inactive.
                    let grace = state.config.refresh_grace_seconds;
                    at > 0 && grace > 0 && now - at <= grace
                }) =>
        {
            json!({
                "active": true,
                "token_type": "refresh_token",
                "sub": found.user_id.to_string(),
                "client_id": found.client_id,
                "scope": found.scope,
                "exp": found.expires_at,
                "iss": state.config.issuer.as_str(),
            })
        }
        _ => json!({ "active": false }),
    };
    let mut body = body;
    // Claims a token does not carry are left out, not sent as null.
    if let Some(obj) = body.as_object_mut() {
        obj.retain(|_, v| !v.is_null());
    }
    let mut resp = HttpResponse::Ok();
    no_store(&mut resp);
    Ok(resp.json(body))
}

//! `POST /oauth/revoke` (RFC 7009): a client withdraws a token it holds.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::store::AuditEvent;
use crate::web::api::docs::{OAuthError, TokenQuery};
use crate::web::api::presented_token::{Presented, token_request};
use crate::web::errors::{ApiError, no_store, unavailable_json};
use crate::web::state::AppState;

#[utoipa::path(
    post,
    path = "/oauth/revoke",
    operation_id = "revoke",
    tag = "oauth",
    summary = "Revoke an access or refresh token (RFC 7009)",
    request_body(content = TokenQuery, content_type = "application/x-www-form-urlencoded"),
    security((), ("client_secret_basic" = [])),
    responses(
        (status = 200, description = "Revoked, or unknown, or not this client's: the same answer"),
        (status = 400, description = "RFC 6749 §5.2 error: `invalid_request` (unreadable or misplaced parameters, a body that is not a form, a missing `token`)", body = OAuthError),
        (status = 401, description = "`invalid_client`: missing, malformed or wrong client credentials", body = OAuthError,
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"gptauth\"`"))),
        (status = 503, description = "`temporarily_unavailable`: the database cannot be reached", body = OAuthError),
    )
)]
#[tracing::instrument(name = "revoke", skip_all, fields(client_id))]
pub async fn post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (client, presented) = token_request(&req, payload, &state).await?;
    // Only the client a token was issued to may revoke it; for anything else the answer is the
    // same 200 as for an unknown token, so nobody learns about other clients' tokens.
    let outcome = match presented {
        Presented::Refresh(found) if found.client_id == client.client_id => {
            let done = state
                .db
                .revoke_refresh_family(found.family_id, "revoked by the client")
                .await;
            done.map(|()| {
                Some((
                    crate::domain::AuditKind::RefreshTokenRevoked,
                    Some(found.user_id),
                ))
            })
        }
        Presented::Access(claims) if claims.client_id == client.client_id => state
            .db
            .revoke_access_token(&claims.jti, &claims.client_id, claims.exp)
            .await
            .map(|()| {
                Some((
                    crate::domain::AuditKind::AccessTokenRevoked,
                    uuid::Uuid::parse_str(&claims.sub).ok(),
                ))
            }),
        _ => Ok(None),
    };
    match outcome {
        Ok(Some((kind, user_id))) => {
            state.audit.record(AuditEvent {
                user_id,
                client_id: Some(client.client_id),
                ..AuditEvent::new(kind)
            });
        }
        Ok(None) => {}
        Err(e) => return Err(unavailable_json(e)),
    }
    let mut resp = HttpResponse::Ok();
    no_store(&mut resp);
    Ok(resp.finish())
}

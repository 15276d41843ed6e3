//! Telling which of our tokens a client presented (revocation and introspection).

use actix_web::{HttpRequest, web};

use crate::crypto;
use crate::oauth::OAuthError;
use crate::store::{ClientRecord, RefreshLookup, StoreError};
use crate::tokens::{AccessClaims, verify_access_token};
use crate::web::api::client_auth::{authenticate, client_credentials, read_form};
use crate::web::errors::{ApiError, unavailable_json};
use crate::web::state::AppState;

/// The shared front of revocation and introspection: read the form, authenticate the client,
/// and look up its `token`.
pub async fn token_request(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<(ClientRecord, Presented), ApiError> {
    let mut params = read_form(req, payload).await?;
    let credentials = client_credentials(req, &mut params)?;
    tracing::Span::current().record("client_id", credentials.client_id.as_str());
    let client = authenticate(state, req, &credentials).await?;
    // RFC 7009 §2.1, RFC 7662 §2.1: `token` is REQUIRED.
    let Some(token) = params.non_empty("token") else {
        return Err(OAuthError::invalid_request("token is missing").into());
    };
    let presented = identify(state, token).await.map_err(unavailable_json)?;
    Ok((client, presented))
}

pub enum Presented {
    /// A valid, unexpired access token we signed.
    Access(AccessClaims),
    /// A refresh token we know (in any state).
    Refresh(RefreshLookup),
    /// Expired, tampered, foreign, malformed or unknown.
    Unknown,
}

/// Looks the token up. A `token_type_hint` (RFC 7009 §2.1, RFC 7662 §2.1) is not needed:
/// access tokens are JWTs, refresh tokens 43 URL-safe characters.
async fn identify(state: &AppState, token: &str) -> Result<Presented, StoreError> {
    if token.split('.').count() == 3 {
        let keys = state
            .keys
            .for_token(token, &state.db, state.config.access_token_ttl)
            .await;
        if let Ok(claims) = verify_access_token(&keys, state.config.issuer.as_str(), token) {
            return Ok(Presented::Access(claims));
        }
    }
    if token.len() == 43
        && let Some(found) = state.db.find_refresh(&crypto::digest(token)).await?
    {
        return Ok(Presented::Refresh(found));
    }
    Ok(Presented::Unknown)
}

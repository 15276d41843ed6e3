//! Telling which of our tokens a client presented (revocation and introspection).

use crate::crypto;
use crate::startup::AppState;
use crate::store::{RefreshLookup, StoreError};
use crate::tokens::{AccessClaims, verify_access_token};

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
pub async fn identify(state: &AppState, token: &str) -> Result<Presented, StoreError> {
    if token.split('.').count() == 3
        && let Ok(claims) =
            verify_access_token(&state.keys.current(), state.config.issuer.as_str(), token)
    {
        return Ok(Presented::Access(claims));
    }
    if token.len() == 43
        && let Some(found) = state.db.find_refresh(&crypto::digest(token)).await?
    {
        return Ok(Presented::Refresh(found));
    }
    Ok(Presented::Unknown)
}

use jsonwebtoken::Header;
use serde::{Deserialize, Serialize};

use super::KeySet;

/// The claims of an access token (RFC 9068 §2.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The user's UUID: the same person has the same `sub` in every session.
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
}

/// Signs the claims with the active key; the header carries `typ: at+jwt` and the `kid`.
pub fn sign_access_token(
    keys: &KeySet,
    claims: &AccessClaims,
) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(keys.alg);
    header.typ = Some("at+jwt".into());
    header.kid = Some(keys.kid.clone());
    jsonwebtoken::encode(&header, claims, &keys.encoding)
}

//! OpenID Connect ID tokens (Core 1.0 §2): who signed in, for which client, when.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{KeySet, SignError};
use crate::domain::alg_name;

/// The claims of an ID token. Profile claims are served by userinfo, not repeated here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    /// The client the token is for (a single audience, so no `azp` is needed).
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Binds the ID token to the access token issued with it (Core §3.1.3.6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
}

/// `at_hash`: the left half of the access token's SHA-256, base64url (both of our algorithms
/// hash with SHA-256).
pub fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Signs with the active key of `alg`.
pub fn sign_id_token(
    keys: &KeySet,
    alg: Algorithm,
    claims: &IdClaims,
) -> Result<String, SignError> {
    let signer = keys.signer(alg).ok_or(SignError::NoKey(alg_name(alg)))?;
    signer.sign(&signer.header(), claims)
}

/// The subject of an `id_token_hint`: an ID token we signed for `client_id`, possibly expired
/// (Core §3.1.2.1 allows that). `None` when it is not one of ours.
pub fn hint_subject(keys: &KeySet, issuer: &str, client_id: &str, token: &str) -> Option<String> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    // An access token is not a hint.
    if header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"))
    {
        return None;
    }
    let (alg, key) = keys.decoding.get(header.kid.as_deref()?)?;
    let mut validation = jsonwebtoken::Validation::new(*alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[client_id]);
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["iss", "sub", "aud"]);
    jsonwebtoken::decode::<IdClaims>(token, key, &validation)
        .ok()
        .map(|data| data.claims.sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        // Core 1.0 §3.1.3.6; 128 bits encode to 22 base64url characters.
        let h = at_hash("an access token");
        assert_eq!(h.len(), 22);
        assert_ne!(h, at_hash("another access token"));
    }
}

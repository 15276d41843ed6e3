use serde::{Deserialize, Serialize};

use super::{KeySet, SignError};

/// `aud`: one audience as a string, several as an array (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    /// A string for one audience, an array for several; `None` for none.
    pub fn of(mut audiences: Vec<String>) -> Option<Self> {
        match audiences.len() {
            0 => None,
            1 => audiences.pop().map(Audience::One),
            _ => Some(Audience::Many(audiences)),
        }
    }
}

/// The claims of an access token (RFC 9068 §2.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The user's UUID: the same person has the same `sub` in every session.
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    /// With the `email` scope: the user's address, and whether they proved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// Why a presented access token is not one of ours, or no longer valid.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("not a JWT")]
    Malformed,
    #[error("not signed by a key of this server")]
    UnknownKey,
    #[error("not an access token")]
    WrongType,
    #[error("invalid: {0}")]
    Invalid(jsonwebtoken::errors::Error),
}

/// Verifies an access token this server issued: a published key by `kid`, `typ: at+jwt`, our
/// `iss`, not expired. The audience is not checked here: the server answers for every audience.
pub fn verify_access_token(
    keys: &KeySet,
    issuer: &str,
    token: &str,
) -> Result<AccessClaims, VerifyError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"))
    {
        return Err(VerifyError::WrongType);
    }
    let (alg, key) = header
        .kid
        .as_ref()
        .and_then(|k| keys.decoding.get(k))
        .ok_or(VerifyError::UnknownKey)?;
    // The algorithm is the key's, never the header's choice.
    let mut validation = jsonwebtoken::Validation::new(*alg);
    validation.set_issuer(&[issuer]);
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
        .map(|data| data.claims)
        .map_err(VerifyError::Invalid)
}

/// Signs the claims with the active key; the header carries `typ: at+jwt` and the `kid`.
pub fn sign_access_token(keys: &KeySet, claims: &AccessClaims) -> Result<String, SignError> {
    let signer = keys.access_signer().ok_or(SignError::NoKey("ES256"))?;
    let mut header = signer.header();
    header.typ = Some("at+jwt".into());
    signer.sign(&header, claims)
}

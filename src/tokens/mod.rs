//! Signed tokens: access tokens (JWTs per RFC 9068) and OpenID Connect ID tokens, with keys kept
//! in the database and published as a JWKS.

mod id_token;
mod jwt;
mod keys;
pub mod sealing;

pub use id_token::{IdClaims, at_hash, hint_subject, sign_id_token};
pub use jwt::{AccessClaims, Audience, VerifyError, sign_access_token, verify_access_token};
pub use keys::{
    KeyError, KeySet, Keys, SIGNING_ALGORITHMS, SignError, Signer, check_keys_open, generate,
    generate_es256, generate_sealed,
};

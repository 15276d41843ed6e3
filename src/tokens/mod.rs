//! Access tokens: JWTs per RFC 9068, signed with keys kept in the database and published as a JWKS.

mod jwt;
mod keys;

pub use jwt::{AccessClaims, VerifyError, sign_access_token, verify_access_token};
pub use keys::{KeyError, KeySet, Keys, generate_es256};

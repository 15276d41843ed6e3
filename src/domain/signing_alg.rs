//! The algorithms tokens are signed with.

use jsonwebtoken::Algorithm;

/// The JOSE name (RFC 7518 §3.1) of a signing algorithm we use: RS256 or ES256.
pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS256 => "RS256",
        _ => "ES256",
    }
}

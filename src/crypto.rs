//! Small primitives for server-generated secrets.
//!
//! Client secrets, authorization codes, refresh tokens and session ids are 256-bit random values:
//! a fast SHA-256 digest is all the storage side needs (a slow hash adds nothing to 256 bits of
//! entropy and would cap the token endpoint).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A fresh 256-bit random value, URL-safe base64 without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a server-generated secret: SHA-256, URL-safe base64.
pub fn digest(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two byte strings without leaking where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_are_256_bit_and_distinct() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }

    #[test]
    fn digest_is_stable_and_not_the_secret() {
        assert_eq!(digest("abc"), digest("abc"));
        assert_ne!(digest("abc"), "abc");
        assert_ne!(digest("abc"), digest("abd"));
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"same", b"same"));
        assert!(!constant_time_eq(b"same", b"sama"));
        assert!(!constant_time_eq(b"same", b"same!"));
    }
}

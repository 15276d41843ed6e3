//! private_key_jwt client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core §9): a
//! client proves who it is with a short-lived JWT it signed with one of its own keys.
//!
//! Checked in two steps, so that nothing is fetched for a request that is wrong on its face:
//! [`precheck`] reads the unverified JWT (algorithm, `iss`, `sub`, `aud`, times, `jti`), then
//! [`verify_signature`] checks it against the client's keys. The caller records the `jti`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

/// `client_assertion_type` for a JWT (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Asymmetric algorithms only: never `none`, and never HMAC, whose "key" would be the public key
/// we hold (the classic confusion attack).
pub const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// The names of [`ALGORITHMS`], for the metadata document.
pub const ALGORITHM_NAMES: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

/// An assertion may expire at most this far ahead: it is made for one request.
pub const MAX_LIFETIME_SECONDS: i64 = 5 * 60;
/// Clock difference tolerated between the client and us.
pub const SKEW_SECONDS: i64 = 60;
/// Longest `jti` accepted.
const MAX_JTI_LEN: usize = 256;
/// Longest assertion read (a JWT with a 4096-bit RSA signature is well under 2 KB).
const MAX_ASSERTION_LEN: usize = 8 * 1024;

/// Why an assertion was refused: each is `invalid_client` (RFC 7521 §4.2.1), and each message
/// names what to fix without echoing what the client sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssertionError {
    #[error("client_assertion is not a well-formed JWT")]
    Malformed,
    #[error("client_assertion's alg must be one of RS256, PS256, ES256, EdDSA")]
    Algorithm,
    #[error("client_assertion's iss and sub must both be the client_id")]
    Subject,
    #[error(
        "client_assertion's aud must be this server's issuer identifier or its token endpoint URL"
    )]
    Audience,
    #[error("client_assertion has expired")]
    Expired,
    #[error("client_assertion's exp is required")]
    MissingExpiry,
    #[error(
        "client_assertion's exp is too far ahead: an assertion may live at most {MAX_LIFETIME_SECONDS} seconds"
    )]
    Lifetime,
    #[error("client_assertion's iat or nbf is in the future")]
    NotYetValid,
    #[error("client_assertion's jti is required (at most {MAX_JTI_LEN} characters)")]
    Jti,
    #[error("no key in the client's JWK Set matches the assertion's kid and alg")]
    UnknownKey,
    #[error("client_assertion's signature does not verify with the client's key")]
    Signature,
    #[error("client_assertion was used before: make a new one (with a new jti) for each request")]
    Replayed,
}

/// The claims of an assertion that passed [`precheck`], not yet known to be the client's.
#[derive(Debug, Clone)]
pub struct Unverified {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub jti: String,
    pub exp: i64,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Value>,
    exp: Option<Value>,
    iat: Option<Value>,
    nbf: Option<Value>,
    jti: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
}

/// The assertion's `sub`, unverified: which client it claims to be, when the request did not
/// name one in `client_id` (RFC 7523 §3 lets it be left out).
pub fn claimed_client(assertion: &str) -> Option<String> {
    let claims: Claims = part(assertion, 1)?;
    claims.sub
}

/// Checks what costs nothing: the JWT's shape, its algorithm, that it names `client_id` as
/// `iss` and `sub`, one of `audiences` in `aud`, a short lifetime around `now`, and a `jti`.
pub fn precheck(
    assertion: &str,
    client_id: &str,
    audiences: &[&str],
    now: i64,
) -> Result<Unverified, AssertionError> {
    if assertion.len() > MAX_ASSERTION_LEN || assertion.split('.').count() != 3 {
        return Err(AssertionError::Malformed);
    }
    let header: RawHeader = part(assertion, 0).ok_or(AssertionError::Malformed)?;
    let alg = header
        .alg
        .as_deref()
        .and_then(|name| {
            ALGORITHM_NAMES
                .iter()
                .position(|n| *n == name)
                .map(|i| ALGORITHMS[i])
        })
        .ok_or(AssertionError::Algorithm)?;
    let claims: Claims = part(assertion, 1).ok_or(AssertionError::Malformed)?;
    let is_client = |v: &Option<String>| {
        v.as_deref()
            .is_some_and(|v| crate::crypto::constant_time_eq(v.as_bytes(), client_id.as_bytes()))
    };
    if !is_client(&claims.iss) || !is_client(&claims.sub) {
        return Err(AssertionError::Subject);
    }
    // One string, or an array with at least one of ours (RFC 7519 §4.1.3).
    let names_us = |v: &Value| v.as_str().is_some_and(|a| audiences.contains(&a));
    let aud_ok = match &claims.aud {
        Some(Value::Array(items)) => items.iter().any(names_us),
        Some(v) => names_us(v),
        None => false,
    };
    if !aud_ok {
        return Err(AssertionError::Audience);
    }
    let exp = match &claims.exp {
        None | Some(Value::Null) => return Err(AssertionError::MissingExpiry),
        Some(v) => seconds(v).ok_or(AssertionError::Malformed)?,
    };
    if exp <= now - SKEW_SECONDS {
        return Err(AssertionError::Expired);
    }
    if exp > now + MAX_LIFETIME_SECONDS + SKEW_SECONDS {
        return Err(AssertionError::Lifetime);
    }
    for time in [&claims.iat, &claims.nbf] {
        if let Some(v) = time.as_ref().filter(|v| !v.is_null()) {
            let t = seconds(v).ok_or(AssertionError::Malformed)?;
            if t > now + SKEW_SECONDS {
                return Err(AssertionError::NotYetValid);
            }
        }
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
        .ok_or(AssertionError::Jti)?;
    Ok(Unverified {
        alg,
        kid: header.kid,
        jti,
        exp,
    })
}

/// Verifies the signature with the key of `keys` the header names (`kid`; with none, the only
/// key there is). A key must suit the algorithm, and a key that states its `alg` or `use` must
/// state this one and `sig`.
pub fn verify_signature(
    assertion: &str,
    unverified: &Unverified,
    keys: &[Jwk],
) -> Result<(), AssertionError> {
    let usable: Vec<&Jwk> = keys
        .iter()
        .filter(|k| match &unverified.kid {
            Some(kid) => k.common.key_id.as_deref() == Some(kid.as_str()),
            None => true,
        })
        .filter(|k| {
            k.common
                .key_algorithm
                .is_none_or(|a| a.to_string() == alg_name(unverified.alg))
        })
        .filter(|k| {
            k.common
                .public_key_use
                .as_ref()
                .is_none_or(|u| *u == PublicKeyUse::Signature)
        })
        .collect();
    let key = match usable.as_slice() {
        [only] => *only,
        // Without a kid, several candidates are ambiguous (OpenID Connect Core §10.1).
        _ => return Err(AssertionError::UnknownKey),
    };
    let key = DecodingKey::from_jwk(key).map_err(|_| AssertionError::UnknownKey)?;
    let mut validation = Validation::new(unverified.alg);
    // The claims were checked by `precheck`; this checks the signature over the same bytes.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(assertion, &key, &validation)
        .map(|_| ())
        .map_err(|_| AssertionError::Signature)
}

fn alg_name(alg: Algorithm) -> &'static str {
    ALGORITHMS
        .iter()
        .position(|a| *a == alg)
        .map_or("", |i| ALGORITHM_NAMES[i])
}

/// A JWT part, base64url-decoded and parsed.
fn part<T: serde::de::DeserializeOwned>(jwt: &str, index: usize) -> Option<T> {
    let encoded = jwt.split('.').nth(index)?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A NumericDate (RFC 7519 §2): seconds, possibly with a fraction.
fn seconds(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite() && f.abs() < 1e15)
            .map(|f| f as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "https://chatgpt.com/oauth/abc/client.json";
    const AUD: &[&str] = &["https://auth.example", "https://auth.example/oauth/token"];

    fn jwt(header: Value, claims: Value) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    fn claims(now: i64) -> Value {
        json!({ "iss": ID, "sub": ID, "aud": AUD[1], "exp": now + 60, "iat": now, "jti": "j1" })
    }

    #[test]
    fn a_well_formed_assertion_passes_the_precheck() {
        let now = 1_800_000_000;
        let ok = precheck(
            &jwt(json!({"alg": "RS256", "kid": "k"}), claims(now)),
            ID,
            AUD,
            now,
        )
        .expect("passes");
        assert_eq!(ok.kid.as_deref(), Some("k"));
        let mut array = claims(now);
        array["aud"] = json!(["https://other.example", AUD[0]]);
        precheck(&jwt(json!({"alg": "EdDSA"}), array), ID, AUD, now).expect("array aud");
    }

    #[test]
    fn each_bad_claim_is_named() {
        let now = 1_800_000_000;
        let header = json!({"alg": "ES256"});
        let with = |field: &str, value: Value| {
            let mut c = claims(now);
            c[field] = value;
            precheck(&jwt(header.clone(), c), ID, AUD, now).expect_err(field)
        };
        assert_eq!(
            with("iss", json!("https://evil.example/c.json")),
            AssertionError::Subject
        );
        assert_eq!(with("sub", json!("other")), AssertionError::Subject);
        assert_eq!(
            with("aud", json!("https://auth.example/oauth/revoke/")),
            AssertionError::Audience
        );
        assert_eq!(with("aud", json!([])), AssertionError::Audience);
        assert_eq!(with("exp", json!(now - 120)), AssertionError::Expired);
        assert_eq!(with("exp", Value::Null), AssertionError::MissingExpiry);
        assert_eq!(with("exp", json!(now + 3600)), AssertionError::Lifetime);
        assert_eq!(with("exp", json!("soon")), AssertionError::Malformed);
        assert_eq!(with("iat", json!(now + 600)), AssertionError::NotYetValid);
        assert_eq!(with("nbf", json!(now + 600)), AssertionError::NotYetValid);
        assert_eq!(with("jti", json!("")), AssertionError::Jti);
        assert_eq!(with("jti", json!("x".repeat(300))), AssertionError::Jti);
        for alg in ["none", "HS256", "RS512", "ES384"] {
            let err = precheck(&jwt(json!({"alg": alg}), claims(now)), ID, AUD, now);
            assert_eq!(err.expect_err(alg), AssertionError::Algorithm);
        }
        assert_eq!(
            precheck("a.b", ID, AUD, now).expect_err("two parts"),
            AssertionError::Malformed
        );
        assert_eq!(
            claimed_client(&jwt(header, claims(now))).as_deref(),
            Some(ID)
        );
    }
}

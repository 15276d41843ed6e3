//! The JWK Sets of private_key_jwt clients, fetched from their `jwks_uri` through the same
//! guarded fetcher as documents, kept for the lifetime `Cache-Control` grants (within the
//! documents' bounds), and fetched again when an assertion names a key we do not have, at most
//! once per [`REFETCH_INTERVAL`] per URI. Nothing stale is used: a set that cannot be fetched
//! authenticates nobody.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use serde_json::Value;

use super::cache;
use super::fetch::Fetcher;

/// An unknown `kid` fetches the set again at most this often: anyone can send assertions with
/// made-up key IDs, and each must not become a request to the client's host.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// A fetch that failed is not tried again sooner than this (the error is answered instead).
pub const FAILURE_TTL: Duration = Duration::from_secs(10);
/// Sets kept at most (anyone can publish a document naming one).
const MAX_ENTRIES: usize = 1024;
/// Keys read from one set at most.
const MAX_KEYS: usize = 32;

/// Why a client's keys could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JwksError {
    #[error("its jwks_uri could not be fetched: {0}")]
    Fetch(String),
    #[error("its JWK Set is invalid: it must be a JSON object with a \"keys\" array")]
    Invalid,
}

enum Entry {
    Keys {
        keys: Arc<Vec<Jwk>>,
        fresh_until: Instant,
        fetched_at: Instant,
    },
    Failed {
        error: JwksError,
        until: Instant,
    },
}

#[derive(Default)]
pub struct JwksCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl JwksCache {
    /// The keys at `uri`: the cached set when it is fresh and holds `kid` (or no `kid` is
    /// named), else the set fetched anew (when the last fetch is old enough).
    pub async fn keys(
        &self,
        fetcher: &Fetcher,
        uri: &url::Url,
        kid: Option<&str>,
    ) -> Result<Arc<Vec<Jwk>>, JwksError> {
        let now = Instant::now();
        match self.lock().get(uri.as_str()) {
            Some(Entry::Keys {
                keys,
                fresh_until,
                fetched_at,
            }) if *fresh_until > now => {
                let known = kid
                    .is_none_or(|kid| keys.iter().any(|k| k.common.key_id.as_deref() == Some(kid)));
                if known || now.duration_since(*fetched_at) < REFETCH_INTERVAL {
                    return Ok(keys.clone());
                }
            }
            Some(Entry::Failed { error, until }) if *until > now => return Err(error.clone()),
            _ => {}
        }
        let fetched = fetcher.fetch_url(uri).await;
        let (entry, result) = match fetched {
            Ok(fetched) => match parse_set(&fetched.body) {
                Ok(keys) => {
                    let keys = Arc::new(keys);
                    let lifetime = cache::lifetime(fetched.cache_control.as_deref());
                    let fresh_until = now + Duration::from_secs(lifetime.unsigned_abs());
                    (
                        Entry::Keys {
                            keys: keys.clone(),
                            fresh_until,
                            fetched_at: now,
                        },
                        Ok(keys),
                    )
                }
                Err(e) => failure(e, now),
            },
            Err(e) => {
                tracing::warn!(jwks_uri = %uri, error = %e, "client JWK Set fetch failed");
                failure(JwksError::Fetch(e.to_string()), now)
            }
        };
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(uri.as_str()) {
            entries.retain(|_, e| match e {
                Entry::Keys { fresh_until, .. } => *fresh_until > now,
                Entry::Failed { until, .. } => *until > now,
            });
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(uri.to_string(), entry);
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn failure(error: JwksError, now: Instant) -> (Entry, Result<Arc<Vec<Jwk>>, JwksError>) {
    (
        Entry::Failed {
            error: error.clone(),
            until: now + FAILURE_TTL,
        },
        Err(error),
    )
}

/// Largest JWK Set held in the database for a client.
const MAX_INLINE_SET: usize = 16 * 1024;

/// Why a client's keys, as registered by an operator or a registration, were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    #[error("give either a jwks_uri or a jwks, not both")]
    Both,
    #[error("jwks_uri must be an https URL (plain http only to 127.0.0.1, for tests)")]
    JwksUri,
    #[error(
        "jwks must be a JWK Set ({{\"keys\": [...]}}) of at most 16 KiB with at least one public RS256, PS256, ES256 or EdDSA key, and no private key material"
    )]
    Jwks,
}

/// Checks the keys a private_key_jwt client registers: a `jwks_uri` (fetched later, through the
/// guarded fetcher) or a JWK Set to keep.
pub fn check_keys(
    jwks_uri: Option<&str>,
    jwks: Option<&Value>,
) -> Result<Option<crate::store::ClientKeys>, KeysError> {
    use crate::store::ClientKeys;
    match (jwks_uri, jwks) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(KeysError::Both),
        (Some(raw), None) => {
            let url = url::Url::parse(raw).map_err(|_| KeysError::JwksUri)?;
            let loopback_test = url.scheme() == "http"
                && url.host() == Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST));
            if raw.len() > 2000
                || !(url.scheme() == "https" || loopback_test)
                || !url.username().is_empty()
                || url.password().is_some()
                || url.fragment().is_some()
            {
                return Err(KeysError::JwksUri);
            }
            Ok(Some(ClientKeys::JwksUri(url.to_string())))
        }
        (None, Some(set)) => {
            let text = set.to_string();
            let private = set
                .get("keys")
                .and_then(Value::as_array)
                .is_some_and(|keys| {
                    keys.iter().any(|k| {
                        ["d", "p", "q", "dp", "dq", "qi", "k"]
                            .iter()
                            .any(|f| k.get(f).is_some())
                    })
                });
            if text.len() > MAX_INLINE_SET || private {
                return Err(KeysError::Jwks);
            }
            let usable = parse_set(text.as_bytes()).map_err(|_| KeysError::Jwks)?;
            if usable.is_empty() {
                return Err(KeysError::Jwks);
            }
            Ok(Some(ClientKeys::Jwks(text)))
        }
    }
}

/// A JWK Set (RFC 7517 §5). Keys of a type we cannot read are skipped rather than spoiling the
/// set (§5: "implementations SHOULD ignore JWKs ... they do not understand").
pub fn parse_set(body: &[u8]) -> Result<Vec<Jwk>, JwksError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| JwksError::Invalid)?;
    let Some(Value::Array(items)) = value.get("keys") else {
        return Err(JwksError::Invalid);
    };
    Ok(items
        .iter()
        .take(MAX_KEYS)
        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
        .filter(|k| jsonwebtoken::DecodingKey::from_jwk(k).is_ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_keys_are_checked() {
        use serde_json::json;
        let key = json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        assert!(matches!(
            check_keys(None, Some(&json!({ "keys": [key] }))),
            Ok(Some(crate::store::ClientKeys::Jwks(_)))
        ));
        let mut private = key.clone();
        private["d"] = json!("secret");
        assert_eq!(
            check_keys(None, Some(&json!({ "keys": [private] }))),
            Err(KeysError::Jwks)
        );
        assert_eq!(
            check_keys(None, Some(&json!({ "keys": [] }))),
            Err(KeysError::Jwks)
        );
        assert_eq!(
            check_keys(
                None,
                Some(&json!({ "keys": [{"kty": "oct", "k": "c2VjcmV0"}] }))
            ),
            Err(KeysError::Jwks)
        );
        assert_eq!(
            check_keys(Some("https://a.example/jwks"), Some(&json!({}))),
            Err(KeysError::Both)
        );
        assert!(check_keys(Some("https://a.example/jwks.json"), None).is_ok());
        for bad in [
            "http://a.example/jwks",
            "https://u:p@a.example/j",
            "not a url",
            "https://a.example/j#x",
        ] {
            assert_eq!(
                check_keys(Some(bad), None),
                Err(KeysError::JwksUri),
                "{bad}"
            );
        }
        assert_eq!(check_keys(None, None), Ok(None));
    }

    #[test]
    fn unreadable_keys_are_skipped_and_a_set_needs_keys() {
        let set = br#"{"keys": [{"kty": "unknown"}, {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "a"}]}"#;
        let keys = parse_set(set).expect("a set");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].common.key_id.as_deref(), Some("a"));
        assert!(parse_set(b"[]").is_err());
        assert!(parse_set(b"{\"keys\": 1}").is_err());
    }
}

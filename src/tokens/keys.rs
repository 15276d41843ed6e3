use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use crate::store::{Db, KeyRecord, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed")]
    Generate,
    #[error("stored key {kid} is unusable: {reason}")]
    Unusable { kid: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The key that signs, plus every public key a resource API may still need.
pub struct KeySet {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    /// Active and recently retired public keys (RFC 7517), as served at the JWKS endpoint.
    pub jwks: JwkSet,
    pub decoding: HashMap<String, DecodingKey>,
}

/// Shared, reloadable key set: `keys rotate` on any instance reaches the others on reload.
#[derive(Clone)]
pub struct Keys {
    current: Arc<RwLock<Arc<KeySet>>>,
}

/// A new ES256 (P-256) key pair, ready to store.
pub fn generate_es256() -> Result<KeyRecord, KeyError> {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| KeyError::Generate)?;
    let der = pkcs8.as_ref().to_vec();
    let encoding = EncodingKey::from_ec_der(&der);
    let mut jwk =
        Jwk::from_encoding_key(&encoding, Algorithm::ES256).map_err(|_| KeyError::Generate)?;
    // RFC 7638 thumbprint as key id: stable, derived from the key itself.
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| KeyError::Generate)?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let public_jwk = serde_json::to_string(&jwk).map_err(|_| KeyError::Generate)?;
    Ok(KeyRecord {
        kid,
        alg: "ES256".into(),
        private_der: der,
        public_jwk,
        created_at: crate::store::now(),
        retired_at: None,
    })
}

impl Keys {
    /// Loads the key set, generating the first key when the database has none.
    pub async fn load_or_create(db: &Db, access_token_ttl: i64) -> Result<Self, KeyError> {
        let set = Self::build(db, access_token_ttl, true).await?;
        Ok(Keys {
            current: Arc::new(RwLock::new(Arc::new(set))),
        })
    }

    /// Re-reads the keys (another instance may have rotated).
    pub async fn reload(&self, db: &Db, access_token_ttl: i64) -> Result<(), KeyError> {
        let set = Self::build(db, access_token_ttl, false).await?;
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        *guard = Arc::new(set);
        Ok(())
    }

    /// Rotates the signing key when it is older than `max_age_days` (0: never), then reloads.
    /// Returns whether a new key was introduced.
    pub async fn rotate_if_due(
        &self,
        db: &Db,
        max_age_days: i64,
        access_token_ttl: i64,
    ) -> Result<bool, KeyError> {
        if max_age_days <= 0 {
            return Ok(false);
        }
        let records = db.signing_keys().await?;
        let Some(active) = records.iter().find(|k| k.retired_at.is_none()) else {
            return Ok(false);
        };
        if crate::store::now() - active.created_at < max_age_days * 86_400 {
            return Ok(false);
        }
        let fresh = generate_es256()?;
        let rotated = db.rotate_from(&active.kid, &fresh).await?;
        if rotated {
            tracing::info!(old = %active.kid, new = %fresh.kid, "rotated the signing key on schedule");
        }
        self.reload(db, access_token_ttl).await?;
        Ok(rotated)
    }

    pub fn current(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn build(db: &Db, access_token_ttl: i64, create: bool) -> Result<KeySet, KeyError> {
        let mut records = db.signing_keys().await?;
        if !records.iter().any(|k| k.retired_at.is_none()) && create {
            let key = generate_es256()?;
            db.rotate_in_key(&key).await?;
            tracing::info!(kid = %key.kid, "generated the first signing key");
            records = db.signing_keys().await?;
        }
        let active = records
            .iter()
            .find(|k| k.retired_at.is_none())
            .ok_or_else(|| KeyError::Unusable {
                kid: "-".into(),
                reason: "no active signing key".into(),
            })?;
        let alg = parse_alg(active)?;
        let encoding = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_der(&active.private_der),
            _ => unreachable!("parse_alg admits ES256 only"),
        };
        // A retired key stays published until every token it signed has expired.
        let horizon = crate::store::now() - access_token_ttl - 300;
        let mut jwks = JwkSet { keys: Vec::new() };
        let mut decoding = HashMap::new();
        for record in records
            .iter()
            .filter(|k| k.retired_at.is_none_or(|at| at > horizon))
        {
            let jwk: Jwk =
                serde_json::from_str(&record.public_jwk).map_err(|e| KeyError::Unusable {
                    kid: record.kid.clone(),
                    reason: e.to_string(),
                })?;
            let key = DecodingKey::from_jwk(&jwk).map_err(|e| KeyError::Unusable {
                kid: record.kid.clone(),
                reason: e.to_string(),
            })?;
            decoding.insert(record.kid.clone(), key);
            jwks.keys.push(jwk);
        }
        Ok(KeySet {
            kid: active.kid.clone(),
            alg,
            encoding,
            jwks,
            decoding,
        })
    }
}

fn parse_alg(record: &KeyRecord) -> Result<Algorithm, KeyError> {
    match record.alg.as_str() {
        "ES256" => Ok(Algorithm::ES256),
        other => Err(KeyError::Unusable {
            kid: record.kid.clone(),
            reason: format!("unsupported algorithm {other}"),
        }),
    }
}

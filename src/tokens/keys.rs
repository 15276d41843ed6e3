use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;

use super::sealing::{SealError, Sealer};
use crate::domain::alg_name;
use crate::store::{Db, KeyRecord, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed")]
    Generate,
    #[error("stored key {kid} is unusable: {reason}")]
    Unusable { kid: String, reason: String },
    /// (`reason`, not `source`: the message says it already, so `{:#}` chains do not repeat it.)
    #[error("signing key {kid} cannot be read: {reason}")]
    Sealed { kid: String, reason: SealError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The algorithms this server signs with, each with one active key: ES256 signs access tokens
/// and, on request, ID tokens; RS256 is there for ID tokens because OpenID Connect requires it.
pub const SIGNING_ALGORITHMS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::RS256];

/// Why a JWT could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("no active {0} signing key")]
    NoKey(&'static str),
    #[error("the claims could not be serialised: {0}")]
    Claims(#[from] serde_json::Error),
    #[error("the signature failed")]
    Crypto,
}

/// A private key parsed once, when the key set is loaded. (jsonwebtoken's `EncodingKey` keeps
/// DER and parses it on every signature: for RSA that re-validates the key and rebuilds its
/// blinding, which cost more than the signature itself.)
enum SigningKey {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
}

/// One active private key.
pub struct Signer {
    pub kid: String,
    pub alg: Algorithm,
    key: SigningKey,
}

impl Signer {
    /// Parses a stored key (opened first when sealed): PKCS#8 for ES256, RFC 8017
    /// `RSAPrivateKey` for RS256.
    fn from_record(record: &KeyRecord, sealer: &Sealer) -> Result<Self, KeyError> {
        let unusable = |reason: &str| KeyError::Unusable {
            kid: record.kid.clone(),
            reason: reason.into(),
        };
        let alg = parse_alg(record)?;
        let der = sealer
            .open(&record.kid, &record.private_der)
            .map_err(|reason| KeyError::Sealed {
                kid: record.kid.clone(),
                reason,
            })?;
        let key = match alg {
            Algorithm::RS256 => SigningKey::Rs256(
                RsaKeyPair::from_der(&der).map_err(|_| unusable("not an RSA private key"))?,
            ),
            _ => SigningKey::Es256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                    .map_err(|_| unusable("not a P-256 private key"))?,
            ),
        };
        Ok(Signer {
            kid: record.kid.clone(),
            alg,
            key,
        })
    }

    /// A compact JWS (RFC 7515 §7.1) of `claims` under `header`, which must name this key's
    /// algorithm.
    pub fn sign<T: Serialize>(&self, header: &Header, claims: &T) -> Result<String, SignError> {
        let mut jws = URL_SAFE_NO_PAD.encode(serde_json::to_vec(header)?);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims)?, &mut jws);
        let rng = SystemRandom::new();
        let signature = match &self.key {
            SigningKey::Es256(pair) => pair
                .sign(&rng, jws.as_bytes())
                .map_err(|_| SignError::Crypto)?
                .as_ref()
                .to_vec(),
            SigningKey::Rs256(pair) => {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, jws.as_bytes(), &mut out)
                    .map_err(|_| SignError::Crypto)?;
                out
            }
        };
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut jws);
        Ok(jws)
    }

    /// A header for this key: its algorithm and `kid`.
    pub fn header(&self) -> Header {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        header
    }
}

/// The keys that sign, plus every public key a relying party may still need.
pub struct KeySet {
    signers: Vec<Signer>,
    /// Active and recently retired public keys (RFC 7517), as served at the JWKS endpoint.
    pub jwks: JwkSet,
    /// Public keys by `kid`, with the one algorithm each may verify.
    pub decoding: HashMap<String, (Algorithm, DecodingKey)>,
}

impl KeySet {
    /// The active key for `alg`; every algorithm in [`SIGNING_ALGORITHMS`] has one.
    pub fn signer(&self, alg: Algorithm) -> Option<&Signer> {
        self.signers.iter().find(|s| s.alg == alg)
    }

    /// The key that signs access tokens.
    pub fn access_signer(&self) -> Option<&Signer> {
        self.signer(Algorithm::ES256)
    }
}

/// Shared, reloadable key set: `keys rotate` on any instance reaches the others on reload.
#[derive(Clone)]
pub struct Keys {
    current: Arc<RwLock<Arc<KeySet>>>,
    /// When a token with an unknown `kid` last made us reload (Unix seconds): at most once a
    /// second, so garbage `kid`s cannot turn into a database load.
    last_kid_reload: Arc<std::sync::atomic::AtomicI64>,
    /// Opens the stored private keys and seals new ones.
    sealer: Arc<Sealer>,
}

/// A new key pair for `alg` in its stored form (sealed when a key-encryption key is given).
pub fn generate_sealed(alg: Algorithm, sealer: &Sealer) -> Result<KeyRecord, KeyError> {
    let mut record = generate(alg)?;
    record.private_der = sealer
        .seal(&record.kid, &record.private_der)
        .map_err(|reason| KeyError::Sealed {
            kid: record.kid.clone(),
            reason,
        })?;
    Ok(record)
}

/// A new key pair for `alg`, ready to store.
pub fn generate(alg: Algorithm) -> Result<KeyRecord, KeyError> {
    let (der, encoding) = match alg {
        Algorithm::ES256 => {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| KeyError::Generate)?;
            let der = pkcs8.as_ref().to_vec();
            let encoding = EncodingKey::from_ec_der(&der);
            (der, encoding)
        }
        Algorithm::RS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
            let pkcs8: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| KeyError::Generate)?;
            // The RSA signer takes the bare RFC 8017 key, so that is what is stored.
            let der = pkcs1_from_pkcs8(pkcs8.as_ref()).ok_or(KeyError::Generate)?;
            let encoding = EncodingKey::from_rsa_der(&der);
            (der, encoding)
        }
        _ => return Err(KeyError::Generate),
    };
    let mut jwk = Jwk::from_encoding_key(&encoding, alg).map_err(|_| KeyError::Generate)?;
    // RFC 7638 thumbprint as key id: stable, derived from the key itself.
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| KeyError::Generate)?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let public_jwk = serde_json::to_string(&jwk).map_err(|_| KeyError::Generate)?;
    Ok(KeyRecord {
        kid,
        alg: alg_name(alg).into(),
        private_der: der,
        public_jwk,
        created_at: crate::store::now(),
        retired_at: None,
    })
}

/// A new ES256 (P-256) key pair, ready to store.
pub fn generate_es256() -> Result<KeyRecord, KeyError> {
    generate(Algorithm::ES256)
}

/// The RSAPrivateKey inside a PKCS#8 PrivateKeyInfo (RFC 5208): SEQUENCE { INTEGER version,
/// SEQUENCE algorithm, OCTET STRING privateKey, ... }.
fn pkcs1_from_pkcs8(der: &[u8]) -> Option<Vec<u8>> {
    /// Splits one DER element off `input`: (tag, contents, rest).
    fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }
    let (0x30, info, _) = element(der)? else {
        return None;
    };
    let (0x02, _version, rest) = element(info)? else {
        return None;
    };
    let (0x30, _algorithm, rest) = element(rest)? else {
        return None;
    };
    let (0x04, key, _) = element(rest)? else {
        return None;
    };
    Some(key.to_vec())
}

impl Keys {
    /// Loads the key set, generating the first key when the database has none. Stored keys
    /// not sealed with the current key-encryption key (plain ones, or sealed with the previous
    /// key) are sealed with it first; a sealed key that no given key opens stops the start.
    pub async fn load_or_create(
        db: &Db,
        access_token_ttl: i64,
        sealer: Sealer,
    ) -> Result<Self, KeyError> {
        reseal(db, &sealer).await?;
        let set = Self::build(db, access_token_ttl, true, &sealer).await?;
        if !sealer.enabled() {
            tracing::warn!(
                "signing keys are stored unencrypted: set GPTAUTH_KEY_ENCRYPTION_KEY to encrypt them"
            );
        }
        Ok(Keys {
            current: Arc::new(RwLock::new(Arc::new(set))),
            last_kid_reload: Arc::new(std::sync::atomic::AtomicI64::new(0)),
            sealer: Arc::new(sealer),
        })
    }

    /// Re-reads the keys (another instance may have rotated).
    pub async fn reload(&self, db: &Db, access_token_ttl: i64) -> Result<(), KeyError> {
        let set = Self::build(db, access_token_ttl, false, &self.sealer).await?;
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        *guard = Arc::new(set);
        Ok(())
    }

    /// Rotates each algorithm's signing key when it is older than `max_age_days` (0: never),
    /// then reloads. Returns how many keys this instance rotated.
    pub async fn rotate_if_due(
        &self,
        db: &Db,
        max_age_days: i64,
        access_token_ttl: i64,
    ) -> Result<usize, KeyError> {
        if max_age_days <= 0 {
            return Ok(0);
        }
        let records = db.signing_keys().await?;
        let now = db.now();
        let mut rotated = 0;
        for active in records
            .iter()
            .filter(|k| k.retired_at.is_none() && now - k.created_at >= max_age_days * 86_400)
        {
            let fresh = generate_sealed(parse_alg(active)?, &self.sealer)?;
            if db.rotate_from(&active.kid, &fresh).await? {
                tracing::info!(old = %active.kid, new = %fresh.kid, alg = %fresh.alg, "rotated a signing key on schedule");
                rotated += 1;
            }
        }
        if rotated > 0 {
            self.reload(db, access_token_ttl).await?;
        }
        Ok(rotated)
    }

    /// The key set for verifying `token`: when its `kid` is not known here (another instance
    /// rotated moments ago), the keys are reloaded first, at most once a second.
    pub async fn for_token(&self, token: &str, db: &Db, access_token_ttl: i64) -> Arc<KeySet> {
        use std::sync::atomic::Ordering;
        let current = self.current();
        let Some(kid) = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid) else {
            return current;
        };
        if current.decoding.contains_key(&kid) {
            return current;
        }
        let now = db.now();
        let last = self.last_kid_reload.load(Ordering::Relaxed);
        if now > last
            && self
                .last_kid_reload
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            if let Err(e) = self.reload(db, access_token_ttl).await {
                tracing::warn!(error = %e, "reloading keys for an unknown kid failed");
            }
            return self.current();
        }
        current
    }

    pub fn current(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn build(
        db: &Db,
        access_token_ttl: i64,
        create: bool,
        sealer: &Sealer,
    ) -> Result<KeySet, KeyError> {
        let mut records = db.signing_keys().await?;
        if create {
            let mut created = false;
            for alg in SIGNING_ALGORITHMS {
                let name = alg_name(alg);
                if !records
                    .iter()
                    .any(|k| k.retired_at.is_none() && k.alg == name)
                {
                    let key = generate_sealed(alg, sealer)?;
                    // Conditional: of several instances starting at once, one key wins.
                    if db.add_first_key(&key).await? {
                        tracing::info!(kid = %key.kid, alg = name, "generated a signing key");
                    }
                    created = true;
                }
            }
            if created {
                records = db.signing_keys().await?;
            }
        }
        let mut signers = Vec::new();
        for alg in SIGNING_ALGORITHMS {
            // Newest first: should two be active, the newest signs.
            let active = records
                .iter()
                .find(|k| k.retired_at.is_none() && k.alg == alg_name(alg))
                .ok_or_else(|| KeyError::Unusable {
                    kid: "-".into(),
                    reason: format!("no active {} signing key", alg_name(alg)),
                })?;
            signers.push(Signer::from_record(active, sealer)?);
        }
        // A retired key stays published until every token it signed has expired.
        let horizon = db.now() - access_token_ttl - 300;
        let mut jwks = JwkSet { keys: Vec::new() };
        let mut decoding = HashMap::new();
        for record in records
            .iter()
            .filter(|k| k.retired_at.is_none_or(|at| at > horizon))
        {
            let alg = parse_alg(record)?;
            let unusable = |reason: String| KeyError::Unusable {
                kid: record.kid.clone(),
                reason,
            };
            let jwk: Jwk =
                serde_json::from_str(&record.public_jwk).map_err(|e| unusable(e.to_string()))?;
            let key = DecodingKey::from_jwk(&jwk).map_err(|e| unusable(e.to_string()))?;
            decoding.insert(record.kid.clone(), (alg, key));
            jwks.keys.push(jwk);
        }
        Ok(KeySet {
            signers,
            jwks,
            decoding,
        })
    }
}

/// Fails unless `sealer` opens every stored key: a command that adds a key checks this first, so
/// that one run without the key-encryption key cannot add a plain key beside sealed ones.
pub async fn check_keys_open(db: &Db, sealer: &Sealer) -> Result<(), KeyError> {
    for record in db.signing_keys().await? {
        sealer
            .open(&record.kid, &record.private_der)
            .map_err(|reason| KeyError::Sealed {
                kid: record.kid.clone(),
                reason,
            })?;
    }
    Ok(())
}

/// Seals every stored key that is not sealed with the current key-encryption key (see
/// `load_or_create`). Conditional on the stored bytes: of instances starting at once, one
/// writes each key, and none overwrites another's newer form.
async fn reseal(db: &Db, sealer: &Sealer) -> Result<(), KeyError> {
    for record in db.signing_keys().await? {
        if !sealer.needs_resealing(&record.private_der) {
            continue;
        }
        let sealed_error = |reason| KeyError::Sealed {
            kid: record.kid.clone(),
            reason,
        };
        let der = sealer
            .open(&record.kid, &record.private_der)
            .map_err(sealed_error)?;
        let sealed = sealer.seal(&record.kid, &der).map_err(sealed_error)?;
        if db
            .replace_private_key(&record.kid, &record.private_der, &sealed)
            .await?
        {
            tracing::info!(kid = %record.kid, "encrypted a signing key with the current key-encryption key");
        }
    }
    Ok(())
}

fn parse_alg(record: &KeyRecord) -> Result<Algorithm, KeyError> {
    match record.alg.as_str() {
        "ES256" => Ok(Algorithm::ES256),
        "RS256" => Ok(Algorithm::RS256),
        other => Err(KeyError::Unusable {
            kid: record.kid.clone(),
            reason: format!("unsupported algorithm {other}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_verify() {
        for alg in SIGNING_ALGORITHMS {
            let record = generate(alg).expect("a key");
            assert_eq!(record.alg, alg_name(alg));
            let signer = Signer::from_record(&record, &Sealer::default()).expect("parses");
            let token = signer
                .sign(
                    &signer.header(),
                    &serde_json::json!({"sub": "x", "exp": crate::store::now() + 60}),
                )
                .expect("signed");
            let jwk: Jwk = serde_json::from_str(&record.public_jwk).expect("jwk");
            assert_eq!(jwk.common.key_id.as_deref(), Some(record.kid.as_str()));
            let key = DecodingKey::from_jwk(&jwk).expect("public key");
            let mut validation = jsonwebtoken::Validation::new(alg);
            validation.set_required_spec_claims(&["exp"]);
            jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).expect("verifies");
        }
    }

    #[test]
    fn pkcs8_unwrapping_refuses_garbage() {
        assert!(pkcs1_from_pkcs8(&[]).is_none());
        assert!(pkcs1_from_pkcs8(&[0x30, 0x82, 0xff]).is_none());
        assert!(pkcs1_from_pkcs8(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_none());
    }
}

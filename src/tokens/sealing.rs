//! Private signing keys encrypted at rest (AES-256-GCM) with a key-encryption key the operator
//! supplies (`GPTAUTH_KEY_ENCRYPTION_KEY` or `…_FILE`), so that a leaked backup or a read-only
//! SQL injection yields no key that could mint tokens. As Ory Hydra's system secret: any secret
//! of at least 32 characters; the AES key is derived from it. Rotation: give every instance the
//! new secret as `GPTAUTH_KEY_ENCRYPTION_KEY` and the old one as
//! `GPTAUTH_KEY_ENCRYPTION_KEY_PREVIOUS`; each start re-encrypts what the old one sealed.
//!
//! Sealed form: `MAGIC`, the 8-byte id of the key-encryption key, a 12-byte random nonce, then
//! the ciphertext and tag. The row's `kid` is the additional authenticated data, so a sealed key
//! moved to another row does not open. A DER key starts with 0x30 and never with `MAGIC`.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

const MAGIC: &[u8] = b"gptauth-sealed-v1:";
const ID_LEN: usize = 8;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("it is encrypted, and GPTAUTH_KEY_ENCRYPTION_KEY is not set")]
    NoKey,
    #[error(
        "it is encrypted with a key-encryption key this server was not given (set the one it was sealed with as GPTAUTH_KEY_ENCRYPTION_KEY or GPTAUTH_KEY_ENCRYPTION_KEY_PREVIOUS)"
    )]
    UnknownKey,
    #[error("it does not decrypt (damaged, or moved from another key's row)")]
    Damaged,
    #[error("encryption failed")]
    Encrypt,
}

/// One key-encryption key.
struct Kek {
    id: [u8; ID_LEN],
    key: LessSafeKey,
}

impl Kek {
    fn from_secret(secret: &str) -> Option<Self> {
        let material = Sha256::new()
            .chain_update(b"gptauth key-encryption key v1\0")
            .chain_update(secret.as_bytes())
            .finalize();
        let id_digest = Sha256::new()
            .chain_update(b"gptauth key-encryption key id v1\0")
            .chain_update(material)
            .finalize();
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&id_digest[..ID_LEN]);
        let key = UnboundKey::new(&AES_256_GCM, &material).ok()?;
        Some(Kek {
            id,
            key: LessSafeKey::new(key),
        })
    }
}

/// The key-encryption keys this server was given: the current one seals, any of them opens.
#[derive(Default)]
pub struct Sealer {
    current: Option<Kek>,
    previous: Option<Kek>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("current", &self.current.is_some())
            .field("previous", &self.previous.is_some())
            .finish()
    }
}

/// Whether a stored private key is sealed.
pub fn is_sealed(stored: &[u8]) -> bool {
    stored.starts_with(MAGIC)
}

impl Sealer {
    /// From the operator's secrets (already checked for length by the configuration).
    pub fn new(current: Option<&str>, previous: Option<&str>) -> Self {
        Sealer {
            current: current.and_then(Kek::from_secret),
            previous: previous.and_then(Kek::from_secret),
        }
    }

    /// Whether keys are sealed when written.
    pub fn enabled(&self) -> bool {
        self.current.is_some()
    }

    /// The stored form of a private key: sealed with the current key-encryption key, or as it
    /// is when none was given.
    pub fn seal(&self, kid: &str, der: &[u8]) -> Result<Vec<u8>, SealError> {
        let Some(kek) = &self.current else {
            return Ok(der.to_vec());
        };
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let mut in_out = der.to_vec();
        kek.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| SealError::Encrypt)?;
        let mut out = Vec::with_capacity(MAGIC.len() + ID_LEN + NONCE_LEN + in_out.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&kek.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&in_out);
        Ok(out)
    }

    /// The private key's DER from its stored form.
    pub fn open(&self, kid: &str, stored: &[u8]) -> Result<Vec<u8>, SealError> {
        let Some(sealed) = stored.strip_prefix(MAGIC) else {
            return Ok(stored.to_vec());
        };
        if self.current.is_none() && self.previous.is_none() {
            return Err(SealError::NoKey);
        }
        if sealed.len() < ID_LEN + NONCE_LEN {
            return Err(SealError::Damaged);
        }
        let (id, rest) = sealed.split_at(ID_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let kek = [&self.current, &self.previous]
            .into_iter()
            .flatten()
            .find(|k| k.id == id)
            .ok_or(SealError::UnknownKey)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Damaged)?;
        let mut in_out = ciphertext.to_vec();
        let plain = kek
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut in_out)
            .map_err(|_| SealError::Damaged)?;
        Ok(plain.to_vec())
    }

    /// Whether a stored key should be written again: sealed under another key than the current
    /// one, or plain while a current one is given.
    pub fn needs_resealing(&self, stored: &[u8]) -> bool {
        match &self.current {
            None => false,
            Some(kek) => match stored.strip_prefix(MAGIC) {
                Some(sealed) => sealed.get(..ID_LEN) != Some(&kek.id[..]),
                None => true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "an operator secret of at least thirty-two characters";
    const OTHER: &str = "another operator secret, also thirty-two characters long";

    #[test]
    fn a_sealed_key_opens_only_with_its_secret_and_its_kid() {
        let der = b"\x30\x82 a private key".to_vec();
        let sealer = Sealer::new(Some(SECRET), None);
        let sealed = sealer.seal("kid-1", &der).expect("seal");
        assert!(is_sealed(&sealed));
        assert!(!sealed.windows(der.len()).any(|w| w == der), "no plaintext");
        assert_eq!(sealer.open("kid-1", &sealed), Ok(der.clone()));
        assert_eq!(sealer.open("kid-2", &sealed), Err(SealError::Damaged));
        assert_eq!(
            Sealer::new(Some(OTHER), None).open("kid-1", &sealed),
            Err(SealError::UnknownKey)
        );
        assert_eq!(
            Sealer::default().open("kid-1", &sealed),
            Err(SealError::NoKey)
        );
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(sealer.open("kid-1", &tampered), Err(SealError::Damaged));
    }

    #[test]
    fn rotation_opens_with_the_previous_secret_and_asks_for_resealing() {
        let der = b"\x30 key".to_vec();
        let old = Sealer::new(Some(OTHER), None)
            .seal("k", &der)
            .expect("seal");
        let rotated = Sealer::new(Some(SECRET), Some(OTHER));
        assert_eq!(rotated.open("k", &old), Ok(der.clone()));
        assert!(rotated.needs_resealing(&old));
        let resealed = rotated.seal("k", &der).expect("seal");
        assert!(!rotated.needs_resealing(&resealed));
        assert!(rotated.needs_resealing(&der), "plain keys get sealed");
        assert!(!Sealer::default().needs_resealing(&der));
        assert_eq!(
            Sealer::default().seal("k", &der),
            Ok(der.clone()),
            "no secret: as is"
        );
    }
}

//! argon2id password hashing on the blocking pool, with the number of concurrent hashes capped
//! so that a burst of logins cannot starve the server of memory or CPU.

use std::sync::{Arc, OnceLock};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;

use crate::domain::Password;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed")]
    Hash,
    #[error("password hashing was interrupted")]
    Join,
}

/// Hashes and verifies passwords with argon2id (argon2's defaults are OWASP's: m=19 MiB, t=2, p=1).
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        PasswordHasher {
            permits: Arc::new(Semaphore::new(cores.max(1) * 2)),
        }
    }
}

impl PasswordHasher {
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let password = password.clone();
        let _permit = self.permits.acquire().await.map_err(|_| HashError::Join)?;
        tokio::task::spawn_blocking(move || hash_blocking(password.expose()))
            .await
            .map_err(|_| HashError::Join)?
    }

    /// Verifies against the stored hash, or against a dummy hash when there is no account, so
    /// that the answer takes about the same time whether or not the e-mail exists.
    pub async fn verify(&self, stored: Option<String>, password: &Password) -> bool {
        let password = password.clone();
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let result = tokio::task::spawn_blocking(move || {
            let (hash, real) = match stored {
                Some(h) => (h, true),
                None => (dummy_hash().to_string(), false),
            };
            verify_blocking(&hash, password.expose()) && real
        })
        .await;
        result.unwrap_or(false)
    }
}

/// Synchronous hashing, for the CLI.
pub fn hash_blocking(password: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| HashError::Hash)
}

fn verify_blocking(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_blocking("gptauth dummy password, never matches").unwrap_or_else(|_| {
            // A well-formed hash with the same parameters, should hashing ever fail here.
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8Sc0rDbfbp0Fg8cGHoXZuLJ/mQaxo8nIuYSKzPmHjLk".into()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = PasswordHasher::default();
        let pw = Password::parse("correct horse battery").unwrap();
        let hash = hasher.hash(&pw).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(hasher.verify(Some(hash.clone()), &pw).await);
        let wrong = Password::parse("wrong horse battery").unwrap();
        assert!(!hasher.verify(Some(hash), &wrong).await);
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let hasher = PasswordHasher::default();
        let pw = Password::parse("gptauth dummy password, never matches").unwrap();
        assert!(!hasher.verify(None, &pw).await);
    }
}

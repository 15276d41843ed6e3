//! argon2id password hashing on a few dedicated threads (one per core), so that a burst of
//! logins cannot starve the server of memory or CPU:
//! - they run at the lowest scheduling priority (`SCHED_IDLE`): while tokens are being
//!   refreshed on the same cores, the token endpoint comes first and sign-ins wait;
//! - each thread keeps its 19 MiB of argon2 memory from one verification to the next, instead of
//!   allocating and faulting in fresh pages every time (which cost more than a tenth of the
//!   hash itself on a VM), and peak memory stays one block per thread.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::PasswordHasher as _;
use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{Semaphore, oneshot};

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
    jobs: mpsc::Sender<Job>,
    /// One per thread: a request waits here (without blocking a thread) for its turn.
    permits: Arc<Semaphore>,
}

enum Job {
    Hash {
        password: Password,
        reply: oneshot::Sender<Result<String, HashError>>,
    },
    Verify {
        /// `None`: no such account; a dummy hash is verified instead (here, since computing it
        /// the first time is a hash itself and must not block a request thread).
        stored: Option<String>,
        password: Password,
        reply: oneshot::Sender<bool>,
    },
}

impl Default for PasswordHasher {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(&queue));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "starting a password hashing thread failed");
            }
        }
        PasswordHasher {
            jobs,
            permits: Arc::new(Semaphore::new(threads)),
        }
    }
}

/// A hashing thread: takes jobs until every `PasswordHasher` is gone.
fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = match queue.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            Ok(Job::Hash { password, reply }) => {
                let _ = reply.send(hash_blocking(password.expose()));
            }
            Ok(Job::Verify {
                stored,
                password,
                reply,
            }) => {
                let verified = match stored {
                    Some(hash) => verify_with(&mut memory, &hash, password.expose()),
                    None => {
                        // The same work as a real check, and never a match.
                        verify_with(&mut memory, dummy_hash(), password.expose());
                        false
                    }
                };
                let _ = reply.send(verified);
            }
            Err(_) => return,
        }
    }
}

/// The calling thread runs only when no other thread of the machine wants its core
/// (`SCHED_IDLE`; on Linux the policy is per thread): a token request waking up preempts a hash
/// at once, where a mere nice value still let it wait for a time slice.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid sched_param for the call's duration; pid 0 is this thread.
        let done = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        if done != 0 {
            tracing::warn!("could not lower the priority of a password hashing thread");
        }
    }
}

impl PasswordHasher {
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let _permit = self.permits.acquire().await.map_err(|_| HashError::Join)?;
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::Hash {
                password: password.clone(),
                reply,
            })
            .map_err(|_| HashError::Join)?;
        answer.await.map_err(|_| HashError::Join)?
    }

    /// Verifies against the stored hash, or against a dummy hash when there is no account, so
    /// that the answer takes about the same time whether or not the e-mail exists.
    pub async fn verify(&self, stored: Option<String>, password: &Password) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let (reply, answer) = oneshot::channel();
        let sent = self.jobs.send(Job::Verify {
            stored,
            password: password.clone(),
            reply,
        });
        sent.is_ok() && answer.await.unwrap_or(false)
    }
}

/// Verifies `password` against a PHC string, in `memory` (grown to the hash's cost as needed,
/// and kept for the next call).
fn verify_with(memory: &mut Vec<Block>, stored: &str, password: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::new(hash.algorithm.as_str()) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        &mut out,
        &mut memory[..blocks],
    );
    // `Output`'s equality is constant-time.
    hashed.is_ok() && Output::new(&out).is_ok_and(|computed| &computed == expected)
}

/// Synchronous hashing, for the CLI.
pub fn hash_blocking(password: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| HashError::Hash)
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

    #[test]
    fn reused_memory_verifies_like_the_crate() {
        use argon2::password_hash::PasswordVerifier as _;
        let mut memory = Vec::new();
        let stored = hash_blocking("correct horse battery").unwrap();
        let parsed = PasswordHash::new(&stored).unwrap();
        for (password, expected) in [
            ("correct horse battery", true),
            ("wrong horse battery", false),
            ("correct horse battery", true),
        ] {
            assert_eq!(verify_with(&mut memory, &stored, password), expected);
            assert_eq!(
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok(),
                expected
            );
        }
        // Other parameters (smaller memory, argon2i) and garbage.
        let other = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(1024, 3, 1, Some(32)).unwrap(),
        )
        .hash_password(b"pw-1234567")
        .unwrap()
        .to_string();
        assert!(verify_with(&mut memory, &other, "pw-1234567"));
        assert!(!verify_with(&mut memory, &other, "pw-1234568"));
        assert!(!verify_with(&mut memory, "$argon2id$v=19$garbage", "pw"));
        assert!(!verify_with(&mut memory, "", "pw"));
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let hasher = PasswordHasher::default();
        let pw = Password::parse("gptauth dummy password, never matches").unwrap();
        assert!(!hasher.verify(None, &pw).await);
    }
}

//! Password hashing: argon2id with the crate's defaults (the OWASP recommendation:
//! 19 MiB of memory, 2 passes), on the blocking pool.
//!
//! At most one hash per core runs at a time. Each takes tens of milliseconds of CPU
//! and 19 MiB of memory, so without the bound a burst of logins would start hundreds
//! of blocking threads and gigabytes of allocations at once; with it, a burst queues.

use std::sync::OnceLock;

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use tokio::sync::Semaphore;

use super::{ChatError, input::Password};

/// Hashes and verifies passwords, a bounded number at a time.
pub struct Passwords {
    running: Semaphore,
}

impl Passwords {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            running: Semaphore::new(cores),
        }
    }

    /// A new argon2id PHC string for `password`.
    pub async fn hash(&self, password: Password) -> Result<String, ChatError> {
        self.blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_str().as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| ChatError::Internal(anyhow::anyhow!("hashing a password: {e}")))
        })
        .await?
    }

    /// Whether `password` matches `stored`. Without a stored hash (no such user, or
    /// one who cannot log in here) it verifies against a dummy hash, so the answer
    /// takes as long as for a wrong password and does not tell which it was.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, ChatError> {
        static DUMMY: OnceLock<String> = OnceLock::new();
        self.blocking(move || {
            let stored = stored.unwrap_or_else(|| {
                DUMMY
                    .get_or_init(|| {
                        let salt = SaltString::generate(&mut OsRng);
                        Argon2::default()
                            .hash_password(b"no such user", &salt)
                            .map(|h| h.to_string())
                            .unwrap_or_default()
                    })
                    .clone()
            });
            PasswordHash::new(&stored).is_ok_and(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ChatError> {
        let _permit = self
            .running
            .acquire()
            .await
            .map_err(|e| ChatError::Internal(e.into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ChatError::Internal(e.into()))
    }
}

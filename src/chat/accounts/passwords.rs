//! Password hashing: argon2id with the crate's defaults (the OWASP recommendation:
//! 19 MiB of memory, 2 passes), on a few threads of its own.
//!
//! Each hash takes tens of milliseconds of CPU and 19 MiB of memory. On tokio's
//! blocking pool a burst of logins would start a thread per request, and every
//! thread's malloc arena would keep its 19 MiB afterwards (measured: 190 MB of
//! resident memory after ten registrations). One thread per core, fed by a queue,
//! bounds both: a burst waits its turn, and each thread reuses one working memory.
//!
//! The queue has two lanes, each with a bound. Logins (verifying) go before sign-ups
//! (hashing a new password), so a flood of registrations cannot make an existing
//! user wait: 1,000 sign-ups at once used to put a correct login 12.4 s behind them.
//! A lane that is full refuses at once (429 with `Retry-After`) rather than growing
//! without end.

use std::{
    cell::RefCell,
    collections::VecDeque,
    sync::{Arc, Condvar, Mutex, OnceLock},
};

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::{self, Output, ParamsString, Salt, SaltString, rand_core::OsRng},
};

use crate::chat::{ChatError, input::Password};

/// Jobs waiting in each lane per hashing thread before more are refused: a login
/// waits for at most this many verifications ahead of it on its thread.
const WAITING_PER_THREAD: usize = 8;

/// Hashes and verifies passwords on its own threads.
pub struct Passwords {
    queue: Arc<Queue>,
    /// The most jobs waiting in one lane.
    bound: usize,
}

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Queue {
    lanes: Mutex<Lanes>,
    ready: Condvar,
}

#[derive(Default)]
struct Lanes {
    verify: VecDeque<Job>,
    hash: VecDeque<Job>,
    closed: bool,
}

#[derive(Clone, Copy)]
enum Lane {
    Verify,
    Hash,
}

impl Passwords {
    pub fn new() -> Self {
        let queue = Arc::new(Queue::default());
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        for n in 0..cores {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("gadka-argon2-{n}"))
                .spawn(move || {
                    // Ends when the `Passwords` is dropped with the `Chat`.
                    while let Some(job) = queue.next_job() {
                        job();
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Self {
            queue,
            bound: cores * WAITING_PER_THREAD,
        }
    }

    /// A new argon2id PHC string for `password`.
    pub async fn hash(&self, password: Password) -> Result<String, ChatError> {
        self.blocking(Lane::Hash, move || {
            let salt = SaltString::generate(&mut OsRng);
            phc_hash(password.as_str().as_bytes(), &salt)
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
        self.blocking(Lane::Verify, move || {
            let stored = stored.unwrap_or_else(|| {
                DUMMY
                    .get_or_init(|| {
                        phc_hash(b"no such user", &SaltString::generate(&mut OsRng))
                            .unwrap_or_default()
                    })
                    .clone()
            });
            phc_verify(password.as_bytes(), &stored)
        })
        .await
    }

    /// Runs `work` on a hashing thread and waits for its result; refused at once when
    /// its lane is full.
    async fn blocking<T: Send + 'static>(
        &self,
        lane: Lane,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ChatError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        {
            let mut lanes = self.queue.lanes.lock().unwrap_or_else(|e| e.into_inner());
            let waiting = match lane {
                Lane::Verify => &mut lanes.verify,
                Lane::Hash => &mut lanes.hash,
            };
            if waiting.len() >= self.bound {
                metrics::counter!("gadka_password_jobs_refused_total").increment(1);
                return Err(ChatError::Busy);
            }
            waiting.push_back(job);
        }
        self.queue.ready.notify_one();
        result
            .await
            .map_err(|_| ChatError::Internal(anyhow::anyhow!("a password hashing thread stopped")))
    }
}

/// A new argon2id PHC string for `password`, on the calling thread (which it blocks
/// for tens of milliseconds): for a one-off outside the server, such as `gadka admin
/// user reset-password`, where a pool of hashing threads would be for nothing.
pub(crate) fn hash_now(password: &Password) -> Result<String, ChatError> {
    let salt = SaltString::generate(&mut OsRng);
    phc_hash(password.as_str().as_bytes(), &salt)
        .map_err(|e| ChatError::Internal(anyhow::anyhow!("hashing a password: {e}")))
}

impl Drop for Passwords {
    fn drop(&mut self) {
        self.queue
            .lanes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .closed = true;
        self.queue.ready.notify_all();
    }
}

impl Queue {
    /// The next job, logins first; `None` once closed and empty.
    fn next_job(&self) -> Option<Job> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = lanes.verify.pop_front().or_else(|| lanes.hash.pop_front()) {
                return Some(job);
            }
            if lanes.closed {
                return None;
            }
            lanes = self.ready.wait(lanes).unwrap_or_else(|e| e.into_inner());
        }
    }
}

thread_local! {
    /// The working memory of the hashing thread, reused by every hash it computes
    /// (rather than 19 MiB allocated and freed each time).
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// The argon2 output for `password` and `salt` with `argon2`'s parameters.
fn output(argon2: &Argon2<'_>, password: &[u8], salt: Salt<'_>) -> password_hash::Result<Output> {
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes)?;
    let params = argon2.params();
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    MEMORY.with_borrow_mut(|memory| {
        let blocks = params.block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        Output::init_with(len, |out| {
            Ok(
                argon2.hash_password_into_with_memory(
                    password,
                    salt,
                    out,
                    &mut memory[..blocks],
                )?,
            )
        })
    })
}

/// An argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) with the default parameters.
fn phc_hash(password: &[u8], salt: &SaltString) -> password_hash::Result<String> {
    let argon2 = Argon2::default();
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params())?,
        salt: Some(salt.as_salt()),
        hash: Some(output(&argon2, password, salt.as_salt())?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches a PHC string, with the parameters the string names.
fn phc_verify(password: &[u8], stored: &str) -> bool {
    let check = || -> password_hash::Result<bool> {
        let hash = PasswordHash::new(stored)?;
        let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
            return Ok(false);
        };
        let version = hash
            .version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let argon2 = Argon2::new(
            Algorithm::try_from(hash.algorithm)?,
            version,
            Params::try_from(&hash)?,
        );
        // `Output`'s equality is constant-time.
        Ok(output(&argon2, password, salt)? == expected)
    };
    check().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use argon2::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[test]
    fn hashes_are_standard_argon2id_phc_strings() {
        let salt = SaltString::generate(&mut OsRng);
        let ours = phc_hash(b"correct horse", &salt).unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong horse", &parsed)
                .is_err()
        );

        let theirs = Argon2::default()
            .hash_password(b"battery staple", &salt)
            .unwrap()
            .to_string();
        assert!(phc_verify(b"battery staple", &theirs));
        assert!(!phc_verify(b"battery stable", &theirs));
        assert!(!phc_verify(b"anything", "not a hash"));
    }
}

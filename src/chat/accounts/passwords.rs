//! Password hashing: argon2id with the crate's defaults (the OWASP recommendation:
//! 19 MiB of memory, 2 passes), on a few threads of its own.
//!
//! Each hash takes tens of milliseconds of CPU and 19 MiB of memory. On tokio's
//! blocking pool a burst of logins would start a thread per request, and every
//! thread's malloc arena would keep its 19 MiB afterwards (measured: 190 MB of
//! resident memory after ten registrations). A fixed set of threads fed by queues
//! bounds both: a burst waits its turn, and each thread reuses one working memory.
//!
//! Logins (verifying) and sign-ups (hashing a new password) each have their own queue
//! and threads: one per core for logins, half as many for sign-ups, which run at a
//! lower scheduling priority (nice 10, on Linux). On two cores, 1,000 sign-ups at once
//! used to put a correct login 12.4 s behind them; with one shared queue that let
//! logins go first, a login still waited 300 ms while the sign-ups' hashes held the
//! cores the login's own hash and the server's HTTP work needed. A queue that is full
//! refuses at once (429 with `Retry-After`) rather than growing without end.

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

/// Jobs waiting in a lane per thread of that lane before more are refused: a login
/// waits for at most this many verifications ahead of it on its thread.
const WAITING_PER_THREAD: usize = 8;

/// The niceness of the sign-up threads: the kernel gives them about a tenth of what a
/// thread at the usual 0 gets when both want a core, so sign-ups use what logins and
/// the server leave idle.
#[cfg(target_os = "linux")]
const SIGN_UP_NICENESS: i32 = 10;

/// Hashes and verifies passwords on its own threads.
pub struct Passwords {
    verify: Arc<Lane>,
    hash: Arc<Lane>,
}

type Job = Box<dyn FnOnce() + Send>;

/// A queue of jobs and the threads that take them.
struct Lane {
    jobs: Mutex<Jobs>,
    ready: Condvar,
    /// The most jobs waiting.
    bound: usize,
}

#[derive(Default)]
struct Jobs {
    waiting: VecDeque<Job>,
    closed: bool,
}

impl Passwords {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            verify: Lane::start("gadka-argon2-login", cores, false),
            hash: Lane::start("gadka-argon2-signup", cores.div_ceil(2), true),
        }
    }

    /// A new argon2id PHC string for `password`.
    pub async fn hash(&self, password: Password) -> Result<String, ChatError> {
        self.blocking(&self.hash, move || {
            let salt = SaltString::generate(&mut OsRng);
            phc_hash(password.as_str().as_bytes(), &salt)
                .map_err(|e| ChatError::Internal(anyhow::anyhow!("hashing a password: {e}")))
        })
        .await?
    }

    /// Refuses at once when a new password could not be hashed now: asked before a
    /// sign-up's database work, which a burst would otherwise spend for nothing.
    pub fn hash_room(&self) -> Result<(), ChatError> {
        self.hash.room()
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
        self.blocking(&self.verify, move || {
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

    /// Runs `work` on a thread of `lane` and waits for its result; refused at once
    /// when the lane is full.
    async fn blocking<T: Send + 'static>(
        &self,
        lane: &Lane,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ChatError> {
        let (done, result) = tokio::sync::oneshot::channel();
        lane.push(Box::new(move || {
            let _ = done.send(work());
        }))?;
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
        self.verify.close();
        self.hash.close();
    }
}

impl Lane {
    /// The lane with `threads` threads named `name-N` taking its jobs, at a lower
    /// priority when `low`.
    fn start(name: &str, threads: usize, low: bool) -> Arc<Self> {
        let lane = Arc::new(Self {
            jobs: Mutex::default(),
            ready: Condvar::new(),
            bound: threads * WAITING_PER_THREAD,
        });
        for n in 0..threads {
            let taker = lane.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || {
                    if low {
                        lower_priority();
                    }
                    // Ends when the `Passwords` is dropped with the `Chat`.
                    while let Some(job) = taker.next_job() {
                        job();
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        lane
    }

    fn push(&self, job: Job) -> Result<(), ChatError> {
        {
            let mut jobs = self.lock();
            Self::has_room(&jobs, self.bound)?;
            jobs.waiting.push_back(job);
        }
        self.ready.notify_one();
        Ok(())
    }

    fn room(&self) -> Result<(), ChatError> {
        Self::has_room(&self.lock(), self.bound)
    }

    fn has_room(jobs: &Jobs, bound: usize) -> Result<(), ChatError> {
        if jobs.waiting.len() >= bound {
            metrics::counter!("gadka_password_jobs_refused_total").increment(1);
            return Err(ChatError::Busy);
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Jobs> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next job; `None` once closed and empty.
    fn next_job(&self) -> Option<Job> {
        let mut jobs = self.lock();
        loop {
            if let Some(job) = jobs.waiting.pop_front() {
                return Some(job);
            }
            if jobs.closed {
                return None;
            }
            jobs = self.ready.wait(jobs).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

/// Lowers the calling thread's scheduling priority (on Linux, niceness is a thread's
/// own); elsewhere the thread keeps the usual one.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(None, SIGN_UP_NICENESS) {
        tracing::warn!(error = %e, "cannot lower the sign-up hashing threads' priority");
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

    /// The niceness of a task (`/proc/…/task/N`): the 19th field of its `stat`, the
    /// 17th after the parenthesised name.
    #[cfg(target_os = "linux")]
    fn niceness(task: &std::path::Path) -> Option<i64> {
        let stat = std::fs::read_to_string(task.join("stat")).ok()?;
        let (_, fields) = stat.rsplit_once(") ")?;
        fields.split(' ').nth(16)?.parse().ok()
    }

    /// The niceness of each of this process's threads whose name starts with `prefix`.
    #[cfg(target_os = "linux")]
    fn niceness_of_threads(prefix: &str) -> Vec<i64> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|comm| comm.starts_with(prefix))
            })
            .filter_map(|task| niceness(&task.path()))
            .collect()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn sign_ups_hash_on_threads_of_their_own_at_a_lower_priority() {
        let passwords = Passwords::new();
        // A job on each lane, so that every thread has started and set itself up.
        let hashed = passwords
            .hash(Password::parse("correct horse battery").unwrap())
            .await
            .unwrap();
        assert!(
            passwords
                .verify("correct horse battery".into(), Some(hashed))
                .await
                .unwrap()
        );
        // Thread names are cut to 15 bytes: "gadka-argon2-si", "gadka-argon2-lo".
        let sign_up = niceness_of_threads("gadka-argon2-si");
        let login = niceness_of_threads("gadka-argon2-lo");
        assert!(
            !sign_up.is_empty() && !login.is_empty(),
            "{sign_up:?} {login:?}"
        );
        // Login threads keep the niceness they were started with, the test's own;
        // sign-up threads go down to 10 (or stay lower, if the test runs lower yet).
        let own = niceness(std::path::Path::new("/proc/thread-self")).unwrap();
        assert!(
            login.iter().all(|n| *n == own),
            "login threads {login:?}, test {own}"
        );
        let expected = own.max(i64::from(SIGN_UP_NICENESS));
        assert!(
            sign_up.iter().all(|n| *n == expected),
            "sign-up threads {sign_up:?}, expected {expected}"
        );
    }
}

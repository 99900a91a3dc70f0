//! The domain: every rule of gadka in one place.
//!
//! Who may see what, how a conversation is opened, how a message is stored, what
//! counts as unread and what a read marker means are decided here and only here.
//! The transports (`api/` over HTTP, `ws/` over the socket) parse their protocol,
//! call a method of [`Chat`], and render its answer; none of them decides a rule.
//! After a change is committed, `Chat` publishes its [`events::Event`] through the
//! hub, so a change made over one transport reaches the clients of the other.

mod accounts;
mod allowance;
mod attachments;
mod bridged;
mod changes;
mod conversations;
mod engine;
mod error;
pub mod events;
pub mod input;
mod known_pairs;
mod realtime;
pub mod views;

use std::sync::{Arc, OnceLock};

pub use accounts::{IssuedSession, SECRET_FILE, Session, SessionKeys, new_password_hash};
pub use attachments::UploadInfo;
pub use bridged::{DirectoryAnswer, Grouped, MatrixDirectory, TypingListener};
pub use conversations::{Outgoing, PendingSend};
pub use engine::{
    Engine, EngineConfig, ReadOutcome, SendOutcome, SendTo, WriterStopped, committed,
};
pub use error::ChatError;
pub use realtime::{Fanout, NodeLink, SeenMessages};

use crate::{config::Limits, hub::Hub, media::Media, store::Store};
use accounts::{AccountLimits, Passwords};
use allowance::Allowances;
use known_pairs::KnownPairs;
use realtime::TypingGate;

/// The chat service: cheap to clone, shared by every transport.
#[derive(Clone)]
pub struct Chat {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    session_keys: SessionKeys,
    account_limits: AccountLimits,
    allowances: Allowances,
    /// Pairs whose conversation exists, for sends addressed to a user.
    known_pairs: KnownPairs,
    typing_gate: TypingGate,
    passwords: Passwords,
    limits: Limits,
    hub: Hub,
    /// Where uploads' bytes live.
    media: Media,
    /// How long an upload no message carries is kept.
    media_ttl: std::time::Duration,
    /// Every change others must hear about goes through it.
    engine: Engine,
    /// Who else hears typing (the Matrix bridge), set once at start.
    typing_listener: OnceLock<Arc<dyn TypingListener>>,
    /// Who finds Matrix IDs in a search (the Matrix bridge), set once at start.
    matrix_directory: OnceLock<Arc<dyn MatrixDirectory>>,
    /// The other nodes, in a cluster; set once at start.
    node_link: OnceLock<Arc<dyn realtime::NodeLink>>,
}

impl Chat {
    /// The chat service over a running engine (see [`Engine::start`]).
    pub fn new(
        store: Store,
        session_keys: SessionKeys,
        limits: Limits,
        hub: Hub,
        engine: Engine,
        (media, media_ttl): (Media, std::time::Duration),
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                account_limits: AccountLimits::new(
                    limits.login_attempts_per_minute,
                    limits.login_attempts_per_minute_per_ip,
                    limits.registrations_per_hour_per_ip,
                ),
                allowances: Allowances::new(&limits),
                known_pairs: KnownPairs::default(),
                typing_gate: TypingGate::new(),
                passwords: Passwords::new(),
                store,
                session_keys,
                limits,
                hub,
                media,
                media_ttl,
                engine,
                typing_listener: OnceLock::new(),
                matrix_directory: OnceLock::new(),
                node_link: OnceLock::new(),
            }),
        }
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The message engine: its stream of committed events.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The sockets connected to this node.
    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }

    /// The limits the rules enforce.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Whether the database answers.
    pub async fn healthy(&self) -> bool {
        self.store().ping().await.is_ok()
    }

    /// Periodic upkeep: forgets idle rate-limit keys.
    pub fn housekeeping(&self) {
        self.inner.account_limits.forget_idle();
        self.inner.allowances.forget_idle();
        self.inner.typing_gate.forget_idle();
    }
}

/// Now, in Unix milliseconds: the unit every stored timestamp uses.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

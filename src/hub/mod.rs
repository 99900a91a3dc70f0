//! The hub: which sockets each user has open on this node, and fan-out to them.
//!
//! It knows nothing of what it carries: `chat/` decides who gets which event and
//! serialises it once into a [`Delivery`]; the hub hands that one buffer to every
//! recipient socket's bounded queue. A socket whose queue is full is not waited for
//! (that would let one slow client stall everyone): it is kicked with a reason and
//! its client reconnects and resumes from the database.
//!
//! Locking: one `std::sync::Mutex` over the map, held only to look up or change
//! entries and never across an `.await`.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{Notify, mpsc, watch};

use crate::ids::{Position, UserId};

/// Identifies one open socket on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionId(u64);

/// One serialised frame, shared by all its recipients (cloning is a reference count).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub text: Utf8Bytes,
    /// The position of the change it tells of: a socket skips what it already has.
    pub position: Option<Position>,
}

/// Why the server closes a socket, as a WebSocket close code and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: &'static str,
}

impl CloseReason {
    /// Neither a frame nor a pong came for two ping intervals: the link is dead.
    pub const NO_PONG: Self = Self {
        code: 1001,
        reason: "no answer to ping",
    };
    /// A text frame that is not UTF-8 (RFC 6455, 8.1).
    pub const NOT_UTF8: Self = Self {
        code: 1007,
        reason: "text frames must be UTF-8",
    };
    /// A frame over the size limit.
    pub const TOO_LARGE: Self = Self {
        code: 1009,
        reason: "frame too large",
    };
    /// The client did not read fast enough; it should reconnect and `resume`.
    pub const TOO_SLOW: Self = Self {
        code: 1008,
        reason: "too slow: outgoing queue full; reconnect and resume",
    };
    /// The session was logged out (or revoked) elsewhere.
    pub const LOGGED_OUT: Self = Self {
        code: 4001,
        reason: "session ended",
    };
    /// An admin deactivated the account (`gadka admin user deactivate`). The code is
    /// the one of a session that ended, which clients already answer by showing the
    /// login, where the login's refusal says why.
    pub const DEACTIVATED: Self = Self {
        code: 4001,
        reason: "account deactivated",
    };
    /// The session's lifetime is over; the client logs in again.
    pub const SESSION_EXPIRED: Self = Self {
        code: 4001,
        reason: "session expired",
    };
    /// This node missed changes another node committed (NATS lost a batch, or was
    /// down): the client reconnects and `resume`s them from the database.
    pub const RESYNC: Self = Self {
        code: 1012,
        reason: "missed changes from another node; reconnect and resume",
    };
    /// The server is shutting down.
    pub const GOING_AWAY: Self = Self {
        code: 1001,
        reason: "server shutting down",
    };
}

/// Tells a socket's task to close, and why; the first reason wins.
#[derive(Debug, Default)]
pub struct Kick {
    reason: OnceLock<CloseReason>,
    notify: Notify,
}

impl Kick {
    /// `true` when this is the socket's first kick (the one whose reason it closes with).
    fn kick(&self, reason: CloseReason) -> bool {
        let first = self.reason.set(reason).is_ok();
        if first {
            self.notify.notify_one();
        }
        first
    }

    /// Resolves once the socket has been kicked, with the reason.
    pub async fn kicked(&self) -> CloseReason {
        loop {
            if let Some(reason) = self.reason.get() {
                return *reason;
            }
            self.notify.notified().await;
        }
    }
}

struct Socket {
    session_id: String,
    /// One pointer per queued frame: the channel allocates its slots in blocks up
    /// front, so a small item keeps an idle socket small.
    queue: mpsc::Sender<Arc<Delivery>>,
    kick: Arc<Kick>,
}

/// A registered socket: its queue of deliveries and its kick signal. Hand it back
/// with [`Hub::unregister`] when the socket closes.
pub struct Registration {
    pub id: ConnectionId,
    pub user_id: UserId,
    pub deliveries: mpsc::Receiver<Arc<Delivery>>,
    pub kick: Arc<Kick>,
}

/// Open sockets per user on this node.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    users: Mutex<HashMap<UserId, HashMap<ConnectionId, Socket>>>,
    next_id: AtomicU64,
    queue_frames: usize,
    /// The number of open sockets, watched by shutdown.
    open: watch::Sender<usize>,
    /// Set once the server is shutting down: later sockets are closed at once.
    closing: OnceLock<CloseReason>,
    /// In a cluster: how many other nodes hold a socket of each user (see `cluster/`).
    elsewhere: Mutex<HashMap<UserId, u32>>,
}

impl Hub {
    /// A hub whose sockets each queue at most `queue_frames` frames.
    pub fn new(queue_frames: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                users: Mutex::default(),
                next_id: AtomicU64::new(1),
                queue_frames: queue_frames.max(1),
                open: watch::Sender::new(0),
                closing: OnceLock::new(),
                elsewhere: Mutex::default(),
            }),
        }
    }

    fn users(&self) -> MutexGuard<'_, HashMap<UserId, HashMap<ConnectionId, Socket>>> {
        // A panic while holding this lock leaves the map consistent (every change is
        // one insert or remove), so a poisoned lock is still safe to use.
        self.inner.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a socket; `true` when it is the user's first one on this node.
    pub fn register(&self, user_id: UserId, session_id: &str) -> (Registration, bool) {
        let id = ConnectionId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let (queue, deliveries) = mpsc::channel(self.inner.queue_frames);
        let kick = Arc::new(Kick::default());
        let first = {
            let mut users = self.users();
            let sockets = users.entry(user_id).or_default();
            sockets.insert(
                id,
                Socket {
                    session_id: session_id.to_owned(),
                    queue,
                    kick: kick.clone(),
                },
            );
            sockets.len() == 1
        };
        self.inner.open.send_modify(|n| *n += 1);
        metrics::gauge!("gadka_sockets_open").increment(1.0);
        if let Some(reason) = self.inner.closing.get() {
            kick.kick(*reason);
        }
        let registration = Registration {
            id,
            user_id,
            deliveries,
            kick,
        };
        (registration, first)
    }

    /// Removes a socket; `true` when it was the user's last one on this node.
    pub fn unregister(&self, registration: Registration) -> bool {
        let last = {
            let mut users = self.users();
            let Some(sockets) = users.get_mut(&registration.user_id) else {
                return false;
            };
            sockets.remove(&registration.id);
            let last = sockets.is_empty();
            if last {
                users.remove(&registration.user_id);
            }
            last
        };
        self.inner.open.send_modify(|n| *n = n.saturating_sub(1));
        metrics::gauge!("gadka_sockets_open").decrement(1.0);
        last
    }

    /// Whether the user has a socket open on this node or, in a cluster, on another.
    pub fn is_online(&self, user_id: UserId) -> bool {
        self.is_online_here(user_id) || self.elsewhere().contains_key(&user_id)
    }

    /// Whether the user has a socket open on this node.
    pub fn is_online_here(&self, user_id: UserId) -> bool {
        self.users().contains_key(&user_id)
    }

    /// Whether another node of the cluster holds a socket of the user.
    pub fn online_elsewhere(&self, user_id: UserId) -> bool {
        self.elsewhere().contains_key(&user_id)
    }

    /// The users with a socket open on this node.
    pub fn online_here(&self) -> Vec<UserId> {
        self.users().keys().copied().collect()
    }

    /// Records on how many other nodes the user has a socket (0: none).
    pub fn set_elsewhere(&self, user_id: UserId, nodes: u32) {
        let mut elsewhere = self.elsewhere();
        if nodes == 0 {
            elsewhere.remove(&user_id);
        } else {
            elsewhere.insert(user_id, nodes);
        }
    }

    fn elsewhere(&self) -> MutexGuard<'_, HashMap<UserId, u32>> {
        self.inner
            .elsewhere
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `delivery` on every socket of every user in `recipients`, except `skip`.
    /// Never waits: a socket with a full queue is kicked instead.
    pub fn deliver(&self, recipients: &[UserId], delivery: &Delivery, skip: Option<ConnectionId>) {
        let delivery = Arc::new(delivery.clone());
        let users = self.users();
        for user_id in recipients {
            for (id, socket) in users.get(user_id).into_iter().flatten() {
                if Some(*id) == skip {
                    continue;
                }
                if let Err(mpsc::error::TrySendError::Full(_)) =
                    socket.queue.try_send(delivery.clone())
                {
                    tracing::info!(user.id = user_id.get(), "socket too slow, closing it");
                    socket.kick.kick(CloseReason::TOO_SLOW);
                }
            }
        }
    }

    /// Closes every socket of a session (logout).
    pub fn close_session(&self, session_id: &str) {
        for socket in self.users().values().flat_map(|s| s.values()) {
            if socket.session_id == session_id {
                socket.kick.kick(CloseReason::LOGGED_OUT);
            }
        }
    }

    /// Closes the sockets of `user_id` whose session is one of `sessions` (revoked
    /// elsewhere: by another process or node). Looks only at that user's sockets.
    /// How many sockets it closed that were not closing already (as those of a
    /// logout on this node are).
    pub fn close_sessions_of(
        &self,
        user_id: UserId,
        sessions: &[&str],
        reason: CloseReason,
    ) -> usize {
        let users = self.users();
        users
            .get(&user_id)
            .into_iter()
            .flat_map(|s| s.values())
            .filter(|socket| sessions.contains(&socket.session_id.as_str()))
            .filter(|socket| socket.kick.kick(reason))
            .count()
    }

    /// Closes every socket open now; later ones stay open. How many it closed.
    pub fn close_open(&self, reason: CloseReason) -> usize {
        self.users()
            .values()
            .flat_map(|s| s.values())
            .filter(|socket| socket.kick.kick(reason))
            .count()
    }

    /// Closes every socket, and every socket opened from now on (shutdown).
    pub fn close_all(&self, reason: CloseReason) {
        let _ = self.inner.closing.set(reason);
        for socket in self.users().values().flat_map(|s| s.values()) {
            socket.kick.kick(reason);
        }
    }

    /// Resolves once no socket is registered any more.
    pub async fn all_closed(&self) {
        let mut open = self.inner.open.subscribe();
        let _ = open.wait_for(|n| *n == 0).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANN: UserId = UserId::new(1);
    const BOB: UserId = UserId::new(2);

    fn delivery(text: &str) -> Delivery {
        Delivery {
            text: text.into(),
            position: None,
        }
    }

    #[tokio::test]
    async fn fans_out_to_every_socket_but_the_skipped_one() {
        let hub = Hub::new(8);
        let (mut a1, first) = hub.register(ANN, "s1");
        assert!(first);
        let (mut a2, first) = hub.register(ANN, "s2");
        assert!(!first);
        let (mut b, _) = hub.register(BOB, "s3");
        hub.deliver(&[ANN, BOB], &delivery("x"), Some(a2.id));
        assert_eq!(a1.deliveries.recv().await.unwrap().text.as_str(), "x");
        assert_eq!(b.deliveries.recv().await.unwrap().text.as_str(), "x");
        assert!(a2.deliveries.try_recv().is_err());
        assert!(!hub.unregister(a1));
        assert!(hub.unregister(a2));
        assert!(!hub.is_online(ANN));
    }

    #[tokio::test]
    async fn closing_sessions_of_a_user_closes_only_their_sockets() {
        let hub = Hub::new(8);
        let (a1, _) = hub.register(ANN, "s1");
        let (a2, _) = hub.register(ANN, "s2");
        let (b, _) = hub.register(BOB, "s1");
        let closed = hub.close_sessions_of(ANN, &["s1", "s9"], CloseReason::DEACTIVATED);
        assert_eq!(closed, 1);
        let again = hub.close_sessions_of(ANN, &["s1"], CloseReason::LOGGED_OUT);
        assert_eq!(again, 0, "closing already");
        assert_eq!(a1.kick.kicked().await, CloseReason::DEACTIVATED);
        assert!(a2.kick.reason.get().is_none(), "another session of hers");
        assert!(b.kick.reason.get().is_none(), "another user's");
    }

    #[tokio::test]
    async fn a_full_queue_kicks_only_that_socket() {
        let hub = Hub::new(2);
        let (slow, _) = hub.register(ANN, "s1");
        let (mut fast, _) = hub.register(ANN, "s2");
        for i in 0..3 {
            hub.deliver(&[ANN], &delivery(&i.to_string()), None);
            fast.deliveries.recv().await.unwrap();
        }
        assert_eq!(slow.kick.kicked().await, CloseReason::TOO_SLOW);
        assert!(fast.kick.reason.get().is_none());
    }
}

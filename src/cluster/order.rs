//! The order of every node's batches on this node.
//!
//! Batches commit one after another across the cluster, each numbered one more than
//! the last (`stream_head`), so positions commit in order. This node hands its
//! sockets every batch in that order: its own after the publisher's commit, the
//! others' as NATS brings them. A batch that comes early waits for the ones before
//! it; this node's own batch waits too (its `sent` answer must not run ahead of a
//! change the socket has not been shown, or the client's `resume` cursor would pass
//! it).
//!
//! Core NATS may lose a message (a reconnect, a slow consumer), and a node may die
//! between its commit and its publish. When the next batch has been missing for
//! [`GAP`], this node gives up on it: it closes its sockets with 1012, and their
//! clients reconnect and `resume` from the database, which holds everything; then
//! it goes on after the gap.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{Notify, watch};

use crate::{
    chat::{
        Fanout,
        committed::{BatchOrder, Committed, Subscriber},
    },
    hub::{CloseReason, Delivery, Hub},
    ids::UserId,
};

/// How long a missing batch is waited for before this node's sockets resync.
pub const GAP: Duration = Duration::from_secs(2);

/// Hands this node's batch to the other nodes.
pub type Announce = Box<dyn Fn(i64, &[Committed]) + Send + Sync>;

pub struct Order {
    state: Mutex<State>,
    turned: Notify,
    /// [`State::applied`], for whoever follows every batch that goes out here.
    gone_out: watch::Sender<i64>,
    fanout: Fanout,
    hub: Hub,
    announce: Announce,
}

struct State {
    /// Every batch up to this one went out here.
    applied: i64,
    /// Other nodes' batches that came before their turn.
    early: BTreeMap<i64, Vec<Committed>>,
    /// This node's batches committed and not yet out.
    mine: BTreeSet<i64>,
    /// Since when the next batch has been missing while later ones wait.
    blocked_since: Option<Instant>,
    /// Other nodes' frames that wait for a batch to go out first, by that batch.
    frames: BTreeMap<i64, Vec<(Vec<UserId>, Utf8Bytes)>>,
}

impl State {
    /// The lowest batch known to wait, this node's or another's.
    fn next_known(&self) -> Option<i64> {
        let early = self.early.keys().next().copied();
        let mine = self.mine.iter().next().copied();
        early.into_iter().chain(mine).min()
    }
}

impl Order {
    /// Starts after batch `head`, which every snapshot read from now on holds.
    pub fn new(head: i64, fanout: Fanout, hub: Hub, announce: Announce) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                applied: head,
                early: BTreeMap::new(),
                mine: BTreeSet::new(),
                blocked_since: None,
                frames: BTreeMap::new(),
            }),
            turned: Notify::new(),
            gone_out: watch::Sender::new(head),
            fanout,
            hub,
            announce,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change leaves the state consistent, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Another node's batch.
    pub fn arrived(&self, turn: i64, events: Vec<Committed>) {
        let mut state = self.state();
        if turn <= state.applied {
            return;
        }
        state.early.insert(turn, events);
        self.go_on(&mut state);
    }

    /// Another node's frame, which goes out once batch `after` has gone out here.
    pub fn frame_arrived(&self, after: i64, recipients: Vec<UserId>, text: Utf8Bytes) {
        let mut state = self.state();
        if after <= state.applied {
            drop(state);
            self.deliver(&recipients, text);
        } else {
            state
                .frames
                .entry(after)
                .or_default()
                .push((recipients, text));
        }
    }

    /// The last batch that went out on this node.
    pub fn applied(&self) -> i64 {
        self.state().applied
    }

    /// [`Order::applied`], changing as each batch, any node's, goes out on this node.
    pub fn gone_out(&self) -> watch::Receiver<i64> {
        self.gone_out.subscribe()
    }

    fn deliver(&self, recipients: &[UserId], text: Utf8Bytes) {
        self.hub.deliver(
            recipients,
            &Delivery {
                text,
                position: None,
            },
            None,
        );
    }

    /// Hands out every batch whose turn it is, and the frames that waited for them;
    /// the caller holds the lock, so nothing else goes out meanwhile and the hub sees
    /// them in order.
    fn go_on(&self, state: &mut State) {
        loop {
            while let Some(frames) = state.frames.first_entry() {
                if *frames.key() > state.applied {
                    break;
                }
                for (recipients, text) in frames.remove() {
                    self.deliver(&recipients, text);
                }
            }
            let Some(events) = state.early.remove(&(state.applied + 1)) else {
                break;
            };
            self.fanout.committed(&events);
            state.applied += 1;
        }
        let blocked = state
            .next_known()
            .is_some_and(|next| next > state.applied + 1);
        if !blocked {
            state.blocked_since = None;
        } else if state.blocked_since.is_none() {
            state.blocked_since = Some(Instant::now());
        }
        self.turned.notify_waiters();
        let applied = state.applied;
        self.gone_out.send_if_modified(|last| {
            let moved = *last != applied;
            *last = applied;
            moved
        });
    }

    /// Gives up on a batch missing for longer than [`GAP`]: this node's sockets
    /// resync from the database, and the batches after the gap go out. Called
    /// periodically.
    pub fn give_up_on_gaps(&self) {
        let mut state = self.state();
        let Some(since) = state.blocked_since else {
            return;
        };
        if since.elapsed() < GAP {
            return;
        }
        let Some(next) = state.next_known() else {
            return;
        };
        let missing = next - state.applied - 1;
        let closed = self.hub.close_open(CloseReason::RESYNC);
        tracing::warn!(
            missing,
            after = state.applied,
            sockets = closed,
            "batches of other nodes never came over NATS; this node's sockets resync from the database"
        );
        metrics::counter!("gadka_cluster_resyncs_total").increment(1);
        state.applied = next - 1;
        state.blocked_since = None;
        self.go_on(&mut state);
    }

    /// Whether the batch `turn` of this node may go out now.
    fn ready(&self, turn: i64) -> bool {
        self.state().applied >= turn - 1
    }
}

impl BatchOrder for Order {
    fn announce(&self, turn: i64, events: &[Committed]) {
        (self.announce)(turn, events);
        let mut state = self.state();
        state.mine.insert(turn);
        self.go_on(&mut state);
    }

    fn my_turn(
        &self,
        turn: i64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            loop {
                let turned = self.turned.notified();
                tokio::pin!(turned);
                turned.as_mut().enable();
                if self.ready(turn) {
                    return;
                }
                turned.await;
            }
        })
    }

    fn done(&self, turn: i64) {
        let mut state = self.state();
        state.mine.remove(&turn);
        state.applied = state.applied.max(turn);
        self.go_on(&mut state);
    }
}

//! The one worker that carries the outbox out: it reads the rows in id order and
//! runs them lane by lane, one row at a time per lane, lanes side by side.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::FutureExt;
use tokio::{sync::broadcast::error::RecvError, task::JoinSet};

use super::{Outgoing, Parsed, TOPIC, carry::carry_until_done};
use crate::{bridge::Bridge, store::OutboxRow};

/// Rows read per round.
const PAGE: u64 = 100;

/// How often the worker looks for rows when no commit woke it (a missed wake-up, a
/// broadcast receiver that lagged).
const POLL: Duration = Duration::from_secs(1);

/// The lease whose holder carries the outbox, in a cluster.
const LEASE: &str = "bridge-outbox";
/// How long the lease lasts unless renewed; it is renewed every [`POLL`].
const LEASE_MS: i64 = 5_000;

/// Carries out the outbox until the engine stops. In a cluster every node commits
/// outbox rows, and one carries them all: the one holding the lease, renewed every
/// second. A node that cannot renew it (cut off from the database, paused past its
/// end) stops carrying at once; another takes over once it has run out. A row whose
/// call a stopped holder had made is carried again with the same transaction id,
/// which the homeserver answers with the event it made the first time.
pub async fn drain(bridge: Arc<Bridge>) {
    let Some(node) = bridge.chat.cluster_node().map(str::to_owned) else {
        return carry_out(bridge, Held::forever()).await;
    };
    loop {
        let mut waiting = tokio::time::interval(POLL);
        let (token, held) = loop {
            waiting.tick().await;
            let asked = Instant::now();
            match bridge.store.take_lease(LEASE, &node, LEASE_MS).await {
                Ok(Some(token)) => break (token, Held::from(asked)),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot ask for the bridge's outbox lease"),
            }
        };
        tracing::info!(token, "this node carries the bridge's outbox");
        tokio::select! {
            () = carry_out(bridge.clone(), held.clone()) => return,
            () = keep_lease(&bridge, &node, &held) => {
                tracing::warn!("this node lost the bridge's outbox lease; it stopped carrying");
            }
        }
    }
}

/// Renews the lease every [`POLL`]; returns once it could not.
async fn keep_lease(bridge: &Bridge, node: &str, held: &Held) {
    let mut renew = tokio::time::interval(POLL);
    renew.tick().await;
    loop {
        renew.tick().await;
        let asked = Instant::now();
        match bridge.store.take_lease(LEASE, node, LEASE_MS).await {
            Ok(Some(_)) => held.renewed(asked),
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the bridge's outbox lease");
                return;
            }
        }
    }
}

/// Until when this node surely holds the lease, on its own monotonic clock: the
/// lease's length from when the last renewal was asked for (the database's clock
/// started it later). A node paused past that (SIGSTOP, a stall) sees it has passed
/// the moment it wakes, before the renewal that would tell it so comes back, and
/// starts no row meanwhile.
#[derive(Clone)]
struct Held(Arc<Mutex<Instant>>);

impl Held {
    /// One node and no lease: held for as long as it runs.
    fn forever() -> Self {
        // A century: `Instant` has no maximum, and nothing runs that long.
        let century = Duration::from_secs(100 * 365 * 24 * 3600);
        Self(Arc::new(Mutex::new(Instant::now() + century)))
    }

    fn from(asked: Instant) -> Self {
        Self(Arc::new(Mutex::new(asked + lease())))
    }

    fn renewed(&self, asked: Instant) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = asked + lease();
    }

    fn still(&self) -> bool {
        Instant::now() < *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn lease() -> Duration {
    Duration::from_millis(LEASE_MS.unsigned_abs())
}

/// Carries out the outbox until the engine stops: woken by each commit (every node's,
/// in a cluster), and every second in case a wake-up was missed. Rows go out in id
/// order within their lane (see [`Lane`]), lanes side by side; none starts once
/// `held` has run out.
async fn carry_out(bridge: Arc<Bridge>, held: Held) {
    // Shown from the start, at 0: an alert on its increase needs the series to exist
    // before the first failure.
    metrics::counter!("gadka_bridge_portal_failures_total").increment(0);
    let mut commits = bridge.chat.engine().subscribe();
    // Other nodes' batches carry rows too; in a cluster every batch goes out here.
    let mut batches = bridge.chat.cluster_batches();
    let carrier = bridge.clone();
    let mut lanes = Lanes::new(move |row| {
        let (bridge, held) = (carrier.clone(), held.clone());
        Box::pin(async move {
            // Left in the database for the next holder.
            if held.still() {
                carry_until_done(&bridge, &row).await;
            }
        })
    });
    let mut measured: Option<Instant> = None;
    // Where the next read starts: past the rows read last.
    let mut read_from = 0;
    loop {
        if measured.is_none_or(|at| at.elapsed() >= POLL) {
            measure(&bridge).await;
            measured = Some(Instant::now());
            // From the start again, now and then: with several gadka nodes on one
            // database, a row can commit after one with a higher id was read.
            read_from = 0;
        }
        // What is new, while there is room to hold it: rows behind a room that keeps
        // failing stay in the database until there is.
        if lanes.held() < MAX_HELD {
            match bridge.store.outbox_after(TOPIC, read_from, PAGE).await {
                Ok(rows) => {
                    let full = rows.len() as u64 == PAGE;
                    read_from = rows.last().map_or(read_from, |row| row.id);
                    for row in rows {
                        lanes.dispatch(row);
                    }
                    if full {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the outbox"),
            }
        }
        tokio::select! {
            received = commits.recv() => {
                if let Err(RecvError::Closed) = received {
                    return;
                }
            }
            Some(Ok(())) = async {
                match batches.as_mut() {
                    Some(batches) => Some(batches.changed().await),
                    None => None,
                }
            } => {}
            true = lanes.settle_one() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// The rows held in memory at most; more wait in the database.
const MAX_HELD: usize = 10_000;

/// Rows that must go out in order among themselves: those of one conversation (its
/// portal, messages and receipts, all in one room), or one user's names (their
/// puppet's profile). Lanes go out side by side, so a room whose calls keep failing
/// holds up only itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Lane {
    Conversation(i64),
    User(i64),
    /// A row that does not parse, alone (it is dropped when carried).
    Row(i64),
}

impl Lane {
    fn of(row: &Parsed) -> Self {
        match &row.outgoing {
            Ok(
                Outgoing::Message {
                    conversation_id, ..
                }
                | Outgoing::Receipt {
                    conversation_id, ..
                }
                | Outgoing::Portal {
                    conversation_id, ..
                }
                | Outgoing::Leave {
                    conversation_id, ..
                }
                | Outgoing::Edit {
                    conversation_id, ..
                }
                | Outgoing::Redact {
                    conversation_id, ..
                }
                | Outgoing::React {
                    conversation_id, ..
                },
            ) => Self::Conversation(*conversation_id),
            Ok(Outgoing::Profile { user_id, .. }) => Self::User(*user_id),
            Err(_) => Self::Row(row.id),
        }
    }
}

/// How a row is carried out, until done or dropped.
type Carry = Box<dyn Fn(Parsed) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The rows being carried out: one at a time per lane, in id order within it.
struct Lanes {
    carry: Carry,
    /// The lanes with a row in flight, and the rows waiting behind it.
    busy: HashMap<Lane, VecDeque<Parsed>>,
    running: JoinSet<(Lane, i64)>,
    /// The ids of the rows in flight or waiting, which a later read skips.
    held: HashSet<i64>,
}

impl Lanes {
    fn new(
        carry: impl Fn(Parsed) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            carry: Box::new(carry),
            busy: HashMap::new(),
            running: JoinSet::new(),
            held: HashSet::new(),
        }
    }

    /// Rows in flight or waiting.
    fn held(&self) -> usize {
        self.held.len()
    }

    /// Carries `row` out now, or after the rows of its lane before it; nothing when
    /// it is held already.
    fn dispatch(&mut self, row: OutboxRow) {
        if !self.held.insert(row.id) {
            return;
        }
        let row = Parsed::from(row);
        let lane = Lane::of(&row);
        match self.busy.get_mut(&lane) {
            Some(waiting) => waiting.push_back(row),
            None => {
                self.busy.insert(lane, VecDeque::new());
                self.start(lane, row);
            }
        }
    }

    fn start(&mut self, lane: Lane, row: Parsed) {
        let id = row.id;
        let carried = (self.carry)(row);
        self.running.spawn(async move {
            // A panic is a bug, but it must not stop its lane for good.
            if AssertUnwindSafe(carried).catch_unwind().await.is_err() {
                tracing::error!(?lane, row = id, "carrying an outbox row panicked");
            }
            (lane, id)
        });
    }

    /// Waits for a row to be done and starts the next of its lane; `false` when
    /// nothing is in flight.
    async fn settle_one(&mut self) -> bool {
        let Some(done) = self.running.join_next().await else {
            return false;
        };
        let Ok((lane, id)) = done else {
            // Only a cancelled task ends so, and none is cancelled but at shutdown.
            return true;
        };
        // Done (or dropped): a later read that finds it still there carries it again,
        // which its txnId makes harmless.
        self.held.remove(&id);
        match self.busy.get_mut(&lane).and_then(VecDeque::pop_front) {
            Some(row) => self.start(lane, row),
            None => {
                self.busy.remove(&lane);
            }
        }
        true
    }
}

/// `gadka_bridge_outbox_depth` (rows waiting) and `gadka_bridge_outbox_age_seconds`
/// (how long the oldest has waited) in `/metrics`.
async fn measure(bridge: &Bridge) {
    match bridge.store.outbox_stats(TOPIC).await {
        Ok((depth, oldest)) => {
            let age_ms = oldest.map_or(0, |at| chrono::Utc::now().timestamp_millis() - at);
            metrics::gauge!("gadka_bridge_outbox_depth").set(depth as f64);
            metrics::gauge!("gadka_bridge_outbox_age_seconds").set(age_ms.max(0) as f64 / 1000.0);
        }
        Err(e) => tracing::warn!(error = %e, "cannot measure the outbox"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::sync::Notify;

    use super::*;

    fn row(id: i64, conversation_id: i64) -> OutboxRow {
        let payload = serde_json::to_string(&Outgoing::Message {
            conversation_id,
            seq: id,
            sender_id: 1,
            body: format!("m{id}"),
            reply_to: None,
            media_id: None,
        })
        .unwrap();
        OutboxRow {
            id,
            payload,
            created_at: 0,
        }
    }

    #[tokio::test]
    async fn a_room_that_cannot_send_holds_up_only_itself() {
        // Room 1's calls hang until released; room 2's go through.
        let carried = Arc::new(Mutex::new(Vec::new()));
        let release = Arc::new(Notify::new());
        let (log, gate) = (carried.clone(), release.clone());
        let mut lanes = Lanes::new(move |row: Parsed| {
            let (log, gate) = (log.clone(), gate.clone());
            Box::pin(async move {
                if Lane::of(&row) == Lane::Conversation(1) {
                    gate.notified().await;
                }
                log.lock().unwrap().push(row.id);
            })
        });
        for (id, room) in [(1, 1), (2, 2), (3, 1), (4, 2), (5, 2)] {
            lanes.dispatch(row(id, room));
        }
        assert_eq!(lanes.held(), 5);
        // Read again (from the start, as now and then), held rows are not taken twice.
        lanes.dispatch(row(3, 1));
        assert_eq!(lanes.held(), 5);
        while carried.lock().unwrap().len() < 3 {
            assert!(lanes.settle_one().await);
        }
        assert_eq!(*carried.lock().unwrap(), [2, 4, 5], "room 2, in order");
        assert_eq!(lanes.held(), 2, "room 1's rows wait, in order");

        release.notify_one();
        assert!(lanes.settle_one().await);
        release.notify_one();
        assert!(lanes.settle_one().await);
        assert_eq!(*carried.lock().unwrap(), [2, 4, 5, 1, 3]);
        assert!(!lanes.settle_one().await, "nothing left");
        assert!(lanes.busy.is_empty());
    }
}

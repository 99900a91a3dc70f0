//! What goes from gadka to Matrix: rows committed with the change they carry, then
//! carried out in order by one worker.
//!
//! [`OutboxHook`] is a [`TxnHook`]: inside the writer's transaction it adds a row for
//! each message to a Matrix user, so the row commits with the message or not at all,
//! and a send never waits for the homeserver. [`drain`] sends the rows in id order
//! per room (and per user, for names), rooms side by side, each with its row id as
//! the Matrix `txnId`, so a retry after a failure or a restart never duplicates; a
//! homeserver that is away is retried with backoff, and the rows wait in the
//! database meanwhile. A room whose calls keep failing holds up only itself.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use futures_util::FutureExt;

use ruma::{OwnedEventId, OwnedRoomId, OwnedTransactionId, OwnedUserId};
use serde::{Deserialize, Serialize};
use tokio::{sync::broadcast::error::RecvError, task::JoinSet};

use super::{Bridge, PuppetError, homeserver::HomeserverError};
use crate::{
    chat::committed::{Committed, TxnHook},
    store::{OutboxEntry, OutboxRow},
};

/// The outbox topic of the bridge's rows.
pub const TOPIC: &str = "matrix";

/// Rows read per round.
const PAGE: u64 = 100;

/// The longest wait before retrying a row.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How often the worker looks for rows when no commit woke it (a missed wake-up, a
/// broadcast receiver that lagged).
const POLL: Duration = Duration::from_secs(1);

/// One thing to do on Matrix.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Outgoing {
    /// A gadka user's message to a Matrix user.
    Message {
        conversation_id: i64,
        seq: i64,
        sender_id: i64,
        body: String,
    },
    /// A gadka user read a Matrix user's messages up to `up_to_seq`.
    Receipt {
        conversation_id: i64,
        reader_id: i64,
        peer_id: i64,
        up_to_seq: i64,
    },
    /// A conversation opened from gadka with a Matrix user: the local member's
    /// puppet makes its portal room. Rows of the conversation's messages come after
    /// it, so they wait for the room.
    Portal {
        conversation_id: i64,
        local_id: i64,
        matrix_id: i64,
    },
    /// A gadka user's new display name, for their puppet.
    Profile { user_id: i64, display_name: String },
}

/// Adds an outbox row for every message to a user who lives on Matrix, for every
/// read marker a local user moves over their messages, and for every local user's
/// new display name (their puppet's).
///
/// It runs inside the writer, which must never wait, so it knows those users from
/// memory: the set is read at start and grows before a Matrix user's first
/// conversation opens, so no message to one is committed without its row.
pub struct OutboxHook {
    matrix_users: RwLock<HashSet<i64>>,
}

impl OutboxHook {
    /// A hook that knows these Matrix users.
    pub fn new(matrix_users: impl IntoIterator<Item = i64>) -> Self {
        Self {
            matrix_users: RwLock::new(matrix_users.into_iter().collect()),
        }
    }

    /// Adds a user who lives on Matrix.
    pub fn add_matrix_user(&self, user_id: i64) {
        self.matrix_users
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user_id);
    }

    /// Whether `user_id` lives on Matrix.
    pub(crate) fn is_matrix_user(&self, user_id: i64) -> bool {
        self.matrix_users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&user_id)
    }
}

impl TxnHook for OutboxHook {
    fn rows(&self, event: &Committed, rows: &mut Vec<OutboxEntry>) {
        let outgoing = match event {
            Committed::Message {
                message,
                recipient_id,
                ..
            } if self.is_matrix_user(*recipient_id) => Outgoing::Message {
                conversation_id: message.conversation_id,
                seq: message.seq,
                sender_id: message.sender_id,
                body: message.body.clone(),
            },
            // A Matrix user's own marker came from Matrix: it is not sent back.
            Committed::Marker {
                conversation_id,
                user_id,
                peer_id,
                up_to_seq,
                ..
            } if self.is_matrix_user(*peer_id) && !self.is_matrix_user(*user_id) => {
                Outgoing::Receipt {
                    conversation_id: *conversation_id,
                    reader_id: *user_id,
                    peer_id: *peer_id,
                    up_to_seq: *up_to_seq,
                }
            }
            Committed::Conversation {
                conversation_id,
                members: [first, second],
            } if self.is_matrix_user(*first) != self.is_matrix_user(*second) => {
                let (local_id, matrix_id) = if self.is_matrix_user(*first) {
                    (*second, *first)
                } else {
                    (*first, *second)
                };
                Outgoing::Portal {
                    conversation_id: *conversation_id,
                    local_id,
                    matrix_id,
                }
            }
            // A Matrix user has no puppet: their new name came from Matrix.
            Committed::Profile {
                user_id,
                display_name,
            } if !self.is_matrix_user(*user_id) => Outgoing::Profile {
                user_id: *user_id,
                display_name: display_name.clone(),
            },
            _ => return,
        };
        match serde_json::to_string(&outgoing) {
            Ok(payload) => rows.push(OutboxEntry {
                topic: TOPIC,
                payload,
            }),
            Err(e) => tracing::error!(error = %e, "cannot encode an outbox row"),
        }
    }
}

/// Why a row could not be carried out.
#[derive(Debug, thiserror::Error)]
enum CarryError {
    #[error("cannot read the database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Homeserver(#[from] HomeserverError),
    /// A row that can never be carried out (it is dropped).
    #[error("{0}")]
    Void(String),
}

impl CarryError {
    fn is_permanent(&self) -> bool {
        match self {
            Self::Store(_) => false,
            Self::Homeserver(e) => e.is_permanent(),
            Self::Void(_) => true,
        }
    }
}

/// Carries out the outbox until the engine stops: woken by each commit, and every
/// second in case a wake-up was missed. Rows go out in id order within their lane
/// (see [`Lane`]), lanes side by side.
pub async fn drain(bridge: Arc<Bridge>) {
    let mut commits = bridge.chat.engine().subscribe();
    let carrier = bridge.clone();
    let mut lanes = Lanes::new(move |row| {
        let bridge = carrier.clone();
        Box::pin(async move { carry_until_done(&bridge, &row).await })
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

/// An outbox row, its payload read once: its lane and every try to carry it out
/// come from the same reading.
struct Parsed {
    id: i64,
    outgoing: Result<Outgoing, String>,
}

impl From<OutboxRow> for Parsed {
    fn from(row: OutboxRow) -> Self {
        Self {
            id: row.id,
            outgoing: serde_json::from_str(&row.payload).map_err(|e| e.to_string()),
        }
    }
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

/// Tries one row until it is done or cannot ever be, waiting longer after each
/// failure; later rows of its lane wait behind it, which keeps them in order.
async fn carry_until_done(bridge: &Bridge, row: &Parsed) {
    let mut backoff = Duration::from_secs(1);
    loop {
        match carry(bridge, row).await {
            Ok(()) => break,
            Err(e) if e.is_permanent() => {
                tracing::warn!(row = row.id, error = %e, "dropped an outbox row that cannot be sent");
                break;
            }
            Err(e) => {
                tracing::warn!(row = row.id, retry_in = ?backoff, error = %e, "cannot send to Matrix now");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    // A failed delete sends the row again later, which its txnId makes harmless.
    if let Err(e) = bridge.store.delete_outbox_row(row.id).await {
        tracing::warn!(row = row.id, error = %e, "cannot forget a sent outbox row");
    }
}

async fn carry(bridge: &Bridge, row: &Parsed) -> Result<(), CarryError> {
    let outgoing = row
        .outgoing
        .as_ref()
        .map_err(|e| CarryError::Void(format!("an outbox row that does not parse: {e}")))?;
    match *outgoing {
        Outgoing::Message {
            conversation_id,
            seq,
            sender_id,
            ref body,
        } => {
            let room = portal(bridge, conversation_id).await?;
            let puppet = puppet(bridge, sender_id).await?;
            let txn_id = OwnedTransactionId::from(row.id.to_string());
            let event = bridge
                .homeserver
                .send_text(room, txn_id, &puppet, body)
                .await?;
            bridge
                .store
                .record_matrix_event(event.as_str(), conversation_id, seq)
                .await?;
            Ok(())
        }
        Outgoing::Receipt {
            conversation_id,
            reader_id,
            peer_id,
            up_to_seq,
        } => {
            // The newest message from Matrix the marker passed; none: nothing to mark.
            let Some(event) = bridge
                .store
                .matrix_event_up_to(conversation_id, peer_id, up_to_seq)
                .await?
            else {
                return Ok(());
            };
            let event = OwnedEventId::try_from(event).map_err(|e| {
                CarryError::Void(format!("a Matrix message without an event id: {e}"))
            })?;
            let room = portal(bridge, conversation_id).await?;
            let puppet = puppet(bridge, reader_id).await?;
            bridge.homeserver.read_receipt(room, event, &puppet).await?;
            Ok(())
        }
        Outgoing::Portal {
            conversation_id,
            local_id,
            matrix_id,
        } => make_portal(bridge, conversation_id, local_id, matrix_id).await,
        Outgoing::Profile {
            user_id,
            ref display_name,
        } => {
            let puppet = puppet(bridge, user_id).await?;
            let wanted = bridge.settings.displayname_template.apply(display_name);
            // A puppet not made yet gets its name from the database when it is; one
            // that has the name already (a row carried twice) needs no new member
            // event in every room.
            match bridge.homeserver.display_name(&puppet).await {
                Ok(Some(shown)) if shown == wanted => return Ok(()),
                Ok(_) => {}
                Err(e) if e.errcode() == Some("M_NOT_FOUND") => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            bridge.homeserver.set_display_name(&puppet, &wanted).await?;
            Ok(())
        }
    }
}

/// Makes the portal of a conversation opened from gadka: the local member's puppet
/// creates a direct room and invites the Matrix member. Nothing when the
/// conversation has a portal already (the Matrix user invited the puppet first). A
/// room the puppet made for it before, whose id was never recorded (the bridge
/// stopped in between), becomes the portal instead of a second room.
async fn make_portal(
    bridge: &Bridge,
    conversation_id: i64,
    local_id: i64,
    matrix_id: i64,
) -> Result<(), CarryError> {
    let _portals = bridge.portals.lock().await;
    if bridge.store.portal_room(conversation_id).await?.is_some() {
        return Ok(());
    }
    let peer = bridge
        .store
        .user(matrix_id)
        .await?
        .and_then(|user| user.matrix_id)
        .ok_or_else(|| CarryError::Void(format!("user {matrix_id} is not on Matrix")))?;
    let peer = OwnedUserId::try_from(peer)
        .map_err(|e| CarryError::Void(format!("a Matrix user without a Matrix ID: {e}")))?;
    let puppet = puppet(bridge, local_id).await?;
    bridge.ensure_puppet(&puppet).await.map_err(|e| match e {
        PuppetError::Store(e) => CarryError::Store(e),
        PuppetError::Homeserver(e) => CarryError::Homeserver(e),
    })?;
    // A room made just before the bridge stopped, and never recorded, is taken up
    // rather than made twice: the peer would see two invites.
    let room = match bridge.homeserver.find_dm(&puppet, conversation_id).await? {
        Some(room) => room,
        None => {
            bridge
                .homeserver
                .create_dm(&puppet, &peer, conversation_id)
                .await?
        }
    };
    bridge
        .store
        .set_portal(
            conversation_id,
            room.as_str(),
            chrono::Utc::now().timestamp_millis(),
        )
        .await?;
    tracing::info!(%room, conversation_id, "a portal opened from gadka");
    Ok(())
}

/// The portal room of a conversation.
async fn portal(bridge: &Bridge, conversation_id: i64) -> Result<OwnedRoomId, CarryError> {
    let room = bridge
        .store
        .portal_room(conversation_id)
        .await?
        .ok_or_else(|| {
            CarryError::Void(format!("conversation {conversation_id} has no portal room"))
        })?;
    OwnedRoomId::try_from(room)
        .map_err(|e| CarryError::Void(format!("a portal that is no room id: {e}")))
}

/// The puppet of a local user.
async fn puppet(bridge: &Bridge, user_id: i64) -> Result<OwnedUserId, CarryError> {
    let user = bridge
        .store
        .user(user_id)
        .await?
        .ok_or_else(|| CarryError::Void(format!("no user {user_id}")))?;
    bridge
        .settings
        .puppet_id(&user.username)
        .map_err(|e| CarryError::Void(format!("no puppet for {}: {e}", user.username)))
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

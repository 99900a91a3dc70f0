//! The stream of committed changes: what the message engine tells its subscribers
//! after each commit, in commit order.
//!
//! Two ways to listen, for two kinds of listener:
//! - a [`Subscriber`] is called by the engine's publisher right after the commit, in
//!   commit order; it must never wait (the hub only queues frames on bounded queues);
//! - [`super::Engine::subscribe`] hands out a bounded broadcast receiver for listeners
//!   that do slow work (the Matrix bridge, a NATS link); one that falls behind is told
//!   it lagged and catches up from the database, so it never slows the writer.
//!
//! A [`TxnHook`] adds rows to the very transaction that commits the change: the
//! bridge's outbox row commits with the message or not at all.

use std::{future::Future, pin::Pin, sync::Arc};

use serde::{Deserialize, Serialize};

use crate::chat::views::Posted;
use crate::{
    hub::ConnectionId,
    ids::{ConversationId, Pair, Position, Seq, UserId},
    store::{BatchWriter, OutboxEntry, StoreError},
};

/// A change the engine committed. All but a new conversation have a position, and a
/// batch's events are in position order. Serialised for the other nodes (cluster
/// mode), without the socket it came from, which only this node knows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Committed {
    /// A new message (never a replayed duplicate).
    Message {
        message: Arc<Posted>,
        recipient_id: UserId,
        /// The socket it came from, which is answered with `sent` instead.
        #[serde(skip)]
        origin: Option<ConnectionId>,
    },
    /// A member's read marker moved forward.
    Marker {
        conversation_id: ConversationId,
        user_id: UserId,
        peer_id: UserId,
        up_to_seq: Seq,
        #[serde(skip)]
        origin: Option<ConnectionId>,
        pos: Position,
    },
    /// A user's display name changed.
    Profile {
        user_id: UserId,
        display_name: String,
        pos: Position,
    },
    /// The sender edited a message: the message as it is now.
    Edited {
        message: Arc<Posted>,
        peer_id: UserId,
        pos: Position,
    },
    /// The sender deleted a message: its text is gone.
    Deleted {
        conversation_id: ConversationId,
        seq: Seq,
        sender_id: UserId,
        peer_id: UserId,
        /// The peer had not read it.
        was_unread: bool,
        pos: Position,
    },
    /// A member added (`on`) or took back a reaction.
    Reaction {
        conversation_id: ConversationId,
        seq: Seq,
        /// Who reacted.
        user_id: UserId,
        peer_id: UserId,
        key: String,
        on: bool,
        pos: Position,
    },
    /// A direct conversation was created.
    Conversation {
        conversation_id: ConversationId,
        members: Pair,
    },
}

impl Committed {
    /// Where it stands in the order of commits; `None` for a new conversation, which
    /// is not replayed (its first message and markers are).
    pub fn position(&self) -> Option<Position> {
        match self {
            Self::Message { message, .. } => Some(message.id.position()),
            Self::Marker { pos, .. }
            | Self::Profile { pos, .. }
            | Self::Edited { pos, .. }
            | Self::Deleted { pos, .. }
            | Self::Reaction { pos, .. } => Some(*pos),
            Self::Conversation { .. } => None,
        }
    }
}

/// Hears every commit, inline on the writer, in commit order. Must never wait.
pub trait Subscriber: Send + Sync + 'static {
    fn committed(&self, events: &[Committed]);
}

/// Adds rows to the transaction that commits an event.
pub trait TxnHook: Send + Sync + 'static {
    /// Reads, once per batch and before [`TxnHook::rows`] is called for its events,
    /// what the hook must know of them and does not yet (a user another node made).
    /// An error fails the batch, as any of its statements would.
    fn prepare(&self, _events: &[Committed], _db: &mut dyn BatchWriter) -> Result<(), StoreError> {
        Ok(())
    }

    /// Pushes the rows `event` needs onto `rows`; called before the commit.
    fn rows(&self, event: &Committed, rows: &mut Vec<OutboxEntry>);
}

/// Where several nodes write one database (cluster mode): the link that tells the
/// other nodes of each batch, and holds a batch's events and answers back until every
/// batch committed before it, by any node, went out on this node. Batches commit one
/// after another across nodes (`store::BatchWriter::turn`), so this keeps every
/// socket's view in commit order, as one node does by itself.
pub trait BatchOrder: Send + Sync + 'static {
    /// The batch numbered `turn` committed here: tell the other nodes, at once.
    fn announce(&self, turn: i64, events: &[Committed]);

    /// Resolves when the batches before `turn` went out on this node (or were given
    /// up on: see the implementation).
    fn my_turn(&self, turn: i64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;

    /// This node's batch `turn` went out: the ones after it may follow.
    fn done(&self, turn: i64);
}

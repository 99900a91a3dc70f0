//! What goes from gadka to Matrix: rows committed with the change they carry, then
//! carried out in order by one worker.
//!
//! [`OutboxHook`] is a [`TxnHook`](crate::chat::committed::TxnHook): inside the writer's transaction it adds a row for
//! each message to a Matrix user, so the row commits with the message or not at all,
//! and a send never waits for the homeserver. [`drain`] sends the rows in id order
//! per room (and per user, for names), rooms side by side, each with its row id as
//! the Matrix `txnId`, so a retry after a failure or a restart never duplicates; a
//! homeserver that is away is retried with backoff, and the rows wait in the
//! database meanwhile. A room whose calls keep failing holds up only itself. A row
//! the homeserver refuses for good is dropped; when that leaves a conversation
//! without its portal room, the gadka user is told in the conversation.
//!
//! - `hook.rs`: the hook that adds the rows inside the writer's transaction;
//! - `lanes.rs`: the one worker that reads them and runs them lane by lane;
//! - `carry.rs`: what each row does on Matrix;
//! - `notice.rs`: what the gadka user is told when a row is given up on.

mod carry;
mod files;
mod hook;
mod lanes;
mod notice;

use serde::{Deserialize, Serialize};

pub use hook::OutboxHook;
pub use lanes::drain;

use crate::{
    ids::{ConversationId, UserId},
    store::{OutboxEntry, OutboxRow},
};

/// The outbox topic of the bridge's rows.
pub const TOPIC: &str = "matrix";

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
        /// The `seq` of the message it replies to (rows written before replies have
        /// none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<i64>,
        /// The upload it carries (`body` is then its caption).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_id: Option<String>,
    },
    /// A gadka user edited their message: `m.replace` of its event.
    Edit {
        conversation_id: i64,
        seq: i64,
        sender_id: i64,
        body: String,
        /// The upload the message carries: the new body is its caption, and the
        /// replacement keeps the file (a text one would turn a photo into words).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_id: Option<String>,
    },
    /// A gadka user deleted their message: the redaction of its event.
    Redact {
        conversation_id: i64,
        seq: i64,
        sender_id: i64,
    },
    /// A gadka user added (`on`) or took back a reaction: an `m.reaction`, or the
    /// redaction of the one sent before.
    React {
        conversation_id: i64,
        seq: i64,
        user_id: i64,
        key: String,
        on: bool,
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
    /// An admin deactivated a gadka user: their puppet leaves the conversation's room,
    /// after what was queued for that room before. Written by the deactivation's own
    /// transaction (`store::Store::deactivate_user`), not by the hook.
    Leave { conversation_id: i64, user_id: i64 },
}

/// The outbox row that has `user_id`'s puppet leave the room of `conversation_id`.
pub fn leave_row(conversation_id: ConversationId, user_id: UserId) -> OutboxEntry {
    let leave = Outgoing::Leave {
        conversation_id: conversation_id.get(),
        user_id: user_id.get(),
    };
    OutboxEntry {
        topic: TOPIC,
        // Two integers always encode; the fallback is never written.
        payload: serde_json::to_string(&leave).unwrap_or_default(),
    }
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

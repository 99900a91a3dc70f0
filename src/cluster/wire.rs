//! What nodes say to each other over NATS: JSON on three subjects, each message
//! naming the node that sent it.

use serde::{Deserialize, Serialize};

use crate::{chat::committed::Committed, ids::UserId};

/// A committed batch, in the order of every node's batches.
pub const BATCHES: &str = "gadka.batch";
/// A frame for some users' sockets that is not a change (typing, unread, a new name).
pub const FRAMES: &str = "gadka.frame";
/// Which users each node holds sockets of.
pub const PRESENCE: &str = "gadka.presence";

#[derive(Debug, Serialize, Deserialize)]
pub struct Batch {
    pub node: String,
    /// Its number (`stream_head`): the batch before it is `turn - 1`.
    pub turn: i64,
    pub events: Vec<Committed>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Frame {
    pub node: String,
    /// The last batch that had gone out on the sending node when it sent this: the
    /// frame goes out after that batch on every node (an unread summary after the
    /// read it follows).
    pub after: i64,
    pub recipients: Vec<UserId>,
    pub text: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Presence {
    /// A user's first socket on the node opened, or their last one closed.
    Change {
        node: String,
        user_id: UserId,
        online: bool,
    },
    /// Every user the node holds a socket of, each second: it repairs what a lost
    /// message left wrong, and its absence says the node is gone.
    Heartbeat { node: String, users: Vec<UserId> },
}

//! What the store hands back: plain rows, so that nothing outside `store/` depends on
//! SeaORM's entity types.

use entity::{conversation, message, user};

use super::ListKey;
use crate::ids::{ConversationId, MessageId, Seq, UserId};

/// A user's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: UserId,
    /// Lower-case; unique.
    pub username: String,
    pub display_name: String,
    /// argon2id PHC string; `None` for accounts that cannot log in here.
    pub password_hash: Option<String>,
    pub created_at: i64,
    /// The Matrix ID of a user who lives on Matrix; `None` for local users.
    pub matrix_id: Option<String>,
}

impl From<user::Model> for UserRow {
    fn from(u: user::Model) -> Self {
        Self {
            id: UserId::new(u.id),
            username: u.username,
            display_name: u.display_name,
            password_hash: u.password_hash,
            created_at: u.created_at,
            matrix_id: u.matrix_id,
        }
    }
}

/// A direct conversation's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversationRow {
    pub id: ConversationId,
    pub user_low: UserId,
    pub user_high: UserId,
    /// `seq` of the newest message (0: none).
    pub last_seq: Seq,
    pub created_at: i64,
    pub last_activity_at: i64,
}

impl From<conversation::Model> for ConversationRow {
    fn from(c: conversation::Model) -> Self {
        Self {
            id: ConversationId::new(c.id),
            user_low: UserId::new(c.user_low),
            user_high: UserId::new(c.user_high),
            last_seq: Seq::new(c.last_seq),
            created_at: c.created_at,
            last_activity_at: c.last_activity_at,
        }
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub seq: Seq,
    pub sender_id: UserId,
    pub body: String,
    pub created_at: i64,
    pub txn_id: Option<String>,
}

impl From<message::Model> for MessageRow {
    fn from(m: message::Model) -> Self {
        Self {
            id: MessageId::new(m.id),
            conversation_id: ConversationId::new(m.conversation_id),
            seq: Seq::new(m.seq),
            sender_id: UserId::new(m.sender_id),
            body: m.body,
            created_at: m.created_at,
            txn_id: m.txn_id,
        }
    }
}

/// One of my conversations as the list shows it: the conversation, my read marker,
/// the other member and their marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConversationOfUser {
    pub conversation: ConversationRow,
    pub my_last_read_seq: Seq,
    pub peer_id: UserId,
    pub peer_last_read_seq: Seq,
}

impl ConversationOfUser {
    /// Its place in the conversation list.
    pub fn list_key(&self) -> ListKey {
        ListKey {
            last_activity_at: self.conversation.last_activity_at,
            id: self.conversation.id,
        }
    }
}

//! What the store hands back: plain rows, so that nothing outside `store/` depends on
//! SeaORM's entity types.

use entity::{conversation, message, user};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ListKey;
use crate::ids::{ConversationId, MessageId, Position, Seq, UserId};

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
    /// When an admin deactivated the account; `None` while it is active.
    pub deactivated_at: Option<i64>,
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
            deactivated_at: u.deactivated_at,
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
    pub kind: MessageKind,
    /// The `seq` of the message this one replies to.
    pub reply_to: Option<Seq>,
    /// Unix ms of the last edit.
    pub edited_at: Option<i64>,
    /// Unix ms of the delete (the body is empty then).
    pub deleted_at: Option<i64>,
    /// In the order each key first appeared.
    pub reactions: Vec<Reaction>,
    /// The file it carries.
    pub attachment: Option<Attachment>,
}

/// The file a message carries, as the API shows it (and `message.attachment` keeps it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    /// The upload's id: `GET /api/media/{id}` serves it.
    pub id: String,
    /// The file name its uploader gave.
    pub name: String,
    /// Taken from the file's bytes, not from the uploader's word.
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// Pixels, for an image; `null` otherwise.
    #[schema(required = true)]
    pub width: Option<u32>,
    #[schema(required = true)]
    pub height: Option<u32>,
}

/// `message.attachment` as stored: JSON, `NULL` for none.
pub fn encode_attachment(attachment: Option<&Attachment>) -> Option<String> {
    attachment.and_then(|a| serde_json::to_string(a).ok())
}

/// `message.attachment` as read back; unreadable JSON reads as none, and is logged.
pub fn decode_attachment(stored: Option<&str>) -> Option<Attachment> {
    serde_json::from_str(stored?)
        .inspect_err(|e| tracing::error!(error = %e, "a message's attachment is unreadable"))
        .ok()
}

/// One reaction key on a message and who reacted with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reaction {
    /// Short text, in practice an emoji.
    pub key: String,
    /// Who reacted with it, in the order they did.
    #[schema(value_type = Vec<i64>)]
    pub user_ids: Vec<UserId>,
}

/// `message.reactions` as stored: JSON, `NULL` for none.
pub fn encode_reactions(reactions: &[Reaction]) -> Option<String> {
    if reactions.is_empty() {
        return None;
    }
    serde_json::to_string(reactions).ok()
}

/// `message.reactions` as read back. Unreadable JSON (only a bug or a hand edit could
/// write it) reads as no reactions, and is logged, so the message still shows.
pub fn decode_reactions(stored: Option<&str>) -> Vec<Reaction> {
    let Some(json) = stored else {
        return Vec::new();
    };
    serde_json::from_str(json).unwrap_or_else(|e| {
        tracing::error!(error = %e, "a message's reactions are unreadable");
        Vec::new()
    })
}

/// What a logged change is (`change_log.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Edit,
    Delete,
    ReactionOn,
    ReactionOff,
    /// A read marker moved; `seq` is the new marker.
    Read,
    /// A display name was set; no conversation.
    Profile,
}

impl ChangeKind {
    pub const fn stored(self) -> i16 {
        match self {
            Self::Edit => 1,
            Self::Delete => 2,
            Self::ReactionOn => 3,
            Self::ReactionOff => 4,
            Self::Read => 5,
            Self::Profile => 6,
        }
    }

    /// `None` for a kind this version does not know (written by a newer one): a
    /// replay leaves it out.
    pub const fn from_stored(value: i16) -> Option<Self> {
        Some(match value {
            1 => Self::Edit,
            2 => Self::Delete,
            3 => Self::ReactionOn,
            4 => Self::ReactionOff,
            5 => Self::Read,
            6 => Self::Profile,
            _ => return None,
        })
    }
}

/// A row of `change_log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    pub pos: Position,
    pub conversation_id: Option<ConversationId>,
    pub seq: Option<Seq>,
    pub kind: ChangeKind,
    pub user_id: UserId,
    pub key: Option<String>,
}

/// What a message is: what a person wrote, or a notice the Matrix bridge wrote into
/// the conversation. A notice is stored as a message so that it has its place (`seq`)
/// among the others, comes with them everywhere (history, `hello`, `resume`, the
/// live `message` event) and is unread until read, like any message; its `kind`
/// keeps it from passing for its sender's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Written by its sender.
    #[default]
    Message,
    /// Written by the Matrix bridge about the conversation (a room it could not make,
    /// a message it could not deliver); its sender is the conversation's Matrix
    /// member, on whose side the bridge speaks.
    Notice,
}

impl MessageKind {
    /// The integer stored in `message.kind`.
    pub const fn stored(self) -> i16 {
        match self {
            Self::Message => 0,
            Self::Notice => 1,
        }
    }

    /// The kind `message.kind` holds. A value this version does not know (a row from a
    /// newer one, after a downgrade) reads as a plain message: its text stays readable.
    pub const fn from_stored(value: i16) -> Self {
        match value {
            1 => Self::Notice,
            _ => Self::Message,
        }
    }

    /// Whether it is what a person wrote (the JSON leaves `kind` out then).
    pub fn is_message(&self) -> bool {
        *self == Self::Message
    }
}

impl rusqlite::ToSql for MessageKind {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(i64::from(self.stored())))
    }
}

impl rusqlite::types::FromSql for MessageKind {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        i64::column_result(value).map(|v| Self::from_stored(i16::try_from(v).unwrap_or(0)))
    }
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
            kind: MessageKind::from_stored(m.kind),
            reply_to: m.reply_to.map(Seq::new),
            edited_at: m.edited_at,
            deleted_at: m.deleted_at,
            reactions: decode_reactions(m.reactions.as_deref()),
            attachment: decode_attachment(m.attachment.as_deref()),
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

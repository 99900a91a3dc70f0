//! What the chat shows: the shapes every transport sends, named as the API names them.

use std::{ops::Deref, sync::OnceLock};

use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::{
    ids::{ConversationId, MessageId, Position, Seq, UserId},
    store::{Attachment, MessageKind, MessageRow, Reaction, UserRow},
};

/// A user as others see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    /// The Matrix ID of a user who lives on Matrix (reached through the bridge, and
    /// unable to log in here); `null` for a local user.
    #[schema(required = true)]
    pub matrix_id: Option<String>,
}

impl From<UserRow> for User {
    fn from(u: UserRow) -> Self {
        Self {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            matrix_id: u.matrix_id,
        }
    }
}

/// A user's profile as the viewer sees it: the user (both flat and as `user`, so
/// clients that read every user-bearing answer as `{user}` work too) and the
/// conversation the viewer already has with them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Profile {
    #[schema(value_type = i64)]
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    /// As in `user`.
    #[schema(required = true)]
    pub matrix_id: Option<String>,
    pub user: User,
    /// The viewer's conversation with this user, if they have one.
    #[schema(value_type = Option<i64>)]
    pub conversation_id: Option<ConversationId>,
}

/// One message. Deserialised only from another node (cluster mode), which wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    /// Global and increasing across all conversations.
    #[schema(value_type = i64)]
    pub id: MessageId,
    #[schema(value_type = i64)]
    pub conversation_id: ConversationId,
    /// Increasing from 1 inside the conversation.
    #[schema(value_type = i64)]
    pub seq: Seq,
    #[schema(value_type = i64)]
    pub sender_id: UserId,
    pub body: String,
    /// RFC 3339 with milliseconds, UTC.
    pub created_at: String,
    /// Whether the recipient's read marker has passed this message.
    pub read: bool,
    /// The sender's idempotency key, echoed so the sender's devices can match it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txn_id: Option<String>,
    /// Absent for what a person wrote. `notice`: the Matrix bridge's words about this
    /// conversation (a room it could not make on Matrix, a message it could not
    /// deliver there), not the sender's; its sender is the conversation's Matrix
    /// member, on whose side the bridge speaks. Unread until read, like any message.
    #[serde(default, skip_serializing_if = "MessageKind::is_message")]
    #[schema(required = false)]
    pub kind: MessageKind,
    /// The `seq` of the message this one replies to, in the same conversation.
    #[schema(value_type = Option<i64>, required = true)]
    pub reply_to: Option<Seq>,
    /// When the sender last edited it (RFC 3339 with milliseconds, UTC).
    #[schema(required = true)]
    pub edited_at: Option<String>,
    /// Deleted by its sender: the body is `""` and nobody can read what it said.
    pub deleted: bool,
    /// Each key in the order it first appeared, with who reacted with it.
    pub reactions: Vec<Reaction>,
    /// The file it carries (`GET /api/media/{id}`); the body is then its caption,
    /// perhaps empty. `null` for none, and once the message is deleted.
    #[schema(required = true)]
    pub attachment: Option<Attachment>,
}

impl Message {
    /// `recipient_marker` is the read marker of the member who did not send it.
    pub(crate) fn from_row(m: MessageRow, recipient_marker: Seq) -> Self {
        Self {
            read: m.seq <= recipient_marker,
            id: m.id,
            conversation_id: m.conversation_id,
            seq: m.seq,
            sender_id: m.sender_id,
            body: m.body,
            created_at: rfc3339_millis(m.created_at),
            txn_id: m.txn_id,
            kind: m.kind,
            reply_to: m.reply_to,
            edited_at: m.edited_at.map(rfc3339_millis),
            deleted: m.deleted_at.is_some(),
            reactions: m.reactions,
            attachment: m.attachment,
        }
    }
}

/// A message just committed, shared by its event (the recipient's `message` frame) and
/// its sender's answer (`sent`): its JSON is written once, by whichever needs it first,
/// and both frames embed the same text.
#[derive(Debug, Clone)]
pub struct Posted {
    message: Message,
    json: OnceLock<Box<RawValue>>,
}

impl Posted {
    pub fn new(message: Message) -> Self {
        Self {
            message,
            json: OnceLock::new(),
        }
    }

    /// The message as JSON.
    pub fn json(&self) -> &RawValue {
        self.json.get_or_init(|| {
            serde_json::value::to_raw_value(&self.message).unwrap_or_else(|e| {
                // Only a bug could make this plain struct fail to serialise.
                tracing::error!(error = %e, "serialising a message");
                RawValue::NULL.to_owned()
            })
        })
    }

    /// The message itself, copied only if someone else still shares it.
    pub fn into_message(shared: std::sync::Arc<Self>) -> Message {
        std::sync::Arc::unwrap_or_clone(shared).message
    }
}

/// Between nodes a posted message travels as its JSON (the `Serialize` below).
impl<'de> Deserialize<'de> for Posted {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Message::deserialize(deserializer).map(Self::new)
    }
}

impl Deref for Posted {
    type Target = Message;

    fn deref(&self) -> &Message {
        &self.message
    }
}

impl PartialEq for Posted {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl Serialize for Posted {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json().serialize(serializer)
    }
}

/// A conversation as one member sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Conversation {
    #[schema(value_type = i64)]
    pub id: ConversationId,
    /// The other member.
    pub peer: User,
    pub created_at: String,
    /// Creation or the newest message, whichever is later.
    pub last_activity_at: String,
    /// `seq` of the newest message (0: none yet).
    #[schema(value_type = i64)]
    pub last_seq: Seq,
    /// My read marker.
    #[schema(value_type = i64)]
    pub last_read_seq: Seq,
    /// The peer's read marker: my messages up to it are read.
    #[schema(value_type = i64)]
    pub peer_last_read_seq: Seq,
    /// Messages from the peer past my marker.
    pub unread: u64,
    /// The newest messages, oldest first.
    pub messages: Vec<Message>,
}

/// Who has written to me that I have not read, and how much.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UnreadSummary {
    pub total: u64,
    /// The sender with the newest unread message first.
    pub senders: Vec<SenderUnread>,
}

/// Unread messages from one sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SenderUnread {
    pub user: User,
    pub count: u64,
}

/// A member's read marker after a `read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReadMarker {
    #[schema(value_type = i64)]
    pub conversation_id: ConversationId,
    #[schema(value_type = i64)]
    pub user_id: UserId,
    /// The marker now: every message with `seq <= last_read_seq` is read.
    #[schema(value_type = i64)]
    pub last_read_seq: Seq,
    /// Whether this call moved it (a stale read changes nothing).
    pub moved: bool,
    /// My unread summary after this read.
    pub unread: UnreadSummary,
}

/// What a socket gets first: the state it starts from (F2, F3a).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Hello {
    pub me: User,
    /// My latest conversations, with their newest messages.
    pub conversations: Vec<Conversation>,
    pub unread: UnreadSummary,
    /// Those of my peers who are online now.
    #[schema(value_type = Vec<i64>)]
    pub online: Vec<UserId>,
    /// The newest message of my conversations in this snapshot (0: none).
    #[schema(value_type = i64)]
    pub last_message_id: MessageId,
    /// Everything committed up to this position is in this snapshot, and every later
    /// change reaches this socket live: the cursor to keep (raised by each event's
    /// `pos` and each message's `id`) for a later `resume {since}`.
    #[schema(value_type = i64)]
    pub position: Position,
}

/// Unix milliseconds as RFC 3339 with milliseconds (`2026-11-25T10:11:40.123Z`).
pub fn rfc3339_millis(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

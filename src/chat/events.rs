//! Events: what the chat tells connected clients after a change is committed.
//!
//! Each event is serialised once, into the JSON frame the socket sends, and that one
//! buffer is shared by all its recipients.

use std::sync::Arc;

use serde::Serialize;

use super::views::{Posted, UnreadSummary, User};
use crate::{
    hub::Delivery,
    ids::{ConversationId, Position, Seq, UserId},
};

/// A change some connected clients must hear about.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A new message in one of the recipient's conversations.
    Message { message: Arc<Posted> },
    /// A member's read marker moved (after it was committed).
    Receipt {
        conversation_id: ConversationId,
        user_id: UserId,
        up_to_seq: Seq,
        pos: Position,
    },
    /// The sender edited a message: the message as it is now.
    MessageEdited { message: Arc<Posted>, pos: Position },
    /// The sender deleted a message: it keeps its place, its text is gone.
    MessageDeleted {
        conversation_id: ConversationId,
        seq: Seq,
        pos: Position,
    },
    /// A member added (`on`) or took back a reaction.
    Reaction {
        conversation_id: ConversationId,
        seq: Seq,
        user_id: UserId,
        key: String,
        on: bool,
        pos: Position,
    },
    /// The recipient's unread summary changed.
    Unread(UnreadSummary),
    /// A member started or stopped typing; not stored.
    Typing {
        conversation_id: ConversationId,
        user_id: UserId,
        typing: bool,
    },
    /// A user with whom the recipient shares a conversation came online or went offline.
    Presence { user_id: UserId, online: bool },
    /// A user with whom the recipient shares a conversation (or the recipient) changed
    /// their profile: the user as they are now. `pos` when it is replayed.
    Profile {
        user: User,
        #[serde(skip_serializing_if = "Option::is_none")]
        pos: Option<Position>,
    },
}

impl Event {
    /// The event as a frame, ready to hand to any number of sockets.
    pub fn delivery(&self) -> Delivery {
        let text = serde_json::to_string(self).unwrap_or_else(|e| {
            // Only a bug could make these plain structs fail to serialise.
            tracing::error!(error = %e, "serialising an event");
            String::from(
                "{\"type\":\"error\",\"code\":\"internal\",\"message\":\"internal error\"}",
            )
        });
        Delivery {
            text: text.into(),
            position: self.position(),
        }
    }

    /// Where the change it tells of stands in the order of commits; `None` for what is
    /// not stored (typing, presence, an unread summary).
    pub fn position(&self) -> Option<Position> {
        match self {
            Self::Message { message } => Some(message.id.position()),
            Self::Receipt { pos, .. }
            | Self::MessageEdited { pos, .. }
            | Self::MessageDeleted { pos, .. }
            | Self::Reaction { pos, .. } => Some(*pos),
            Self::Profile { pos, .. } => *pos,
            Self::Unread(_) | Self::Typing { .. } | Self::Presence { .. } => None,
        }
    }
}

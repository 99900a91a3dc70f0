//! Events: what the chat tells connected clients after a change is committed.
//!
//! Each event is serialised once, into the JSON frame the socket sends, and that one
//! buffer is shared by all its recipients.

use std::sync::Arc;

use serde::Serialize;

use super::views::{Posted, UnreadSummary, User};
use crate::{
    hub::Delivery,
    ids::{ConversationId, Seq, UserId},
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
    /// their profile: the user as they are now.
    Profile { user: User },
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
            message_id: match self {
                Self::Message { message } => Some(message.id),
                _ => None,
            },
        }
    }
}

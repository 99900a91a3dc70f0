//! The outbox's [`TxnHook`]: the rows that go into a batch's own transaction.

use std::{collections::HashSet, sync::RwLock};

use super::{Outgoing, TOPIC};
use crate::{
    chat::committed::{Committed, TxnHook},
    ids::UserId,
    store::OutboxEntry,
};

/// Adds an outbox row for every message to a user who lives on Matrix and every edit,
/// delete and reaction of a local user in a conversation with one, for every read
/// marker a local user moves over their messages, and for every local user's new
/// display name (their puppet's).
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
    pub(crate) fn is_matrix_user(&self, user_id: UserId) -> bool {
        self.matrix_users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&user_id.get())
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
                conversation_id: message.conversation_id.get(),
                seq: message.seq.get(),
                sender_id: message.sender_id.get(),
                body: message.body.clone(),
                reply_to: message.reply_to.map(|seq| seq.get()),
                media_id: message.attachment.as_ref().map(|a| a.id.clone()),
            },
            // A Matrix user's own edits, deletes and reactions came from Matrix.
            Committed::Edited {
                message, peer_id, ..
            } if self.is_matrix_user(*peer_id) && !self.is_matrix_user(message.sender_id) => {
                Outgoing::Edit {
                    conversation_id: message.conversation_id.get(),
                    seq: message.seq.get(),
                    sender_id: message.sender_id.get(),
                    body: message.body.clone(),
                    media_id: message.attachment.as_ref().map(|a| a.id.clone()),
                }
            }
            Committed::Deleted {
                conversation_id,
                seq,
                sender_id,
                peer_id,
                ..
            } if self.is_matrix_user(*peer_id) && !self.is_matrix_user(*sender_id) => {
                Outgoing::Redact {
                    conversation_id: conversation_id.get(),
                    seq: seq.get(),
                    sender_id: sender_id.get(),
                }
            }
            Committed::Reaction {
                conversation_id,
                seq,
                user_id,
                peer_id,
                key,
                on,
                ..
            } if self.is_matrix_user(*peer_id) && !self.is_matrix_user(*user_id) => {
                Outgoing::React {
                    conversation_id: conversation_id.get(),
                    seq: seq.get(),
                    user_id: user_id.get(),
                    key: key.clone(),
                    on: *on,
                }
            }
            // A Matrix user's own marker came from Matrix: it is not sent back.
            Committed::Marker {
                conversation_id,
                user_id,
                peer_id,
                up_to_seq,
                ..
            } if self.is_matrix_user(*peer_id) && !self.is_matrix_user(*user_id) => {
                Outgoing::Receipt {
                    conversation_id: conversation_id.get(),
                    reader_id: user_id.get(),
                    peer_id: peer_id.get(),
                    up_to_seq: up_to_seq.get(),
                }
            }
            Committed::Conversation {
                conversation_id,
                members,
            } if self.is_matrix_user(members.low()) != self.is_matrix_user(members.high()) => {
                let (local_id, matrix_id) = if self.is_matrix_user(members.low()) {
                    (members.high(), members.low())
                } else {
                    (members.low(), members.high())
                };
                Outgoing::Portal {
                    conversation_id: conversation_id.get(),
                    local_id: local_id.get(),
                    matrix_id: matrix_id.get(),
                }
            }
            // A Matrix user has no puppet: their new name came from Matrix.
            Committed::Profile {
                user_id,
                display_name,
                ..
            } if !self.is_matrix_user(*user_id) => Outgoing::Profile {
                user_id: user_id.get(),
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

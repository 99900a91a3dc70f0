//! The outbox's [`TxnHook`]: the rows that go into a batch's own transaction.

use std::{collections::HashMap, sync::RwLock};

use super::{Outgoing, TOPIC};
use crate::{
    chat::committed::{Committed, TxnHook},
    ids::UserId,
    store::{BatchWriter, OutboxEntry, StoreError},
};

/// Adds an outbox row for every message to a user who lives on Matrix and every edit,
/// delete and reaction of a local user in a conversation with one, for every read
/// marker a local user moves over their messages, and for every local user's new
/// display name (their puppet's).
///
/// Whether a user lives on Matrix is fixed when the user is made, so it is learned
/// once per user and process: the Matrix users at start, then each user the batches
/// name that this node has not heard of, read in the batch ([`TxnHook::prepare`]). A
/// node of a cluster thus writes the rows for a Matrix user another node made.
pub struct OutboxHook {
    /// Every user this node has heard of: `true` for those who live on Matrix.
    lives_on_matrix: RwLock<HashMap<i64, bool>>,
}

impl OutboxHook {
    /// A hook that knows these Matrix users.
    pub fn new(matrix_users: impl IntoIterator<Item = i64>) -> Self {
        Self {
            lives_on_matrix: RwLock::new(matrix_users.into_iter().map(|id| (id, true)).collect()),
        }
    }

    /// Whether each of `users` lives on Matrix, as just read from the database.
    pub(crate) fn learn(&self, users: impl IntoIterator<Item = (UserId, bool)>) {
        let mut known = self
            .lives_on_matrix
            .write()
            .unwrap_or_else(|e| e.into_inner());
        known.extend(users.into_iter().map(|(id, matrix)| (id.get(), matrix)));
    }

    /// Whether `user_id` lives on Matrix; `None` for a user this node has not heard of.
    pub(crate) fn lives_on_matrix(&self, user_id: UserId) -> Option<bool> {
        self.lives_on_matrix
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&user_id.get())
            .copied()
    }

    /// Whether `user_id` lives on Matrix, for the rows of an event [`TxnHook::prepare`]
    /// has read the users of.
    fn is_matrix_user(&self, user_id: UserId) -> bool {
        self.lives_on_matrix(user_id).unwrap_or(false)
    }
}

/// The users an event's rows depend on.
fn users_of(event: &Committed) -> [Option<UserId>; 2] {
    match event {
        Committed::Message { recipient_id, .. } => [Some(*recipient_id), None],
        Committed::Edited {
            message, peer_id, ..
        } => [Some(*peer_id), Some(message.sender_id)],
        Committed::Deleted {
            sender_id, peer_id, ..
        } => [Some(*peer_id), Some(*sender_id)],
        Committed::Reaction {
            user_id, peer_id, ..
        }
        | Committed::Marker {
            user_id, peer_id, ..
        } => [Some(*peer_id), Some(*user_id)],
        Committed::Conversation { members, .. } => [Some(members.low()), Some(members.high())],
        Committed::Profile { user_id, .. } => [Some(*user_id), None],
    }
}

impl TxnHook for OutboxHook {
    fn prepare(&self, events: &[Committed], db: &mut dyn BatchWriter) -> Result<(), StoreError> {
        let mut unknown: Vec<UserId> = events
            .iter()
            .flat_map(users_of)
            .flatten()
            .filter(|&id| self.lives_on_matrix(id).is_none())
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        unknown.sort_unstable();
        unknown.dedup();
        let matrix = db.matrix_users_among(&unknown)?;
        self.learn(unknown.into_iter().map(|id| (id, matrix.contains(&id))));
        Ok(())
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        config::Durability,
        ids::{ConversationId, Pair},
        store::{NewUser, Store},
    };

    /// A Matrix user made after the hook started (by another node's bridge, say) is
    /// read from the database in the batch that first names them.
    #[tokio::test]
    async fn a_matrix_user_made_elsewhere_is_learned_in_the_batch() {
        let (_dir, store) = Store::temporary(Durability::Full).await;
        let hook = OutboxHook::new([]);
        let ann = store
            .create_user(NewUser {
                username: "ann",
                display_name: "Ann",
                password_hash: "",
                created_at: 0,
            })
            .await
            .expect("insert")
            .expect("a new user")
            .id;
        let alice = store
            .matrix_user("@alice:hs.example", "Alice", 0)
            .await
            .expect("a Matrix user")
            .id;
        let opened = Committed::Conversation {
            conversation_id: ConversationId::new(1),
            members: Pair::new(ann, alice).expect("two users"),
        };
        let mut writer = store.batch_writer().expect("a batch writer");
        hook.prepare(std::slice::from_ref(&opened), &mut *writer)
            .expect("the users read");
        assert_eq!(hook.lives_on_matrix(alice), Some(true));
        assert_eq!(hook.lives_on_matrix(ann), Some(false));

        let mut rows = Vec::new();
        hook.rows(&opened, &mut rows);
        let portal: serde_json::Value = serde_json::from_str(&rows[0].payload).expect("a JSON row");
        assert_eq!(rows.len(), 1);
        assert_eq!(portal["kind"], "portal");
        assert_eq!(portal["local_id"], ann.get());
        assert_eq!(portal["matrix_id"], alice.get());
    }
}

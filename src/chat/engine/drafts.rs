//! A batch's changes to messages and the changes waiting for their positions: the
//! rules of an edit, a delete and a reaction that need the stored message (read in the
//! batch's transaction), and each change's row of `change_log` with its event, once
//! the transaction has handed out its position.

use std::sync::Arc;

use super::{DeleteOutcome, committed::Committed, plan::MessageChange, transact::Done};
use crate::{
    chat::{
        ChatError,
        input::MAX_REACTION_KEYS,
        views::{Message, Posted},
    },
    hub::ConnectionId,
    ids::{ConversationId, Position, Seq, UserId},
    store::{BatchWriter, ChangeKind, NewChange, Reaction, StoreError},
};

/// A change of the batch waiting for its position, with what its event needs.
pub(super) enum Draft {
    Marker {
        conversation_id: ConversationId,
        user_id: UserId,
        peer_id: UserId,
        up_to_seq: Seq,
        origin: Option<ConnectionId>,
    },
    Profile {
        user_id: UserId,
        display_name: String,
    },
    Edited {
        message: Arc<Posted>,
        peer_id: UserId,
    },
    Deleted {
        conversation_id: ConversationId,
        seq: Seq,
        sender_id: UserId,
        peer_id: UserId,
        was_unread: bool,
    },
    Reaction {
        conversation_id: ConversationId,
        seq: Seq,
        user_id: UserId,
        peer_id: UserId,
        key: String,
        on: bool,
    },
}

impl Draft {
    /// Its row in `change_log` and its event, at `pos`.
    pub(super) fn place(self, pos: Position, now: i64) -> (NewChange, Committed) {
        let change = |conversation_id: Option<ConversationId>,
                      seq: Option<Seq>,
                      kind: ChangeKind,
                      user_id: UserId,
                      key: Option<String>| NewChange {
            pos,
            conversation_id,
            seq,
            kind,
            user_id,
            key,
            created_at: now,
        };
        match self {
            Self::Marker {
                conversation_id,
                user_id,
                peer_id,
                up_to_seq,
                origin,
            } => (
                change(
                    Some(conversation_id),
                    Some(up_to_seq),
                    ChangeKind::Read,
                    user_id,
                    None,
                ),
                Committed::Marker {
                    conversation_id,
                    user_id,
                    peer_id,
                    up_to_seq,
                    origin,
                    pos,
                },
            ),
            Self::Profile {
                user_id,
                display_name,
            } => (
                change(None, None, ChangeKind::Profile, user_id, None),
                Committed::Profile {
                    user_id,
                    display_name,
                    pos,
                },
            ),
            Self::Edited { message, peer_id } => (
                change(
                    Some(message.conversation_id),
                    Some(message.seq),
                    ChangeKind::Edit,
                    message.sender_id,
                    None,
                ),
                Committed::Edited {
                    message,
                    peer_id,
                    pos,
                },
            ),
            Self::Deleted {
                conversation_id,
                seq,
                sender_id,
                peer_id,
                was_unread,
            } => (
                change(
                    Some(conversation_id),
                    Some(seq),
                    ChangeKind::Delete,
                    sender_id,
                    None,
                ),
                Committed::Deleted {
                    conversation_id,
                    seq,
                    sender_id,
                    peer_id,
                    was_unread,
                    pos,
                },
            ),
            Self::Reaction {
                conversation_id,
                seq,
                user_id,
                peer_id,
                key,
                on,
            } => (
                change(
                    Some(conversation_id),
                    Some(seq),
                    if on {
                        ChangeKind::ReactionOn
                    } else {
                        ChangeKind::ReactionOff
                    },
                    user_id,
                    Some(key.clone()),
                ),
                Committed::Reaction {
                    conversation_id,
                    seq,
                    user_id,
                    peer_id,
                    key,
                    on,
                    pos,
                },
            ),
        }
    }
}

/// Who changes which message, and when.
pub(super) struct Changing {
    pub(super) conversation_id: ConversationId,
    pub(super) user_id: UserId,
    pub(super) peer_id: UserId,
    pub(super) seq: Seq,
    pub(super) now: i64,
}

/// An edit, delete or reaction: the rules that need the stored message, and the write.
/// A refusal writes nothing and is the command's answer; the batch goes on.
pub(super) fn change_message(
    db: &mut dyn BatchWriter,
    drafts: &mut Vec<Draft>,
    c: Changing,
    what: &MessageChange,
) -> Result<Done, StoreError> {
    let Some((mut row, recipient_marker)) = db.message_at(c.conversation_id, c.seq)? else {
        return Ok(Done::Refused(ChatError::NotFound("message")));
    };
    let deleted = row.deleted_at.is_some();
    let mut released = None;
    Ok(match what {
        MessageChange::Edit { .. } | MessageChange::Delete { .. } if row.sender_id != c.user_id => {
            Done::Refused(ChatError::NotYours)
        }
        MessageChange::Edit { .. } if deleted => Done::Refused(ChatError::MessageDeleted),
        MessageChange::Edit { body, .. } => {
            row.body.clone_from(body);
            row.edited_at = Some(c.now);
            db.update_message(&row)?;
            let message = Arc::new(Posted::new(Message::from_row(row, recipient_marker)));
            drafts.push(Draft::Edited {
                message: message.clone(),
                peer_id: c.peer_id,
            });
            Done::Edited(message)
        }
        MessageChange::Delete { .. } => {
            let was_unread = !deleted && row.seq > recipient_marker;
            if !deleted {
                row.body.clear();
                row.edited_at = None;
                row.deleted_at = Some(c.now);
                row.reactions.clear();
                released = row.attachment.take().map(|a| a.id);
                db.update_message(&row)?;
                drafts.push(Draft::Deleted {
                    conversation_id: c.conversation_id,
                    seq: c.seq,
                    sender_id: row.sender_id,
                    peer_id: c.peer_id,
                    was_unread,
                });
            }
            Done::Deleted(DeleteOutcome {
                peer_id: c.peer_id,
                was_unread,
                released_media: released,
            })
        }
        MessageChange::React { on: true, .. } if deleted => {
            Done::Refused(ChatError::MessageDeleted)
        }
        MessageChange::React { key, on, .. } => {
            match toggle(&mut row.reactions, key, c.user_id, *on) {
                Err(e) => Done::Refused(e),
                Ok(false) => Done::Reacted(false),
                Ok(true) => {
                    db.update_message(&row)?;
                    drafts.push(Draft::Reaction {
                        conversation_id: c.conversation_id,
                        seq: c.seq,
                        user_id: c.user_id,
                        peer_id: c.peer_id,
                        key: key.clone(),
                        on: *on,
                    });
                    Done::Reacted(true)
                }
            }
        }
    })
}

/// Adds (`on`) or takes back `user`'s `key` on a message's reactions, keeping each
/// key where it first appeared; `false` when that changes nothing (adding a key twice,
/// taking back one not there).
fn toggle(
    reactions: &mut Vec<Reaction>,
    key: &str,
    user: UserId,
    on: bool,
) -> Result<bool, ChatError> {
    let found = reactions.iter().position(|r| r.key == key);
    match (found, on) {
        (Some(i), true) => {
            if reactions[i].user_ids.contains(&user) {
                return Ok(false);
            }
            reactions[i].user_ids.push(user);
        }
        (None, true) => {
            if reactions.len() >= MAX_REACTION_KEYS {
                return Err(ChatError::TooManyReactions(MAX_REACTION_KEYS));
            }
            reactions.push(Reaction {
                key: key.to_owned(),
                user_ids: vec![user],
            });
        }
        (Some(i), false) => {
            let Some(at) = reactions[i].user_ids.iter().position(|u| *u == user) else {
                return Ok(false);
            };
            reactions[i].user_ids.remove(at);
            if reactions[i].user_ids.is_empty() {
                reactions.remove(i);
            }
        }
        (None, false) => return Ok(false),
    }
    Ok(true)
}

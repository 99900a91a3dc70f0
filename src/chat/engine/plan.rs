//! The plan: each command of a batch resolved to its conversation and checked against
//! the rules before the transaction begins, so a bad command fails alone and never its
//! batch. A send repeating an earlier send's `txn_id` in the same batch is planned as
//! that send's twin.

use std::collections::{HashMap, hash_map::Entry};

use super::{
    Command, DeleteReply, EditReply, GroupReply, OpenReply, ProfileReply, ReactReply, ReadReply,
    SendReply, SendTo, again,
    cache::{MemberCache, Target},
    lost,
};
use crate::{
    chat::ChatError,
    hub::ConnectionId,
    ids::{ConversationId, Seq, UserId},
    store::{Attachment, MessageKind},
};

/// A command checked and ready for the transaction.
pub(super) enum Planned {
    Send {
        target: Target,
        sender_id: UserId,
        recipient_id: UserId,
        body: String,
        txn_id: Option<String>,
        kind: MessageKind,
        reply_to: Option<Seq>,
        attachment: Option<Attachment>,
        origin: Option<ConnectionId>,
        reply: SendReply,
    },
    /// An edit, delete or reaction by a member of the conversation (the message and
    /// who may change it are checked in the transaction, which reads the message).
    Change {
        conversation_id: ConversationId,
        user_id: UserId,
        peer_id: UserId,
        seq: Seq,
        what: MessageChange,
    },
    /// Same sender and `txn_id` as an earlier send of this batch (its index).
    SameAs {
        first: usize,
        reply: SendReply,
    },
    Read {
        conversation_id: ConversationId,
        user_id: UserId,
        peer_id: UserId,
        up_to_seq: Option<Seq>,
        origin: Option<ConnectionId>,
        reply: ReadReply,
    },
    Open {
        target: Target,
        reply: OpenReply,
    },
    Profile {
        user_id: UserId,
        display_name: String,
        reply: ProfileReply,
    },
    /// A group's key, stored with the batch.
    GroupKey {
        key: String,
        reply: GroupReply,
    },
}

/// What a [`Planned::Change`] does to its message, with where its answer goes.
pub(super) enum MessageChange {
    Edit {
        body: String,
        reply: EditReply,
    },
    Delete {
        reply: DeleteReply,
    },
    React {
        key: String,
        on: bool,
        reply: ReactReply,
    },
}

impl MessageChange {
    fn fail(self, error: ChatError) {
        match self {
            Self::Edit { reply, .. } => drop(reply.send(Err(error))),
            Self::Delete { reply } => drop(reply.send(Err(error))),
            Self::React { reply, .. } => drop(reply.send(Err(error))),
        }
    }
}

/// Resolves each command's conversation and refuses what the rules refuse; the
/// refused are answered at once.
pub(super) fn plan(
    cache: &MemberCache,
    commands: Vec<Command>,
    missing_peers: &[UserId],
) -> Vec<Planned> {
    let mut planned = Vec::with_capacity(commands.len());
    let mut first_of_txn: HashMap<(UserId, String), usize> = HashMap::new();
    for command in commands {
        match command {
            Command::Send {
                sender_id,
                to,
                body,
                txn_id,
                kind,
                reply_to,
                attachment,
                origin,
                reply,
            } => {
                let resolved = match to {
                    SendTo::Conversation(id) => cache.member_of(id, sender_id),
                    SendTo::User(peer) => cache.pair_target(sender_id, peer, missing_peers),
                };
                let (target, recipient_id) = match resolved {
                    Ok(found) => found,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        continue;
                    }
                };
                if let Some(txn) = &txn_id {
                    match first_of_txn.entry((sender_id, txn.clone())) {
                        Entry::Occupied(first) => {
                            planned.push(Planned::SameAs {
                                first: *first.get(),
                                reply,
                            });
                            continue;
                        }
                        Entry::Vacant(slot) => {
                            slot.insert(planned.len());
                        }
                    }
                }
                planned.push(Planned::Send {
                    target,
                    sender_id,
                    recipient_id,
                    body,
                    txn_id,
                    kind,
                    reply_to,
                    attachment,
                    origin,
                    reply,
                });
            }
            Command::Edit {
                user_id,
                conversation_id,
                seq,
                body,
                reply,
            } => planned.extend(change(
                cache,
                user_id,
                conversation_id,
                seq,
                MessageChange::Edit { body, reply },
            )),
            Command::Delete {
                user_id,
                conversation_id,
                seq,
                reply,
            } => planned.extend(change(
                cache,
                user_id,
                conversation_id,
                seq,
                MessageChange::Delete { reply },
            )),
            Command::React {
                user_id,
                conversation_id,
                seq,
                key,
                on,
                reply,
            } => planned.extend(change(
                cache,
                user_id,
                conversation_id,
                seq,
                MessageChange::React { key, on, reply },
            )),
            Command::Read {
                user_id,
                conversation_id,
                up_to_seq,
                origin,
                reply,
            } => match cache.member_of(conversation_id, user_id) {
                Ok((_, peer_id)) => planned.push(Planned::Read {
                    conversation_id,
                    user_id,
                    peer_id,
                    up_to_seq,
                    origin,
                    reply,
                }),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Open {
                user_id,
                peer_id,
                reply,
            } => match cache.pair_target(user_id, peer_id, missing_peers) {
                Ok((target, _)) => planned.push(Planned::Open { target, reply }),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Profile {
                user_id,
                display_name,
                reply,
            } => planned.push(Planned::Profile {
                user_id,
                display_name,
                reply,
            }),
            Command::GroupKey { key, reply } => planned.push(Planned::GroupKey { key, reply }),
            // Opened by `unpack` before any batch; one that was not is refused.
            Command::Group { reply, .. } => {
                let _ = reply.send(Err(lost("a group reached the writer unopened")));
            }
        }
    }
    planned
}

/// A change to a message of a conversation `user_id` is in; refused (and answered)
/// here when they are not.
fn change(
    cache: &MemberCache,
    user_id: UserId,
    conversation_id: ConversationId,
    seq: Seq,
    what: MessageChange,
) -> Option<Planned> {
    match cache.member_of(conversation_id, user_id) {
        Ok((_, peer_id)) => Some(Planned::Change {
            conversation_id,
            user_id,
            peer_id,
            seq,
            what,
        }),
        Err(e) => {
            what.fail(e);
            None
        }
    }
}

impl Planned {
    pub(super) fn fail(self, error: &ChatError) {
        match self {
            Self::Change { what, .. } => what.fail(again(error)),
            Self::Send { reply, .. } | Self::SameAs { reply, .. } => {
                drop(reply.send(Err(again(error))))
            }
            Self::Read { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::Open { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::Profile { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::GroupKey { reply, .. } => drop(reply.send(Err(again(error)))),
        }
    }
}

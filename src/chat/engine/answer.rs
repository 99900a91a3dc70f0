//! The answers to a committed batch's commands, in command order. A send whose
//! `txn_id` was stored before is answered with the stored original (read here, in one
//! query, only when there is one); a twin in the same batch with its first send's.

use std::collections::HashMap;

use super::{
    DeleteOutcome, DeleteReply, EditReply, GroupReply, OpenReply, ProfileReply, ReactReply,
    ReadOutcome, ReadReply, SendOutcome, SendReply,
    cache::Target,
    lost,
    plan::{MessageChange, Planned},
    transact::Done,
};
use crate::chat::views::Posted;
use crate::{
    chat::ChatError,
    ids::{ConversationId, Pair, UserId},
    store::{BatchWriter, MessageRow, StoreError, UserRow},
};
use std::sync::Arc;

/// The answer to every command of a committed batch.
pub(super) fn answers(
    db: &mut dyn BatchWriter,
    planned: Vec<Planned>,
    done: Vec<Done>,
    created: &HashMap<Pair, ConversationId>,
) -> Vec<Answer> {
    let mut originals = originals(db, &planned, &done);
    // What each command came to, for a later send of the same `txn_id` (`SameAs`).
    let mut outcomes: Vec<Option<SendOutcome>> = Vec::with_capacity(planned.len());
    let mut answers = Vec::with_capacity(planned.len());
    for (p, d) in planned.into_iter().zip(done) {
        let mut this = None;
        let answer = match (p, d) {
            (Planned::Send { reply, .. }, Done::Sent(message)) => {
                this = Some(SendOutcome::New(message.clone()));
                Some(Answer::Send(reply, Ok(SendOutcome::New(message))))
            }
            (
                Planned::Send {
                    reply,
                    sender_id,
                    txn_id: Some(txn),
                    ..
                },
                Done::StoredBefore,
            ) => {
                let outcome = originals
                    .as_mut()
                    .map_err(|e| ChatError::Internal(anyhow::anyhow!("{e}")))
                    .and_then(|found| {
                        found
                            .remove(&(sender_id, txn))
                            .map(|row| SendOutcome::Duplicate(Box::new(row)))
                            .ok_or_else(|| lost("a message lost its txn_id conflict"))
                    });
                this = outcome.as_ref().ok().cloned();
                Some(Answer::Send(reply, outcome))
            }
            (Planned::SameAs { first, reply }, _) => {
                let outcome = match outcomes.get(first).cloned().flatten() {
                    Some(SendOutcome::New(message) | SendOutcome::Repeat(message)) => {
                        Ok(SendOutcome::Repeat(message))
                    }
                    Some(SendOutcome::Duplicate(row)) => Ok(SendOutcome::Duplicate(row)),
                    None => Err(lost("the first send of this txn_id failed")),
                };
                Some(Answer::Send(reply, outcome))
            }
            (Planned::Read { reply, peer_id, .. }, Done::Read(moved_to)) => {
                Some(Answer::Read(reply, Ok(ReadOutcome { moved_to, peer_id })))
            }
            (Planned::Open { target, reply }, Done::Opened) => {
                let outcome = match target {
                    Target::Existing(id) => Ok((id, false)),
                    Target::New(pair) => created
                        .get(&pair)
                        .map(|id| (*id, true))
                        .ok_or_else(|| lost("a new conversation has no id")),
                };
                Some(Answer::Open(reply, outcome))
            }
            (Planned::Profile { reply, .. }, Done::Profile(user)) => Some(Answer::Profile(
                reply,
                user.ok_or(ChatError::NotFound("user")),
            )),
            (Planned::GroupKey { reply, .. }, Done::Grouped) => Some(Answer::Group(reply, Ok(()))),
            (Planned::Change { what, .. }, Done::Refused(e)) => Some(match what {
                MessageChange::Edit { reply, .. } => Answer::Edit(reply, Err(e)),
                MessageChange::Delete { reply } => Answer::Delete(reply, Err(e)),
                MessageChange::React { reply, .. } => Answer::React(reply, Err(e)),
            }),
            (
                Planned::Change {
                    what: MessageChange::Edit { reply, .. },
                    ..
                },
                Done::Edited(message),
            ) => Some(Answer::Edit(reply, Ok(message))),
            (
                Planned::Change {
                    what: MessageChange::Delete { reply },
                    ..
                },
                Done::Deleted(outcome),
            ) => Some(Answer::Delete(reply, Ok(outcome))),
            (
                Planned::Change {
                    what: MessageChange::React { reply, .. },
                    ..
                },
                Done::Reacted(changed),
            ) => Some(Answer::React(reply, Ok(changed))),
            (other, _) => {
                other.fail(&lost("a command and its result do not match"));
                None
            }
        };
        answers.extend(answer);
        outcomes.push(this);
    }
    answers
}

/// The stored originals of the sends whose `txn_id` was stored before this batch
/// (one query; none at all in the usual batch, which has no retried send).
fn originals(
    db: &mut dyn BatchWriter,
    planned: &[Planned],
    done: &[Done],
) -> Result<HashMap<(UserId, String), MessageRow>, StoreError> {
    let keys: Vec<(UserId, &str)> = planned
        .iter()
        .zip(done)
        .filter_map(|(p, d)| match (p, d) {
            (
                Planned::Send {
                    sender_id,
                    txn_id: Some(txn),
                    ..
                },
                Done::StoredBefore,
            ) => Some((*sender_id, txn.as_str())),
            _ => None,
        })
        .collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(db
        .messages_by_txn(&keys)?
        .into_iter()
        .filter_map(|row| Some(((row.sender_id, row.txn_id.clone()?), row)))
        .collect())
}

/// One command's answer, with where it goes.
pub(super) enum Answer {
    Send(SendReply, Result<SendOutcome, ChatError>),
    Read(ReadReply, Result<ReadOutcome, ChatError>),
    Open(OpenReply, Result<(ConversationId, bool), ChatError>),
    Profile(ProfileReply, Result<UserRow, ChatError>),
    Group(GroupReply, Result<(), ChatError>),
    Edit(EditReply, Result<Arc<Posted>, ChatError>),
    Delete(DeleteReply, Result<DeleteOutcome, ChatError>),
    React(ReactReply, Result<bool, ChatError>),
}

impl Answer {
    pub(super) fn give(self) {
        // A dropped receiver is a client that went away: nothing to tell.
        match self {
            Self::Send(reply, outcome) => drop(reply.send(outcome)),
            Self::Read(reply, outcome) => drop(reply.send(outcome)),
            Self::Open(reply, outcome) => drop(reply.send(outcome)),
            Self::Profile(reply, outcome) => drop(reply.send(outcome)),
            Self::Group(reply, outcome) => drop(reply.send(outcome)),
            Self::Edit(reply, outcome) => drop(reply.send(outcome)),
            Self::Delete(reply, outcome) => drop(reply.send(outcome)),
            Self::React(reply, outcome) => drop(reply.send(outcome)),
        }
    }
}

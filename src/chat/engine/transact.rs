//! The batch's transaction: new conversations, `seq`s, the messages, markers, names
//! and group keys, the subscribers' rows, then `COMMIT`; and the events it committed,
//! in commit order.

use std::{collections::HashMap, sync::Arc};

use super::{
    DeleteOutcome,
    cache::Target,
    committed::{Committed, TxnHook},
    drafts::{Changing, Draft, change_message},
    plan::Planned,
};
use crate::{
    chat::{
        ChatError,
        views::{Message, Posted},
    },
    ids::{ConversationId, MessageId, Pair, Seq},
    store::{BatchWriter, NewMessage, OutboxEntry, StoreError, UserRow},
};

/// What the transaction did for one planned command.
pub(super) enum Done {
    Sent(Arc<Posted>),
    /// The sender's `txn_id` was stored before: the send is answered with the original.
    StoredBefore,
    Read(Option<Seq>),
    Opened,
    /// The user as stored now; `None` when there is no such user.
    Profile(Option<UserRow>),
    /// A group's key is stored.
    Grouped,
    /// The message as it is after the edit.
    Edited(Arc<Posted>),
    Deleted(DeleteOutcome),
    /// Whether the reaction changed anything.
    Reacted(bool),
    /// Refused by a rule only the stored message could tell (not the sender's, deleted).
    Refused(ChatError),
    Nothing,
}

/// How one run of a batch's transaction ended.
pub(super) enum Attempt {
    Committed(Vec<Done>, Vec<Committed>),
    /// Nothing committed: the sends at these indices have `txn_id`s stored before.
    Conflicted(Vec<usize>),
}

/// Runs the batch's writes and commits them, leaving out the sends at the indices
/// `stored_before`. When the insert finds more sends whose `txn_id` is stored
/// already, it commits nothing and names them.
pub(super) fn transact(
    db: &mut dyn BatchWriter,
    hooks: &[Arc<dyn TxnHook>],
    planned: &[Planned],
    now: i64,
    created: &mut HashMap<Pair, ConversationId>,
    stored_before: &[usize],
) -> Result<Attempt, StoreError> {
    let mut events = Vec::new();
    let mut new_pairs: Vec<Pair> = planned
        .iter()
        .filter_map(|p| match p {
            Planned::Send {
                target: Target::New(pair),
                ..
            }
            | Planned::Open {
                target: Target::New(pair),
                ..
            } => Some(*pair),
            _ => None,
        })
        .collect();
    new_pairs.sort_unstable();
    new_pairs.dedup();
    for pair in new_pairs {
        let (id, is_new) = db.create_conversation(pair, now)?;
        created.insert(pair, id);
        if is_new {
            events.push(Committed::Conversation {
                conversation_id: id,
                members: pair,
            });
        }
    }
    let conversation_of = |target: &Target| match target {
        Target::Existing(id) => *id,
        Target::New(pair) => created.get(pair).copied().unwrap_or_default(),
    };
    let rows = assign_seqs(db, planned, stored_before, &conversation_of, now)?;
    let keys: Vec<(ConversationId, Seq)> =
        rows.iter().map(|r| (r.conversation_id, r.seq)).collect();
    let stored = db.insert_messages(rows)?;
    let mut stored = stored.into_iter().peekable();
    let mut rows = keys.into_iter();
    let mut done = Vec::with_capacity(planned.len());
    let mut conflicted = Vec::new();
    let mut drafts = Vec::new();
    for (i, p) in planned.iter().enumerate() {
        done.push(match p {
            Planned::Send { .. } if stored_before.contains(&i) => Done::StoredBefore,
            Planned::Send {
                recipient_id,
                origin,
                ..
            } => {
                let Some(key) = rows.next() else {
                    return Err(StoreError::Inconsistent("a send lost its row"));
                };
                match stored.next_if(|s| (s.conversation_id, s.seq) == key) {
                    Some(stored) => {
                        let message = Arc::new(Posted::new(Message::from_row(stored, Seq::new(0))));
                        events.push(Committed::Message {
                            message: message.clone(),
                            recipient_id: *recipient_id,
                            origin: *origin,
                        });
                        Done::Sent(message)
                    }
                    None => {
                        conflicted.push(i);
                        Done::StoredBefore
                    }
                }
            }
            Planned::Read {
                conversation_id,
                user_id,
                peer_id,
                up_to_seq,
                origin,
                ..
            } => {
                let moved = db.advance_marker(
                    *conversation_id,
                    *user_id,
                    up_to_seq.unwrap_or(Seq::new(i64::MAX)),
                )?;
                if let Some(up_to_seq) = moved {
                    drafts.push(Draft::Marker {
                        conversation_id: *conversation_id,
                        user_id: *user_id,
                        peer_id: *peer_id,
                        up_to_seq,
                        origin: *origin,
                    });
                }
                Done::Read(moved)
            }
            Planned::Open { .. } => Done::Opened,
            Planned::Profile {
                user_id,
                display_name,
                ..
            } => {
                let user = db.set_display_name(*user_id, display_name)?;
                if let Some(user) = &user {
                    drafts.push(Draft::Profile {
                        user_id: user.id,
                        display_name: user.display_name.clone(),
                    });
                }
                Done::Profile(user)
            }
            Planned::Change {
                conversation_id,
                user_id,
                peer_id,
                seq,
                what,
            } => change_message(
                db,
                &mut drafts,
                Changing {
                    conversation_id: *conversation_id,
                    user_id: *user_id,
                    peer_id: *peer_id,
                    seq: *seq,
                    now,
                },
                what,
            )?,
            Planned::GroupKey { key, .. } => {
                db.record_group_key(key, now)?;
                Done::Grouped
            }
            Planned::SameAs { .. } => Done::Nothing,
        });
    }
    if !conflicted.is_empty() {
        return Ok(Attempt::Conflicted(conflicted));
    }
    let positions = db.positions(drafts.len())?;
    let mut changes = Vec::with_capacity(drafts.len());
    for (draft, pos) in drafts.into_iter().zip(positions) {
        let (change, event) = draft.place(pos, now);
        changes.push(change);
        events.push(event);
    }
    db.insert_changes(&changes)?;
    // Messages took their positions before the changes did; a new conversation, which
    // has none, goes first, before its first message.
    events.sort_by_key(Committed::position);
    if !hooks.is_empty() {
        for hook in hooks {
            hook.prepare(&events, db)?;
        }
        let mut outbox: Vec<OutboxEntry> = Vec::new();
        for event in &events {
            for hook in hooks {
                hook.rows(event, &mut outbox);
            }
        }
        db.insert_outbox(&outbox, now)?;
    }
    db.commit()?;
    let messages = events
        .iter()
        .filter(|e| matches!(e, Committed::Message { .. }))
        .count();
    metrics::counter!("gadka_messages_committed_total").increment(messages as u64);
    Ok(Attempt::Committed(done, events))
}

/// Reserves `seq`s for the batch's sends (but those `stored_before`), per conversation
/// in id order (so writers on several nodes lock rows in the same order and cannot
/// deadlock), and returns the rows to insert in command order (so message ids follow
/// the queue).
fn assign_seqs(
    db: &mut dyn BatchWriter,
    planned: &[Planned],
    stored_before: &[usize],
    conversation_of: &impl Fn(&Target) -> ConversationId,
    now: i64,
) -> Result<Vec<NewMessage>, StoreError> {
    let sends = || {
        planned
            .iter()
            .enumerate()
            .filter(|(i, _)| !stored_before.contains(i))
            .map(|(_, p)| p)
    };
    let mut counts: Vec<(ConversationId, i64)> = Vec::new();
    for p in sends() {
        if let Planned::Send { target, .. } = p {
            let id = conversation_of(target);
            match counts.iter_mut().find(|(c, _)| *c == id) {
                Some((_, n)) => *n += 1,
                None => counts.push((id, 1)),
            }
        }
    }
    counts.sort_unstable();
    let mut next_seq: HashMap<ConversationId, Seq> = HashMap::with_capacity(counts.len());
    for (id, last) in db.reserve_seqs(&counts, now)? {
        // `counts` is sorted by conversation; the database may answer in any order.
        if let Ok(i) = counts.binary_search_by_key(&id, |(c, _)| *c) {
            next_seq.insert(id, last.after(1 - counts[i].1));
        }
    }
    let sending = sends()
        .filter(|p| matches!(p, Planned::Send { .. }))
        .count();
    let mut positions = db.positions(sending)?.into_iter();
    let mut rows = Vec::new();
    for p in sends() {
        if let Planned::Send {
            target,
            sender_id,
            body,
            txn_id,
            kind,
            reply_to,
            attachment,
            ..
        } = p
        {
            let conversation_id = conversation_of(target);
            let seq = next_seq.entry(conversation_id).or_default();
            let id = positions
                .next()
                .ok_or(StoreError::Inconsistent("a message has no position"))?;
            rows.push(NewMessage {
                id: MessageId::new(id.get()),
                reply_to: *reply_to,
                conversation_id,
                seq: *seq,
                sender_id: *sender_id,
                body: body.clone(),
                txn_id: txn_id.clone(),
                created_at: now,
                kind: *kind,
                attachment: attachment.clone(),
            });
            *seq = seq.after(1);
        }
    }
    Ok(rows)
}

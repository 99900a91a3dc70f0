//! What the writer knows of conversations without asking the database.
//!
//! The members of a conversation never change, so the writer remembers them (and the
//! conversation of each pair) and checks most commands without reading anything. A
//! batch's unknown conversations and pairs are read in at most two queries before it is
//! planned, and the peers of new pairs that do not exist in one more.

use std::collections::HashMap;

use super::{Command, SendTo};
use crate::{
    chat::ChatError,
    ids::{ConversationId, Pair, UserId},
    store::{BatchWriter, StoreError},
};

/// Cached conversations above this are forgotten all at once (they are re-read on need).
const CACHE_ENTRIES: usize = 200_000;

/// Where a command's conversation comes from, once resolved.
#[derive(Debug, Clone, Copy)]
pub(super) enum Target {
    Existing(ConversationId),
    /// The pair has no conversation yet: this batch creates it.
    New(Pair),
}

/// The members of the conversations the writer has seen, both ways round.
#[derive(Default)]
pub(super) struct MemberCache {
    members: HashMap<ConversationId, Pair>,
    pairs: HashMap<Pair, ConversationId>,
}

impl MemberCache {
    /// Reads the members of conversations and the conversations of pairs that the
    /// cache does not know yet: at most two queries.
    pub(super) fn load_conversations(
        &mut self,
        db: &mut dyn BatchWriter,
        commands: &[Command],
    ) -> Result<(), StoreError> {
        let mut ids = Vec::new();
        let mut pairs = Vec::new();
        for command in commands {
            match command {
                Command::Send {
                    to: SendTo::Conversation(id),
                    ..
                }
                | Command::Read {
                    conversation_id: id,
                    ..
                }
                | Command::Edit {
                    conversation_id: id,
                    ..
                }
                | Command::Delete {
                    conversation_id: id,
                    ..
                }
                | Command::React {
                    conversation_id: id,
                    ..
                } => {
                    if !self.members.contains_key(id) {
                        ids.push(*id);
                    }
                }
                Command::Send {
                    sender_id,
                    to: SendTo::User(peer),
                    ..
                } => pairs.extend(Pair::new(*sender_id, *peer)),
                Command::Open {
                    user_id, peer_id, ..
                } => pairs.extend(Pair::new(*user_id, *peer_id)),
                Command::Profile { .. } | Command::Group { .. } | Command::GroupKey { .. } => {}
            }
        }
        pairs.retain(|p| !self.pairs.contains_key(p));
        pairs.sort_unstable();
        pairs.dedup();
        if self.members.len() + ids.len() + pairs.len() > CACHE_ENTRIES {
            self.members.clear();
            self.pairs.clear();
        }
        if !ids.is_empty() {
            ids.sort_unstable();
            ids.dedup();
            for (id, pair) in db.conversation_members(&ids)? {
                self.remember(id, pair);
            }
        }
        if !pairs.is_empty() {
            for (id, pair) in db.conversations_of_pairs(&pairs)? {
                self.remember(id, pair);
            }
        }
        Ok(())
    }

    /// The peers of pairs without a conversation that do not exist (one query).
    pub(super) fn missing_peers(
        &self,
        db: &mut dyn BatchWriter,
        commands: &[Command],
    ) -> Result<Vec<UserId>, StoreError> {
        let mut peers: Vec<UserId> = commands
            .iter()
            .filter_map(|command| match command {
                Command::Send {
                    sender_id,
                    to: SendTo::User(peer),
                    ..
                } => Some((*sender_id, *peer)),
                Command::Open {
                    user_id, peer_id, ..
                } => Some((*user_id, *peer_id)),
                _ => None,
            })
            .filter(|(me, peer)| {
                Pair::new(*me, *peer).is_some_and(|p| !self.pairs.contains_key(&p))
            })
            .map(|(_, peer)| peer)
            .collect();
        if peers.is_empty() {
            return Ok(Vec::new());
        }
        peers.sort_unstable();
        peers.dedup();
        let existing = db.existing_users(&peers)?;
        peers.retain(|p| !existing.contains(p));
        Ok(peers)
    }

    pub(super) fn remember(&mut self, id: ConversationId, pair: Pair) {
        self.members.insert(id, pair);
        self.pairs.insert(pair, id);
    }

    /// The conversation and the other member, if `user_id` is a member. One the user is
    /// not in is "not found", exactly like one that does not exist.
    pub(super) fn member_of(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
    ) -> Result<(Target, UserId), ChatError> {
        self.members
            .get(&conversation_id)
            .and_then(|pair| pair.other(user_id))
            .map(|peer| (Target::Existing(conversation_id), peer))
            .ok_or(ChatError::NotFound("conversation"))
    }

    /// The direct conversation of `me` and `peer`, existing or to create.
    pub(super) fn pair_target(
        &self,
        me: UserId,
        peer: UserId,
        missing_peers: &[UserId],
    ) -> Result<(Target, UserId), ChatError> {
        let Some(key) = Pair::new(me, peer) else {
            return Err(ChatError::invalid(
                "user_id",
                "a conversation needs another user",
            ));
        };
        if let Some(id) = self.pairs.get(&key) {
            return Ok((Target::Existing(*id), peer));
        }
        if missing_peers.contains(&peer) {
            return Err(ChatError::NotFound("user"));
        }
        Ok((Target::New(key), peer))
    }
}

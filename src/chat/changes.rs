//! Changes to messages already sent: the sender edits or deletes one, any member
//! reacts to one. Each is a command to the message engine, which checks it against the
//! stored message (only the sender edits or deletes; a deleted message is neither
//! edited nor reacted to), commits it with its position in the change log, and only
//! then tells both members' sockets, the acting one included, so every device agrees.
//!
//! None of them is a new message: unread counts, the conversation's order and its
//! `last_activity_at` stay as they are, and nothing notifies. A delete of a message
//! the peer had not read takes it out of their unread count, and they get their new
//! summary. Each spends one of the sender's sends (`allowance.rs`), so changes cannot
//! flood where messages cannot.

use super::{
    Chat, ChatError, Session,
    engine::Command,
    events::Event,
    input::{MessageBody, ReactionKey},
    views::{Message, Posted},
};
use crate::ids::{ConversationId, Seq};

impl Chat {
    /// Replaces the body of one of my messages; the message as it is now.
    #[tracing::instrument(skip_all, fields(user.id = me.user_id.get(), conversation.id = conversation_id, seq))]
    pub async fn edit_message(
        &self,
        me: &Session,
        conversation_id: i64,
        seq: i64,
        body: &str,
    ) -> Result<Message, ChatError> {
        let body = MessageBody::parse(body, self.inner.limits.max_message_bytes)?;
        let seq = message_seq(seq)?;
        self.inner
            .allowances
            .send(self.store(), me.user_id, body.as_str().len())
            .await?;
        let message = self
            .engine()
            .request(|reply| Command::Edit {
                user_id: me.user_id,
                conversation_id: ConversationId::new(conversation_id),
                seq,
                body: body.into_string(),
                reply,
            })
            .await?;
        Ok(Posted::into_message(message))
    }

    /// Deletes one of my messages: it keeps its place and shows as deleted, and its
    /// text is erased. Deleting it again changes nothing and is no error.
    #[tracing::instrument(skip_all, fields(user.id = me.user_id.get(), conversation.id = conversation_id, seq))]
    pub async fn delete_message(
        &self,
        me: &Session,
        conversation_id: i64,
        seq: i64,
    ) -> Result<(), ChatError> {
        let seq = message_seq(seq)?;
        self.inner
            .allowances
            .send(self.store(), me.user_id, 0)
            .await?;
        let outcome = self
            .engine()
            .request(|reply| Command::Delete {
                user_id: me.user_id,
                conversation_id: ConversationId::new(conversation_id),
                seq,
                reply,
            })
            .await?;
        if outcome.was_unread {
            self.announce_unread(outcome.peer_id).await;
        }
        self.released(outcome.released_media).await;
        Ok(())
    }

    /// Adds (`on`) or takes back my reaction `key` on a message. Adding one I have, or
    /// taking back one I do not, changes nothing and is no error.
    #[tracing::instrument(skip_all, fields(user.id = me.user_id.get(), conversation.id = conversation_id, seq))]
    pub async fn react(
        &self,
        me: &Session,
        conversation_id: i64,
        seq: i64,
        key: &str,
        on: bool,
    ) -> Result<(), ChatError> {
        let key = ReactionKey::parse(key)?;
        let seq = message_seq(seq)?;
        self.inner
            .allowances
            .send(self.store(), me.user_id, 0)
            .await?;
        self.engine()
            .request(|reply| Command::React {
                user_id: me.user_id,
                conversation_id: ConversationId::new(conversation_id),
                seq,
                key: key.into_string(),
                on,
                reply,
            })
            .await?;
        Ok(())
    }

    /// Tells a user's sockets their unread summary as it is now.
    pub(super) async fn announce_unread(&self, user_id: crate::ids::UserId) {
        match self.unread_of(user_id).await {
            Ok(unread) => self.publish(&[user_id], &Event::Unread(unread), None),
            Err(e) => {
                tracing::warn!(error = %e, user.id = user_id.get(), "cannot announce an unread count")
            }
        }
    }
}

/// A message's `seq`: from 1.
fn message_seq(seq: i64) -> Result<Seq, ChatError> {
    if seq < 1 {
        return Err(ChatError::NotFound("message"));
    }
    Ok(Seq::new(seq))
}

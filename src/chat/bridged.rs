//! What the Matrix bridge asks of the chat: the same commands the transports send,
//! on behalf of a user who has no session here (a Matrix user, acting through the
//! homeserver's authenticated transaction).

use std::sync::Arc;

use super::{
    Chat, ChatError, SendTo,
    engine::{Command, SendOutcome},
    events::Event,
    input::{MessageBody, TxnId},
};

/// Hears every typing notice a local user gives, besides the peer's sockets: the
/// Matrix bridge, for peers who live on Matrix. Called inline; must never wait.
pub trait TypingListener: Send + Sync + 'static {
    fn typing(&self, conversation_id: i64, user_id: i64, peer_id: i64, typing: bool);
}

impl Chat {
    /// The direct conversation between two users, opened the first time.
    pub async fn open_between(&self, user_id: i64, peer_id: i64) -> Result<i64, ChatError> {
        let (id, _created) = self
            .engine()
            .request(|reply| Command::Open {
                user_id,
                peer_id,
                reply,
            })
            .await?;
        Ok(id)
    }

    /// Sends `body` from `sender_id` into a conversation and waits for the commit.
    /// The same `txn_id` from the same sender stores it once, so a replayed Matrix
    /// transaction, whose event ids are the `txn_id`s, has its effect once. `true`
    /// when the message is new.
    pub async fn send_as(
        &self,
        sender_id: i64,
        conversation_id: i64,
        body: &str,
        txn_id: &str,
    ) -> Result<bool, ChatError> {
        let body = MessageBody::parse(body, self.inner.limits.max_message_bytes)?;
        let txn_id = TxnId::parse(txn_id)?;
        let outcome = self
            .engine()
            .request(|reply| Command::Send {
                sender_id,
                to: SendTo::Conversation(conversation_id),
                body: body.into_string(),
                txn_id: Some(txn_id.into_string()),
                origin: None,
                reply,
            })
            .await?;
        Ok(matches!(outcome, SendOutcome::New(_)))
    }

    /// Moves `user_id`'s read marker in a conversation up to `seq` (never back). As
    /// for a local reader, the other member hears of it only after the commit.
    pub async fn read_as(
        &self,
        user_id: i64,
        conversation_id: i64,
        seq: i64,
    ) -> Result<(), ChatError> {
        self.engine()
            .request(|reply| Command::Read {
                user_id,
                conversation_id,
                up_to_seq: Some(seq),
                origin: None,
                reply,
            })
            .await
            .map(drop)
    }

    /// Tells the other member of a conversation that `user_id` is typing or stopped,
    /// as [`Chat::typing`] does for a local user.
    pub async fn typing_as(
        &self,
        user_id: i64,
        conversation_id: i64,
        typing: bool,
    ) -> Result<(), ChatError> {
        let m = self.membership(user_id, conversation_id).await?;
        self.publish(
            &[m.peer_id],
            &Event::Typing {
                conversation_id,
                user_id,
                typing,
            },
            None,
        );
        Ok(())
    }

    /// Sets who else hears typing; only the first listener set counts.
    pub fn listen_to_typing(&self, listener: Arc<dyn TypingListener>) {
        if self.inner.typing_listener.set(listener).is_err() {
            tracing::warn!("a second typing listener is ignored");
        }
    }
}

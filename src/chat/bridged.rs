//! What the Matrix bridge asks of the chat: the same commands the transports send,
//! on behalf of a user who has no session here (a Matrix user, acting through the
//! homeserver's authenticated transaction).

use super::{
    Chat, ChatError, SendTo,
    engine::{Command, SendOutcome},
    input::{MessageBody, TxnId},
};

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
}

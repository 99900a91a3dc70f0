//! Conversations: open one, list mine, page through history, send, mark read,
//! count unread. Every check of who may see or do what in a conversation is here.

use std::collections::HashMap;

use entity::{conversation, membership};

use super::{
    Chat, ChatError, Session,
    events::Event,
    input::{MessageBody, TxnId, page_size},
    now_ms,
    views::{Conversation, Message, ReadMarker, SenderUnread, UnreadSummary, User, rfc3339_millis},
};
use crate::{
    hub::ConnectionId,
    store::{Committed, NewMessage},
};

/// Where a message goes: an existing conversation, or the direct conversation with a
/// user (opened on the way if it does not exist yet).
#[derive(Debug, Clone, Copy)]
pub enum SendTo {
    Conversation(i64),
    User(i64),
}

/// A conversation with its two members' rows, seen from one of them.
pub(super) struct Membership {
    pub(super) conversation: conversation::Model,
    pub(super) me: membership::Model,
    pub(super) peer: membership::Model,
}

/// How many messages a conversation comes with when it is opened (F3b).
const OPEN_MESSAGES: u64 = 10;

impl Chat {
    /// The conversation and both memberships, if `user_id` is a member. A
    /// conversation the user is not in is "not found", exactly like one that does not
    /// exist, so its existence is not disclosed.
    pub(super) async fn membership(
        &self,
        user_id: i64,
        conversation_id: i64,
    ) -> Result<Membership, ChatError> {
        let not_found = || ChatError::NotFound("conversation");
        let members = self.store().memberships(conversation_id).await?;
        let (mine, others): (Vec<_>, Vec<_>) =
            members.into_iter().partition(|m| m.user_id == user_id);
        let (Some(me), Some(peer)) = (mine.into_iter().next(), others.into_iter().next()) else {
            return Err(not_found());
        };
        let conversation = self
            .store()
            .conversation(conversation_id)
            .await?
            .ok_or_else(not_found)?;
        Ok(Membership {
            conversation,
            me,
            peer,
        })
    }

    /// Opens the direct conversation with another user, creating it the first time
    /// (F1 "Send message", F3b). `true` when it was created now.
    #[tracing::instrument(skip_all, fields(user.id = me.user_id, peer.id = peer_id))]
    pub async fn open_conversation(
        &self,
        me: &Session,
        peer_id: i64,
    ) -> Result<(Conversation, bool), ChatError> {
        let (conversation, created) = self.open_direct(me, peer_id).await?;
        let view = self
            .conversation_view(me.user_id, conversation.id, OPEN_MESSAGES)
            .await?;
        Ok((view, created))
    }

    /// The direct conversation with another, existing user; created if needed.
    async fn open_direct(
        &self,
        me: &Session,
        peer_id: i64,
    ) -> Result<(conversation::Model, bool), ChatError> {
        if peer_id == me.user_id {
            return Err(ChatError::invalid(
                "user_id",
                "a conversation needs another user",
            ));
        }
        self.user(peer_id).await?;
        Ok(self
            .store()
            .open_direct_conversation(me.user_id, peer_id, now_ms())
            .await?)
    }

    /// My latest conversations, newest activity first, each with its newest messages (F2).
    pub async fn conversations(
        &self,
        me: &Session,
        limit: Option<i64>,
        messages: Option<i64>,
    ) -> Result<Vec<Conversation>, ChatError> {
        let limit = page_size("limit", limit, 5, 100)?;
        let messages = match messages {
            Some(0) => 0,
            other => page_size("messages", other, 10, 100)?,
        };
        let rows = self.store().conversations_of(me.user_id, limit).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            views.push(self.conversation_view(me.user_id, row.id, messages).await?);
        }
        Ok(views)
    }

    async fn conversation_view(
        &self,
        user_id: i64,
        conversation_id: i64,
        messages: u64,
    ) -> Result<Conversation, ChatError> {
        let m = self.membership(user_id, conversation_id).await?;
        let peer = self.user(m.peer.user_id).await?;
        let rows = if messages == 0 {
            Vec::new()
        } else {
            self.store()
                .messages_before(conversation_id, None, messages)
                .await?
        };
        let unread = self
            .store()
            .unread_count(conversation_id, user_id, m.me.last_read_seq)
            .await?;
        Ok(Conversation {
            id: m.conversation.id,
            messages: rows
                .into_iter()
                .map(|row| {
                    let marker = recipient_marker(&m, row.sender_id);
                    Message::from_row(row, marker)
                })
                .collect(),
            peer,
            created_at: rfc3339_millis(m.conversation.created_at),
            last_activity_at: rfc3339_millis(m.conversation.last_activity_at),
            last_seq: m.conversation.last_seq,
            last_read_seq: m.me.last_read_seq,
            peer_last_read_seq: m.peer.last_read_seq,
            unread,
        })
    }

    /// Older messages: up to `limit` with `seq < before` (the newest without
    /// `before`), oldest first.
    pub async fn history(
        &self,
        me: &Session,
        conversation_id: i64,
        before: Option<i64>,
        limit: Option<i64>,
    ) -> Result<Vec<Message>, ChatError> {
        let limit = page_size("limit", limit, 50, 100)?;
        let m = self.membership(me.user_id, conversation_id).await?;
        let rows = self
            .store()
            .messages_before(conversation_id, before, limit)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let marker = recipient_marker(&m, row.sender_id);
                Message::from_row(row, marker)
            })
            .collect())
    }

    /// Sends a message: it is committed first, and only then delivered, to the
    /// recipient's sockets and the sender's other sockets (all but `origin`). The same
    /// `txn_id` from the same sender returns the first message (`false`: nothing new
    /// was stored, nothing is delivered again).
    #[tracing::instrument(skip_all, fields(user.id = me.user_id))]
    pub async fn send(
        &self,
        me: &Session,
        to: SendTo,
        body: &str,
        txn_id: Option<&str>,
        origin: Option<ConnectionId>,
    ) -> Result<(Message, bool), ChatError> {
        let body = MessageBody::parse(body, self.inner.limits.max_message_bytes)?;
        let txn_id = txn_id.map(TxnId::parse).transpose()?;
        let conversation_id = match to {
            SendTo::Conversation(id) => id,
            SendTo::User(peer_id) => self.open_direct(me, peer_id).await?.0.id,
        };
        let m = self.membership(me.user_id, conversation_id).await?;
        let order = self.inner.commit_order.lock().await;
        let committed = self
            .store()
            .commit_message(NewMessage {
                conversation_id,
                sender_id: me.user_id,
                body: body.as_str(),
                txn_id: txn_id.as_ref().map(TxnId::as_str),
                created_at: now_ms(),
            })
            .await?;
        Ok(match committed {
            Committed::New(row) => {
                tracing::debug!(message.id = row.id, "message committed");
                let message = Message::from_row(row, m.peer.last_read_seq);
                let event = Event::Message {
                    message: message.clone(),
                };
                self.publish(&[m.peer.user_id, me.user_id], &event, origin);
                drop(order);
                (message, true)
            }
            Committed::Duplicate(row) => {
                drop(order);
                let marker = self
                    .membership(me.user_id, conversation_id)
                    .await?
                    .peer
                    .last_read_seq;
                (Message::from_row(row, marker), false)
            }
        })
    }

    /// Moves my read marker to `up_to_seq` (to the newest message without it), never
    /// back and never past the newest message. Only after the marker is committed do
    /// the other member's sockets get a `receipt`, and my other sockets (all but
    /// `origin`) the receipt and my new unread summary: a receipt never claims more
    /// than the database holds (F6). A stale read changes and sends nothing.
    #[tracing::instrument(skip_all, fields(user.id = me.user_id, conversation.id = conversation_id))]
    pub async fn read(
        &self,
        me: &Session,
        conversation_id: i64,
        up_to_seq: Option<i64>,
        origin: Option<ConnectionId>,
    ) -> Result<ReadMarker, ChatError> {
        if up_to_seq.is_some_and(|seq| seq < 0) {
            return Err(ChatError::invalid("up_to_seq", "may not be negative"));
        }
        let m = self.membership(me.user_id, conversation_id).await?;
        let target = up_to_seq
            .unwrap_or(m.conversation.last_seq)
            .min(m.conversation.last_seq);
        let moved = self
            .store()
            .advance_read_marker(conversation_id, me.user_id, target)
            .await?;
        let unread = self.unread(me).await?;
        if moved {
            let receipt = Event::Receipt {
                conversation_id,
                user_id: me.user_id,
                up_to_seq: target,
            };
            self.publish(&[m.peer.user_id, me.user_id], &receipt, origin);
            self.publish(&[me.user_id], &Event::Unread(unread.clone()), origin);
        }
        Ok(ReadMarker {
            conversation_id,
            user_id: me.user_id,
            last_read_seq: if moved { target } else { m.me.last_read_seq },
            moved,
            unread,
        })
    }

    /// Who has written to me that I have not read, and how much (F3a).
    pub async fn unread(&self, me: &Session) -> Result<UnreadSummary, ChatError> {
        let counts = self.store().unread_by_sender(me.user_id).await?;
        let users: HashMap<i64, User> = self
            .store()
            .users(counts.iter().map(|(id, _)| *id))
            .await?
            .into_iter()
            .map(|u| (u.id, User::from(u)))
            .collect();
        let senders: Vec<SenderUnread> = counts
            .into_iter()
            .filter_map(|(id, count)| {
                Some(SenderUnread {
                    user: users.get(&id)?.clone(),
                    count: count.max(0) as u64,
                })
            })
            .collect();
        Ok(UnreadSummary {
            total: senders.iter().map(|s| s.count).sum(),
            senders,
        })
    }
}

/// The read marker that decides whether a message is read: its recipient's.
fn recipient_marker(m: &Membership, sender_id: i64) -> i64 {
    if sender_id == m.me.user_id {
        m.peer.last_read_seq
    } else {
        m.me.last_read_seq
    }
}

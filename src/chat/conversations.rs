//! Conversations: open one, list mine, page through history, send, mark read,
//! count unread. Every check of who may see or do what in a conversation is here or
//! in the engine, which applies the same rules to the commands it commits.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use tokio::sync::oneshot;

use super::{
    Chat, ChatError, Session,
    engine::{self, Command, SendOutcome, SendTo},
    events::Event,
    input::{ListCursor, MessageBody, TxnId, page_size},
    views::{
        Conversation, Message, Posted, ReadMarker, SenderUnread, UnreadSummary, User,
        rfc3339_millis,
    },
};
use crate::{
    hub::ConnectionId,
    ids::{ConversationId, Pair, Seq, UserId},
    store::{ConversationList, ConversationOfUser, MessageKind, MessageRow},
};

/// A message as a client sends it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outgoing<'a> {
    /// May be empty when the message carries a file.
    pub body: &'a str,
    /// The client's idempotency key.
    pub txn_id: Option<&'a str>,
    /// The `seq` of an earlier message of the same conversation.
    pub reply_to: Option<i64>,
    /// An upload to attach (`POST /api/media`).
    pub media_id: Option<&'a str>,
}

/// A send handed to the engine; it resolves once the batch is committed.
pub struct PendingSend(oneshot::Receiver<Result<SendOutcome, ChatError>>);

impl Future for PendingSend {
    type Output = Result<SendOutcome, ChatError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(engine::answered)
    }
}

/// How many messages a conversation comes with when it is opened (F3b).
const OPEN_MESSAGES: u64 = 10;

impl Chat {
    /// One of my conversations with both markers. A conversation the user is not in is
    /// "not found", exactly like one that does not exist, so its existence is not
    /// disclosed.
    pub(super) async fn membership(
        &self,
        user_id: UserId,
        conversation_id: ConversationId,
    ) -> Result<ConversationOfUser, ChatError> {
        self.store()
            .conversation_of_user(user_id, conversation_id)
            .await?
            .ok_or(ChatError::NotFound("conversation"))
    }

    /// Counts a new conversation against `me`'s allowance when there is none with
    /// `peer` yet; opening one that exists is free.
    async fn charge_if_new(&self, me: UserId, peer: UserId) -> Result<(), ChatError> {
        let Some(pair) = Pair::new(me, peer) else {
            // The engine refuses a conversation with oneself, in its words.
            return Ok(());
        };
        if self.inner.known_pairs.contains(pair) {
            return Ok(());
        }
        match self.store().direct_conversation(pair).await? {
            Some(_) => self.inner.known_pairs.insert(pair),
            None => self.inner.allowances.new_conversation(me)?,
        }
        Ok(())
    }

    /// Opens the direct conversation with another user, creating it the first time
    /// (F1 "Send message", F3b). `true` when it was created now.
    #[tracing::instrument(skip_all, fields(user.id = me.user_id.get(), peer.id = peer_id))]
    pub async fn open_conversation(
        &self,
        me: &Session,
        peer_id: i64,
    ) -> Result<(Conversation, bool), ChatError> {
        let peer_id = UserId::new(peer_id);
        self.charge_if_new(me.user_id, peer_id).await?;
        let (id, created) = self
            .engine()
            .request(|reply| Command::Open {
                user_id: me.user_id,
                peer_id,
                reply,
            })
            .await?;
        let m = self.membership(me.user_id, id).await?;
        let list = self
            .store()
            .conversation_list_of(me.user_id, &[m], OPEN_MESSAGES)
            .await?;
        let view = conversation_views(list)
            .pop()
            .ok_or(ChatError::NotFound("conversation"))?;
        Ok((view, created))
    }

    /// A page of my conversations, newest activity first, each with its newest
    /// messages (F2), in a constant number of queries: the first, or the one after
    /// `cursor`. With it, the cursor of the next page, if there is one.
    pub async fn conversations(
        &self,
        me: &Session,
        cursor: Option<&str>,
        limit: Option<i64>,
        messages: Option<i64>,
    ) -> Result<(Vec<Conversation>, Option<String>), ChatError> {
        let after = cursor.map(ListCursor::parse).transpose()?;
        let (limit, messages) = list_sizes(limit, messages)?;
        let list = self
            .store()
            .conversation_list(me.user_id, after.map(|c| c.0), limit, messages)
            .await?;
        let next = list.next.map(|key| ListCursor(key).encode());
        Ok((conversation_views(list), next))
    }

    /// One of my conversations as the list shows it, with its newest `messages`
    /// messages (10 by default); not found when it does not exist or is not mine.
    pub async fn conversation(
        &self,
        me: &Session,
        conversation_id: i64,
        messages: Option<i64>,
    ) -> Result<Conversation, ChatError> {
        let messages = message_count(messages)?;
        let list = self
            .store()
            .conversation_with_messages(me.user_id, ConversationId::new(conversation_id), messages)
            .await?;
        conversation_views(list)
            .pop()
            .ok_or(ChatError::NotFound("conversation"))
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
        let conversation_id = ConversationId::new(conversation_id);
        let m = self.membership(me.user_id, conversation_id).await?;
        let rows = self
            .store()
            .messages_before(conversation_id, before.map(Seq::new), limit)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let marker = recipient_marker(&m, row.sender_id);
                Message::from_row(row, marker)
            })
            .collect())
    }

    /// Sends a message and waits until it is committed. See [`Chat::queue_send`].
    pub async fn send(
        &self,
        me: &Session,
        to: SendTo,
        message: Outgoing<'_>,
        origin: Option<ConnectionId>,
    ) -> Result<(Message, bool), ChatError> {
        let outcome = self.queue_send(me, to, message, origin).await?.await?;
        let (message, new) = self.sent(me, outcome).await?;
        Ok((Posted::into_message(message), new))
    }

    /// Hands a message to the engine and returns at once: a socket keeps reading while
    /// its sends commit. The message is committed first and only then delivered, to the
    /// recipient's sockets and the sender's other sockets (all but `origin`).
    pub async fn queue_send(
        &self,
        me: &Session,
        to: SendTo,
        message: Outgoing<'_>,
        origin: Option<ConnectionId>,
    ) -> Result<PendingSend, ChatError> {
        let Outgoing {
            body,
            txn_id,
            reply_to,
            media_id,
        } = message;
        // A file may go without a caption.
        let body = match media_id {
            Some(_) if body.trim().is_empty() => String::new(),
            _ => MessageBody::parse(body, self.inner.limits.max_message_bytes)?.into_string(),
        };
        let txn_id = txn_id.map(TxnId::parse).transpose()?;
        let attachment = match media_id {
            Some(id) => Some(self.attachment_for(me.user_id, id).await?),
            None => None,
        };
        let reply_to = match reply_to {
            Some(seq) => Some(self.reply_target(me.user_id, to, seq).await?),
            None => None,
        };
        if let SendTo::User(peer) = to {
            self.charge_if_new(me.user_id, peer).await?;
        }
        self.inner
            .allowances
            .send(self.store(), me.user_id, body.len())
            .await?;
        let answer = self
            .engine()
            .submit(|reply| Command::Send {
                sender_id: me.user_id,
                to,
                body,
                txn_id: txn_id.map(TxnId::into_string),
                kind: MessageKind::Message,
                reply_to,
                attachment,
                origin,
                reply,
            })
            .await?;
        Ok(PendingSend(answer))
    }

    /// Checks that `seq` is a message of the conversation a send goes to: one that
    /// is stored already, so it comes before the message that replies to it.
    async fn reply_target(&self, me: UserId, to: SendTo, seq: i64) -> Result<Seq, ChatError> {
        let last_seq = match to {
            // Not mine, or none at all: "not found", as for a send without a reply.
            SendTo::Conversation(id) => Some(self.membership(me, id).await?.conversation.last_seq),
            SendTo::User(peer) => match Pair::new(me, peer) {
                Some(pair) => self
                    .store()
                    .direct_conversation(pair)
                    .await?
                    .map(|c| c.last_seq),
                None => None,
            },
        };
        match last_seq {
            Some(last) if (1..=last.get()).contains(&seq) => Ok(Seq::new(seq)),
            _ => Err(ChatError::invalid(
                "reply_to",
                "not an earlier message of this conversation",
            )),
        }
    }

    /// What a committed send shows: the message, and whether it is new. The same
    /// `txn_id` from the same sender returns the first message (`false`: nothing new
    /// was stored, nothing is delivered again).
    pub async fn sent(
        &self,
        me: &Session,
        outcome: SendOutcome,
    ) -> Result<(Arc<Posted>, bool), ChatError> {
        Ok(match outcome {
            SendOutcome::New(message) => (message, true),
            SendOutcome::Repeat(message) => (message, false),
            SendOutcome::Duplicate(row) => {
                let m = self.membership(me.user_id, row.conversation_id).await?;
                let marker = recipient_marker(&m, row.sender_id);
                (
                    Arc::new(Posted::new(Message::from_row(*row, marker))),
                    false,
                )
            }
        })
    }

    /// Moves my read marker to `up_to_seq` (to the newest message without it), never
    /// back and never past the newest message. Only after the marker is committed do
    /// the other member's sockets get a `receipt`, and my other sockets (all but
    /// `origin`) the receipt and my new unread summary: a receipt never claims more
    /// than the database holds (F6). A stale read changes and sends nothing.
    #[tracing::instrument(skip_all, fields(user.id = me.user_id.get(), conversation.id = conversation_id))]
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
        let conversation_id = ConversationId::new(conversation_id);
        let outcome = self
            .engine()
            .request(|reply| Command::Read {
                user_id: me.user_id,
                conversation_id,
                up_to_seq: up_to_seq.map(Seq::new),
                origin,
                reply,
            })
            .await?;
        let unread = self.unread(me).await?;
        let last_read_seq = match outcome.moved_to {
            Some(marker) => {
                self.publish(&[me.user_id], &Event::Unread(unread.clone()), origin);
                marker
            }
            None => {
                self.membership(me.user_id, conversation_id)
                    .await?
                    .my_last_read_seq
            }
        };
        Ok(ReadMarker {
            conversation_id,
            user_id: me.user_id,
            last_read_seq,
            moved: outcome.moved_to.is_some(),
            unread,
        })
    }

    /// Who has written to me that I have not read, and how much (F3a).
    pub async fn unread(&self, me: &Session) -> Result<UnreadSummary, ChatError> {
        self.unread_of(me.user_id).await
    }

    /// [`Chat::unread`] of any user.
    pub(super) async fn unread_of(&self, user_id: UserId) -> Result<UnreadSummary, ChatError> {
        let counts = self.store().unread_by_sender(user_id).await?;
        let users = self.store().users(counts.iter().map(|(id, _)| *id)).await?;
        Ok(unread_summary(counts, users.into_iter().map(User::from)))
    }
}

/// The sizes of a conversation list: how many conversations, how many messages each.
pub(super) fn list_sizes(
    limit: Option<i64>,
    messages: Option<i64>,
) -> Result<(u64, u64), ChatError> {
    Ok((page_size("limit", limit, 5, 100)?, message_count(messages)?))
}

/// How many of its newest messages a conversation comes with: 10 unless asked, 0 for
/// none, at most 100.
fn message_count(messages: Option<i64>) -> Result<u64, ChatError> {
    match messages {
        Some(0) => Ok(0),
        other => page_size("messages", other, 10, 100),
    }
}

/// The views of a conversation list, in its order.
pub(super) fn conversation_views(list: ConversationList) -> Vec<Conversation> {
    let peers: HashMap<UserId, User> = list
        .peers
        .into_iter()
        .map(|u| (u.id, User::from(u)))
        .collect();
    let mut messages: HashMap<ConversationId, Vec<MessageRow>> = HashMap::new();
    for row in list.messages {
        messages.entry(row.conversation_id).or_default().push(row);
    }
    list.conversations
        .into_iter()
        .filter_map(|m| {
            let c = m.conversation;
            Some(Conversation {
                id: c.id,
                peer: peers.get(&m.peer_id)?.clone(),
                created_at: rfc3339_millis(c.created_at),
                last_activity_at: rfc3339_millis(c.last_activity_at),
                last_seq: c.last_seq,
                last_read_seq: m.my_last_read_seq,
                peer_last_read_seq: m.peer_last_read_seq,
                unread: list.unread.get(&c.id).copied().unwrap_or(0),
                messages: messages
                    .remove(&c.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|row| {
                        let marker = recipient_marker(&m, row.sender_id);
                        Message::from_row(row, marker)
                    })
                    .collect(),
            })
        })
        .collect()
}

/// The unread summary from per-sender counts, newest first, and the senders.
pub(super) fn unread_summary(
    counts: Vec<(UserId, i64)>,
    users: impl IntoIterator<Item = User>,
) -> UnreadSummary {
    let users: HashMap<UserId, User> = users.into_iter().map(|u| (u.id, u)).collect();
    let senders: Vec<SenderUnread> = counts
        .into_iter()
        .filter_map(|(id, count)| {
            Some(SenderUnread {
                user: users.get(&id)?.clone(),
                count: u64::try_from(count).unwrap_or(0),
            })
        })
        .collect();
    UnreadSummary {
        total: senders.iter().map(|s| s.count).sum(),
        senders,
    }
}

/// The read marker that decides whether a message is read: its recipient's.
fn recipient_marker(m: &ConversationOfUser, sender_id: UserId) -> Seq {
    if sender_id == m.peer_id {
        m.my_last_read_seq
    } else {
        m.peer_last_read_seq
    }
}

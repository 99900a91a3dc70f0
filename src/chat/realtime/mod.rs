//! The realtime side of the rules: who is told what, and when. A socket connects
//! and gets its `hello`; typing and presence reach only people who share a
//! conversation; a reconnecting client replays what it missed from the database.
//!
//! Beside it: `fanout` (the hub's subscriber: committed changes → `chat::events`),
//! `seen` (what one socket has shown) and `typing` (typing notices paced and
//! coalesced).

mod fanout;
mod seen;
mod typing;

pub use fanout::Fanout;
pub use seen::SeenMessages;
pub(super) use typing::TypingGate;

use std::collections::HashMap;

use tokio::sync::broadcast;

use super::{
    Chat, ChatError, Session,
    committed::Committed,
    conversations::{conversation_views, list_sizes, unread_summary},
    events::Event,
    input::page_size,
    views::{Hello, Message, Posted, User},
};
use crate::{
    hub::{ConnectionId, Registration},
    ids::{ConversationId, MessageId, Seq, UserId},
};

/// Messages per page when replaying after a reconnect.
const REPLAY_PAGE: i64 = 200;

/// What `resume {since}` shows, a page at a time: every message of mine after `since`
/// that the socket has not shown yet, in id order; then every member's current read
/// marker, as receipts. The unread summary that closes it is [`Chat::unread`].
pub struct Replay<'a> {
    chat: &'a Chat,
    me: &'a Session,
    after: MessageId,
    messages_done: bool,
    markers_done: bool,
}

impl Replay<'_> {
    /// The next page of events; `None` once everything is shown. `seen` is the
    /// socket's record, so that nothing it showed live is shown again.
    pub async fn next(&mut self, seen: &mut SeenMessages) -> Result<Option<Vec<Event>>, ChatError> {
        if !self.messages_done {
            let page = self
                .chat
                .missed_messages(self.me, self.after, Some(REPLAY_PAGE))
                .await?;
            if let Some(last) = page.last() {
                self.after = last.id;
                return Ok(Some(
                    page.into_iter()
                        .filter(|message| seen.show_replayed(message.id))
                        .map(|message| Event::Message {
                            message: Posted::new(message).into(),
                        })
                        .collect(),
                ));
            }
            self.messages_done = true;
        }
        if !self.markers_done {
            self.markers_done = true;
            return Ok(Some(self.chat.markers(self.me).await?));
        }
        Ok(None)
    }
}

impl Chat {
    /// Starts the replay of a reconnecting socket (`resume {since}`).
    pub fn replay<'a>(&'a self, me: &'a Session, since: MessageId) -> Replay<'a> {
        Replay {
            chat: self,
            me,
            after: since,
            messages_done: false,
            markers_done: false,
        }
    }

    /// Registers a socket of `session` and takes the snapshot it starts from (F2, F3a).
    /// Its registration must be handed back to [`Chat::disconnect`].
    #[tracing::instrument(skip_all, fields(user.id = session.user_id.get()))]
    pub async fn connect(&self, session: &Session) -> Result<(Hello, Registration), ChatError> {
        // Registered before the snapshot is taken, so that nothing committed from here
        // on can fall between the two. The snapshot is one consistent read: every
        // message up to its `last_message_id` is in it, so the socket skips live
        // messages up to that id and shows every later one.
        let (registration, first) = self.hub().register(session.user_id, &session.id);
        let (limit, messages) = list_sizes(None, None)?;
        let rows = match self.store().hello(session.user_id, limit, messages).await {
            Ok(rows) => rows,
            Err(e) => {
                self.hub().unregister(registration);
                return Err(e.into());
            }
        };
        // Read after the socket registered: a user deactivated since the upgrade
        // checked the session is refused here, and one deactivated from now on is
        // found registered by the server's watcher (`Chat::watch_revocations`).
        let Some(me) = rows.me.filter(|me| me.deactivated_at.is_none()) else {
            self.hub().unregister(registration);
            return Err(ChatError::Unauthenticated);
        };
        if first {
            self.publish(
                &rows.peers,
                &Event::Presence {
                    user_id: session.user_id,
                    online: true,
                },
                None,
            );
        }
        let online = rows
            .peers
            .into_iter()
            .filter(|p| self.hub().is_online(*p))
            .collect();
        let hello = Hello {
            me: me.into(),
            conversations: conversation_views(rows.list),
            unread: unread_summary(
                rows.unread_by_sender,
                rows.unread_senders.into_iter().map(User::from),
            ),
            online,
            last_message_id: rows.last_message_id,
        };
        Ok((hello, registration))
    }

    /// Unregisters a socket; when it was the user's last, their peers see them go offline.
    pub async fn disconnect(&self, registration: Registration) {
        let user_id = registration.user_id;
        if !self.hub().unregister(registration) {
            return;
        }
        match self.store().peers_of(user_id).await {
            Ok(peers) => self.publish(
                &peers,
                &Event::Presence {
                    user_id,
                    online: false,
                },
                None,
            ),
            Err(e) => {
                tracing::warn!(error = %e, user.id = user_id.get(), "cannot announce going offline")
            }
        }
    }

    /// Tells the other member that I started or stopped typing, unless it is no news
    /// to them (see `typing.rs`). Nothing is stored.
    pub async fn typing(
        &self,
        me: &Session,
        conversation_id: i64,
        typing: bool,
    ) -> Result<(), ChatError> {
        self.inner.typing_gate.admit(me.user_id)?;
        let conversation_id = ConversationId::new(conversation_id);
        let m = self.membership(me.user_id, conversation_id).await?;
        if !self
            .inner
            .typing_gate
            .relay(me.user_id, conversation_id, typing)
        {
            return Ok(());
        }
        self.publish(
            &[m.peer_id],
            &Event::Typing {
                conversation_id,
                user_id: me.user_id,
                typing,
            },
            None,
        );
        if let Some(listener) = self.inner.typing_listener.get() {
            listener.typing(conversation_id, me.user_id, m.peer_id, typing);
        }
        Ok(())
    }

    /// Messages of my conversations with an id above `since`, oldest first, at most
    /// `limit` (a page of a replay after a reconnect).
    pub async fn missed_messages(
        &self,
        me: &Session,
        since: MessageId,
        limit: Option<i64>,
    ) -> Result<Vec<Message>, ChatError> {
        let limit = page_size("limit", limit, 200, 1000)?;
        let rows = self
            .store()
            .messages_since(me.user_id, since, limit)
            .await?;
        let markers = self.recipient_markers(me.user_id).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let marker = markers
                    .get(&(row.conversation_id, row.sender_id))
                    .copied()
                    .unwrap_or_default();
                Message::from_row(row, marker)
            })
            .collect())
    }

    /// The current read markers of every member of my conversations, as receipts.
    pub async fn markers(&self, me: &Session) -> Result<Vec<Event>, ChatError> {
        let rows = self.store().markers_of_user(me.user_id).await?;
        Ok(rows
            .into_iter()
            .map(|(conversation_id, user_id, up_to_seq)| Event::Receipt {
                conversation_id,
                user_id,
                up_to_seq,
            })
            .collect())
    }

    /// For each (conversation, sender) of my conversations, the marker that decides
    /// whether the sender's messages are read: the other member's.
    async fn recipient_markers(
        &self,
        user_id: UserId,
    ) -> Result<HashMap<(ConversationId, UserId), Seq>, ChatError> {
        let rows = self.store().markers_of_user(user_id).await?;
        let mut by_conversation: HashMap<ConversationId, Vec<(UserId, Seq)>> = HashMap::new();
        for (conversation_id, member, marker) in rows {
            by_conversation
                .entry(conversation_id)
                .or_default()
                .push((member, marker));
        }
        let mut markers = HashMap::new();
        for (conversation_id, members) in by_conversation {
            for (sender, _) in &members {
                if let Some((_, marker)) = members.iter().find(|(u, _)| u != sender) {
                    markers.insert((conversation_id, *sender), *marker);
                }
            }
        }
        Ok(markers)
    }

    /// Hands an event to the hub for every socket of `recipients` (but `skip`).
    pub(crate) fn publish(&self, recipients: &[UserId], event: &Event, skip: Option<ConnectionId>) {
        self.hub().deliver(recipients, &event.delivery(), skip);
    }

    /// Tells the people who share a conversation with a renamed user, and that user's
    /// own sockets, the name as committed. It follows the engine's stream (the reads
    /// it needs must not hold up the publisher); a client that was offline, or missed
    /// some while this lagged, has the names in its next `hello`.
    pub async fn relay_profiles(self) {
        let mut commits = self.engine().subscribe();
        loop {
            match commits.recv().await {
                Ok(batch) => {
                    for event in batch.iter() {
                        if let Committed::Profile { user_id, .. } = event {
                            self.announce_profile(*user_id).await;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "profile changes went by unannounced");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    async fn announce_profile(&self, user_id: UserId) {
        let read = async {
            let user = self.store().user(user_id).await?;
            let peers = self.store().peers_of(user_id).await?;
            Ok::<_, crate::store::StoreError>(user.map(|user| (user, peers)))
        };
        match read.await {
            Ok(Some((user, mut peers))) => {
                peers.push(user_id);
                self.publish(&peers, &Event::Profile { user: user.into() }, None);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, user.id = user_id.get(), "cannot announce a new name")
            }
        }
    }
}

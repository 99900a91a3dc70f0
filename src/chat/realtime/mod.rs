//! The realtime side of the rules: who is told what, and when. A socket connects
//! and gets its `hello`; typing and presence reach only people who share a
//! conversation; a reconnecting client replays what it missed from the database.
//!
//! Beside it: `fanout` (the hub's subscriber: committed changes → `chat::events`),
//! `seen` (what one socket has shown) and `typing` (typing notices paced and
//! coalesced).

mod fanout;
mod nodes;
mod seen;
mod typing;

pub use fanout::Fanout;
pub use nodes::NodeLink;
pub use seen::SeenMessages;
pub(super) use typing::TypingGate;

use std::collections::HashMap;

use tokio::sync::broadcast;

use super::{
    Chat, ChatError, Session,
    committed::Committed,
    conversations::{conversation_views, list_sizes, unread_summary},
    events::Event,
    views::{Hello, Message, Posted, User},
};
use crate::{
    hub::{ConnectionId, Registration},
    ids::{ConversationId, Position, Seq, UserId},
    store::{ChangeKind, ChangeRow, MessageRow, UserRow},
};

/// Messages, and changes, per page when replaying after a reconnect.
const REPLAY_PAGE: u64 = 200;

/// What `resume {since}` shows, a page at a time: every message and change of mine
/// after `since` that the socket has not shown yet, in commit order (by position). The
/// unread summary that closes it is [`Chat::unread`].
pub struct Replay<'a> {
    chat: &'a Chat,
    me: &'a Session,
    after: Position,
    done: bool,
}

impl Replay<'_> {
    /// The next page of events; `None` once everything is shown. `seen` is the
    /// socket's record, so that nothing it showed live is shown again.
    pub async fn next(&mut self, seen: &mut SeenMessages) -> Result<Option<Vec<Event>>, ChatError> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .chat
            .store()
            .replay_page(self.me.user_id, self.after, REPLAY_PAGE)
            .await?;
        // Messages and changes are read up to the page size each; both are complete up
        // to the lower of their last positions (when a list is full), so that is where
        // this page ends and the next begins.
        let full_until = |len: usize, last: Option<Position>| {
            (len as u64 >= REPLAY_PAGE).then_some(last).flatten()
        };
        let bound = [
            full_until(
                page.messages.len(),
                page.messages.last().map(|m| m.position()),
            ),
            full_until(page.changes.len(), page.changes.last().map(|c| c.pos)),
        ]
        .into_iter()
        .flatten()
        .min();
        let within = |pos: Position| bound.is_none_or(|bound| pos <= bound);
        let markers = self.chat.recipient_markers(self.me.user_id).await?;
        let read_marker = |conversation_id: ConversationId, sender_id: UserId| {
            markers
                .get(&(conversation_id, sender_id))
                .copied()
                .unwrap_or_default()
        };
        let mut events: Vec<Event> = page
            .messages
            .into_iter()
            .filter(|m| within(m.position()))
            .map(|row| {
                let marker = read_marker(row.conversation_id, row.sender_id);
                Event::Message {
                    message: Posted::new(Message::from_row(row, marker)).into(),
                }
            })
            .collect();
        let edited: HashMap<(ConversationId, Seq), MessageRow> = page
            .edited
            .into_iter()
            .map(|m| ((m.conversation_id, m.seq), m))
            .collect();
        let renamed: HashMap<UserId, UserRow> =
            page.renamed.into_iter().map(|u| (u.id, u)).collect();
        for change in page.changes.into_iter().filter(|c| within(c.pos)) {
            let event = replayed(change, &edited, &renamed, &read_marker);
            events.extend(event);
        }
        events.sort_by_key(Event::position);
        events.retain(|e| e.position().is_none_or(|pos| seen.show_replayed(pos)));
        match bound {
            Some(bound) => self.after = bound,
            None => self.done = true,
        }
        Ok(Some(events))
    }
}

/// The event a logged change replays as; `None` when what it needs is gone.
fn replayed(
    change: ChangeRow,
    edited: &HashMap<(ConversationId, Seq), MessageRow>,
    renamed: &HashMap<UserId, UserRow>,
    read_marker: &impl Fn(ConversationId, UserId) -> Seq,
) -> Option<Event> {
    let pos = change.pos;
    let at = || Some((change.conversation_id?, change.seq?));
    Some(match change.kind {
        ChangeKind::Edit => {
            let row = edited.get(&at()?)?.clone();
            let marker = read_marker(row.conversation_id, row.sender_id);
            Event::MessageEdited {
                message: Posted::new(Message::from_row(row, marker)).into(),
                pos,
            }
        }
        ChangeKind::Delete => {
            let (conversation_id, seq) = at()?;
            Event::MessageDeleted {
                conversation_id,
                seq,
                pos,
            }
        }
        ChangeKind::ReactionOn | ChangeKind::ReactionOff => {
            let (conversation_id, seq) = at()?;
            Event::Reaction {
                conversation_id,
                seq,
                user_id: change.user_id,
                key: change.key?,
                on: change.kind == ChangeKind::ReactionOn,
                pos,
            }
        }
        ChangeKind::Read => {
            let (conversation_id, up_to_seq) = at()?;
            Event::Receipt {
                conversation_id,
                user_id: change.user_id,
                up_to_seq,
                pos,
            }
        }
        ChangeKind::Profile => Event::Profile {
            user: renamed.get(&change.user_id)?.clone().into(),
            pos: Some(pos),
        },
    })
}

impl Chat {
    /// Starts the replay of a reconnecting socket (`resume {since}`).
    pub fn replay<'a>(&'a self, me: &'a Session, since: Position) -> Replay<'a> {
        Replay {
            chat: self,
            me,
            after: since,
            done: false,
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
            self.went_online_here(session.user_id, &rows.peers);
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
            position: rows.position,
        };
        Ok((hello, registration))
    }

    /// The user's first socket on this node opened: the other nodes hear of it, and
    /// the peers here are told, unless another node held them online already.
    fn went_online_here(&self, user_id: UserId, peers: &[UserId]) {
        let elsewhere = self.node_link().is_some_and(|link| {
            link.presence(user_id, true);
            self.hub().online_elsewhere(user_id)
        });
        if !elsewhere {
            self.hub().deliver(
                peers,
                &Event::Presence {
                    user_id,
                    online: true,
                }
                .delivery(),
                None,
            );
        }
    }

    /// Unregisters a socket; when it was the user's last, their peers see them go
    /// offline (unless another node of the cluster still holds a socket of theirs).
    pub async fn disconnect(&self, registration: Registration) {
        let user_id = registration.user_id;
        if !self.hub().unregister(registration) {
            return;
        }
        if let Some(link) = self.node_link() {
            link.presence(user_id, false);
            tokio::time::sleep(nodes::MOVING).await;
            if self.hub().is_online(user_id) {
                return;
            }
        }
        match self.store().peers_of(user_id).await {
            Ok(peers) => self.hub().deliver(
                &peers,
                &Event::Presence {
                    user_id,
                    online: false,
                }
                .delivery(),
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

    /// For each (conversation, sender) of my conversations, the marker that decides
    /// whether the sender's messages are read: the other member's.
    pub(super) async fn recipient_markers(
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

    /// Hands an event to the hub for every socket of `recipients` (but `skip`), and
    /// in a cluster to the other nodes for theirs. Not for committed changes, which
    /// go out in commit order through the engine (`Fanout`).
    pub(crate) fn publish(&self, recipients: &[UserId], event: &Event, skip: Option<ConnectionId>) {
        let delivery = event.delivery();
        self.hub().deliver(recipients, &delivery, skip);
        if let Some(link) = self.node_link() {
            link.frame(recipients, &delivery.text);
        }
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
                self.publish(
                    &peers,
                    &Event::Profile {
                        user: user.into(),
                        pos: None,
                    },
                    None,
                );
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, user.id = user_id.get(), "cannot announce a new name")
            }
        }
    }
}

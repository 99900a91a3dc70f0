//! Typing both ways. Typing is not stored and not worth a retry: a notice that
//! cannot go now is dropped, and the next keystroke sends another.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use ruma::{OwnedRoomId, api::appservice::event::push_events::v1::EphemeralData};
use tokio::sync::mpsc;

use super::{Bridge, IncomingError, outbox::OutboxHook};
use crate::chat::{ChatError, TypingListener};
use crate::ids::{ConversationId, UserId};

/// How long Matrix shows a puppet typing unless told it stopped.
const TYPING_TIMEOUT: Duration = Duration::from_secs(30);

/// Typing notices waiting for the homeserver; more are dropped.
const QUEUE: usize = 256;

/// A local user typing (or stopping) in a conversation with a Matrix user.
#[derive(Debug)]
pub struct TypingNotice {
    conversation_id: i64,
    user_id: i64,
    typing: bool,
}

/// Hears the chat's typing notices and queues those for Matrix users.
pub struct TypingRelay {
    outbox: Arc<OutboxHook>,
    queue: mpsc::Sender<TypingNotice>,
}

impl TypingRelay {
    /// The relay, and the queue [`relay`] takes the notices from.
    pub fn new(outbox: Arc<OutboxHook>) -> (Self, mpsc::Receiver<TypingNotice>) {
        let (queue, notices) = mpsc::channel(QUEUE);
        (Self { outbox, queue }, notices)
    }
}

impl TypingListener for TypingRelay {
    fn typing(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        peer_id: UserId,
        typing: bool,
    ) {
        // A peer this node has not heard of yet is looked up by `send`, which
        // finds no portal for a conversation of two local users.
        if self.outbox.lives_on_matrix(peer_id) != Some(false) {
            // Full: the homeserver is slow; this notice is not worth waiting for.
            let _ = self.queue.try_send(TypingNotice {
                conversation_id: conversation_id.get(),
                user_id: user_id.get(),
                typing,
            });
        }
    }
}

/// Sends the queued typing notices as the puppets' typing, until the chat stops.
pub async fn relay(bridge: Arc<Bridge>, mut notices: mpsc::Receiver<TypingNotice>) {
    while let Some(notice) = notices.recv().await {
        if let Err(e) = send(&bridge, &notice).await {
            tracing::warn!(?notice, error = %e, "a typing notice did not reach Matrix");
        }
    }
}

async fn send(bridge: &Bridge, notice: &TypingNotice) -> Result<(), IncomingError> {
    let Some(room) = bridge.store.portal_room(notice.conversation_id).await? else {
        return Ok(());
    };
    let Ok(room) = OwnedRoomId::try_from(room) else {
        return Ok(());
    };
    let Some(user) = bridge.chat.find_user(notice.user_id).await? else {
        return Ok(());
    };
    let Ok(puppet) = bridge.settings.puppet_id(&user.username) else {
        return Ok(());
    };
    let timeout = notice.typing.then_some(TYPING_TIMEOUT);
    Ok(bridge.homeserver.typing(room, &puppet, timeout).await?)
}

/// Who on Matrix is typing in each portal, as the last `m.typing` said, so that
/// the next one tells who stopped.
#[derive(Default)]
pub struct TypingNow(Mutex<HashMap<OwnedRoomId, HashSet<i64>>>);

impl Bridge {
    /// A Matrix `m.typing`: its Matrix users who started or stopped typing in a
    /// portal are shown typing, or not, to the gadka member.
    pub(super) async fn typing_from_matrix(
        &self,
        data: &EphemeralData,
    ) -> Result<(), IncomingError> {
        let EphemeralData::Typing(event) = data else {
            return Ok(());
        };
        let Some(conversation) = self
            .store
            .portal_conversation(event.room_id.as_str())
            .await?
        else {
            return Ok(());
        };
        let mut typing = HashSet::new();
        for user_id in &event.content.user_ids {
            if self.settings.puppet_username(user_id).is_some() {
                continue;
            }
            if let Some(user) = self.chat.user_on_matrix(user_id.as_str()).await? {
                typing.insert(user.id.get());
            }
        }
        let before = {
            let mut now = self.typing_now.0.lock().unwrap_or_else(|e| e.into_inner());
            now.insert(event.room_id.clone(), typing.clone())
                .unwrap_or_default()
        };
        let started = typing.difference(&before).map(|id| (*id, true));
        let stopped = before.difference(&typing).map(|id| (*id, false));
        for (user_id, is_typing) in started.chain(stopped) {
            match self.chat.typing_as(user_id, conversation, is_typing).await {
                Ok(()) => {}
                Err(ChatError::Internal(e)) => return Err(ChatError::Internal(e).into()),
                // Someone else in the room, not the conversation's member.
                Err(_) => {}
            }
        }
        Ok(())
    }
}

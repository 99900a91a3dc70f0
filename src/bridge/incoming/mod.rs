//! What comes from Matrix: the events of the homeserver's transactions, turned into
//! the chat's commands.
//!
//! A transaction's messages, read markers and new names go into one [`Grouped`]
//! that commits them in one batch, with the transaction id stored beside them
//! (see `appservice.rs`), and the transaction is answered only after that commit.
//! What needs the homeserver or a conversation first (an invite: the puppet joins,
//! the conversation opens, the room becomes its portal; a notice) is carried in as
//! it comes, and is harmless to repeat. Each message also keeps its Matrix event id
//! as the `txn_id` of its Matrix sender, so it is stored once whatever happens.

use ruma::{
    EventId, OwnedTransactionId, RoomId, UserId,
    api::appservice::event::push_events::v1::EphemeralData,
    events::{
        AnyMessageLikeEvent, AnyStateEvent, AnyTimelineEvent, MessageLikeEvent, StateEvent,
        receipt::ReceiptType,
        room::{
            member::{MembershipState, OriginalRoomMemberEvent},
            message::{OriginalRoomMessageEvent, Relation},
            redaction::RoomRedactionEvent,
        },
    },
};

mod files;
mod relations;

use self::{
    files::file_of,
    relations::{strip_reply_fallback, text_of},
};
use super::{Bridge, PuppetError, homeserver::HomeserverError, with_cause};
use crate::chat::{ChatError, Grouped, input::DisplayName};

/// What a Matrix user the permissions leave out reads when a puppet declines.
const REFUSAL: &str =
    "Sorry: this gadka bridge is not open to you. Ask its admin to add you to bridge.permissions.";

/// What a portal is told about an encrypted event.
const ENCRYPTION_NOTICE: &str = "This bridge does not support encryption yet: encrypted messages do not reach gadka. Please chat without encryption.";

/// Why an event could not be carried in; the homeserver retries the transaction.
#[derive(Debug, thiserror::Error)]
pub enum IncomingError {
    #[error("cannot read the database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Homeserver(#[from] HomeserverError),
    #[error("{}", with_cause(.0))]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Puppet(#[from] PuppetError),
}

impl Bridge {
    /// Carries one event in, its stored effects into `group`; `Ok` also for what the
    /// bridge leaves alone.
    pub(super) async fn incoming(
        &self,
        event: &AnyTimelineEvent,
        group: &mut Grouped,
    ) -> Result<(), IncomingError> {
        // What the bridge itself sent comes back in the transactions: never echo it.
        let sender = event.sender();
        if sender == self.settings.bot || self.settings.puppet_username(sender).is_some() {
            return Ok(());
        }
        match event {
            AnyTimelineEvent::State(AnyStateEvent::RoomMember(StateEvent::Original(member)))
                if member.content.membership == MembershipState::Invite =>
            {
                self.invited(member).await
            }
            AnyTimelineEvent::State(AnyStateEvent::RoomMember(StateEvent::Original(member)))
                if member.content.membership == MembershipState::Join =>
            {
                self.joined(member, group).await
            }
            AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomMessage(
                MessageLikeEvent::Original(message),
            )) => self.message(message, group).await,
            AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::Reaction(
                MessageLikeEvent::Original(reaction),
            )) => self.reaction(reaction, group).await,
            AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomRedaction(
                RoomRedactionEvent::Original(redaction),
            )) => self.redaction(redaction, group).await,
            AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomEncrypted(
                MessageLikeEvent::Original(encrypted),
            )) => {
                self.encrypted(&encrypted.room_id, &encrypted.event_id, &encrypted.sender)
                    .await
            }
            _ => Ok(()),
        }
    }

    /// A Matrix user invited a puppet: the puppet joins, and the room becomes the
    /// portal of the conversation between the two.
    async fn invited(&self, member: &OriginalRoomMemberEvent) -> Result<(), IncomingError> {
        let Ok(invitee) = UserId::parse(member.state_key.as_str()) else {
            return Ok(());
        };
        if invitee == self.settings.bot {
            return self.bot_invited(member).await;
        }
        if self.settings.puppet_username(&invitee).is_none() {
            return Ok(());
        }
        let Some(local) = self.ensure_puppet(&invitee).await? else {
            return Ok(());
        };
        if self.settings.permission_of(&member.sender).is_none() {
            tracing::info!(sender = %member.sender, "an invite from someone the bridge permissions leave out");
            self.homeserver
                .leave(&member.room_id, &invitee, REFUSAL)
                .await?;
            return Ok(());
        }
        self.homeserver.join(&member.room_id, &invitee).await?;
        let remote = self.matrix_user(&member.sender).await?;
        // A conversation opened here would have the outbox make a room for it too,
        // unless this room is its portal before the outbox looks.
        let _portals = self.portals.lock().await;
        let conversation = self.chat.open_between(local.id.get(), remote).await?;
        self.store
            .set_portal(conversation, member.room_id.as_str(), now_ms())
            .await?;
        tracing::info!(room = %member.room_id, conversation, "a portal opened from Matrix");
        Ok(())
    }

    /// A Matrix user's join event in a portal, which Matrix also sends when they
    /// change their display name: a name that differs from theirs here renames them.
    async fn joined(
        &self,
        member: &OriginalRoomMemberEvent,
        group: &mut Grouped,
    ) -> Result<(), IncomingError> {
        // Only a member's own event names them; a name set by someone else is not theirs.
        if member.state_key.as_str() != member.sender.as_str() {
            return Ok(());
        }
        if self
            .store
            .portal_conversation(member.room_id.as_str())
            .await?
            .is_none()
        {
            return Ok(());
        }
        let Some(user) = self.chat.user_on_matrix(member.sender.as_str()).await? else {
            return Ok(());
        };
        let name = display_name(member.content.displayname.as_deref(), &member.sender);
        if name == user.display_name {
            return Ok(());
        }
        if let Err(e) = group.rename_as(user.id.get(), &name) {
            tracing::info!(user = %member.sender, error = %e, "a Matrix display name the chat refuses");
        }
        Ok(())
    }

    /// A message in a portal, from its Matrix member: a new one (perhaps a reply), or
    /// an edit of one of theirs.
    async fn message(
        &self,
        message: &OriginalRoomMessageEvent,
        group: &mut Grouped,
    ) -> Result<(), IncomingError> {
        if let Some(Relation::Replacement(replacement)) = &message.content.relates_to {
            return self.edit(message, replacement, group).await;
        }
        let body = text_of(&message.content.msgtype);
        let Some(conversation) = self
            .store
            .portal_conversation(message.room_id.as_str())
            .await?
        else {
            self.bot_command(message, &body).await;
            return Ok(());
        };
        let Some(sender) = self.chat.user_on_matrix(message.sender.as_str()).await? else {
            return Ok(());
        };
        // A reply to a message this side knows; the quote of it that older clients
        // put before the text is not the sender's words.
        let (reply_to, body) = match &message.content.relates_to {
            Some(Relation::Reply(reply)) => {
                let replied = self
                    .store
                    .message_of_matrix_event(
                        conversation,
                        sender.id.get(),
                        reply.in_reply_to.event_id.as_str(),
                    )
                    .await?;
                (
                    replied.map(|(seq, _)| seq),
                    strip_reply_fallback(&body).to_owned(),
                )
            }
            _ => (None, body),
        };
        let (body, attachment) = match file_of(&message.content.msgtype) {
            Some(file) => match self.fetch_file(sender.id, &file).await? {
                Ok(attachment) => (file.caption.to_owned(), Some(attachment)),
                Err(why) => {
                    let notice = format!("This file was not delivered to gadka: {why}.");
                    return self
                        .notice(
                            conversation,
                            sender.id.get(),
                            &message.room_id,
                            &message.event_id,
                            &notice,
                        )
                        .await;
                }
            },
            None => (body, None),
        };
        match group.send_as(
            sender.id.get(),
            conversation,
            &body,
            message.event_id.as_str(),
            reply_to,
            attachment,
        ) {
            Ok(()) => Ok(()),
            Err(ChatError::TooLarge { limit, .. }) => {
                let notice = format!(
                    "This message is longer than gadka takes ({limit} bytes) and was not delivered."
                );
                self.notice(
                    conversation,
                    sender.id.get(),
                    &message.room_id,
                    &message.event_id,
                    &notice,
                )
                .await
            }
            // A message the chat refuses (blank, no valid txn_id) is refused for
            // good: retrying the transaction cannot help.
            Err(e) => {
                tracing::info!(event = %message.event_id, error = %e, "a Matrix message the chat refuses");
                Ok(())
            }
        }
    }

    /// Ephemeral data pushed with a transaction: typing, and read receipts. A Matrix
    /// user's read receipt on a bridged message moves their read marker here, and the
    /// gadka sender hears of it after the commit, as from a local reader.
    pub(super) async fn ephemeral(
        &self,
        data: &EphemeralData,
        group: &mut Grouped,
    ) -> Result<(), IncomingError> {
        let receipt = match data {
            EphemeralData::Receipt(receipt) => receipt,
            EphemeralData::Typing(_) => return self.typing_from_matrix(data).await,
            _ => return Ok(()),
        };
        let Some(conversation) = self
            .store
            .portal_conversation(receipt.room_id.as_str())
            .await?
        else {
            return Ok(());
        };
        for (event_id, receipts) in &receipt.content.0 {
            let Some(readers) = receipts.get(&ReceiptType::Read) else {
                continue;
            };
            let Some((event_conversation, seq)) =
                self.store.matrix_event(event_id.as_str()).await?
            else {
                continue;
            };
            if event_conversation != conversation {
                continue;
            }
            for reader in readers.keys() {
                let Some(user) = self.chat.user_on_matrix(reader.as_str()).await? else {
                    continue;
                };
                group.read_as(user.id.get(), conversation, seq);
            }
        }
        Ok(())
    }

    /// An encrypted event in a portal: the room is told, once per event, that the
    /// bridge cannot read it.
    async fn encrypted(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        sender: &UserId,
    ) -> Result<(), IncomingError> {
        let Some(conversation) = self.store.portal_conversation(room_id.as_str()).await? else {
            return Ok(());
        };
        let Some(user) = self.chat.user_on_matrix(sender.as_str()).await? else {
            return Ok(());
        };
        self.notice(
            conversation,
            user.id.get(),
            room_id,
            event_id,
            ENCRYPTION_NOTICE,
        )
        .await
    }

    /// A notice from the local member's puppet into a portal, about the Matrix
    /// event `about`: its txnId follows from that event, so a replayed transaction
    /// sends it once.
    async fn notice(
        &self,
        conversation: i64,
        matrix_user: i64,
        room_id: &RoomId,
        about: &EventId,
        body: &str,
    ) -> Result<(), IncomingError> {
        let Some(peer) = self.chat.peer_in(matrix_user, conversation).await? else {
            return Ok(());
        };
        let Some(local) = self.chat.find_user(peer).await? else {
            return Ok(());
        };
        let Ok(puppet) = self.settings.puppet_id(&local.username) else {
            return Ok(());
        };
        let txn_id = OwnedTransactionId::from(format!("notice-{about}"));
        Ok(self
            .homeserver
            .send_notice(room_id.to_owned(), txn_id, &puppet, body)
            .await?)
    }

    /// The gadka user standing for a Matrix user, made with their Matrix display
    /// name the first time.
    async fn matrix_user(&self, user_id: &UserId) -> Result<i64, IncomingError> {
        if let Some(user) = self.chat.user_on_matrix(user_id.as_str()).await? {
            return Ok(user.id.get());
        }
        let shown = match self.homeserver.display_name(user_id).await {
            Ok(name) => name,
            Err(e) if e.is_permanent() => None,
            Err(e) => return Err(e.into()),
        };
        self.matrix_user_named(user_id, shown.as_deref()).await
    }

    /// The gadka user standing for a Matrix user, made with the display name
    /// `shown` on Matrix the first time.
    pub(super) async fn matrix_user_named(
        &self,
        user_id: &UserId,
        shown: Option<&str>,
    ) -> Result<i64, IncomingError> {
        let name = display_name(shown, user_id);
        let user = self.chat.matrix_user(user_id.as_str(), &name).await?;
        // Saves this node's next batch the question; another node's asks the database.
        self.outbox.learn([(user.id, true)]);
        Ok(user.id.get())
    }
}

/// A Matrix display name as gadka keeps names (see [`DisplayName::nearest`]); the
/// localpart when nothing of it is left.
fn display_name(shown: Option<&str>, user_id: &UserId) -> String {
    DisplayName::nearest(shown.unwrap_or_default())
        .or_else(|| DisplayName::nearest(user_id.localpart()))
        .map_or_else(|| user_id.localpart().to_owned(), DisplayName::into_string)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_kept_as_gadka_keeps_them() {
        let id = UserId::parse("@alice:example.org").unwrap();
        assert_eq!(display_name(Some("  Alice \u{7} A. "), &id), "Alice  A.");
        assert_eq!(display_name(Some(" \n "), &id), "alice");
        assert_eq!(display_name(None, &id), "alice");
        assert_eq!(
            display_name(Some(&"x".repeat(100)), &id).chars().count(),
            64
        );
    }
}

//! What each outbox row does on Matrix: a message sent as its sender's puppet (a reply
//! as `m.in_reply_to` with the author mentioned), an edit as `m.replace`, a delete as
//! a redaction, a reaction as `m.reaction` (taken back: its redaction), a receipt as
//! the reader's, a portal room made, a puppet renamed. A row given up on
//! is told to the gadka user who sent it (`notice.rs`).

use std::time::Duration;

use ruma::{
    OwnedEventId, OwnedRoomId, OwnedTransactionId, OwnedUserId,
    events::{
        Mentions,
        relation::{InReplyTo, Reply},
        room::message::{Relation, ReplacementMetadata, RoomMessageEventContent},
    },
};

use super::{Outgoing, Parsed, files, notice};
use crate::{
    bridge::{Bridge, PuppetError, homeserver::HomeserverError, with_cause},
    chat::ChatError,
    ids::UserId,
};

/// The longest wait before retrying a row.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Why a row could not be carried out.
#[derive(Debug, thiserror::Error)]
pub(super) enum CarryError {
    #[error("cannot read the database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{}", with_cause(.0))]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Homeserver(#[from] HomeserverError),
    /// A message or receipt of a conversation without a portal room: its room could
    /// not be made, so nothing of it can reach Matrix (it is dropped).
    #[error("conversation {conversation_id} has no portal room")]
    NoPortal { conversation_id: i64 },
    /// A file over the homeserver's upload limit (the message is dropped).
    #[error("the file is {size} bytes, and their Matrix server takes at most {limit}")]
    FileTooLarge { size: u64, limit: u64 },
    /// A row that can never be carried out (it is dropped).
    #[error("{0}")]
    Void(String),
}

impl CarryError {
    fn is_permanent(&self) -> bool {
        match self {
            Self::Store(_) | Self::Chat(_) => false,
            Self::Homeserver(e) => e.is_permanent(),
            Self::NoPortal { .. } | Self::FileTooLarge { .. } | Self::Void(_) => true,
        }
    }
}

/// Tries one row until it is done or cannot ever be, waiting longer after each
/// failure; later rows of its lane wait behind it, which keeps them in order.
pub(super) async fn carry_until_done(bridge: &Bridge, row: &Parsed) {
    let mut backoff = Duration::from_secs(1);
    loop {
        match carry(bridge, row).await {
            Ok(()) => break,
            Err(e) if e.is_permanent() => {
                tracing::warn!(row = row.id, error = %e, "dropped an outbox row that cannot be sent");
                notice::gave_up(bridge, row, &e).await;
                break;
            }
            Err(e) => {
                tracing::warn!(row = row.id, retry_in = ?backoff, error = %e, "cannot send to Matrix now");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    // A failed delete sends the row again later, which its txnId makes harmless.
    if let Err(e) = bridge.store.delete_outbox_row(row.id).await {
        tracing::warn!(row = row.id, error = %e, "cannot forget a sent outbox row");
    }
}

async fn carry(bridge: &Bridge, row: &Parsed) -> Result<(), CarryError> {
    let outgoing = row
        .outgoing
        .as_ref()
        .map_err(|e| CarryError::Void(format!("an outbox row that does not parse: {e}")))?;
    match *outgoing {
        Outgoing::Message {
            conversation_id,
            seq,
            sender_id,
            ref body,
            reply_to,
            ref media_id,
        } => {
            let room = portal(bridge, conversation_id).await?;
            let puppet = puppet(bridge, sender_id).await?;
            let file = match media_id {
                Some(id) => files::content(bridge, &puppet, id, body).await?,
                None => None,
            };
            let mut content = match file {
                Some(content) => content,
                // Its upload went with its message meanwhile: nothing is left to send.
                None if body.is_empty() => return Ok(()),
                None => RoomMessageEventContent::text_plain(body.as_str()),
            };
            if let Some(reply_to) = reply_to
                && let Some((event, author)) = replied(bridge, conversation_id, reply_to).await?
            {
                // No fallback quote in the body: Matrix v1.13 dropped it, and the
                // mention is what notifies the author.
                content.mentions = Some(Mentions::with_user_ids([author]));
                content.relates_to = Some(Relation::Reply(Reply::new(InReplyTo::new(event))));
            }
            let txn_id = OwnedTransactionId::from(row.id.to_string());
            let event = bridge
                .homeserver
                .send_message(room, txn_id, &puppet, &content)
                .await?;
            bridge
                .store
                .record_matrix_event(event.as_str(), conversation_id, seq)
                .await?;
            Ok(())
        }
        Outgoing::Edit {
            conversation_id,
            seq,
            sender_id,
            ref body,
            ref media_id,
        } => {
            // A message that never reached Matrix has nothing there to edit.
            let Some(event) = event_of(bridge, conversation_id, seq).await? else {
                return Ok(());
            };
            let room = portal(bridge, conversation_id).await?;
            let puppet = puppet(bridge, sender_id).await?;
            // The file goes up again (an edit is rare; its first upload's URI is not kept).
            let file = match media_id {
                Some(id) => files::content(bridge, &puppet, id, body).await?,
                None => None,
            };
            let content = file
                .unwrap_or_else(|| RoomMessageEventContent::text_plain(body.as_str()))
                .make_replacement(ReplacementMetadata::new(event, None));
            let txn_id = OwnedTransactionId::from(row.id.to_string());
            bridge
                .homeserver
                .send_message(room, txn_id, &puppet, &content)
                .await?;
            Ok(())
        }
        Outgoing::Redact {
            conversation_id,
            seq,
            sender_id,
        } => {
            let Some(event) = event_of(bridge, conversation_id, seq).await? else {
                return Ok(());
            };
            let room = portal(bridge, conversation_id).await?;
            let puppet = puppet(bridge, sender_id).await?;
            let txn_id = OwnedTransactionId::from(row.id.to_string());
            bridge
                .homeserver
                .redact(room, event, txn_id, &puppet)
                .await?;
            Ok(())
        }
        Outgoing::React {
            conversation_id,
            seq,
            user_id,
            ref key,
            on,
        } => react(bridge, row.id, conversation_id, seq, user_id, key, on).await,
        Outgoing::Receipt {
            conversation_id,
            reader_id,
            peer_id,
            up_to_seq,
        } => {
            // The newest message from Matrix the marker passed; none: nothing to mark.
            let Some(event) = bridge
                .store
                .matrix_event_up_to(conversation_id, peer_id, up_to_seq)
                .await?
            else {
                return Ok(());
            };
            let event = OwnedEventId::try_from(event).map_err(|e| {
                CarryError::Void(format!("a Matrix message without an event id: {e}"))
            })?;
            let room = portal(bridge, conversation_id).await?;
            let puppet = puppet(bridge, reader_id).await?;
            bridge.homeserver.read_receipt(room, event, &puppet).await?;
            Ok(())
        }
        Outgoing::Portal {
            conversation_id,
            local_id,
            matrix_id,
        } => make_portal(bridge, conversation_id, local_id, matrix_id).await,
        Outgoing::Leave {
            conversation_id,
            user_id,
        } => leave(bridge, conversation_id, user_id).await,
        Outgoing::Profile {
            user_id,
            ref display_name,
        } => {
            let puppet = puppet(bridge, user_id).await?;
            let wanted = bridge.settings.displayname_template.apply(display_name);
            // A puppet not made yet gets its name from the database when it is; one
            // that has the name already (a row carried twice) needs no new member
            // event in every room.
            match bridge.homeserver.display_name(&puppet).await {
                Ok(Some(shown)) if shown == wanted => return Ok(()),
                Ok(_) => {}
                Err(e) if e.errcode() == Some("M_NOT_FOUND") => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            bridge.homeserver.set_display_name(&puppet, &wanted).await?;
            Ok(())
        }
    }
}

/// A gadka user's reaction on Matrix: an `m.reaction` as their puppet (its event
/// remembered), or the redaction of the ones that carried it.
async fn react(
    bridge: &Bridge,
    row: i64,
    conversation_id: i64,
    seq: i64,
    user_id: i64,
    key: &str,
    on: bool,
) -> Result<(), CarryError> {
    let room = portal(bridge, conversation_id).await?;
    let puppet = puppet(bridge, user_id).await?;
    let txn_id = OwnedTransactionId::from(row.to_string());
    if on {
        let Some(event) = event_of(bridge, conversation_id, seq).await? else {
            return Ok(());
        };
        let reaction = bridge
            .homeserver
            .send_reaction(room, txn_id, &puppet, event, key)
            .await?;
        bridge
            .store
            .record_matrix_reaction(reaction.as_str(), conversation_id, seq, user_id, key)
            .await?;
        return Ok(());
    }
    for sent in bridge
        .store
        .matrix_reaction_events(conversation_id, seq, user_id, key)
        .await?
    {
        let event = OwnedEventId::try_from(sent.as_str())
            .map_err(|e| CarryError::Void(format!("a reaction without an event id: {e}")))?;
        // One redaction per reaction event: a txnId of the row and the event.
        let txn_id = OwnedTransactionId::from(format!("{row}-{sent}"));
        bridge
            .homeserver
            .redact(room.clone(), event, txn_id, &puppet)
            .await?;
        bridge.store.forget_matrix_reaction(&sent).await?;
    }
    Ok(())
}

/// The Matrix event that stands for a gadka message, if it reached Matrix.
async fn event_of(
    bridge: &Bridge,
    conversation_id: i64,
    seq: i64,
) -> Result<Option<OwnedEventId>, CarryError> {
    let Some(event) = bridge.store.matrix_event_of(conversation_id, seq).await? else {
        return Ok(None);
    };
    OwnedEventId::try_from(event)
        .map(Some)
        .map_err(|e| CarryError::Void(format!("a message without an event id: {e}")))
}

/// The event a reply answers and the Matrix ID of its author (a Matrix user, or a
/// gadka user's puppet), to mention.
async fn replied(
    bridge: &Bridge,
    conversation_id: i64,
    seq: i64,
) -> Result<Option<(OwnedEventId, OwnedUserId)>, CarryError> {
    let Some(event) = event_of(bridge, conversation_id, seq).await? else {
        return Ok(None);
    };
    let Some(author) = bridge.chat.sender_of(conversation_id, seq).await? else {
        return Ok(None);
    };
    let author = match author.matrix_id {
        Some(matrix_id) => OwnedUserId::try_from(matrix_id)
            .map_err(|e| CarryError::Void(format!("a Matrix user without a Matrix ID: {e}")))?,
        None => bridge
            .settings
            .puppet_id(&author.username)
            .map_err(|e| CarryError::Void(format!("no puppet for {}: {e}", author.username)))?,
    };
    Ok(Some((event, author)))
}

/// Makes the portal of a conversation opened from gadka: the local member's puppet
/// creates a direct room and invites the Matrix member. Nothing when the
/// conversation has a portal already (the Matrix user invited the puppet first). A
/// room the puppet made for it before, whose id was never recorded (the bridge
/// stopped in between), becomes the portal instead of a second room.
async fn make_portal(
    bridge: &Bridge,
    conversation_id: i64,
    local_id: i64,
    matrix_id: i64,
) -> Result<(), CarryError> {
    let _portals = bridge.portals.lock().await;
    if bridge.store.portal_room(conversation_id).await?.is_some() {
        return Ok(());
    }
    let peer = bridge
        .chat
        .find_user(matrix_id)
        .await?
        .and_then(|user| user.matrix_id)
        .ok_or_else(|| CarryError::Void(format!("user {matrix_id} is not on Matrix")))?;
    let peer = OwnedUserId::try_from(peer)
        .map_err(|e| CarryError::Void(format!("a Matrix user without a Matrix ID: {e}")))?;
    let puppet = puppet(bridge, local_id).await?;
    bridge.ensure_puppet(&puppet).await.map_err(|e| match e {
        PuppetError::Chat(e) => CarryError::Chat(e),
        PuppetError::Homeserver(e) => CarryError::Homeserver(e),
    })?;
    // A room made just before the bridge stopped, and never recorded, is taken up
    // rather than made twice: the peer would see two invites.
    let room = match bridge
        .homeserver
        .find_dm(&puppet, &peer, conversation_id)
        .await?
    {
        Some(room) => room,
        None => {
            bridge
                .homeserver
                .create_dm(&puppet, &peer, conversation_id)
                .await?
        }
    };
    bridge
        .store
        .set_portal(
            conversation_id,
            room.as_str(),
            chrono::Utc::now().timestamp_millis(),
        )
        .await?;
    tracing::info!(%room, conversation_id, "a portal opened from gadka");
    Ok(())
}

/// What a Matrix user reads when a deactivated user's puppet leaves.
const DEACTIVATED: &str = "This gadka account has been deactivated by the server's admin.";

/// A deactivated user's puppet leaves a portal. Nothing when the user was reactivated
/// before the row came up, or the puppet is no longer in the room (Matrix refuses to
/// let someone leave a room they are not in, which is as good as done).
async fn leave(bridge: &Bridge, conversation_id: i64, user_id: i64) -> Result<(), CarryError> {
    let still_deactivated = bridge
        .store
        .user(UserId::new(user_id))
        .await?
        .is_some_and(|user| user.deactivated_at.is_some());
    if !still_deactivated {
        return Ok(());
    }
    let room = portal(bridge, conversation_id).await?;
    let puppet = puppet(bridge, user_id).await?;
    match bridge.homeserver.leave(&room, &puppet, DEACTIVATED).await {
        Ok(()) => {
            tracing::info!(%room, %puppet, "a deactivated user's puppet left");
            Ok(())
        }
        Err(e) if e.errcode() == Some("M_FORBIDDEN") => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The portal room of a conversation.
async fn portal(bridge: &Bridge, conversation_id: i64) -> Result<OwnedRoomId, CarryError> {
    let room = bridge
        .store
        .portal_room(conversation_id)
        .await?
        .ok_or(CarryError::NoPortal { conversation_id })?;
    OwnedRoomId::try_from(room)
        .map_err(|e| CarryError::Void(format!("a portal that is no room id: {e}")))
}

/// The puppet of a local user.
async fn puppet(bridge: &Bridge, user_id: i64) -> Result<OwnedUserId, CarryError> {
    let user = bridge
        .chat
        .find_user(user_id)
        .await?
        .ok_or_else(|| CarryError::Void(format!("no user {user_id}")))?;
    bridge
        .settings
        .puppet_id(&user.username)
        .map_err(|e| CarryError::Void(format!("no puppet for {}: {e}", user.username)))
}

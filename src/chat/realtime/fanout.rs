//! Who hears of a commit on this node: the engine's events turned into socket frames.
//!
//! Each event is serialised once and the one buffer is queued on every recipient
//! socket. The hub never waits, so this runs inline on the engine's publisher, in commit order:
//! every socket sees messages, receipts and changes in the order the database
//! committed them.

use crate::chat::{
    committed::{Committed, Subscriber},
    events::Event,
};
use crate::hub::Hub;

/// Delivers committed events to the sockets of the people they concern.
pub struct Fanout {
    hub: Hub,
}

impl Fanout {
    pub fn new(hub: Hub) -> Self {
        Self { hub }
    }
}

impl Subscriber for Fanout {
    fn committed(&self, events: &[Committed]) {
        for event in events {
            match event {
                // The recipient, and the sender's other sockets (the sending one is
                // answered with `sent`).
                Committed::Message {
                    message,
                    recipient_id,
                    origin,
                } => self.hub.deliver(
                    &[*recipient_id, message.sender_id],
                    &Event::Message {
                        message: message.clone(),
                    }
                    .delivery(),
                    *origin,
                ),
                // A receipt only after the marker is committed (F6): to the other
                // member, and to the reader's other sockets.
                Committed::Marker {
                    conversation_id,
                    user_id,
                    peer_id,
                    up_to_seq,
                    origin,
                    pos,
                } => self.hub.deliver(
                    &[*peer_id, *user_id],
                    &Event::Receipt {
                        conversation_id: *conversation_id,
                        user_id: *user_id,
                        up_to_seq: *up_to_seq,
                        pos: *pos,
                    }
                    .delivery(),
                    *origin,
                ),
                // Changes to a message reach every socket of both members, the acting
                // one too: each device shows what was committed, not what it asked.
                Committed::Edited {
                    message,
                    peer_id,
                    pos,
                } => self.hub.deliver(
                    &[*peer_id, message.sender_id],
                    &Event::MessageEdited {
                        message: message.clone(),
                        pos: *pos,
                    }
                    .delivery(),
                    None,
                ),
                Committed::Deleted {
                    conversation_id,
                    seq,
                    sender_id,
                    peer_id,
                    pos,
                    ..
                } => self.hub.deliver(
                    &[*peer_id, *sender_id],
                    &Event::MessageDeleted {
                        conversation_id: *conversation_id,
                        seq: *seq,
                        pos: *pos,
                    }
                    .delivery(),
                    None,
                ),
                Committed::Reaction {
                    conversation_id,
                    seq,
                    user_id,
                    peer_id,
                    key,
                    on,
                    pos,
                } => self.hub.deliver(
                    &[*peer_id, *user_id],
                    &Event::Reaction {
                        conversation_id: *conversation_id,
                        seq: *seq,
                        user_id: *user_id,
                        key: key.clone(),
                        on: *on,
                        pos: *pos,
                    }
                    .delivery(),
                    None,
                ),
                // Presence reaches people who share a conversation; these two just
                // began to, so each learns whether the other is online now.
                Committed::Conversation { members, .. } => {
                    let [first, second] = members.members();
                    for (viewer, peer) in [(first, second), (second, first)] {
                        if self.hub.is_online(peer) {
                            self.hub.deliver(
                                &[viewer],
                                &Event::Presence {
                                    user_id: peer,
                                    online: true,
                                }
                                .delivery(),
                                None,
                            );
                        }
                    }
                }
                Committed::Profile { .. } => {}
            }
        }
    }
}

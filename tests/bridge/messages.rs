//! A chat started from Matrix: the puppet joins, and messages go both ways in order,
//! each once.

use gadka::config::Settings;
use gadka_test_support::{Client, PATIENCE, eventually};
use serde_json::{Value, json};

use crate::{
    gadka::Gadka,
    matrix::{self, MatrixUser},
    synapse::{self, Slot},
};

/// A chat started from Matrix: gadka's bob and Matrix's alice in a portal.
pub struct Dm {
    pub gadka: Gadka,
    pub bob: Client,
    pub alice: MatrixUser,
    pub room: String,
    pub puppet: String,
    /// Bob's conversation with alice, once she has written.
    pub conversation: i64,
}

/// bob on gadka; alice on Matrix starts a chat with his puppet and says "hello".
pub async fn dm(slot: &Slot, name: &str) -> Dm {
    dm_with(slot, name, |_| {}).await
}

/// gadka (its settings changed by `configure`) with the bridge ready and bob
/// registered on it, and a Matrix user `name` (made unique to the slot) on Synapse.
pub async fn bob_and_matrix_user(
    slot: &Slot,
    name: &str,
    configure: impl FnOnce(&mut Settings),
) -> (Gadka, Client, MatrixUser) {
    let gadka = Gadka::start(slot, configure).await;
    gadka.bridge_health("ready").await;
    let bob = gadka.register("bob", "Bob").await;
    let matrix_user =
        MatrixUser::register(synapse::shared().await, &format!("{name}{}", slot.index)).await;
    (gadka, bob, matrix_user)
}

/// [`dm`], with gadka's settings changed by `configure` first.
pub async fn dm_with(slot: &Slot, name: &str, configure: impl FnOnce(&mut Settings)) -> Dm {
    let (gadka, bob, alice) = bob_and_matrix_user(slot, name, configure).await;
    let (room, conversation) = open_portal(slot, &alice, &bob).await;
    Dm {
        gadka,
        bob,
        alice,
        room,
        puppet: slot.puppet("bob"),
        conversation,
    }
}

/// Alice starts a chat with Bob's puppet, which joins, and says "hello"; once that
/// has reached Bob: the room, and Bob's conversation with her.
pub async fn open_portal(slot: &Slot, alice: &MatrixUser, bob: &Client) -> (String, i64) {
    let puppet = slot.puppet("bob");
    let room = alice.start_dm(&puppet).await;
    alice.wait_for_member(&room, &puppet).await;
    alice.say(&room, "hello").await;
    let conversations = bob.wait_for_conversations(1).await;
    let conversation = conversations[0]["id"].as_i64().unwrap();
    // The conversation opens with the invite, before "hello" is carried in.
    bob.wait_for_messages(conversation, 1).await;
    (room, conversation)
}

#[tokio::test]
async fn a_dm_started_from_matrix_carries_messages_both_ways_in_order_and_once() {
    let slot = synapse::shared().await.slot().await;
    let (_gadka, bob, alice) = bob_and_matrix_user(&slot, "alice-dm", |_| {}).await;

    // Element's "Start chat" with @g<n>_bob: the puppet joins.
    let puppet = slot.puppet("bob");
    let room = alice.start_dm(&puppet).await;
    alice.wait_for_member(&room, &puppet).await;

    // Matrix → gadka: text, a formatted body (as its plain body), an emote.
    alice.say(&room, "one").await;
    alice
        .send(
            &room,
            json!({"msgtype": "m.text", "body": "two", "format": "org.matrix.custom.html", "formatted_body": "<b>two</b>"}),
        )
        .await;
    alice
        .send(&room, json!({"msgtype": "m.emote", "body": "waves"}))
        .await;
    let conversations = bob.wait_for_conversations(1).await;
    let conversation = &conversations[0];
    let peer = &conversation["peer"];
    assert_eq!(
        peer["username"],
        alice.user_id.as_str(),
        "the Matrix ID: {peer}"
    );
    assert_eq!(peer["display_name"], format!("alice-dm{}", slot.index));
    let id = conversation["id"].as_i64().unwrap();
    let received = bob.wait_for_messages(id, 3).await;
    assert_eq!(bodies(&received), ["one", "two", "waves"]);
    assert!(received.iter().all(|m| m["sender_id"] == peer["id"]));

    // gadka → Matrix, from the puppet, in order.
    for body in ["four", "five", "six"] {
        bob.send(id, body).await;
    }
    let from_puppet = alice.wait_for_messages_from(&room, &puppet, 3).await;
    assert_eq!(matrix::bodies(&from_puppet), ["four", "five", "six"]);

    // Synapse pushes the puppet's events to the bridge too: none comes back, and
    // nothing arrives twice. A marker each way shows it, as whatever was on its way
    // arrives before the marker.
    let all = through_marker(&alice, &room, &bob, id, "over").await;
    assert_eq!(
        bodies(&all),
        ["one", "two", "waves", "four", "five", "six", "over"]
    );
    bob.send(id, "over too").await;
    let from_puppet = alice.wait_for_messages_from(&room, &puppet, 4).await;
    assert_eq!(
        matrix::bodies(&from_puppet),
        ["four", "five", "six", "over too"]
    );

    // The homeserver retrying a transaction: its events have their effect once.
    let events = json!([{
        "type": "m.room.message",
        "room_id": room,
        "sender": alice.user_id,
        "event_id": format!("$replayed-{}", slot.index),
        "origin_server_ts": 1,
        "content": {"msgtype": "m.text", "body": "said once"},
    }]);
    for _ in 0..2 {
        slot.deliver("replayed", events.clone()).await;
    }
    let all = bob.wait_for_messages(id, 9).await;
    assert_eq!(bodies(&all).last().copied(), Some("said once"));
    assert_eq!(all.len(), 9, "{:?}", bodies(&all));
}

/// Bob's messages once `marker`, which Alice sends now, has reached him: whatever
/// Matrix sent before it has then arrived too, or never will. Synapse hands the bridge
/// its events in order, and the bridge answers a transaction once it is committed.
pub async fn through_marker(
    alice: &MatrixUser,
    room: &str,
    bob: &Client,
    conversation: i64,
    marker: &str,
) -> Vec<Value> {
    alice.say(room, marker).await;
    let what = format!("{marker:?} to reach gadka");
    eventually(&what, PATIENCE, async || {
        let messages = bob.history(conversation, "?limit=100").await;
        if messages.iter().any(|m| m["body"] == marker) {
            Ok(messages)
        } else {
            Err(Value::from(messages))
        }
    })
    .await
}

/// The bodies of gadka messages.
pub fn bodies(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn gadka_restarted_mid_conversation_carries_on_in_order() {
    let synapse = synapse::shared().await;
    let slot = synapse.slot().await;
    let Dm {
        gadka,
        bob,
        alice,
        room,
        puppet,
        conversation,
    } = dm(&slot, "alice-restart").await;
    bob.send(conversation, "before").await;
    alice.wait_for_messages_from(&room, &puppet, 1).await;

    let data = gadka.stop().await;
    let gadka = Gadka::start_in(&slot, data, |_| {}).await;
    gadka.bridge_health("ready").await;
    // The same session, the same portal: only the address changed.
    let bob = bob.on(gadka.app());

    alice.say(&room, "after").await;
    bob.wait_for_messages(conversation, 3).await;
    bob.send(conversation, "after too").await;
    let all = bob.wait_for_messages(conversation, 4).await;
    assert_eq!(bodies(&all), ["hello", "before", "after", "after too"]);
    let from_puppet = alice.wait_for_messages_from(&room, &puppet, 2).await;
    assert_eq!(matrix::bodies(&from_puppet), ["before", "after too"]);
}

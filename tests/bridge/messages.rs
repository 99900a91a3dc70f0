//! A chat started from Matrix: the puppet joins, and messages go both ways in order,
//! each once.

use std::time::Duration;

use gadka::config::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    gadka::{Gadka, GadkaUser},
    matrix::{MatrixUser, mxid},
    synapse::{self, Slot},
};

/// A chat started from Matrix: gadka's bob and Matrix's alice in a portal.
pub struct Dm {
    pub gadka: Gadka,
    pub bob: GadkaUser,
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
) -> (Gadka, GadkaUser, MatrixUser) {
    let gadka = Gadka::start(slot, configure).await;
    gadka.bridge_health("ready").await;
    let bob = gadka.register("bob", "Bob").await;
    let matrix_user =
        MatrixUser::register(synapse::shared(), &format!("{name}{}", slot.index)).await;
    (gadka, bob, matrix_user)
}

/// [`dm`], with gadka's settings changed by `configure` first.
pub async fn dm_with(slot: &Slot, name: &str, configure: impl FnOnce(&mut Settings)) -> Dm {
    let (gadka, bob, alice) = bob_and_matrix_user(slot, name, configure).await;
    let puppet = mxid(&format!("{}bob", slot.prefix));
    let room = alice.start_dm(&puppet).await;
    alice.wait_for_member(&room, &puppet).await;
    alice
        .send(&room, json!({"msgtype": "m.text", "body": "hello"}))
        .await;
    let conversations = bob.wait_for_conversations(1).await;
    let conversation = conversations[0]["id"].as_i64().unwrap();
    // The conversation opens with the invite, before "hello" is carried in.
    bob.wait_for_messages(conversation, 1).await;
    Dm {
        gadka,
        bob,
        alice,
        room,
        puppet,
        conversation,
    }
}

#[tokio::test]
async fn a_dm_started_from_matrix_carries_messages_both_ways_in_order_and_once() {
    let slot = synapse::shared().slot().await;
    let (_gadka, bob, alice) = bob_and_matrix_user(&slot, "alice-dm", |_| {}).await;

    // Element's "Start chat" with @g<n>_bob: the puppet joins.
    let puppet = mxid(&format!("{}bob", slot.prefix));
    let room = alice.start_dm(&puppet).await;
    alice.wait_for_member(&room, &puppet).await;

    // Matrix → gadka: text, a formatted body (as its plain body), an emote.
    alice
        .send(&room, json!({"msgtype": "m.text", "body": "one"}))
        .await;
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
    let seen: Vec<_> = from_puppet
        .iter()
        .map(|e| e["content"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(seen, ["four", "five", "six"]);

    // Synapse pushes the puppet's events to the bridge too: none comes back, and
    // nothing arrives twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = bob.wait_for_messages(id, 6).await;
    assert_eq!(bodies(&all), ["one", "two", "waves", "four", "five", "six"]);
    assert_eq!(
        alice.wait_for_messages_from(&room, &puppet, 3).await.len(),
        3
    );

    // The homeserver retrying a transaction: its events have their effect once.
    let transaction = json!({"events": [{
        "type": "m.room.message",
        "room_id": room,
        "sender": alice.user_id,
        "event_id": format!("$replayed-{}", slot.index),
        "origin_server_ts": 1,
        "content": {"msgtype": "m.text", "body": "said once"},
    }]});
    for _ in 0..2 {
        let response = reqwest::Client::new()
            .put(format!(
                "http://127.0.0.1:{}/_matrix/app/v1/transactions/replayed",
                slot.appservice_port
            ))
            .bearer_auth(&slot.hs_token)
            .json(&transaction)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let all = bob.wait_for_messages(id, 7).await;
    assert_eq!(bodies(&all).last().copied(), Some("said once"));
    assert_eq!(all.len(), 7, "{:?}", bodies(&all));
}

fn bodies(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn gadka_restarted_mid_conversation_carries_on_in_order() {
    let synapse = synapse::shared();
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
    let bob = bob.on(&gadka);

    alice
        .send(&room, json!({"msgtype": "m.text", "body": "after"}))
        .await;
    bob.wait_for_messages(conversation, 3).await;
    bob.send(conversation, "after too").await;
    let all = bob.wait_for_messages(conversation, 4).await;
    assert_eq!(bodies(&all), ["hello", "before", "after", "after too"]);
    let from_puppet = alice.wait_for_messages_from(&room, &puppet, 2).await;
    let seen: Vec<_> = from_puppet
        .iter()
        .map(|e| e["content"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(seen, ["before", "after too"]);
}

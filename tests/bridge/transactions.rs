//! A transaction from the homeserver is applied once: its id is stored in the same
//! commit as its effects, so the same id again, even after gadka restarted, changes
//! nothing. A homeserver retrying late would otherwise undo a newer change with an
//! older one, as a display name shows.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    gadka::{Gadka, GadkaUser},
    messages::{Dm, dm},
    synapse::{self, Slot},
};

/// `PUT /_matrix/app/v1/transactions/{id}` as the homeserver sends it.
async fn put(slot: &Slot, id: &str, events: Value) {
    let response = reqwest::Client::new()
        .put(format!(
            "http://127.0.0.1:{}/_matrix/app/v1/transactions/{id}",
            slot.appservice_port
        ))
        .bearer_auth(&slot.hs_token)
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "transaction {id}");
}

/// Alice's join event naming her `name`, as Matrix sends it for a new display name.
fn renamed(d: &Dm, event: &str, name: &str) -> Value {
    json!({
        "type": "m.room.member",
        "room_id": d.room,
        "sender": d.alice.user_id,
        "state_key": d.alice.user_id,
        "event_id": event,
        "origin_server_ts": 1,
        "content": {"membership": "join", "displayname": name},
    })
}

fn said(d: &Dm, event: &str, body: &str) -> Value {
    json!({
        "type": "m.room.message",
        "room_id": d.room,
        "sender": d.alice.user_id,
        "event_id": event,
        "origin_server_ts": 1,
        "content": {"msgtype": "m.text", "body": body},
    })
}

/// What Bob sees of Alice: her name, and the bodies of their conversation.
async fn seen(bob: &GadkaUser, conversation: i64) -> (Value, Vec<String>) {
    let peer = bob.wait_for_conversations(1).await[0]["peer"]["display_name"].clone();
    let page = bob
        .get(&format!(
            "/api/conversations/{conversation}/messages?limit=100"
        ))
        .await;
    let bodies = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    (peer, bodies)
}

#[tokio::test]
async fn a_replayed_transaction_id_has_its_effect_once_also_after_a_restart() {
    let synapse = synapse::shared();
    let slot = synapse.slot().await;
    let d = dm(&slot, "alice-txn").await;
    let first = json!([
        renamed(&d, "$name-1", "First Name"),
        said(&d, "$said-1", "once")
    ]);

    // Answered after the commit: Bob sees its effects at once.
    put(&slot, "t1", first.clone()).await;
    let expected = vec!["hello".to_owned(), "once".to_owned()];
    assert_eq!(
        seen(&d.bob, d.conversation).await,
        (json!("First Name"), expected.clone())
    );
    put(&slot, "t2", json!([renamed(&d, "$name-2", "Second Name")])).await;
    assert_eq!(seen(&d.bob, d.conversation).await.0, "Second Name");

    // The homeserver sends t1 again (its answer was lost): nothing changes.
    put(&slot, "t1", first.clone()).await;
    assert_eq!(
        seen(&d.bob, d.conversation).await,
        (json!("Second Name"), expected.clone())
    );

    // Nor after a restart: the id is in the database, not in memory.
    let Dm {
        gadka,
        bob,
        conversation,
        ..
    } = d;
    let data = gadka.stop().await;
    let gadka = Gadka::start_in(&slot, data, |_| {}).await;
    gadka.bridge_health("ready").await;
    let bob = bob.on(&gadka);
    put(&slot, "t1", first).await;
    assert_eq!(
        seen(&bob, conversation).await,
        (json!("Second Name"), expected)
    );
}

//! A transaction from the homeserver is applied once: its id is stored in the same
//! commit as its effects, so the same id again, even after gadka restarted, changes
//! nothing. A homeserver retrying late would otherwise undo a newer change with an
//! older one, as a display name shows.

use gadka_test_support::Client;
use serde_json::{Value, json};

use crate::{
    gadka::Gadka,
    messages::{Dm, dm},
    synapse,
};

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
async fn seen(bob: &Client, conversation: i64) -> (Value, Vec<String>) {
    let peer = bob.wait_for_conversations(1).await[0]["peer"]["display_name"].clone();
    let bodies = bob
        .history(conversation, "?limit=100")
        .await
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    (peer, bodies)
}

#[tokio::test]
async fn a_replayed_transaction_id_has_its_effect_once_also_after_a_restart() {
    let synapse = synapse::shared().await;
    let slot = synapse.slot().await;
    let d = dm(&slot, "alice-txn").await;
    let first = json!([
        renamed(&d, "$name-1", "First Name"),
        said(&d, "$said-1", "once")
    ]);

    // Answered after the commit: Bob sees its effects at once.
    slot.deliver("t1", first.clone()).await;
    let expected = vec!["hello".to_owned(), "once".to_owned()];
    assert_eq!(
        seen(&d.bob, d.conversation).await,
        (json!("First Name"), expected.clone())
    );
    slot.deliver("t2", json!([renamed(&d, "$name-2", "Second Name")]))
        .await;
    assert_eq!(seen(&d.bob, d.conversation).await.0, "Second Name");

    // The homeserver sends t1 again (its answer was lost): nothing changes.
    slot.deliver("t1", first.clone()).await;
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
    let bob = bob.on(gadka.app());
    slot.deliver("t1", first).await;
    assert_eq!(
        seen(&bob, conversation).await,
        (json!("Second Name"), expected)
    );
}

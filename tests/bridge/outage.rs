//! The homeserver away for a while: local users chat on, and once it is back every
//! message reaches Matrix, in order, once.

use std::time::Duration;

use gadka_test_support::{PATIENCE, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    gadka::Gadka,
    matrix::{MatrixUser, bodies},
    messages::open_portal,
    synapse::OwnSynapse,
};

#[tokio::test]
async fn synapse_stopped_and_started_again_loses_nothing_and_keeps_order() {
    let mut own = OwnSynapse::start().await;
    let slot = own.slot.clone();
    let gadka = Gadka::start(&slot, |_| {}).await;
    gadka.bridge_health("ready").await;
    let bob = gadka.register("bob", "Bob").await;
    let carol = gadka.register("carol", "Carol").await;
    let alice = MatrixUser::register(&own.synapse, "alice-outage").await;
    let puppet = slot.puppet("bob");
    let (room, conversation) = open_portal(&slot, &alice, &bob).await;

    own.stop();
    // Local chat goes on, at its own pace: every send is answered, none waits for
    // the homeserver.
    let (status, body) = bob
        .post("/api/conversations", json!({"user_id": carol.id()}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let local = body["conversation"]["id"].as_i64().unwrap();
    let sent: Vec<String> = (1..=5).map(|n| format!("while away {n}")).collect();
    for body in &sent {
        for conversation in [conversation, local] {
            let started = std::time::Instant::now();
            bob.send(conversation, body).await;
            assert!(started.elapsed() < Duration::from_secs(2), "a send waited");
        }
    }
    assert_eq!(carol.wait_for_messages(local, 5).await.len(), 5);
    own.cut_off_next_call().await;

    own.resume().await;
    // "back" goes out after them, in the same lane of the outbox: once it is on
    // Matrix, nothing before it is still on its way, once or twice. The outbox tries
    // again after a backoff that grew while Synapse was away.
    bob.send(conversation, "back").await;
    let seen = eventually("\"back\" to reach Matrix", 3 * PATIENCE, async || {
        let events = alice.messages_from(&room, &puppet).await;
        if bodies(&events).last() == Some(&"back") {
            Ok(events)
        } else {
            Err(Value::from(events))
        }
    })
    .await;
    let mut expected: Vec<&str> = sent.iter().map(String::as_str).collect();
    expected.push("back");
    assert_eq!(bodies(&seen), expected, "everything, in order, once");
}

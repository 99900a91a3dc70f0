//! The homeserver away for a while: local users chat on, and once it is back every
//! message reaches Matrix, in order, once.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    gadka::Gadka,
    matrix::{MatrixUser, mxid},
    synapse::OwnSynapse,
};

#[tokio::test]
async fn synapse_stopped_and_started_again_loses_nothing_and_keeps_order() {
    let mut own = OwnSynapse::start();
    let slot = own.slot.clone();
    let gadka = Gadka::start(&slot, |_| {}).await;
    gadka.bridge_health("ready").await;
    let bob = gadka.register("bob", "Bob").await;
    let carol = gadka.register("carol", "Carol").await;
    let alice = MatrixUser::register(&own.synapse, "alice-outage").await;
    let puppet = mxid(&format!("{}bob", slot.prefix));
    let room = alice.start_dm(&puppet).await;
    alice.wait_for_member(&room, &puppet).await;
    alice
        .send(&room, json!({"msgtype": "m.text", "body": "hello"}))
        .await;
    let conversation = bob.wait_for_conversations(1).await[0]["id"]
        .as_i64()
        .unwrap();
    bob.wait_for_messages(conversation, 1).await;

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
    tokio::time::sleep(Duration::from_secs(2)).await;

    own.resume();
    let mut seen = Vec::new();
    for _ in 0..60 {
        seen = alice
            .wait_for_messages_from(&room, &puppet, 0)
            .await
            .iter()
            .map(|e| e["content"]["body"].as_str().unwrap().to_owned())
            .collect();
        if seen.len() >= sent.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(seen, sent, "everything, in order, once");
}

//! Read receipts both ways: "Seen" in gadka once the Matrix user's receipt is
//! committed, and the puppet's `m.read` on Matrix when the gadka user reads.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{messages::dm, synapse};

#[tokio::test]
async fn read_receipts_go_both_ways() {
    let synapse = synapse::shared();
    let slot = synapse.slot().await;
    let d = dm(&slot, "alice-receipts").await;

    // gadka → Matrix: bob reads; alice sees the puppet's m.read on her message.
    d.bob.wait_for_messages(d.conversation, 1).await;
    let (status, body) = d
        .bob
        .post(
            &format!("/api/conversations/{}/read", d.conversation),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let hello = d
        .alice
        .wait_for_messages_from(&d.room, &d.alice.user_id, 1)
        .await;
    let hello_id = hello[0]["event_id"].as_str().unwrap().to_owned();
    let mut receipts = Value::Null;
    let mut sync = d.alice.syncer();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        let page = sync.next().await;
        receipts = page["rooms"]["join"][&d.room]["ephemeral"]["events"].clone();
        let read_by_puppet = receipts.as_array().into_iter().flatten().any(|e| {
            e["type"] == "m.receipt" && e["content"][&hello_id]["m.read"].get(&d.puppet).is_some()
        });
        if read_by_puppet {
            break;
        }
        receipts = Value::Null;
    }
    assert!(
        !receipts.is_null(),
        "the puppet's m.read on {hello_id} never reached alice"
    );

    // Matrix → gadka: bob writes; his message is unread until alice's receipt.
    let sent = d.bob.send(d.conversation, "did you see this?").await;
    assert_eq!(sent["read"], false);
    let from_bob = d.alice.wait_for_messages_from(&d.room, &d.puppet, 1).await;
    let event_id = from_bob[0]["event_id"].as_str().unwrap();
    let receipt = d
        .alice
        .call(
            Method::POST,
            &format!(
                "/_matrix/client/v3/rooms/{}/receipt/m.read/{event_id}",
                d.room
            ),
            Some(json!({})),
        )
        .await;
    assert_eq!(receipt.status, StatusCode::OK, "{}", receipt.body);
    let mut last = Value::Null;
    for _ in 0..100 {
        let messages = d.bob.wait_for_messages(d.conversation, 2).await;
        last = messages.last().cloned().unwrap_or_default();
        if last["read"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last["body"], "did you see this?");
    assert_eq!(last["read"], true, "bob sees it seen: {last}");
}

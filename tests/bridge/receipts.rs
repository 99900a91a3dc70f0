//! Read receipts both ways: "Seen" in gadka once the Matrix user's receipt is
//! committed, and the puppet's `m.read` on Matrix when the gadka user reads.

use gadka_test_support::{Client, PATIENCE, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{messages::dm, synapse};

#[tokio::test]
async fn read_receipts_go_both_ways() {
    let synapse = synapse::shared().await;
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
    d.alice
        .syncer()
        .until(
            &format!("the puppet's m.read on {hello_id} to reach alice"),
            |page| {
                let ephemeral = &page["rooms"]["join"][&d.room]["ephemeral"]["events"];
                let read = ephemeral.as_array().into_iter().flatten().any(|e| {
                    e["type"] == "m.receipt"
                        && e["content"][&hello_id]["m.read"].get(&d.puppet).is_some()
                });
                read.then_some(())
            },
        )
        .await;

    // Matrix → gadka: bob writes; his message is unread until alice's receipt.
    let sent = d.bob.send(d.conversation, "did you see this?").await;
    assert_eq!(sent["read"], false);
    let from_bob = d.alice.wait_for_messages_from(&d.room, &d.puppet, 1).await;
    let event_id = from_bob[0]["event_id"].as_str().unwrap();
    d.alice.read_up_to(&d.room, event_id).await;
    let last = seen_by_alice(&d.bob, d.conversation).await;
    assert_eq!(last["body"], "did you see this?");
}

/// Bob's last message in `conversation`, once it shows as read ("Seen").
pub async fn seen_by_alice(bob: &Client, conversation: i64) -> Value {
    eventually("bob to see his message seen", PATIENCE, async || {
        let messages = bob.history(conversation, "?limit=100").await;
        match messages.last() {
            Some(last) if last["read"] == true => Ok(last.clone()),
            _ => Err(Value::from(messages)),
        }
    })
    .await
}

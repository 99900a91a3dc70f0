//! Typing both ways.

use std::time::{Duration, Instant};

use gadka_test_support::{PATIENCE, eventually};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{messages::dm, synapse};

#[tokio::test]
async fn typing_goes_both_ways() {
    let synapse = synapse::shared().await;
    let slot = synapse.slot().await;
    let d = dm(&slot, "alice-typing").await;
    let (mut socket, _) = d.gadka.app().socket(&d.bob).await;
    let peer = d.bob.wait_for_conversations(1).await[0]["peer"]["id"].clone();

    // Matrix → gadka: alice types, then stops.
    let path = format!(
        "/_matrix/client/v3/rooms/{}/typing/{}",
        d.room, d.alice.user_id
    );
    let typing = d
        .alice
        .call(
            Method::PUT,
            &path,
            Some(json!({"typing": true, "timeout": 30000})),
        )
        .await;
    assert_eq!(typing.status, StatusCode::OK, "{}", typing.body);
    let frame = socket.next_of("typing").await;
    assert_eq!(frame["conversation_id"], d.conversation);
    assert_eq!(frame["user_id"], peer);
    assert_eq!(frame["typing"], true);
    d.alice
        .call(Method::PUT, &path, Some(json!({"typing": false})))
        .await;
    let frame = socket.next_of("typing").await;
    assert_eq!(frame["typing"], false);

    // gadka → Matrix: bob types; alice's sync shows his puppet typing. Typing is best
    // effort, so bob's client says it again every second while he types, as clients do.
    let mut sync = d.alice.syncer();
    let mut said: Option<Instant> = None;
    eventually("alice to see bob's puppet typing", PATIENCE, async || {
        if said.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            socket
                .send(json!({"type": "typing", "conversation_id": d.conversation, "typing": true}))
                .await;
            said = Some(Instant::now());
        }
        let page = sync.next().await;
        let ephemeral = &page["rooms"]["join"][&d.room]["ephemeral"]["events"];
        let puppet_typing = ephemeral.as_array().into_iter().flatten().any(|e| {
            e["type"] == "m.typing"
                && e["content"]["user_ids"]
                    .as_array()
                    .is_some_and(|ids| ids.iter().any(|id| id == d.puppet.as_str()))
        });
        if puppet_typing {
            Ok(())
        } else {
            Err(ephemeral.clone())
        }
    })
    .await;
}

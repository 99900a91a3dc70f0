//! A chat started from gadka with a Matrix user whose homeserver refuses its portal
//! room for good: alice blocks every invite (`m.invite_permission_config`, Matrix
//! 1.18), so Synapse creates the room but refuses to invite her, with 403
//! `M_INVITE_BLOCKED`. Bob is told in the conversation, by a notice of the bridge's:
//! live on his socket, in the history (so after a reload), unread until he reads it;
//! his next message gets one more; and `/metrics` counts the failure.

use std::time::Duration;

use gadka_test_support::eventually;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{gadka::Gadka, messages::bob_and_matrix_user, synapse};

#[tokio::test]
async fn a_portal_the_homeserver_refuses_is_told_to_the_gadka_user_and_counted() {
    let slot = synapse::shared().await.slot().await;
    let (gadka, bob, alice) = bob_and_matrix_user(&slot, "alice-blocks-invites", |_| {}).await;
    let blocked = alice
        .call(
            Method::PUT,
            &format!(
                "/_matrix/client/v3/user/{}/account_data/m.invite_permission_config",
                alice.user_id
            ),
            Some(json!({"default_action": "block"})),
        )
        .await;
    assert_eq!(blocked.status, StatusCode::OK, "{}", blocked.body);
    let failures_before = portal_failures(&gadka).await;

    let found = bob
        .get_ok(&format!(
            "/api/users?q={}",
            alice.user_id.replace('@', "%40")
        ))
        .await;
    let alice_here = found["users"][0]["id"].as_i64().expect("alice is found");
    let (mut socket, _hello) = gadka.app().socket(&bob).await;
    let (status, body) = bob
        .post("/api/conversations", json!({"user_id": alice_here}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let conversation = body["conversation"]["id"].as_i64().unwrap();
    bob.send(conversation, "are you there?").await;

    // Synapse on a busy machine may take longer than one frame's patience to refuse
    // the invite: the notice is awaited stored first, and is on the socket by then.
    eventually(
        "the bridge's notice stored",
        Duration::from_secs(180),
        async || {
            let messages = bob.history(conversation, "?limit=100").await;
            if messages.iter().any(|m| m["kind"] == "notice") {
                Ok(())
            } else {
                Err(format!("{messages:?}"))
            }
        },
    )
    .await;

    // Live, after his message: the bridge's notice, saying whom and why.
    let notice = loop {
        let frame = socket.next_of("message").await;
        if frame["message"]["kind"] == "notice" {
            break frame["message"].clone();
        }
        assert_eq!(frame["message"]["body"], "are you there?", "{frame}");
    };
    assert_eq!(notice["conversation_id"], conversation, "{notice}");
    assert_eq!(
        notice["sender_id"], alice_here,
        "in the name of the Matrix member"
    );
    let text = notice["body"].as_str().unwrap();
    for said in [
        format!("Could not reach {} on Matrix", alice.user_id),
        "the homeserver refused to create the room (M_INVITE_BLOCKED: ".to_owned(),
        "Your messages were not delivered.".to_owned(),
    ] {
        assert!(text.contains(&said), "{said:?} in {text:?}");
    }

    // Stored in its place, and unread until read, like any message from the peer.
    let messages = bob.history(conversation, "?limit=100").await;
    assert_eq!(kinds(&messages), [None, Some("notice")], "{messages:?}");
    assert_eq!(messages[1], notice);
    let unread = bob.unread().await;
    assert_eq!(unread["total"], 1, "{unread}");
    let (status, read) = bob
        .post(
            &format!("/api/conversations/{conversation}/read"),
            json!({"up_to_seq": notice["seq"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(bob.unread().await["total"], 0);

    let failures = portal_failures(&gadka).await - failures_before;
    assert!(failures >= 1.0, "the failure is counted: {failures}");

    // Still no room: his next message gets a notice of its own, after it.
    bob.send(conversation, "hello?").await;
    let messages = bob.wait_for_messages(conversation, 4).await;
    assert_eq!(
        kinds(&messages),
        [None, Some("notice"), None, Some("notice")],
        "{messages:?}"
    );
    let again = messages[3]["body"].as_str().unwrap();
    assert!(
        again.contains("this conversation has no room there"),
        "{again}"
    );

    // A reload starts from the stored notice too.
    let (_socket, hello) = gadka.app().socket(&bob).await;
    let shown = &hello["conversations"][0]["messages"];
    assert_eq!(shown.as_array().map(Vec::len), Some(4), "{hello}");
    assert_eq!(shown[3]["kind"], "notice", "{hello}");
}

/// Each message's `kind`, `None` for a person's message (which has none).
fn kinds(messages: &[Value]) -> Vec<Option<&str>> {
    messages.iter().map(|m| m["kind"].as_str()).collect()
}

/// `gadka_bridge_portal_failures_total` as `/metrics` shows it now.
async fn portal_failures(gadka: &Gadka) -> f64 {
    let text = reqwest::get(gadka.app().metrics_url())
        .await
        .expect("gadka answers")
        .text()
        .await
        .expect("a body");
    text.lines()
        .find_map(|line| line.strip_prefix("gadka_bridge_portal_failures_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("the counter is shown from the start: {text}"))
}

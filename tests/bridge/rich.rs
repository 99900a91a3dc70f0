//! Replies, edits, deletes and reactions across the bridge, both ways, against the
//! real Synapse: what a Matrix user does in Element reaches gadka as the same verb,
//! and what a gadka user does reaches Matrix as the events Element renders.

use gadka_test_support::{Client, PATIENCE, eventually};
use serde_json::{Value, json};

use crate::{
    matrix::MatrixUser,
    messages::dm,
    synapse::{self},
};

/// Message `seq` of a conversation as `bob` reads it, once `check` holds for it.
async fn message_when(
    bob: &Client,
    conversation: i64,
    seq: i64,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    eventually(what, PATIENCE, async || {
        let history = bob.history(conversation, "?limit=100").await;
        match history.into_iter().find(|m| m["seq"] == seq) {
            Some(m) if check(&m) => Ok(m),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// The event id of the puppet's message with `body`, once it is on Matrix.
async fn puppet_event(alice: &MatrixUser, room: &str, puppet: &str, body: &str) -> String {
    eventually("the puppet's message on Matrix", PATIENCE, async || {
        let sent = alice.messages_from(room, puppet).await;
        sent.iter()
            .find(|e| e["content"]["body"] == body)
            .and_then(|e| e["event_id"].as_str().map(str::to_owned))
            .ok_or_else(|| format!("{sent:?}"))
    })
    .await
}

#[tokio::test]
async fn what_a_matrix_user_does_in_element_reaches_gadka() {
    let slot = synapse::shared().await.slot().await;
    let d = dm(&slot, "alice-rich-in").await;
    let (bob, alice, room, id) = (&d.bob, &d.alice, d.room.as_str(), d.conversation);
    let hello = alice
        .messages_from(room, &alice.user_id)
        .await
        .first()
        .and_then(|e| e["event_id"].as_str().map(str::to_owned))
        .expect("alice's hello on Matrix");
    bob.send(id, "Masz chwilę?").await;
    let question = puppet_event(alice, room, &d.puppet, "Masz chwilę?").await;

    // A reply, with the quote older clients put first: gadka keeps the words.
    alice
        .send(
            room,
            json!({
                "msgtype": "m.text",
                "body": format!("> <{}> Masz chwilę?\n\nJasne!", d.puppet),
                "m.relates_to": {"m.in_reply_to": {"event_id": question}},
            }),
        )
        .await;
    let reply = message_when(bob, id, 3, "alice's reply on gadka", |m| m.is_object()).await;
    assert_eq!(
        (&reply["body"], &reply["reply_to"]),
        (&json!("Jasne!"), &json!(2))
    );

    // An edit of her own message.
    alice
        .send(
            room,
            json!({
                "msgtype": "m.text",
                "body": "* hello there",
                "m.new_content": {"msgtype": "m.text", "body": "hello there"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": hello},
            }),
        )
        .await;
    let edited = message_when(bob, id, 1, "alice's edit on gadka", |m| {
        m["body"] == "hello there"
    })
    .await;
    assert!(edited["edited_at"].is_string(), "{edited}");

    // Her "edit" of bob's message is not an edit.
    alice
        .send(
            room,
            json!({
                "msgtype": "m.text",
                "body": "* hijacked",
                "m.new_content": {"msgtype": "m.text", "body": "hijacked"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": question},
            }),
        )
        .await;

    // A reaction, then taking it back.
    let thumbs = alice
        .send_event(
            room,
            "m.reaction",
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": question, "key": "👍"}}),
        )
        .await;
    let reacted = message_when(bob, id, 2, "alice's reaction on gadka", |m| {
        m["reactions"] != json!([])
    })
    .await;
    let alice_id = reply["sender_id"].clone();
    assert_eq!(
        reacted["reactions"],
        json!([{"key": "👍", "user_ids": [alice_id]}])
    );
    alice.redact(room, &thumbs).await;
    message_when(bob, id, 2, "alice's reaction taken back on gadka", |m| {
        m["reactions"] == json!([])
    })
    .await;

    // A redaction of her own message deletes it.
    alice.redact(room, &hello).await;
    let deleted = message_when(bob, id, 1, "alice's message deleted on gadka", |m| {
        m["deleted"] == true
    })
    .await;
    assert_eq!(deleted["body"], "");
    let question_now = message_when(bob, id, 2, "bob's message", |_| true).await;
    assert_eq!(
        question_now["body"], "Masz chwilę?",
        "her replacement of bob's message is no edit"
    );
    assert_eq!(
        bob.history(id, "?limit=100").await.len(),
        3,
        "no verb made a message"
    );
}

#[tokio::test]
async fn what_a_gadka_user_does_reaches_matrix_as_element_shows_it() {
    let slot = synapse::shared().await.slot().await;
    let d = dm(&slot, "alice-rich-out").await;
    let (bob, alice, room, id) = (&d.bob, &d.alice, d.room.as_str(), d.conversation);
    let hello = alice
        .messages_from(room, &alice.user_id)
        .await
        .first()
        .and_then(|e| e["event_id"].as_str().map(str::to_owned))
        .expect("alice's hello on Matrix");
    let path = format!("/api/conversations/{id}/messages");

    // A reply: m.in_reply_to her message, mentioning her.
    let (status, body) = bob
        .post(
            &path,
            json!({"body": "Cześć!", "txn_id": "rich-1", "reply_to": 1}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    let sent = eventually("bob's reply on Matrix", PATIENCE, async || {
        let from = alice.messages_from(room, &d.puppet).await;
        from.into_iter()
            .find(|e| e["content"]["body"] == "Cześć!")
            .ok_or("not yet")
    })
    .await;
    assert_eq!(
        sent["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        hello
    );
    assert_eq!(
        sent["content"]["m.mentions"]["user_ids"],
        json!([alice.user_id])
    );
    let reply_event = sent["event_id"].as_str().unwrap().to_owned();

    // An edit: m.replace, which the homeserver bundles with the original.
    let (status, body) = bob
        .patch(&format!("{path}/2"), json!({"body": "Cześć, Alice!"}))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let original = eventually("the edit bundled with bob's reply", PATIENCE, async || {
        let event = alice.event(room, &reply_event).await;
        let edit = &event["unsigned"]["m.relations"]["m.replace"];
        if edit.is_null() {
            Err(event)
        } else {
            Ok(event)
        }
    })
    .await;
    let edits = alice.relations(room, &reply_event, "m.replace").await;
    assert_eq!(
        edits.last().map(|e| &e["content"]["m.new_content"]["body"]),
        Some(&json!("Cześć, Alice!")),
        "{original}"
    );
    assert_eq!(edits.last().map(|e| &e["sender"]), Some(&json!(d.puppet)));

    // A reaction on her message, then taken back.
    assert_eq!(
        bob.put(&format!("{path}/1/reactions/%F0%9F%8E%89")).await.0,
        reqwest::StatusCode::NO_CONTENT
    );
    let annotation = eventually("bob's reaction on Matrix", PATIENCE, async || {
        let found = alice.relations(room, &hello, "m.annotation").await;
        found.into_iter().next().ok_or("none yet")
    })
    .await;
    assert_eq!(annotation["content"]["m.relates_to"]["key"], "🎉");
    assert_eq!(annotation["sender"], d.puppet);
    bob.delete(&format!("{path}/1/reactions/%F0%9F%8E%89"))
        .await;
    eventually(
        "bob's reaction taken back on Matrix",
        PATIENCE,
        async || {
            let found = alice.relations(room, &hello, "m.annotation").await;
            if found.is_empty() {
                Ok(())
            } else {
                Err(format!("{found:?}"))
            }
        },
    )
    .await;

    // A delete: the redaction of his message.
    assert_eq!(
        bob.delete(&format!("{path}/2")).await.0,
        reqwest::StatusCode::NO_CONTENT
    );
    eventually("bob's reply redacted on Matrix", PATIENCE, async || {
        let event = alice.event(room, &reply_event).await;
        if event["unsigned"]["redacted_because"].is_object() && event["content"] == json!({}) {
            Ok(())
        } else {
            Err(event)
        }
    })
    .await;

    // None of it came back to gadka as anything new.
    let history = bob.history(id, "?limit=100").await;
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0]["reactions"], json!([]));
}

//! Conversations end to end: opening, sending, reading, unread counts, history,
//! idempotent sends, and privacy between users.

use gadka_test_support::{TestApp, assert_error, seqs, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn reads(messages: &[Value]) -> Vec<bool> {
    messages
        .iter()
        .map(|m| m["read"].as_bool().unwrap())
        .collect()
}

#[tokio::test]
async fn two_users_chat_from_search_to_read() {
    two_users_chat(&spawn_app().await).await;
}

/// F1 → F3 with two users: find, open, send, see unread, read, see receipts.
pub async fn two_users_chat(app: &TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;

    // F1: alice finds bob, opens his profile, presses "Send message".
    let (_, found) = alice.get("/api/users?q=bo").await;
    let bob_id = found["users"][0]["id"].as_i64().unwrap();
    assert_eq!(bob_id, bob.id());
    let (status, opened) = alice
        .post("/api/conversations", json!({"user_id": bob_id}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    let conversation = &opened["conversation"];
    let id = conversation["id"].as_i64().unwrap();
    assert_eq!(conversation["peer"]["id"], bob_id);
    assert_eq!(conversation["peer"]["username"], "bob");
    assert_eq!(conversation["messages"], json!([]));
    assert_eq!(conversation["unread"], 0);

    // Opening again, from either side, is the same conversation.
    let (status, again) = alice
        .post("/api/conversations", json!({"user_id": bob_id}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["conversation"]["id"], id);
    let (_, from_bob) = bob
        .post("/api/conversations", json!({"user_id": alice.id()}))
        .await;
    assert_eq!(from_bob["conversation"]["id"], id);
    assert_eq!(from_bob["conversation"]["peer"]["username"], "alice");

    // F4: alice writes three messages.
    let mut sent = Vec::new();
    for body in ["hej", "are you there?", "<b>bold</b> & \"quoted\""] {
        sent.push(alice.send(id, body).await);
    }
    let first = &sent[0];
    assert_eq!(first["conversation_id"], id);
    assert_eq!(first["sender_id"], alice.id());
    assert_eq!(first["body"], "hej");
    assert_eq!(first["read"], false);
    assert_eq!(seqs(&sent), [1, 2, 3]);
    let ids: Vec<i64> = sent.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    let created_at = first["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created_at).is_ok()
            && created_at.len() == "2026-11-25T10:11:40.123Z".len()
            && created_at.ends_with('Z'),
        "RFC 3339 with milliseconds: {created_at}"
    );
    assert_eq!(
        sent[2]["body"], "<b>bold</b> & \"quoted\"",
        "bodies are stored as sent"
    );

    // F3a: bob logs in and sees who wrote and how much.
    let unread = bob.unread().await;
    assert_eq!(unread["total"], 3, "{unread}");
    assert_eq!(unread["senders"][0]["user"]["id"], alice.id());
    assert_eq!(unread["senders"][0]["user"]["username"], "alice");
    assert_eq!(unread["senders"][0]["count"], 3);
    assert_eq!(
        alice.unread().await["total"],
        0,
        "my own messages are not unread to me"
    );

    // F2: bob's conversation list has it, with the newest messages.
    let (_, list) = bob.get("/api/conversations").await;
    let entry = &list["conversations"][0];
    assert_eq!(entry["id"], id);
    assert_eq!(entry["peer"]["id"], alice.id());
    assert_eq!(entry["peer"]["display_name"], "alice");
    assert_eq!(entry["unread"], 3);
    assert_eq!(seqs(entry["messages"].as_array().unwrap()), [1, 2, 3]);

    // F3b/F5: bob reads up to 2; alice sees exactly those two as read.
    let (status, marker) = bob
        .post(
            &format!("/api/conversations/{id}/read"),
            json!({"up_to_seq": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{marker}");
    assert_eq!(marker["last_read_seq"], 2);
    assert_eq!(marker["moved"], true);
    assert_eq!(reads(&alice.history(id, "").await), [true, true, false]);
    assert_eq!(bob.unread().await["senders"][0]["count"], 1);
    let (_, list) = bob.get("/api/conversations").await;
    assert_eq!(list["conversations"][0]["unread"], 1);

    // A stale read changes nothing.
    let (_, stale) = bob
        .post(
            &format!("/api/conversations/{id}/read"),
            json!({"up_to_seq": 1}),
        )
        .await;
    assert_eq!(stale["moved"], false);
    assert_eq!(stale["last_read_seq"], 2);
    assert_eq!(reads(&alice.history(id, "").await), [true, true, false]);

    // Bob answers; then reads everything (no up_to_seq: up to the newest).
    let reply = bob.send(id, "yes!").await;
    assert_eq!(reply["seq"], 4);
    assert_eq!(
        alice.unread().await["senders"][0]["user"]["username"],
        "bob"
    );
    let (_, marker) = bob
        .post(&format!("/api/conversations/{id}/read"), json!({}))
        .await;
    assert_eq!(marker["last_read_seq"], 4);
    let unread = bob.unread().await;
    assert_eq!(unread, json!({"total": 0, "senders": []}));
    assert_eq!(
        reads(&alice.history(id, "").await),
        [true, true, true, false],
        "bob's own message waits for alice"
    );

    // Reading past the newest message only reaches the newest.
    let (_, marker) = alice
        .post(
            &format!("/api/conversations/{id}/read"),
            json!({"up_to_seq": 99}),
        )
        .await;
    assert_eq!(marker["last_read_seq"], 4);
    assert_eq!(reads(&bob.history(id, "").await), [true, true, true, true]);
}

#[tokio::test]
async fn the_conversation_list_is_newest_activity_first_with_limits() {
    let app = spawn_app().await;
    let me = app.register("myself").await;
    let mut peers = Vec::new();
    // Opened in this order, so that a tie in milliseconds (broken by id, newest
    // first) would still agree with the order the test expects.
    for name in ["cat", "ann", "ben"] {
        let peer = app.register(name).await;
        let id = me.open(&peer).await;
        peers.push((peer, id));
    }
    // ben writes last, ann before: ben, ann, then cat (silent).
    peers[1].0.send(peers[1].1, "from ann").await;
    for i in 0..12 {
        peers[2].0.send(peers[2].1, &format!("from ben {i}")).await;
    }
    let (_, list) = me.get("/api/conversations").await;
    let names: Vec<&str> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["peer"]["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ben", "ann", "cat"]);
    let ben = &list["conversations"][0];
    assert_eq!(
        seqs(ben["messages"].as_array().unwrap()),
        (3..=12).collect::<Vec<_>>(),
        "the newest 10, oldest first"
    );
    assert_eq!(ben["unread"], 12);

    let (_, list) = me.get("/api/conversations?limit=2&messages=1").await;
    let list = list["conversations"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(seqs(list[0]["messages"].as_array().unwrap()), [12]);
}

#[tokio::test]
async fn history_pages_backwards_by_seq() {
    let app = spawn_app().await;
    let (alice, bob, id) = app.alice_and_bob().await;
    for i in 1..=25 {
        alice.send(id, &format!("message {i}")).await;
    }
    assert_eq!(
        seqs(&bob.history(id, "?limit=10").await),
        (16..=25).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(&bob.history(id, "?before=16&limit=10").await),
        (6..=15).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(&bob.history(id, "?before=6&limit=10").await),
        (1..=5).collect::<Vec<_>>()
    );
    assert_eq!(bob.history(id, "?before=1").await, Vec::<Value>::new());
    assert_eq!(
        bob.history(id, "").await.len(),
        25,
        "default page holds them all"
    );
    let opened = bob
        .post("/api/conversations", json!({"user_id": alice.id()}))
        .await
        .1;
    assert_eq!(
        seqs(opened["conversation"]["messages"].as_array().unwrap()),
        (16..=25).collect::<Vec<_>>(),
        "opened with its latest 10"
    );
}

#[tokio::test]
async fn a_retried_txn_id_stores_one_message() {
    retried_txn_ids(&spawn_app().await).await;
}

pub async fn retried_txn_ids(app: &TestApp) {
    let alice = app.register("retrier").await;
    let bob = app.register("receiver").await;
    let id = alice.open(&bob).await;
    let path = format!("/api/conversations/{id}/messages");
    let (s1, first) = alice
        .post(&path, json!({"body": "once", "txn_id": "t-1"}))
        .await;
    let (s2, second) = alice
        .post(&path, json!({"body": "once", "txn_id": "t-1"}))
        .await;
    assert_eq!(s1, StatusCode::CREATED);
    assert_eq!(s2, StatusCode::CREATED, "a retry gets the same answer");
    assert_eq!(first, second);
    // Concurrent retries too.
    let replies = futures_util::future::join_all(
        (0..5).map(|_| alice.post(&path, json!({"body": "racing", "txn_id": "t-2"}))),
    )
    .await;
    let race_ids: Vec<&Value> = replies.iter().map(|(_, r)| &r["message"]["id"]).collect();
    assert!(race_ids.iter().all(|i| *i == race_ids[0]), "{replies:?}");
    // The same txn_id from another sender is another message.
    let (_, bobs) = bob
        .post(&path, json!({"body": "mine", "txn_id": "t-1"}))
        .await;
    assert_ne!(bobs["message"]["id"], first["message"]["id"]);

    let history = bob.history(id, "").await;
    assert_eq!(
        seqs(&history),
        [1, 2, 3],
        "one 'once', one 'racing', one 'mine'"
    );
    assert_eq!(bob.unread().await["total"], 2);
}

#[tokio::test]
async fn a_third_user_can_neither_read_nor_write_nor_mark_read() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let id = alice.open(&bob).await;
    alice.send(id, "private").await;

    let missing = 987_654;
    for conversation in [id, missing] {
        let (s, read_history) = eve
            .get(&format!("/api/conversations/{conversation}/messages"))
            .await;
        assert_error(s, &read_history, StatusCode::NOT_FOUND, "not_found");
        let (s, write) = eve
            .post(
                &format!("/api/conversations/{conversation}/messages"),
                json!({"body": "hi", "txn_id": "x"}),
            )
            .await;
        assert_error(s, &write, StatusCode::NOT_FOUND, "not_found");
        let (s, mark) = eve
            .post(
                &format!("/api/conversations/{conversation}/read"),
                json!({"up_to_seq": 1}),
            )
            .await;
        assert_error(s, &mark, StatusCode::NOT_FOUND, "not_found");
        if conversation == id {
            // The answer for a real conversation is the answer for a missing one.
            let (_, absent) = eve
                .get(&format!("/api/conversations/{missing}/messages"))
                .await;
            assert_eq!(read_history, absent);
        }
    }
    let (_, list) = eve.get("/api/conversations").await;
    assert_eq!(list["conversations"], json!([]));

    // Nothing changed for alice and bob.
    let history = bob.history(id, "").await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["read"], false);
    assert_eq!(bob.unread().await["total"], 1);
    // A logged-out client gets 401, not 404.
    let (s, body) = app
        .client()
        .get(&format!("/api/conversations/{id}/messages"))
        .await;
    assert_error(s, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn opening_needs_another_existing_user() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let (s, body) = alice
        .post("/api/conversations", json!({"user_id": alice.id()}))
        .await;
    assert_error(s, &body, StatusCode::BAD_REQUEST, "invalid_input");
    let (s, body) = alice
        .post("/api/conversations", json!({"user_id": 424242}))
        .await;
    assert_error(s, &body, StatusCode::NOT_FOUND, "not_found");
    let (_, list) = alice.get("/api/conversations").await;
    assert_eq!(list["conversations"], json!([]));
}

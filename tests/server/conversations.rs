//! Conversations end to end: opening, sending, reading, unread counts, history,
//! idempotent sends, the list page by page, one conversation by id, and privacy
//! between users.

use futures_util::{StreamExt, future::join_all, stream};
use gadka_test_support::{Client, TestApp, assert_error, seqs, spawn_app};
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

/// The ids of a list of conversations, in its order.
fn ids(conversations: &[Value]) -> Vec<i64> {
    conversations
        .iter()
        .map(|c| c["id"].as_i64().expect("a conversation id"))
        .collect()
}

/// Registers `count` users at once (the server hashes their passwords a few at a time).
async fn register_many(app: &TestApp, prefix: &str, count: usize) -> Vec<Client> {
    stream::iter(0..count)
        .map(|i| async move { app.register(&format!("{prefix}-{i:03}")).await })
        .buffered(8)
        .collect()
        .await
}

/// Every conversation from `cursor` on (from the start without one), page after page
/// of `limit`, in the order served; and the size of each page.
async fn read_pages(me: &Client, limit: usize, cursor: Option<&str>) -> (Vec<Value>, Vec<usize>) {
    let mut cursor = cursor.map(str::to_owned);
    let (mut all, mut sizes) = (Vec::new(), Vec::new());
    loop {
        let query = match &cursor {
            Some(cursor) => format!("?limit={limit}&messages=0&cursor={cursor}"),
            None => format!("?limit={limit}&messages=0"),
        };
        let page = me.get_ok(&format!("/api/conversations{query}")).await;
        let conversations = page["conversations"].as_array().expect("a list");
        sizes.push(conversations.len());
        all.extend(conversations.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => {
                assert_eq!(page["next_cursor"], Value::Null, "{page}");
                return (all, sizes);
            }
        }
    }
}

#[tokio::test]
async fn the_conversation_list_pages_through_every_conversation_once() {
    // More than the largest page (100) holds.
    conversation_paging(&spawn_app().await, 120, 100).await;
}

/// A user with `count` conversations reaches every one, `limit` at a time, in the
/// list's order; a cursor still continues where its page ended after new activity.
pub async fn conversation_paging(app: &TestApp, count: usize, limit: usize) {
    assert!(count > limit + 2, "a first page and more");
    let me = app.register("pager").await;
    let peers = register_many(app, "peer", count).await;
    // Opened all at once, so that the writer commits several together and they
    // share a millisecond: then only the id orders them.
    let mut opened = join_all(peers.iter().map(|peer| me.open(peer))).await;

    let (all, sizes) = read_pages(&me, limit, None).await;
    let mut expected_sizes = vec![limit; count / limit];
    if !count.is_multiple_of(limit) {
        expected_sizes.push(count % limit);
    }
    assert_eq!(sizes, expected_sizes);
    let mut served = ids(&all);
    let in_order = served.clone();
    served.sort_unstable();
    opened.sort_unstable();
    assert_eq!(served, opened, "every conversation exactly once");
    let keys: Vec<(&str, i64)> = all
        .iter()
        .map(|c| {
            (
                c["last_activity_at"].as_str().unwrap(),
                c["id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] > w[1]),
        "newest activity first, then the larger id: {keys:?}"
    );
    let (again, _) = read_pages(&me, limit / 2 + 1, None).await;
    assert_eq!(ids(&again), in_order, "the same order in other pages");

    // Page one is read; then a conversation further down and one on page one get
    // messages, and someone new opens a conversation.
    let first = me
        .get_ok(&format!("/api/conversations?limit={limit}&messages=0"))
        .await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_owned();
    assert_eq!(
        ids(first["conversations"].as_array().unwrap()),
        in_order[..limit]
    );
    let peer_in = |conversation: &Value| {
        let peer = conversation["peer"]["id"].as_i64().unwrap();
        peers
            .iter()
            .find(|p| p.id() == peer)
            .expect("one of the peers")
    };
    let (moved, on_first_page) = ((limit + count) / 2, limit / 2);
    peer_in(&all[moved])
        .send(in_order[moved], "back to the top")
        .await;
    peer_in(&all[on_first_page])
        .send(in_order[on_first_page], "me too")
        .await;
    let latecomer = app.register("latecomer").await;
    let new = latecomer.open(&me).await;

    // The rest are served exactly as they stood, less the one that moved ahead of
    // the cursor (the socket announces that one), and nothing from page one again.
    let (rest, _) = read_pages(&me, limit, Some(&cursor)).await;
    let mut expected = in_order[limit..].to_vec();
    expected.retain(|id| *id != in_order[moved]);
    assert_eq!(ids(&rest), expected);
    // A fresh first page starts with the three that had activity.
    let fresh = me.get_ok("/api/conversations?limit=3&messages=0").await;
    let mut front = ids(fresh["conversations"].as_array().unwrap());
    front.sort_unstable();
    let mut active = vec![in_order[moved], in_order[on_first_page], new];
    active.sort_unstable();
    assert_eq!(front, active);
}

#[tokio::test]
async fn a_cursor_the_server_did_not_hand_out_is_refused() {
    let app = spawn_app().await;
    let (alice, _bob, _) = app.alice_and_bob().await;
    let before = alice.get_ok("/api/conversations").await;
    for bad in [
        "nope",
        "",
        // 22 characters, but with bits set past the 16 bytes.
        "AAAAAAAAAAAAAAAAAAAAAB",
        "AAAAAAAAAAAAAAAAAAAAAA==",
        "AAAAAAAAAAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAAAAAA%2BA",
    ] {
        let (s, body) = alice.get(&format!("/api/conversations?cursor={bad}")).await;
        assert_error(s, &body, StatusCode::BAD_REQUEST, "invalid_input");
        assert_eq!(body["error"]["field"], "cursor", "{bad}: {body}");
    }
    assert_eq!(alice.get_ok("/api/conversations").await, before);
}

#[tokio::test]
async fn one_conversation_by_id_is_its_list_view_and_only_for_its_members() {
    let app = spawn_app().await;
    let (alice, bob, id) = app.alice_and_bob().await;
    for i in 1..=12 {
        alice.send(id, &format!("message {i}")).await;
    }
    let one = bob.get_ok(&format!("/api/conversations/{id}")).await;
    let conversation = &one["conversation"];
    assert_eq!(
        seqs(conversation["messages"].as_array().unwrap()),
        (3..=12).collect::<Vec<_>>(),
        "the newest 10 by default"
    );
    assert_eq!(conversation["unread"], 12);
    let list = bob.get_ok("/api/conversations?messages=10").await;
    assert_eq!(conversation, &list["conversations"][0], "the list's view");

    let newest = |query: &'static str| {
        let bob = &bob;
        async move {
            let one = bob.get_ok(&format!("/api/conversations/{id}{query}")).await;
            seqs(one["conversation"]["messages"].as_array().unwrap())
        }
    };
    assert_eq!(newest("?messages=2").await, [11, 12]);
    assert_eq!(newest("?messages=0").await, Vec::<i64>::new());
    assert_eq!(newest("?messages=1000").await.len(), 12);
    let (s, body) = bob
        .get(&format!("/api/conversations/{id}?messages=-1"))
        .await;
    assert_error(s, &body, StatusCode::BAD_REQUEST, "invalid_input");

    // Someone else's conversation is not found, exactly like a missing one.
    let eve = app.register("eve").await;
    let (s, theirs) = eve.get(&format!("/api/conversations/{id}")).await;
    assert_error(s, &theirs, StatusCode::NOT_FOUND, "not_found");
    let (s, missing) = eve.get("/api/conversations/987654").await;
    assert_error(s, &missing, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(theirs, missing);
    let (s, body) = app.client().get(&format!("/api/conversations/{id}")).await;
    assert_error(s, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (s, body) = bob.get("/api/conversations/nope").await;
    assert_error(s, &body, StatusCode::BAD_REQUEST, "bad_request");
    // Looking changed nothing.
    assert_eq!(bob.unread().await["total"], 12);
}

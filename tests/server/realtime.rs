//! The socket: hello, delivery after commit across transports and devices,
//! receipts after commit, resume without loss or duplicates, typing and presence
//! among peers only, slow readers, bad frames, logout and shutdown.

use gadka_test_support::{assert_error, spawn_app, spawn_in, spawn_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn types(frames: &[Value]) -> Vec<&str> {
    frames.iter().map(|f| f["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn hello_carries_the_same_state_as_the_http_calls() {
    let app = spawn_app().await;
    let (alice, bob, id) = app.alice_and_bob().await;
    alice.send(id, "one").await;
    let last = alice.send(id, "two").await;

    let (_socket, hello) = app.socket(&bob).await;
    assert_eq!(hello["me"]["username"], "bob");
    assert_eq!(hello["unread"], bob.unread().await);
    assert_eq!(hello["unread"]["senders"][0]["count"], 2);
    let (_, list) = bob.get("/api/conversations").await;
    assert_eq!(hello["conversations"], list["conversations"]);
    assert_eq!(hello["last_message_id"], last["id"]);
}

#[tokio::test]
async fn the_upgrade_needs_a_live_session_and_a_trusted_origin() {
    let app = spawn_with(|s| s.origins = vec!["https://app.example.org".into()]).await;
    let alice = app.register("alice").await;
    let cookie = alice.cookie().unwrap();
    let own = format!("http://{}", app.addr);

    let refused = app
        .try_socket(None, Some(&own))
        .await
        .err()
        .expect("no cookie, no socket");
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["error"]["code"], "unauthenticated");
    let refused = app
        .try_socket(Some(&cookie), Some("https://evil.example"))
        .await
        .err()
        .expect("a foreign origin is refused");
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body["error"]["code"], "forbidden_origin");
    assert!(
        app.try_socket(Some(&cookie), Some("https://app.example.org"))
            .await
            .is_ok()
    );
    assert!(app.try_socket(Some(&cookie), Some(&own)).await.is_ok());

    // Not an upgrade at all.
    let (status, body) = alice.get("/ws").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");

    // A logged-out session cannot connect, and its open socket is closed.
    let (mut open, _) = app.socket(&alice).await;
    alice.post("/api/logout", json!({})).await;
    let close = open.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 4001);
    assert_eq!(close.reason.as_str(), "session ended");
    let refused = app
        .try_socket(Some(&cookie), Some(&own))
        .await
        .err()
        .expect("revoked");
    assert_eq!(refused.status, 401);
}

#[tokio::test]
async fn a_message_is_committed_then_delivered_to_every_device_but_the_sending_one() {
    let app = spawn_app().await;
    let (alice, bob, id) = app.alice_and_bob().await;
    let (mut alice_phone, _) = app.socket(&alice).await;
    let (mut alice_laptop, _) = app.socket(&alice).await;
    let (mut bob_phone, _) = app.socket(&bob).await;
    let (mut bob_laptop, _) = app.socket(&bob).await;
    for socket in [
        &mut alice_phone,
        &mut alice_laptop,
        &mut bob_phone,
        &mut bob_laptop,
    ] {
        socket.drain().await; // presence from the devices that connected after it
    }

    alice_phone
        .send(json!({"type": "send", "conversation_id": id, "body": "hej", "txn_id": "c-17", "req": 5}))
        .await;
    let sent = alice_phone.expect("sent").await;
    assert_eq!(sent["req"], 5);
    assert_eq!(sent["txn_id"], "c-17");
    let message = &sent["message"];
    assert_eq!(message["body"], "hej");
    assert_eq!(message["sender_id"], alice.id());
    assert_eq!(message["seq"], 1);
    assert_eq!(message["read"], false);

    let delivered = bob_phone.expect("message").await;
    // The recipient sees it only once the database holds it.
    let stored = app
        .db_integer(&format!(
            "SELECT count(*) FROM message WHERE id = {}",
            delivered["message"]["id"]
        ))
        .await;
    assert_eq!(stored, 1);
    assert_eq!(&delivered["message"], message);
    assert_eq!(&bob_laptop.expect("message").await["message"], message);
    assert_eq!(&alice_laptop.expect("message").await["message"], message);
    alice_phone.assert_quiet().await; // it has its `sent`, not a second copy

    // The same txn_id again: the first message, delivered to nobody again.
    alice_phone
        .send(json!({"type": "send", "conversation_id": id, "body": "hej", "txn_id": "c-17", "req": 6}))
        .await;
    let again = alice_phone.expect("sent").await;
    assert_eq!(again["req"], 6);
    assert_eq!(&again["message"], message);
    for socket in [&mut bob_phone, &mut bob_laptop, &mut alice_laptop] {
        socket.assert_quiet().await;
    }
    assert_eq!(bob.history(id, "").await.len(), 1);
}

#[tokio::test]
async fn http_and_socket_see_each_others_changes() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let (mut bob_socket, _) = app.socket(&bob).await;

    // Sent over HTTP (to a new conversation), it arrives on the socket.
    let id = alice.open(&bob).await;
    let sent = alice.send(id, "over http").await;
    let delivered = bob_socket.expect("message").await;
    assert_eq!(delivered["message"], sent);

    // Read over the socket, it moves the unread count HTTP shows.
    assert_eq!(bob.unread().await["total"], 1);
    bob_socket
        .send(json!({"type": "read", "conversation_id": id, "up_to_seq": 1, "req": "r"}))
        .await;
    let unread = bob_socket.expect("unread").await;
    assert_eq!(unread["req"], "r");
    assert_eq!(unread["total"], 0);
    assert_eq!(bob.unread().await, json!({"total": 0, "senders": []}));
    assert_eq!(alice.history(id, "").await[0]["read"], true);

    // A socket can start a conversation by user id.
    let carol = app.register("carol").await;
    let (mut carol_socket, _) = app.socket(&carol).await;
    bob_socket
        .send(json!({"type": "send", "to_user": carol.id(), "body": "hi carol", "txn_id": "t"}))
        .await;
    // The new conversation comes first: each learns that the other is online.
    assert_eq!(bob_socket.expect("presence").await["user_id"], carol.id());
    assert_eq!(carol_socket.expect("presence").await["user_id"], bob.id());
    let sent = bob_socket.expect("sent").await;
    let delivered = carol_socket.expect("message").await;
    assert_eq!(delivered["message"], sent["message"]);
    let (_, profile) = carol.get(&format!("/api/users/{}", bob.id())).await;
    assert_eq!(
        profile["conversation_id"],
        sent["message"]["conversation_id"]
    );
}

#[tokio::test]
async fn a_receipt_reaches_the_sender_only_after_the_marker_is_committed() {
    let app = spawn_app().await;
    let (alice, bob, id) = app.alice_and_bob().await;
    for body in ["one", "two", "three"] {
        alice.send(id, body).await;
    }
    let (mut alice_socket, _) = app.socket(&alice).await;
    let (mut bob_phone, _) = app.socket(&bob).await;
    let (mut bob_laptop, _) = app.socket(&bob).await;
    alice_socket.drain().await;
    bob_phone.drain().await;

    bob_phone
        .send(json!({"type": "read", "conversation_id": id, "up_to_seq": 2}))
        .await;
    let receipt = alice_socket.expect("receipt").await;
    let marker = app
        .db_integer(&format!(
            "SELECT last_read_seq FROM membership WHERE conversation_id = {id} AND user_id = {}",
            bob.id()
        ))
        .await;
    assert_eq!(
        marker, 2,
        "the database held the marker when the receipt arrived"
    );
    let pos = receipt["pos"].as_i64().expect("a receipt's position");
    assert_eq!(
        receipt,
        json!({"type": "receipt", "conversation_id": id, "user_id": bob.id(), "up_to_seq": 2, "pos": pos})
    );

    // The reader's other device hears it too, with the new unread summary.
    let frames = bob_laptop.drain().await;
    assert_eq!(types(&frames), ["receipt", "unread"]);
    assert_eq!(frames[1]["total"], 1);
    assert_eq!(types(&bob_phone.drain().await), ["unread"]);

    // A stale read changes nothing and sends nothing.
    bob_phone
        .send(json!({"type": "read", "conversation_id": id, "up_to_seq": 1, "req": 9}))
        .await;
    bob_phone.assert_quiet().await;
    alice_socket.assert_quiet().await;
    bob_laptop.assert_quiet().await;
    let marker = app
        .db_integer(&format!(
            "SELECT last_read_seq FROM membership WHERE conversation_id = {id} AND user_id = {}",
            bob.id()
        ))
        .await;
    assert_eq!(marker, 2);

    // A read over HTTP sends the same receipt; without a body it reads everything.
    let response = bob
        .http
        .post(app.url(&format!("/api/conversations/{id}/read")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(alice_socket.expect("receipt").await["up_to_seq"], 3);
}

#[tokio::test]
async fn resume_replays_what_was_missed_once_and_in_order() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let with_alice = bob.open(&alice).await;
    let with_carol = bob.open(&carol).await;
    bob.send(with_alice, "before").await;

    let (socket, hello) = app.socket(&bob).await;
    let seen = hello["last_message_id"].as_i64().unwrap();
    socket.close().await;

    // While bob is away: messages in both conversations, and alice reads his message.
    let mut missed = Vec::new();
    missed.push(alice.send(with_alice, "a1").await);
    missed.push(carol.send(with_carol, "c1").await);
    missed.push(alice.send(with_alice, "a2").await);
    alice
        .post(&format!("/api/conversations/{with_alice}/read"), json!({}))
        .await;

    let (mut socket, _) = app.socket(&bob).await;
    // One more arrives live before the client gets round to resuming.
    let early = carol.send(with_carol, "c2").await;
    assert_eq!(socket.expect("message").await["message"], early);
    socket
        .send(json!({"type": "resume", "since": seen, "req": "again"}))
        .await;
    let mut replayed = Vec::new();
    let mut receipts = Vec::new();
    let unread = loop {
        let frame = socket.next().await;
        match frame["type"].as_str().unwrap() {
            "message" => replayed.push(frame["message"].clone()),
            "receipt" => receipts.push(frame),
            "unread" => break frame,
            other => panic!("unexpected {other} during resume: {frame}"),
        }
    };
    assert_eq!(
        replayed, missed,
        "every missed message, in order, and not the one already sent live"
    );
    assert!(
        receipts.iter().any(|r| r["conversation_id"] == with_alice
            && r["user_id"] == alice.id()
            && r["up_to_seq"] == 3
            && r["pos"].as_i64() > replayed.last().and_then(|m| m["id"].as_i64())),
        "alice's marker, moved while bob was away, after the messages she read: {receipts:?}"
    );
    assert_eq!(unread["req"], "again");
    assert_eq!(unread["total"], 4);

    // Live delivery goes on after the replay, without repeating it.
    let live = alice.send(with_alice, "a3").await;
    let frames = socket.drain().await;
    assert_eq!(frames, [json!({"type": "message", "message": live})]);
}

#[tokio::test]
async fn typing_and_presence_reach_only_people_who_share_a_conversation() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let id = alice.open(&bob).await;

    let (mut alice_socket, hello) = app.socket(&alice).await;
    assert_eq!(hello["online"], json!([]));
    let (mut carol_socket, _) = app.socket(&carol).await;
    let (mut bob_phone, hello) = app.socket(&bob).await;
    assert_eq!(
        hello["online"],
        json!([alice.id()]),
        "bob sees that alice is online"
    );
    assert_eq!(
        alice_socket.expect("presence").await,
        json!({"type": "presence", "user_id": bob.id(), "online": true})
    );
    let (bob_laptop, _) = app.socket(&bob).await;
    alice_socket.assert_quiet().await; // bob was online already

    alice_socket
        .send(json!({"type": "typing", "conversation_id": id, "typing": true}))
        .await;
    assert_eq!(
        bob_phone.expect("typing").await,
        json!({"type": "typing", "conversation_id": id, "user_id": alice.id(), "typing": true})
    );
    alice_socket.assert_quiet().await;

    // Typing into someone else's conversation is refused.
    carol_socket
        .send(json!({"type": "typing", "conversation_id": id, "typing": true, "req": 1}))
        .await;
    let error = carol_socket.expect("error").await;
    assert_eq!(error["code"], "not_found");
    assert_eq!(error["req"], 1);

    bob_laptop.close().await;
    alice_socket.assert_quiet().await; // bob still has his phone
    bob_phone.close().await;
    assert_eq!(
        alice_socket.expect("presence").await,
        json!({"type": "presence", "user_id": bob.id(), "online": false})
    );
    carol_socket.assert_quiet().await; // carol shares nothing with alice or bob
}

#[tokio::test]
async fn people_who_start_a_conversation_learn_each_others_presence() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let (mut alice_socket, _) = app.socket(&alice).await;
    let (mut bob_socket, _) = app.socket(&bob).await;
    alice_socket.assert_quiet().await; // nothing shared yet

    alice.open(&bob).await;
    assert_eq!(
        alice_socket.drain().await,
        [json!({"type": "presence", "user_id": bob.id(), "online": true})]
    );
    assert_eq!(
        bob_socket.drain().await,
        [json!({"type": "presence", "user_id": alice.id(), "online": true})]
    );
    alice.open(&bob).await;
    alice.open(&carol).await;
    alice_socket.assert_quiet().await; // no news: an old conversation, and carol is away
    bob_socket.assert_quiet().await;
}

#[tokio::test]
async fn open_and_history_over_the_socket() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let (mut socket, _) = app.socket(&alice).await;
    socket
        .send(json!({"type": "open", "user_id": bob.id(), "req": 6}))
        .await;
    let opened = socket.expect("conversation").await;
    assert_eq!(opened["req"], 6);
    assert_eq!(opened["created"], true);
    let id = opened["conversation"]["id"].as_i64().unwrap();
    assert_eq!(opened["conversation"]["peer"]["username"], "bob");
    for i in 1..=12 {
        alice.send(id, &format!("m{i}")).await;
    }
    socket.drain().await;
    socket
        .send(json!({"type": "open", "user_id": bob.id(), "req": 7}))
        .await;
    let opened = socket.expect("conversation").await;
    assert_eq!(opened["created"], false);
    assert_eq!(
        opened["conversation"]["messages"].as_array().unwrap().len(),
        10
    );
    socket
        .send(json!({"type": "history", "conversation_id": id, "before_seq": 3, "limit": 10, "req": 8}))
        .await;
    let history = socket.expect("history").await;
    assert_eq!(history["req"], 8);
    let seqs: Vec<i64> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2]);
}

#[tokio::test]
async fn bad_frames_get_an_error_and_change_nothing() {
    let app = spawn_with(|s| s.limits.max_message_bytes = 100).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let id = alice.open(&bob).await;
    let (mut socket, _) = app.socket(&eve).await;

    let cases = [
        (json!("{not json"), "bad_frame"),
        (json!({"type": "dance", "req": 1}), "unknown_type"),
        (json!({"type": "send", "req": 2}), "bad_frame"),
        (
            json!({"type": "send", "conversation_id": id, "body": "let me in", "req": 3}),
            "not_found",
        ),
        (
            json!({"type": "read", "conversation_id": id, "up_to_seq": 1, "req": 4}),
            "not_found",
        ),
        (
            json!({"type": "history", "conversation_id": id, "req": 5}),
            "not_found",
        ),
        (
            json!({"type": "send", "to_user": bob.id(), "body": "", "req": 6}),
            "invalid_input",
        ),
        (
            json!({"type": "send", "to_user": bob.id(), "body": "x".repeat(101), "req": 7}),
            "payload_too_large",
        ),
        (
            json!({"type": "send", "body": "to nobody", "req": 8}),
            "invalid_input",
        ),
        (
            json!({"type": "open", "user_id": 4242, "req": 9}),
            "not_found",
        ),
    ];
    for (frame, code) in cases {
        match frame.as_str() {
            Some(raw) => socket.send_raw(WsMessage::text(raw)).await,
            None => socket.send(frame.clone()).await,
        }
        let error = socket.expect("error").await;
        assert_eq!(error["code"], code, "{frame} → {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        if let Some(req) = frame.get("req") {
            assert_eq!(&error["req"], req);
        }
    }
    socket.send_raw(WsMessage::binary(vec![1, 2, 3])).await;
    assert_eq!(socket.expect("error").await["code"], "bad_frame");
    socket.assert_quiet().await; // and the socket is still open

    assert!(bob.history(id, "").await.is_empty(), "nothing was stored");
    assert_eq!(bob.unread().await["total"], 0);
    let (_, list) = bob.get("/api/conversations").await;
    assert_eq!(
        list["conversations"].as_array().unwrap().len(),
        1,
        "eve opened nothing with bob"
    );

    // A frame over the size limit closes the socket with 1009.
    socket
        .send_raw(WsMessage::text("x".repeat(2 * 1024 * 1024)))
        .await;
    let close = socket.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1009);
}

#[tokio::test]
async fn a_slow_reader_is_cut_off_while_a_fast_one_keeps_receiving() {
    let app = spawn_with(|s| {
        s.limits.ws_queue_frames = 8;
        s.limits.max_message_bytes = 256 * 1024;
    })
    .await;
    let (alice, bob, id) = app.alice_and_bob().await;
    let (mut slow, _) = app.socket(&bob).await; // never reads until the end
    let (mut fast, _) = app.socket(&bob).await;

    // 12 MB in all: a few times what the kernel buffers between the server and a
    // socket that does not read (about 4 MB here), plus its queue of 8.
    let body = "x".repeat(200 * 1024);
    let count = 60;
    let sender = {
        let url = app.url(&format!("/api/conversations/{id}/messages"));
        let http = alice.http.clone();
        tokio::spawn(async move {
            for i in 0..count {
                let response = http
                    .post(&url)
                    .json(&json!({"body": format!("{i}:{body}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201);
            }
        })
    };
    for i in 0..count {
        let frame = fast.expect("message").await;
        let body = frame["message"]["body"].as_str().unwrap();
        assert!(body.starts_with(&format!("{i}:")), "in order");
    }
    sender.await.unwrap();
    fast.assert_quiet().await;

    // The slow socket was closed with a reason, having received only part of them.
    let mut received = 0;
    let close = loop {
        match slow.try_next().await {
            Some(WsMessage::Text(_)) => received += 1,
            Some(WsMessage::Close(frame)) => break frame,
            Some(_) => {}
            None => break None,
        }
    };
    assert!(received < count, "received {received} of {count}");
    let close = close.expect("a close frame with a reason");
    assert_eq!(u16::from(close.code), 1008);
    assert!(close.reason.contains("resume"), "{}", close.reason);
}

#[tokio::test]
async fn shutdown_closes_sockets_with_going_away_and_keeps_what_was_acknowledged() {
    let app = spawn_app().await;
    let (alice, _, id) = app.alice_and_bob().await;
    let (mut socket, _) = app.socket(&alice).await;
    socket
        .send(json!({"type": "send", "conversation_id": id, "body": "last words", "txn_id": "z"}))
        .await;
    let sent = socket.expect("sent").await;

    let stopping = tokio::spawn(app.stop());
    let close = socket.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1001);
    let dir = stopping.await.unwrap();

    let app = spawn_in(dir, |_| {}).await;
    let bob = app.login("bob").await;
    let history = bob.history(id, "").await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["id"], sent["message"]["id"]);
}

#[tokio::test]
async fn a_socket_closes_when_its_session_expires() {
    let app = spawn_with(|s| s.session_ttl = std::time::Duration::from_secs(2)).await;
    let alice = app.register("alice").await;
    let (mut socket, _) = app.socket(&alice).await;
    let close = socket.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 4001);
    assert_eq!(close.reason.as_str(), "session expired");
    assert_eq!(alice.get("/api/me").await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn concurrent_senders_are_delivered_in_commit_order() {
    let app = spawn_app().await;
    let bob = app.register("bob").await;
    let mut senders = Vec::new();
    for name in ["ann", "cid", "dee", "eve"] {
        let sender = app.register(name).await;
        let id = sender.open(&bob).await;
        senders.push((sender, id));
    }
    let (mut socket, _) = app.socket(&bob).await;
    socket.drain().await;

    let per_sender = 25;
    let sends = senders.iter().map(|(sender, id)| async move {
        for i in 0..per_sender {
            sender.send(*id, &format!("{i}")).await;
        }
    });
    futures_util::future::join_all(sends).await;

    let mut ids = Vec::new();
    let mut seqs_by_conversation: std::collections::HashMap<i64, Vec<i64>> = Default::default();
    for _ in 0..senders.len() * per_sender {
        let frame = socket.expect("message").await;
        let message = &frame["message"];
        ids.push(message["id"].as_i64().unwrap());
        seqs_by_conversation
            .entry(message["conversation_id"].as_i64().unwrap())
            .or_default()
            .push(message["seq"].as_i64().unwrap());
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "delivered in id order: {ids:?}"
    );
    for seqs in seqs_by_conversation.values() {
        assert_eq!(
            *seqs,
            (1..=per_sender as i64).collect::<Vec<_>>(),
            "no gaps, no repeats"
        );
    }
    socket.assert_quiet().await;
}

/// A new name reaches, live, the people who share a conversation with its owner and
/// the owner's own devices; nobody else hears of it.
#[tokio::test]
async fn a_new_name_reaches_those_who_share_a_conversation() {
    let app = spawn_app().await;
    let (alice, bob, _id) = app.alice_and_bob().await;
    let eve = app.register("eve").await;
    let (mut bob_socket, _) = app.socket(&bob).await;
    let (mut eve_socket, _) = app.socket(&eve).await;
    let (mut alice_socket, _) = app.socket(&alice).await;
    bob_socket.drain().await; // alice coming online

    let (status, body) = alice
        .patch("/api/me", json!({"display_name": "Alice Liddell"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for socket in [&mut bob_socket, &mut alice_socket] {
        let frame = socket.expect("profile").await;
        assert_eq!(frame["user"]["id"], alice.id());
        assert_eq!(frame["user"]["username"], "alice");
        assert_eq!(frame["user"]["display_name"], "Alice Liddell");
        assert!(frame["user"]["matrix_id"].is_null(), "{frame}");
    }
    // Bob has it, so every recipient has been handed it: eve is not one of them.
    assert!(
        !types(&eve_socket.drain().await).contains(&"profile"),
        "eve shares no conversation with alice"
    );
}

#[tokio::test]
async fn a_flood_of_typing_reaches_the_peer_as_one_notice_and_is_refused_past_the_allowance() {
    let app = spawn_app().await;
    let (alice, bob, id) = app.alice_and_bob().await;
    let (mut alice_socket, _) = app.socket(&alice).await;
    let (mut bob_socket, _) = app.socket(&bob).await;
    alice_socket.drain().await;
    for _ in 0..200 {
        alice_socket
            .send(json!({"type": "typing", "conversation_id": id, "typing": true}))
            .await;
    }
    alice_socket
        .send(json!({"type": "typing", "conversation_id": id, "typing": false}))
        .await;
    let refused = alice_socket
        .drain()
        .await
        .into_iter()
        .filter(|f| f["type"] == "error" && f["code"] == "rate_limited")
        .count();
    assert!(refused > 100, "most of the flood is refused: {refused}");
    let notices: Vec<_> = bob_socket
        .drain()
        .await
        .into_iter()
        .filter(|f| f["type"] == "typing")
        .map(|f| f["typing"].clone())
        .collect();
    // The first "typing" went out; its repeats did not; the "stopped", if it got past
    // the allowance, follows it.
    assert_eq!(notices.first(), Some(&json!(true)), "{notices:?}");
    assert!(notices.len() <= 2, "{notices:?}");
}

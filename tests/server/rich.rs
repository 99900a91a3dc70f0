//! Rich messages: replies, edits, deletes and reactions over HTTP and the socket,
//! their events, `resume` after changes made while offline, and a delete that leaves
//! no trace of the words in the database's files.

use gadka_test_support::{PATIENCE, TestApp, assert_error, eventually, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn message_path(conversation: i64, seq: i64) -> String {
    format!("/api/conversations/{conversation}/messages/{seq}")
}

/// The path of a reaction, its key percent-encoded as one path segment.
fn reaction_path(conversation: i64, seq: i64, key: &str) -> String {
    let mut url = url::Url::parse("http://gadka.invalid/").expect("a URL");
    url.path_segments_mut().expect("a base URL").push(key);
    format!(
        "{}/reactions{}",
        message_path(conversation, seq),
        url.path()
    )
}

/// The history of a conversation as `client` reads it, by seq.
async fn message_at(client: &gadka_test_support::Client, conversation: i64, seq: i64) -> Value {
    client
        .history(conversation, "?limit=100")
        .await
        .into_iter()
        .find(|m| m["seq"] == seq)
        .unwrap_or_else(|| panic!("message {seq} in the history"))
}

/// Every rule of the four verbs over HTTP, with what each member's socket hears. Run
/// on SQLite here and on PostgreSQL by `postgres.rs`.
pub async fn replies_edits_deletes_and_reactions(app: &TestApp) {
    let alice = app.register("rina").await;
    let bob = app.register("rolf").await;
    let carol = app.register("ruth").await;
    let id = alice.open(&bob).await;
    let other = alice.open(&carol).await;
    let (mut bob_socket, _) = app.socket(&bob).await;
    let (mut alice_socket, _) = app.socket(&alice).await;

    let first = alice.send(id, "Czy jutro o 10?").await;
    assert_eq!(first["reply_to"], Value::Null);
    assert_eq!(first["edited_at"], Value::Null);
    assert_eq!(first["deleted"], false);
    assert_eq!(first["reactions"], json!([]));
    bob_socket.next_of("message").await;
    alice_socket.next_of("message").await;

    // A reply names an earlier message of the same conversation.
    let (status, reply) = bob
        .post(
            &format!("/api/conversations/{id}/messages"),
            json!({"body": "Tak, pasuje.", "txn_id": "r-1", "reply_to": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["message"]["reply_to"], 1);
    assert_eq!(
        alice_socket.next_of("message").await["message"]["reply_to"],
        1
    );
    for bad in [json!(0), json!(3), json!(99), json!(-1)] {
        let (status, body) = bob
            .post(
                &format!("/api/conversations/{id}/messages"),
                json!({"body": "?", "txn_id": format!("bad-{bad}"), "reply_to": bad}),
            )
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_input");
        assert_eq!(body["error"]["field"], "reply_to", "{body}");
    }
    carol.send(other, "hello from another conversation").await;
    let (status, body) = alice
        .post(
            &format!("/api/conversations/{other}/messages"),
            json!({"body": "?", "txn_id": "cross", "reply_to": 2}),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_input");
    assert_eq!(
        alice.history(id, "?limit=100").await.len(),
        2,
        "a refused reply stored nothing"
    );

    // Only the sender edits, any number of times; not a new message.
    let before = alice.get_ok(&format!("/api/conversations/{id}")).await;
    let unread_before = bob.unread().await;
    let (status, edited) = alice
        .patch(&message_path(id, 1), json!({"body": "Czy jutro o 11?"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["message"]["body"], "Czy jutro o 11?");
    assert!(edited["message"]["edited_at"].is_string(), "{edited}");
    assert_eq!(edited["message"]["id"], first["id"]);
    let event = bob_socket.next_of("message_edited").await;
    assert_eq!(event["message"], edited["message"]);
    assert!(event["pos"].as_i64() > first["id"].as_i64(), "{event}");
    assert_eq!(
        alice_socket.next_of("message_edited").await["message"],
        edited["message"],
        "the editing user's own sockets hear it too"
    );
    let after = alice.get_ok(&format!("/api/conversations/{id}")).await;
    assert_eq!(
        after["conversation"]["last_activity_at"], before["conversation"]["last_activity_at"],
        "an edit is no activity"
    );
    assert_eq!(
        bob.unread().await,
        unread_before,
        "an edit is nothing new to read"
    );
    let (status, body) = bob
        .patch(&message_path(id, 1), json!({"body": "mine now"}))
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "not_yours");
    let (status, body) = alice
        .patch(&message_path(id, 9), json!({"body": "x"}))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = carol
        .patch(&message_path(id, 1), json!({"body": "x"}))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = alice
        .patch(&message_path(id, 1), json!({"body": "  "}))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_input");
    assert_eq!(message_at(&bob, id, 1).await["body"], "Czy jutro o 11?");

    // Reactions: a set per member and key, keys in the order they first appeared.
    assert_eq!(
        bob.put(&reaction_path(id, 1, "👍")).await.0,
        StatusCode::NO_CONTENT
    );
    let event = alice_socket.next_of("reaction").await;
    assert_eq!(
        (
            &event["conversation_id"],
            &event["seq"],
            &event["user_id"],
            &event["key"],
            &event["on"]
        ),
        (
            &json!(id),
            &json!(1),
            &json!(bob.id()),
            &json!("👍"),
            &json!(true)
        )
    );
    assert_eq!(
        bob.put(&reaction_path(id, 1, "👍")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        alice.put(&reaction_path(id, 1, "❤️")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        alice.put(&reaction_path(id, 1, "👍")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        message_at(&bob, id, 1).await["reactions"],
        json!([{"key": "👍", "user_ids": [bob.id(), alice.id()]}, {"key": "❤️", "user_ids": [alice.id()]}])
    );
    assert_eq!(
        bob.delete(&reaction_path(id, 1, "👍")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        bob.delete(&reaction_path(id, 1, "🎉")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        message_at(&alice, id, 1).await["reactions"],
        json!([{"key": "👍", "user_ids": [alice.id()]}, {"key": "❤️", "user_ids": [alice.id()]}])
    );
    let frames = alice_socket.drain().await;
    let reactions: Vec<(&Value, &Value)> = frames
        .iter()
        .filter(|f| f["type"] == "reaction")
        .map(|f| (&f["key"], &f["on"]))
        .collect();
    assert_eq!(
        reactions,
        [
            (&json!("❤️"), &json!(true)),
            (&json!("👍"), &json!(true)),
            (&json!("👍"), &json!(false))
        ],
        "one event per change, none for what changed nothing: {frames:?}"
    );
    for bad in ["%20", "a%0Ab", &"x".repeat(65), &"😀".repeat(17)] {
        let (status, body) = bob
            .put(&format!("{}/reactions/{bad}", message_path(id, 1)))
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_input");
        assert_eq!(body["error"]["field"], "key", "{body}");
    }
    let (status, body) = carol.put(&reaction_path(id, 1, "👍")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    for n in 0..18 {
        assert_eq!(
            bob.put(&reaction_path(id, 2, &format!("k{n}"))).await.0,
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(
        bob.put(&reaction_path(id, 2, "k18")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        bob.put(&reaction_path(id, 2, "k19")).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = alice.put(&reaction_path(id, 2, "k20")).await;
    assert_error(status, &body, StatusCode::CONFLICT, "too_many_reactions");
    assert_eq!(
        alice.put(&reaction_path(id, 2, "k7")).await.0,
        StatusCode::NO_CONTENT,
        "a key already there takes no new place"
    );

    // A delete keeps the place, erases the words, and takes the message out of the
    // peer's unread count.
    bob.post(&format!("/api/conversations/{id}/read"), json!({}))
        .await;
    alice.send(id, "Ups, zła osoba").await;
    bob_socket.next_of("message").await;
    assert_eq!(bob.unread().await["total"], 1);
    let (status, body) = bob.delete(&message_path(id, 3)).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "not_yours");
    bob_socket.drain().await;
    assert_eq!(
        alice.delete(&message_path(id, 3)).await.0,
        StatusCode::NO_CONTENT
    );
    let frames = bob_socket.drain().await;
    let deleted = frames
        .iter()
        .find(|f| f["type"] == "message_deleted")
        .unwrap_or_else(|| panic!("message_deleted in {frames:?}"));
    assert_eq!(
        (&deleted["conversation_id"], &deleted["seq"]),
        (&json!(id), &json!(3))
    );
    let unread = frames
        .iter()
        .find(|f| f["type"] == "unread")
        .unwrap_or_else(|| panic!("bob's new unread summary in {frames:?}"));
    assert_eq!(unread["total"], 0);
    assert_eq!(bob.unread().await["total"], 0);
    let gone = message_at(&bob, id, 3).await;
    assert_eq!(
        (&gone["body"], &gone["deleted"]),
        (&json!(""), &json!(true))
    );
    assert_eq!(
        alice.delete(&message_path(id, 3)).await.0,
        StatusCode::NO_CONTENT
    );
    assert!(
        bob_socket
            .drain()
            .await
            .iter()
            .all(|f| f["type"] != "message_deleted"),
        "a second delete changes nothing"
    );
    let (status, body) = alice
        .patch(&message_path(id, 3), json!({"body": "again"}))
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "deleted");
    let (status, body) = bob.put(&reaction_path(id, 3, "👍")).await;
    assert_error(status, &body, StatusCode::CONFLICT, "deleted");

    // A reaction is not a message either: nothing unread, no new order.
    let before = bob.get_ok("/api/conversations").await;
    alice.put(&reaction_path(id, 2, "👀")).await;
    assert_eq!(
        bob.get_ok("/api/conversations").await["conversations"],
        before["conversations"]
    );

    // The deleted reply target shows as deleted to whoever reads the reply.
    let reply = message_at(&alice, id, 2).await;
    assert_eq!(reply["reply_to"], 1);
}

#[tokio::test]
async fn messages_are_replied_to_edited_deleted_and_reacted_to() {
    let app = spawn_app().await;
    replies_edits_deletes_and_reactions(&app).await;
}

#[tokio::test]
async fn the_socket_has_the_same_verbs_with_answers_and_errors() {
    let app = spawn_app().await;
    let (alice, bob, id) = app.alice_and_bob().await;
    let (mut socket, _) = app.socket(&alice).await;
    let (mut bob_socket, _) = app.socket(&bob).await;
    bob.send(id, "first").await;
    socket.next_of("message").await;
    bob_socket.next_of("message").await;
    socket
        .send(json!({"type": "send", "conversation_id": id, "body": "re", "txn_id": "s-1", "reply_to": 1, "req": 1}))
        .await;
    let sent = socket.next_of("sent").await;
    assert_eq!(sent["message"]["reply_to"], 1);
    socket
        .send(json!({"type": "edit", "conversation_id": id, "seq": 2, "body": "re!", "req": 2}))
        .await;
    let edited = socket.next_of("edited").await;
    assert_eq!(
        (&edited["req"], &edited["message"]["body"]),
        (&json!(2), &json!("re!"))
    );
    assert_eq!(
        socket.next_of("message_edited").await["message"],
        edited["message"]
    );
    socket
        .send(json!({"type": "react", "conversation_id": id, "seq": 1, "key": "😂", "on": true, "req": 3}))
        .await;
    let reacted = socket.next_of("reacted").await;
    assert_eq!(
        (&reacted["req"], &reacted["key"], &reacted["on"]),
        (&json!(3), &json!("😂"), &json!(true))
    );
    socket
        .send(
            json!({"type": "edit", "conversation_id": id, "seq": 1, "body": "not mine", "req": 4}),
        )
        .await;
    let error = socket.next_of("error").await;
    assert_eq!(
        (&error["req"], &error["code"]),
        (&json!(4), &json!("not_yours"))
    );
    socket
        .send(json!({"type": "delete", "conversation_id": id, "seq": 2, "req": 5}))
        .await;
    let deleted = socket.next_of("deleted").await;
    assert_eq!(
        (
            &deleted["req"],
            &deleted["conversation_id"],
            &deleted["seq"]
        ),
        (&json!(5), &json!(id), &json!(2))
    );

    let frames = bob_socket.drain().await;
    let kinds: Vec<&str> = frames.iter().filter_map(|f| f["type"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "message",
            "message_edited",
            "reaction",
            "message_deleted",
            "unread"
        ],
        "{frames:?}"
    );
    let positions: Vec<i64> = frames.iter().filter_map(|f| f["pos"].as_i64()).collect();
    assert!(
        positions.is_sorted(),
        "changes arrive in commit order: {positions:?}"
    );
}

#[tokio::test]
async fn resume_replays_edits_deletes_and_reactions_made_while_offline() {
    let app = spawn_app().await;
    let (alice, bob, id) = app.alice_and_bob().await;
    for body in ["one", "two", "three"] {
        alice.send(id, body).await;
    }
    let (socket, hello) = app.socket(&bob).await;
    let since = hello["position"].as_i64().expect("hello's position");
    assert!(
        since >= hello["last_message_id"].as_i64().unwrap(),
        "{hello}"
    );
    socket.close().await;

    // While bob is away.
    alice
        .patch(&message_path(id, 1), json!({"body": "one, edited"}))
        .await;
    alice.put(&reaction_path(id, 2, "🔥")).await;
    alice.delete(&message_path(id, 3)).await;
    alice.put(&reaction_path(id, 1, "👋")).await;
    alice.delete(&reaction_path(id, 1, "👋")).await;

    let (mut socket, _) = app.socket(&bob).await;
    socket
        .send(json!({"type": "resume", "since": since, "req": "r"}))
        .await;
    let mut replayed = Vec::new();
    loop {
        let frame = socket.next().await;
        if frame["type"] == "unread" {
            assert_eq!(frame["req"], "r");
            break;
        }
        replayed.push(frame);
    }
    let kinds: Vec<&str> = replayed.iter().filter_map(|f| f["type"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "message_edited",
            "reaction",
            "message_deleted",
            "reaction",
            "reaction"
        ],
        "{replayed:?}"
    );
    assert_eq!(replayed[0]["message"]["body"], "one, edited");
    assert_eq!(
        (&replayed[1]["seq"], &replayed[1]["key"]),
        (&json!(2), &json!("🔥"))
    );
    assert_eq!(replayed[2]["seq"], 3);
    assert_eq!(
        (&replayed[4]["key"], &replayed[4]["on"]),
        (&json!("👋"), &json!(false))
    );
    let positions: Vec<i64> = replayed.iter().filter_map(|f| f["pos"].as_i64()).collect();
    assert_eq!(positions.len(), 5);
    assert!(positions.is_sorted(), "{positions:?}");

    // Resuming from the last position seen replays nothing more.
    let last = *positions.last().unwrap();
    socket
        .send(json!({"type": "resume", "since": last, "req": "r2"}))
        .await;
    assert_eq!(socket.next().await["type"], "unread");
}

/// Whether `needle` is anywhere in the bytes of the database's files.
fn files_hold(app: &TestApp, needle: &[u8]) -> Vec<String> {
    let db = app.db_path();
    let mut holding = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = format!("{}{suffix}", db.display());
        if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            holding.push(path);
        }
    }
    holding
}

#[tokio::test]
async fn a_deleted_message_leaves_no_trace_in_the_database_files() {
    let app = spawn_app().await;
    let (alice, bob, id) = app.alice_and_bob().await;
    let secret = "the-safe-code-is-4921-7730";
    let message = alice.send(id, secret).await;
    alice
        .patch(
            &message_path(id, 1),
            json!({"body": format!("{secret} (edited)")}),
        )
        .await;
    for n in 0..50 {
        bob.send(id, &format!("cover traffic {n}")).await;
    }
    assert!(
        !files_hold(&app, secret.as_bytes()).is_empty(),
        "before the delete the words are in the files (else this test proves nothing)"
    );
    assert_eq!(
        alice.delete(&message_path(id, 1)).await.0,
        StatusCode::NO_CONTENT
    );
    eventually(
        "no copy of the deleted words in the database's files",
        PATIENCE,
        async || match files_hold(&app, secret.as_bytes()) {
            found if found.is_empty() => Ok(()),
            found => Err(format!("still in {found:?}")),
        },
    )
    .await;
    let gone = message_at(&alice, id, 1).await;
    assert_eq!(gone["id"], message["id"]);
    assert_eq!(
        (&gone["deleted"], &gone["body"]),
        (&json!(true), &json!(""))
    );
    // The server still works after the WAL was cut short.
    bob.send(id, "still here").await;
}

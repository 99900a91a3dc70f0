//! Every kind of event reaches sockets on other nodes as it reaches them on one, and
//! a device that reconnects to another node and resumes gets what it missed, once.

use std::collections::{BTreeMap, HashSet};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{Cluster, device::Device};

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

fn types(frames: &[Value]) -> Vec<&str> {
    frames.iter().map(|f| f["type"].as_str().unwrap()).collect()
}

/// Alice's sockets on nodes A and C, bob's on B and C, and eve (who shares nothing
/// with them) on C. Each change is made through some node's HTTP API or socket, and
/// every socket hears exactly what it would on one node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_event_reaches_sockets_on_other_nodes() {
    let cluster = Cluster::start(3).await;
    let (a, b, c) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let eve = c.register("eve").await;
    let id = alice.open(&bob).await;

    // Presence: each learns that the other is online, wherever their sockets are.
    let mut alice_a = Device::open(a, &alice).await;
    assert_eq!(alice_a.hello["online"], json!([]), "nobody else is online");
    let mut bob_b = Device::open(b, &bob).await;
    bob_b.until_online(alice.id(), true).await;
    alice_a.until_online(bob.id(), true).await;
    let mut alice_c = Device::open(c, &alice).await;
    alice_c.until_online(bob.id(), true).await;
    let mut bob_c = Device::open(c, &bob).await;
    bob_c.until_online(alice.id(), true).await;
    let mut eve_c = Device::open(c, &eve).await;

    // A message sent over a socket on A: `sent` to that socket, `message` to every
    // other socket of both, on every node.
    alice_a
        .send(json!({"type": "send", "conversation_id": id, "body": "hej", "txn_id": "c-1", "req": 1}))
        .await;
    let sent = alice_a.expect("sent").await;
    assert_eq!((&sent["req"], &sent["txn_id"]), (&json!(1), &json!("c-1")));
    let first = sent["message"].clone();
    assert_eq!(
        (&first["body"], &first["seq"], &first["sender_id"]),
        (&json!("hej"), &json!(1), &json!(alice.id()))
    );
    for device in [&mut bob_b, &mut alice_c, &mut bob_c] {
        assert_eq!(device.expect("message").await["message"], first);
    }

    // A message sent over HTTP on B reaches every socket, the sender's too.
    let second = bob.send(id, "cześć").await;
    for device in [&mut alice_a, &mut bob_b, &mut alice_c, &mut bob_c] {
        assert_eq!(device.expect("message").await["message"], second);
    }

    // A read on B: the reading socket gets its unread summary, bob's other socket the
    // receipt and the summary, alice's sockets the receipt.
    bob_b
        .send(json!({"type": "read", "conversation_id": id, "up_to_seq": 1, "req": "r"}))
        .await;
    let unread = bob_b.expect("unread").await;
    assert_eq!((&unread["req"], &unread["total"]), (&json!("r"), &json!(0)));
    let frames = bob_c.next_frames(2).await;
    assert_eq!(types(&frames), ["receipt", "unread"], "{frames:?}");
    assert_eq!(frames[1]["total"], 0);
    let receipt = frames[0].clone();
    let pos = receipt["pos"].as_i64().expect("a receipt's position");
    assert_eq!(
        receipt,
        json!({"type": "receipt", "conversation_id": id, "user_id": bob.id(), "up_to_seq": 1, "pos": pos})
    );
    for device in [&mut alice_a, &mut alice_c] {
        assert_eq!(device.expect("receipt").await, receipt);
    }

    // An edit made over HTTP on C.
    let (status, edited) = alice
        .at(c)
        .patch(&message_path(id, 1), json!({"body": "hej, edited"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    for device in [&mut alice_a, &mut bob_b, &mut alice_c, &mut bob_c] {
        let event = device.expect("message_edited").await;
        assert_eq!(event["message"], edited["message"]);
        assert!(event["pos"].as_i64() > receipt["pos"].as_i64(), "{event}");
    }

    // A reaction over HTTP on A, by bob, whose sockets are on B and C.
    assert_eq!(
        bob.at(a).put(&reaction_path(id, 1, "👍")).await.0,
        StatusCode::NO_CONTENT
    );
    for device in [&mut alice_a, &mut bob_b, &mut alice_c, &mut bob_c] {
        let event = device.expect("reaction").await;
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
            ),
            "{event}"
        );
    }

    // Typing on A reaches the peer's sockets, on B and C, and no one else.
    alice_a
        .send(json!({"type": "typing", "conversation_id": id, "typing": true}))
        .await;
    for device in [&mut bob_b, &mut bob_c] {
        assert_eq!(
            device.expect("typing").await,
            json!({"type": "typing", "conversation_id": id, "user_id": alice.id(), "typing": true})
        );
    }

    // A new name set over HTTP on B reaches both people's sockets.
    let (status, body) = alice
        .at(b)
        .patch("/api/me", json!({"display_name": "Alice Liddell"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for device in [&mut alice_a, &mut bob_b, &mut alice_c, &mut bob_c] {
        let frame = device.expect("profile").await;
        assert_eq!(
            (
                &frame["user"]["id"],
                &frame["user"]["username"],
                &frame["user"]["display_name"]
            ),
            (&json!(alice.id()), &json!("alice"), &json!("Alice Liddell")),
            "{frame}"
        );
    }

    // A message bob has not read, deleted over HTTP on A: gone for everyone, and out
    // of bob's unread count on both his sockets.
    let third = alice.at(c).send(id, "oops, wrong person").await;
    for device in [&mut alice_a, &mut bob_b, &mut alice_c, &mut bob_c] {
        assert_eq!(device.expect("message").await["message"], third);
    }
    assert_eq!(
        alice.delete(&message_path(id, 3)).await.0,
        StatusCode::NO_CONTENT
    );
    for device in [&mut bob_b, &mut bob_c] {
        let frames = device.next_frames(2).await;
        assert_eq!(types(&frames), ["message_deleted", "unread"], "{frames:?}");
        assert_eq!(
            (&frames[0]["conversation_id"], &frames[0]["seq"]),
            (&json!(id), &json!(3))
        );
        assert_eq!(frames[1]["total"], 0, "{frames:?}");
    }
    for device in [&mut alice_a, &mut alice_c] {
        let deleted = device.expect("message_deleted").await;
        assert_eq!(deleted["seq"], 3, "{deleted}");
    }

    // Nothing came twice, and nothing else came: every socket reads up to a message
    // sent after all of it and finds nothing before it.
    let last = bob.at(c).send(id, "the end").await;
    for device in [&mut alice_a, &mut bob_b, &mut alice_c, &mut bob_c] {
        let extra = device.up_to_message(&last["id"]).await;
        assert_eq!(extra, Vec::<Value>::new(), "nothing more, nothing twice");
    }
    // Node C handed bob's socket there all of this; it handed eve nothing.
    assert_eq!(
        eve_c.drain().await,
        Vec::<Value>::new(),
        "eve shares no conversation with alice or bob"
    );

    // Alice's last socket closes: bob, on both nodes, sees her go offline, and not
    // before.
    for device in [&bob_b, &bob_c] {
        assert!(
            !device.presence.contains(&(alice.id(), false)),
            "alice showed as offline while she had sockets open: {:?}",
            device.presence
        );
    }
    alice_a.close().await;
    alice_c.close().await;
    for device in [&mut bob_b, &mut bob_c] {
        device.until_online(alice.id(), false).await;
    }
    drop((bob_b, bob_c, eve_c));
    cluster.finish().await;
}

/// What a device knows of a conversation's messages, by seq, from the frames it was
/// handed: messages as they came, then each change applied.
#[derive(Default)]
struct View {
    messages: BTreeMap<i64, Value>,
    /// Positions of the changes and messages applied, to find one handed twice.
    positions: Vec<i64>,
}

impl View {
    fn apply(&mut self, frame: &Value) {
        match frame["type"].as_str().unwrap_or_default() {
            "message" => {
                let message = frame["message"].clone();
                self.positions.push(message["id"].as_i64().expect("an id"));
                let seq = message["seq"].as_i64().expect("a seq");
                assert!(
                    self.messages.insert(seq, message).is_none(),
                    "message {seq} handed twice: {frame}"
                );
            }
            "message_edited" => {
                self.positions.push(frame["pos"].as_i64().expect("a pos"));
                let message = frame["message"].clone();
                let seq = message["seq"].as_i64().expect("a seq");
                self.messages.insert(seq, message);
            }
            "message_deleted" => {
                self.positions.push(frame["pos"].as_i64().expect("a pos"));
                if let Some(message) = self.messages.get_mut(&frame["seq"].as_i64().unwrap()) {
                    message["body"] = json!("");
                    message["deleted"] = json!(true);
                    message["reactions"] = json!([]);
                }
            }
            "reaction" => {
                self.positions.push(frame["pos"].as_i64().expect("a pos"));
                let Some(message) = self.messages.get_mut(&frame["seq"].as_i64().unwrap()) else {
                    return;
                };
                react(&mut message["reactions"], frame);
            }
            _ => {
                if let Some(pos) = frame["pos"].as_i64() {
                    self.positions.push(pos);
                }
            }
        }
    }
}

/// A reaction event applied to a message's `reactions`: keys in the order they first
/// appeared, users in the order they reacted.
fn react(reactions: &mut Value, frame: &Value) {
    let list = reactions.as_array_mut().expect("a list of reactions");
    let (key, user, on) = (&frame["key"], &frame["user_id"], frame["on"] == true);
    let at = list.iter().position(|r| &r["key"] == key);
    match (at, on) {
        (Some(i), true) => {
            let users = list[i]["user_ids"].as_array_mut().expect("user ids");
            if !users.contains(user) {
                users.push(user.clone());
            }
        }
        (None, true) => list.push(json!({"key": key, "user_ids": [user]})),
        (Some(i), false) => {
            let users = list[i]["user_ids"].as_array_mut().expect("user ids");
            users.retain(|u| u != user);
            if users.is_empty() {
                list.remove(i);
            }
        }
        (None, false) => {}
    }
}

/// What a reader sees of a message, whichever frame or page carried it.
fn shown(message: &Value) -> Value {
    let fields = [
        "id",
        "conversation_id",
        "seq",
        "sender_id",
        "body",
        "reply_to",
        "edited_at",
        "deleted",
        "reactions",
    ];
    fields
        .iter()
        .map(|field| (field.to_string(), message[*field].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Bob leaves node B while alice writes, edits, reacts, deletes, reads and renames
/// herself through A, B and C; he comes back on C, a message arrives live before he
/// resumes, and `resume {since}` brings everything else exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_comes_back_on_another_node_resumes_without_loss_or_repeats() {
    let cluster = Cluster::start(3).await;
    let (a, b, c) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let id = alice.open(&bob).await;
    let before = alice.send(id, "before").await;
    bob.send(id, "bob's").await;

    let mut view = View::default();
    let bob_b = Device::open(b, &bob).await;
    let since = bob_b.position;
    assert!(since >= before["id"].as_i64().unwrap(), "{}", bob_b.hello);
    for conversation in bob_b.hello["conversations"].as_array().unwrap() {
        for message in conversation["messages"].as_array().unwrap() {
            view.apply(&json!({"type": "message", "message": message}));
        }
    }
    bob_b.close().await;
    // Alice's own device on C: what node C has handed on by the time bob is back.
    let mut alice_c = Device::open(c, &alice).await;

    // While bob is away, alice on every node.
    let a1 = alice.send(id, "a1").await;
    let a2 = alice.at(c).send(id, "a2").await;
    let a3 = alice.at(b).send(id, "a3").await;
    let (status, body) = alice
        .at(b)
        .patch(&message_path(id, 3), json!({"body": "a1, edited"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        alice.at(c).put(&reaction_path(id, 4, "🔥")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        alice.at(c).delete(&message_path(id, 5)).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        alice.put(&reaction_path(id, 2, "👋")).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = alice
        .at(c)
        .post(&format!("/api/conversations/{id}/read"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = alice
        .at(b)
        .patch("/api/me", json!({"display_name": "Alice L."}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Node C has handed on the last of it (a new name reaches its owner's devices too),
    // so what bob gets from here on is only what he asks for and what comes after.
    loop {
        let frame = alice_c.next().await;
        if frame["type"] == "profile" {
            assert_eq!(frame["user"]["display_name"], "Alice L.", "{frame}");
            break;
        }
    }

    // Back, on node C; one message arrives live before the client resumes.
    let mut bob_c = Device::open(c, &bob).await;
    let early = alice.send(id, "early").await;
    let live = bob_c.expect("message").await;
    assert_eq!(live["message"], early);
    view.apply(&live);
    bob_c
        .send(json!({"type": "resume", "since": since, "req": "again"}))
        .await;
    let mut replayed = Vec::new();
    let unread = loop {
        let frame = bob_c.next().await;
        if frame["type"] == "unread" {
            break frame;
        }
        replayed.push(frame);
    };
    assert_eq!(unread["req"], "again", "{unread}");
    for frame in &replayed {
        view.apply(frame);
    }

    let messages: Vec<&Value> = replayed
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| &f["message"]["id"])
        .collect();
    assert_eq!(
        messages,
        [&a1["id"], &a2["id"], &a3["id"]],
        "every missed message, in order, and not the one that came live: {replayed:?}"
    );
    let positions: Vec<i64> = replayed
        .iter()
        .filter_map(|f| f["pos"].as_i64().or(f["message"]["id"].as_i64()))
        .collect();
    assert!(
        positions.is_sorted(),
        "replayed in commit order: {positions:?}"
    );
    let mut unique = HashSet::new();
    assert!(
        view.positions.iter().all(|p| unique.insert(*p)),
        "nothing handed twice: {:?}",
        view.positions
    );
    assert!(
        replayed
            .iter()
            .any(|f| f["type"] == "receipt" && f["user_id"] == alice.id() && f["up_to_seq"] == 5),
        "alice's read marker, moved while bob was away: {replayed:?}"
    );
    assert!(
        replayed
            .iter()
            .any(|f| f["type"] == "profile" && f["user"]["display_name"] == "Alice L."),
        "alice's new name: {replayed:?}"
    );

    // What bob's client now shows is what the database holds.
    let stored: BTreeMap<i64, Value> = bob
        .at(a)
        .history(id, "?limit=100")
        .await
        .into_iter()
        .map(|m| (m["seq"].as_i64().unwrap(), shown(&m)))
        .collect();
    let seen: BTreeMap<i64, Value> = view
        .messages
        .iter()
        .map(|(seq, m)| (*seq, shown(m)))
        .collect();
    assert_eq!(seen, stored, "bob's view after the resume");
    assert_eq!(
        unread["total"],
        bob.unread().await["total"],
        "the unread count the resume ends with"
    );

    // Live delivery goes on after the replay without repeating any of it.
    let after = alice.at(b).send(id, "after").await;
    let extra = bob_c.up_to_message(&after["id"]).await;
    assert_eq!(extra, Vec::<Value>::new());
    drop((alice_c, bob_c));
    cluster.finish().await;
}

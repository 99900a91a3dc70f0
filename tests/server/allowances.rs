//! What one account may spend: sends and new conversations per period, and bytes of
//! stored messages. Each refusal is a clear error on either transport and stores
//! nothing; other people are not held back by it.

use gadka_test_support::{assert_error, spawn_in, spawn_with};
use reqwest::{StatusCode, header};
use serde_json::json;

fn send_body(body: &str) -> serde_json::Value {
    json!({"body": body, "txn_id": uuid::Uuid::new_v4().to_string()})
}

#[tokio::test]
async fn sends_past_the_allowance_are_refused_on_both_transports_and_store_nothing() {
    let app = spawn_with(|s| s.limits.sends_per_minute = 3).await;
    let (alice, bob, id) = app.alice_and_bob().await;
    let path = format!("/api/conversations/{id}/messages");
    for n in 0..3 {
        alice.send(id, &format!("hej {n}")).await;
    }
    let refused = alice.post_full(&path, send_body("one too many")).await;
    assert_error(
        refused.status,
        &refused.body,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    assert!(refused.headers.contains_key(header::RETRY_AFTER));

    let (mut socket, _) = app.socket(&alice).await;
    socket
        .send(
            json!({"type": "send", "conversation_id": id, "body": "and another",
            "txn_id": "s-1", "req": 9}),
        )
        .await;
    let error = socket.expect("error").await;
    assert_eq!(error["req"], 9);
    assert_eq!(error["code"], "rate_limited", "{error}");
    assert!(
        error["retry_after_secs"].as_u64().is_some_and(|s| s >= 1),
        "{error}"
    );

    let stored: Vec<_> = bob
        .history(id, "")
        .await
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(stored, ["hej 0", "hej 1", "hej 2"]);
    // The allowance is alice's own: bob still writes.
    bob.send(id, "my turn").await;
}

#[tokio::test]
async fn new_conversations_past_the_allowance_are_refused_but_existing_ones_open() {
    let app = spawn_with(|s| s.limits.conversations_per_hour = 2).await;
    let alice = app.register("alice").await;
    let [bob, carol, dave] = [
        app.register("bob").await,
        app.register("carol").await,
        app.register("dave").await,
    ];
    alice.open(&bob).await;
    alice.open(&carol).await;
    let (status, body) = alice
        .post("/api/conversations", json!({"user_id": dave.id()}))
        .await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let (status, body) = alice
        .post("/api/conversations", json!({"user_id": bob.id()}))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "opening one that exists is free: {body}"
    );

    let (mut socket, _) = app.socket(&alice).await;
    socket
        .send(
            json!({"type": "send", "to_user": dave.id(), "body": "hi dave",
            "txn_id": "d-1", "req": 1}),
        )
        .await;
    let error = socket.expect("error").await;
    assert_eq!(error["code"], "rate_limited", "{error}");
    assert_eq!(
        dave.get_ok("/api/conversations").await["conversations"],
        json!([])
    );
    // Dave may still start his own, and once it exists, alice's sends to him are free
    // (the second one known without asking the database).
    dave.open(&alice).await;
    for n in 2..4 {
        socket
            .send(
                json!({"type": "send", "to_user": dave.id(), "body": "hi again",
                "txn_id": format!("d-{n}"), "req": n}),
            )
            .await;
        let sent = socket.expect("sent").await;
        assert_eq!(sent["txn_id"], format!("d-{n}"), "{sent}");
    }
}

#[tokio::test]
async fn the_storage_quota_counts_what_is_stored_across_a_restart() {
    let quota = |s: &mut gadka::config::Settings| s.limits.storage_quota_bytes = 100;
    let app = spawn_with(quota).await;
    let (alice, bob, id) = app.alice_and_bob().await;
    let path = format!("/api/conversations/{id}/messages");
    alice.send(id, &"a".repeat(60)).await;
    let refused = alice.post_full(&path, send_body(&"b".repeat(60))).await;
    assert_error(
        refused.status,
        &refused.body,
        StatusCode::FORBIDDEN,
        "quota_exceeded",
    );
    assert_eq!(bob.history(id, "").await.len(), 1, "nothing more stored");

    // After a restart the count comes from what the database holds.
    let dir = app.stop().await;
    let app = spawn_in(dir, quota).await;
    let (alice, bob) = (alice.on(&app), bob.on(&app));
    let refused = alice.post_full(&path, send_body(&"c".repeat(60))).await;
    assert_error(
        refused.status,
        &refused.body,
        StatusCode::FORBIDDEN,
        "quota_exceeded",
    );
    // "ż" is two bytes: 60 + 20 × 2 = 100 fits exactly.
    alice.send(id, &"ż".repeat(20)).await;
    let (mut socket, _) = app.socket(&alice).await;
    socket
        .send(
            json!({"type": "send", "conversation_id": id, "body": "!", "txn_id": "q-1", "req": 2}),
        )
        .await;
    assert_eq!(socket.expect("error").await["code"], "quota_exceeded");
    // The quota is alice's: bob still writes.
    bob.send(id, "still here").await;
    assert_eq!(bob.history(id, "").await.len(), 3);
}

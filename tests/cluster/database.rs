//! PostgreSQL stopped under two running nodes: a send is refused in plain words and
//! nothing is half stored; once the database is back the nodes recover by
//! themselves, and the client's retry (same `txn_id`) is stored once and delivered
//! across nodes.

use gadka_test_support::{NatsServer, OwnPostgres, PATIENCE, assert_error, eventually, seqs};
use reqwest::StatusCode;
use serde_json::json;

use crate::{device::Device, node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_refuse_sends_while_postgresql_is_down_and_recover_by_themselves() {
    // A server of this test's own: stopping the shared one would stop every test.
    let postgres = OwnPostgres::start();
    let nats = NatsServer::start().await;
    let a = node(&postgres.url(), &nats.url()).await;
    let b = node(&postgres.url(), &nats.url()).await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let id = alice.open(&bob).await;
    let mut bobs = Device::open(&b, &bob).await;
    let before = alice.send(id, "before").await;
    bobs.up_to_message(&before["id"]).await;

    postgres.stop();
    let path = format!("/api/conversations/{id}/messages");
    let send = json!({"body": "while it was down", "txn_id": "down-1"});
    let (status, body) = alice.post(&path, send.clone()).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    let health = reqwest::get(a.url("/healthz"))
        .await
        .expect("node A answers");
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);

    postgres.start_again();
    // The client tries again, as its outbox does, until the node has its database back.
    let stored = eventually(
        "the send to be stored once PostgreSQL is back",
        PATIENCE,
        async || {
            let (status, body) = alice.post(&path, send.clone()).await;
            if status == StatusCode::CREATED {
                Ok(body)
            } else {
                Err(body)
            }
        },
    )
    .await;
    // Bob's socket on the other node, open throughout, gets it, and each message once.
    bobs.up_to_message(&stored["message"]["id"]).await;
    assert_eq!(seqs(&bobs.delivered), [1, 2]);
    let history = bob.history(id, "").await;
    assert_eq!(
        seqs(&history),
        [1, 2],
        "the refused send was not half stored"
    );
    assert_eq!(history[1]["body"], "while it was down");
    // And once more with the same txn_id: the stored one, not a second.
    let (status, again) = alice.post(&path, send).await;
    assert!(status.is_success(), "{status} {again}");
    assert_eq!(again["message"]["id"], stored["message"]["id"]);
    assert_eq!(seqs(&bob.history(id, "").await), [1, 2]);
}

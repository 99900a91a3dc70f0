//! The bridge on two nodes of a cluster: both commit outbox rows, one carries them to
//! Matrix (the holder of the `bridge-outbox` lease), and when that node stops the
//! other takes over. A Matrix user sees every message once, in the order sent.

use gadka::config::Settings;
use gadka_test_support::{NatsServer, create_postgres_database, drop_postgres_database};
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;

use crate::{
    gadka::Gadka,
    matrix::bodies,
    messages::{bob_and_matrix_user, open_portal},
    synapse,
};

/// The secret both nodes sign sessions with.
const SECRET: &[u8] = b"gadka bridge cluster test: one secret for both nodes";

#[tokio::test]
async fn two_nodes_carry_every_message_to_matrix_once_in_order_across_a_handover() {
    let (url, database) = create_postgres_database().await;
    let nats = NatsServer::start().await;
    let node = |s: &mut Settings| {
        s.database_url = url.clone();
        s.nats_url = Some(nats.url());
        s.session_secret = Some(SECRET.to_vec());
    };
    let slot = synapse::shared().await.slot().await;
    // Node A listens where the homeserver calls; node B has the same bridge settings
    // and a listener of its own, which nobody calls. B starts before the Matrix user
    // is made (on A, by the invite), so only the database can tell B she lives there.
    let (a, bob, alice) = bob_and_matrix_user(&slot, "alice-cluster", node).await;
    let b = Gadka::start(&slot, |s| {
        node(s);
        if let Some(bridge) = s.bridge.as_mut() {
            bridge.listen = "127.0.0.1:0".parse().expect("an address");
        }
    })
    .await;
    b.bridge_health("ready").await;
    let (room, conversation) = open_portal(&slot, &alice, &bob).await;
    let puppet = slot.puppet("bob");
    let bob_on = [bob.at(a.app()), bob.at(b.app())];

    // Bob writes through both nodes in turn: each node's batch adds its outbox row.
    let mut sent = Vec::new();
    for i in 0..6 {
        let body = format!("before {i}");
        bob_on[i % 2].send(conversation, &body).await;
        sent.push(body);
    }
    let carried = alice.wait_for_messages_from(&room, &puppet, 6).await;
    assert_eq!(bodies(&carried), sent, "each once, in the order sent");

    // The node that carries the outbox stops; the other takes the lease over once
    // it has run out and carries what is written meanwhile, in order.
    let db = Database::connect(&url).await.expect("the test database");
    let holder = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT holder FROM lease WHERE name = 'bridge-outbox'",
        ))
        .await
        .expect("the lease is readable")
        .expect("a node holds the outbox lease")
        .try_get::<String>("", "holder")
        .expect("a holder");
    let node_of = |health: Value| health["cluster"]["node"].as_str().map(str::to_owned);
    let a_holds = node_of(a.bridge_health("ready").await).as_deref() == Some(&holder);
    assert!(
        a_holds || node_of(b.bridge_health("ready").await).as_deref() == Some(&holder),
        "the holder {holder} is one of the two nodes"
    );
    let (stays, gadka_stopping, bob) = if a_holds {
        (b, a, &bob_on[1])
    } else {
        (a, b, &bob_on[0])
    };
    gadka_stopping.stop().await;
    for i in 0..4 {
        let body = format!("after {i}");
        bob.send(conversation, &body).await;
        sent.push(body);
    }
    let carried = alice.wait_for_messages_from(&room, &puppet, 10).await;
    assert_eq!(bodies(&carried), sent, "each once, in the order sent");

    drop(stays);
    drop(db);
    drop_postgres_database(&database).await;
}

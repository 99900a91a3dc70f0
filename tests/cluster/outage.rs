//! `nats-server` goes away in the middle of a conversation and comes back, then is
//! restarted while both people write: each node serves its own users meanwhile,
//! messages cross nodes again afterwards, and every message the database holds
//! reached every socket exactly once (a socket whose node missed part of the stream
//! is closed with 1012, and its client resumes).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::{Cluster, device::Device};

/// Messages each of alice and bob sends at each stage.
const PER_STAGE: usize = 3;

/// Each message's id and how many times a device was handed it.
fn counts(delivered: &[Value]) -> BTreeMap<i64, usize> {
    let mut counts = BTreeMap::new();
    for message in delivered {
        *counts
            .entry(message["id"].as_i64().expect("a message id"))
            .or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_nats_restarts_every_message_reaches_every_socket_once() {
    let mut cluster = Cluster::start(2).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let id = alice.open(&bob).await;
    let alice_on_b = alice.at(b);
    let bob_on_a = bob.at(a);
    let mut devices = [
        Device::open(a, &alice).await.resync(),
        Device::open(b, &bob).await.resync(),
        Device::open(b, &alice).await.resync(),
        Device::open(a, &bob).await.resync(),
    ];

    let mut sent = Vec::new();
    let mut stage = async |name: &str| {
        for i in 0..PER_STAGE {
            sent.push(alice.send(id, &format!("alice, {name} {i}")).await);
            sent.push(bob.send(id, &format!("bob, {name} {i}")).await);
        }
    };

    // Before: messages cross both ways.
    stage("before").await;
    for device in devices.iter_mut() {
        device
            .until("the messages sent before the outage", |d| {
                d.delivered.len() >= 2 * PER_STAGE
            })
            .await;
    }

    // NATS goes away; each node goes on taking its own users' messages.
    cluster.nats.kill();
    stage("during").await;
    cluster.nats.start_again().await;
    for i in 0..2 {
        cluster.wait_for_nodes(i, 2).await;
    }
    // Restarted again while both are writing.
    let (_, ()) = tokio::join!(stage("across a restart"), cluster.nats.restart());
    for i in 0..2 {
        cluster.wait_for_nodes(i, 2).await;
    }
    // Afterwards, through both nodes again.
    stage("after").await;
    for (client, name) in [(&alice_on_b, "alice on B"), (&bob_on_a, "bob on A")] {
        sent.push(client.send(id, &format!("{name}, last")).await);
    }

    let stored = alice.history(id, "?limit=100").await;
    let stored_ids: BTreeSet<i64> = stored.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    let sent_ids: BTreeSet<i64> = sent.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(
        stored_ids, sent_ids,
        "the database holds every message sent"
    );

    for device in devices.iter_mut() {
        device
            .until("every stored message", |d| {
                let counts = counts(&d.delivered);
                stored_ids.iter().all(|id| counts.contains_key(id))
            })
            .await;
    }
    // Nothing more is on its way: a last message through each node, and nothing
    // before it but what was counted.
    let closing = [
        alice.send(id, "closing, A").await,
        bob.send(id, "closing, B").await,
    ];
    for device in devices.iter_mut() {
        for message in &closing {
            let before = device.up_to_message(&message["id"]).await;
            assert!(
                before
                    .iter()
                    .all(|f| f["type"] == "message" || f["type"] == "unread"),
                "nothing but messages and the resume's unread: {before:?}"
            );
        }
        let counts = counts(&device.delivered);
        let twice: Vec<(&i64, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "messages handed twice: {twice:?}");
        let missing: Vec<&i64> = stored_ids
            .iter()
            .filter(|id| !counts.contains_key(id))
            .collect();
        assert!(missing.is_empty(), "messages never handed: {missing:?}");
        eprintln!("a device resumed {} times after the outage", device.resyncs);
    }
    drop(devices);
    cluster.finish().await;
}

//! One conversation, two people writing at once through different nodes: every
//! `seq` once, without a gap, and one order that every socket sees.

use gadka_test_support::seqs;
use serde_json::Value;

use crate::{Cluster, device::Device};

/// Sends each of alice and bob keeps in flight.
const IN_FLIGHT: usize = 4;
/// Messages each of those loops sends.
const PER_LOOP: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_on_different_nodes_get_one_gapless_order() {
    let cluster = Cluster::start(3).await;
    let (a, b, c) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let id = alice.open(&bob).await;
    let mut devices = [
        Device::open(a, &alice).await,
        Device::open(b, &bob).await,
        Device::open(c, &alice).await,
        Device::open(c, &bob).await,
    ];

    // Alice through A, bob through B, each with several sends in flight.
    let loops = [(&alice, "alice"), (&bob, "bob")]
        .into_iter()
        .flat_map(|(client, name)| {
            (0..IN_FLIGHT).map(move |l| async move {
                for i in 0..PER_LOOP {
                    client.send(id, &format!("{name} {l}.{i}")).await;
                }
            })
        });
    futures_util::future::join_all(loops).await;
    let total = 2 * IN_FLIGHT * PER_LOOP;

    let stored = seqs(&bob.at(c).history(id, "?limit=100").await);
    assert_eq!(
        stored,
        (1..=total as i64).collect::<Vec<_>>(),
        "the database holds every seq once, without a gap"
    );

    // Every socket: each message once, and then nothing but the marker sent after.
    let marker = alice.at(b).send(id, "marker").await;
    let mut orders = Vec::new();
    for device in devices.iter_mut() {
        let frames = device.up_to_message(&marker["id"]).await;
        let kinds: Vec<&Value> = frames.iter().map(|f| &f["type"]).collect();
        assert!(
            kinds.iter().all(|k| *k == "message"),
            "only messages: {kinds:?}"
        );
        let order = seqs(&device.delivered[..device.delivered.len() - 1]);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (1..=total as i64).collect::<Vec<_>>(),
            "every seq exactly once on this socket: {order:?}"
        );
        orders.push(order);
    }
    for order in &orders[1..] {
        assert_eq!(order, &orders[0], "every socket sees the same order");
    }
    assert!(
        orders[0].is_sorted(),
        "the order sockets see is the conversation's order, by seq: {:?}",
        orders[0]
    );
    drop(devices);
    cluster.finish().await;
}

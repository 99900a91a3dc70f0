//! What the cluster knows of who is connected where: presence across nodes, a node
//! that stops or dies, logout on one node closing the session's sockets on the
//! others, and `/healthz`'s account of the cluster.

use std::collections::HashSet;

use gadka_test_support::{PATIENCE, eventually};
use reqwest::StatusCode;
use serde_json::json;

use crate::{Cluster, device::Device, health, wait_for_nodes};

/// Alice moves between nodes while bob watches from B: she is online while any node
/// holds a socket of hers, never shown gone in between, and offline once the node
/// that held her last socket stops; the nodes left stop counting a stopped one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_the_clusters_and_a_stopped_node_takes_its_users_offline() {
    let mut cluster = Cluster::start(3).await;
    let (a, b, c) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let id = alice.open(&bob).await;

    let mut bob_b = Device::open(b, &bob).await;
    assert_eq!(bob_b.hello["online"], json!([]), "alice never connected");
    let mut alice_a = Device::open(a, &alice).await;
    bob_b.until_online(alice.id(), true).await;
    alice_a.until_online(bob.id(), true).await;

    // A second socket on C, then the first one closes: alice is still online.
    let mut alice_c = Device::open(c, &alice).await;
    alice_c.until_online(bob.id(), true).await;
    alice_a.close().await;
    let note = alice.at(c).send(id, "still here, on C").await;
    bob_b.up_to_message(&note["id"]).await;
    assert!(
        !bob_b.presence.contains(&(alice.id(), false)),
        "alice showed as offline when her socket on A closed, while she had one on C: {:?}",
        bob_b.presence
    );
    // Back on A, then C stops (its sockets closed with 1001).
    let alice_a = Device::open(a, &alice).await;
    assert!(
        alice_a.online.contains(&bob.id()),
        "a node knows who is online elsewhere: {}",
        alice_a.hello
    );
    cluster.stop(2).await;
    drop(alice_c);
    let note = alice.send(id, "on A again").await;
    bob_b.up_to_message(&note["id"]).await;
    assert!(
        !bob_b.presence.contains(&(alice.id(), false)),
        "alice showed as offline when C stopped, while she had a socket on A: {:?}",
        bob_b.presence
    );

    // Her last socket's node stops: bob sees her go offline.
    drop(alice_a);
    cluster.stop(0).await;
    bob_b.until_online(alice.id(), false).await;
    // B, left alone, stops counting the nodes that stopped.
    cluster.wait_for_nodes(1, 1).await;
    drop(bob_b);
    cluster.finish().await;
}

/// A node killed with SIGKILL tells nobody: its users go offline for their peers on
/// other nodes when its heartbeat stops, and the others stop counting it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_users_go_offline_for_peers_on_other_nodes() {
    let cluster = Cluster::start(2).await;
    let b = cluster.node(1);
    let mut doomed = cluster.process_node();
    for i in 0..2 {
        cluster.wait_for_nodes(i, 3).await;
    }
    wait_for_nodes(&doomed.url("/healthz"), 3).await;

    let alice = cluster.node(0).register("alice").await;
    let bob = b.register("bob").await;
    alice.open(&bob).await;
    let mut bob_b = Device::open(b, &bob).await;

    // Alice's only socket is on the node that will die.
    let doomed_at = doomed.address.parse().expect("the node's address");
    let alice_there = Device::open_at(doomed_at, &alice).await;
    bob_b.until_online(alice.id(), true).await;

    doomed.kill();
    bob_b.until_online(alice.id(), false).await;
    for i in 0..2 {
        cluster.wait_for_nodes(i, 2).await;
    }
    drop((alice_there, bob_b));
    cluster.finish().await;
}

/// Logout through node A closes the session's sockets on B and C with 4001, and the
/// cookie opens no socket anywhere; another session of the same user stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_one_node_closes_the_sessions_sockets_on_every_node() {
    let cluster = Cluster::start(3).await;
    let (a, b, c) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let alice = a.register("alice").await;
    let cookie = alice.cookie().expect("a session");
    let laptop = c.login("alice").await;
    let (mut on_b, _) = b.socket(&alice).await;
    let (mut on_c, _) = c.socket(&alice).await;
    let (mut laptop_on_b, _) = b.socket(&laptop).await;

    let (status, body) = alice.post("/api/logout", json!({})).await;
    assert!(status.is_success(), "logout: {status} {body}");
    for socket in [&mut on_b, &mut on_c] {
        let close = socket.closed().await.expect("a close frame");
        assert_eq!(u16::from(close.code), 4001, "{close:?}");
        assert_eq!(close.reason.as_str(), "session ended");
    }
    for node in [a, b, c] {
        let refused = node
            .try_socket(Some(&cookie), Some(&format!("http://{}", node.addr)))
            .await
            .err()
            .expect("a revoked session opens no socket");
        assert_eq!(refused.status, 401, "{}", refused.body);
        let (status, _) = alice.at(node).get("/api/me").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The laptop's session was not the one that ended.
    laptop_on_b.assert_quiet().await;
    assert_eq!(laptop.at(b).get("/api/me").await.0, StatusCode::OK);
    drop((on_b, on_c, laptop_on_b));
    cluster.finish().await;
}

/// `/healthz` on each node names the node, counts the live nodes and says whether
/// NATS is connected: lost when `nats-server` goes, back when it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_shows_the_cluster_and_the_link_to_nats() {
    let mut cluster = Cluster::start(3).await;
    let mut names = HashSet::new();
    for i in 0..3 {
        let health = cluster.health(i).await;
        assert_eq!(health["status"], "ok", "{health}");
        let block = &health["cluster"];
        assert_eq!(
            (&block["nats"], &block["nodes"]),
            (&json!("connected"), &json!(3)),
            "{health}"
        );
        let node = block["node"].as_str().expect("the node's id").to_owned();
        assert!(!node.is_empty(), "{health}");
        assert!(names.insert(node), "every node has its own id: {health}");
    }

    cluster.nats.kill();
    for i in 0..3 {
        let url = cluster.node(i).url("/healthz");
        eventually("a node to say NATS is gone", PATIENCE, async || {
            let health = health(&url).await;
            if health["cluster"]["nats"] == "disconnected" {
                Ok(())
            } else {
                Err(health)
            }
        })
        .await;
    }
    cluster.nats.start_again().await;
    for i in 0..3 {
        cluster.wait_for_nodes(i, 3).await;
    }
    cluster.finish().await;
}

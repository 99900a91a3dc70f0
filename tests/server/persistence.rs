//! Data lives in the SQLite file: it survives a restart, and so do sessions.

use gadka_test_support::{spawn_app, spawn_in};
use serde_json::json;

#[tokio::test]
async fn everything_survives_a_restart_on_the_same_database() {
    let app = spawn_app().await;
    let (alice, bob, id) = app.alice_and_bob().await;
    alice.send(id, "before the restart").await;
    alice.send(id, "second").await;
    bob.post(
        &format!("/api/conversations/{id}/read"),
        json!({"up_to_seq": 1}),
    )
    .await;
    assert!(app.db_path().exists());
    assert!(
        app.data_dir.path().join("gadka.db-wal").exists(),
        "the database runs in WAL mode"
    );

    let dir = app.stop().await;
    let app = spawn_in(dir, |_| {}).await;

    // Bob's session is still good: the signing secret was kept beside the database.
    let unread = bob.on(&app).unread().await;
    assert_eq!(unread["total"], 1, "the read marker survived: {unread}");

    let alice = app.login("alice").await; // the account survived
    let history = alice.history(id, "").await;
    let bodies: Vec<&str> = history
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["before the restart", "second"]);
    assert_eq!(history[0]["read"], true);
    assert_eq!(history[1]["read"], false);
    // New messages continue the sequence.
    let next = alice.send(id, "after").await;
    assert_eq!(next["seq"], 3);
}

#[tokio::test]
async fn a_database_made_with_4_kib_pages_keeps_its_pages_and_works() {
    // A new database gets the smaller pages that make the writer cheaper.
    let app = spawn_app().await;
    assert_eq!(app.db_integer("PRAGMA page_size").await, 2048);
    app.stop().await;

    // One made before (SQLite's default 4 KiB pages, in WAL mode) cannot change its
    // page size in place: it is kept, and everything works on it.
    let dir = std::sync::Arc::new(tempfile::tempdir().expect("a temporary directory"));
    let old = rusqlite::Connection::open(dir.path().join("gadka.db")).expect("an SQLite file");
    old.execute_batch(
        "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; \
         CREATE TABLE made_before (x INTEGER); DROP TABLE made_before;",
    )
    .expect("a database with 4 KiB pages");
    drop(old);
    let app = spawn_in(dir, |_| {}).await;
    let (alice, bob, id) = app.alice_and_bob().await;
    for i in 0..50 {
        alice.send(id, &format!("message {i}")).await;
    }
    assert_eq!(bob.unread().await["total"], 50);
    assert_eq!(app.db_integer("PRAGMA page_size").await, 4096);
    let dir = app.stop().await;
    let app = spawn_in(dir, |_| {}).await;
    let history = app.login("bob").await.history(id, "").await;
    assert_eq!(history.len(), 50);
    assert_eq!(history[49]["body"], "message 49");
}

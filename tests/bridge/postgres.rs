//! The bridge on PostgreSQL: its tables and upserts work there as on SQLite.

use gadka_test_support::{create_postgres_database, drop_postgres_database};

use crate::{messages::dm_with, receipts::seen_by_alice, synapse};

#[tokio::test]
async fn the_bridge_works_the_same_on_postgresql() {
    let (url, name) = create_postgres_database().await;
    let synapse = synapse::shared().await;
    let slot = synapse.slot().await;
    let d = dm_with(&slot, "alice-pg", |s| s.database_url = url.clone()).await;

    d.bob.send(d.conversation, "from postgres").await;
    let from_bob = d.alice.wait_for_messages_from(&d.room, &d.puppet, 1).await;
    assert_eq!(from_bob[0]["content"]["body"], "from postgres");
    let event_id = from_bob[0]["event_id"].as_str().unwrap();
    d.alice.read_up_to(&d.room, event_id).await;
    seen_by_alice(&d.bob, d.conversation).await;
    drop(d);
    drop_postgres_database(&name).await;
}

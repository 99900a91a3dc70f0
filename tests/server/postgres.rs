//! The same chat on PostgreSQL, the database for more than one machine.

use gadka_test_support::{create_postgres_database, drop_postgres_database, spawn_in, spawn_with};

use crate::{
    accounts::display_name_changes,
    conversations::{conversation_paging, retried_txn_ids, two_users_chat},
    media::attachments_end_to_end,
    rich::replies_edits_deletes_and_reactions,
    users::{a_renamed_user_is_found_by_the_new_name, unicode_names_are_found},
};

#[tokio::test]
async fn the_chat_works_the_same_on_postgresql_and_survives_a_restart() {
    let (url, name) = create_postgres_database().await;
    let app = spawn_with(|s| s.database_url = url.clone()).await;
    assert!(
        !app.db_path().exists(),
        "no SQLite file when PostgreSQL is configured"
    );
    two_users_chat(&app).await;
    retried_txn_ids(&app).await;
    display_name_changes(&app).await;
    unicode_names_are_found(&app).await;
    a_renamed_user_is_found_by_the_new_name(&app).await;
    replies_edits_deletes_and_reactions(&app).await;
    attachments_end_to_end(&app).await;
    // The same queries as on SQLite, on fewer conversations: the scale is SQLite's.
    conversation_paging(&app, 12, 5).await;

    let dir = app.stop().await;
    let app = spawn_in(dir, |s| s.database_url = url.clone()).await;
    let alice = app.login("alice").await;
    let (_, list) = alice.get("/api/conversations?limit=10").await;
    assert_eq!(list["conversations"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["next_cursor"], serde_json::Value::Null, "{list}");
    app.stop().await;
    drop_postgres_database(&name).await;
}

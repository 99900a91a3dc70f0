//! Every conversation is reachable, however many there are: the list pages in as it
//! is scrolled to its end, and the address of one not paged in yet opens it.

use gadka::{config::Durability, store::Store};
use gadka_test_support::spawn_app;
use serde_json::json;

use crate::support::Browser;

/// More than a page (100) and a half.
const PEOPLE: usize = 160;

#[tokio::test]
async fn every_conversation_is_reachable_by_scrolling_or_by_its_address() {
    let app = spawn_app().await;
    let alice = Browser::open(&app.url("")).await;
    alice.register("alice", "Alice").await;
    let api = app.login("alice").await;

    // People made straight in the database (no password to hash), as the bridge
    // makes its Matrix users; Alice opens a conversation with each, oldest first.
    let store = Store::connect(
        &format!("sqlite://{}?mode=rwc", app.db_path().display()),
        Durability::Full,
    )
    .await
    .expect("the database opens");
    let mut chats = Vec::new();
    for n in 1..=PEOPLE {
        let user = store
            .matrix_user(
                &format!("@person{n:03}:matrix.example"),
                &format!("Person {n:03}"),
                0,
            )
            .await
            .expect("a user");
        let (_, opened) = api
            .post("/api/conversations", json!({"user_id": user.id}))
            .await;
        chats.push(
            opened["conversation"]["id"]
                .as_i64()
                .expect("a conversation"),
        );
    }
    let oldest = chats[0];

    // The oldest is far down the list, yet its address opens it.
    alice.goto(&format!("/c/{oldest}")).await;
    alice
        .wait_for_text(".chat-header .name", "Person 001")
        .await;

    // Scrolled to its end again and again, the list comes whole.
    alice.goto("/").await;
    alice.wait_for_text(".conversation", "Person 160").await;
    alice
        .wait_until("every conversation in the list", || async {
            let count = alice
                .client
                .execute(
                    "const list = document.querySelector('.list'); list.scrollTop = list.scrollHeight; \
                     return document.querySelectorAll('.conversation').length;",
                    vec![],
                )
                .await
                .ok()?;
            (count == json!(PEOPLE)).then_some(())
        })
        .await;
    let last = alice
        .js(
            "return [...document.querySelectorAll('.conversation .name')].at(-1).textContent;",
            vec![],
        )
        .await;
    assert_eq!(last, json!("Person 001"), "oldest last");
    alice.close().await;
}

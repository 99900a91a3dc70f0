//! Someone who lives on Matrix, as a gadka user finds and talks to them: a "Matrix"
//! badge and their Matrix ID in the search results, on the profile and in the
//! conversation's header, where a local user shows `@username` and no badge. The
//! README's screenshot of it is taken on the way.

use gadka::{config::Durability, store::Store};
use gadka_test_support::spawn_app;

use crate::support::{Browser, DESKTOP};

#[tokio::test]
async fn a_matrix_user_is_marked_wherever_they_are_shown() {
    let app = spawn_app().await;
    // The bridge makes such users when a Matrix user first writes; here the row is
    // made directly, as the bridge's store call makes it.
    let store = Store::connect(
        &format!("sqlite://{}?mode=rwc", app.db_path().display()),
        Durability::Full,
    )
    .await
    .expect("the database opens");
    store
        .matrix_user("@ada:matrix.example", "Ada Lovelace", 0)
        .await
        .expect("a Matrix user");
    app.register("adam").await;

    let bob = Browser::open(&app.url("")).await;
    bob.resize(DESKTOP).await;
    bob.register("bob", "Bob Builder").await;

    // Search: the Matrix user carries the badge and her Matrix ID; the local one neither.
    bob.fill("Search people", "ad").await;
    let ada = bob.wait_for_text(".person", "Ada Lovelace").await;
    assert_eq!(
        ada.text()
            .await
            .expect("its text")
            .split('\n')
            .collect::<Vec<_>>(),
        ["AL", "Ada Lovelace", "Matrix", "@ada:matrix.example"],
    );
    let adam = bob.wait_for_text(".person", "@adam").await;
    assert!(
        adam.find(fantoccini::Locator::Css(".matrix-badge"))
            .await
            .is_err(),
        "a local user has no Matrix badge"
    );

    // Her profile.
    ada.click().await.expect("click");
    bob.wait_for_text(".profile-name", "Ada Lovelace").await;
    let handle = bob.wait_for(".profile-card .username").await;
    assert_eq!(
        handle.text().await.expect("its text"),
        "Matrix @ada:matrix.example"
    );
    let title = bob
        .js(
            "return document.querySelector('.profile-card .matrix-badge').title;",
            vec![],
        )
        .await;
    assert_eq!(title, "On Matrix as @ada:matrix.example");

    // The conversation's header, and its entry in the list.
    bob.press("Send message").await;
    bob.wait_for(".chat").await;
    bob.wait_for_text(".chat-header .chat-name-line", "Ada Lovelace")
        .await;
    let line = bob
        .js(
            "return [...document.querySelector('.chat-header .chat-name-line').children]\
               .map(n => n.textContent);",
            vec![],
        )
        .await;
    assert_eq!(
        line,
        serde_json::json!(["Ada Lovelace", "Matrix", "@ada:matrix.example"])
    );
    bob.wait_for_text(".conversation .entry-top", "@ada:matrix.example")
        .await;
    bob.wait_for(".conversation .entry-top .matrix-badge").await;
    bob.wait_for_text(
        ".timeline-top",
        "This is the beginning of your conversation with @ada:matrix.example.",
    )
    .await;
    bob.screenshot("matrix-desktop").await;
    bob.close().await;
}

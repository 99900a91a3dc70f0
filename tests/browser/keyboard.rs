//! The keys a keyboard user moves with: arrows through the conversation list and the
//! people found (one tab stop each), Ctrl+K to the search, Alt+↑/↓ to the previous or
//! next chat with unread messages, a skip link to the message box, Escape out of a
//! search, then out of a chat or a profile. And the addresses that show nothing say
//! so.

use gadka_test_support::spawn_app;
use serde_json::{Value, json};

use crate::support::{Browser, PHONE, keys, open_with};

/// The focused element, as a person would name it: a conversation by its peer, a
/// person found by their handle, else its id or its text.
const FOCUSED: &str = "const e = document.activeElement; \
    if (e.matches('.conversation, .person')) return e.querySelector('.name').textContent; \
    return e.id || e.textContent.trim();";

async fn focused(browser: &Browser) -> Value {
    browser.js(FOCUSED, vec![]).await
}

async fn path(browser: &Browser) -> String {
    browser
        .client
        .current_url()
        .await
        .expect("a URL")
        .path()
        .to_owned()
}

#[tokio::test]
async fn the_keyboard_moves_through_lists_chats_and_searches() {
    let app = spawn_app().await;
    let alice = Browser::open(&app.url("")).await;
    alice.register("alice", "Alice").await;
    // Three conversations, newest last written: Dave, then Carol, then Bob at the top.
    let mut chats = Vec::new();
    for name in ["dave", "carol", "bob"] {
        let peer = app.register(name).await;
        let chat = open_with(&peer, "alice").await;
        peer.send(chat, &format!("Hello from {name}")).await;
        chats.push(chat);
    }
    let [dave, carol, bob] = chats[..] else {
        unreachable!()
    };
    alice.wait_for_text(".conversation", "Hello from bob").await;
    alice
        .wait_for_text(".conversation", "Hello from dave")
        .await;
    alice
        .wait_js(
            "three conversations, newest first",
            "return [...document.querySelectorAll('.conversation .name')].map((n) => n.textContent).join() === 'bob,carol,dave';",
        )
        .await;

    // Down from the search box into the list, then Up, Down, End, Home within it.
    alice
        .field("Search people")
        .await
        .click()
        .await
        .expect("click");
    for (key, expected) in [
        (keys::DOWN, "bob"),
        (keys::DOWN, "carol"),
        (keys::END, "dave"),
        (keys::DOWN, "dave"),
        (keys::HOME, "bob"),
        (keys::DOWN, "carol"),
    ] {
        alice.keys(key).await;
        assert_eq!(focused(&alice).await, json!(expected), "after {key:?}");
    }
    // One tab stop for the list: the entry last focused.
    let stops = alice
        .js(
            "return [...document.querySelectorAll('.conversation')].map((a) => a.tabIndex);",
            vec![],
        )
        .await;
    assert_eq!(stops, json!([-1, 0, -1]));
    alice.keys(keys::UP).await;
    alice.keys(keys::UP).await;
    assert_eq!(focused(&alice).await, json!("search"), "Up from the top");

    // Alt+↓ from nowhere: the first chat with unread messages; then the next ones.
    alice
        .keys(&format!("{}{}{}", keys::ALT, keys::DOWN, keys::NULL))
        .await;
    alice
        .wait_for_text(".msg.theirs .text", "Hello from bob")
        .await;
    assert_eq!(path(&alice).await, format!("/c/{bob}"));
    alice
        .wait_js(
            "Bob's chat read",
            "return !document.querySelector('.conversation[aria-current=\"page\"] .badge');",
        )
        .await;
    for chat in [carol, dave] {
        alice
            .keys(&format!("{}{}{}", keys::ALT, keys::DOWN, keys::NULL))
            .await;
        alice
            .wait_until("the next unread chat", || async {
                (path(&alice).await == format!("/c/{chat}")).then_some(())
            })
            .await;
        alice.wait_for(".msg.theirs").await;
    }
    // Nothing unread is left above: Alt+↑ stays.
    alice.wait_for_title("gadka").await;
    alice
        .keys(&format!("{}{}{}", keys::ALT, keys::UP, keys::NULL))
        .await;
    assert_eq!(path(&alice).await, format!("/c/{dave}"));

    // A skip link to the message box is the first thing to focus in a chat.
    let first = alice
        .js(
            "return [...document.querySelectorAll('a[href], button, input, textarea, [tabindex]')]\
               .find((e) => e.tabIndex >= 0 && e.getClientRects().length > 0 || e.classList.contains('skip-link'))\
               .textContent;",
            vec![],
        )
        .await;
    assert_eq!(first, json!("Skip to message box"));
    alice
        .js("document.querySelector('.skip-link').focus();", vec![])
        .await;
    let shown = alice
        .js(
            "const r = document.activeElement.getBoundingClientRect(); return r.top >= 0 && r.height > 0;",
            vec![],
        )
        .await;
    assert_eq!(shown, json!(true), "the skip link shows when focused");
    alice.keys(keys::ENTER).await;
    assert_eq!(focused(&alice).await, json!("message"));

    // Ctrl+K: to the search. Arrows through the people found (the search matches
    // the starts of names: "bo" finds bob, then bobby, whom alice has not met).
    app.register("bobby").await;
    alice
        .keys(&format!("{}k{}", keys::CONTROL, keys::NULL))
        .await;
    assert_eq!(focused(&alice).await, json!("search"));
    alice.keys("bo").await;
    alice.wait_for_text(".person", "@bob").await;
    alice.wait_for_text(".person", "@bobby").await;
    alice.keys(keys::DOWN).await;
    assert_eq!(focused(&alice).await, json!("bob"));
    alice.keys(keys::DOWN).await;
    assert_eq!(focused(&alice).await, json!("bobby"));
    alice.keys(keys::UP).await;
    alice.keys(keys::UP).await;
    assert_eq!(focused(&alice).await, json!("search"));

    // Escape clears the search first, and the chat stays; then it closes the chat,
    // and the focus is on that chat's entry.
    alice.keys(keys::ESCAPE).await;
    alice.wait_for(".conversations").await;
    assert_eq!(path(&alice).await, format!("/c/{dave}"));
    alice
        .js("document.getElementById('message').focus();", vec![])
        .await;
    alice.keys(keys::ESCAPE).await;
    alice.wait_for(".placeholder").await;
    assert_eq!(path(&alice).await, "/");
    assert_eq!(focused(&alice).await, json!("dave"));

    // A profile closes the same way; on a phone, Ctrl+K goes back to the list too.
    alice.keys(keys::ENTER).await;
    alice.wait_for(".chat").await;
    alice.click_on(".chat-peer").await;
    alice.wait_for_text(".profile-name", "dave").await;
    alice.keys(keys::ESCAPE).await;
    alice.wait_for(".placeholder").await;
    alice.resize(PHONE).await;
    alice.click_text(".conversation", "Hello from carol").await;
    alice.wait_for(".chat").await;
    alice
        .keys(&format!("{}k{}", keys::CONTROL, keys::NULL))
        .await;
    assert_eq!(focused(&alice).await, json!("search"));
    alice.wait_for(".conversations").await;
    alice.close().await;
}

#[tokio::test]
async fn an_address_that_shows_nothing_says_so() {
    let app = spawn_app().await;
    let alice = Browser::open(&app.url("")).await;
    alice.register("alice", "Alice").await;
    let mallory = app.register("mallory").await;
    let bob = app.register("bob").await;
    let not_hers = mallory.open(&bob).await;

    for (address, says) in [
        ("/nowhere".to_owned(), "There is no page at /nowhere."),
        (
            "/c/12345".to_owned(),
            "This conversation does not exist, or is not yours.",
        ),
        (
            format!("/c/{not_hers}"),
            "This conversation does not exist, or is not yours.",
        ),
    ] {
        alice.goto(&address).await;
        alice.wait_for_text(".not-found", says).await;
        let headings = alice
            .js(
                "return [...document.querySelectorAll('h1')].map((h) => h.textContent);",
                vec![],
            )
            .await;
        let expected = if address == "/nowhere" {
            "Page not found"
        } else {
            "Conversation not found"
        };
        assert_eq!(headings, json!([expected]), "{address}");
    }
    alice
        .click_text(".not-found a", "Go to your conversations")
        .await;
    alice
        .wait_for_text(".placeholder h2", "Your messages")
        .await;
    assert_eq!(path(&alice).await, "/");
    alice.close().await;
}

//! What is sent while the server is away, and what is half typed, outlives a reload:
//! the page comes back with the message still "Sending…" and the draft in its box,
//! and once the socket is back the message arrives, once. Meanwhile nobody is shown
//! online (the client cannot know), and the banner offers to reconnect now. A logout
//! leaves nothing of it in the browser.

use gadka_test_support::{spawn_app, spawn_in};
use serde_json::json;

use crate::support::{alice_and, open_with};

#[tokio::test]
async fn a_send_and_a_draft_outlive_a_reload_and_the_send_arrives_once() {
    let app = spawn_app().await;
    let addr = app.addr;
    let (alice, bob, chat) = alice_and(&app, "bob").await;
    let carol = app.register("carol").await;
    let other = open_with(&carol, "alice").await;
    carol.send(other, "Lunch?").await;
    bob.send(chat, "Are you there?").await;
    // Bob is online, with a socket of his own.
    let (mut bob_socket, _) = app.socket(&bob).await;

    alice.click_text(".conversation", "Are you there?").await;
    alice
        .wait_for_text(".msg.theirs .text", "Are you there?")
        .await;
    alice
        .wait_for(".conversation[aria-current=\"page\"] .avatar-wrap.online")
        .await;

    // The server goes away: online is unknown now, and a message waits.
    let (data, _) = tokio::join!(app.stop(), bob_socket.closed());
    alice.wait_for_text(".banner", "Connection lost").await;
    alice.button("Reconnect now").await;
    alice
        .wait_js(
            "no one shown online",
            "return !document.querySelector('.avatar-wrap.online');",
        )
        .await;
    alice.assert_accessible("the offline banner").await;
    alice.screenshots("offline-banner").await;

    let body = "Written while the server was away";
    alice.fill("Message", body).await;
    alice.press_enter("Message").await;
    alice
        .wait_for_text(".msg.mine[data-status=\"sending\"] .text", body)
        .await;
    // Half a thought, left in the box while looking at another chat.
    alice.fill("Message", "Half a thou").await;
    alice.click_text(".conversation", "Lunch?").await;
    alice.wait_for_text(".msg.theirs .text", "Lunch?").await;
    assert_eq!(box_text(&alice).await, json!(""), "each chat its own draft");
    alice.click_text(".conversation", "Are you there?").await;
    alice
        .wait_for_text(".msg.theirs .text", "Are you there?")
        .await;
    assert_eq!(box_text(&alice).await, json!("Half a thou"));

    // The server is back, but the socket cannot get through: the page is reloaded.
    alice.block_socket(true).await;
    let app = spawn_in(data, |s| s.listen = addr).await;
    alice.goto(&format!("/c/{chat}")).await;
    alice
        .wait_for_text(".msg.mine[data-status=\"sending\"] .text", body)
        .await;
    alice
        .wait_for_text(".msg.theirs .text", "Are you there?")
        .await;
    alice
        .wait_js(
            "the draft back in its box",
            "return document.getElementById('message').value === 'Half a thou';",
        )
        .await;
    let bob = app.login("bob").await;
    assert!(
        bob.history(chat, "")
            .await
            .iter()
            .all(|m| m["body"] != body),
        "nothing went out while the socket was blocked"
    );

    // The socket gets through again: the message is sent, with its txn_id, and stored
    // once. "Reconnect now" spares the wait, unless the backoff's own attempt was first.
    alice.block_socket(false).await;
    alice
        .js(
            "document.querySelector('.banner:not([hidden]) .banner-button')?.click();",
            vec![],
        )
        .await;
    alice
        .wait_for_text(".msg.mine[data-status=\"sent\"] .text", body)
        .await;
    alice
        .wait_js(
            "the banner gone",
            "return document.querySelector('.banner').hidden;",
        )
        .await;
    let stored = bob.history(chat, "").await;
    assert_eq!(
        stored.iter().filter(|m| m["body"] == body).count(),
        1,
        "{stored:?}"
    );
    assert_eq!(box_text(&alice).await, json!("Half a thou"));

    // A logout leaves nothing of Alice's in the browser.
    alice.press("Log out").await;
    alice.button("Log in").await;
    let kept = alice
        .js(
            "return Object.keys(localStorage).filter((k) => k.startsWith('gadka/'));",
            vec![],
        )
        .await;
    assert_eq!(kept, json!([]));
    alice.close().await;
}

async fn box_text(browser: &crate::support::Browser) -> serde_json::Value {
    browser
        .js("return document.getElementById('message').value;", vec![])
        .await
}

//! axe-core, run in the page, finds nothing to fix on any screen: the login form,
//! the conversation list, an open chat and a profile, in light and dark, at desktop
//! and phone width. Each screen has the one `h1` it is named by.

use gadka_test_support::spawn_app;
use serde_json::json;

use crate::support::{Browser, DESKTOP, PHONE, alice_and};

#[tokio::test]
async fn axe_finds_nothing_on_any_screen_light_or_dark_wide_or_narrow() {
    let app = spawn_app().await;
    let (alice, bob, chat) = alice_and(&app, "bob").await;
    let carol = app.register_named("carol", "Carol Danvers").await;
    let other = crate::support::open_with(&carol, "alice").await;
    carol.send(other, "See https://example.org/plan").await;
    for n in 1..=4 {
        bob.send(chat, &format!("Message number {n} from Bob"))
            .await;
    }
    let visitor = Browser::open(&app.url("")).await;
    // Alice writes back, so that her own messages (and their states) are checked too.
    alice.goto(&format!("/c/{chat}")).await;
    alice.fill("Message", "Hello Bob").await;
    alice.press_enter("Message").await;
    alice
        .wait_for_text(".msg.mine[data-status=\"sent\"] .text", "Hello Bob")
        .await;

    // What each screen needs to be shown: its path, and what to wait for.
    let screens: [(&Browser, &str, String, &str); 4] = [
        (&visitor, "the login form", "/".into(), ".auth-form"),
        (&alice, "the list", "/".into(), ".conversation"),
        (&alice, "a chat", format!("/c/{chat}"), ".msg.theirs"),
        (
            &alice,
            "a profile",
            format!("/u/{}", bob.id()),
            ".profile-name",
        ),
    ];
    let mut found = Vec::new();
    for (browser, name, path, ready) in &screens {
        for (size, width) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
            browser.resize(size).await;
            browser.goto(path).await;
            browser.wait_for(ready).await;
            for scheme in ["light", "dark"] {
                browser.color_scheme(scheme).await;
                let headings = browser
                    .js(
                        "return [...document.querySelectorAll('h1')].map((h) => h.textContent);",
                        vec![],
                    )
                    .await;
                if headings.as_array().map(Vec::len) != Some(1) {
                    found.push(format!("{name}, {width}: h1s {headings}"));
                }
                for violation in browser.axe().await {
                    found.push(format!("{name}, {width}, {scheme}: {violation}"));
                }
            }
            browser.color_scheme("light").await;
        }
    }
    assert!(found.is_empty(), "\n{}", found.join("\n"));

    // The h1 names the screen, for those who jump to it.
    alice.resize(DESKTOP).await;
    alice.goto(&format!("/c/{chat}")).await;
    alice.wait_for(".msg.theirs").await;
    let heading = alice
        .js("return document.querySelector('h1').textContent;", vec![])
        .await;
    assert_eq!(heading, json!("Chat with bob"));
    tokio::join!(alice.close(), visitor.close());
}

/// A chat showing every kind of rich message: a reply (its quote), an edited message,
/// a deleted one and reactions (one of them mine); axe-core finds nothing in light and
/// dark, at desktop and phone width, nor with a message's menu or the question before
/// a delete open. Screenshots of it (`rich-chat-*`) are there to look at.
#[tokio::test]
async fn axe_finds_nothing_on_a_chat_with_replies_edits_deletes_and_reactions() {
    use crate::rich::{key_path, send_reply};
    let app = spawn_app().await;
    let (alice, bob, chat) = alice_and(&app, "bob").await;
    let alice_api = app.login("alice").await;
    let question = send_reply(&bob, chat, "Are we still on for Friday?", None).await;
    let gone = send_reply(&bob, chat, "Sorry, wrong chat", None).await;
    let answer = send_reply(
        &alice_api,
        chat,
        "Yes! Seven o'clock at the usual place",
        Some(question),
    )
    .await;
    let late = send_reply(&bob, chat, "Great, I will bring the cake", Some(gone)).await;
    let (status, _) = alice_api
        .patch(
            &format!("/api/conversations/{chat}/messages/{answer}"),
            json!({"body": "Yes! Half past seven at the usual place"}),
        )
        .await;
    assert!(status.is_success());
    let (status, _) = bob
        .delete(&format!("/api/conversations/{chat}/messages/{gone}"))
        .await;
    assert!(status.is_success());
    for (who, seq, key) in [
        (&bob, answer, "👍"),
        (&alice_api, answer, "👍"),
        (&bob, answer, "🎉"),
        (&alice_api, late, "❤️"),
    ] {
        let (status, _) = who
            .put(&format!(
                "/api/conversations/{chat}/messages/{seq}/reactions/{}",
                key_path(key)
            ))
            .await;
        assert!(status.is_success());
    }
    let mut found = Vec::new();
    for (size, width) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
        alice.resize(size).await;
        alice.goto(&format!("/c/{chat}")).await;
        alice.wait_for(".reaction-chip").await;
        alice.wait_for_text(".msg .text", "Message deleted").await;
        for scheme in ["light", "dark"] {
            alice.color_scheme(scheme).await;
            for violation in alice.axe().await {
                found.push(format!("{width}, {scheme}: {violation}"));
            }
        }
        alice.color_scheme("light").await;
    }
    alice.resize(DESKTOP).await;
    alice.screenshots("rich-chat").await;
    // With the menu open, and the question before a delete.
    alice
        .js("[...document.querySelectorAll('.msg')].find((m) => m.textContent.includes('Half past seven')).querySelector('.msg-actions').focus();", vec![])
        .await;
    alice.keys(crate::support::keys::ENTER).await;
    alice.wait_for(".msg-menu").await;
    alice.screenshot("rich-menu-desktop-light").await;
    alice.assert_accessible("a message's menu").await;
    alice.keys(crate::support::keys::END).await;
    alice.keys(crate::support::keys::ENTER).await;
    alice.wait_for("dialog[open]").await;
    alice.screenshot("rich-delete-dialog-desktop-light").await;
    alice
        .assert_accessible("the question before a delete")
        .await;
    alice.keys(crate::support::keys::ESCAPE).await;
    // Replying and editing, as the message box shows them.
    alice.keys(crate::support::keys::ENTER).await;
    alice.wait_for(".msg-menu").await;
    alice.keys(crate::support::keys::END).await;
    alice.keys(crate::support::keys::UP).await;
    alice.keys(crate::support::keys::UP).await;
    alice.keys(crate::support::keys::ENTER).await;
    alice
        .wait_for_text(".composer-context", "Replying to")
        .await;
    alice.screenshot("rich-replying-desktop-light").await;
    alice.assert_accessible("the message box replying").await;
    alice.resize(PHONE).await;
    alice.screenshot("rich-replying-phone-light").await;
    assert!(found.is_empty(), "\n{}", found.join("\n"));
    alice.close().await;
}

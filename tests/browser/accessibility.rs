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

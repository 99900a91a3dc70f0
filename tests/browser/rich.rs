//! Rich messages (issue 22) in two real browsers: a reply with its quote, an edit
//! ("edited"), a delete ("Message deleted", on both sides at once, and in the quotes
//! that point to it) and reactions (chips that say who, mine pressed), each seen live
//! by the other person and again after a reload. The keyboard reaches all of it (↑
//! edits my last message, the message menu takes arrow keys, Escape cancels), and what
//! changes while a browser is offline shows once it is back (`resume`).

use gadka_test_support::{Client as ApiClient, TestApp, spawn_app, spawn_in};
use serde_json::{Value, json};

use crate::support::{Browser, alice_and, keys, open_with};

/// The `.msg` whose text contains `text`, as a CSS-free handle for scripts.
const FIND: &str = "const find = (t) => [...document.querySelectorAll('.msg')].find((m) => m.querySelector('.text')?.textContent.includes(t));";

/// Focuses the menu button of the message showing `text` and opens its menu with Enter.
async fn open_menu(b: &Browser, text: &str) {
    focus_menu_button(b, text).await;
    b.keys(keys::ENTER).await;
    b.wait_for(".msg-menu [role=\"menu\"]").await;
}

/// Focuses the menu button of the message showing `text` (the start of a keyboard path).
async fn focus_menu_button(b: &Browser, text: &str) {
    b.wait_for_text(".msg .text", text).await;
    let script = format!(
        "{FIND} const button = find(arguments[0])?.querySelector('.msg-actions'); if (!button) return false; button.focus(); return document.activeElement === button;"
    );
    b.wait_until(&format!("the menu button of {text:?}"), || async {
        (b.client.execute(&script, vec![json!(text)]).await.ok()? == Value::Bool(true))
            .then_some(())
    })
    .await;
}

/// What the message showing `text` says of itself: its text, "edited", its quote, its
/// reactions (label and pressed), and whether it has a menu.
async fn shown(b: &Browser, text: &str) -> Value {
    let script = format!(
        "{FIND} const m = find(arguments[0]); if (!m) return null; return {{ \
           text: m.querySelector('.text').textContent, \
           edited: Boolean(m.querySelector('.edited')), \
           quote: m.querySelector('.quote')?.textContent ?? null, \
           reactions: [...m.querySelectorAll('.reaction-chip')].map((c) => [c.getAttribute('aria-label'), c.getAttribute('aria-pressed'), c.textContent + c.dataset.count]), \
           menu: Boolean(m.querySelector('.msg-actions')) }};"
    );
    b.js(&script, vec![json!(text)]).await
}

/// Waits until the message showing `text` shows `what` (a JSON subset of [`shown`]).
async fn wait_shown(b: &Browser, text: &str, what: Value) {
    b.wait_until(&format!("{text:?} to show {what}"), || async {
        let now = shown(b, text).await;
        let all = what.as_object()?.iter().all(|(k, v)| &now[k] == v);
        all.then_some(())
    })
    .await;
}

/// Clicks the menu item whose text is `name` in the open menu.
async fn choose(b: &Browser, name: &str) {
    b.click_text(".msg-menu [role^=\"menuitem\"]", name).await;
}

/// The accessible name (aria-label) or text of what has the focus.
async fn focused(b: &Browser) -> Value {
    b.js(
        "const a = document.activeElement; return a.getAttribute('aria-label') || a.textContent.trim();",
        vec![],
    )
    .await
}

async fn status_says(b: &Browser, words: &str) {
    b.wait_js(
        &format!("the status region saying {words:?}"),
        &format!("return [...document.querySelectorAll('[role=status]')].some((s) => s.textContent === {words:?});"),
    )
    .await;
}

/// A message sent over HTTP, with `reply_to` if given; its seq.
pub async fn send_reply(from: &ApiClient, chat: i64, body: &str, reply_to: Option<i64>) -> i64 {
    let (status, reply) = from
        .post(
            &format!("/api/conversations/{chat}/messages"),
            json!({"body": body, "txn_id": format!("t-{body}"), "reply_to": reply_to}),
        )
        .await;
    assert!(status.is_success(), "send: {status} {reply}");
    reply["message"]["seq"].as_i64().expect("a seq")
}

pub fn key_path(key: &str) -> String {
    url::form_urlencoded::byte_serialize(key.as_bytes()).collect()
}

/// Two people in two browsers: a reply, an edit, reactions and a delete, each seen
/// live by the other, and again by both after a reload.
#[tokio::test]
async fn reply_edit_react_and_delete_show_live_on_both_sides_and_after_a_reload() {
    let app = spawn_app().await;
    let base = app.url("");
    let (alice, bob) = tokio::join!(Browser::open(&base), Browser::open(&base));
    tokio::join!(alice.register("alice", "Alice"), bob.register("bob", "Bob"));
    let bob_api = app.login("bob").await;
    let chat = open_with(&bob_api, "alice").await;
    let path = format!("/c/{chat}");
    tokio::join!(alice.goto(&path), bob.goto(&path));
    alice.wait_for(".chat").await;
    bob.wait_for(".chat").await;

    bob.fill("Message", "Lunch at noon?").await;
    bob.press_enter("Message").await;
    alice
        .wait_for_text(".msg.theirs .text", "Lunch at noon?")
        .await;

    // Alice replies from the message's menu: the box says to what, the sent message
    // quotes it, on both sides.
    open_menu(&alice, "Lunch at noon?").await;
    choose(&alice, "Reply").await;
    alice
        .wait_for_text(".composer-context", "Replying to Bob")
        .await;
    alice
        .wait_for_text(".composer-context", "Lunch at noon?")
        .await;
    alice.fill("Message", "Yes, see you there").await;
    alice.press_enter("Message").await;
    // Stored: "Sent", or already "Seen" by Bob, whose chat is open.
    alice
        .wait_for_text(
            ".msg.mine:is([data-status=\"sent\"], [data-status=\"seen\"]) .text",
            "Yes, see you there",
        )
        .await;
    let context_hidden = alice
        .js(
            "return document.querySelector('.composer-context').hidden;",
            vec![],
        )
        .await;
    assert_eq!(
        context_hidden,
        json!(true),
        "the reply is sent: the box is a new message again"
    );
    for b in [&alice, &bob] {
        wait_shown(
            b,
            "Yes, see you there",
            json!({"quote": "In reply to Bob: Lunch at noon?"}),
        )
        .await;
    }

    // The quote leads to the message it answers.
    alice.click_text(".msg .quote", "Lunch at noon?").await;
    alice
        .wait_js(
            "the original focused",
            &format!("{FIND} return document.activeElement === find('Lunch at noon?');"),
        )
        .await;

    // Alice edits her reply from the menu: "edited" on both sides.
    open_menu(&alice, "Yes, see you there").await;
    choose(&alice, "Edit").await;
    alice
        .wait_for_text(".composer-context", "Editing message")
        .await;
    alice.fill("Edit message", "Yes, see you at noon").await;
    alice.press_enter("Edit message").await;
    for b in [&alice, &bob] {
        wait_shown(
            b,
            "Yes, see you at noon",
            json!({"edited": true, "text": "Yes, see you at noon"}),
        )
        .await;
    }
    status_says(&alice, "Message edited").await;
    let title = alice
        .js(
            &format!("{FIND} return find('see you at noon').querySelector('.edited').title;"),
            vec![],
        )
        .await;
    assert!(
        title.as_str().is_some_and(|t| t.starts_with("Edited ")),
        "{title}"
    );
    // The label is the message box's again.
    alice.field("Message").await;

    // Bob reacts from the menu; Alice sees who, and adds hers with a click on the chip.
    open_menu(&bob, "Yes, see you at noon").await;
    bob.click_on(".msg-menu [aria-label=\"React with 👍\"]")
        .await;
    status_says(&bob, "Reaction added").await;
    wait_shown(
        &bob,
        "see you at noon",
        json!({"reactions": [["👍 Bob", "true", "👍1"]]}),
    )
    .await;
    wait_shown(
        &alice,
        "see you at noon",
        json!({"reactions": [["👍 Bob", "false", "👍1"]]}),
    )
    .await;
    alice
        .click_on(".reaction-chip[aria-label=\"👍 Bob\"]")
        .await;
    wait_shown(
        &alice,
        "see you at noon",
        json!({"reactions": [["👍 Bob, Alice", "true", "👍2"]]}),
    )
    .await;
    wait_shown(
        &bob,
        "see you at noon",
        json!({"reactions": [["👍 Bob, Alice", "true", "👍2"]]}),
    )
    .await;
    // And any emoji, typed.
    open_menu(&bob, "see you at noon").await;
    choose(&bob, "Other reaction…").await;
    bob.fill("Reaction (an emoji, or a word)", "🎉").await;
    bob.keys(keys::ENTER).await;
    wait_shown(
        &alice,
        "see you at noon",
        json!({"reactions": [["👍 Bob, Alice", "true", "👍2"], ["🎉 Bob", "false", "🎉1"]]}),
    )
    .await;
    // Bob takes his 👍 back.
    wait_shown(
        &bob,
        "see you at noon",
        json!({"reactions": [["👍 Bob, Alice", "true", "👍2"], ["🎉 Bob", "true", "🎉1"]]}),
    )
    .await;
    bob.click_on(".reaction-chip[aria-label=\"👍 Bob, Alice\"]")
        .await;
    wait_shown(
        &alice,
        "see you at noon",
        json!({"reactions": [["👍 Alice", "true", "👍1"], ["🎉 Bob", "false", "🎉1"]]}),
    )
    .await;

    // Only my own messages can be edited or deleted.
    open_menu(&alice, "Lunch at noon?").await;
    let items = alice
        .js("return [...document.querySelectorAll('.msg-menu [role=menuitem]')].map((i) => i.textContent);", vec![])
        .await;
    assert_eq!(items, json!(["Other reaction…", "Reply"]));
    alice.keys(keys::ESCAPE).await;

    // Bob deletes his message, after saying yes: gone on both sides at once, and the
    // quote of it says so.
    bob.fill("Message", "Or one?").await;
    bob.press_enter("Message").await;
    alice.wait_for_text(".msg.theirs .text", "Or one?").await;
    open_menu(&bob, "Lunch at noon?").await;
    choose(&bob, "Delete…").await;
    bob.wait_for("dialog.confirm-dialog[open]").await;
    bob.click_text("dialog .button", "Delete").await;
    status_says(&bob, "Message deleted").await;
    for b in [&alice, &bob] {
        wait_shown(
            b,
            "Message deleted",
            json!({"menu": false, "reactions": []}),
        )
        .await;
        wait_shown(
            b,
            "see you at noon",
            json!({"quote": "In reply to Bob: deleted message"}),
        )
        .await;
        // Still says who sent it.
        let who = b
            .js(&format!("{FIND} return find('Message deleted').querySelector('.visually-hidden').textContent;"), vec![])
            .await;
        assert!(
            who.as_str()
                .is_some_and(|w| w.starts_with("Bob") || w.starts_with("You")),
            "{who}"
        );
    }

    // After a reload, both see the same.
    for b in [&alice, &bob] {
        b.goto(&format!("/c/{chat}")).await;
        b.wait_for_text(".msg .text", "see you at noon").await;
    }
    wait_shown(
        &alice,
        "see you at noon",
        json!({
            "edited": true,
            "quote": "In reply to Bob: deleted message",
            "reactions": [["👍 Alice", "true", "👍1"], ["🎉 Bob", "false", "🎉1"]],
        }),
    )
    .await;
    wait_shown(
        &bob,
        "see you at noon",
        json!({
            "edited": true,
            "quote": "In reply to Bob: deleted message",
            "reactions": [["👍 Alice", "false", "👍1"], ["🎉 Bob", "true", "🎉1"]],
        }),
    )
    .await;
    for b in [&alice, &bob] {
        wait_shown(b, "Message deleted", json!({"menu": false})).await;
    }
    let stored = bob_api.history(chat, "").await;
    assert!(
        stored.iter().all(|m| m["body"] != "Lunch at noon?"),
        "{stored:?}"
    );
    tokio::join!(alice.close(), bob.close());
}

/// Keys only: ↑ edits my last message and Escape puts the draft back; the message
/// menu opens with Enter, moves with the arrows, closes with Escape (the focus back on
/// its button, the chat still open); a reply is cancelled with Escape; a delete asks
/// first, and Escape says no.
#[tokio::test]
async fn the_keyboard_edits_replies_reacts_and_deletes() {
    let app = spawn_app().await;
    let (alice, bob, chat) = alice_and(&app, "bob").await;
    bob.send(chat, "First from Bob").await;
    alice.goto(&format!("/c/{chat}")).await;
    alice
        .wait_for_text(".msg.theirs .text", "First from Bob")
        .await;
    alice.fill("Message", "Typo heer").await;
    alice.press_enter("Message").await;
    alice
        .wait_for_text(
            ".msg.mine:is([data-status=\"sent\"], [data-status=\"seen\"]) .text",
            "Typo heer",
        )
        .await;

    // ↑ in the empty box: my last message, to edit; Escape cancels, the box empty again.
    alice.keys(keys::UP).await;
    alice
        .wait_for_text(".composer-context", "Editing message")
        .await;
    let value = alice
        .js("return document.getElementById('message').value;", vec![])
        .await;
    assert_eq!(value, json!("Typo heer"));
    alice.keys(keys::ESCAPE).await;
    alice.wait_js("the edit cancelled", "return document.querySelector('.composer-context').hidden && document.getElementById('message').value === '';").await;
    assert_eq!(
        alice.js("return location.pathname;", vec![]).await,
        json!(format!("/c/{chat}")),
        "Escape cancelled the edit, not the chat"
    );
    alice.keys(keys::UP).await;
    alice
        .wait_for_text(".composer-context", "Editing message")
        .await;
    alice.fill("Edit message", "Typo here").await;
    alice.keys(keys::ENTER).await;
    wait_shown(&alice, "Typo here", json!({"edited": true})).await;

    // The menu, by keys alone.
    focus_menu_button(&alice, "First from Bob").await;
    assert_eq!(focused(&alice).await, json!("Message actions"));
    alice.keys(keys::ENTER).await;
    alice.wait_for(".msg-menu [role=\"menu\"]").await;
    assert_eq!(focused(&alice).await, json!("React with 👍"));
    let expanded = alice.js(&format!("{FIND} return find('First from Bob').querySelector('.msg-actions').getAttribute('aria-expanded');"), vec![]).await;
    assert_eq!(expanded, json!("true"));
    alice.keys(keys::DOWN).await;
    assert_eq!(focused(&alice).await, json!("React with ❤️"));
    alice.keys(keys::END).await;
    assert_eq!(focused(&alice).await, json!("Reply"));
    alice.keys(keys::HOME).await;
    assert_eq!(focused(&alice).await, json!("React with 👍"));
    alice.keys(keys::UP).await;
    assert_eq!(
        focused(&alice).await,
        json!("Reply"),
        "the arrows wrap around"
    );
    // Escape closes it and gives the focus back to its button; the chat stays open.
    alice.keys(keys::ESCAPE).await;
    alice
        .wait_js(
            "the menu closed",
            "return !document.querySelector('.msg-menu');",
        )
        .await;
    assert_eq!(focused(&alice).await, json!("Message actions"));
    assert_eq!(
        alice.js("return location.pathname;", vec![]).await,
        json!(format!("/c/{chat}"))
    );

    // A reaction from the menu.
    alice.keys(keys::ENTER).await;
    alice.wait_for(".msg-menu [role=\"menu\"]").await;
    alice.keys(keys::ENTER).await;
    wait_shown(
        &alice,
        "First from Bob",
        json!({"reactions": [["👍 Alice", "true", "👍1"]]}),
    )
    .await;
    status_says(&alice, "Reaction added").await;
    assert_eq!(focused(&alice).await, json!("Message actions"));
    // The chip is next: Enter takes the reaction back, and the focus stays by the
    // message (its chip gone, on its menu button).
    alice.keys(keys::TAB).await;
    assert_eq!(focused(&alice).await, json!("👍 Alice"));
    alice.keys(keys::ENTER).await;
    wait_shown(&alice, "First from Bob", json!({"reactions": []})).await;
    status_says(&alice, "Reaction removed").await;
    assert_eq!(focused(&alice).await, json!("Message actions"));

    // A reply, then Escape: the box is a new message's again.
    alice.keys(keys::DOWN).await;
    alice.wait_for(".msg-menu [role=\"menu\"]").await;
    alice.keys(keys::END).await;
    alice.keys(keys::ENTER).await;
    alice
        .wait_for_text(".composer-context", "Replying to bob")
        .await;
    assert_eq!(
        focused(&alice).await,
        json!(""),
        "the focus in the message box"
    );
    alice.keys(keys::ESCAPE).await;
    alice
        .wait_js(
            "the reply cancelled",
            "return document.querySelector('.composer-context').hidden;",
        )
        .await;
    assert_eq!(
        alice.js("return location.pathname;", vec![]).await,
        json!(format!("/c/{chat}"))
    );

    // Delete my message: the dialog asks, Escape says no; then yes, with keys.
    focus_menu_button(&alice, "Typo here").await;
    alice.keys(keys::ENTER).await;
    alice.wait_for(".msg-menu [role=\"menu\"]").await;
    alice.keys(keys::END).await;
    assert_eq!(focused(&alice).await, json!("Delete…"));
    alice.keys(keys::ENTER).await;
    alice.wait_for("dialog.confirm-dialog[open]").await;
    assert_eq!(focused(&alice).await, json!("Cancel"));
    alice.keys(keys::ESCAPE).await;
    alice
        .wait_js(
            "the dialog closed",
            "return !document.querySelector('dialog[open]');",
        )
        .await;
    assert_eq!(focused(&alice).await, json!("Message actions"));
    wait_shown(&alice, "Typo here", json!({"menu": true})).await;
    alice.keys(keys::ENTER).await;
    alice.wait_for(".msg-menu [role=\"menu\"]").await;
    alice.keys(keys::END).await;
    alice.keys(keys::ENTER).await;
    alice.wait_for("dialog.confirm-dialog[open]").await;
    alice.keys(keys::TAB).await;
    assert_eq!(focused(&alice).await, json!("Delete"));
    alice.keys(keys::ENTER).await;
    wait_shown(&alice, "Message deleted", json!({"menu": false})).await;
    status_says(&alice, "Message deleted").await;
    // ↑ now finds nothing of mine to edit (the deleted one is not offered).
    alice.field("Message").await.click().await.expect("click");
    alice.keys(keys::UP).await;
    let context_hidden = alice
        .js(
            "return document.querySelector('.composer-context').hidden;",
            vec![],
        )
        .await;
    assert_eq!(context_hidden, json!(true));
    alice.close().await;
}

/// Bob edits, deletes and reacts while Alice's browser is offline: once it is back,
/// her chat shows all of it (the socket's `resume` from the position she held).
#[tokio::test]
async fn what_changed_while_offline_shows_after_the_reconnect() {
    let app = spawn_app().await;
    let addr = app.addr;
    let (alice, bob, chat) = alice_and(&app, "bob").await;
    let alice_api = app.login("alice").await;
    let edited = send_reply(&bob, chat, "Will change", None).await;
    let deleted = send_reply(&bob, chat, "Will go", None).await;
    let mine = send_reply(&alice_api, chat, "Mine to react to", Some(deleted)).await;
    alice.goto(&format!("/c/{chat}")).await;
    alice
        .wait_for_text(".msg.mine .text", "Mine to react to")
        .await;
    wait_shown(
        &alice,
        "Mine to react to",
        json!({"quote": "In reply to bob: Will go"}),
    )
    .await;

    // Offline: the server goes and comes back, and the socket cannot reach it.
    alice.block_socket(true).await;
    let data = app.stop().await;
    alice.wait_for_text(".banner", "Connection lost").await;
    let app: TestApp = spawn_in(data, |s| s.listen = addr).await;
    let bob = app.login("bob").await;
    let (status, _) = bob
        .patch(
            &format!("/api/conversations/{chat}/messages/{edited}"),
            json!({"body": "Changed while you were away"}),
        )
        .await;
    assert!(status.is_success(), "{status}");
    let (status, _) = bob
        .delete(&format!("/api/conversations/{chat}/messages/{deleted}"))
        .await;
    assert!(status.is_success(), "{status}");
    let (status, _) = bob
        .put(&format!(
            "/api/conversations/{chat}/messages/{mine}/reactions/{}",
            key_path("❤️")
        ))
        .await;
    assert!(status.is_success(), "{status}");
    // More than a snapshot carries comes after them.
    for n in 1..=12 {
        bob.send(chat, &format!("later {n:02}")).await;
    }

    // "Reconnect now" spares the wait, unless the backoff's own attempt was first.
    alice.block_socket(false).await;
    alice
        .js(
            "document.querySelector('.banner:not([hidden]) .banner-button')?.click();",
            vec![],
        )
        .await;
    alice.wait_for_text(".msg.theirs .text", "later 12").await;
    wait_shown(
        &alice,
        "Changed while you were away",
        json!({"edited": true}),
    )
    .await;
    wait_shown(
        &alice,
        "Mine to react to",
        json!({
            "quote": "In reply to bob: deleted message",
            "reactions": [["❤️ bob", "false", "❤️1"]],
        }),
    )
    .await;
    wait_shown(&alice, "Message deleted", json!({"menu": false})).await;
    let texts = alice
        .js(
            "return [...document.querySelectorAll('.msg .text')].map((t) => t.textContent);",
            vec![],
        )
        .await;
    assert!(!texts.to_string().contains("Will go"), "{texts}");
    alice.close().await;
}

/// A reply to a message far back in the history: its quote leads there, loading the
/// history up to it, and then shows what it quotes.
#[tokio::test]
async fn a_quote_of_a_message_not_loaded_yet_leads_to_it() {
    let app = spawn_app().await;
    let (alice, bob, chat) = alice_and(&app, "bob").await;
    let alice_api = app.login("alice").await;
    let first = send_reply(&bob, chat, "The very first message", None).await;
    for n in 1..=150 {
        bob.send(chat, &format!("filler {n:03}")).await;
    }
    send_reply(&alice_api, chat, "Answering the very first", Some(first)).await;
    let (status, _) = alice_api
        .post(&format!("/api/conversations/{chat}/read"), json!({}))
        .await;
    assert!(status.is_success());
    alice.goto(&format!("/c/{chat}")).await;
    alice
        .wait_for_text(".msg.mine .text", "Answering the very first")
        .await;
    let held = shown(&alice, "The very first message").await;
    assert_eq!(held, Value::Null, "not loaded yet");
    // Clicked again if the log was still settling (a node redrawn, or moving, under the click).
    alice
        .wait_until("the quote clicked", || async {
            let quote = alice.wait_for_text(".msg .quote", "In reply to").await;
            quote.click().await.ok()
        })
        .await;
    alice
        .wait_js(
            "the original shown and focused",
            &format!("{FIND} const m = find('The very first message'); if (!m || document.activeElement !== m) return false; const r = m.getBoundingClientRect(), l = document.querySelector('.timeline').getBoundingClientRect(); return r.top >= l.top && r.bottom <= l.bottom;"),
        )
        .await;
    // Scrolling back down, the quote now names what it answers.
    alice
        .wait_js(
            "the reply in the log again, scrolling down",
            &format!("{FIND} const l = document.querySelector('.timeline'); l.scrollTop = l.scrollHeight; return Boolean(find('Answering the very first'));"),
        )
        .await;
    wait_shown(
        &alice,
        "Answering the very first",
        json!({"quote": "In reply to bob: The very first message"}),
    )
    .await;
    alice.close().await;
}

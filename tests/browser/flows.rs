//! Two people, each in their own browser, through F1–F5: register, find each other,
//! open the profile, "Send message", talk both ways, see the unread badge and the
//! tab's title, clear them by opening the chat, see "Seen" only once the other has
//! really read, and see each other typing. The screenshots of the README are taken
//! on the way.

use gadka_test_support::spawn_app;
use serde_json::json;

use crate::support::{Browser, DESKTOP, PHONE, alice_and, keys, open_with};

#[tokio::test]
async fn two_people_find_each_other_and_chat() {
    let app = spawn_app().await;
    let base = app.url("");
    let (alice, bob) = tokio::join!(Browser::open(&base), Browser::open(&base));

    // The login screen, as a newcomer sees it.
    alice.goto("/").await;
    alice.button("Log in").await;
    alice.screenshot("login-desktop").await;
    alice.resize(PHONE).await;
    alice.screenshot("login-phone").await;
    alice.resize(DESKTOP).await;

    tokio::join!(
        alice.register("alice", "Alice Liddell"),
        bob.register("bob", "Bob Builder"),
    );
    // Anything the page does that its security policy forbids is recorded.
    let record_violations = "window.violations = []; document.addEventListener(\
        'securitypolicyviolation', e => violations.push(e.violatedDirective));";
    alice.js(record_violations, vec![]).await;
    bob.js(record_violations, vec![]).await;

    // Carol writes to Bob over the API, so that Bob's list has more than one entry.
    let carol = app.register("carol").await;
    let carol_chat = open_with(&carol, "bob").await;
    carol.send(carol_chat, "Are we still on for Friday?").await;
    carol.send(carol_chat, "I can bring the cake").await;
    bob.wait_for_text(".conversation", "I can bring the cake")
        .await;

    // F1: Alice searches, opens Bob's profile and presses "Send message".
    alice.fill("Search people", "bo").await;
    alice.click_text(".person", "@bob").await;
    alice.wait_for_text(".profile-name", "Bob Builder").await;
    alice.screenshot("profile-desktop").await;
    alice.press("Send message").await;
    alice.wait_for(".chat").await;
    let chat_path = alice
        .client
        .current_url()
        .await
        .expect("a URL")
        .path()
        .to_owned();
    let roles = alice
        .js(
            "const log = document.querySelector('.timeline'); \
             return [log.getAttribute('role'), log.getAttribute('aria-live'), \
                     document.getElementById('search').type, \
                     document.querySelector('.conversations').tagName];",
            vec![],
        )
        .await;
    assert_eq!(roles, json!(["log", "polite", "search", "UL"]));
    alice
        .wait_for_text(".chat-header .presence", "online")
        .await;

    // F4: Enter sends, Shift+Enter breaks the line.
    alice
        .fill(
            "Message",
            &format!(
                "Hi Bob!{}{}{}Are you there?",
                keys::SHIFT,
                keys::ENTER,
                keys::NULL
            ),
        )
        .await;
    alice.press_enter("Message").await;
    let mine = alice.wait_for(".msg.mine[data-status=\"sent\"]").await;
    assert_eq!(
        mine.find(fantoccini::Locator::Css(".text"))
            .await
            .expect("the text")
            .prop("textContent")
            .await
            .expect("its text")
            .as_deref(),
        Some("Hi Bob!\nAre you there?"),
        "one message with a line break"
    );

    // F3a: Bob sees who wrote and how much, in the list and in the tab's title.
    bob.wait_for(".conversation .badge[title=\"1 unread\"]")
        .await;
    bob.wait_for_title("(3) gadka").await;
    bob.wait_for(".conversation .badge[title=\"2 unread\"]")
        .await;
    bob.screenshot("conversations-desktop").await;
    let order = bob
        .js(
            "return [...document.querySelectorAll('.conversation .name')].map(n => n.textContent);",
            vec![],
        )
        .await;
    assert_eq!(
        order,
        json!(["Alice Liddell", "carol"]),
        "newest activity first"
    );

    // F6: until Bob opens the chat, Alice's message is sent, not seen.
    assert!(
        alice
            .client
            .find(fantoccini::Locator::Css(".msg.mine[data-status=\"seen\"]"))
            .await
            .is_err(),
        "\"Seen\" before Bob has opened the chat"
    );

    // F3b, F5: Bob opens the chat; the count clears, Alice sees "Seen".
    bob.click_text(".conversation", "Alice Liddell").await;
    bob.wait_for_text(".msg.theirs .text", "Are you there?")
        .await;
    bob.wait_for(".unread-divider").await;
    bob.wait_for_title("(2) gadka").await;
    bob.wait_js(
        "Alice's badge gone",
        "return !document.querySelector('.conversation[aria-current=\"page\"] .badge');",
    )
    .await;
    alice
        .wait_for_text(".msg.mine[data-status=\"seen\"] .status", "Seen")
        .await;

    // Typing, then live delivery both ways.
    alice.fill("Message", "Let me think").await;
    bob.wait_for_text(".typing-indicator", "Alice Liddell is typing")
        .await;
    alice.press_enter("Message").await;
    bob.wait_for_text(".msg.theirs .text", "Let me think").await;
    bob.wait_js(
        "the typing indicator gone",
        "return document.querySelector('.typing-indicator').textContent === '';",
    )
    .await;
    bob.fill(
        "Message",
        "Hello Alice, the plan is at https://example.org/plan",
    )
    .await;
    bob.press_enter("Message").await;
    alice
        .wait_for_text(".msg.theirs .text", "the plan is at")
        .await;
    // Alice has the chat open and visible: Bob's message is read, and Bob sees it.
    bob.wait_for_text(".msg.mine[data-status=\"seen\"] .status", "Seen")
        .await;
    alice
        .wait_for_text(".msg.mine[data-status=\"seen\"] .status", "Seen")
        .await;
    alice.screenshot("chat-desktop").await;
    alice.color_scheme("dark").await;
    alice.screenshot("chat-dark-desktop").await;
    alice.color_scheme("light").await;

    // Phone width: one pane at a time, with a way back.
    alice.resize(PHONE).await;
    alice.wait_for(".chat").await;
    alice.screenshot("chat-phone").await;
    alice
        .client
        .find(fantoccini::Locator::Css(".chat-peer"))
        .await
        .expect("the peer in the header")
        .click()
        .await
        .expect("click");
    alice.wait_for_text(".profile-name", "Bob Builder").await;
    alice.screenshot("profile-phone").await;
    // F1: "Send message" again opens the same conversation.
    alice.press("Send message").await;
    alice.wait_for_text(".msg.mine .text", "Let me think").await;
    assert_eq!(
        alice.client.current_url().await.expect("a URL").path(),
        chat_path
    );
    bob.resize(PHONE).await;
    bob.click_on("button[aria-label=\"Back to conversations\"]")
        .await;
    bob.wait_for(".conversation .badge[title=\"2 unread\"]")
        .await;
    bob.screenshot("conversations-phone").await;

    for browser in [&alice, &bob] {
        let violations = browser.js("return window.violations;", vec![]).await;
        assert_eq!(violations, json!([]), "the CSP was never violated");
    }

    // A reload keeps the session; "Log out" ends it.
    alice.goto("/").await;
    alice.wait_for(".sidebar").await;
    alice.press("Log out").await;

    // The server's refusals show inline, in words (tests/browser/forms.rs has more).
    alice.fill("Username", "alice").await;
    alice.fill("Password", "not her password").await;
    alice.press("Log in").await;
    alice
        .wait_for_text(".form-error", "Wrong username or password")
        .await;
    alice.press("Sign up").await;
    alice.fill("Username", "Alice").await;
    alice.fill("Password", "another password").await;
    alice.press("Create account").await;
    alice
        .wait_for_text("#username-error", "This username is taken")
        .await;

    tokio::join!(alice.close(), bob.close());
}

/// F5: a chat open in a tab nobody looks at marks nothing read; looking at it does.
#[tokio::test]
async fn a_chat_in_a_background_tab_marks_nothing_read() {
    let app = spawn_app().await;
    let (alice, bob, chat) = alice_and(&app, "bob").await;
    let last_read = || async {
        bob.history(chat, "")
            .await
            .last()
            .map(|m| m["read"].clone())
    };

    bob.send(chat, "first").await;
    alice.click_text(".conversation", "first").await;
    alice.wait_for_text(".msg.theirs .text", "first").await;
    alice
        .wait_until("the open chat to read \"first\"", || async {
            (last_read().await == Some(json!(true))).then_some(())
        })
        .await;

    // The chat's tab goes to the background; it tells a second tab (same origin) so.
    alice
        .js(
            "document.addEventListener('visibilitychange', () => \
             localStorage.setItem('chat-tab', document.visibilityState));",
            vec![],
        )
        .await;
    // Headless Chromium shows no desktop notifications: the tab's Notification is
    // stood in for by one that says, in localStorage, what it would have shown.
    alice
        .js(
            "window.Notification = class { \
               static get permission() { return 'granted'; } \
               constructor(title, options) { \
                 localStorage.setItem('notified', JSON.stringify([title, options.body])); \
                 window.lastNotification = this; } \
               close() {} };",
            vec![],
        )
        .await;
    alice
        .wait_for_text(".chat-header .presence", "offline")
        .await;
    let chat_tab = alice.client.window().await.expect("the chat's tab");
    let list_tab = alice
        .client
        .new_window(true)
        .await
        .expect("a new tab")
        .handle;
    alice
        .client
        .switch_to_window(list_tab)
        .await
        .expect("to the new tab");
    alice.goto("/").await;
    alice
        .wait_js(
            "the chat's tab hidden",
            "return localStorage.getItem('chat-tab') === 'hidden';",
        )
        .await;

    bob.send(chat, "second").await;
    alice
        .wait_for(".conversation .badge[title=\"1 unread\"]")
        .await;
    alice.wait_for_title("(1) gadka").await;
    alice
        .wait_js(
            "a notification from the hidden chat",
            "return localStorage.getItem('notified') === JSON.stringify(['bob', 'second']);",
        )
        .await;
    assert_eq!(
        last_read().await,
        Some(json!(false)),
        "read in a hidden tab"
    );

    // Back to the chat's tab: now it is looked at, and read.
    alice
        .client
        .close_window()
        .await
        .expect("the list tab closes");
    alice
        .client
        .switch_to_window(chat_tab)
        .await
        .expect("back to the chat");
    alice
        .wait_until("\"second\" read once the chat is seen", || async {
            (last_read().await == Some(json!(true))).then_some(())
        })
        .await;
    alice.wait_for_title("gadka").await;

    // Clicking the notification opens its chat, from wherever the tab is.
    alice
        .js(
            "history.pushState(null, '', '/'); dispatchEvent(new PopStateEvent('popstate'));",
            vec![],
        )
        .await;
    alice.wait_for(".placeholder").await;
    alice.js("window.lastNotification.onclick();", vec![]).await;
    alice.wait_for_text(".msg.theirs .text", "second").await;
    assert_eq!(
        alice.client.current_url().await.expect("a URL").path(),
        format!("/c/{chat}")
    );
    alice.close().await;
}

#[tokio::test]
async fn older_messages_load_when_scrolling_up() {
    let app = spawn_app().await;
    let (alice, bob, chat) = alice_and(&app, "bob").await;
    let bodies: Vec<String> = (1..=45).map(|n| format!("message {n:02}")).collect();
    for body in &bodies {
        bob.send(chat, body).await;
    }

    alice.click_text(".conversation", "message 45").await;
    alice.wait_for_text(".msg.theirs .text", "message 45").await;
    alice
        .wait_until("the beginning of the conversation", || async {
            alice
                .client
                .execute(
                    "document.querySelector('.timeline').scrollTop = 0; \
                     return Boolean(document.querySelector('.beginning'));",
                    vec![],
                )
                .await
                .ok()
                .filter(|shown| shown == &json!(true))
        })
        .await;
    // Every message once, in order. Waited for, since a late first snapshot may
    // redraw the chat once more; on failure the page's text shows what it holds.
    alice
        .wait_until("every message once, in order", || async {
            let shown = alice
                .client
                .execute(
                    "return [...document.querySelectorAll('.msg .text')].map(t => t.textContent);",
                    vec![],
                )
                .await
                .ok()?;
            (shown == json!(bodies)).then_some(())
        })
        .await;
    let days = alice
        .js("return document.querySelectorAll('.day').length;", vec![])
        .await;
    assert_eq!(days, json!(1));
    let after_divider = alice
        .js(
            "return document.querySelector('.unread-divider').nextElementSibling.querySelector('.text').textContent;",
            vec![],
        )
        .await;
    assert!(
        after_divider
            .as_str()
            .is_some_and(|t| t.starts_with("message 01")),
        "the unread divider sits before the first unread message: {after_divider}"
    );
    alice.close().await;
}

/// Everything above, from the keyboard alone, with the focus always visible.
#[tokio::test]
async fn the_client_works_from_the_keyboard() {
    let app = spawn_app().await;
    let alice = Browser::open(&app.url("")).await;
    let bob = app.register("bob").await;
    let (_, created) = app
        .client()
        .post(
            "/api/register",
            json!({"username": "alice", "password": "password-alice", "display_name": "Alice"}),
        )
        .await;
    let alice_id = created["user"]["id"].as_i64().expect("alice registered");
    let (_, opened) = bob
        .post("/api/conversations", json!({"user_id": alice_id}))
        .await;
    let chat = opened["conversation"]["id"]
        .as_i64()
        .expect("a conversation");
    bob.send(chat, "Can you read this without a mouse?").await;

    // The form takes the focus; Tab moves on; Enter submits.
    alice.goto("/").await;
    alice.button("Log in").await;
    let focused = "return document.activeElement.id;";
    assert_eq!(alice.js(focused, vec![]).await, json!("username"));
    alice
        .client
        .active_element()
        .await
        .expect("the focused field")
        .send_keys(&format!("alice{}password-alice{}", keys::TAB, keys::ENTER))
        .await
        .expect("typing");
    alice.wait_for(".sidebar").await;

    // From the search box, Tab reaches the conversation; Enter opens it.
    alice
        .field("Search people")
        .await
        .click()
        .await
        .expect("click");
    alice
        .client
        .active_element()
        .await
        .expect("the search box")
        .send_keys(keys::TAB)
        .await
        .expect("Tab");
    let entry = alice.js(
        "return document.activeElement.classList.contains('conversation') \
         && getComputedStyle(document.activeElement).outlineStyle !== 'none';",
        vec![],
    );
    assert_eq!(entry.await, json!(true), "the entry has the focus, visibly");
    alice
        .client
        .active_element()
        .await
        .expect("the entry")
        .send_keys(keys::ENTER)
        .await
        .expect("Enter");
    alice
        .wait_for_text(".msg.theirs .text", "without a mouse")
        .await;
    assert_eq!(
        alice.js(focused, vec![]).await,
        json!("message"),
        "ready to answer"
    );
    alice
        .client
        .active_element()
        .await
        .expect("the message box")
        .send_keys(&format!("Yes!{}", keys::ENTER))
        .await
        .expect("typing");
    alice
        .wait_for_text(".msg.mine[data-status=\"sent\"] .text", "Yes!")
        .await;
    alice.close().await;
}

/// A rename shows at once wherever the renamed person appears: in the list and the
/// open chat's header of the people they talk with, and in their own corner.
#[tokio::test]
async fn a_new_name_shows_at_once_in_the_list_the_header_and_the_profile() {
    let app = spawn_app().await;
    let bob = Browser::open(&app.url("")).await;
    bob.register("bob", "Bob").await;
    let alice = app.register("alice").await;
    let chat = open_with(&alice, "bob").await;
    alice.send(chat, "hej").await;
    bob.click_text(".conversation", "hej").await;
    bob.wait_for_text(".chat-peer .name", "alice").await;

    let (status, body) = alice
        .patch("/api/me", json!({"display_name": "Alice Liddell"}))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    bob.wait_for_text(".conversation .name", "Alice Liddell")
        .await;
    bob.wait_for_text(".chat-peer .name", "Alice Liddell").await;

    // Her profile, open while she renames herself again.
    bob.click_on(".chat-peer").await;
    bob.wait_for_text(".profile-name", "Alice Liddell").await;
    let (status, body) = alice
        .patch("/api/me", json!({"display_name": "Alice P. Liddell"}))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    bob.wait_for_text(".profile-name", "Alice P. Liddell").await;
    assert_eq!(
        bob.js("return document.activeElement.textContent;", vec![])
            .await,
        "Send message",
        "the focus stays on the button through the rename"
    );

    let (status, body) = app
        .login("bob")
        .await
        .patch("/api/me", json!({"display_name": "Robert"}))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    bob.wait_for_text(".me .name", "Robert").await;
    bob.close().await;
}

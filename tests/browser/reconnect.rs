//! The server goes away while a message is sent, and comes back on the same port with
//! the same data: the client says the connection is lost, keeps the message
//! "sending", reconnects on its own, sends it again with the same txn_id, and it is
//! stored once.

use gadka_test_support::{spawn_app, spawn_in, spawn_with};

use crate::support::{Browser, alice_and};

#[tokio::test]
async fn a_message_sent_while_the_server_restarts_arrives_once() {
    let app = spawn_app().await;
    let addr = app.addr;
    let (alice, bob, chat) = alice_and(&app, "bob").await;
    bob.send(chat, "Ping me when you are back").await;
    alice
        .click_text(".conversation", "Ping me when you are back")
        .await;
    alice.wait_for(".chat").await;

    let data = app.stop().await;
    alice.wait_for(".banner").await;

    let body = "Written while the server was away";
    alice.fill("Message", body).await;
    alice.press_enter("Message").await;
    alice.wait_for(".msg.mine[data-status=\"sending\"]").await;

    let app = spawn_in(data, |s| s.listen = addr).await;
    // More than a snapshot carries, sent while the client may still be waiting to
    // reconnect: whether they come through `resume` or live, each shows once, in order.
    let bob = app.login("bob").await;
    let missed: Vec<String> = (1..=15).map(|n| format!("missed {n:02}")).collect();
    for text in &missed {
        bob.send(chat, text).await;
    }
    alice
        .wait_for_text(".msg.mine[data-status=\"sent\"] .text", body)
        .await;
    alice
        .wait_js(
            "the banner gone",
            "return document.querySelector('.banner').hidden;",
        )
        .await;

    alice.wait_for_text(".msg.theirs .text", "missed 15").await;
    let shown = alice
        .js(
            "return [...document.querySelectorAll('.msg.theirs .text')].map(t => t.textContent);",
            vec![],
        )
        .await;
    let mut expected = vec![serde_json::json!("Ping me when you are back")];
    expected.extend(missed.iter().map(|m| serde_json::json!(m)));
    assert_eq!(shown, serde_json::Value::Array(expected));

    // Stored once, shown once, and the conversation goes on over the new socket.
    let stored = bob.history(chat, "").await;
    assert_eq!(
        stored.iter().filter(|m| m["body"] == body).count(),
        1,
        "{stored:?}"
    );
    let shown = alice
        .js(
            "return [...document.querySelectorAll('.msg .text')].filter(t => t.textContent === arguments[0]).length;",
            vec![body.into()],
        )
        .await;
    assert_eq!(shown, 1);
    bob.send(chat, "Welcome back").await;
    alice
        .wait_for_text(".msg.theirs .text", "Welcome back")
        .await;
    alice.close().await;
}

#[tokio::test]
async fn a_session_ended_elsewhere_returns_to_the_login_screen() {
    let app = spawn_app().await;
    let alice = Browser::open(&app.url("")).await;
    alice.register("alice", "Alice").await;
    let cookie = alice
        .client
        .get_named_cookie("gadka_session")
        .await
        .expect("the session cookie");
    let logout = reqwest::Client::new()
        .post(app.url("/api/logout"))
        .header(
            reqwest::header::COOKIE,
            format!("gadka_session={}", cookie.value()),
        )
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), reqwest::StatusCode::NO_CONTENT);
    alice
        .wait_for_text(".notice", "Your session has ended")
        .await;
    alice.button("Log in").await;
    alice.close().await;
}

/// A message over the limit: the message box counts down near it and refuses it
/// over it, in words next to the box, sending nothing. One the server refuses anyway
/// (its limit is set below the client's default here) shows why on the page, and is
/// edited (its text back in the box) or discarded; one whose frame is too large for
/// the socket is not sent again and again after the reconnect it causes. The chat
/// goes on.
#[tokio::test]
async fn a_message_too_long_is_refused_said_why_and_can_be_edited_or_discarded() {
    let app = spawn_with(|s| s.limits.max_message_bytes = 1000).await;
    let (alice, bob, chat) = alice_and(&app, "bob").await;
    bob.send(chat, "Tell me everything").await;
    alice
        .click_text(".conversation", "Tell me everything")
        .await;
    alice.wait_for(".chat").await;
    let type_in = |text: String| {
        let alice = &alice;
        async move {
            alice
                .js(
                    "const box = document.getElementById('message'); \
                     box.value = arguments[0]; \
                     box.dispatchEvent(new Event('input'));",
                    vec![text.into()],
                )
                .await;
        }
    };
    let failed = ".msg.mine[data-status=\"failed\"]";

    // The box grows with its lines, up to a point.
    let height = "return document.getElementById('message').offsetHeight;";
    type_in("one line".into()).await;
    let one = alice.js(height, vec![]).await.as_i64().unwrap_or_default();
    type_in("three\nlines\nhere".into()).await;
    let three = alice.js(height, vec![]).await.as_i64().unwrap_or_default();
    assert!(three > one + 20, "{one} then {three}");

    // Near the limit, what is left; over it, by how much, and Enter sends nothing.
    type_in("x".repeat(15_000)).await;
    alice.wait_for_text(".composer-count", "1,384 left").await;
    assert_eq!(alice.js(height, vec![]).await, serde_json::json!(160));
    type_in("x".repeat(17_000)).await;
    alice
        .wait_for_text(".composer-count", "616 over the limit")
        .await;
    alice.press_enter("Message").await;
    alice
        .wait_for_text(
            ".composer-error",
            "This message is too long to send. Shorten it, or send it in parts.",
        )
        .await;
    let state = alice
        .js(
            "const box = document.getElementById('message'); \
             return [box.value.length, box.getAttribute('aria-invalid'), box.getAttribute('aria-describedby'), \
               document.querySelectorAll('.msg.mine').length];",
            vec![],
        )
        .await;
    assert_eq!(
        state,
        serde_json::json!([17_000, "true", "message-error message-count", 0])
    );
    alice
        .assert_accessible("the message box refusing a message")
        .await;
    alice.screenshots("message-over-the-limit").await;
    type_in("x".repeat(100)).await;
    alice
        .wait_js(
            "the count and the error gone once it is short",
            "return document.querySelector('.composer-count').hidden && document.querySelector('.composer-error').hidden;",
        )
        .await;

    // Over this server's limit: refused, and the reason is on the page.
    type_in("y".repeat(2_000)).await;
    alice.press_enter("Message").await;
    alice
        .wait_for_text(
            &format!("{failed} .failed-reason"),
            "Too long to send. Shorten it, or send it in parts.",
        )
        .await;
    alice
        .wait_for_text(&format!("{failed} .status"), "Not sent")
        .await;
    alice.assert_accessible("a failed send").await;
    alice.screenshots("failed-oversize-send").await;
    alice.press("Edit").await;
    alice
        .wait_js(
            "the text back in the box, the failed message gone",
            &format!(
                "return document.getElementById('message').value === 'y'.repeat(2000) && \
                 !document.querySelector('{failed}') && document.activeElement.id === 'message';"
            ),
        )
        .await;
    alice.press_enter("Message").await;
    alice.wait_for(failed).await;
    alice.press("Discard").await;
    alice
        .wait_js(
            "the failed message gone",
            &format!("return !document.querySelector('{failed}');"),
        )
        .await;

    // Within the client's limit but a frame too large for the socket (every
    // character escaped): the socket closes, and the message fails instead of
    // going out again after the reconnect.
    type_in("\u{1}".repeat(16_000)).await;
    alice.press_enter("Message").await;
    alice
        .wait_for_text(
            &format!("{failed} .failed-reason"),
            "Too long to send. Shorten it, or send it in parts.",
        )
        .await;
    // Sending it again would only fail again: it can be edited or discarded.
    let actions = alice
        .js(
            &format!(
                "return [...document.querySelectorAll('{failed} .failed-actions button')].map((b) => b.textContent);"
            ),
            vec![],
        )
        .await;
    assert_eq!(actions, serde_json::json!(["Edit", "Discard"]));

    alice
        .wait_js(
            "the connection back",
            "return document.querySelector('.banner').hidden;",
        )
        .await;
    alice.fill("Message", "The short version").await;
    alice.press_enter("Message").await;
    alice
        .wait_for_text(".msg.mine[data-status=\"sent\"] .text", "The short version")
        .await;
    let stored: Vec<_> = bob
        .history(chat, "")
        .await
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(stored, ["Tell me everything", "The short version"]);
    alice.close().await;
}

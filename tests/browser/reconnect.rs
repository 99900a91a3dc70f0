//! The server goes away while a message is sent, and comes back on the same port with
//! the same data: the client says the connection is lost, keeps the message
//! "sending", reconnects on its own, sends it again with the same txn_id, and it is
//! stored once.

use gadka_test_support::{spawn_app, spawn_in};

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

/// A message over the limit is refused, shown as not sent, and not sent again and
/// again after the reconnect its frame may cause; the chat goes on.
#[tokio::test]
async fn a_message_too_long_is_not_sent_and_the_chat_goes_on() {
    let app = spawn_app().await;
    let (alice, bob, chat) = alice_and(&app, "bob").await;
    bob.send(chat, "Tell me everything").await;
    alice
        .click_text(".conversation", "Tell me everything")
        .await;
    alice.wait_for(".chat").await;

    // Over the message limit (16 KiB), then over any frame limit (the socket closes).
    for (n, size) in [20_000, 200_000].into_iter().enumerate() {
        alice
            .js(
                "const box = document.getElementById('message'); \
                 box.value = 'x'.repeat(arguments[0]); \
                 box.dispatchEvent(new Event('input'));",
                vec![size.into()],
            )
            .await;
        alice.press_enter("Message").await;
        alice
            .wait_until(&format!("{} refused message(s)", n + 1), || async {
                let failed = alice
                    .client
                    .find_all(fantoccini::Locator::Css(
                        ".msg.mine[data-status=\"failed\"]",
                    ))
                    .await
                    .ok()?;
                (failed.len() == n + 1).then_some(())
            })
            .await;
    }
    alice.wait_for_text(".msg.mine .status", "Not sent").await;
    alice.button("Retry").await;

    alice.fill("Message", "The short version").await;
    alice.press_enter("Message").await;
    alice
        .wait_for_text(".msg.mine[data-status=\"sent\"] .text", "The short version")
        .await;
    let stored: Vec<_> = bob
        .history(chat, "")
        .await
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default().len())
        .collect();
    assert_eq!(
        stored,
        ["Tell me everything".len(), "The short version".len()]
    );
    alice.close().await;
}

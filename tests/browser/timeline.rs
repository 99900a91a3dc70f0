//! The chat timeline as a reader meets it: a chat opens at the first unread message
//! or at the newest; "Seen" (the read marker) follows only what has been on screen;
//! scrolled up, a new message brings a "New messages" pill instead of moving the
//! view; and a long history is a bounded window of nodes that scrolls both ways
//! without the view jumping, with who said what and when told to screen readers.
//!
//! Absence ("no receipt yet") is proved with a sentinel, never a sleep: the reader
//! types, and the server handles a socket's commands in order, so the peer gets the
//! reader's `typing` only after any `read` sent before it was committed and its
//! `receipt` queued.

use gadka_test_support::{Client, Socket, spawn_app};
use serde_json::{Value, json};

use crate::support::{DESKTOP, PHONE, alice_and, keys};

/// The texts of the messages whose end (the time line) is on screen, top to bottom:
/// what the reader has read through.
const ON_SCREEN: &str = "const log = document.querySelector('.timeline').getBoundingClientRect(); \
    return [...document.querySelectorAll('.msg')].filter(m => { \
      const r = m.querySelector('.meta').getBoundingClientRect(); \
      const inside = Math.min(r.bottom, log.bottom) - Math.max(r.top, log.top); \
      return inside >= 0.9 * r.height; \
    }).map(m => m.querySelector('.text').textContent);";

/// The text of the first and of the last message the log holds.
const FIRST: &str = "return document.querySelector('.msg .text').textContent;";
const LAST: &str = "return [...document.querySelectorAll('.msg .text')].pop().textContent;";

/// The texts of the messages the log holds as nodes, in order.
const RENDERED: &str =
    "return [...document.querySelectorAll('.msg .text')].map(t => t.textContent);";

fn texts(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| t.as_str().expect("a text").to_owned())
        .collect()
}

/// `alice` reads everything up to now (over the API, as if on another device).
async fn read_all(alice: &Client, chat: i64) {
    let (status, body) = alice
        .post(&format!("/api/conversations/{chat}/read"), json!({}))
        .await;
    assert!(status.is_success(), "read: {status} {body}");
}

/// Every frame to `peer` until the reader's next `typing` (the sentinel).
async fn frames_until_typing(peer: &mut Socket) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = peer.next().await;
        if frame["type"] == "typing" && frame["typing"] == json!(true) {
            return frames;
        }
        frames.push(frame);
    }
}

/// The highest seq the peer was told the reader has read, in `frames`.
fn receipts_up_to(frames: &[Value], reader: i64) -> i64 {
    frames
        .iter()
        .filter(|f| f["type"] == "receipt" && f["user_id"] == json!(reader))
        .filter_map(|f| f["up_to_seq"].as_i64())
        .max()
        .unwrap_or(0)
}

/// Whether the reader's marker has passed the message with `body`, as the sender sees it.
async fn read_by_peer(sender: &Client, chat: i64, body: &str) -> bool {
    sender
        .history(chat, "?limit=100")
        .await
        .iter()
        .find(|m| m["body"] == body)
        .unwrap_or_else(|| panic!("{body:?} is stored"))["read"]
        == json!(true)
}

async fn unread_total(reader: &Client) -> i64 {
    reader.unread().await["total"].as_i64().expect("a total")
}

/// Sends `count` numbered messages, `prefix 001` up.
async fn send_numbered(from: &Client, chat: i64, prefix: &str, count: usize) -> Vec<String> {
    let mut bodies = Vec::with_capacity(count);
    for n in 1..=count {
        let body = format!("{prefix} {n:03}");
        from.send(chat, &body).await;
        bodies.push(body);
    }
    bodies
}

#[tokio::test]
async fn a_message_that_came_while_scrolled_up_is_seen_only_once_scrolled_into_view() {
    let app = spawn_app().await;
    let (alice, bob, chat) = alice_and(&app, "bob").await;
    // Alice's own session over the API, as another device of hers.
    let alice_api = app.login("alice").await;
    send_numbered(&bob, chat, "earlier", 60).await;
    read_all(&alice_api, chat).await;

    alice.click_text(".conversation", "earlier 060").await;
    alice
        .wait_until("the chat open at its newest message", || async {
            let shown = texts(&alice.client.execute(ON_SCREEN, vec![]).await.ok()?);
            (shown.last()? == "earlier 060").then_some(())
        })
        .await;
    let (mut bob_socket, _) = app.socket(&bob).await;

    // Alice scrolls up; Bob writes once her page has taken the scroll in (its
    // `scroll` event comes with the next frame, which Bob's message could beat).
    alice
        .client
        .execute_async(
            "const done = arguments[0]; const log = document.querySelector('.timeline'); \
             log.addEventListener('scroll', () => requestAnimationFrame(() => done(true)), { once: true }); \
             log.scrollTop = log.scrollHeight / 3;",
            vec![],
        )
        .await
        .expect("the log scrolls");
    alice
        .wait_js(
            "Alice scrolled away from the bottom",
            "const log = document.querySelector('.timeline'); \
             return log.scrollHeight - log.scrollTop - log.clientHeight > 200;",
        )
        .await;
    let question = "Are you still there?";
    bob.send(chat, question).await;
    alice.button("New messages ↓").await;
    let shown = texts(&alice.js(ON_SCREEN, vec![]).await);
    assert!(
        !shown.iter().any(|t| t == question),
        "the view stayed where it was: {shown:?}"
    );
    alice.screenshot("timeline-pill-desktop").await;
    alice.resize(PHONE).await;
    alice.button("New messages ↓").await;
    alice.screenshot("timeline-pill-phone").await;
    alice.resize(DESKTOP).await;

    // The sentinel: whatever Alice's page has sent before she types is on Bob's side
    // before her typing is.
    alice.fill("Message", "h").await;
    let frames = frames_until_typing(&mut bob_socket).await;
    assert!(
        receipts_up_to(&frames, alice_api.id()) < 61,
        "Bob was told Alice read a message she never saw: {frames:?}"
    );
    assert!(
        !read_by_peer(&bob, chat, question).await,
        "\"Seen\" for Bob"
    );
    assert_eq!(unread_total(&alice_api).await, 1);
    alice.wait_for_title("(1) gadka").await;

    // The pill, from the keyboard: the newest message comes into view and is read.
    alice
        .button("New messages ↓")
        .await
        .send_keys(keys::ENTER)
        .await
        .expect("Enter on the pill");
    alice
        .wait_until("the new message on screen", || async {
            let shown = texts(&alice.client.execute(ON_SCREEN, vec![]).await.ok()?);
            shown.iter().any(|t| t == question).then_some(())
        })
        .await;
    loop {
        let receipt = bob_socket.next_of("receipt").await;
        if receipt["user_id"] == json!(alice_api.id()) && receipt["up_to_seq"].as_i64() >= Some(61)
        {
            break;
        }
    }
    assert!(read_by_peer(&bob, chat, question).await);
    alice.wait_for_title("gadka").await;
    assert_eq!(
        alice
            .js(
                "return document.querySelector('.new-messages').hidden \
                 && document.activeElement === document.querySelector('.timeline');",
                vec![]
            )
            .await,
        json!(true),
        "the pill is gone and the focus is on the log"
    );
    alice.close().await;
}

#[tokio::test]
async fn a_chat_with_unread_below_the_fold_opens_at_the_divider_and_reads_only_what_is_shown() {
    let app = spawn_app().await;
    let (alice, bob, chat) = alice_and(&app, "bob").await;
    let alice_api = app.login("alice").await;
    send_numbered(&bob, chat, "read", 5).await;
    read_all(&alice_api, chat).await;
    let unread = send_numbered(&bob, chat, "unread", 80).await;
    let (mut bob_socket, _) = app.socket(&bob).await;

    alice.click_text(".conversation", "unread 080").await;
    alice
        .wait_js(
            "the divider in view",
            "const log = document.querySelector('.timeline').getBoundingClientRect(); \
             const d = document.querySelector('.unread-divider'); \
             if (!d) return false; const r = d.getBoundingClientRect(); \
             return r.top >= log.top && r.bottom <= log.bottom;",
        )
        .await;
    let after = alice
        .js(
            "return document.querySelector('.unread-divider').nextElementSibling.querySelector('.text').textContent;",
            vec![],
        )
        .await;
    assert_eq!(
        after,
        json!("unread 001"),
        "the divider sits before the first unread message"
    );
    let divider = alice
        .js(
            "const d = document.querySelector('.unread-divider'); \
             return [d.getAttribute('role'), d.getAttribute('aria-label')];",
            vec![],
        )
        .await;
    assert_eq!(divider, json!(["separator", "Unread messages"]));
    let shown = texts(&alice.js(ON_SCREEN, vec![]).await);
    assert!(
        shown.contains(&"unread 001".to_owned()) && !shown.contains(&"unread 080".to_owned()),
        "the first unread on screen, the newest below: {shown:?}"
    );
    alice.screenshot("timeline-divider-desktop").await;

    // What is on screen is read; what is below the fold is not.
    alice
        .wait_until("\"unread 001\" read", || async {
            read_by_peer(&bob, chat, "unread 001").await.then_some(())
        })
        .await;
    alice.fill("Message", "h").await;
    let frames = frames_until_typing(&mut bob_socket).await;
    let shown = texts(&alice.js(ON_SCREEN, vec![]).await);
    let lowest_shown = shown
        .iter()
        .filter_map(|t| unread.iter().position(|u| u == t))
        .max()
        .expect("unread messages on screen");
    // Seqs: "read 001"…"read 005" are 1–5, "unread 001" is 6.
    let read_up_to = receipts_up_to(&frames, alice_api.id());
    assert!(
        read_up_to <= 6 + lowest_shown as i64,
        "read up to {read_up_to}, while the lowest message on screen is {}: {frames:?}",
        unread[lowest_shown]
    );
    assert!(!read_by_peer(&bob, chat, "unread 080").await);
    assert!(unread_total(&alice_api).await >= 80 - lowest_shown as i64 - 1);

    alice.resize(PHONE).await;
    alice.wait_for(".unread-divider").await;
    alice.screenshot("timeline-divider-phone").await;
    alice.close().await;
}

#[tokio::test]
async fn a_long_history_is_a_bounded_window_that_scrolls_both_ways_without_jumping() {
    let app = spawn_app().await;
    let (alice, bob, chat) = alice_and(&app, "bob").await;
    let bodies = send_numbered(&bob, chat, "message", 400).await;
    read_all(&app.login("alice").await, chat).await;
    alice.click_text(".conversation", "message 400").await;
    alice.wait_for_text(".msg .text", "message 400").await;

    // Each message says who and when, before its text; glyphs are not read out.
    let said = alice
        .js(
            "const m = document.querySelector('.msg.theirs'); \
             return [m.firstElementChild.className, m.firstElementChild.textContent, \
                     m.querySelector('time').getAttribute('aria-hidden'), \
                     document.querySelector('.day').getAttribute('role'), \
                     document.querySelector('.day').getAttribute('aria-label')];",
            vec![],
        )
        .await;
    assert_eq!(said[0], json!("visually-hidden"));
    assert!(
        said[1]
            .as_str()
            .is_some_and(|s| s.starts_with("bob, ") && s.ends_with(": ")),
        "who and when: {said}"
    );
    assert_eq!(
        said[2],
        json!("true"),
        "the time is said once, in the prefix"
    );
    assert_eq!([&said[3], &said[4]], [&json!("separator"), &json!("Today")]);

    // Older messages that come into the log are marked busy, so not read out as new.
    alice
        .js(
            "window.insertedBusy = []; \
             const log = document.querySelector('.timeline'); \
             new MutationObserver(records => { \
               for (const r of records) for (const n of r.addedNodes) \
                 if (n.classList?.contains('msg')) \
                   insertedBusy.push([n.querySelector('.text').textContent, log.getAttribute('aria-busy') === 'true']); \
             }).observe(log, { childList: true });",
            vec![],
        )
        .await;

    // Up to the beginning: the window moves, and stays bounded.
    let bounded = "const n = document.querySelectorAll('.msg').length; \
        return [n, document.getElementsByTagName('*').length];";
    let mut most = (0, 0);
    let mut steps = 0;
    loop {
        let counts = alice.js(bounded, vec![]).await;
        most.0 = most.0.max(counts[0].as_i64().unwrap_or(i64::MAX));
        most.1 = most.1.max(counts[1].as_i64().unwrap_or(i64::MAX));
        if alice
            .js(
                "return Boolean(document.querySelector('.beginning'));",
                vec![],
            )
            .await
            == json!(true)
        {
            break;
        }
        // Scroll to the top, as a reader keeps doing, and let the log answer.
        let first = alice.js(FIRST, vec![]).await;
        alice
            .wait_until("the log to move up", || async {
                let now = alice
                    .client
                    .execute(
                        "document.querySelector('.timeline').scrollTop = 0; \
                         return [document.querySelector('.msg .text').textContent, \
                                 Boolean(document.querySelector('.beginning'))];",
                        vec![],
                    )
                    .await
                    .ok()?;
                (now[0] != first || now[1] == json!(true)).then_some(())
            })
            .await;
        steps += 1;
        assert!(steps < 100, "the beginning never came");
    }
    assert!(most.0 <= 120, "at most 120 message nodes, saw {}", most.0);
    assert!(
        most.1 <= 3000,
        "at most 3,000 elements on the page, saw {}",
        most.1
    );
    let rendered = texts(&alice.js(RENDERED, vec![]).await);
    assert_eq!(
        rendered,
        bodies[..rendered.len()],
        "the first messages, in order, once"
    );
    let inserted = alice.js("return insertedBusy;", vec![]).await;
    let inserted = inserted.as_array().expect("a list");
    assert!(!inserted.is_empty());
    assert!(
        inserted.iter().all(|i| i[1] == json!(true)),
        "older messages came in while the log was busy: {inserted:?}"
    );

    // The view holds still while the window moves: a message keeps its place on screen.
    let anchor = "const log = document.querySelector('.timeline').getBoundingClientRect(); \
        const m = [...document.querySelectorAll('.msg')].find(m => m.getBoundingClientRect().top >= log.top); \
        return [m.querySelector('.text').textContent, m.getBoundingClientRect().top - log.top];";
    alice
        .js(
            "const log = document.querySelector('.timeline'); log.scrollTop = log.scrollHeight - log.clientHeight - 700;",
            vec![],
        )
        .await;
    let before = alice.js(anchor, vec![]).await;
    let last_before = alice.js(LAST, vec![]).await;
    // Scrolling down by a little brings the next page in below and drops the oldest.
    alice
        .js(
            "const log = document.querySelector('.timeline'); log.scrollTop = log.scrollTop + 200;",
            vec![],
        )
        .await;
    alice
        .wait_until("newer messages below", || async {
            let last = alice.client.execute(LAST, vec![]).await.ok()?;
            (last != last_before).then_some(())
        })
        .await;
    let after = alice
        .js(
            "const log = document.querySelector('.timeline').getBoundingClientRect(); \
             const m = [...document.querySelectorAll('.msg')].find(m => m.querySelector('.text').textContent === arguments[0]); \
             return m.getBoundingClientRect().top - log.top;",
            vec![before[0].clone()],
        )
        .await;
    let moved =
        after.as_f64().expect("a position") - (before[1].as_f64().expect("a position") - 200.0);
    assert!(moved.abs() <= 1.0, "{} moved by {moved}px", before[0]);

    // Down to the newest again: the window follows, still bounded and in order.
    loop {
        let state = alice
            .js(
                "const log = document.querySelector('.timeline'); log.scrollTop = log.scrollHeight; \
                 return [document.querySelectorAll('.msg').length, \
                         [...document.querySelectorAll('.msg .text')].pop().textContent];",
                vec![],
            )
            .await;
        assert!(state[0].as_i64().is_some_and(|n| n <= 120), "{state}");
        if state[1] == json!("message 400") {
            break;
        }
        alice
            .wait_until("the log to move down", || async {
                let last = alice.client.execute(LAST, vec![]).await.ok()?;
                (last != state[1]).then_some(())
            })
            .await;
    }
    let rendered = texts(&alice.js(RENDERED, vec![]).await);
    assert_eq!(
        rendered,
        bodies[bodies.len() - rendered.len()..],
        "the newest, in order, once"
    );

    // A new message at the bottom is news: not busy, and followed.
    alice
        .wait_js(
            "the log not busy",
            "return !document.querySelector('.timeline').hasAttribute('aria-busy');",
        )
        .await;
    bob.send(chat, "one more").await;
    alice
        .wait_until("\"one more\" on screen", || async {
            let shown = texts(&alice.client.execute(ON_SCREEN, vec![]).await.ok()?);
            (shown.last()? == "one more").then_some(())
        })
        .await;
    let last = alice.js("return insertedBusy.pop();", vec![]).await;
    assert_eq!(last, json!(["one more", false]));

    // Back through the history, away, and back to the chat: it opens at the newest.
    let oldest_shown = alice.js(FIRST, vec![]).await;
    alice
        .wait_until("the log to move up", || async {
            let first = alice
                .client
                .execute(
                    "document.querySelector('.timeline').scrollTop = 0; \
                     return document.querySelector('.msg .text').textContent;",
                    vec![],
                )
                .await
                .ok()?;
            (first != oldest_shown).then_some(())
        })
        .await;
    alice
        .js(
            "history.pushState(null, '', '/'); dispatchEvent(new PopStateEvent('popstate'));",
            vec![],
        )
        .await;
    alice.wait_for(".placeholder").await;
    alice.click_text(".conversation", "one more").await;
    alice
        .wait_until("the chat open at its newest message", || async {
            let shown = texts(&alice.client.execute(ON_SCREEN, vec![]).await.ok()?);
            (shown.last()? == "one more").then_some(())
        })
        .await;
    alice.close().await;
}

//! What someone writes is shown as text in the other's page: markup and script in a
//! message stay characters, no dialog opens, and only http(s) URLs become links
//! (opening a new tab without a handle back to the page).

use gadka_test_support::spawn_app;

use crate::support::alice_and;

const HOSTILE: [&str; 4] = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "<b>bold</b> & <i>not</i>",
    "javascript:alert(3) and https://example.org/a?b=1&c=2.",
];

#[tokio::test]
async fn message_text_cannot_inject_markup_or_script() {
    let app = spawn_app().await;
    let (alice, mallory, chat) = alice_and(&app, "mallory").await;
    for body in HOSTILE {
        mallory.send(chat, body).await;
    }

    alice
        .click_text(".conversation", "javascript:alert(3)")
        .await;
    alice
        .wait_for_text(".msg.theirs .text", "javascript:alert(3)")
        .await;

    let shown = alice
        .js(
            "return [...document.querySelectorAll('.msg .text')].map(t => t.textContent);",
            vec![],
        )
        .await;
    assert_eq!(
        shown,
        serde_json::json!(HOSTILE),
        "every message, character for character"
    );
    let elements = alice
        .js(
            "return [...document.querySelectorAll('.msg .text *')].map(e => e.outerHTML);",
            vec![],
        )
        .await;
    assert_eq!(
        elements,
        serde_json::json!([
            "<a href=\"https://example.org/a?b=1&amp;c=2\" target=\"_blank\" rel=\"noopener noreferrer\">https://example.org/a?b=1&amp;c=2</a>"
        ]),
        "the one http(s) URL is the only element inside the messages"
    );
    assert!(
        alice.client.get_alert_text().await.is_err(),
        "no dialog is open"
    );

    // Alice writes the same back: her own page, and the list's preview, show text too.
    alice.fill("Message", HOSTILE[0]).await;
    alice.press_enter("Message").await;
    alice
        .wait_for_text(".msg.mine[data-status=\"sent\"] .text", "onerror")
        .await;
    let images = alice
        .js(
            "return document.querySelectorAll('.chat img, .sidebar img').length;",
            vec![],
        )
        .await;
    assert_eq!(images, 0);
    assert!(alice.client.get_alert_text().await.is_err());
    alice.close().await;
}

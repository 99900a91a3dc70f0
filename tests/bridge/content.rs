//! What the bridge cannot carry is said, not dropped: a location as a line of text,
//! and a notice for a file the homeserver will not give out, an over-long or
//! encrypted message, or a refused invite.

use std::collections::BTreeMap;

use gadka::bridge::Permission;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    gadka::Gadka,
    matrix::MatrixUser,
    messages::{bodies, dm, through_marker},
    synapse,
};

#[tokio::test]
async fn what_gadka_cannot_carry_is_said_not_dropped() {
    let synapse = synapse::shared().await;
    let slot = synapse.slot().await;
    let d = dm(&slot, "alice-content").await;

    d.alice
        .send(
            &d.room,
            json!({"msgtype": "m.location", "body": "Rynek, Kraków", "geo_uri": "geo:50.0617,19.9373"}),
        )
        .await;
    let messages = d.bob.wait_for_messages(d.conversation, 2).await;
    assert_eq!(messages[1]["body"], "[location: Rynek, Kraków]");

    // A photo whose file the homeserver does not have: a notice saying so.
    d.alice
        .send(
            &d.room,
            json!({"msgtype": "m.image", "body": "cat.png", "url": "mxc://localhost/nocat", "info": {"mimetype": "image/png"}}),
        )
        .await;
    let notices = d.alice.wait_for_messages_from(&d.room, &d.puppet, 1).await;
    let notice = &notices[0]["content"];
    assert_eq!(notice["msgtype"], "m.notice");
    assert!(
        notice["body"]
            .as_str()
            .unwrap()
            .contains("not delivered to gadka"),
        "{notice}"
    );

    // Over gadka's limit (16 KiB by default): a notice, not a silent drop.
    d.alice.say(&d.room, &"x".repeat(17_000)).await;
    let notices = d.alice.wait_for_messages_from(&d.room, &d.puppet, 2).await;
    let notice = &notices[1]["content"];
    assert_eq!(notice["msgtype"], "m.notice");
    assert!(
        notice["body"]
            .as_str()
            .unwrap()
            .contains("longer than gadka takes"),
        "{notice}"
    );

    // An encrypted event: a notice that the bridge cannot read it.
    let encrypted = d
        .alice
        .call(
            Method::PUT,
            &format!(
                "/_matrix/client/v3/rooms/{}/send/m.room.encrypted/e1",
                d.room
            ),
            Some(json!({
                "algorithm": "m.megolm.v1.aes-sha2",
                "ciphertext": "AwgAEnAC",
                "sender_key": "key",
                "session_id": "session",
                "device_id": "DEVICE",
            })),
        )
        .await;
    assert_eq!(encrypted.status, StatusCode::OK, "{}", encrypted.body);
    let notices = d.alice.wait_for_messages_from(&d.room, &d.puppet, 3).await;
    assert!(
        notices[2]["content"]["body"]
            .as_str()
            .unwrap()
            .contains("does not support encryption"),
        "{}",
        notices[2]
    );

    // Neither reached bob as a message: the next one he gets is a marker sent after.
    let messages = through_marker(&d.alice, &d.room, &d.bob, d.conversation, "after").await;
    assert_eq!(
        bodies(&messages),
        ["hello", "[location: Rynek, Kraków]", "after"],
        "{messages:?}"
    );
}

#[tokio::test]
async fn someone_the_permissions_leave_out_is_declined_politely() {
    let synapse = synapse::shared().await;
    let slot = synapse.slot().await;
    let gadka = Gadka::start(&slot, |settings| {
        settings.bridge.as_mut().unwrap().permissions =
            BTreeMap::from([("example.org".to_owned(), Permission::User)]);
    })
    .await;
    gadka.bridge_health("ready").await;
    let bob = gadka.register("bob", "Bob").await;
    let mallory = MatrixUser::register(synapse, &format!("mallory{}", slot.index)).await;
    let puppet = slot.puppet("bob");
    let room = mallory.start_dm(&puppet).await;

    let member = mallory.wait_for_leave(&room, &puppet).await;
    assert!(
        member["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("not open to you"),
        "{member}"
    );
    let list = bob.get_ok("/api/conversations").await;
    assert_eq!(
        list["conversations"],
        json!([]),
        "no conversation was opened"
    );
}

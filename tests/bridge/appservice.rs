//! The application service surface: its start-up checks as the admin sees them in
//! `/healthz`, the homeserver's token, and the puppets the homeserver asks about.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    gadka::Gadka,
    matrix::MatrixUser,
    synapse::{self, free_port},
};

#[tokio::test]
async fn the_bridge_checks_the_homeserver_and_the_homeserver_reaches_it() {
    let synapse = synapse::shared().await;
    let slot = synapse.slot().await;
    let gadka = Gadka::start(&slot, |_| {}).await;
    // Ready means: versions answered, whoami is the bot, and Synapse's ping of
    // /_matrix/app/v1/ping came through with the hs_token.
    let health = gadka.bridge_health("ready").await;
    assert_eq!(health["status"], "ok");
    assert!(health["bridge"].get("detail").is_none(), "{health}");

    // The bot has its display name from the config.
    let alice = MatrixUser::register(synapse, &format!("alice-ready{}", slot.index)).await;
    let profile = alice
        .call(
            Method::GET,
            &format!("/_matrix/client/v3/profile/{}", slot.bot),
            None,
        )
        .await;
    assert_eq!(
        profile.body["displayname"], "gadka bridge bot",
        "{}",
        profile.body
    );

    // The outbox is measured.
    let metrics = reqwest::get(gadka.app().metrics_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for gauge in [
        "gadka_bridge_outbox_depth",
        "gadka_bridge_outbox_age_seconds",
    ] {
        assert!(metrics.contains(gauge), "{gauge} in {metrics}");
    }
}

#[tokio::test]
async fn only_the_homeserver_with_its_token_is_let_in() {
    let synapse = synapse::shared().await;
    let slot = synapse.slot().await;
    let _gadka = Gadka::start(&slot, |_| {}).await;
    let transaction = json!({"events": [], "ephemeral": []});
    let put = |token| slot.put_transaction("t1", &transaction, token);

    let response = put(None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errcode"], "M_MISSING_TOKEN", "{body}");
    assert!(body["error"].is_string());

    let response = put(Some(&slot.as_token)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errcode"], "M_FORBIDDEN", "{body}");

    let response = put(Some(&slot.hs_token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({}));

    let response = reqwest::Client::new()
        .post(slot.appservice_url("/_matrix/app/v1/ping"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_transaction_larger_than_a_message_is_taken() {
    let synapse = synapse::shared().await;
    let slot = synapse.slot().await;
    let _gadka = Gadka::start(&slot, |_| {}).await;
    // 100 events of 8 KiB each: far over the API's body limit, as a busy room's
    // transaction is.
    let event = json!({
        "type": "m.room.message",
        "room_id": "!room:localhost",
        "sender": "@someone:localhost",
        "event_id": "$e",
        "origin_server_ts": 1,
        "content": {"msgtype": "m.text", "body": "x".repeat(8192)},
    });
    slot.deliver("big", json!(vec![event; 100])).await;
}

#[tokio::test]
async fn a_puppet_is_made_when_the_homeserver_asks_for_it() {
    let synapse = synapse::shared().await;
    let slot = synapse.slot().await;
    let gadka = Gadka::start(&slot, |_| {}).await;
    gadka.bridge_health("ready").await;
    gadka.register("Bob", "Bob Builder").await;
    let alice = MatrixUser::register(synapse, &format!("alice-lookup{}", slot.index)).await;

    // Inviting a puppet that does not exist yet makes Synapse ask the bridge about
    // it (GET /_matrix/app/v1/users/{userId}); the bridge registers it with its
    // gadka user's display name.
    let puppet = slot.puppet("bob");
    alice.start_dm(&puppet).await;
    alice
        .wait_for_display_name(&puppet, "Bob Builder (gadka)")
        .await;

    // The bridge's answer for a puppet without a gadka user is "no such user".
    let nobody = slot.puppet("nobody");
    let response = reqwest::Client::new()
        .get(slot.appservice_url(&format!("/_matrix/app/v1/users/{nobody}")))
        .bearer_auth(&slot.hs_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errcode"], "M_NOT_FOUND", "{body}");
}

#[tokio::test]
async fn a_bridge_that_cannot_start_says_why_and_local_chat_goes_on() {
    let synapse = synapse::shared().await;
    let slot = synapse.slot().await;

    // No homeserver where the config points.
    let dead = free_port();
    let gadka = Gadka::start(&slot, |settings| {
        let bridge = settings.bridge.as_mut().unwrap();
        bridge.homeserver = format!("http://127.0.0.1:{dead}").parse().unwrap();
    })
    .await;
    let health = gadka.bridge_health("failing").await;
    let detail = health["bridge"]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "cannot reach the homeserver at http://127.0.0.1:{dead}"
        )),
        "{detail}"
    );
    let bob = gadka.register("bob", "Bob").await;
    let carol = gadka.register("carol", "Carol").await;
    let (status, body) = bob
        .post("/api/conversations", json!({"user_id": carol.id()}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["conversation"]["id"].as_i64().unwrap();
    bob.send(id, "the bridge is down, we are not").await;
    drop(gadka);

    // The homeserver is there, but the bridge listens where it cannot find it.
    let gadka = Gadka::start(&slot, |settings| {
        settings.bridge.as_mut().unwrap().listen = "127.0.0.1:0".parse().unwrap();
    })
    .await;
    let health = gadka.bridge_health("failing").await;
    let detail = health["bridge"]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "the homeserver cannot reach the bridge at http://127.0.0.1:{}",
            slot.appservice_port
        )),
        "{detail}"
    );
}

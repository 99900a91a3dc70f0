//! A chat started from gadka: a gadka user finds a Matrix user by their Matrix ID,
//! presses "Send message" (opens the conversation) and writes at once; the Matrix
//! user gets a direct invite from the puppet, joins, reads everything in order, and
//! their answer reaches gadka. A Matrix ID `bridge.permissions` leaves out finds
//! nobody.

use gadka::bridge::{Permission, homeserver::CONVERSATION_KEY};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    gadka::Gadka,
    matrix::{MatrixUser, mxid},
    messages::bob_and_matrix_user,
    synapse,
};

#[tokio::test]
async fn a_chat_started_from_gadka_reaches_the_matrix_user_as_a_direct_invite() {
    let slot = synapse::shared().await.slot().await;
    let (_gadka, bob, alice) = bob_and_matrix_user(&slot, "alice-from-gadka", |_| {}).await;
    let renamed = alice
        .call(
            Method::PUT,
            &format!("/_matrix/client/v3/profile/{}/displayname", alice.user_id),
            Some(json!({"displayname": "Alice on Matrix"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);

    // Nobody by that Matrix ID, and gadka's own puppets are no Matrix users.
    for nobody in [mxid(&format!("nobody-{}", slot.index)), slot.puppet("bob")] {
        let found = bob
            .get_ok(&format!("/api/users?q={}", nobody.replace('@', "%40")))
            .await;
        assert_eq!(found["users"], json!([]), "{nobody}");
    }

    // The search finds her on the homeserver, with her Matrix name.
    let found = bob
        .get_ok(&format!(
            "/api/users?q={}",
            alice.user_id.replace('@', "%40")
        ))
        .await;
    let user = &found["users"][0];
    assert_eq!(user["matrix_id"], alice.user_id.as_str(), "{found}");
    assert_eq!(user["display_name"], "Alice on Matrix", "{found}");
    let alice_here = user["id"].as_i64().unwrap();

    // "Send message", and two messages before any room can exist.
    let (status, body) = bob
        .post("/api/conversations", json!({"user_id": alice_here}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let conversation = body["conversation"]["id"].as_i64().unwrap();
    for text in ["are you there?", "it's Bob, from gadka"] {
        bob.send(conversation, text).await;
    }

    // Alice is invited by the puppet to a direct chat, as Element shows it.
    let puppet = slot.puppet("bob");
    let (room, invite) = wait_for_invite(&alice).await;
    assert_eq!(invite["sender"], puppet.as_str(), "{invite}");
    assert_eq!(invite["content"]["is_direct"], true, "{invite}");
    alice.join(&room).await;

    let from_puppet = alice.wait_for_messages_from(&room, &puppet, 2).await;
    let bodies: Vec<_> = from_puppet
        .iter()
        .map(|e| e["content"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["are you there?", "it's Bob, from gadka"]);

    alice.say(&room, "hi Bob!").await;
    let all = bob.wait_for_messages(conversation, 3).await;
    assert_eq!(all[2]["body"], "hi Bob!");
    assert_eq!(all[2]["sender_id"], alice_here);
    assert_eq!(
        bob.wait_for_conversations(1).await.len(),
        1,
        "one conversation"
    );
}

/// The first room alice is invited to, and her invite's member event.
async fn wait_for_invite(alice: &MatrixUser) -> (String, Value) {
    let what = format!("{} to be invited", alice.user_id);
    alice
        .syncer()
        .until(&what, |page| {
            let (room, invited) = page["rooms"]["invite"].as_object()?.iter().next()?;
            let member = invited["invite_state"]["events"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["type"] == "m.room.member" && e["state_key"] == alice.user_id.as_str())
                .cloned()
                .unwrap_or(Value::Null);
            Some((room.clone(), member))
        })
        .await
}

#[tokio::test]
async fn a_matrix_id_the_permissions_leave_out_finds_nobody() {
    let synapse = synapse::shared().await;
    let slot = synapse.slot().await;
    let allowed = mxid(&format!("alice-allowed{}", slot.index));
    let gadka = Gadka::start(&slot, |settings| {
        let permissions = &mut settings.bridge.as_mut().unwrap().permissions;
        permissions.clear();
        permissions.insert(allowed.clone(), Permission::User);
    })
    .await;
    gadka.bridge_health("ready").await;
    let bob = gadka.register("bob", "Bob").await;
    let alice = MatrixUser::register(synapse, &format!("alice-allowed{}", slot.index)).await;
    let carol = MatrixUser::register(synapse, &format!("carol-left-out{}", slot.index)).await;

    let search = |user_id: &str| format!("/api/users?q={}", user_id.replace('@', "%40"));
    let found = bob.get_ok(&search(&carol.user_id)).await;
    assert_eq!(found["users"], json!([]), "carol could not answer");
    let found = bob.get_ok(&search(&alice.user_id)).await;
    assert_eq!(
        found["users"][0]["matrix_id"],
        alice.user_id.as_str(),
        "{found}"
    );
}

#[tokio::test]
async fn a_room_made_just_before_the_bridge_stopped_is_taken_up_not_made_twice() {
    let synapse = synapse::shared().await;
    let slot = synapse.slot().await;
    let (_gadka, bob, alice) = bob_and_matrix_user(&slot, "alice-taken-up", |_| {}).await;

    // What a bridge stopped between creating the portal room and recording it leaves
    // behind: Bob's puppet in a direct room with Alice invited, made for conversation 1
    // (the first of this new gadka), and nothing in gadka's database.
    let puppet = slot.puppet("bob");
    let bridge = MatrixUser::with_token(synapse, &slot.bot, &slot.as_token);
    let made = bridge
        .call(
            Method::POST,
            "/_matrix/client/v3/register",
            Some(json!({"type": "m.login.application_service", "username": format!("{}bob", slot.prefix)})),
        )
        .await;
    assert!(
        made.status == StatusCode::OK || made.errcode() == Some("M_USER_IN_USE"),
        "{}",
        made.body
    );
    let created = bridge
        .call(
            Method::POST,
            &format!(
                "/_matrix/client/v3/createRoom?user_id={}",
                puppet.replace('@', "%40")
            ),
            Some(json!({
                "preset": "trusted_private_chat",
                "is_direct": true,
                "invite": [alice.user_id],
                "creation_content": {(CONVERSATION_KEY): 1},
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let room = created.body["room_id"].as_str().unwrap().to_owned();

    // Bob starts the chat, as after the restart the bridge carries the portal again.
    let found = bob
        .get_ok(&format!(
            "/api/users?q={}",
            alice.user_id.replace('@', "%40")
        ))
        .await;
    let alice_here = found["users"][0]["id"].as_i64().unwrap();
    let (status, body) = bob
        .post("/api/conversations", json!({"user_id": alice_here}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let conversation = body["conversation"]["id"].as_i64().unwrap();
    assert_eq!(
        conversation, 1,
        "the room above was made for this conversation"
    );
    bob.send(conversation, "the same room, please").await;

    // The message comes in that room, and Alice has no second invite.
    alice.join(&room).await;
    let from_puppet = alice.wait_for_messages_from(&room, &puppet, 1).await;
    assert_eq!(from_puppet[0]["content"]["body"], "the same room, please");
    let everything = alice.syncer().next().await;
    assert_eq!(
        everything["rooms"]["invite"]
            .as_object()
            .map_or(0, |rooms| rooms.len()),
        0,
        "no second room: {}",
        everything["rooms"]["invite"]
    );
}

//! Display names both ways: a gadka user's new name reaches their puppet, and a
//! Matrix user's new name reaches gadka.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{messages::dm, synapse};

#[tokio::test]
async fn a_gadka_user_s_new_name_reaches_the_puppet() {
    let synapse = synapse::shared();
    let slot = synapse.slot().await;
    let d = dm(&slot, "alice-rename-out").await;
    let (status, body) = d
        .bob
        .patch("/api/me", json!({"display_name": "Bobby Tables"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Alice sees the puppet's new name in its profile and in the room.
    let wanted = "Bobby Tables (gadka)";
    let profile_path = format!("/_matrix/client/v3/profile/{}", d.puppet);
    let member_path = format!(
        "/_matrix/client/v3/rooms/{}/state/m.room.member/{}",
        d.room, d.puppet
    );
    let mut last = (Value::Null, Value::Null);
    for _ in 0..100 {
        let profile = d.alice.call(Method::GET, &profile_path, None).await.body;
        let member = d.alice.call(Method::GET, &member_path, None).await.body;
        if profile["displayname"] == wanted && member["displayname"] == wanted {
            assert_eq!(member["membership"], "join", "{member}");
            return;
        }
        last = (profile, member);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the puppet was never renamed: profile {}, member {}",
        last.0, last.1
    );
}

#[tokio::test]
async fn a_matrix_user_s_new_name_reaches_gadka() {
    let synapse = synapse::shared();
    let slot = synapse.slot().await;
    let d = dm(&slot, "alice-rename-in").await;
    let peer = |conversations: &[Value]| conversations[0]["peer"].clone();
    let before = peer(&d.bob.wait_for_conversations(1).await);
    assert_eq!(before["matrix_id"], d.alice.user_id.as_str(), "{before}");

    let answer = d
        .alice
        .call(
            Method::PUT,
            &format!("/_matrix/client/v3/profile/{}/displayname", d.alice.user_id),
            Some(json!({"displayname": "Alice in Wonderland"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    // Synapse tells the portal with Alice's new join event; Bob sees her new name.
    let mut last = Value::Null;
    for _ in 0..100 {
        last = peer(&d.bob.wait_for_conversations(1).await);
        if last["display_name"] == "Alice in Wonderland" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last["display_name"], "Alice in Wonderland", "{last}");
    assert_eq!(last["matrix_id"], d.alice.user_id.as_str(), "{last}");
    let profile = d.bob.get(&format!("/api/users/{}", last["id"])).await;
    assert_eq!(profile["display_name"], "Alice in Wonderland", "{profile}");
}

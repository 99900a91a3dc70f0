//! Display names both ways: a gadka user's new name reaches their puppet, and a
//! Matrix user's new name reaches gadka.

use gadka_test_support::{PATIENCE, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{messages::dm, synapse};

#[tokio::test]
async fn a_gadka_user_s_new_name_reaches_the_puppet() {
    let synapse = synapse::shared().await;
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
    let member = eventually("the puppet to be renamed", PATIENCE, async || {
        let profile = d.alice.call(Method::GET, &profile_path, None).await.body;
        let member = d.alice.call(Method::GET, &member_path, None).await.body;
        if profile["displayname"] == wanted && member["displayname"] == wanted {
            Ok(member)
        } else {
            Err(json!({"profile": profile, "member": member}))
        }
    })
    .await;
    assert_eq!(member["membership"], "join", "{member}");
}

#[tokio::test]
async fn a_matrix_user_s_new_name_reaches_gadka() {
    let synapse = synapse::shared().await;
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
    let after = eventually("bob to see alice's new name", PATIENCE, async || {
        let after = peer(&d.bob.wait_for_conversations(1).await);
        if after["display_name"] == "Alice in Wonderland" {
            Ok(after)
        } else {
            Err(after)
        }
    })
    .await;
    assert_eq!(after["matrix_id"], d.alice.user_id.as_str(), "{after}");
    let profile = d.bob.get_ok(&format!("/api/users/{}", after["id"])).await;
    assert_eq!(profile["display_name"], "Alice in Wonderland", "{profile}");
}

//! Synapse loads the registration `gadka generate-registration` writes.

use reqwest::StatusCode;

use crate::{
    matrix::{MatrixUser, mxid, register},
    synapse,
};

#[tokio::test]
async fn synapse_gives_the_bridge_its_namespace_and_its_bot() {
    let synapse = synapse::shared().await;
    let slot = synapse.slot().await;

    // The bot acts with the as_token the registration holds.
    let bot = MatrixUser::with_token(synapse, &slot.bot, &slot.as_token);
    let whoami = bot.whoami().await;
    assert_eq!(whoami.status, StatusCode::OK, "{}", whoami.body);
    assert_eq!(whoami.body["user_id"].as_str(), Some(slot.bot.as_str()));

    // The puppets' namespace is the bridge's alone.
    let taken = register(synapse, &format!("{}mallory", slot.prefix)).await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST, "{}", taken.body);
    assert_eq!(taken.errcode(), Some("M_EXCLUSIVE"));

    // Anyone else may register.
    let alice = MatrixUser::register(synapse, &format!("alice{}", slot.index)).await;
    assert_eq!(alice.user_id, mxid(&format!("alice{}", slot.index)));
}

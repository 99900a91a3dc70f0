//! The bot, as a bridge admin sees it: a direct chat with it takes commands. Anyone
//! else who invites it is declined with a reason.

use gadka::bridge::Permission;

use crate::{
    gadka::Gadka,
    matrix::{MatrixUser, mxid},
    synapse,
};

#[tokio::test]
async fn an_admin_talks_to_the_bot_and_no_one_else_does() {
    let synapse = synapse::shared().await;
    let slot = synapse.slot().await;
    let admin = mxid(&format!("admin-bot{}", slot.index));
    let gadka = Gadka::start(&slot, |settings| {
        let bridge = settings.bridge.as_mut().unwrap();
        bridge.permissions.insert(admin.clone(), Permission::Admin);
    })
    .await;
    gadka.bridge_health("ready").await;
    let admin = MatrixUser::register(synapse, &format!("admin-bot{}", slot.index)).await;
    let someone = MatrixUser::register(synapse, &format!("user-bot{}", slot.index)).await;

    // The admin's chat with the bot: it joins and answers commands.
    let room = admin.start_dm(&slot.bot).await;
    admin.wait_for_member(&room, &slot.bot).await;
    admin.say(&room, "status").await;
    admin.say(&room, "!gadka help").await;
    let answers = admin.wait_for_messages_from(&room, &slot.bot, 2).await;
    assert!(
        answers
            .iter()
            .all(|a| a["content"]["msgtype"] == "m.notice")
    );
    let status = answers[0]["content"]["body"].as_str().unwrap();
    assert!(
        status.starts_with("The bridge is ready.") && status.contains("Outbox: 0 waiting"),
        "{status}"
    );
    let help = answers[1]["content"]["body"].as_str().unwrap();
    assert!(help.starts_with("Commands: help"), "{help}");

    // Someone who is no admin: the bot declines, saying why.
    let declined = someone.start_dm(&slot.bot).await;
    let member = someone.wait_for_leave(&declined, &slot.bot).await;
    let reason = member["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("only admins"), "{member}");
}

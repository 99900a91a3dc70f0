//! `gadka admin user deactivate`, run as an operator runs it (the binary, with the
//! bridge's configuration, beside the running server), has the user's puppet leave
//! their Matrix rooms, after what was already on its way there.

use std::process::Command;

use crate::{matrix, messages, synapse};

#[tokio::test]
async fn a_deactivated_users_puppet_leaves_their_rooms_after_their_last_words() {
    let slot = synapse::shared().await.slot().await;
    let dm = messages::dm(&slot, "alice-deactivated").await;
    dm.bob.send(dm.conversation, "goodbye").await;

    let mut command = Command::new(env!("CARGO_BIN_EXE_gadka"));
    command
        .args(["admin", "user", "deactivate", "bob", "--config"])
        .arg(&slot.config)
        .arg("--data-dir")
        .arg(dm.gadka.app().data_dir.path())
        .env_remove("GADKA_CONFIG")
        .env_remove("GADKA_DATA_DIR")
        .env_remove("GADKA_DATABASE_URL");
    let out = tokio::task::spawn_blocking(move || command.output().expect("gadka runs"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("leaves 1 room"), "{stdout}");

    let leave = dm.alice.wait_for_leave(&dm.room, &dm.puppet).await;
    assert!(
        leave["reason"]
            .as_str()
            .is_some_and(|r| r.contains("deactivated")),
        "{leave}"
    );
    let said = dm.alice.messages_from(&dm.room, &dm.puppet).await;
    assert_eq!(matrix::bodies(&said), ["goodbye"], "sent before it left");
}

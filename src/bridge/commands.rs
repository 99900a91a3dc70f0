//! The bot's commands, as mautrix bridges have them: a bridge admin
//! (`bridge.permissions` says `admin`) starts a direct chat with the bot, which
//! joins, and types a command (`help`, `status`, `version`; `!gadka status` works
//! too). Anyone else who invites the bot is declined politely; a chat with the bot
//! is no portal and reaches no gadka user.

use ruma::events::room::message::OriginalRoomMessageEvent;
use ruma::{OwnedTransactionId, events::room::member::OriginalRoomMemberEvent};

use super::{Bridge, IncomingError, Permission};

/// What someone who is no admin reads when the bot declines their invite.
const NOT_ADMIN: &str = "Sorry: only admins of this gadka bridge may talk to its bot.";

/// The prefix a command may have, as in mautrix's rooms that are not the bot's.
const PREFIX: &str = "!gadka";

const HELP: &str =
    "Commands: help (this list), status (the bridge and its outbox), version (gadka's version).";

impl Bridge {
    /// The bot is invited: it joins an admin's room and declines anyone else's.
    pub(super) async fn bot_invited(
        &self,
        member: &OriginalRoomMemberEvent,
    ) -> Result<(), IncomingError> {
        if self.settings.permission_of(&member.sender) == Some(Permission::Admin) {
            self.homeserver
                .join(&member.room_id, &self.settings.bot)
                .await?;
            tracing::info!(admin = %member.sender, room = %member.room_id, "the bot joined an admin's room");
        } else {
            self.homeserver
                .leave(&member.room_id, &self.settings.bot, NOT_ADMIN)
                .await?;
        }
        Ok(())
    }

    /// A message in a room that is no portal: from an admin, a command for the bot,
    /// answered with a notice. Best effort: a room the bot is not in (a puppet's
    /// declined invite) gets no answer, and a failure is only logged, never retried.
    pub(super) async fn bot_command(&self, message: &OriginalRoomMessageEvent, body: &str) {
        if self.settings.permission_of(&message.sender) != Some(Permission::Admin) {
            return;
        }
        let answer = self.answer(body).await;
        let txn_id = OwnedTransactionId::from(format!("command-{}", message.event_id));
        if let Err(e) = self
            .homeserver
            .send_notice(message.room_id.clone(), txn_id, &self.settings.bot, &answer)
            .await
        {
            tracing::info!(room = %message.room_id, error = %e, "the bot cannot answer a command there");
        }
    }

    /// The bot's answer to `body`.
    async fn answer(&self, body: &str) -> String {
        let command = body.trim();
        let command = command
            .strip_prefix(PREFIX)
            .map_or(command, str::trim_start)
            .to_lowercase();
        match command.as_str() {
            "help" => HELP.to_owned(),
            "version" => format!("gadka {}", env!("CARGO_PKG_VERSION")),
            "status" => {
                let health = self.health();
                let bridge = match health.detail {
                    Some(detail) => format!("The bridge is {}: {detail}.", health.status),
                    None => format!("The bridge is {}.", health.status),
                };
                match self.store.outbox_stats(super::outbox::TOPIC).await {
                    Ok((depth, oldest)) => {
                        let age = oldest.map_or(0, |at| {
                            (chrono::Utc::now().timestamp_millis() - at).max(0) / 1000
                        });
                        format!("{bridge} Outbox: {depth} waiting, the oldest for {age} s.")
                    }
                    Err(e) => format!("{bridge} The outbox cannot be read: {e}."),
                }
            }
            _ => format!("Unknown command {command:?}. {HELP}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_names_every_command() {
        for command in ["help", "status", "version"] {
            assert!(HELP.contains(command), "{command}");
        }
    }
}

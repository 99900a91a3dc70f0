//! Matrix events that relate to another: an edit (`m.replace`, only by the message's
//! sender), a reaction (`m.reaction`), a redaction (of a reaction: taken back; of a
//! message: deleted, only by its sender), and what a reply's text keeps. Each finds its
//! gadka message through the Matrix event it came in as or went out as.

use ruma::{
    RoomId, UserId,
    events::{
        reaction::OriginalReactionEvent,
        relation::Replacement,
        room::{
            message::{
                MessageType, OriginalRoomMessageEvent, RoomMessageEventContentWithoutRelation,
            },
            redaction::OriginalRoomRedactionEvent,
        },
    },
};

use super::IncomingError;
use crate::{bridge::Bridge, chat::Grouped};

impl Bridge {
    /// An `m.replace` of a message: an edit, when its sender sent the message (a
    /// replacement by anyone else is not an edit, whatever it says).
    pub(super) async fn edit(
        &self,
        message: &OriginalRoomMessageEvent,
        replacement: &Replacement<RoomMessageEventContentWithoutRelation>,
        group: &mut Grouped,
    ) -> Result<(), IncomingError> {
        let Some((conversation, sender)) = self
            .member_of_portal(&message.room_id, &message.sender)
            .await?
        else {
            return Ok(());
        };
        let Some((seq, author)) = self
            .store
            .message_of_matrix_event(conversation, sender, replacement.event_id.as_str())
            .await?
        else {
            return Ok(());
        };
        if author != sender {
            tracing::info!(event = %message.event_id, "an edit of someone else's message, ignored");
            return Ok(());
        }
        // A file's edit changes its caption; the file stays as it came.
        let body = match super::files::file_of(&replacement.new_content.msgtype) {
            Some(file) => file.caption.to_owned(),
            None => text_of(&replacement.new_content.msgtype),
        };
        if let Err(e) = group.edit_as(sender, conversation, seq, &body) {
            tracing::info!(event = %message.event_id, error = %e, "a Matrix edit the chat refuses");
        }
        Ok(())
    }

    /// An `m.reaction` on a message of a portal, from its Matrix member.
    pub(super) async fn reaction(
        &self,
        reaction: &OriginalReactionEvent,
        group: &mut Grouped,
    ) -> Result<(), IncomingError> {
        let Some((conversation, sender)) = self
            .member_of_portal(&reaction.room_id, &reaction.sender)
            .await?
        else {
            return Ok(());
        };
        let annotation = &reaction.content.relates_to;
        let Some((seq, _)) = self
            .store
            .message_of_matrix_event(conversation, sender, annotation.event_id.as_str())
            .await?
        else {
            return Ok(());
        };
        match group.react_as(sender, conversation, seq, &annotation.key, true) {
            // Remembered before it commits: a redaction can only come later, and a
            // transaction sent again finds it remembered already.
            Ok(()) => {
                self.store
                    .record_matrix_reaction(
                        reaction.event_id.as_str(),
                        conversation,
                        seq,
                        sender,
                        &annotation.key,
                    )
                    .await?
            }
            Err(e) => {
                tracing::info!(event = %reaction.event_id, error = %e, "a Matrix reaction the chat refuses")
            }
        }
        Ok(())
    }

    /// A redaction in a portal by its Matrix member: of one of their reactions (taken
    /// back), or of one of their messages (deleted).
    pub(super) async fn redaction(
        &self,
        redaction: &OriginalRoomRedactionEvent,
        group: &mut Grouped,
    ) -> Result<(), IncomingError> {
        let Some(redacts) = redaction
            .content
            .redacts
            .as_ref()
            .or(redaction.redacts.as_ref())
        else {
            return Ok(());
        };
        let Some((conversation, sender)) = self
            .member_of_portal(&redaction.room_id, &redaction.sender)
            .await?
        else {
            return Ok(());
        };
        if let Some((reacted_in, seq, user, key)) =
            self.store.matrix_reaction(redacts.as_str()).await?
        {
            if reacted_in == conversation && user == sender {
                group.react_as(sender, conversation, seq, &key, false)?;
                self.store.forget_matrix_reaction(redacts.as_str()).await?;
            }
            return Ok(());
        }
        match self
            .store
            .message_of_matrix_event(conversation, sender, redacts.as_str())
            .await?
        {
            Some((seq, author)) if author == sender => group.delete_as(sender, conversation, seq),
            _ => {}
        }
        Ok(())
    }

    /// The conversation of a portal and the gadka user of its Matrix member `sender`.
    async fn member_of_portal(
        &self,
        room_id: &RoomId,
        sender: &UserId,
    ) -> Result<Option<(i64, i64)>, IncomingError> {
        let Some(conversation) = self.store.portal_conversation(room_id.as_str()).await? else {
            return Ok(None);
        };
        let Some(user) = self.chat.user_on_matrix(sender.as_str()).await? else {
            return Ok(None);
        };
        Ok(Some((conversation, user.id.get())))
    }
}

/// A message's text: its plain body, never HTML; what is neither text nor a file
/// (`files.rs`), such as a location, as one line saying what it was.
pub(super) fn text_of(msgtype: &MessageType) -> String {
    match msgtype {
        MessageType::Text(text) => text.body.clone(),
        MessageType::Notice(notice) => notice.body.clone(),
        MessageType::Emote(emote) => emote.body.clone(),
        other => format!(
            "[{}: {}]",
            other.msgtype().trim_start_matches("m."),
            other.body()
        ),
    }
}

/// A reply's body without the quote of the original that clients before Matrix v1.13
/// put first: its leading lines that begin with `>`, and the empty line after them.
pub(super) fn strip_reply_fallback(body: &str) -> &str {
    let mut rest = body;
    let mut quoted = false;
    while rest.starts_with('>') {
        quoted = true;
        rest = rest.split_once('\n').map_or("", |(_, after)| after);
    }
    if !quoted {
        return body;
    }
    let rest = rest.strip_prefix('\n').unwrap_or(rest);
    // A reply that was all quote keeps it: an empty message would be refused.
    if rest.trim().is_empty() { body } else { rest }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_loses_the_quote_older_clients_put_first() {
        assert_eq!(
            strip_reply_fallback("> <@ann:example.org> Czy jutro?\n> o 10\n\nTak!"),
            "Tak!"
        );
        assert_eq!(
            strip_reply_fallback("Tak!\n> not a quote"),
            "Tak!\n> not a quote"
        );
        assert_eq!(strip_reply_fallback("> only a quote"), "> only a quote");
    }
}

//! What the gadka user is told when the bridge gives up on what they sent to Matrix.
//!
//! A conversation opened from gadka needs a portal room, which the local member's
//! puppet makes. When the homeserver refuses that for good (the Matrix user blocks
//! invites, their server refuses ours, …), nothing of the conversation can reach
//! Matrix: the portal's row and every message row after it are dropped. Dropping them
//! silently left the gadka user waiting for an answer that could not come, so the
//! bridge writes a notice into the conversation ([`MessageKind::Notice`]) saying whom
//! it could not reach and why, and counts the failure in
//! `gadka_bridge_portal_failures_total`.
//!
//! The notice is a message of the conversation, in the name of its Matrix member (the
//! only other member there is), marked as the bridge's: it has its place among the
//! messages, is stored (a reload shows it), reaches every device of the local member
//! live, and is unread until seen, so it is not missed in another chat. It never goes
//! to Matrix (the outbox only carries what is sent to a Matrix user).
//!
//! Messages written after that notice have no room either: the first of them gets a
//! notice of its own, and the ones before that notice is stored are covered by it,
//! so a burst of messages gets one notice, after the last of them.
//!
//! [`MessageKind::Notice`]: crate::store::MessageKind::Notice

use std::time::Duration;

use super::{Outgoing, Parsed, carry::CarryError, carry::MAX_BACKOFF};
use crate::{
    bridge::{Bridge, homeserver::HomeserverError, with_cause},
    chat::ChatError,
};

/// The most characters of the homeserver's own words quoted in a notice.
const QUOTED_CHARS: usize = 200;

/// The prefix of a notice's key (its `txn_id`), apart from any Matrix event id.
const KEY_PREFIX: &str = "gadka-bridge";

/// A row was given up on for `error`: a portal that could not be made is counted,
/// and the gadka user whose row it was is told in the conversation. A notice that
/// cannot be stored now (the database away) is tried again, with backoff, holding up
/// the conversation's later rows meanwhile: they would be dropped too, and the user
/// must hear of it first.
pub(super) async fn gave_up(bridge: &Bridge, row: &Parsed, error: &CarryError) {
    let Ok(outgoing) = &row.outgoing else {
        return;
    };
    if let Outgoing::Portal {
        conversation_id, ..
    } = outgoing
    {
        metrics::counter!("gadka_bridge_portal_failures_total").increment(1);
        tracing::warn!(conversation_id, error = %error, "no portal room can be made for a conversation opened from gadka");
    }
    let mut backoff = Duration::from_secs(1);
    loop {
        match tell(bridge, outgoing, error).await {
            Ok(()) => return,
            Err(e @ (ChatError::Internal(_) | ChatError::Busy)) => {
                tracing::warn!(row = row.id, retry_in = ?backoff, error = %with_cause(&e), "cannot tell the gadka user of an undelivered row now");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => {
                tracing::warn!(row = row.id, error = %e, "cannot tell the gadka user of an undelivered row");
                return;
            }
        }
    }
}

/// Writes the notice `outgoing`'s failure calls for, if any.
async fn tell(bridge: &Bridge, outgoing: &Outgoing, error: &CarryError) -> Result<(), ChatError> {
    let (conversation_id, speaker_id, body, key) = match *outgoing {
        Outgoing::Portal {
            conversation_id,
            matrix_id,
            ..
        } => (
            conversation_id,
            matrix_id,
            format!(
                "Could not reach {} on Matrix: {}. Your messages were not delivered.",
                matrix_name(bridge, matrix_id).await?,
                refusal(error),
            ),
            format!("{KEY_PREFIX}:portal-failed:{conversation_id}"),
        ),
        Outgoing::Message {
            conversation_id,
            seq,
            sender_id,
            ..
        } if matches!(error, CarryError::NoPortal { .. }) => {
            if bridge.chat.notice_after(conversation_id, seq).await? {
                return Ok(());
            }
            let Some(peer) = bridge.chat.peer_in(sender_id, conversation_id).await? else {
                return Ok(());
            };
            (
                conversation_id,
                peer,
                format!(
                    "Could not reach {} on Matrix: this conversation has no room there, \
                     since it could not be made. Your messages were not delivered.",
                    matrix_name(bridge, peer).await?,
                ),
                format!("{KEY_PREFIX}:undelivered:{conversation_id}:{seq}"),
            )
        }
        Outgoing::Message {
            conversation_id,
            seq,
            sender_id,
            ..
        } if matches!(error, CarryError::FileTooLarge { .. }) => {
            let Some(peer) = bridge.chat.peer_in(sender_id, conversation_id).await? else {
                return Ok(());
            };
            (
                conversation_id,
                peer,
                format!(
                    "Your file was not delivered to {}: {}.",
                    matrix_name(bridge, peer).await?,
                    error,
                ),
                format!("{KEY_PREFIX}:file-too-large:{conversation_id}:{seq}"),
            )
        }
        // A message refused in a room that exists, a receipt, a name: not the portal's
        // failure; the log says it.
        _ => return Ok(()),
    };
    bridge
        .chat
        .notice_as(speaker_id, conversation_id, &body, &key)
        .await?;
    tracing::info!(
        conversation_id,
        "told the gadka user that the conversation cannot reach Matrix"
    );
    Ok(())
}

/// The Matrix ID of the gadka user `user_id` stands for (their display name, should
/// they have none).
async fn matrix_name(bridge: &Bridge, user_id: i64) -> Result<String, ChatError> {
    Ok(match bridge.chat.find_user(user_id).await? {
        Some(user) => user.matrix_id.unwrap_or(user.display_name),
        None => "this Matrix user".to_owned(),
    })
}

/// Why the portal could not be made, for the gadka user: the homeserver's own code
/// and words when it refused, since they say what the Matrix side would not do.
fn refusal(error: &CarryError) -> String {
    match error {
        CarryError::Homeserver(HomeserverError::Matrix { errcode, error, .. }) => {
            let words = quoted(error);
            if words.is_empty() {
                format!(
                    "the homeserver refused to create the room ({})",
                    quoted(errcode)
                )
            } else {
                format!(
                    "the homeserver refused to create the room ({}: {words})",
                    quoted(errcode)
                )
            }
        }
        CarryError::Homeserver(e) => quoted(&e.to_string()),
        e => format!(
            "the bridge cannot make a room for it ({})",
            quoted(&e.to_string())
        ),
    }
}

/// Words from outside (the homeserver's) as one line of at most [`QUOTED_CHARS`]
/// characters, without the trailing full stop the notice adds itself.
fn quoted(text: &str) -> String {
    let line: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut cut: String = line.chars().take(QUOTED_CHARS).collect();
    if cut.len() < line.len() {
        cut.push('…');
    }
    cut.trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;

    use super::*;

    fn refused(errcode: &str, error: &str) -> CarryError {
        CarryError::Homeserver(HomeserverError::Matrix {
            status: StatusCode::FORBIDDEN,
            errcode: errcode.into(),
            error: error.into(),
        })
    }

    #[test]
    fn a_refusal_says_the_homeservers_code_and_words() {
        assert_eq!(
            refusal(&refused(
                "M_INVITE_BLOCKED",
                "You are not permitted to invite this user."
            )),
            "the homeserver refused to create the room (M_INVITE_BLOCKED: You are not permitted to invite this user)"
        );
        assert_eq!(
            refusal(&refused("M_FORBIDDEN", "")),
            "the homeserver refused to create the room (M_FORBIDDEN)"
        );
    }

    #[test]
    fn the_homeservers_words_are_one_short_line() {
        let long = format!("line one\nline\ttwo {}", "x".repeat(500));
        let words = quoted(&long);
        assert!(!words.chars().any(char::is_control), "{words}");
        assert_eq!(
            words.chars().count(),
            QUOTED_CHARS + 1,
            "cut, with an ellipsis"
        );
        assert!(words.ends_with('…'));
        assert_eq!(quoted("  ok.  "), "ok");
    }
}

//! The socket's wire format: JSON text frames, flat objects with a `type`.
//!
//! Commands from the client are parsed here into [`Command`]; replies to a command
//! are [`Reply`] frames, which echo the command's `req` so a client can match an
//! answer to its question. Events (`message`, `receipt`, `unread`, `typing`,
//! `presence`) are serialised by `chat::events` in the same shape.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chat::views::{Conversation, Hello, Message, UnreadSummary};

/// A command from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Send a message to a conversation or to a user (opening the conversation).
    Send {
        to_user: Option<i64>,
        conversation_id: Option<i64>,
        body: String,
        txn_id: Option<String>,
    },
    /// Move my read marker (never backwards); without `up_to_seq`, to the newest.
    Read {
        conversation_id: i64,
        up_to_seq: Option<i64>,
    },
    /// Open (or create) the conversation with a user, with its latest messages.
    Open { user_id: i64 },
    /// Older messages.
    History {
        conversation_id: i64,
        before_seq: Option<i64>,
        limit: Option<i64>,
    },
    /// Typing indicator, not stored.
    Typing { conversation_id: i64, typing: bool },
    /// After a reconnect: every message since that id, then markers and unread counts.
    Resume { since: i64 },
    /// Application-level keep-alive.
    Ping,
}

/// The `type`s a client may send.
const COMMANDS: [&str; 7] = [
    "send", "read", "open", "history", "typing", "resume", "ping",
];

/// Why a frame could not be understood.
#[derive(Debug)]
pub struct BadFrame {
    pub req: Option<Value>,
    pub code: &'static str,
    pub message: String,
}

/// Parses a text frame into its `req` (if any) and command.
pub fn parse(text: &str) -> Result<(Option<Value>, Command), BadFrame> {
    let value: Value = serde_json::from_str(text).map_err(|e| BadFrame {
        req: None,
        code: "bad_frame",
        message: format!("not a JSON object: {e}"),
    })?;
    let req = value.get("req").cloned();
    let bad = |code, message: String| BadFrame {
        req: req.clone(),
        code,
        message,
    };
    let Some(kind) = value.get("type").and_then(Value::as_str) else {
        return Err(bad(
            "bad_frame",
            "a frame is an object with a string \"type\"".into(),
        ));
    };
    if !COMMANDS.contains(&kind) {
        return Err(bad(
            "unknown_type",
            format!(
                "unknown type {kind:?}; expected one of {}",
                COMMANDS.join(", ")
            ),
        ));
    }
    let command = serde_json::from_value(value.clone())
        .map_err(|e| bad("bad_frame", format!("{kind}: {e}")))?;
    Ok((req, command))
}

/// A frame the server sends in answer to a command (or, `hello`, on connect).
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply<'a> {
    Hello {
        #[serde(flatten)]
        hello: &'a Hello,
    },
    Sent {
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a Value>,
        txn_id: Option<&'a str>,
        message: &'a Message,
    },
    Conversation {
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a Value>,
        conversation: &'a Conversation,
        /// Whether this `open` created it.
        created: bool,
    },
    History {
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a Value>,
        conversation_id: i64,
        messages: &'a [Message],
    },
    Unread {
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a Value>,
        #[serde(flatten)]
        unread: &'a UnreadSummary,
    },
    Pong {
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a Value>,
    },
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a Value>,
        code: &'a str,
        message: &'a str,
    },
}

impl Reply<'_> {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            tracing::error!(error = %e, "serialising a reply");
            String::from(
                "{\"type\":\"error\",\"code\":\"internal\",\"message\":\"internal error\"}",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_their_req() {
        let (req, command) =
            parse(r#"{"type":"send","to_user":2,"body":"hej","txn_id":"c-17","req":5}"#).unwrap();
        assert_eq!(req, Some(Value::from(5)));
        assert!(matches!(
            command,
            Command::Send {
                to_user: Some(2),
                ..
            }
        ));
        let (req, command) = parse(r#"{"type":"resume","since":40}"#).unwrap();
        assert!(req.is_none());
        assert!(matches!(command, Command::Resume { since: 40 }));
    }

    #[test]
    fn bad_frames_say_why_and_keep_the_req() {
        let bad = parse("{nope").unwrap_err();
        assert_eq!(bad.code, "bad_frame");
        let bad = parse(r#"{"type":"dance","req":"r1"}"#).unwrap_err();
        assert_eq!(bad.code, "unknown_type");
        assert_eq!(bad.req, Some(Value::from("r1")));
        let bad = parse(r#"{"type":"read","req":3}"#).unwrap_err();
        assert_eq!(bad.code, "bad_frame");
        assert!(bad.message.contains("conversation_id"), "{}", bad.message);
        assert_eq!(parse("[1]").unwrap_err().code, "bad_frame");
    }
}

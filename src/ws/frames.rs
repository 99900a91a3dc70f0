//! The socket's wire format: JSON text frames, flat objects with a `type`.
//!
//! Commands from the client are parsed here into [`Command`]; replies to a command
//! are [`Reply`] frames, which echo the command's `req` so a client can match an
//! answer to its question. Events (`message`, `receipt`, `unread`, `typing`,
//! `presence`, `profile`, `message_edited`, `message_deleted`, `reaction`) are
//! serialised by `chat::events` in the same shape.

use std::borrow::Cow;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::value::RawValue;

use crate::{
    chat::views::{Conversation, Hello, Message, Posted, UnreadSummary},
    ids::Position,
};

/// A command from the client.
#[derive(Debug)]
pub enum Command {
    /// Send a message to a conversation or to a user (opening the conversation).
    Send(Send),
    /// Move my read marker (never backwards); without `up_to_seq`, to the newest.
    Read(Read),
    /// Open (or create) the conversation with a user, with its latest messages.
    Open(Open),
    /// Older messages.
    History(History),
    /// Typing indicator, not stored.
    Typing(Typing),
    /// After a reconnect: every message and change after that position, then the
    /// unread counts.
    Resume(Resume),
    /// Replace the body of one of my messages.
    Edit(Edit),
    /// Delete one of my messages.
    Delete(Delete),
    /// Add or take back a reaction.
    React(React),
    /// Application-level keep-alive.
    Ping,
}

#[derive(Debug, Deserialize)]
pub struct Send {
    pub to_user: Option<i64>,
    pub conversation_id: Option<i64>,
    /// Only a message that carries a file may go without one.
    pub body: Option<String>,
    pub txn_id: Option<String>,
    pub reply_to: Option<i64>,
    pub media_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Edit {
    pub conversation_id: i64,
    pub seq: i64,
    pub body: String,
}

#[derive(Debug, Deserialize)]
pub struct Delete {
    pub conversation_id: i64,
    pub seq: i64,
}

#[derive(Debug, Deserialize)]
pub struct React {
    pub conversation_id: i64,
    pub seq: i64,
    pub key: String,
    pub on: bool,
}

#[derive(Debug, Deserialize)]
pub struct Read {
    pub conversation_id: i64,
    pub up_to_seq: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct Open {
    pub user_id: i64,
}

#[derive(Debug, Deserialize)]
pub struct History {
    pub conversation_id: i64,
    pub before_seq: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct Typing {
    pub conversation_id: i64,
    pub typing: bool,
}

#[derive(Debug, Deserialize)]
pub struct Resume {
    /// A position: `hello.position`, or any message id or event `pos` seen since.
    pub since: Position,
}

/// The `type`s a client may send.
const COMMANDS: [&str; 10] = [
    "send", "read", "open", "history", "typing", "resume", "edit", "delete", "react", "ping",
];

/// Why a frame could not be understood.
#[derive(Debug)]
pub struct BadFrame {
    pub req: Option<Box<RawValue>>,
    pub code: &'static str,
    pub message: String,
}

/// The two fields every frame may have; the rest is read by the command's own type.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    req: Option<&'a RawValue>,
}

/// Parses a text frame into its `req` (if any) and command. The frame is read
/// straight into typed structs (no `serde_json::Value` in between), and `req` is kept
/// as raw JSON to echo back unchanged.
pub fn parse(text: &str) -> Result<(Option<Box<RawValue>>, Command), BadFrame> {
    let not_an_object = |e: String| BadFrame {
        req: None,
        code: "bad_frame",
        message: format!("not a JSON object: {e}"),
    };
    if !text.trim_start().starts_with('{') {
        return Err(not_an_object("expected `{`".into()));
    }
    let envelope: Envelope =
        serde_json::from_str(text).map_err(|e| not_an_object(e.to_string()))?;
    let req = envelope.req.map(RawValue::to_owned);
    let bad = |req: Option<Box<RawValue>>, code, message: String| BadFrame { req, code, message };
    let Some(kind) = envelope.kind else {
        return Err(bad(
            req,
            "bad_frame",
            "a frame is an object with a string \"type\"".into(),
        ));
    };
    fn body<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(text)
    }
    let command = match kind.as_ref() {
        "send" => body(text).and_then(|send: Send| {
            if send.body.is_none() && send.media_id.is_none() {
                Err(serde::de::Error::missing_field("body"))
            } else {
                Ok(Command::Send(send))
            }
        }),
        "read" => body(text).map(Command::Read),
        "open" => body(text).map(Command::Open),
        "history" => body(text).map(Command::History),
        "typing" => body(text).map(Command::Typing),
        "resume" => body(text).map(Command::Resume),
        "edit" => body(text).map(Command::Edit),
        "delete" => body(text).map(Command::Delete),
        "react" => body(text).map(Command::React),
        "ping" => Ok(Command::Ping),
        other => {
            return Err(bad(
                req,
                "unknown_type",
                format!(
                    "unknown type {other:?}; expected one of {}",
                    COMMANDS.join(", ")
                ),
            ));
        }
    };
    match command {
        Ok(command) => Ok((req, command)),
        Err(e) => Err(bad(req, "bad_frame", format!("{kind}: {e}"))),
    }
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
        req: Option<&'a RawValue>,
        txn_id: Option<&'a str>,
        message: &'a Posted,
    },
    Conversation {
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a RawValue>,
        conversation: &'a Conversation,
        /// Whether this `open` created it.
        created: bool,
    },
    History {
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a RawValue>,
        conversation_id: i64,
        messages: &'a [Message],
    },
    Unread {
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a RawValue>,
        #[serde(flatten)]
        unread: &'a UnreadSummary,
    },
    Edited {
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a RawValue>,
        message: &'a Message,
    },
    Deleted {
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a RawValue>,
        conversation_id: i64,
        seq: i64,
    },
    Reacted {
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a RawValue>,
        conversation_id: i64,
        seq: i64,
        key: &'a str,
        on: bool,
    },
    Pong {
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a RawValue>,
    },
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<&'a RawValue>,
        code: &'a str,
        message: &'a str,
        /// With `rate_limited` and `busy`: when the command may be tried again.
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u64>,
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
    use crate::ids::{ConversationId, MessageId, Seq, UserId};

    #[test]
    fn commands_parse_with_their_req() {
        let (req, command) =
            parse(r#"{"type":"send","to_user":2,"body":"hej","txn_id":"c-17","req":5}"#).unwrap();
        assert_eq!(req.unwrap().get(), "5");
        assert!(matches!(
            command,
            Command::Send(Send {
                to_user: Some(2),
                ..
            })
        ));
        let (req, command) = parse(r#"{"type":"resume","since":40,"req":{"a":[1]}}"#).unwrap();
        assert_eq!(req.unwrap().get(), r#"{"a":[1]}"#);
        assert!(matches!(command, Command::Resume(Resume { since }) if since == Position::new(40)));
    }

    #[test]
    fn bad_frames_say_why_and_keep_the_req() {
        let bad = parse("{nope").unwrap_err();
        assert_eq!(bad.code, "bad_frame");
        let bad = parse(r#"{"type":"dance","req":"r1"}"#).unwrap_err();
        assert_eq!(bad.code, "unknown_type");
        assert_eq!(bad.req.unwrap().get(), r#""r1""#);
        let bad = parse(r#"{"type":"read","req":3}"#).unwrap_err();
        assert_eq!(bad.code, "bad_frame");
        assert!(bad.message.contains("conversation_id"), "{}", bad.message);
        assert_eq!(parse("[1]").unwrap_err().code, "bad_frame");
        assert_eq!(parse(r#"{"type":5}"#).unwrap_err().code, "bad_frame");
    }

    /// `sent` and the recipient's `message` embed one serialisation of the message;
    /// both must still read as if each had serialised it.
    #[test]
    fn a_shared_message_reads_the_same_in_sent_and_message() {
        let message = Message {
            id: MessageId::new(7),
            conversation_id: ConversationId::new(2),
            seq: Seq::new(3),
            sender_id: UserId::new(1),
            body: "a \"quoted\" line\nand <b>".into(),
            created_at: "2026-11-26T12:00:00.000Z".into(),
            read: false,
            txn_id: Some("c-1".into()),
            kind: crate::store::MessageKind::Message,
            reply_to: None,
            edited_at: None,
            deleted: false,
            reactions: Vec::new(),
            attachment: None,
        };
        let expected = serde_json::to_value(&message).unwrap();
        let posted = std::sync::Arc::new(Posted::new(message));
        let event = crate::chat::events::Event::Message {
            message: posted.clone(),
        }
        .delivery();
        let event: serde_json::Value = serde_json::from_str(event.text.as_str()).unwrap();
        assert_eq!(event["type"], "message");
        assert_eq!(event["message"], expected);
        let req = RawValue::from_string("9".into()).unwrap();
        let sent = Reply::Sent {
            req: Some(&req),
            txn_id: Some("c-1"),
            message: &posted,
        }
        .to_json();
        let sent: serde_json::Value = serde_json::from_str(&sent).unwrap();
        assert_eq!(
            (&sent["type"], &sent["req"], &sent["txn_id"]),
            (&"sent".into(), &9.into(), &"c-1".into())
        );
        assert_eq!(sent["message"], expected);
    }
}

//! The few frames the load generator writes and reads, handled without building a
//! `serde_json::Value` per frame.
//!
//! At a few hundred thousand frames a second a general-purpose parse would make the
//! client, not the server, the bottleneck. Outgoing `send` frames are spliced from a
//! prefix built once per sender. Incoming frames are scanned for the two facts the tool
//! needs: the frame's `type` and which of our messages it is about. The scan only
//! handles the compact form that serde writes (`{"type":"…",…}`, no spaces); anything
//! else falls back to a borrowed `#[derive(Deserialize)]` parse of just those fields.
//!
//! A message is named by its counter, the sender's running number, so that the send
//! time can live in a plain vector indexed by it. The counter travels twice: at the end
//! of the `txn_id` (`"<pair>-<counter>"`, echoed in `sent` and, by gadka, in the pushed
//! `message`) and at the start of the body, for a server that does not echo `txn_id` to
//! the recipient.

use std::{borrow::Cow, sync::LazyLock};

use anyhow::Context;
use memchr::memmem::{Finder, FinderRev};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message;

/// What an incoming frame is, as far as the load generator cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// `hello`, the first frame on a socket.
    Hello,
    /// `sent`: the server committed one of our sends; the counter if it is one of ours.
    Sent(Option<u64>),
    /// `message`: a message pushed to this socket; the counter if it is one of ours.
    Message(Option<u64>),
    /// `error`: the server refused a command.
    Error,
    /// Anything else (`presence`, `unread`, `pong`, …).
    Other,
}

/// Reads the type of a server frame and, for `sent` and `message`, our counter.
///
/// Fails only when the text is not a JSON object with a string `type`.
pub fn classify(text: &str) -> anyhow::Result<Frame> {
    match scan(text) {
        Some(frame) => Ok(frame),
        None => parse(text),
    }
}

/// The fast path: the compact serde layout, `type` first.
fn scan(text: &str) -> Option<Frame> {
    let rest = text.strip_prefix(r#"{"type":""#)?;
    let kind = &rest[..rest.find('"')?];
    Some(match kind {
        "sent" => Frame::Sent(counter_in(text)),
        "message" => Frame::Message(counter_in(text)),
        "hello" => Frame::Hello,
        "error" => Frame::Error,
        // An escaped type would need the slow path to be read right.
        k if k.ends_with('\\') => return None,
        _ => Frame::Other,
    })
}

const TXN_KEY: &str = r#""txn_id":""#;
const BODY_KEY: &str = r#""body":""#;
/// The searchers are built once; each frame is then scanned with SIMD.
static TXN: LazyLock<FinderRev<'static>> = LazyLock::new(|| FinderRev::new(TXN_KEY));
static BODY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(BODY_KEY));

/// Our counter, from a `txn_id` (in `sent` the top-level one and the message's are the
/// same) or else from the start of the body.
///
/// The byte sequence `"key":"` cannot occur inside a JSON string (its quotes would be
/// escaped), so a match is a real key. `txn_id` is searched from the end, where both
/// servers put the message's, so that the body is not scanned; in the frames this tool
/// reads, `txn_id` and `body` occur only at one level.
fn counter_in(text: &str) -> Option<u64> {
    let txn = TXN
        .rfind(text.as_bytes())
        .and_then(|at| string_at(text, at + TXN_KEY.len()));
    match txn {
        Some(txn) => counter_of_txn(txn),
        None => BODY
            .find(text.as_bytes())
            .and_then(|at| string_at(text, at + BODY_KEY.len()))
            .and_then(counter_of_body),
    }
}

/// The raw text of the string value starting at byte `start` (escapes left as they
/// are), up to its closing quote.
fn string_at(text: &str, start: usize) -> Option<&str> {
    let rest = text.get(start..)?;
    memchr::memchr(b'"', rest.as_bytes()).and_then(|end| rest.get(..end))
}

/// `"<pair>-<counter>"` → counter; anything else is not ours.
fn counter_of_txn(txn: &str) -> Option<u64> {
    let (pair, counter) = txn.rsplit_once('-')?;
    if pair.is_empty() || !pair.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits(counter)
}

/// A body written by [`SendEncoder`] starts with the counter.
fn counter_of_body(body: &str) -> Option<u64> {
    let end = body
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(body.len());
    digits(&body[..end])
}

/// A non-empty run of ASCII digits that fits a `u64`.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The fields the slow path reads; serde skips the rest without allocating.
#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    txn_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    message: Option<IncomingMessage<'a>>,
}

#[derive(Deserialize)]
struct IncomingMessage<'a> {
    #[serde(default, borrow)]
    txn_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    body: Option<Cow<'a, str>>,
}

/// The slow path: any JSON layout.
fn parse(text: &str) -> anyhow::Result<Frame> {
    let frame: Incoming = serde_json::from_str(text)
        .with_context(|| format!("an unreadable frame from the server: {}", excerpt(text)))?;
    let counter = || {
        let message = frame.message.as_ref();
        let txn = frame
            .txn_id
            .as_deref()
            .or_else(|| message.and_then(|m| m.txn_id.as_deref()));
        match txn {
            Some(txn) => counter_of_txn(txn),
            None => message
                .and_then(|m| m.body.as_deref())
                .and_then(counter_of_body),
        }
    };
    Ok(match &*frame.kind {
        "sent" => Frame::Sent(counter()),
        "message" => Frame::Message(counter()),
        "hello" => Frame::Hello,
        "error" => Frame::Error,
        _ => Frame::Other,
    })
}

/// The start of a frame, for error messages (frames can be large).
pub fn excerpt(text: &str) -> &str {
    const MAX: usize = 300;
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Writes one sender's `send` frames: the constant part is built once, and each frame
/// costs one allocation of its final size.
pub struct SendEncoder {
    /// `{"type":"send","conversation_id":ID,"txn_id":"PAIR-`
    head: String,
    /// `body_bytes` filler characters, sliced to pad each body.
    filler: String,
}

impl SendEncoder {
    /// Frames for conversation `conversation_id`, from the sender of pair `pair`, with
    /// bodies of `body_bytes` bytes (or just the counter, if that is longer).
    pub fn new(conversation_id: i64, pair: usize, body_bytes: usize) -> Self {
        Self {
            head: format!(
                r#"{{"type":"send","conversation_id":{conversation_id},"txn_id":"{pair}-"#
            ),
            filler: "x".repeat(body_bytes),
        }
    }

    /// The frame for message number `counter`.
    pub fn frame(&self, counter: u64) -> Message {
        const MIDDLE: &str = r#"","body":""#;
        const TAIL: &str = r#""}"#;
        let mut buf = [0u8; 20];
        let number = decimal(counter, &mut buf);
        let pad = self.filler.len().saturating_sub(number.len());
        let mut text = String::with_capacity(
            self.head.len() + 2 * number.len() + MIDDLE.len() + pad + TAIL.len(),
        );
        text.push_str(&self.head);
        text.push_str(number);
        text.push_str(MIDDLE);
        text.push_str(number);
        text.push_str(&self.filler[..pad]);
        text.push_str(TAIL);
        Message::text(text)
    }
}

/// `n` in decimal, written into the end of `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[i..]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_relay_and_gadka_layouts() {
        let sent = r#"{"type":"sent","txn_id":"3-41","message":{"id":9,"conversation_id":2,"seq":1,"sender_id":5,"body":"41xxx","created_at":"2025-01-01T00:00:00.000Z","read":false,"txn_id":"3-41"}}"#;
        assert_eq!(classify(sent).unwrap(), Frame::Sent(Some(41)));
        let message = r#"{"type":"message","message":{"id":9,"conversation_id":2,"seq":1,"sender_id":5,"body":"7xx","created_at":"x","read":false,"txn_id":"0-7"}}"#;
        assert_eq!(classify(message).unwrap(), Frame::Message(Some(7)));
        assert_eq!(
            classify(r#"{"type":"hello","me":{"id":1}}"#).unwrap(),
            Frame::Hello
        );
        assert_eq!(
            classify(r#"{"type":"presence","user_id":1,"online":true}"#).unwrap(),
            Frame::Other
        );
        assert_eq!(
            classify(r#"{"type":"error","code":"x","message":"y"}"#).unwrap(),
            Frame::Error
        );
    }

    #[test]
    fn falls_back_to_the_body_without_txn_id() {
        let message = r#"{"type":"message","message":{"id":9,"body":"1234xxxx","seq":1}}"#;
        assert_eq!(classify(message).unwrap(), Frame::Message(Some(1234)));
        let spaced = r#"{ "type": "message", "message": { "body": "55" } }"#;
        assert_eq!(classify(spaced).unwrap(), Frame::Message(Some(55)));
    }

    #[test]
    fn reads_other_layouts_through_serde() {
        let reordered = r#"{"message":{"txn_id":"1-8","body":"8"},"txn_id":"1-8","type":"sent"}"#;
        assert_eq!(classify(reordered).unwrap(), Frame::Sent(Some(8)));
        let spaced = r#"{ "type" : "sent", "txn_id" : "2-19" }"#;
        assert_eq!(classify(spaced).unwrap(), Frame::Sent(Some(19)));
    }

    #[test]
    fn foreign_messages_have_no_counter() {
        let other = r#"{"type":"message","message":{"body":"hi there","txn_id":"web-\"x\""}}"#;
        assert_eq!(classify(other).unwrap(), Frame::Message(None));
        let no_txn = r#"{"type":"message","message":{"body":"hi"}}"#;
        assert_eq!(classify(no_txn).unwrap(), Frame::Message(None));
    }

    #[test]
    fn refuses_what_is_not_a_frame() {
        assert!(classify("not json").is_err());
        assert!(classify(r#"{"kind":"sent"}"#).is_err());
        assert!(classify("").is_err());
    }

    #[test]
    fn encodes_frames_that_read_back() {
        let encoder = SendEncoder::new(12, 3, 10);
        let Message::Text(text) = encoder.frame(4567) else {
            panic!("a text frame");
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "send");
        assert_eq!(v["conversation_id"], 12);
        assert_eq!(v["txn_id"], "3-4567");
        assert_eq!(v["body"], "4567xxxxxx");
        // The body is never shorter than the counter.
        let Message::Text(text) = SendEncoder::new(1, 0, 0).frame(0) else {
            panic!("a text frame");
        };
        assert!(text.contains(r#""body":"0""#));
        let mut buf = [0; 20];
        assert_eq!(decimal(u64::MAX, &mut buf), u64::MAX.to_string());
    }
}

//! The values clients send, parsed once into types that can only hold valid values
//! ("parse, don't validate"): code past the parse never checks them again.
//!
//! Each type also states its rule as a JSON Schema `pattern` (ECMA-262 syntax, which
//! Python's and Rust's regex engines read the same way here), which the API's OpenAPI
//! document publishes. The tests below check every pattern against its `parse`, so
//! the document and the server cannot drift apart.
//!
//! The patterns spell character classes out instead of using `\s`: `\s` means
//! different sets in ECMA-262, Python and Rust, while the server's notion of
//! whitespace is Rust's `char::is_whitespace` (the Unicode `White_Space` property):
//! U+0009–U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029,
//! U+202F, U+205F, U+3000. "Control characters" are `char::is_control` (category
//! Cc): U+0000–U+001F and U+007F–U+009F.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

use super::ChatError;
use crate::{ids::ConversationId, store::ListKey};

/// A username: 3 to 32 of `a-z A-Z 0-9 . _ -`, starting with a letter or digit.
///
/// Usernames are case-insensitive, so they are folded to lower case on the way in;
/// lower case is also what Matrix localparts allow, which the bridge relies on. They
/// are not trimmed: what the pattern refuses, the server refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]{2,31}$";

    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        let bytes = raw.as_bytes();
        let ok_len = (3..=32).contains(&bytes.len());
        let ok_chars = bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        let ok_start = bytes.first().is_some_and(u8::is_ascii_alphanumeric);
        if ok_len && ok_chars && ok_start {
            Ok(Self(raw.to_ascii_lowercase()))
        } else {
            Err(ChatError::invalid(
                "username",
                "3 to 32 characters: letters a-z, digits, '.', '_' or '-', starting with a letter or digit",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password: 8 to 1024 characters. The upper bound keeps hashing cheap enough not to
/// be a denial-of-service lever; it counts characters, as JSON Schema's `maxLength`
/// does, so the document can state it exactly.
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            Err(ChatError::invalid("password", "at least 8 characters"))
        } else if chars > Self::MAX_CHARS {
            Err(ChatError::invalid("password", "at most 1024 characters"))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

/// A display name: at most 64 characters, no control characters, not blank; kept
/// without its leading and trailing whitespace.
#[derive(Debug, Clone)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 64;
    /// Optional whitespace (none of it a control character), a character that is
    /// neither, then anything but control characters.
    pub const PATTERN: &str = r"^[\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000-\u001f\u007f-\u009f\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$";

    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || raw.chars().count() > Self::MAX_CHARS {
            Err(ChatError::invalid("display_name", "1 to 64 characters"))
        } else if raw.chars().any(char::is_control) {
            Err(ChatError::invalid("display_name", "no control characters"))
        } else {
            Ok(Self(trimmed.to_owned()))
        }
    }

    /// The display name nearest to a name kept elsewhere (a Matrix profile), which
    /// follows other rules: control characters dropped, trimmed, cut to
    /// [`DisplayName::MAX_CHARS`]; `None` when nothing is left.
    pub fn nearest(raw: &str) -> Option<Self> {
        let visible: String = raw.chars().filter(|c| !c.is_control()).collect();
        let cut: String = visible.trim().chars().take(Self::MAX_CHARS).collect();
        let cut = cut.trim();
        (!cut.is_empty()).then(|| Self(cut.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A message body: not blank, no NUL (PostgreSQL cannot store one in text), at most
/// the configured number of bytes.
#[derive(Debug, Clone)]
pub struct MessageBody(String);

impl MessageBody {
    /// Optional whitespace, a character that is neither whitespace nor NUL, then
    /// anything but NUL. The byte limit is configured, so the document adds it.
    pub const PATTERN: &str = r"^[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\u0000\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000]*$";

    pub fn parse(raw: &str, max_bytes: usize) -> Result<Self, ChatError> {
        if raw.trim().is_empty() {
            Err(ChatError::invalid("body", "may not be empty"))
        } else if raw.contains('\0') {
            Err(ChatError::invalid("body", "may not contain NUL characters"))
        } else if raw.len() > max_bytes {
            Err(ChatError::TooLarge {
                field: "body",
                limit: max_bytes,
            })
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The validated value, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A client's idempotency key for a send: 1 to 128 characters, no control characters.
#[derive(Debug, Clone)]
pub struct TxnId(String);

impl TxnId {
    pub const MAX_CHARS: usize = 128;
    pub const PATTERN: &str = r"^[^\u0000-\u001f\u007f-\u009f]+$";

    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        if raw.is_empty()
            || raw.chars().count() > Self::MAX_CHARS
            || raw.chars().any(char::is_control)
        {
            Err(ChatError::invalid(
                "txn_id",
                "1 to 128 characters, no control characters",
            ))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The validated value, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Text to find in names: at most 64 characters and no control characters (no name
/// holds one); searched for trimmed and in lower case.
#[derive(Debug, Clone)]
pub struct SearchText(String);

impl SearchText {
    pub const MAX_CHARS: usize = 64;
    pub const PATTERN: &str = r"^[^\u0000-\u001f\u007f-\u009f]*$";

    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        if raw.chars().count() > Self::MAX_CHARS {
            Err(ChatError::invalid("q", "at most 64 characters"))
        } else if raw.chars().any(char::is_control) {
            Err(ChatError::invalid("q", "no control characters"))
        } else {
            Ok(Self(raw.trim().to_lowercase()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where the next page of the conversation list starts: opaque to clients, which only
/// hand back the `next_cursor` a page came with.
///
/// It is the last conversation's key (`last_activity_at`, `id`), 16 bytes big-endian,
/// in unpadded base64url: always 22 characters, the last one carrying two bits and
/// four zero bits. The pattern says exactly that, so every string it matches is a
/// cursor (one past every conversation leads to an empty page) and no other is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor(pub ListKey);

impl ListCursor {
    pub const PATTERN: &str = r"^[A-Za-z0-9_-]{21}[AQgw]$";

    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        let bytes: [u8; 16] = URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| ChatError::invalid("cursor", "not a cursor this server handed out"))?;
        // The two halves, each an i64's bits.
        let key = u128::from_be_bytes(bytes);
        Ok(Self(ListKey {
            last_activity_at: (key >> 64) as i64,
            id: ConversationId::new(key as i64),
        }))
    }

    pub fn encode(self) -> String {
        let high = u128::from(self.0.last_activity_at as u64) << 64;
        let low = u128::from(self.0.id.get() as u64);
        URL_SAFE_NO_PAD.encode((high | low).to_be_bytes())
    }
}

/// A page size: at least 1; larger than `max` is served as `max`.
pub fn page_size(
    field: &'static str,
    requested: Option<i64>,
    default: u64,
    max: u64,
) -> Result<u64, ChatError> {
    match requested {
        None => Ok(default),
        Some(n) if n >= 1 => Ok((n as u64).min(max)),
        Some(_) => Err(ChatError::invalid(field, "must be at least 1")),
    }
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;

    #[test]
    fn usernames_fold_case_and_refuse_odd_characters() {
        assert_eq!(Username::parse("Alice_1").unwrap().as_str(), "alice_1");
        for bad in [
            "al",
            "a".repeat(33).as_str(),
            "ali ce",
            " alice",
            "_alice",
            "alicé",
            "<b>",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bodies_are_not_blank_and_not_too_long() {
        assert!(MessageBody::parse("  \n", 10).is_err());
        assert!(matches!(
            MessageBody::parse("elevenbytes", 10),
            Err(ChatError::TooLarge { .. })
        ));
        assert!(MessageBody::parse("a\0b", 10).is_err());
        assert_eq!(MessageBody::parse("hej", 10).unwrap().as_str(), "hej");
    }

    #[test]
    fn display_names_are_trimmed_and_counted_whole() {
        assert_eq!(DisplayName::parse(" Anna A. ").unwrap().as_str(), "Anna A.");
        assert!(DisplayName::parse(&format!(" {}", "x".repeat(64))).is_err());
        assert!(DisplayName::parse("Anna\n").is_err());
    }

    #[test]
    fn the_nearest_display_name_is_one_parse_takes() {
        let cases = [
            "  Alice \u{7} A. ",
            &"x".repeat(100),
            &format!("{} y", "x".repeat(63)),
        ];
        for raw in cases {
            let near = DisplayName::nearest(raw).expect("a name");
            let again = DisplayName::parse(near.as_str()).expect("a valid name");
            assert_eq!(again.as_str(), near.as_str(), "{raw:?}");
        }
        assert_eq!(
            DisplayName::nearest("  Alice \u{7} A. ").unwrap().as_str(),
            "Alice  A."
        );
        assert!(DisplayName::nearest(" \n \u{7} ").is_none());
    }

    #[test]
    fn a_cursor_reads_back_the_key_it_was_made_from() {
        let pattern = Regex::new(ListCursor::PATTERN).unwrap();
        for (last_activity_at, id) in [(0, 1), (1_790_000_000_123, 42), (-1, i64::MAX)] {
            let cursor = ListCursor(ListKey {
                last_activity_at,
                id: ConversationId::new(id),
            });
            let text = cursor.encode();
            assert!(pattern.is_match(&text), "{text}");
            assert_eq!(ListCursor::parse(&text).unwrap(), cursor);
        }
        assert!(ListCursor::parse("").is_err());
    }

    #[test]
    fn page_sizes_clamp_above_and_refuse_below_one() {
        assert_eq!(page_size("limit", None, 10, 100).unwrap(), 10);
        assert_eq!(page_size("limit", Some(1000), 10, 100).unwrap(), 100);
        assert!(page_size("limit", Some(0), 10, 100).is_err());
    }

    /// Every character whose class matters (all whitespace and control characters
    /// are below U+3100), and a spread of the rest.
    fn characters() -> impl Iterator<Item = char> {
        (0..0x3100)
            .chain((0x3100..=0x10ffff).step_by(257))
            .filter_map(char::from_u32)
    }

    /// Asserts that `pattern` matches exactly the strings `rule` accepts, for strings
    /// built around every character of [`characters`]. (Lengths are stated apart from
    /// the patterns, as `minLength`/`maxLength`; the shapes stay short.)
    #[track_caller]
    fn pattern_agrees(pattern: &str, rule: impl Fn(&str) -> bool, shapes: &[fn(char) -> String]) {
        let regex = Regex::new(pattern).expect("a valid pattern");
        for c in characters() {
            for shape in shapes {
                let s = shape(c);
                assert_eq!(
                    regex.is_match(&s),
                    rule(&s),
                    "{pattern} on {s:?} (U+{:04X})",
                    c as u32
                );
            }
        }
    }

    #[test]
    fn the_published_patterns_say_what_the_rules_do() {
        pattern_agrees(
            Username::PATTERN,
            |s| Username::parse(s).is_ok(),
            &[
                |c| format!("{c}ab"),
                |c| format!("ab{c}"),
                |c| format!("a{c}b"),
                |c| format!("{c}{}", "a".repeat(31)),
                |c| format!("{}{c}", "a".repeat(32)),
            ],
        );
        let max = 1 << 20;
        pattern_agrees(
            MessageBody::PATTERN,
            |s| MessageBody::parse(s, max).is_ok(),
            &[
                |c| c.to_string(),
                |c| format!(" {c}"),
                |c| format!("{c} "),
                |c| format!("a{c}"),
                |c| format!("{c}a"),
                |c| format!("\u{3000}{c}\n"),
            ],
        );
        pattern_agrees(
            DisplayName::PATTERN,
            |s| DisplayName::parse(s).is_ok(),
            &[
                |c| c.to_string(),
                |c| format!(" {c} "),
                |c| format!("a{c}"),
                |c| format!("{c}a"),
                |c| format!("\u{a0}{c}\u{3000}"),
            ],
        );
        pattern_agrees(
            TxnId::PATTERN,
            |s| TxnId::parse(s).is_ok(),
            &[|c| c.to_string(), |c| format!("a{c}"), |c| format!("{c}a")],
        );
        pattern_agrees(
            SearchText::PATTERN,
            |s| SearchText::parse(s).is_ok(),
            &[|c| c.to_string(), |c| format!("a{c}"), |c| format!(" {c} ")],
        );
        pattern_agrees(
            ListCursor::PATTERN,
            |s| ListCursor::parse(s).is_ok(),
            &[
                |c| format!("{}{c}", "A".repeat(21)),
                |c| format!("{c}{}", "A".repeat(21)),
                |c| format!("_-{c}{}", "9".repeat(18)),
                |c| format!("{}{c}", "A".repeat(20)),
                |c| format!("{}{c}", "A".repeat(22)),
                |c| format!("{}{c}==", "A".repeat(21)),
            ],
        );
        assert!(Regex::new(SearchText::PATTERN).unwrap().is_match(""));
        assert!(!Regex::new(TxnId::PATTERN).unwrap().is_match(""));
    }
}

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

use std::sync::LazyLock;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

use gadka_text::{
    chars::{is_bidi_control, is_combining_mark, is_invisible, run_starts},
    search::key,
};

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

/// A display name: at most 64 characters, at least one of which shows (not only
/// whitespace, invisible characters and combining marks: U+200B, the Hangul filler
/// U+3164 and the braille blank U+2800 show nothing); no control characters and no
/// bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C), which
/// would reorder what is shown after the name (`admin\u{202E}gnp.exe`); at most 4
/// combining marks in a row, enough for any script's accents and vowel signs, too few
/// to draw over the lines around. Kept without its leading and trailing whitespace.
#[derive(Debug, Clone)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 64;
    pub const MAX_MARKS_IN_A_ROW: usize = 4;

    /// The rule as a pattern (see [`display_name_pattern`]).
    pub fn pattern() -> &'static str {
        static PATTERN: LazyLock<String> = LazyLock::new(display_name_pattern);
        &PATTERN
    }

    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        let invalid = |message| Err(ChatError::invalid("display_name", message));
        if raw.chars().count() > Self::MAX_CHARS {
            invalid("at most 64 characters")
        } else if raw.chars().any(char::is_control) {
            invalid("no control characters")
        } else if raw.chars().any(is_bidi_control) {
            invalid(
                "no bidirectional controls (U+202A to U+202E, U+2066 to U+2069, U+200E, U+200F, \
                 U+061C): they reorder the text around the name",
            )
        } else if longest_run_of_marks(raw.chars()) > Self::MAX_MARKS_IN_A_ROW {
            invalid("at most 4 combining marks in a row")
        } else if !raw.chars().any(shows) {
            invalid(
                "at least one visible character: not only spaces, invisible characters or combining marks",
            )
        } else {
            Ok(Self(raw.trim().to_owned()))
        }
    }

    /// The display name nearest to a name kept elsewhere (a Matrix profile), which
    /// follows other rules: control characters and bidirectional controls dropped,
    /// combining marks past the fourth in a row dropped, trimmed, cut to
    /// [`DisplayName::MAX_CHARS`]; `None` when nothing visible is left.
    pub fn nearest(raw: &str) -> Option<Self> {
        let mut kept = String::with_capacity(raw.len());
        let mut marks = 0;
        for c in raw.chars() {
            if c.is_control() || is_bidi_control(c) {
                continue;
            }
            marks = if is_combining_mark(c) { marks + 1 } else { 0 };
            if marks <= Self::MAX_MARKS_IN_A_ROW {
                kept.push(c);
            }
        }
        let cut: String = kept.trim().chars().take(Self::MAX_CHARS).collect();
        let cut = cut.trim();
        cut.chars().any(shows).then(|| Self(cut.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Whether a character shows by itself in a name.
fn shows(c: char) -> bool {
    !c.is_control() && !is_bidi_control(c) && !is_invisible(c) && !is_combining_mark(c)
}

fn longest_run_of_marks(chars: impl Iterator<Item = char>) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in chars {
        run = if is_combining_mark(c) { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    longest
}

/// [`DisplayName::parse`]'s rule as a pattern, built from the same character classes:
/// M, the combining marks; I, the invisible characters; V, the characters that show;
/// B, all but marks; none of them a control character or a bidirectional control.
/// `(M{0,4}I)*M{0,4}V(M{0,4}B)*M{0,4}`: up to the first character that shows, then
/// anything, with never more than 4 marks between two other characters. The classes
/// are spelled out, as ECMA-262 and Python know no Unicode property classes; a
/// character above U+FFFF stands as itself, since ECMA-262 has no escape for one that
/// Python and Rust read too. (Lengths are `minLength`/`maxLength`.)
fn display_name_pattern() -> String {
    let refused = |c: char| c.is_control() || is_bidi_control(c);
    let marks = class(false, is_combining_mark);
    let invisible = class(false, |c| {
        is_invisible(c) && !refused(c) && !is_combining_mark(c)
    });
    let visible = class(true, |c| !shows(c));
    let not_marks = class(true, |c| refused(c) || is_combining_mark(c));
    let run = format!("{marks}{{0,{}}}", DisplayName::MAX_MARKS_IN_A_ROW);
    format!("^(?:{run}{invisible})*{run}{visible}(?:{run}{not_marks})*{run}$")
}

/// A character class of the characters `member` holds (`negated`: of all others), as
/// ranges. `member` is asked once per run of [`run_starts`], so it must be made of the
/// classes those runs follow.
fn class(negated: bool, member: impl Fn(char) -> bool) -> String {
    let starts = run_starts();
    let mut ranges: Vec<(char, char)> = Vec::new();
    for (i, &start) in starts.iter().enumerate() {
        let end = starts
            .get(i + 1)
            .map_or(u32::from(char::MAX), |next| next - 1);
        // The surrogates are a run of their own, and no `char`.
        let (Some(first), Some(last)) = (char::from_u32(start), char::from_u32(end)) else {
            continue;
        };
        if !member(first) {
            continue;
        }
        match ranges.last_mut() {
            Some((_, end)) if u32::from(*end) + 1 == start => *end = last,
            _ => ranges.push((first, last)),
        }
    }
    let one = |c: char| match u16::try_from(u32::from(c)) {
        Ok(bmp) => format!("\\u{bmp:04x}"),
        Err(_) => c.to_string(),
    };
    let mut class = String::from(if negated { "[^" } else { "[" });
    for (start, end) in ranges {
        class.push_str(&one(start));
        if end != start {
            class.push('-');
            class.push_str(&one(end));
        }
    }
    class.push(']');
    class
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

/// A message carries at most this many different reaction keys.
pub const MAX_REACTION_KEYS: usize = 20;

/// A reaction's key: in practice one emoji, but any short text: 1 to 64 bytes, no
/// control characters, not only whitespace.
#[derive(Debug, Clone)]
pub struct ReactionKey(String);

impl ReactionKey {
    pub const MAX_BYTES: usize = 64;
    /// Not blank, no control characters. The byte limit is stated beside it: a
    /// pattern counts characters (an emoji with its modifiers is several).
    pub const PATTERN: &str = r"^[^\u0000-\u001f\u007f-\u009f]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$";

    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        if raw.trim().is_empty() || raw.chars().any(char::is_control) {
            Err(ChatError::invalid(
                "key",
                "not blank and no control characters",
            ))
        } else if raw.len() > Self::MAX_BYTES {
            Err(ChatError::invalid("key", "at most 64 bytes of UTF-8"))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    /// The validated value, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// An upload's file name, as the uploader gave it: 1 to 255 characters, no control
/// characters, not only whitespace. It never names a file on the server's disk
/// (files are named by their hash); it is shown, and offered when the file is saved.
#[derive(Debug, Clone)]
pub struct FileName(String);

impl FileName {
    pub const MAX_CHARS: usize = 255;
    pub const PATTERN: &str = ReactionKey::PATTERN;

    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        if raw.trim().is_empty() || raw.chars().any(char::is_control) {
            Err(ChatError::invalid(
                "filename",
                "not blank and no control characters",
            ))
        } else if raw.chars().count() > Self::MAX_CHARS {
            Err(ChatError::invalid("filename", "at most 255 characters"))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    /// The validated value, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// An upload's id: 22 characters of base64url.
#[derive(Debug, Clone)]
pub struct MediaId(String);

impl MediaId {
    pub const PATTERN: &str = "^[A-Za-z0-9_-]{22}$";

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ChatError> {
        if crate::media::is_id(raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ChatError::invalid(field, "not an upload id"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Text to find in names: at most 64 characters and no control characters (no name
/// holds one); searched for as its search key (`gadka_text::search::key`: case,
/// accents and compatibility forms folded, spaces trimmed), as names are stored.
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
            Ok(Self(key(raw)))
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
    fn display_names_refuse_what_misleads_or_shows_nothing() {
        let refused = |raw: &str, says: &str| match DisplayName::parse(raw) {
            Err(ChatError::Invalid { field, reason }) => {
                assert_eq!(field, "display_name", "{raw:?}");
                assert!(reason.contains(says), "{raw:?}: {reason}");
            }
            other => panic!("{raw:?} is refused, not {other:?}"),
        };
        refused("admin\u{202e}gnp.exe", "bidirectional");
        for control in [
            '\u{202a}', '\u{2066}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{61c}',
        ] {
            refused(&format!("a{control}b"), "bidirectional");
        }
        for blank in [
            "\u{200b}",
            "\u{3164}",
            "\u{2800}\u{2800}",
            " \u{200b} \u{feff} ",
            "\u{301}\u{301}",
            "\u{115f}\u{1160}\u{ffa0}",
            "",
        ] {
            refused(blank, "at least one visible character");
        }
        refused(&format!("Z{}", "\u{336}".repeat(63)), "4 combining marks");
        refused("a\u{301}\u{302}\u{303}\u{304}\u{305}", "4 combining marks");
        for kept in [
            "a\u{301}\u{302}\u{303}\u{304}",
            "Łukasz Żółć",
            "Ἀθηνᾶ",
            "किरण",
            "👨\u{200d}👩\u{200d}👧 family",
            "\u{2800}x",
        ] {
            assert_eq!(DisplayName::parse(kept).unwrap().as_str(), kept);
        }
    }

    #[test]
    fn the_nearest_display_name_is_one_parse_takes() {
        let cases = [
            "  Alice \u{7} A. ",
            &"x".repeat(100),
            &format!("{} y", "x".repeat(63)),
            "admin\u{202e}gnp.exe",
            &format!("Zalgo{}", "\u{336}".repeat(63)),
            "a\u{301}\u{302}\u{7}\u{303}\u{304}\u{305}b",
            "\u{2800}\u{301} Ann",
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
        assert_eq!(
            DisplayName::nearest("admin\u{202e}gnp.exe")
                .unwrap()
                .as_str(),
            "admingnp.exe"
        );
        assert_eq!(
            DisplayName::nearest(&format!("Zalgo{}", "\u{336}".repeat(63)))
                .unwrap()
                .as_str(),
            format!("Zalgo{}", "\u{336}".repeat(4))
        );
        assert!(DisplayName::nearest("\u{200b}\u{3164}\u{2800}\u{202e}").is_none());
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

    /// Every character whose class matters to most rules (all whitespace and control
    /// characters are below U+3100), and a spread of the rest, where the display
    /// name's marks and invisible characters are tried too.
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
            DisplayName::pattern(),
            |s| DisplayName::parse(s).is_ok(),
            &[
                |c| c.to_string(),
                |c| format!(" {c} "),
                |c| format!("a{c}"),
                |c| format!("{c}a"),
                |c| format!("\u{a0}{c}\u{3000}"),
                |c| format!("{c}\u{200b}"),
                |c| format!("\u{2800}{c}"),
                |c| format!("a{c}{c}{c}{c}"),
                |c| format!("{c}{c}{c}{c}{c}"),
                |c| format!("a\u{301}\u{301}{c}\u{301}\u{301}"),
                |c| format!("\u{301}{c}"),
            ],
        );
        for c in [
            '\u{1d165}',
            '\u{e0100}',
            '\u{e0041}',
            '\u{1bca0}',
            '\u{11000}',
            '😀',
        ] {
            let regex = Regex::new(DisplayName::pattern()).expect("a valid pattern");
            for s in [c.to_string(), format!("a{c}{c}{c}{c}{c}"), format!("{c}a")] {
                assert_eq!(regex.is_match(&s), DisplayName::parse(&s).is_ok(), "{s:?}");
            }
        }
        pattern_agrees(
            TxnId::PATTERN,
            |s| TxnId::parse(s).is_ok(),
            &[|c| c.to_string(), |c| format!("a{c}"), |c| format!("{c}a")],
        );
        pattern_agrees(
            ReactionKey::PATTERN,
            |s| ReactionKey::parse(s).is_ok(),
            &[
                |c| c.to_string(),
                |c| format!("a{c}"),
                |c| format!("{c}a"),
                |c| format!(" {c} "),
                |c| format!("\u{3000}{c}"),
            ],
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

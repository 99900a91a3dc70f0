//! The values clients send, parsed once into types that can only hold valid values
//! ("parse, don't validate"): code past the parse never checks them again.

use super::ChatError;

/// A username: 3 to 32 of `a-z 0-9 . _ -`, starting with a letter or digit.
///
/// Usernames are case-insensitive, so they are folded to lower case on the way in;
/// lower case is also what Matrix localparts allow, which the bridge relies on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        let folded = raw.trim().to_lowercase();
        let ok_len = (3..=32).contains(&folded.chars().count());
        let ok_chars = folded
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        let ok_start = folded
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if ok_len && ok_chars && ok_start {
            Ok(Self(folded))
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

/// A password: at least 8 characters; at most 1024 bytes, so that hashing stays cheap
/// enough not to be a denial-of-service lever.
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        if raw.chars().count() < 8 {
            Err(ChatError::invalid("password", "at least 8 characters"))
        } else if raw.len() > 1024 {
            Err(ChatError::invalid("password", "at most 1024 bytes"))
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

/// A display name: 1 to 64 characters after trimming, no control characters.
#[derive(Debug, Clone)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.chars().count() > 64 {
            Err(ChatError::invalid("display_name", "1 to 64 characters"))
        } else if trimmed.chars().any(char::is_control) {
            Err(ChatError::invalid("display_name", "no control characters"))
        } else {
            Ok(Self(trimmed.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message body: not blank, at most the configured number of bytes.
#[derive(Debug, Clone)]
pub struct MessageBody(String);

impl MessageBody {
    pub fn parse(raw: &str, max_bytes: usize) -> Result<Self, ChatError> {
        if raw.trim().is_empty() {
            Err(ChatError::invalid("body", "may not be empty"))
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

/// A client's idempotency key for a send: 1 to 128 bytes, no control characters.
#[derive(Debug, Clone)]
pub struct TxnId(String);

impl TxnId {
    pub fn parse(raw: &str) -> Result<Self, ChatError> {
        if raw.is_empty() || raw.len() > 128 || raw.chars().any(char::is_control) {
            Err(ChatError::invalid(
                "txn_id",
                "1 to 128 bytes, no control characters",
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
    use super::*;

    #[test]
    fn usernames_fold_case_and_refuse_odd_characters() {
        assert_eq!(Username::parse(" Alice_1 ").unwrap().as_str(), "alice_1");
        for bad in [
            "al",
            "a".repeat(33).as_str(),
            "ali ce",
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
        assert_eq!(MessageBody::parse("hej", 10).unwrap().as_str(), "hej");
    }

    #[test]
    fn page_sizes_clamp_above_and_refuse_below_one() {
        assert_eq!(page_size("limit", None, 10, 100).unwrap(), 10);
        assert_eq!(page_size("limit", Some(1000), 10, 100).unwrap(), 100);
        assert!(page_size("limit", Some(0), 10, 100).is_err());
    }
}

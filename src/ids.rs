//! Ids as types: a user, a conversation, a message and a position in a conversation
//! (`seq`) are all integers in the database and on the wire, and nothing else should
//! make them interchangeable. An argument list `(conversation, user, seq)` passed in
//! the wrong order does not compile.
//!
//! Each is a plain `i64` inside: serialised as the bare integer (the JSON stays as it
//! was), bound and read as an integer by rusqlite and SeaORM. [`Pair`] is the ordered
//! pair of a direct conversation's two members, built in one place.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            pub const fn new(raw: i64) -> Self {
                Self(raw)
            }

            /// The integer stored and sent.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for sea_orm::Value {
            fn from(id: $name) -> Self {
                id.0.into()
            }
        }

        impl sea_orm::TryGetable for $name {
            fn try_get_by<I: sea_orm::ColIdx>(
                row: &sea_orm::QueryResult,
                index: I,
            ) -> Result<Self, sea_orm::TryGetError> {
                i64::try_get_by(row, index).map(Self)
            }
        }

        impl rusqlite::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                self.0.to_sql()
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                i64::column_result(value).map(Self)
            }
        }
    };
}

id_type!(
    /// A user, local or from Matrix.
    UserId
);
id_type!(
    /// A direct conversation.
    ConversationId
);
id_type!(
    /// A message, global and increasing in commit order.
    MessageId
);
id_type!(
    /// A committed change's place in the one order of commits: a new message (whose
    /// id is its position), an edit, a delete, a reaction, a read marker, a display
    /// name. `hello` says up to which a client has everything; `resume {since}`
    /// replays what came after.
    Position
);
id_type!(
    /// A message's place in its conversation: 1, 2, 3 … without gaps. A read marker is
    /// one too (0: nothing read).
    Seq
);

impl MessageId {
    /// Where the message stands among all changes: a message's id is its position.
    pub const fn position(self) -> Position {
        Position(self.0)
    }
}

impl Seq {
    /// The `n`th position after this one.
    pub const fn after(self, n: i64) -> Self {
        Self(self.0 + n)
    }
}

/// The two members of a direct conversation, lower id first: the key that makes
/// "Send message" on a profile open the same conversation every time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "[UserId; 2]", into = "[UserId; 2]")]
pub struct Pair {
    low: UserId,
    high: UserId,
}

impl TryFrom<[UserId; 2]> for Pair {
    type Error = &'static str;

    fn try_from([a, b]: [UserId; 2]) -> Result<Self, Self::Error> {
        Self::new(a, b).ok_or("a conversation has two different members")
    }
}

impl From<Pair> for [UserId; 2] {
    fn from(pair: Pair) -> Self {
        [pair.low, pair.high]
    }
}

impl Pair {
    /// The pair of two different users, in either order; `None` for one user twice,
    /// who has no conversation with themself.
    pub fn new(a: UserId, b: UserId) -> Option<Self> {
        (a != b).then(|| Self {
            low: a.min(b),
            high: a.max(b),
        })
    }

    pub fn low(self) -> UserId {
        self.low
    }

    pub fn high(self) -> UserId {
        self.high
    }

    pub fn members(self) -> [UserId; 2] {
        [self.low, self.high]
    }

    /// The member who is not `me`; `None` when `me` is not in the pair.
    pub fn other(self, me: UserId) -> Option<UserId> {
        if me == self.low {
            Some(self.high)
        } else if me == self.high {
            Some(self.low)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_the_same_whichever_member_opens_it() {
        let (ann, bob) = (UserId::new(7), UserId::new(3));
        let pair = Pair::new(ann, bob).expect("two users");
        assert_eq!(Pair::new(bob, ann), Some(pair));
        assert_eq!(pair.members(), [bob, ann]);
        assert_eq!(pair.other(ann), Some(bob));
        assert_eq!(pair.other(bob), Some(ann));
        assert_eq!(pair.other(UserId::new(5)), None);
        assert_eq!(Pair::new(ann, ann), None);
    }

    #[test]
    fn ids_are_bare_integers_on_the_wire() {
        let id = ConversationId::new(42);
        assert_eq!(serde_json::to_string(&id).expect("serialised"), "42");
        let back: ConversationId = serde_json::from_str("42").expect("parsed");
        assert_eq!(back, id);
    }
}

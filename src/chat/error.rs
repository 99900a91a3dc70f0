//! What can go wrong in a chat operation, in words a client can act on.

use crate::store::StoreError;

/// The error of every chat operation. Transports map it to their own shape (an HTTP
/// status and JSON body, or an `error` frame) but never change its meaning.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// A field a client sent is malformed; nothing was changed.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// A field is larger than the configured limit.
    #[error("{field}: longer than the limit of {limit} bytes")]
    TooLarge { field: &'static str, limit: usize },
    /// No session, or an expired or revoked one.
    #[error("not logged in, or the session has expired")]
    Unauthenticated,
    /// Wrong username or password (deliberately not saying which).
    #[error("wrong username or password")]
    BadCredentials,
    /// The right password, but an admin has deactivated the account.
    #[error("this account is deactivated; ask the server's admin to reactivate it")]
    Deactivated,
    #[error("this username is taken")]
    UsernameTaken,
    /// The thing does not exist, or the caller may not know that it does.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Someone else's message: only its sender may edit or delete it.
    #[error("only its sender may change this message")]
    NotYours,
    /// The message is deleted: it can no longer be edited or reacted to.
    #[error("this message is deleted")]
    MessageDeleted,
    /// A message carries at most this many different reaction keys.
    #[error("this message has the most reactions it may have ({0} different ones)")]
    TooManyReactions(usize),
    #[error("too many {what}; try again in {retry_after_secs} s")]
    RateLimited {
        what: &'static str,
        retry_after_secs: u64,
    },
    /// The user's stored messages would exceed their storage quota.
    #[error("your messages have reached the storage quota of {quota_bytes} bytes")]
    QuotaExceeded { quota_bytes: u64 },
    /// A queue the request needs is full; it may be tried again in a second.
    #[error("the server is busy; try again in a moment")]
    Busy,
    /// The database does not answer (down, restarting, out of reach); nothing was
    /// changed, and the same request may succeed in a moment.
    #[error("the database does not answer; nothing was changed, try again in a moment")]
    Unavailable,
    /// A fault of the server; logged, never shown to the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ChatError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// The stable, machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_input",
            Self::TooLarge { .. } => "payload_too_large",
            Self::Unauthenticated => "unauthenticated",
            Self::BadCredentials => "invalid_credentials",
            Self::Deactivated => "deactivated",
            Self::UsernameTaken => "username_taken",
            Self::NotFound(_) => "not_found",
            Self::NotYours => "not_yours",
            Self::MessageDeleted => "deleted",
            Self::TooManyReactions(_) => "too_many_reactions",
            Self::RateLimited { .. } => "rate_limited",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl ChatError {
    /// When a refused request may be tried again, for the refusals that pass.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            Self::Busy | Self::Unavailable => Some(1),
            _ => None,
        }
    }
}

impl From<StoreError> for ChatError {
    fn from(err: StoreError) -> Self {
        if err.is_unreachable() {
            tracing::warn!(error = %err, "the database does not answer");
            Self::Unavailable
        } else {
            Self::Internal(err.into())
        }
    }
}

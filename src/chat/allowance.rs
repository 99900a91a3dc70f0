//! What one user may spend: sends, new conversations and uploads per period (token
//! buckets), and bytes of stored messages and uploads (a quota).
//!
//! Without them one account sent 10,000 messages of 16 KiB in 0.7 s (+235 MB on disk)
//! and messaged 500 strangers in 0.86 s. The buckets let a person's bursts through
//! (a client that was offline sends its whole outbox at once) and hold a flood to the
//! refill rate; the quota bounds what an account that floods slowly, for days, can
//! leave on the disk. A refused command is refused before the engine sees it, so it
//! changes nothing.
//!
//! The quota's count lives in memory: read from the database the first time a user
//! sends after a start, then grown by each accepted send. It counts a send before it
//! commits (a send that then fails still counts, until the next start): a slight
//! over-count is the safe side of a quota. Several nodes each count what they accept,
//! so a user near the quota may go over it by what the other nodes took meanwhile.

use std::{collections::HashMap, num::NonZeroU32, sync::Mutex, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};

use super::ChatError;
use crate::{config::Limits, ids::UserId, store::Store};

pub struct Allowances {
    sends: DefaultKeyedRateLimiter<UserId>,
    conversations: DefaultKeyedRateLimiter<UserId>,
    uploads: DefaultKeyedRateLimiter<UserId>,
    quota_bytes: u64,
    /// User → bytes of message bodies and uploads they have stored (or have on the way).
    stored: Mutex<HashMap<UserId, u64>>,
}

impl Allowances {
    pub fn new(limits: &Limits) -> Self {
        let n = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Self {
            sends: RateLimiter::keyed(Quota::per_minute(n(limits.sends_per_minute))),
            conversations: RateLimiter::keyed(Quota::per_hour(n(limits.conversations_per_hour))),
            uploads: RateLimiter::keyed(Quota::per_minute(n(limits.uploads_per_minute))),
            quota_bytes: limits.storage_quota_bytes,
            stored: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one send of `bytes` by `user`: refused over their rate or their quota.
    pub async fn send(&self, store: &Store, user: UserId, bytes: usize) -> Result<(), ChatError> {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let stored = self.within_quota(store, user, bytes).await?;
        check(&self.sends, &user, "messages")?;
        self.count(user, stored, bytes);
        Ok(())
    }

    /// Counts the start of one upload by `user`.
    pub fn upload(&self, user: UserId) -> Result<(), ChatError> {
        check(&self.uploads, &user, "uploads")
    }

    /// Counts `bytes` of an upload that arrived whole: refused over the quota.
    pub async fn store_upload(
        &self,
        store: &Store,
        user: UserId,
        bytes: u64,
    ) -> Result<(), ChatError> {
        let stored = self.within_quota(store, user, bytes).await?;
        self.count(user, stored, bytes);
        Ok(())
    }

    /// What `user` has stored, if `bytes` more still fit in their quota.
    async fn within_quota(
        &self,
        store: &Store,
        user: UserId,
        bytes: u64,
    ) -> Result<u64, ChatError> {
        let known = self.lock().get(&user).copied();
        let stored = match known {
            Some(stored) => stored,
            None => store
                .stored_bytes_of(user)
                .await?
                .saturating_add(store.uploaded_bytes_of(user).await?),
        };
        if stored.saturating_add(bytes) > self.quota_bytes {
            return Err(ChatError::QuotaExceeded {
                quota_bytes: self.quota_bytes,
            });
        }
        Ok(stored)
    }

    fn count(&self, user: UserId, stored: u64, bytes: u64) {
        let mut counts = self.lock();
        // Two first sends may both have read the database: keep the larger count.
        let count = counts.entry(user).or_insert(stored);
        *count = (*count).max(stored).saturating_add(bytes);
    }

    /// Counts one new conversation started by `user`.
    pub fn new_conversation(&self, user: UserId) -> Result<(), ChatError> {
        check(&self.conversations, &user, "new conversations")
    }

    /// Forgets allowances that are full again. Quota counts stay: reading one again
    /// costs a scan of the user's messages.
    pub fn forget_idle(&self) {
        self.sends.retain_recent();
        self.conversations.retain_recent();
        self.uploads.retain_recent();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, u64>> {
        self.stored.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One token of `user`'s from `limiter`, or how long until there is one.
pub(super) fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
    what: &'static str,
) -> Result<(), ChatError> {
    limiter
        .check_key(key)
        .map_err(|not_until| refusal(what, wait_for(limiter, &not_until)))
}

/// How long until a limiter that refused will allow again.
pub(super) fn wait_for<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    not_until: &governor::NotUntil<governor::clock::QuantaInstant>,
) -> Duration {
    // The limiter's own clock: a new `DefaultClock` runs CPUID (quanta), which a
    // virtual machine traps, and showed in the profile of a burst of refusals.
    not_until.wait_time_from(limiter.clock().now())
}

/// A refusal for `what`, to be tried again after `wait`: in whole seconds, rounded
/// up, since a retry a fraction of a second early is refused again.
pub(super) fn refusal(what: &'static str, wait: Duration) -> ChatError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ChatError::RateLimited {
        what,
        retry_after_secs: secs.max(1),
    }
}

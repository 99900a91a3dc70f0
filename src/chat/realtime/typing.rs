//! Typing notices: paced per user, and coalesced per conversation before they are
//! relayed.
//!
//! A client repeats "typing" every few seconds while its user types (the peer drops
//! it after 6 s without one). A client that sends more than that only costs the peer:
//! 50,000 frames from one account were all relayed, each after a database look-up.
//! So each user has a token bucket for typing frames (a frame over it is refused with
//! an `error`, like any refused command), and of what passes, a "typing" is relayed
//! at most once per [`REFRESH`] per conversation, and a "stopped" only after a relayed
//! "typing".

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::Mutex,
    time::{Duration, Instant},
};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::{
    chat::{ChatError, allowance::check},
    ids::{ConversationId, UserId},
};

/// How often a continued "typing" is relayed: half the peer's 6 s, so that one lost
/// or late refresh does not make the indicator blink.
const REFRESH: Duration = Duration::from_millis(2_500);

/// Typing frames a user may send per second, and in a burst: a person typing in
/// several chats at once stays far below.
const PER_SECOND: u32 = 5;
const BURST: u32 = 20;

pub struct TypingGate {
    frames: DefaultKeyedRateLimiter<UserId>,
    /// (who, where) → when a "typing" was last relayed; gone once "stopped" is.
    relayed: Mutex<HashMap<(UserId, ConversationId), Instant>>,
}

impl TypingGate {
    pub fn new() -> Self {
        let per_second = NonZeroU32::new(PER_SECOND).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(BURST).unwrap_or(NonZeroU32::MIN);
        Self {
            frames: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            relayed: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one typing frame of `user`'s; refused over the user's allowance.
    pub fn admit(&self, user: UserId) -> Result<(), ChatError> {
        check(&self.frames, &user, "typing notices")
    }

    /// Whether this notice is news to the peer, and so worth relaying.
    pub fn relay(&self, user: UserId, conversation: ConversationId, typing: bool) -> bool {
        let now = Instant::now();
        let mut relayed = self.relayed.lock().unwrap_or_else(|e| e.into_inner());
        let key = (user, conversation);
        if !typing {
            return relayed.remove(&key).is_some();
        }
        match relayed.get(&key) {
            Some(at) if now.duration_since(*at) < REFRESH => false,
            _ => {
                relayed.insert(key, now);
                true
            }
        }
    }

    /// Forgets notices the peer has long dropped on its own, and idle allowances.
    pub fn forget_idle(&self) {
        let stale = REFRESH * 4;
        self.relayed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, at| at.elapsed() < stale);
        self.frames.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typing_is_relayed_once_per_refresh_and_a_stop_only_after_one() {
        let gate = TypingGate::new();
        let (ann, chat) = (UserId::new(1), ConversationId::new(7));
        assert!(!gate.relay(ann, chat, false), "a stop nobody was told of");
        assert!(gate.relay(ann, chat, true));
        assert!(!gate.relay(ann, chat, true), "a repeat within the refresh");
        assert!(
            gate.relay(ann, ConversationId::new(8), true),
            "another chat"
        );
        assert!(gate.relay(ann, chat, false));
        assert!(!gate.relay(ann, chat, false), "stopped already");
        assert!(gate.relay(ann, chat, true), "typing again after a stop");
    }

    #[test]
    fn a_user_over_the_allowance_is_refused_and_others_are_not() {
        let gate = TypingGate::new();
        let (ann, bob) = (UserId::new(1), UserId::new(2));
        let admitted = (0..1000).filter(|_| gate.admit(ann).is_ok()).count();
        assert!(
            (BURST as usize..BURST as usize + 10).contains(&admitted),
            "a burst, then refusals: {admitted}"
        );
        assert!(gate.admit(bob).is_ok());
    }
}

//! Login rate limits, per username and per client address: guessing a password
//! costs an attacker time whichever of the two they vary.

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

use crate::chat::ChatError;

/// Two keyed GCRA limiters with a burst of the whole minute's allowance.
pub struct LoginLimiter {
    per_user: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
}

impl LoginLimiter {
    pub fn new(per_user_per_minute: u32, per_ip_per_minute: u32) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            per_user: RateLimiter::keyed(quota(per_user_per_minute)),
            per_ip: RateLimiter::keyed(quota(per_ip_per_minute)),
        }
    }

    /// Counts one attempt; refuses it when either allowance is spent. Every attempt
    /// counts, right or wrong, so the limit cannot be probed for which guesses were good.
    pub fn check(&self, username: &str, ip: IpAddr) -> Result<(), ChatError> {
        let now = DefaultClock::default().now();
        let refuse = |wait: Duration| ChatError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        };
        self.per_ip
            .check_key(&ip)
            .map_err(|not_until| refuse(not_until.wait_time_from(now)))?;
        self.per_user
            .check_key(&username.trim().to_lowercase())
            .map_err(|not_until| refuse(not_until.wait_time_from(now)))
    }

    /// Forgets keys whose allowance is full again, so the maps do not grow forever.
    pub fn forget_idle(&self) {
        self.per_user.retain_recent();
        self.per_ip.retain_recent();
    }
}

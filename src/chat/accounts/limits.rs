//! Rate limits on the account doors: logging in and signing up.
//!
//! Login attempts are counted per username *from one address*, and per address.
//! Counting per username alone let anyone lock an owner out from anywhere with ten
//! wrong guesses; counting per address alone let a proxy's one address lock out all
//! its users. Together they stop guessing from any one address, and the owner's own
//! address keeps its allowance. (The address is the client's, as `http::client`
//! derives it behind trusted proxies.)

use std::{net::IpAddr, num::NonZeroU32};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::chat::{ChatError, allowance::check};

type Keyed<K> = DefaultKeyedRateLimiter<K>;

/// Keyed GCRA limiters, each with a burst of its whole period's allowance.
pub struct AccountLimits {
    login_per_name: Keyed<(String, IpAddr)>,
    login_per_ip: Keyed<IpAddr>,
    signups_per_ip: Keyed<IpAddr>,
}

impl AccountLimits {
    pub fn new(
        logins_per_name_per_minute: u32,
        logins_per_ip_per_minute: u32,
        signups_per_ip_per_hour: u32,
    ) -> Self {
        let n = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Self {
            login_per_name: RateLimiter::keyed(Quota::per_minute(n(logins_per_name_per_minute))),
            login_per_ip: RateLimiter::keyed(Quota::per_minute(n(logins_per_ip_per_minute))),
            signups_per_ip: RateLimiter::keyed(Quota::per_hour(n(signups_per_ip_per_hour))),
        }
    }

    /// Counts one login attempt; refuses it when either allowance is spent. Every
    /// attempt counts, right or wrong, so the limit cannot be probed for which guesses
    /// were good.
    pub fn login(&self, username: &str, ip: IpAddr) -> Result<(), ChatError> {
        const WHAT: &str = "login attempts";
        check(&self.login_per_ip, &ip, WHAT)?;
        check(
            &self.login_per_name,
            &(username.trim().to_lowercase(), ip),
            WHAT,
        )
    }

    /// Counts one sign-up from `ip`.
    pub fn signup(&self, ip: IpAddr) -> Result<(), ChatError> {
        check(&self.signups_per_ip, &ip, "sign-ups from this address")
    }

    /// Forgets keys whose allowance is full again, so the maps do not grow forever.
    pub fn forget_idle(&self) {
        self.login_per_name.retain_recent();
        self.login_per_ip.retain_recent();
        self.signups_per_ip.retain_recent();
    }
}

//! Rate limits on the account doors: logging in and signing up.
//!
//! Login attempts are counted per username *from one address*, and per address.
//! Counting per username alone let anyone lock an owner out from anywhere with ten
//! wrong guesses; counting per address alone let a proxy's one address lock out all
//! its users. Together they stop guessing from any one address, and the owner's own
//! address keeps its allowance. (The address is the client's, as `http::client`
//! derives it behind trusted proxies.)

use std::{collections::HashMap, net::IpAddr, num::NonZeroU32, sync::Mutex, time::Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::chat::{
    ChatError,
    allowance::{check, refusal, wait_for},
};

type Keyed<K> = DefaultKeyedRateLimiter<K>;

const SIGN_UPS: &str = "sign-ups from this address";

/// Keyed GCRA limiters, each with a burst of its whole period's allowance.
pub struct AccountLimits {
    login_per_name: Keyed<(String, IpAddr)>,
    login_per_ip: Keyed<IpAddr>,
    signups_per_ip: Keyed<IpAddr>,
    /// Addresses the sign-up limit refused, and until when it will go on refusing
    /// them: a refused attempt leaves a GCRA limiter as it was, so until then every
    /// attempt from there is refused too. Asked before the database is, because a
    /// burst past the limit queued a thousand lookups of names ahead of a login's own
    /// queries.
    signups_refused: Mutex<HashMap<IpAddr, Instant>>,
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
            signups_refused: Mutex::default(),
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

    /// Refuses a sign-up from `ip` that the limit is sure to refuse, without counting
    /// one: cheap enough to come before anything else a sign-up costs.
    pub fn signup_refused_now(&self, ip: IpAddr) -> Result<(), ChatError> {
        let until = self.refused().get(&ip).copied();
        match until.map(|until| until.saturating_duration_since(Instant::now())) {
            Some(wait) if !wait.is_zero() => Err(refusal(SIGN_UPS, wait)),
            _ => Ok(()),
        }
    }

    /// Counts one sign-up from `ip`.
    pub fn signup(&self, ip: IpAddr) -> Result<(), ChatError> {
        self.signups_per_ip.check_key(&ip).map_err(|not_until| {
            let wait = wait_for(&self.signups_per_ip, &not_until);
            self.refused().insert(ip, Instant::now() + wait);
            refusal(SIGN_UPS, wait)
        })
    }

    fn refused(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        self.signups_refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets keys whose allowance is full again, so the maps do not grow forever.
    pub fn forget_idle(&self) {
        self.login_per_name.retain_recent();
        self.login_per_ip.retain_recent();
        self.signups_per_ip.retain_recent();
        let now = Instant::now();
        self.refused().retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_the_limit_refused_is_refused_up_front_until_it_may_try_again() {
        let limits = AccountLimits::new(10, 10, 1);
        let (ip, other): (IpAddr, IpAddr) = (
            "198.51.100.5".parse().unwrap(),
            "203.0.113.7".parse().unwrap(),
        );
        assert!(
            limits.signup_refused_now(ip).is_ok(),
            "nothing is known of it yet"
        );
        assert!(limits.signup(ip).is_ok());
        assert!(
            limits.signup_refused_now(ip).is_ok(),
            "only a refusal is remembered"
        );
        let Err(ChatError::RateLimited {
            retry_after_secs: limiter,
            ..
        }) = limits.signup(ip)
        else {
            panic!("the second sign-up of an hour is refused");
        };
        let Err(ChatError::RateLimited {
            retry_after_secs: remembered,
            ..
        }) = limits.signup_refused_now(ip)
        else {
            panic!("the refusal is remembered");
        };
        // One an hour: the next in an hour, rounded up, never sooner.
        assert_eq!(limiter, 3600);
        assert!((3599..=3600).contains(&remembered), "{remembered}");
        assert!(
            limits.signup_refused_now(other).is_ok(),
            "another address is not refused"
        );
        limits.forget_idle();
        assert!(
            limits.signup_refused_now(ip).is_err(),
            "kept while it holds"
        );
    }
}

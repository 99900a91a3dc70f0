//! Waiting for what happens on its own time (a message the bridge carries, a name
//! that reaches Matrix, a page that shows a reply) without guessing how long it takes.
//!
//! A test that sleeps waits either longer than it must or, on a busy machine, not long
//! enough. [`eventually`] looks at a condition until it holds and fails after a
//! deadline, naming what it waited for and the last thing it saw, so that a failure
//! reads as a finding. It looks at once, then at growing intervals up to a tenth
//! of a second: quick conditions are met quickly, and a slow homeserver is not
//! flooded with questions.
//!
//! To show that something did *not* happen, waiting proves nothing; send a marker
//! down the same road and wait for it instead (see [`crate::Socket::drain`]).

use std::{fmt::Display, time::Duration};

use tokio::time::Instant;

/// How long a test waits for what it expects before failing: generous, since the
/// machine may be shared with compilers.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The first pause between two looks; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// Looks at `probe` until it answers `Ok`, for at most `within`; fails with `what`
/// (said as the thing awaited: "bob to see the message") and the last `Err` it gave.
pub async fn eventually<T, E: Display>(
    what: &str,
    within: Duration,
    probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    match until(within, probe).await {
        Ok(found) => found,
        Err(Some(last)) => panic!("waited {within:?} for {what}; last seen: {last}"),
        Err(None) => panic!("waited {within:?} for {what}; the first look never finished"),
    }
}

/// [`eventually`], handing back the last `Err` (`None` if no look finished in time)
/// instead of failing: for a caller that has more to say about a failure.
pub async fn until<T, E>(
    within: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, Option<E>> {
    let deadline = Instant::now() + within;
    let mut pause = FIRST_PAUSE;
    let mut last = None;
    loop {
        // A look that hangs (a request nobody answers) must not outlast the deadline.
        match tokio::time::timeout_at(deadline, probe()).await {
            Ok(Ok(found)) => return Ok(found),
            Ok(Err(not_yet)) => last = Some(not_yet),
            Err(_) => return Err(last),
        }
        if Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep_until((Instant::now() + pause).min(deadline)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use std::future::pending;

    use super::*;

    #[tokio::test]
    async fn eventually_gives_what_the_probe_found_once_it_holds() {
        let mut looks = 0;
        let found = eventually("the third look", PATIENCE, async || {
            looks += 1;
            if looks == 3 { Ok("found") } else { Err(looks) }
        })
        .await;
        assert_eq!((found, looks), ("found", 3));
    }

    #[tokio::test]
    #[should_panic(expected = "waited 200ms for what never comes; last seen: not yet")]
    async fn eventually_fails_naming_what_it_awaited_and_the_last_thing_seen() {
        eventually("what never comes", Duration::from_millis(200), async || {
            Err::<(), _>("not yet")
        })
        .await;
    }

    #[tokio::test]
    async fn a_look_that_hangs_ends_at_the_deadline() {
        let started = Instant::now();
        let outcome = until(Duration::from_millis(200), async || {
            pending::<()>().await;
            Ok::<_, ()>(())
        })
        .await;
        assert_eq!(outcome, Err(None));
        assert!(started.elapsed() < PATIENCE);
    }
}

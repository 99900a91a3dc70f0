//! A bystander's requests while a scenario loads the server: one request at a time,
//! each counted as answered (any 2xx, its latency recorded) or as an error by its
//! status or its transport failure.
//!
//! Two ways to pace them:
//!
//! - [`Pace::Rate`]: on a fixed schedule, latency counted from the *scheduled* time,
//!   so that a stall shows in every request it delayed, not only the one it hit
//!   (no coordinated omission). For cheap requests, where the schedule is far below
//!   what one connection can do.
//! - [`Pace::Pause`]: the next request a pause after the last answer, latency from its
//!   start: a person repeating an expensive action (a login costs an argon2 hash, and a
//!   schedule faster than the hash would only measure the probe's own queue).

use std::{collections::BTreeMap, time::Duration};

use serde::Serialize;
use tokio::{sync::watch, time::Instant};

use crate::stats::{Latency, Summary};

/// How long one request may take before it counts as an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How the probe's requests follow one another.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// This many a second, on schedule.
    Rate(f64),
    /// One after the other, this long apart.
    Pause(Duration),
}

/// What a probe saw.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Requests made.
    pub requests: u64,
    /// Those answered with a 2xx status.
    pub ok: u64,
    /// The others, by status (`"503"`) or failure (`"timeout"`, `"connect"`, …).
    pub errors: BTreeMap<String, u64>,
    /// Latency of the 2xx answers.
    pub latency: Summary,
}

impl Report {
    /// One line for a person.
    pub fn line(&self) -> String {
        let errors = if self.errors.is_empty() {
            String::from("no errors")
        } else {
            let list: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            format!("errors {}", list.join(", "))
        };
        format!(
            "{} of {} ok, {errors}; {}",
            self.ok, self.requests, self.latency
        )
    }
}

/// Makes requests built by `request` until `until`, until `stop` turns true, or
/// `most` requests, and reports them. `request` builds a fresh request each time.
pub async fn run(
    request: impl Fn() -> reqwest::RequestBuilder,
    pace: Pace,
    until: Instant,
    mut stop: watch::Receiver<bool>,
    most: u64,
) -> Report {
    let mut latency = Latency::new();
    let mut errors = BTreeMap::new();
    let (mut requests, mut ok) = (0u64, 0u64);
    let start = Instant::now();
    let mut next = start;
    loop {
        let now = Instant::now();
        if now >= until || *stop.borrow() || requests >= most {
            break;
        }
        // The clock the latency counts from: the schedule's, or now.
        let origin = match pace {
            Pace::Rate(rate) => {
                let due = start + Duration::from_secs_f64(requests as f64 / rate);
                if due > now {
                    tokio::select! {
                        () = tokio::time::sleep_until(due.min(until)) => {}
                        Ok(()) = stop.changed() => {}
                    }
                    continue;
                }
                due
            }
            Pace::Pause(_) => {
                if next > now {
                    tokio::select! {
                        () = tokio::time::sleep_until(next.min(until)) => {}
                        Ok(()) = stop.changed() => {}
                    }
                    continue;
                }
                now
            }
        };
        requests += 1;
        let outcome = async {
            let response = request().timeout(REQUEST_TIMEOUT).send().await?;
            let status = response.status();
            // Read the whole body: the answer is not there until it is.
            response.bytes().await?;
            Ok::<_, reqwest::Error>(status)
        }
        .await;
        let done = Instant::now();
        match outcome {
            Ok(status) if status.is_success() => {
                ok += 1;
                latency.record_nanos(done.duration_since(origin).as_nanos() as u64);
            }
            Ok(status) => *errors.entry(status.as_u16().to_string()).or_insert(0) += 1,
            Err(e) => *errors.entry(failure(&e)).or_insert(0) += 1,
        }
        if let Pace::Pause(pause) = pace {
            next = done + pause;
        }
    }
    Report {
        requests,
        ok,
        errors,
        latency: latency.summary(),
    }
}

/// A transport failure, named by its kind.
fn failure(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else if e.is_request() {
        "request"
    } else {
        "other"
    }
    .to_owned()
}

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

use std::{collections::BTreeMap, error::Error as _, io, time::Duration};

use anyhow::Context;
use serde::Serialize;
use tokio::{
    sync::{oneshot, watch},
    time::Instant,
};

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
    /// The slowest 2xx answers, at most five: `[seconds from the probe's start to the
    /// request's clock, latency in ms]`, to tell a steady tail from a few stalls.
    pub worst: Vec<[f64; 2]>,
    /// Every 2xx latency in µs, in order, when the caller asked for them (a short
    /// probe's samples, to be pooled across runs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples_us: Vec<u64>,
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

/// When a probe stops.
pub struct Until {
    /// At this time,
    pub time: Instant,
    /// or when this turns true,
    pub stop: watch::Receiver<bool>,
    /// or after this many requests.
    pub most: u64,
}

impl Until {
    /// At `time` only.
    pub fn time(time: Instant) -> Self {
        // A sender dropped at once: `changed()` fails, and the probe then ignores it.
        let (_, stop) = watch::channel(false);
        Self {
            time,
            stop,
            most: u64::MAX,
        }
    }
}

/// Makes requests built by `request` until `until` says so, and reports them.
/// `request` builds a fresh request each time; with `keep_samples` every latency is
/// reported too.
pub async fn run(
    request: impl Fn() -> reqwest::RequestBuilder,
    pace: Pace,
    until: Until,
    keep_samples: bool,
) -> Report {
    let Until {
        time: until,
        mut stop,
        most,
    } = until;
    let mut latency = Latency::new();
    let mut worst: Vec<[f64; 2]> = Vec::new();
    let mut samples_us = Vec::new();
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
            if !status.is_success() {
                // A refusal counts as its status, even when a reset cuts its body
                // short (the server's canned 503 closes without reading the request).
                return Ok(status);
            }
            // Read the whole body: the answer is not there until it is.
            response.bytes().await?;
            Ok::<_, reqwest::Error>(status)
        }
        .await;
        let done = Instant::now();
        match outcome {
            Ok(status) if status.is_success() => {
                ok += 1;
                let took = done.duration_since(origin);
                latency.record_nanos(took.as_nanos() as u64);
                if keep_samples {
                    samples_us.push(took.as_micros() as u64);
                }
                let sample = [
                    origin.duration_since(start).as_secs_f64(),
                    took.as_secs_f64() * 1e3,
                ];
                worst.push(sample);
                worst.sort_by(|a, b| b[1].total_cmp(&a[1]));
                worst.truncate(5);
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
        worst,
        samples_us,
    }
}

/// A transport failure, named by what reqwest was doing and, when an I/O error is
/// behind it, that error's kind: `"request: ConnectionReset"`.
fn failure(e: &reqwest::Error) -> String {
    let stage = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else if e.is_request() {
        "request"
    } else {
        "other"
    };
    let mut cause = e.source();
    while let Some(source) = cause {
        if let Some(io) = source.downcast_ref::<io::Error>() {
            return format!("{stage}: {:?}", io.kind());
        }
        cause = source.source();
    }
    stage.to_owned()
}

/// Runs the future `make` builds on a thread of its own, with a single-threaded
/// runtime: the measuring side then waits for no task of the load it measures (the
/// thousands of connections a scenario drives on the main runtime), only for the CPU.
/// HTTP clients used there must have made no connection on another runtime, since a
/// connection's task lives on the runtime that opened it.
pub fn on_own_thread<T, F>(
    name: &str,
    make: impl FnOnce() -> F + Send + 'static,
) -> anyhow::Result<oneshot::Receiver<anyhow::Result<T>>>
where
    T: Send + 'static,
    F: Future<Output = anyhow::Result<T>>,
{
    let (done, result) = oneshot::channel();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let outcome = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("a runtime for the probe")
                .and_then(|runtime| runtime.block_on(make()));
            let _ = done.send(outcome);
        })
        .context("a thread for the probe")?;
    Ok(result)
}

//! The `slow` scenario (slowloris): many TCP connections, each dribbling a request
//! head one byte every few seconds, held for a while; meanwhile a logged-in user's
//! requests, to see whether the server still answers other people.
//!
//! Each of `connections` slots connects, writes the first byte of
//! `GET /api/me HTTP/1.1\r\nHost: …\r\nX-Slow: aaaa…` at once and one more byte every
//! `byte_every`, and never finishes the head. What the server does with it is the
//! figure:
//!
//! - it answers `503` (over a connection cap) and closes: *refused*;
//! - it closes the connection, with or without a response (its header timeout):
//!   *closed*, with the time from connect to close;
//! - the connection is reset (the server closed with our bytes unread): *reset*;
//! - it is still open when the run ends: *open at end*, with its age.
//!
//! A slot whose connection was closed connects again at once, and one that was refused
//! after `byte_every`, so that the server faces `connections` slow clients for the
//! whole run (`--once` connects each slot once). Connecting goes through a semaphore,
//! so that the first wave does not overflow the server's accept queue all at once.
//!
//! The probe is a user registered and logged in before the wave: `GET
//! /api/conversations` on a kept-alive connection (a user already connected), and
//! the same at a lower rate on a new connection each time (a user arriving now,
//! who needs a free connection slot). Both run for a baseline before the wave too.

use std::{
    collections::BTreeMap,
    io,
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::{
    net::TcpStream,
    sync::{Semaphore, mpsc},
    time::Instant,
};

use crate::{
    client::User,
    probe::{self, Pace, Until},
    stats::{Latency, Summary},
};

/// The request head the slow clients never finish; past its end they repeat `a` in the
/// header's value.
const HEAD: &[u8] = b"GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
/// How long a connect may take (SYN retries when the accept queue overflows).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Closes later than the header timeout by more than this count as late.
const SLACK: Duration = Duration::from_secs(1);
/// After the run, how long the slots have to report before the run fails.
const GRACE: Duration = Duration::from_secs(30);
/// The most bytes of a response kept to read its status line.
const RESPONSE_PREFIX: usize = 64;

/// The `slow` scenario's parameters.
#[derive(Debug, Clone)]
pub struct Options {
    /// Slow connections held at once.
    pub connections: usize,
    /// How long to hold them.
    pub seconds: f64,
    /// Seconds between two bytes of a head.
    pub byte_every_secs: f64,
    /// The server's header timeout, to count closes that came late.
    pub header_timeout_secs: f64,
    /// Connects in flight at most.
    pub connect_concurrency: usize,
    /// Connect each slot once instead of again after each close.
    pub once: bool,
    /// The probe's requests a second on its kept-alive connection.
    pub probe_rate: f64,
    /// The probe's requests a second on a new connection each.
    pub fresh_rate: f64,
    /// Seconds of probing before the slow connections.
    pub baseline_secs: f64,
    /// The local address the probe connects from (another client address to the
    /// server's per-address limits); the slow connections come from the default one.
    pub probe_from: Option<IpAddr>,
}

impl Options {
    fn durations(&self) -> anyhow::Result<(Duration, Duration, Duration, Duration)> {
        let secs = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Duration::try_from_secs_f64(v).with_context(|| format!("{name}: seconds"))
            } else {
                bail!("{name} must be a positive number of seconds, not {v}")
            }
        };
        let baseline = if self.baseline_secs == 0.0 {
            Duration::ZERO
        } else {
            secs("--baseline-secs", self.baseline_secs)?
        };
        Ok((
            secs("--seconds", self.seconds)?,
            secs("--byte-every-secs", self.byte_every_secs)?,
            secs("--header-timeout-secs", self.header_timeout_secs)?,
            baseline,
        ))
    }

    /// How long the run takes at most, grace included.
    pub fn expected_duration(&self) -> Duration {
        self.durations()
            .map(|(run, _, _, baseline)| run + baseline + CONNECT_TIMEOUT + GRACE)
            .unwrap_or_default()
    }
}

/// What a `slow` run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Always `"slow"`.
    pub scenario: &'static str,
    /// Slow connections held at once (slots).
    pub connections: usize,
    /// Seconds they were held.
    pub seconds: f64,
    /// Seconds between two bytes.
    pub byte_every_secs: f64,
    /// The header timeout the closes were held against.
    pub header_timeout_secs: f64,
    /// The load generator's own open-file limit.
    pub client_open_files: u64,
    /// Connections attempted, every slot's every try.
    pub attempts: u64,
    /// Connected and not answered with 503: `closed + reset + open_at_end`.
    pub accepted: u64,
    /// Answered `503` and closed at once (a connection cap).
    pub refused_503: u64,
    /// Closed by the server (end of stream), whatever it wrote first.
    pub closed: u64,
    /// Reset by the server.
    pub reset: u64,
    /// Closes and resets later than the header timeout plus 1 s.
    pub closed_late: u64,
    /// Still open when the run ended.
    pub open_at_end: u64,
    /// …of which open for longer than the header timeout plus 1 s.
    pub open_at_end_past_timeout: u64,
    /// Connects that failed, by error.
    pub connect_failed: BTreeMap<String, u64>,
    /// Status lines (code only) the server wrote on connections it then closed, other
    /// than the 503s.
    pub responses_before_close: BTreeMap<String, u64>,
    /// The most connections open at once, as the client saw them (sampled every
    /// 100 ms).
    pub open_max: i64,
    /// Connect to close, for closed and reset connections.
    pub time_to_close: Summary,
    /// Connect to the 503.
    pub time_to_refusal: Summary,
    /// The probe on its kept-alive connection, before the slow connections.
    pub probe_before: probe::Report,
    /// …and while they were held.
    pub probe: probe::Report,
    /// The probe on a new connection each request, before.
    pub fresh_before: probe::Report,
    /// …and while the slow connections were held.
    pub fresh: probe::Report,
}

impl Report {
    /// Prints the report for a person.
    pub fn print(&self) {
        println!(
            "{} slow connections for {:.0} s (a byte every {:.1} s): {} attempts, {} accepted, {} refused with 503, {} connects failed {:?}",
            self.connections,
            self.seconds,
            self.byte_every_secs,
            self.attempts,
            self.accepted,
            self.refused_503,
            self.connect_failed.values().sum::<u64>(),
            self.connect_failed,
        );
        println!(
            "  closed by the server {}, reset {}, later than {:.0} s + 1 s: {}; open at the end {} (older than the timeout: {}); at most {} open at once",
            self.closed,
            self.reset,
            self.header_timeout_secs,
            self.closed_late,
            self.open_at_end,
            self.open_at_end_past_timeout,
            self.open_max,
        );
        if !self.responses_before_close.is_empty() {
            println!(
                "  written before a close: {:?}",
                self.responses_before_close
            );
        }
        println!("{:<26} {}", "time to close", self.time_to_close);
        println!("{:<26} {}", "time to 503", self.time_to_refusal);
        println!("{:<26} {}", "probe, before", self.probe_before.line());
        println!("{:<26} {}", "probe, during", self.probe.line());
        println!(
            "{:<26} {}",
            "new connection, before",
            self.fresh_before.line()
        );
        println!("{:<26} {}", "new connection, during", self.fresh.line());
    }
}

/// How one connection ended.
enum Outcome {
    ConnectFailed(String),
    Refused(Duration),
    Closed {
        after: Duration,
        status: Option<String>,
    },
    Reset(Duration),
    OpenAtEnd(Duration),
}

/// Runs the scenario against the server at `url`; `run_id` keeps usernames unique.
pub async fn run(
    url: &str,
    run_id: &str,
    options: &Options,
    client_open_files: u64,
) -> anyhow::Result<Report> {
    let (hold, byte_every, header_timeout, baseline) = options.durations()?;
    if options.probe_rate <= 0.0 || options.fresh_rate <= 0.0 {
        bail!("--probe-rate and --fresh-rate must be positive");
    }
    let wanted = options.connections as u64 + 64;
    if wanted > client_open_files {
        bail!(
            "{} connections need about {wanted} open files, and this process may have {client_open_files}: raise its hard limit (ulimit -Hn)",
            options.connections
        );
    }
    let target = resolve(url).await?;
    let probe_user = User::register_from(url, &format!("w{run_id}"), options.probe_from).await?;
    let conversations = format!("{url}/api/conversations?limit=5&messages=1");
    // The probe runs on a thread of its own, with clients that have no connection yet:
    // a second to open and warm its kept-alive connection, the baseline, then the
    // slow connections, which start at `wave`.
    let (kept, fresh) = (probe_user.new_http(false)?, probe_user.new_http(true)?);
    let wave = Instant::now() + Duration::from_secs(1) + baseline;
    let deadline = wave + hold;
    let (rate, fresh_rate) = (options.probe_rate, options.fresh_rate);
    let probing = probe::on_own_thread("gadka-load-probe", move || async move {
        kept.get(&conversations)
            .send()
            .await
            .context("the probe's first request")?;
        let probes = |until: Instant| {
            let (kept, fresh, conversations) = (&kept, &fresh, &conversations);
            async move {
                tokio::join!(
                    probe::run(
                        || kept.get(conversations),
                        Pace::Rate(rate),
                        Until::time(until),
                        false
                    ),
                    probe::run(
                        || fresh.get(conversations),
                        Pace::Rate(fresh_rate),
                        Until::time(until),
                        false
                    ),
                )
            }
        };
        let before = probes(wave).await;
        let during = probes(deadline).await;
        anyhow::Ok((before, during))
    })?;
    eprintln!(
        "probing for {:.1} s before the slow connections…",
        baseline.as_secs_f64()
    );
    tokio::time::sleep_until(wave).await;
    eprintln!(
        "holding {} slow connections for {:.0} s…",
        options.connections,
        hold.as_secs_f64()
    );
    let open_now = Arc::new(AtomicI64::new(0));
    let connecting = Arc::new(Semaphore::new(options.connect_concurrency.max(1)));
    let (outcomes_tx, mut outcomes) = mpsc::channel::<Outcome>(4096);
    let mut slots = tokio::task::JoinSet::new();
    for _ in 0..options.connections {
        let slot = Slot {
            target,
            byte_every,
            deadline,
            once: options.once,
            connecting: connecting.clone(),
            open_now: open_now.clone(),
            outcomes: outcomes_tx.clone(),
        };
        slots.spawn(slot.run());
    }
    drop(outcomes_tx);
    let sampler = {
        let open_now = open_now.clone();
        tokio::spawn(async move {
            let mut max = 0;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while Instant::now() < deadline {
                tick.tick().await;
                max = max.max(open_now.load(Ordering::Relaxed));
            }
            max
        })
    };
    let late = header_timeout + SLACK;
    let mut tally = Tally::default();
    let collect = async {
        while let Some(outcome) = outcomes.recv().await {
            tally.add(outcome, late);
        }
    };
    tokio::time::timeout(hold + CONNECT_TIMEOUT + GRACE, collect)
        .await
        .context("the slow connections did not all end after the run")?;
    while let Some(joined) = slots.join_next().await {
        joined.context("a slow connection's task")?;
    }
    let ((probe_before, fresh_before), (probe, fresh)) =
        probing.await.context("the probe's thread ended")??;
    let open_max = sampler.await.context("the sampler's task")?;

    Ok(Report {
        scenario: "slow",
        connections: options.connections,
        seconds: hold.as_secs_f64(),
        byte_every_secs: byte_every.as_secs_f64(),
        header_timeout_secs: header_timeout.as_secs_f64(),
        client_open_files,
        attempts: tally.attempts,
        accepted: tally.closed + tally.reset + tally.open_at_end,
        refused_503: tally.refused,
        closed: tally.closed,
        reset: tally.reset,
        closed_late: tally.closed_late,
        open_at_end: tally.open_at_end,
        open_at_end_past_timeout: tally.open_past_timeout,
        connect_failed: tally.connect_failed,
        responses_before_close: tally.responses,
        open_max,
        time_to_close: tally.time_to_close.summary(),
        time_to_refusal: tally.time_to_refusal.summary(),
        probe_before,
        probe,
        fresh_before,
        fresh,
    })
}

/// The server's address, from its URL.
async fn resolve(url: &str) -> anyhow::Result<SocketAddr> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("--url {url}"))?;
    let host = parsed.host_str().context("--url has no host")?;
    let port = parsed
        .port_or_known_default()
        .context("--url has no port")?;
    tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("{host} has no address"))
}

/// The counts, as outcomes come in.
#[derive(Default)]
struct Tally {
    attempts: u64,
    refused: u64,
    closed: u64,
    reset: u64,
    closed_late: u64,
    open_at_end: u64,
    open_past_timeout: u64,
    connect_failed: BTreeMap<String, u64>,
    responses: BTreeMap<String, u64>,
    time_to_close: Latency,
    time_to_refusal: Latency,
}

impl Tally {
    fn add(&mut self, outcome: Outcome, late: Duration) {
        self.attempts += 1;
        let nanos = |d: Duration| d.as_nanos() as u64;
        match outcome {
            Outcome::ConnectFailed(why) => *self.connect_failed.entry(why).or_insert(0) += 1,
            Outcome::Refused(after) => {
                self.refused += 1;
                self.time_to_refusal.record_nanos(nanos(after));
            }
            Outcome::Closed { after, status } => {
                self.closed += 1;
                self.closed_late += u64::from(after > late);
                self.time_to_close.record_nanos(nanos(after));
                if let Some(status) = status {
                    *self.responses.entry(status).or_insert(0) += 1;
                }
            }
            Outcome::Reset(after) => {
                self.reset += 1;
                self.closed_late += u64::from(after > late);
                self.time_to_close.record_nanos(nanos(after));
            }
            Outcome::OpenAtEnd(age) => {
                self.open_at_end += 1;
                self.open_past_timeout += u64::from(age > late);
            }
        }
    }
}

/// One slow client, connecting again each time its connection ends, until the
/// deadline.
struct Slot {
    target: SocketAddr,
    byte_every: Duration,
    deadline: Instant,
    once: bool,
    connecting: Arc<Semaphore>,
    open_now: Arc<AtomicI64>,
    outcomes: mpsc::Sender<Outcome>,
}

impl Slot {
    async fn run(self) {
        while Instant::now() < self.deadline {
            let outcome = self.attempt().await;
            // A refused or failed slot waits as long as between two bytes before it
            // tries again, so that refusals do not turn into a connect storm.
            let wait = matches!(outcome, Outcome::Refused(_) | Outcome::ConnectFailed(_));
            if self.outcomes.send(outcome).await.is_err() || self.once {
                return;
            }
            if wait {
                tokio::time::sleep_until((Instant::now() + self.byte_every).min(self.deadline))
                    .await;
            }
        }
    }

    async fn attempt(&self) -> Outcome {
        let stream = {
            let Ok(_permit) = self.connecting.acquire().await else {
                return Outcome::ConnectFailed("semaphore closed".into());
            };
            let until = (Instant::now() + CONNECT_TIMEOUT).min(self.deadline);
            match tokio::time::timeout_at(until, TcpStream::connect(self.target)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return Outcome::ConnectFailed(format!("{:?}", e.kind())),
                Err(_) => return Outcome::ConnectFailed("timeout".into()),
            }
        };
        self.open_now.fetch_add(1, Ordering::Relaxed);
        let outcome = self.dribble(&stream).await;
        self.open_now.fetch_sub(1, Ordering::Relaxed);
        outcome
    }

    /// Writes the head a byte at a time until the server answers, closes, or the run
    /// ends.
    async fn dribble(&self, stream: &TcpStream) -> Outcome {
        let connected = Instant::now();
        let mut response = Vec::with_capacity(RESPONSE_PREFIX);
        let mut buf = [0u8; 512];
        let mut written = 0usize;
        let mut next_byte = connected;
        loop {
            tokio::select! {
                readable = stream.readable() => {
                    if readable.is_err() {
                        return Outcome::Reset(connected.elapsed());
                    }
                    match stream.try_read(&mut buf) {
                        Ok(0) => return ended(&response, connected.elapsed(), false),
                        Ok(n) => {
                            let room = RESPONSE_PREFIX.saturating_sub(response.len());
                            response.extend_from_slice(&buf[..n.min(room)]);
                            if is_503(&response) {
                                return Outcome::Refused(connected.elapsed());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => return ended(&response, connected.elapsed(), true),
                    }
                }
                () = tokio::time::sleep_until(next_byte) => {
                    let byte = HEAD.get(written).copied().unwrap_or(b'a');
                    match stream.try_write(&[byte]) {
                        Ok(_) => written += 1,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => {
                            // The 503 may be waiting unread behind the reset.
                            if let Ok(n) = stream.try_read(&mut buf) {
                                let room = RESPONSE_PREFIX.saturating_sub(response.len());
                                response.extend_from_slice(&buf[..n.min(room)]);
                            }
                            return ended(&response, connected.elapsed(), true);
                        }
                    }
                    next_byte += self.byte_every;
                }
                () = tokio::time::sleep_until(self.deadline) => {
                    return Outcome::OpenAtEnd(connected.elapsed());
                }
            }
        }
    }
}

/// The outcome of a connection the server ended, by what it wrote first.
fn ended(response: &[u8], after: Duration, reset: bool) -> Outcome {
    if is_503(response) {
        Outcome::Refused(after)
    } else if reset {
        Outcome::Reset(after)
    } else {
        Outcome::Closed {
            after,
            status: status_code(response).map(str::to_owned),
        }
    }
}

fn is_503(response: &[u8]) -> bool {
    status_code(response) == Some("503")
}

/// The status code of an HTTP/1 status line, once its first 12 bytes are there.
fn status_code(response: &[u8]) -> Option<&str> {
    let line = response.strip_prefix(b"HTTP/1.")?;
    let code = line.get(2..5)?;
    std::str::from_utf8(code).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_status_of_a_response_prefix() {
        assert_eq!(
            status_code(b"HTTP/1.1 503 Service Unavailable\r\n"),
            Some("503")
        );
        assert_eq!(status_code(b"HTTP/1.0 408 "), Some("408"));
        assert_eq!(status_code(b"HTTP/1.1 5"), None);
        assert_eq!(status_code(b""), None);
        assert!(is_503(b"HTTP/1.1 503 "));
        assert!(matches!(
            ended(b"HTTP/1.1 503 x", Duration::ZERO, true),
            Outcome::Refused(_)
        ));
        assert!(matches!(
            ended(b"", Duration::ZERO, true),
            Outcome::Reset(_)
        ));
        assert!(matches!(
            ended(b"HTTP/1.1 408 x", Duration::ZERO, false),
            Outcome::Closed { status: Some(s), .. } if s == "408"
        ));
    }
}

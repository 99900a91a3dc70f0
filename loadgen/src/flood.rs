//! The `flood` scenario: one account sends, opens conversations and types as fast as
//! the server lets it, while another user pings over its own socket.
//!
//! The flooder has three sockets, one per kind, so that no kind waits behind another
//! (the server answers a socket's commands in order, and an `open` runs to its end
//! before the next frame is read; sends are pipelined):
//!
//! - **sends** to one conversation (with a user who has no socket open), up to
//!   `--send-window` unanswered at once; each is answered `sent` or `error`;
//! - **opens** of `--strangers` distinct users in turn (registered beforehand, so the
//!   server must let one address sign them all up), up to `--open-window` unanswered;
//!   each is answered `conversation` (`created` or not) or `error`. After the first
//!   round every open finds a conversation that exists;
//! - **typing** notices to the same conversation, which have no answer but an `error`
//!   when refused: they go in batches of `--typing-batch`, each followed by a `ping`
//!   whose `pong` closes the batch, at most four batches unanswered. Once the last
//!   `pong` is in, every refusal has been read, and the rest were taken.
//!
//! `--kinds` floods with fewer kinds. The server pushes each message to the sender's
//! other sockets too, so sends without a limit bury the open and typing sockets in
//! `message` frames; a kind flooded alone measures that kind only.
//!
//! Refusals are counted by their `code` (`rate_limited`, `busy`, `quota_exceeded`, …)
//! with the range of their `retry_after_secs`. The bystander's `ping`s go on a fixed
//! schedule (`--ping-rate`), latency counted from the scheduled time, first for a
//! baseline with the flooder's sockets open and idle, then during the flood.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};
use tokio::{
    sync::{Semaphore, oneshot},
    time::Instant,
};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    client::{Socket, User},
    probe,
    stats::{Latency, Summary},
};

/// After the flood, how long answers may take to come in.
const DRAIN: Duration = Duration::from_secs(30);
/// Registrations in flight during setup.
const SETUP_CONCURRENCY: usize = 8;
/// Typing batches unanswered at most.
const TYPING_BATCHES: usize = 4;
/// Commands written before a flush at most.
const FLUSH_EVERY: usize = 64;

/// The `flood` scenario's parameters.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long to flood.
    pub seconds: f64,
    /// What to flood with, each on its own socket.
    pub kinds: Vec<Kind>,
    /// Users to open conversations with, in turn.
    pub strangers: usize,
    /// Sends unanswered at most.
    pub send_window: usize,
    /// Opens unanswered at most.
    pub open_window: usize,
    /// Typing notices between two fences.
    pub typing_batch: usize,
    /// The bystander's pings a second.
    pub ping_rate: f64,
    /// Seconds of pinging before the flood.
    pub baseline_secs: f64,
    /// Body size of the sends, in bytes.
    pub body_bytes: usize,
}

impl Options {
    fn durations(&self) -> anyhow::Result<(Duration, Duration)> {
        let flood = Duration::try_from_secs_f64(self.seconds)
            .ok()
            .filter(|d| !d.is_zero())
            .with_context(|| {
                format!("--seconds must be a positive number, not {}", self.seconds)
            })?;
        let baseline = Duration::try_from_secs_f64(self.baseline_secs).with_context(|| {
            format!(
                "--baseline-secs must be a number of seconds, not {}",
                self.baseline_secs
            )
        })?;
        Ok((flood, baseline))
    }

    /// How long the measured phases take at most, drain included.
    pub fn expected_duration(&self) -> Duration {
        self.durations()
            .map(|(flood, baseline)| flood + baseline + DRAIN * 2)
            .unwrap_or_default()
    }
}

/// What one kind of command got through.
#[derive(Debug, Serialize)]
pub struct KindReport {
    /// Commands sent.
    pub sent: u64,
    /// Taken by the server: `sent` or `conversation` answers; for typing, those sent
    /// and not refused (known once every batch's `pong` is in).
    pub taken: u64,
    /// Refused, by the error's code.
    pub refused: BTreeMap<String, u64>,
    /// Not answered within the drain time (for typing, the notices of the batches
    /// whose `pong` did not come).
    pub unanswered: u64,
    /// `taken` per second of the flood.
    pub taken_per_s: f64,
    /// `sent` per second of the flood.
    pub sent_per_s: f64,
    /// Opens only: answers that created the conversation.
    pub created: Option<u64>,
    /// Seconds into the flood of the first refusal.
    pub first_refusal_s: Option<f64>,
    /// The smallest and largest `retry_after_secs` of the refusals.
    pub retry_after_secs: Option<(u64, u64)>,
    /// How the server ended the socket, if it did.
    pub closed: Option<String>,
}

impl KindReport {
    fn line(&self) -> String {
        let mut line = format!(
            "{} sent ({:.0}/s), {} taken ({:.1}/s), refused {:?}",
            self.sent, self.sent_per_s, self.taken, self.taken_per_s, self.refused
        );
        if let Some(created) = self.created {
            line.push_str(&format!(", {created} created"));
        }
        if let Some(first) = self.first_refusal_s {
            line.push_str(&format!(", first refusal at {first:.2} s"));
        }
        if let Some((low, high)) = self.retry_after_secs {
            line.push_str(&format!(", retry after {low}–{high} s"));
        }
        if self.unanswered > 0 {
            line.push_str(&format!(", {} unanswered", self.unanswered));
        }
        if let Some(closed) = &self.closed {
            line.push_str(&format!(", socket ended: {closed}"));
        }
        line
    }
}

/// The bystander's pings.
#[derive(Debug, Serialize)]
pub struct PingReport {
    /// Pings sent.
    pub sent: u64,
    /// `pong`s received.
    pub answered: u64,
    /// Scheduled time to `pong`.
    pub latency: Summary,
    /// The slowest pongs, at most five: `[seconds from the phase's start to the
    /// ping's scheduled time, latency in ms]`.
    pub worst: Vec<[f64; 2]>,
}

impl PingReport {
    fn line(&self) -> String {
        format!(
            "{} of {} answered; {}",
            self.answered, self.sent, self.latency
        )
    }
}

/// What a `flood` run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Always `"flood"`.
    pub scenario: &'static str,
    /// Seconds of flooding.
    pub seconds: f64,
    /// Users opened in turn.
    pub strangers: usize,
    /// Sends, if they were flooded.
    pub sends: Option<KindReport>,
    /// Opens, if they were flooded.
    pub opens: Option<KindReport>,
    /// Typing notices, if they were flooded.
    pub typing: Option<KindReport>,
    /// The bystander's pings before the flood.
    pub ping_before: PingReport,
    /// …and during it.
    pub ping: PingReport,
}

impl Report {
    /// Prints the report for a person.
    pub fn print(&self) {
        println!(
            "one account flooding for {:.0} s ({} strangers to open):",
            self.seconds, self.strangers
        );
        for (name, kind) in [
            ("sends", &self.sends),
            ("opens", &self.opens),
            ("typing", &self.typing),
        ] {
            if let Some(kind) = kind {
                println!("{name:<16} {}", kind.line());
            }
        }
        println!("{:<16} {}", "ping, before", self.ping_before.line());
        println!("{:<16} {}", "ping, during", self.ping.line());
    }
}

/// What the flooder sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// `send` to the flooder's peer.
    Send,
    /// `open` of the strangers in turn.
    Open,
    /// `typing` to the flooder's peer.
    Typing,
}

/// One kind's counts, shared by its writer and reader.
#[derive(Default)]
struct Counts {
    /// Commands sent (typing notices, not their fences).
    sent: AtomicU64,
    /// Units written: a send, an open, or a typing batch with its fence.
    units: AtomicU64,
    /// Units answered.
    answered: AtomicU64,
    /// `sent` and `conversation` answers.
    taken: AtomicU64,
    created: AtomicU64,
    /// Nanoseconds from the flood's start to the first refusal, plus one (0: none).
    first_refusal: AtomicU64,
    refusals: Mutex<Refusals>,
    /// Typing: refusals read since the last fence's `pong`. The server answers a
    /// socket's typing notices and pings in order, so these belong to the batch
    /// whose fence comes next.
    refused_unfenced: AtomicU64,
    /// Typing: refusals of the batches whose fence came.
    refused_fenced: AtomicU64,
    writer_done: AtomicBool,
}

#[derive(Default)]
struct Refusals {
    by_code: BTreeMap<String, u64>,
    retry_after: Option<(u64, u64)>,
}

/// The fields of an answer the flood reads.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    retry_after_secs: Option<u64>,
    #[serde(default)]
    created: Option<bool>,
    #[serde(default)]
    req: Option<u64>,
}

/// Runs the scenario against the server at `url`; `run_id` keeps usernames unique.
pub async fn run(url: &str, run_id: &str, options: &Options) -> anyhow::Result<Report> {
    let (flood, baseline) = options.durations()?;
    let wants = |kind| options.kinds.contains(&kind);
    if options.kinds.is_empty() {
        bail!("--kinds must name at least one of sends, opens, typing");
    }
    if options.send_window == 0 || options.open_window == 0 || options.typing_batch == 0 {
        bail!("--send-window, --open-window and --typing-batch must be at least 1");
    }
    if wants(Kind::Open) && options.strangers == 0 {
        bail!("--strangers must be at least 1 to flood opens");
    }
    if !(options.ping_rate.is_finite() && options.ping_rate > 0.0) {
        bail!("--ping-rate must be positive");
    }
    let strangers = if wants(Kind::Open) {
        options.strangers
    } else {
        0
    };
    eprintln!("registering the flooder, its peer, a bystander and {strangers} strangers…");
    let flooder = User::register(url, &format!("f{run_id}")).await?;
    let peer = User::register(url, &format!("p{run_id}")).await?;
    let bystander = User::register(url, &format!("b{run_id}")).await?;
    let strangers: Vec<i64> = stream::iter(0..strangers)
        .map(|i| async move {
            User::register(url, &format!("x{run_id}-{i}"))
                .await
                .map(|user| user.id)
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await
        .context(
            "registering the strangers (the server must allow this many sign-ups from one address)",
        )?;
    let conversation = flooder.open(&peer).await?;
    // One socket per kind flooded, opened before the clock starts.
    let mut sockets = Vec::new();
    for kind in [Kind::Send, Kind::Open, Kind::Typing] {
        if wants(kind) {
            sockets.push((kind, flooder.socket().await?));
        }
    }
    // The bystander runs on a thread of its own (its socket opened there, on that
    // thread's runtime): the baseline, then pings for as long as the flood lasts.
    let rate = options.ping_rate;
    let (baseline_done, baseline_over) = oneshot::channel();
    let pinging = probe::on_own_thread("gadka-load-ping", move || async move {
        let mut pinger = bystander.socket().await?;
        let before = ping(&mut pinger, rate, baseline).await?;
        let _ = baseline_done.send(());
        let during = ping(&mut pinger, rate, flood).await?;
        let _ = pinger.close(None).await;
        anyhow::Ok((before, during))
    })?;
    eprintln!(
        "pinging for {:.1} s before the flood…",
        baseline.as_secs_f64()
    );
    baseline_over
        .await
        .context("the bystander's thread ended")?;

    eprintln!("flooding for {:.0} s…", flood.as_secs_f64());
    let start = Instant::now();
    let deadline = start + flood;
    let batch = options.typing_batch as u64;
    // Each socket and the bystander on its own task, so that they run on every
    // thread of the runtime and none waits for another to read.
    let mut tasks = Vec::new();
    for (kind, ws) in sockets {
        let (window, per_unit) = match kind {
            Kind::Send => (options.send_window, 1),
            Kind::Open => (options.open_window, 1),
            Kind::Typing => (TYPING_BATCHES, batch),
        };
        let counts = Arc::new(Counts::default());
        let flow = Flow {
            kind,
            window,
            per_unit,
            counts: counts.clone(),
            start,
            deadline,
        };
        let task = match kind {
            Kind::Send => {
                let body = "x".repeat(options.body_bytes.max(1));
                tokio::spawn(flow.drive(ws, move |n| {
                    vec![Message::text(format!(
                        r#"{{"type":"send","conversation_id":{conversation},"txn_id":"f-{n}","body":"{body}","req":{n}}}"#
                    ))]
                }))
            }
            Kind::Open => {
                let strangers = strangers.clone();
                tokio::spawn(flow.drive(ws, move |n| {
                    let user = strangers[(n as usize) % strangers.len()];
                    vec![Message::text(format!(
                        r#"{{"type":"open","user_id":{user},"req":{n}}}"#
                    ))]
                }))
            }
            Kind::Typing => tokio::spawn(flow.drive(ws, move |n| {
                let mut frames: Vec<Message> = (0..batch)
                    .map(|i| {
                        let req = n * (batch + 1) + i;
                        Message::text(format!(
                            r#"{{"type":"typing","conversation_id":{conversation},"typing":true,"req":{req}}}"#
                        ))
                    })
                    .collect();
                let fence = n * (batch + 1) + batch;
                frames.push(Message::text(format!(r#"{{"type":"ping","req":{fence}}}"#)));
                frames
            })),
        };
        tasks.push((kind, per_unit, counts, task));
    }
    let secs = flood.as_secs_f64();
    let (mut sends, mut opens, mut typing) = (None, None, None);
    for (kind, per_unit, counts, task) in tasks {
        let closed = task.await.context("a flooding socket's task")??;
        let report = Some(report(&counts, kind, per_unit, secs, closed));
        match kind {
            Kind::Send => sends = report,
            Kind::Open => opens = report,
            Kind::Typing => typing = report,
        }
    }
    let (ping_before, ping) = pinging.await.context("the bystander's thread ended")??;
    Ok(Report {
        scenario: "flood",
        seconds: secs,
        strangers: strangers.len(),
        sends,
        opens,
        typing,
        ping_before,
        ping,
    })
}

/// One kind's flood, for [`Flow::drive`].
struct Flow {
    kind: Kind,
    /// Units unanswered at most.
    window: usize,
    /// Commands per unit.
    per_unit: u64,
    counts: Arc<Counts>,
    start: Instant,
    deadline: Instant,
}

impl Flow {
    /// Writes units on `ws` while the window allows until the deadline, and reads
    /// every answer until all are in (or the drain time is up). Returns how the
    /// server ended the socket, if it did.
    async fn drive(
        self,
        ws: Socket,
        frames: impl Fn(u64) -> Vec<Message>,
    ) -> anyhow::Result<Option<String>> {
        let Self {
            kind,
            window,
            per_unit,
            counts,
            start,
            deadline,
        } = self;
        let (mut sink, mut inbox) = ws.split();
        let credit = Semaphore::new(window);
        let write = async {
            let mut unit = 0u64;
            'flood: while Instant::now() < deadline {
                let permit = tokio::select! {
                    permit = credit.acquire() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break 'flood,
                    },
                    () = tokio::time::sleep_until(deadline) => break 'flood,
                };
                permit.forget();
                let mut ready = 1;
                while ready < FLUSH_EVERY {
                    match credit.try_acquire() {
                        Ok(permit) => {
                            permit.forget();
                            ready += 1;
                        }
                        Err(_) => break,
                    }
                }
                for _ in 0..ready {
                    for frame in frames(unit) {
                        if sink.feed(frame).await.is_err() {
                            break 'flood;
                        }
                    }
                    unit += 1;
                    counts.units.fetch_add(1, Ordering::AcqRel);
                    counts.sent.fetch_add(per_unit, Ordering::AcqRel);
                }
                if sink.flush().await.is_err() {
                    break;
                }
            }
            counts.writer_done.store(true, Ordering::Release);
        };
        let read = async {
            let drain_until = deadline + DRAIN;
            loop {
                if counts.writer_done.load(Ordering::Acquire)
                    && counts.answered.load(Ordering::Acquire)
                        >= counts.units.load(Ordering::Acquire)
                {
                    break None;
                }
                if Instant::now() >= drain_until {
                    break None;
                }
                let next =
                    match tokio::time::timeout(Duration::from_millis(100), inbox.next()).await {
                        Err(_) => continue,
                        Ok(next) => next,
                    };
                let text = match next {
                    None => break Some(String::from("ended")),
                    Some(Err(e)) => break Some(format!("error: {e}")),
                    Some(Ok(Message::Close(frame))) => {
                        break Some(match frame {
                            Some(frame) => {
                                format!("close {} {}", u16::from(frame.code), frame.reason)
                            }
                            None => String::from("close"),
                        });
                    }
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                };
                if answered(&text, kind, &counts, start) {
                    counts.answered.fetch_add(1, Ordering::AcqRel);
                    credit.add_permits(1);
                }
            }
        };
        let ((), closed) = tokio::join!(write, async {
            let closed = read.await;
            // A writer waiting for credit stops once nothing more will be answered.
            credit.close();
            closed
        });
        let mut ws = sink
            .reunite(inbox)
            .map_err(|_| anyhow::anyhow!("a socket's halves do not match"))?;
        if closed.is_none() {
            let _ = ws.close(None).await;
        }
        Ok(closed)
    }
}

/// Counts one frame from the server; whether it answered a unit (freeing its credit).
fn answered(text: &str, kind: Kind, counts: &Counts, start: Instant) -> bool {
    let Some(rest) = text.strip_prefix(r#"{"type":""#) else {
        return false;
    };
    let kind_of = |t: &str| rest.starts_with(t) && rest[t.len()..].starts_with('"');
    if kind_of("sent") {
        counts.taken.fetch_add(1, Ordering::AcqRel);
        true
    } else if kind_of("pong") {
        if kind == Kind::Typing {
            let batch = counts.refused_unfenced.swap(0, Ordering::AcqRel);
            counts.refused_fenced.fetch_add(batch, Ordering::AcqRel);
        }
        kind == Kind::Typing
    } else if kind_of("conversation") {
        counts.taken.fetch_add(1, Ordering::AcqRel);
        if let Ok(answer) = serde_json::from_str::<Answer>(text)
            && answer.created == Some(true)
        {
            counts.created.fetch_add(1, Ordering::AcqRel);
        }
        true
    } else if kind_of("error") {
        let answer = serde_json::from_str::<Answer>(text).ok();
        let code = answer
            .as_ref()
            .and_then(|a| a.code.clone())
            .unwrap_or_else(|| String::from("?"));
        let since = start.elapsed().as_nanos() as u64 + 1;
        let _ =
            counts
                .first_refusal
                .compare_exchange(0, since, Ordering::AcqRel, Ordering::Acquire);
        let mut refusals = counts.refusals.lock().unwrap_or_else(|e| e.into_inner());
        *refusals.by_code.entry(code).or_insert(0) += 1;
        if let Some(wait) = answer.and_then(|a| a.retry_after_secs) {
            refusals.retry_after = Some(match refusals.retry_after {
                Some((low, high)) => (low.min(wait), high.max(wait)),
                None => (wait, wait),
            });
        }
        // A refused typing notice is not its batch's answer; the fence is.
        if kind == Kind::Typing {
            counts.refused_unfenced.fetch_add(1, Ordering::AcqRel);
        }
        kind != Kind::Typing
    } else {
        false
    }
}

fn report(
    counts: &Counts,
    kind: Kind,
    per_unit: u64,
    secs: f64,
    closed: Option<String>,
) -> KindReport {
    let refusals = counts.refusals.lock().unwrap_or_else(|e| e.into_inner());
    let sent = counts.sent.load(Ordering::Acquire);
    let answered = counts.answered.load(Ordering::Acquire);
    let units_unanswered = counts
        .units
        .load(Ordering::Acquire)
        .saturating_sub(answered);
    let (taken, unanswered) = match kind {
        // Of the batches whose fence came, the notices not refused were taken; of the
        // others, those not refused are unknown.
        Kind::Typing => (
            (answered * per_unit).saturating_sub(counts.refused_fenced.load(Ordering::Acquire)),
            (units_unanswered * per_unit)
                .saturating_sub(counts.refused_unfenced.load(Ordering::Acquire)),
        ),
        Kind::Send | Kind::Open => (counts.taken.load(Ordering::Acquire), units_unanswered),
    };
    let first = counts.first_refusal.load(Ordering::Acquire);
    KindReport {
        sent,
        taken,
        refused: refusals.by_code.clone(),
        unanswered,
        taken_per_s: taken as f64 / secs,
        sent_per_s: sent as f64 / secs,
        created: (kind == Kind::Open).then(|| counts.created.load(Ordering::Acquire)),
        first_refusal_s: (first > 0).then(|| (first - 1) as f64 / 1e9),
        retry_after_secs: refusals.retry_after,
        closed,
    }
}

/// Pings on `ws` at `rate` a second for `how_long`, then waits up to 5 s for the
/// last `pong`s. Latency counts from each ping's scheduled time.
async fn ping(ws: &mut Socket, rate: f64, how_long: Duration) -> anyhow::Result<PingReport> {
    let start = Instant::now();
    let end = start + how_long;
    let due = |n: u64| start + Duration::from_secs_f64(n as f64 / rate);
    let mut latency = Latency::new();
    let mut worst: Vec<[f64; 2]> = Vec::new();
    let (mut sent, mut answered) = (0u64, 0u64);
    let give_up = end + Duration::from_secs(5);
    loop {
        let next = due(sent);
        let writing = next < end;
        if !writing && answered >= sent {
            break;
        }
        let wake = if writing { next } else { give_up };
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {
                if !writing {
                    break;
                }
                ws.send(Message::text(format!(r#"{{"type":"ping","req":{sent}}}"#)))
                    .await
                    .context("the bystander's socket")?;
                sent += 1;
            }
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => bail!("the bystander's socket was closed: {frame:?}"),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e).context("the bystander's socket"),
                    None => bail!("the bystander's socket ended"),
                };
                if !text.starts_with(r#"{"type":"pong""#) {
                    continue;
                }
                if let Some(req) = serde_json::from_str::<Answer>(&text).ok().and_then(|a| a.req)
                    && req < sent
                {
                    answered += 1;
                    let took = Instant::now().duration_since(due(req));
                    latency.record_nanos(took.as_nanos() as u64);
                    worst.push([
                        due(req).duration_since(start).as_secs_f64(),
                        took.as_secs_f64() * 1e3,
                    ]);
                    worst.sort_by(|a, b| b[1].total_cmp(&a[1]));
                    worst.truncate(5);
                }
            }
        }
    }
    Ok(PingReport {
        sent,
        answered,
        latency: latency.summary(),
        worst,
    })
}

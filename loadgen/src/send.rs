//! The `send` scenario: pairs of users, each sender sending to its recipient over a
//! socket, measuring send → `sent` (the server acknowledged the commit) and send →
//! `message` at the recipient (delivered), and messages delivered per second.
//!
//! On a cluster, `--sender-url` and `--recipient-url` put each pair's two users on
//! nodes of their own (registered, and their sockets opened, there; the session cookie
//! of one node holds on every node): send → `sent` is then answered by the sender's
//! node and send → `message` measures the crossing to the recipient's.
//!
//! Two ways to load the server:
//!
//! - closed loop (the default): each sender keeps `window` sends unacknowledged at most,
//!   so the load adapts to the server and throughput is what is measured;
//! - open loop (`--rate`): sends go out on a fixed schedule whatever the replies (see
//!   [`crate::pace`]), and latency is measured from the *scheduled* time, so that a
//!   server stall shows up in every message it delayed (no coordinated omission).
//!
//! The client must be cheaper than the server it measures, so per message it does no
//! hashing and no `Value` parse: a message is named by its counter, send times live in
//! a vector indexed by it, incoming frames are scanned (see [`crate::frames`]), ready
//! sends are fed and flushed once, and latencies go into histograms. Each pair runs as
//! one task whose writer and two readers are joined futures: a write that waits on the
//! network never stops the reads, and waking the writer when an acknowledgement frees
//! the window costs no cross-thread hand-off.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use futures_util::{Sink, SinkExt, Stream, StreamExt, TryStreamExt, stream};
use serde::Serialize;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::{
    client::{Socket, User},
    frames::{self, Frame, SendEncoder},
    pace::{Gate, Pacer, Schedule, nanos_since},
    stats::{Latency, Summary},
};

/// How long without any acknowledgement or delivery before the run is declared stuck.
const STALL: Duration = Duration::from_secs(30);
/// In open loop, the schedule starts this long after the tasks are spawned, so that no
/// sender starts behind.
const LEAD: Duration = Duration::from_millis(20);
/// Registrations and socket upgrades in flight during setup.
const SETUP_CONCURRENCY: usize = 8;

/// The `send` scenario's parameters, as given on the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Sender/recipient pairs.
    pub pairs: usize,
    /// Messages per sender (replaced by `rate × duration / pairs` when both are given).
    pub messages: usize,
    /// Unacknowledged sends per sender at most (closed loop only).
    pub window: usize,
    /// Body size in bytes.
    pub body_bytes: usize,
    /// Open loop: messages per second across all senders.
    pub rate: Option<f64>,
    /// Open loop: how long to send for, in seconds.
    pub duration: Option<f64>,
    /// The nodes the senders' accounts and sockets go to, pair by pair in turn; empty:
    /// the server of `--url`.
    pub sender_urls: Vec<String>,
    /// The nodes the recipients' accounts and sockets go to, pair by pair in turn;
    /// empty: the server of `--url`. Another node of a cluster than the sender's makes
    /// every delivery cross between nodes.
    pub recipient_urls: Vec<String>,
}

/// How sends are paced.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Closed { window: usize },
    Open { rate: f64 },
}

/// The options, checked.
#[derive(Debug, Clone, Copy)]
struct Plan {
    pairs: usize,
    messages: usize,
    body_bytes: usize,
    mode: Mode,
}

impl Options {
    fn plan(&self) -> anyhow::Result<Plan> {
        if self.pairs == 0 {
            bail!("--pairs must be at least 1");
        }
        let mode = match self.rate {
            None if self.duration.is_some() => bail!("--duration needs --rate"),
            None => Mode::Closed {
                window: self.window.max(1),
            },
            Some(rate) if rate.is_finite() && rate > 0.0 => Mode::Open { rate },
            Some(rate) => bail!("--rate must be a positive number, not {rate}"),
        };
        let messages = match (self.duration, mode) {
            (Some(secs), Mode::Open { rate }) if secs.is_finite() && secs > 0.0 => {
                (rate * secs / self.pairs as f64).ceil() as usize
            }
            (Some(secs), _) => bail!("--duration must be a positive number, not {secs}"),
            (None, _) => self.messages,
        };
        if messages == 0 {
            bail!("each sender must send at least 1 message");
        }
        Ok(Plan {
            pairs: self.pairs,
            messages,
            body_bytes: self.body_bytes,
            mode,
        })
    }

    /// About how long the measured phase should take, if it is known in advance.
    pub fn expected_duration(&self) -> Option<Duration> {
        let plan = self.plan().ok()?;
        match plan.mode {
            Mode::Open { rate } => Some(Duration::from_secs_f64(
                (plan.messages * plan.pairs) as f64 / rate,
            )),
            Mode::Closed { .. } => None,
        }
    }
}

/// What a `send` run measured. Latencies in open loop count from the scheduled send
/// time; `schedule_lag` says how late the client itself was on that schedule.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Always `"send"`.
    pub scenario: &'static str,
    /// `"closed"` (window) or `"open"` (rate).
    pub mode: &'static str,
    /// Sender/recipient pairs.
    pub pairs: usize,
    /// Messages each sender sent.
    pub messages_per_sender: usize,
    /// Closed loop: sends in flight per sender at most.
    pub window: Option<usize>,
    /// Open loop: the offered load, messages per second across all senders.
    pub rate_target: Option<f64>,
    /// Body size in bytes.
    pub body_bytes: usize,
    /// Where the senders were, pair by pair in turn.
    pub sender_urls: Vec<String>,
    /// Where the recipients were, pair by pair in turn.
    pub recipient_urls: Vec<String>,
    /// Messages sent.
    pub sent: u64,
    /// `sent` acknowledgements received for them.
    pub acked: u64,
    /// `message` frames received for them at the recipients.
    pub delivered: u64,
    /// `sent`/`message` frames that named no message of this run, or one twice.
    pub unexpected_frames: u64,
    /// The measured phase: from the first send to the last delivery, in seconds.
    pub elapsed_s: f64,
    /// Messages delivered per second over the measured phase.
    pub messages_per_s: f64,
    /// Send → `sent`.
    pub send_to_sent: Summary,
    /// Send → `message` at the recipient.
    pub send_to_delivered: Summary,
    /// Open loop: actual send time minus scheduled send time.
    pub schedule_lag: Option<Summary>,
}

impl Report {
    /// Prints the report for a person.
    pub fn print(&self) {
        let shape = match (self.window, self.rate_target) {
            (_, Some(rate)) => format!("open loop at {rate:.0} messages/s offered"),
            (Some(window), None) => format!("closed loop, window {window}"),
            (None, None) => String::from("closed loop"),
        };
        println!(
            "{} messages from {} senders ({shape}, {} B bodies) in {:.2}s: {:.0} messages/s delivered",
            self.delivered, self.pairs, self.body_bytes, self.elapsed_s, self.messages_per_s,
        );
        if self.sender_urls != self.recipient_urls {
            println!(
                "senders on {}, recipients on {}",
                self.sender_urls.join(", "),
                self.recipient_urls.join(", ")
            );
        }
        if self.unexpected_frames > 0 {
            println!("{} unexpected sent/message frames", self.unexpected_frames);
        }
        println!("{:<18} {}", "send → sent", self.send_to_sent);
        println!("{:<18} {}", "send → delivered", self.send_to_delivered);
        if let Some(lag) = &self.schedule_lag {
            println!("{:<18} {}", "schedule lag", lag);
        }
    }
}

/// One pair, ready to go: its conversation and both sockets.
struct Pair {
    index: usize,
    conversation: i64,
    sender: Socket,
    recipient: Socket,
}

/// A pair's counts, watched for stalls.
#[derive(Default)]
struct Progress {
    acked: AtomicUsize,
    delivered: AtomicUsize,
}

/// When message `k` counts as sent (nanoseconds since the clock started, 0 while it is
/// not), as the writer recorded it for the readers.
fn origin(sent_at: &[AtomicU64], k: usize) -> Option<u64> {
    match sent_at.get(k)?.load(Ordering::Acquire) {
        0 => None,
        t => Some(t),
    }
}

/// What one of a pair's readers saw.
struct Tally {
    latency: Latency,
    /// When the last expected frame arrived (ns since the clock started).
    last_ns: u64,
    unexpected: u64,
}

/// What one pair measured.
struct PairResult {
    sent: usize,
    acks: Tally,
    deliveries: Tally,
    lag: Option<Latency>,
}

/// Runs the scenario against the server at `url`; `run_id` keeps usernames unique.
pub async fn run(url: &str, run_id: &str, options: &Options) -> anyhow::Result<Report> {
    let plan = options.plan()?;
    let nodes = Nodes::new(url, options);
    let pairs = connect(&nodes, run_id, plan.pairs).await?;
    eprintln!(
        "running: {} pairs × {} messages…",
        plan.pairs, plan.messages
    );

    let base = Instant::now();
    let (start_ns, schedule) = match plan.mode {
        Mode::Closed { .. } => (0, None),
        Mode::Open { rate } => {
            let start_ns = LEAD.as_nanos() as u64;
            (start_ns, Some(Schedule::new(start_ns, rate, plan.pairs)))
        }
    };
    let mut progress = Vec::with_capacity(pairs.len());
    let mut gates = Vec::with_capacity(pairs.len());
    let mut tasks = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let counts = Arc::new(Progress::default());
        let gate = Arc::new(Gate::default());
        if let Mode::Closed { window } = plan.mode {
            gate.open_to(window);
        }
        progress.push(counts.clone());
        gates.push(gate.clone());
        let job = run_pair(pair, plan, schedule, base, counts, gate);
        tasks.push(tokio::spawn(job));
    }
    // Stops when the run ends, however it ends.
    let _pacer = match schedule {
        Some(schedule) => Some(
            Pacer::start(gates, plan.messages, schedule, base).context("start the pacer thread")?,
        ),
        None => None,
    };
    let all = futures_util::future::try_join_all(
        tasks
            .into_iter()
            .map(|task| async { task.await.context("a pair's task failed")? }),
    );
    let stall = match plan.mode {
        Mode::Closed { .. } => STALL,
        // A slow schedule must not look like a stall.
        Mode::Open { rate } => STALL.max(Duration::from_secs_f64(3.0 / rate)),
    };
    let results = tokio::select! {
        results = all => results?,
        stuck = watchdog(&progress, plan.messages, stall) => return Err(stuck),
    };
    Ok(summarize(&plan, &nodes, start_ns, results))
}

/// Where each pair's two users live: pair `p` has its sender on `senders[p % len]` and
/// its recipient on `recipients[p % len]`.
struct Nodes {
    senders: Vec<String>,
    recipients: Vec<String>,
}

impl Nodes {
    fn new(url: &str, options: &Options) -> Self {
        let or_url = |urls: &[String]| {
            let urls: Vec<String> = urls
                .iter()
                .map(|u| u.trim().trim_end_matches('/').to_owned())
                .filter(|u| !u.is_empty())
                .collect();
            if urls.is_empty() {
                vec![url.to_owned()]
            } else {
                urls
            }
        };
        Self {
            senders: or_url(&options.sender_urls),
            recipients: or_url(&options.recipient_urls),
        }
    }

    fn sender(&self, pair: usize) -> &str {
        &self.senders[pair % self.senders.len()]
    }

    fn recipient(&self, pair: usize) -> &str {
        &self.recipients[pair % self.recipients.len()]
    }
}

/// Registers the users (each on its own node), opens the conversations (on the
/// sender's node) and then the sockets (each user's on its node), all before the clock
/// starts.
async fn connect(nodes: &Nodes, run_id: &str, count: usize) -> anyhow::Result<Vec<Pair>> {
    eprintln!("setting up {count} pairs…");
    let accounts: Vec<(User, User, i64)> = stream::iter(0..count)
        .map(|p| async move {
            let (sender_name, recipient_name) =
                (format!("s{run_id}-{p}"), format!("r{run_id}-{p}"));
            let (sender, recipient) = tokio::try_join!(
                User::register(nodes.sender(p), &sender_name),
                User::register(nodes.recipient(p), &recipient_name),
            )?;
            let conversation = sender.open(&recipient).await?;
            anyhow::Ok((sender, recipient, conversation))
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    stream::iter(accounts.into_iter().enumerate())
        .map(|(index, (sender, recipient, conversation))| async move {
            let (sender, recipient) = tokio::try_join!(sender.socket(), recipient.socket())?;
            anyhow::Ok(Pair {
                index,
                conversation,
                sender,
                recipient,
            })
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await
}

/// One pair's run: a writer and two readers, joined in one task.
async fn run_pair(
    pair: Pair,
    plan: Plan,
    schedule: Option<Schedule>,
    base: Instant,
    progress: Arc<Progress>,
    gate: Arc<Gate>,
) -> anyhow::Result<PairResult> {
    let n = plan.messages;
    let encoder = SendEncoder::new(pair.conversation, pair.index, plan.body_bytes);
    let (mut sink, mut acks) = pair.sender.split();
    let mut inbox = pair.recipient;
    let sent_at: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
    let mut lag = Latency::new();
    let writer = write(
        &mut sink,
        &encoder,
        &sent_at,
        &gate,
        schedule.map(|s| (s, pair.index)),
        &mut lag,
        base,
    );
    let window = match plan.mode {
        Mode::Closed { window } => Some((&*gate, window)),
        Mode::Open { .. } => None,
    };
    let reading_acks = read(
        &mut acks,
        Expect::Sent,
        &sent_at,
        &progress.acked,
        window,
        base,
    );
    let reading_deliveries = read(
        &mut inbox,
        Expect::Delivered,
        &sent_at,
        &progress.delivered,
        None,
        base,
    );
    let (sent, acks_tally, deliveries) =
        tokio::try_join!(writer, reading_acks, reading_deliveries)?;
    // Goodbyes are not measured; a server that has already gone is not an error here.
    let _ = sink.close().await;
    let _ = inbox.close(None).await;
    Ok(PairResult {
        sent,
        acks: acks_tally,
        deliveries,
        lag: schedule.map(|_| lag),
    })
}

/// Sends every message the gate lets through, feeding them all and flushing once, and
/// records when each counts as sent: now in the closed loop; in the open loop the time
/// it was due (`schedule`: this sender's and its number), whatever held it up, with
/// the lateness recorded in `lag`.
async fn write<S>(
    sink: &mut S,
    encoder: &SendEncoder,
    sent_at: &[AtomicU64],
    gate: &Gate,
    schedule: Option<(Schedule, usize)>,
    lag: &mut Latency,
    base: Instant,
) -> anyhow::Result<usize>
where
    S: Sink<Message, Error = tungstenite::Error> + Unpin,
{
    let n = sent_at.len();
    let mut next = 0;
    while next < n {
        let limit = gate.wait_past(next).await.min(n);
        // One clock reading per batch; at most the encoding of the batch early.
        let now = nanos_since(base).max(1);
        for (at, k) in sent_at[next..limit].iter().zip(next..) {
            let origin = match schedule {
                None => now,
                Some((schedule, sender)) => {
                    let due = schedule.due(sender, k);
                    lag.record_nanos(now.saturating_sub(due));
                    due.max(1)
                }
            };
            at.store(origin, Ordering::Release);
            sink.feed(encoder.frame(k as u64)).await?;
        }
        sink.flush().await?;
        next = limit;
    }
    Ok(n)
}

/// Which frame a reader counts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// `sent`, on the sender's socket.
    Sent,
    /// `message`, on the recipient's socket.
    Delivered,
}

/// Reads one socket until a frame has arrived for each message in `sent_at`, timing
/// each. In the closed loop, the acknowledgements' reader opens the sender's `window`.
async fn read<S>(
    stream: &mut S,
    expect: Expect,
    sent_at: &[AtomicU64],
    count: &AtomicUsize,
    window: Option<(&Gate, usize)>,
    base: Instant,
) -> anyhow::Result<Tally>
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let who = match expect {
        Expect::Sent => "sender",
        Expect::Delivered => "recipient",
    };
    let n = sent_at.len();
    let mut seen = vec![0u64; n.div_ceil(64)];
    let mut tally = Tally {
        latency: Latency::new(),
        last_ns: 0,
        unexpected: 0,
    };
    let mut received = 0;
    while received < n {
        let text = match stream.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(close))) => {
                bail!("the server closed the {who}'s socket: {close:?}")
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e).context(format!("reading the {who}'s socket")),
            None => bail!("the {who}'s socket ended"),
        };
        let now = nanos_since(base);
        let counter = match (frames::classify(&text)?, expect) {
            (Frame::Sent(k), Expect::Sent) | (Frame::Message(k), Expect::Delivered) => k,
            (Frame::Error, _) => bail!(
                "the server sent the {who} an error: {}",
                frames::excerpt(&text)
            ),
            _ => continue,
        };
        let Some((k, origin_ns)) = counter
            .and_then(|k| usize::try_from(k).ok())
            .filter(|&k| k < n && seen[k / 64] & (1 << (k % 64)) == 0)
            .and_then(|k| Some((k, origin(sent_at, k)?)))
        else {
            tally.unexpected += 1;
            continue;
        };
        seen[k / 64] |= 1 << (k % 64);
        tally.latency.record_nanos(now.saturating_sub(origin_ns));
        tally.last_ns = now;
        received += 1;
        count.store(received, Ordering::Relaxed);
        if let Some((gate, window)) = window {
            gate.open_to(received + window);
        }
    }
    Ok(tally)
}

/// Fails the run when no pair has made progress for `stall`.
async fn watchdog(progress: &[Arc<Progress>], n: usize, stall: Duration) -> anyhow::Error {
    let totals = || {
        progress.iter().fold((0, 0), |(a, d), p| {
            (
                a + p.acked.load(Ordering::Relaxed),
                d + p.delivered.load(Ordering::Relaxed),
            )
        })
    };
    let mut last = totals();
    let mut since = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = totals();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= stall {
            let expected = n * progress.len();
            return anyhow!(
                "no progress for {}s: {} of {expected} sends acknowledged, {} delivered",
                stall.as_secs(),
                now.0,
                now.1
            );
        }
    }
}

/// Adds up the pairs' results.
fn summarize(plan: &Plan, nodes: &Nodes, start_ns: u64, results: Vec<PairResult>) -> Report {
    let mut sent = 0;
    let mut acked = Latency::new();
    let mut delivered = Latency::new();
    let mut lag = Latency::new();
    let mut unexpected = 0;
    let mut last_ns = start_ns;
    for r in &results {
        sent += r.sent as u64;
        acked.merge(&r.acks.latency);
        delivered.merge(&r.deliveries.latency);
        if let Some(l) = &r.lag {
            lag.merge(l);
        }
        unexpected += r.acks.unexpected + r.deliveries.unexpected;
        last_ns = last_ns.max(r.deliveries.last_ns).max(r.acks.last_ns);
    }
    let send_to_sent = acked.summary();
    let send_to_delivered = delivered.summary();
    let elapsed_s = (last_ns - start_ns) as f64 / 1e9;
    let (mode, window, rate_target, schedule_lag) = match plan.mode {
        Mode::Closed { window } => ("closed", Some(window), None, None),
        Mode::Open { rate } => ("open", None, Some(rate), Some(lag.summary())),
    };
    Report {
        scenario: "send",
        mode,
        pairs: plan.pairs,
        messages_per_sender: plan.messages,
        window,
        rate_target,
        body_bytes: plan.body_bytes,
        sender_urls: nodes.senders.clone(),
        recipient_urls: nodes.recipients.clone(),
        sent,
        acked: send_to_sent.count,
        delivered: send_to_delivered.count,
        unexpected_frames: unexpected,
        elapsed_s,
        messages_per_s: if elapsed_s > 0.0 {
            send_to_delivered.count as f64 / elapsed_s
        } else {
            0.0
        },
        send_to_sent,
        send_to_delivered,
        schedule_lag,
    }
}

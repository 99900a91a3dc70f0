//! The `failover` scenario: two nodes of a cluster, A (`--url`) and B (`--other-url`),
//! under a light open-loop load; node A is killed with `kill -9` again and again, and
//! each time the tool measures how long its clients took to be served by B.
//!
//! `--clients` users have their socket on A and as many on B, each sending to a peer
//! registered on the other node, together `--rate` messages a second. A client behaves
//! as one behind a load balancer would: when its socket ends it connects again to the
//! same node and, if that node refuses, to the other; it then sends again, with the
//! same `txn_id`s, every message not yet acknowledged (and one refused with an error
//! after the `retry_after_secs` it was told, or a second), so that a message is
//! acknowledged once and must be stored once.
//!
//! Each round: `--settle` seconds of load with A's clients on A; the time `t0`, then
//! `kill -9` of the process in `--pid-file`; the figure of the round is the time from
//! `t0` to the first `sent` that one of A's clients reads on a socket to B (and, beside
//! it, to the last of them doing so). Then `--restart` (a shell command that starts A
//! again, writes its new process id into `--pid-file` and returns once A answers) and
//! A's clients are moved back to A (their sockets to B closed, the unacknowledged sent
//! again on A) before the next round.
//!
//! At the end every client stops sending and waits for its last acknowledgements.
//! `--acked-out` writes each acknowledged message as `user_id<TAB>txn_id`, so that a
//! script can count the rows the database holds for them (each exactly once).

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::Value;
use tokio::{
    sync::{mpsc, watch},
    time::{MissedTickBehavior, sleep_until},
};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    client::{Socket, User},
    stats::{Latency, Summary},
};

/// How long a connection attempt may take before the other node is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Between two connection attempts that failed.
const CONNECT_PAUSE: Duration = Duration::from_millis(20);
/// How long the clients may take to be back on A after a restart.
const BACK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the clients may take for their last acknowledgements at the end.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Registrations and conversations in flight during setup.
const SETUP_CONCURRENCY: usize = 8;

/// The scenario's parameters, as given on the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Node B, where A's clients go when A dies.
    pub other_url: String,
    /// A file holding node A's process id, read before each kill.
    pub pid_file: PathBuf,
    /// A shell command that starts node A again (writing `pid_file`) and returns once
    /// it answers.
    pub restart: String,
    /// Rounds: kills of node A.
    pub kills: usize,
    /// Clients with their socket on A, and as many on B.
    pub clients: usize,
    /// Messages a second across all clients.
    pub rate: f64,
    /// Seconds of load on both nodes before each kill.
    pub settle: f64,
    /// Seconds A's first client may take to be served by B before the round fails.
    pub timeout: f64,
    /// Where to write every acknowledged message as `user_id<TAB>txn_id`.
    pub acked_out: Option<PathBuf>,
}

impl Options {
    fn check(&self) -> anyhow::Result<()> {
        if self.clients == 0 || self.kills == 0 {
            bail!("--clients and --kills must be at least 1");
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            bail!("--rate must be a positive number, not {}", self.rate);
        }
        for (name, secs) in [("--settle", self.settle), ("--timeout", self.timeout)] {
            if !(secs.is_finite() && secs >= 0.0) {
                bail!("{name} must be a number of seconds, not {secs}");
            }
        }
        Ok(())
    }

    /// The longest the scenario should take, restarts aside.
    pub fn expected_duration(&self) -> Duration {
        let round = self.settle + self.timeout + BACK_TIMEOUT.as_secs_f64();
        Duration::from_secs_f64((self.kills as f64 * round).min(1e7)) + DRAIN_TIMEOUT
    }
}

/// What a `failover` run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Always `"failover"`.
    pub scenario: &'static str,
    /// Rounds run (kills of node A).
    pub kills: usize,
    /// Clients on each node.
    pub clients_per_node: usize,
    /// Messages a second offered across all clients.
    pub rate: f64,
    /// Per round: from `kill -9` to the first `sent` that one of A's clients read from
    /// node B, in milliseconds (rounds that timed out are left out and counted in
    /// `failed_rounds`).
    pub failover_ms: Spread,
    /// Per round: from `kill -9` until every one of A's clients had read a `sent` from B.
    pub all_clients_ms: Spread,
    /// Rounds in which no client of A was served by B within `--timeout`.
    pub failed_rounds: usize,
    /// Each round, in order.
    pub rounds: Vec<Round>,
    /// Sockets that ended without the client asking, by node and close code.
    pub sockets_ended: BTreeMap<String, u64>,
    /// `error` frames in answer to a send, by code.
    pub errors: BTreeMap<String, u64>,
    /// Distinct messages sent (each counted once, however often it was sent again).
    pub sent: u64,
    /// Messages acknowledged with `sent`.
    pub acked: u64,
    /// Messages sent again after a socket ended or an error.
    pub resent: u64,
    /// `sent` frames for a message already acknowledged.
    pub duplicate_acks: u64,
    /// Messages still unacknowledged when the run ended.
    pub unacked_at_end: u64,
    /// From a message's first send to its `sent`, over all messages acknowledged.
    pub send_to_sent: Summary,
}

/// The median and the worst of a few figures, and the figures themselves.
#[derive(Debug, Serialize)]
pub struct Spread {
    pub p50: f64,
    pub max: f64,
    pub values: Vec<f64>,
}

impl Spread {
    fn of(values: Vec<f64>) -> Self {
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let p50 = match n {
            0 => 0.0,
            _ => (sorted[(n - 1) / 2] + sorted[n / 2]) / 2.0,
        };
        Self {
            p50: round1(p50),
            max: round1(sorted.last().copied().unwrap_or(0.0)),
            values,
        }
    }
}

/// One kill of node A.
#[derive(Debug, Serialize)]
pub struct Round {
    /// From the kill to the first `sent` from B to a client of A, ms.
    pub first_ms: Option<f64>,
    /// From the kill until every client of A had a `sent` from B, ms.
    pub all_ms: Option<f64>,
    /// Sockets to B that ended on their own during the round (the clients' own, of
    /// those that were on B from the start and of those that came from A).
    pub b_sockets_ended: u64,
    /// How long the restart command took, ms.
    pub restart_ms: f64,
}

impl Report {
    /// Prints the report for a person.
    pub fn print(&self) {
        println!(
            "{} kills of node A, {} clients on each node, {:.0} messages/s offered",
            self.kills, self.clients_per_node, self.rate
        );
        println!(
            "kill → first sent through B: p50 {:.1} ms, max {:.1} ms ({} rounds failed)",
            self.failover_ms.p50, self.failover_ms.max, self.failed_rounds
        );
        println!(
            "kill → every client of A served by B: p50 {:.1} ms, max {:.1} ms",
            self.all_clients_ms.p50, self.all_clients_ms.max
        );
        println!(
            "{} messages sent, {} acknowledged, {} sent again, {} acknowledged twice, {} unacknowledged at the end",
            self.sent, self.acked, self.resent, self.duplicate_acks, self.unacked_at_end
        );
        println!("sockets ended on their own: {:?}", self.sockets_ended);
        if !self.errors.is_empty() {
            println!("errors: {:?}", self.errors);
        }
        println!("{:<18} {}", "send → sent", self.send_to_sent);
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn ms(d: Duration) -> f64 {
    round1(d.as_secs_f64() * 1e3)
}

/// The two nodes: index 0 is A (killed), 1 is B.
const A: usize = 0;
const B: usize = 1;

/// What a client tells the controller.
#[derive(Debug)]
enum Event {
    /// The first `sent` read on a socket to `node`.
    FirstAck {
        client: usize,
        node: usize,
        at: Instant,
    },
    /// A socket to `node` ended without the client asking (`code`: its close code, or
    /// how it ended).
    Ended {
        node: usize,
        at: Instant,
        code: String,
    },
}

/// One client, ready to go.
struct Spec {
    index: usize,
    user: User,
    conversation: i64,
    nodes: [String; 2],
    /// Time between two of its sends.
    period: Duration,
    /// When its first send is due.
    start: Instant,
}

/// What one client did.
#[derive(Default)]
struct Outcome {
    user_id: i64,
    index: usize,
    acked: Vec<u64>,
    sent: u64,
    resent: u64,
    duplicate_acks: u64,
    unacked: u64,
    errors: BTreeMap<String, u64>,
    latency: Option<Latency>,
}

/// Runs the scenario: node A at `url`.
pub async fn run(url: &str, run_id: &str, options: &Options) -> anyhow::Result<Report> {
    options.check()?;
    let nodes = [
        url.trim_end_matches('/').to_owned(),
        options.other_url.trim_end_matches('/').to_owned(),
    ];
    let n = options.clients;
    eprintln!("setting up {} clients on each node…", n);
    let users: Vec<(usize, User, i64)> = futures_util::stream::iter(0..2 * n)
        .map(|i| {
            let nodes = &nodes;
            async move {
                let (home, away) = if i < n { (A, B) } else { (B, A) };
                let (name, peer_name) = (format!("f{run_id}-{i}"), format!("g{run_id}-{i}"));
                let (user, peer) = tokio::try_join!(
                    User::register(&nodes[home], &name),
                    User::register(&nodes[away], &peer_name),
                )?;
                let conversation = user.open(&peer).await?;
                anyhow::Ok((i, user, conversation))
            }
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;

    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (stop_tx, stop) = watch::channel(false);
    let period = Duration::from_secs_f64(2.0 * n as f64 / options.rate);
    let start = Instant::now() + Duration::from_millis(100);
    let mut targets = Vec::with_capacity(2 * n);
    let mut tasks = Vec::with_capacity(2 * n);
    for (i, user, conversation) in users {
        let home = if i < n { A } else { B };
        let (target_tx, target) = watch::channel(home);
        targets.push(target_tx);
        let spec = Spec {
            index: i,
            user,
            conversation,
            nodes: nodes.clone(),
            period,
            // The clients' sends are spread over the period.
            start: start + period.mul_f64(i as f64 / (2 * n) as f64),
        };
        tasks.push(tokio::spawn(client(
            spec,
            target,
            stop.clone(),
            events_tx.clone(),
        )));
    }
    drop(events_tx);

    // Every client served once before the first kill.
    let mut log = Log::default();
    let everyone: Vec<usize> = (0..2 * n).collect();
    let began = Instant::now();
    log.until_acked(&mut events, &everyone, None, began, began + BACK_TIMEOUT)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "the clients' first sends were not acknowledged within {}s",
                BACK_TIMEOUT.as_secs()
            )
        })?;

    let on_a: Vec<usize> = (0..n).collect();
    let timeout = Duration::from_secs_f64(options.timeout);
    let settle = Duration::from_secs_f64(options.settle);
    let mut rounds = Vec::with_capacity(options.kills);
    for round in 0..options.kills {
        log.drain(&mut events);
        tokio::time::sleep(settle).await;
        let pid = std::fs::read_to_string(&options.pid_file)
            .with_context(|| format!("read {}", options.pid_file.display()))?;
        let pid = pid.trim().to_owned();
        let t0 = kill(&pid).await?;
        eprintln!("round {}: killed {pid}", round + 1);
        let firsts = log
            .until_acked(&mut events, &on_a, Some(B), t0, t0 + timeout)
            .await
            .unwrap_or_else(|partial| partial);
        // Past the first, the others have until the round's deadline too.
        let first = firsts.iter().flatten().min().map(|&at| at - t0);
        let all = match firsts.iter().all(Option::is_some) {
            true => firsts.iter().flatten().max().map(|&at| at - t0),
            false => None,
        };
        let restart_at = Instant::now();
        restart(&options.restart).await?;
        let restart_ms = ms(restart_at.elapsed());
        let back = Instant::now();
        for target in &targets[..n] {
            target.send_replace(A);
        }
        log.until_acked(&mut events, &on_a, Some(A), back, back + BACK_TIMEOUT)
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "round {}: the clients did not get back to node A within {}s of its restart",
                    round + 1,
                    BACK_TIMEOUT.as_secs()
                )
            })?;
        let b_sockets_ended = log.ended_on(B, t0);
        eprintln!(
            "round {}: first through B after {}, all after {}, {b_sockets_ended} sockets to B ended, restart {restart_ms} ms",
            round + 1,
            first.map_or("-".into(), |d| format!("{} ms", ms(d))),
            all.map_or("-".into(), |d| format!("{} ms", ms(d))),
        );
        rounds.push(Round {
            first_ms: first.map(ms),
            all_ms: all.map(ms),
            b_sockets_ended,
            restart_ms,
        });
    }

    stop_tx.send_replace(true);
    log.drain(&mut events);
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.context("a client's task failed")??);
    }
    log.drain(&mut events);
    if let Some(path) = &options.acked_out {
        let mut text = String::new();
        for o in &outcomes {
            for k in &o.acked {
                let _ = writeln!(text, "{}\t{}-{k}", o.user_id, o.index);
            }
        }
        std::fs::write(path, text).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(summarize(options, rounds, &log, outcomes))
}

/// `kill -9 PID`; returns when the command was started (the round's `t0`).
async fn kill(pid: &str) -> anyhow::Result<Instant> {
    let pid = pid.to_owned();
    tokio::task::spawn_blocking(move || {
        let t0 = Instant::now();
        let status = Command::new("kill")
            .args(["-9", &pid])
            .status()
            .context("run kill")?;
        if !status.success() {
            bail!("kill -9 {pid}: {status}");
        }
        Ok(t0)
    })
    .await?
}

/// Runs the restart command with `sh -c` and waits for it.
async fn restart(command: &str) -> anyhow::Result<()> {
    let command = command.to_owned();
    tokio::task::spawn_blocking(move || {
        let status = Command::new("sh")
            .args(["-c", &command])
            .status()
            .with_context(|| format!("run {command:?}"))?;
        if !status.success() {
            bail!("the restart command {command:?} failed: {status}");
        }
        Ok(())
    })
    .await?
}

/// What the clients reported, kept for the rounds' figures.
#[derive(Default)]
struct Log {
    first_acks: Vec<(usize, usize, Instant)>,
    ended: Vec<(usize, Instant, String)>,
}

impl Log {
    fn note(&mut self, event: Event) {
        match event {
            Event::FirstAck { client, node, at } => self.first_acks.push((client, node, at)),
            Event::Ended { node, at, code } => self.ended.push((node, at, code)),
        }
    }

    fn drain(&mut self, events: &mut mpsc::UnboundedReceiver<Event>) {
        while let Ok(event) = events.try_recv() {
            self.note(event);
        }
    }

    /// Waits until each of `clients` has read its first `sent` on a socket to `node`
    /// (any node if `None`) at or after `after`; returns when each did, or, at
    /// `deadline`, what came by then as the error.
    async fn until_acked(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<Event>,
        clients: &[usize],
        node: Option<usize>,
        after: Instant,
        deadline: Instant,
    ) -> Result<Vec<Option<Instant>>, Vec<Option<Instant>>> {
        let found = |log: &Log| -> Vec<Option<Instant>> {
            clients
                .iter()
                .map(|&c| {
                    log.first_acks
                        .iter()
                        .filter(|&&(client, n, at)| {
                            client == c && node.is_none_or(|node| node == n) && at >= after
                        })
                        .map(|&(_, _, at)| at)
                        .min()
                })
                .collect()
        };
        loop {
            self.drain(events);
            let now = found(self);
            if now.iter().all(Option::is_some) {
                return Ok(now);
            }
            tokio::select! {
                event = events.recv() => match event {
                    Some(event) => self.note(event),
                    None => return Err(now),
                },
                _ = sleep_until(deadline.into()) => return Err(found(self)),
            }
        }
    }

    /// Sockets to `node` that ended on their own since `since`.
    fn ended_on(&self, node: usize, since: Instant) -> u64 {
        self.ended
            .iter()
            .filter(|&&(n, at, _)| n == node && at >= since)
            .count() as u64
    }
}

/// A client's messages: when each was first sent, which are unacknowledged, which
/// wait to be sent again after an error, and what came of them.
struct Messages {
    index: usize,
    first_sent: Vec<Instant>,
    pending: BTreeSet<u64>,
    retry: BTreeMap<u64, Instant>,
    latency: Latency,
    out: Outcome,
}

impl Messages {
    /// A new message: its number.
    fn next(&mut self) -> u64 {
        let k = self.first_sent.len() as u64;
        self.first_sent.push(Instant::now());
        self.pending.insert(k);
        self.out.sent += 1;
        k
    }

    /// The messages refused earlier whose pause is over, taken off the retry list.
    fn due(&mut self, now: Instant) -> Vec<u64> {
        let due: Vec<u64> = self
            .retry
            .iter()
            .filter(|&(_, &at)| at <= now)
            .map(|(&k, _)| k)
            .collect();
        for k in &due {
            self.retry.remove(k);
        }
        self.out.resent += due.len() as u64;
        due
    }

    /// Every unacknowledged message, to be sent again on a new socket.
    fn all_pending(&mut self) -> Vec<u64> {
        self.retry.clear();
        self.out.resent += self.pending.len() as u64;
        self.pending.iter().copied().collect()
    }

    /// Reads a frame from the server; true if it was a `sent`.
    fn read(&mut self, text: &str, now: Instant) -> bool {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            return false;
        };
        match frame["type"].as_str() {
            Some("sent") => {
                let k = frame["txn_id"]
                    .as_str()
                    .and_then(|t| counter(t, self.index));
                match k {
                    Some(k) if self.pending.remove(&k) => {
                        self.retry.remove(&k);
                        let took = now - self.first_sent[k as usize];
                        self.latency.record_nanos(took.as_nanos() as u64);
                        self.out.acked.push(k);
                    }
                    _ => self.out.duplicate_acks += 1,
                }
                true
            }
            Some("error") => {
                let code = frame["code"].as_str().unwrap_or("?").to_owned();
                *self.out.errors.entry(code).or_default() += 1;
                if let Some(k) = frame["req"].as_u64().filter(|k| self.pending.contains(k)) {
                    let secs = frame["retry_after_secs"].as_f64().unwrap_or(1.0);
                    let pause = Duration::from_secs_f64(secs.clamp(0.0, 60.0));
                    self.retry.insert(k, now + pause);
                }
                false
            }
            _ => false,
        }
    }
}

/// One client: sends on its schedule to its conversation over a socket to its target
/// node, connecting again (and sending again what is unacknowledged) whenever the
/// socket ends or the target changes, until `stop` and its last acknowledgement.
async fn client(
    spec: Spec,
    mut target: watch::Receiver<usize>,
    mut stop: watch::Receiver<bool>,
    events: mpsc::UnboundedSender<Event>,
) -> anyhow::Result<Outcome> {
    let mut m = Messages {
        index: spec.index,
        first_sent: Vec::new(),
        pending: BTreeSet::new(),
        retry: BTreeMap::new(),
        latency: Latency::new(),
        out: Outcome {
            user_id: spec.user.id,
            index: spec.index,
            ..Outcome::default()
        },
    };
    let mut ticker = tokio::time::interval_at(spec.start.into(), spec.period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut node = *target.borrow_and_update();
    let mut stopping: Option<Instant> = None;
    let done = |m: &Messages, stopping: Option<Instant>| {
        stopping.is_some_and(|since| m.pending.is_empty() || since.elapsed() > DRAIN_TIMEOUT)
    };
    'connect: loop {
        if done(&m, stopping) {
            break;
        }
        if target.has_changed().unwrap_or(false) {
            node = *target.borrow_and_update();
        }
        let connecting = spec.user.socket_at(&spec.nodes[node]);
        let mut ws = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(ws)) => ws,
            // Refused or slow: the other node, as a balancer would.
            _ => {
                node = 1 - node;
                tokio::time::sleep(CONNECT_PAUSE).await;
                continue;
            }
        };
        let mut acked_here = false;
        // What is unacknowledged goes again, in order, with its txn_id.
        if send_all(&mut ws, &spec, &m.all_pending()).await.is_err() {
            ended(&events, node, "write failed");
            continue;
        }
        loop {
            let next_retry = m.retry.values().min().copied();
            let retry_at = sleep_until(next_retry.unwrap_or_else(Instant::now).into());
            let drain_check = tokio::time::sleep(Duration::from_millis(100));
            let to_send = tokio::select! {
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let now = Instant::now();
                        if m.read(&text, now) && !acked_here {
                            acked_here = true;
                            let client = spec.index;
                            let _ = events.send(Event::FirstAck { client, node, at: now });
                        }
                        Vec::new()
                    }
                    Some(Ok(Message::Close(close))) => {
                        let code = close.map(|c| u16::from(c.code).to_string());
                        ended(&events, node, code.as_deref().unwrap_or("no code"));
                        continue 'connect;
                    }
                    Some(Ok(_)) => Vec::new(),
                    Some(Err(_)) | None => {
                        ended(&events, node, "dropped");
                        continue 'connect;
                    }
                },
                _ = ticker.tick(), if stopping.is_none() => vec![m.next()],
                _ = retry_at, if next_retry.is_some() => m.due(Instant::now()),
                changed = target.changed() => {
                    let to = *target.borrow_and_update();
                    if changed.is_ok() && to != node {
                        node = to;
                        let _ = ws.close(None).await;
                        continue 'connect;
                    }
                    Vec::new()
                }
                _ = stop.changed(), if stopping.is_none() => {
                    stopping = Some(Instant::now());
                    Vec::new()
                }
                // While stopping, the drain's deadline is checked at least this often.
                _ = drain_check, if stopping.is_some() => Vec::new(),
            };
            if send_all(&mut ws, &spec, &to_send).await.is_err() {
                ended(&events, node, "write failed");
                continue 'connect;
            }
            if done(&m, stopping) {
                let _ = ws.close(None).await;
                break 'connect;
            }
        }
    }
    let mut out = m.out;
    out.unacked = m.pending.len() as u64;
    out.latency = Some(m.latency);
    Ok(out)
}

/// Tells the controller that a socket to `node` ended without the client asking.
fn ended(events: &mpsc::UnboundedSender<Event>, node: usize, code: &str) {
    let _ = events.send(Event::Ended {
        node,
        at: Instant::now(),
        code: code.to_owned(),
    });
}

/// Sends messages `ks` of this client (`txn_id` `<client>-<k>`, `req` `k`), and
/// flushes once.
async fn send_all(ws: &mut Socket, spec: &Spec, ks: &[u64]) -> anyhow::Result<()> {
    if ks.is_empty() {
        return Ok(());
    }
    for k in ks {
        let frame = format!(
            r#"{{"type":"send","conversation_id":{},"txn_id":"{}-{k}","req":{k},"body":"{k} failover"}}"#,
            spec.conversation, spec.index
        );
        ws.feed(Message::text(frame)).await?;
    }
    ws.flush().await?;
    Ok(())
}

/// `"<client>-<k>"` → `k`, if the client is `index`.
fn counter(txn: &str, index: usize) -> Option<u64> {
    let (client, k) = txn.rsplit_once('-')?;
    (client.parse::<usize>().ok()? == index)
        .then(|| k.parse().ok())
        .flatten()
}

fn summarize(options: &Options, rounds: Vec<Round>, log: &Log, outcomes: Vec<Outcome>) -> Report {
    let mut latency = Latency::new();
    let mut errors = BTreeMap::new();
    let (mut sent, mut acked, mut resent, mut duplicate_acks, mut unacked) = (0, 0, 0, 0, 0);
    for o in &outcomes {
        if let Some(l) = &o.latency {
            latency.merge(l);
        }
        for (code, count) in &o.errors {
            *errors.entry(code.clone()).or_default() += count;
        }
        sent += o.sent;
        acked += o.acked.len() as u64;
        resent += o.resent;
        duplicate_acks += o.duplicate_acks;
        unacked += o.unacked;
    }
    let mut sockets_ended = BTreeMap::new();
    for (node, _, code) in &log.ended {
        let name = if *node == A { "A" } else { "B" };
        *sockets_ended.entry(format!("{name} {code}")).or_default() += 1;
    }
    let failed_rounds = rounds.iter().filter(|r| r.first_ms.is_none()).count();
    Report {
        scenario: "failover",
        kills: rounds.len(),
        clients_per_node: options.clients,
        rate: options.rate,
        failover_ms: Spread::of(rounds.iter().filter_map(|r| r.first_ms).collect()),
        all_clients_ms: Spread::of(rounds.iter().filter_map(|r| r.all_ms).collect()),
        failed_rounds,
        rounds,
        sockets_ended,
        errors,
        sent,
        acked,
        resent,
        duplicate_acks,
        unacked_at_end: unacked,
        send_to_sent: latency.summary(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_counters_only() {
        assert_eq!(counter("3-41", 3), Some(41));
        assert_eq!(counter("3-41", 4), None);
        assert_eq!(counter("web-1", 3), None);
        assert_eq!(counter("3-", 3), None);
    }

    #[test]
    fn spreads_have_a_median() {
        let s = Spread::of(vec![3.0, 1.0, 2.0, 10.0]);
        assert_eq!((s.p50, s.max), (2.5, 10.0));
        assert_eq!(s.values, vec![3.0, 1.0, 2.0, 10.0]);
        let empty = Spread::of(Vec::new());
        assert_eq!((empty.p50, empty.max), (0.0, 0.0));
    }
}

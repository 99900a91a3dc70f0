//! `gadka-load`: drives a running gadka server (or the relay in `shared/bench/relay`,
//! which speaks the same protocol) as many clients would, and reports what it measured.
//! Every run is bounded in count and time, and it only talks to the server it is
//! pointed at.
//!
//! - `send`: pairs of users, each with a socket; every sender sends to its recipient,
//!   either keeping a window of sends in flight (closed loop) or on a fixed schedule
//!   (`--rate`, open loop). Reports p50/p90/p99/p99.9/max of send → `sent` and send →
//!   delivered, and messages delivered per second. With `--sender-url` and
//!   `--recipient-url`, the two ends of each pair are on different nodes of a cluster.
//! - `idle`: opens idle sockets and reports how much the server's resident memory grew
//!   per socket (Linux, `--pid` of the server).
//! - `slow`: holds many connections that send a request head a byte at a time
//!   (slowloris) and reports how the server ended them, while a logged-in user's
//!   requests are timed.
//! - `signup`: many registrations at once while an existing user logs in again and
//!   again; registrations by answer, and the logins' latency.
//! - `flood`: one account sends, opens conversations and types as fast as it can;
//!   what the server took and refused, and another user's `ping` latency meanwhile.
//! - `changes`: an edit and a reaction at a time on one conversation; their latency to
//!   the answer and to the peer's event.
//! - `failover`: two nodes of a cluster under a light load; one is killed (`kill -9`)
//!   again and again, and each time the tool measures how long its clients took to be
//!   served by the other, and keeps what was acknowledged for a check of the database.
//!
//! `--json` prints one JSON object instead of text, so that runs can be compared.
//!
//! The tool is built to be cheap per message (see `send`), so that what it measures is
//! the server and not itself.

mod changes;
mod client;
mod failover;
mod flood;
mod frames;
mod idle;
mod pace;
mod probe;
mod send;
mod signup;
mod slow;
mod stats;
mod upload;

use std::{
    net::IpAddr,
    path::PathBuf,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "gadka-load",
    about = "Load generator for a running gadka server"
)]
struct Cli {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Print one JSON object with the figures instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Runtime worker threads (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Message latency and throughput over sockets.
    Send {
        /// Sender/recipient pairs, each pair in its own conversation.
        #[arg(long, default_value_t = 10)]
        pairs: usize,
        /// Messages each sender sends.
        #[arg(long, default_value_t = 200)]
        messages: usize,
        /// Messages each sender has in flight at most (closed loop; ignored with --rate).
        #[arg(long, default_value_t = 8)]
        window: usize,
        /// Body size in bytes.
        #[arg(long, default_value_t = 100)]
        body_bytes: usize,
        /// Open loop: messages per second across all senders, sent on schedule whatever
        /// the replies; latency counts from the scheduled time.
        #[arg(long)]
        rate: Option<f64>,
        /// Open loop: seconds to send for (instead of --messages).
        #[arg(long, requires = "rate")]
        duration: Option<f64>,
        /// Nodes of a cluster for the senders (accounts, conversations, sockets),
        /// comma-separated, pair by pair in turn (default: --url).
        #[arg(long, value_delimiter = ',', value_name = "URL")]
        sender_url: Vec<String>,
        /// Nodes for the recipients (accounts, sockets), comma-separated, pair by pair
        /// in turn (default: --url). Another node than the sender's measures delivery
        /// across nodes: `sent` comes from the sender's node, `message` from this one.
        #[arg(long, value_delimiter = ',', value_name = "URL")]
        recipient_url: Vec<String>,
    },
    /// The latency of an edit and of a reaction, one at a time, answered and
    /// delivered (beside a `send` load, under it).
    Changes {
        /// Edits measured, and as many reactions.
        #[arg(long, default_value_t = 500)]
        count: usize,
    },
    /// Two nodes of a cluster, A (`--url`) and B, under a light open-loop load: A is
    /// killed (`kill -9`) again and again; the time from each kill to the first `sent`
    /// that a client of A reads from B, and every acknowledged message, for a check of
    /// the database.
    Failover {
        /// Node B, where A's clients go when A dies.
        #[arg(long, value_name = "URL")]
        other_url: String,
        /// A file with node A's process id, read before each kill.
        #[arg(long)]
        pid_file: PathBuf,
        /// A shell command that starts node A again, writes its process id into
        /// --pid-file and returns once A answers.
        #[arg(long)]
        restart: String,
        /// Kills of node A.
        #[arg(long, default_value_t = 20)]
        kills: usize,
        /// Clients with a socket on A, and as many on B.
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Messages a second across all clients.
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        /// Seconds of load before each kill.
        #[arg(long, default_value_t = 2.0)]
        settle: f64,
        /// Seconds the clients of A may take to be served by B before the round fails.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
        /// Writes every acknowledged message as `user_id<TAB>txn_id`, one a line.
        #[arg(long)]
        acked_out: Option<PathBuf>,
    },
    /// One large file uploaded a few times: MB/s of each, and the server's resident
    /// memory meanwhile (it must stay flat). The server must take files this large
    /// (`--max-upload-bytes`) and this many uploads a minute.
    Upload {
        /// The file's size in MB (10^6 bytes).
        #[arg(long, default_value_t = 200)]
        megabytes: u64,
        /// Uploads, one after the other.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// The server's process id, to read its resident memory.
        #[arg(long)]
        pid: u32,
    },
    /// Memory per idle socket.
    Idle {
        /// Sockets to open.
        #[arg(long, default_value_t = 1000)]
        sockets: usize,
        /// Users they belong to (each registration costs an argon2 hash).
        #[arg(long, default_value_t = 10)]
        users: usize,
        /// The server's process id, to read its resident memory.
        #[arg(long)]
        pid: u32,
        /// Seconds to hold the sockets open and idle before checking that each one
        /// still answers.
        #[arg(long, default_value_t = 5.0)]
        hold: f64,
    },
    /// Slow connections (a request head a byte at a time) and a user's requests
    /// meanwhile. The server must allow this many connections from one address
    /// (`--max-connections-per-ip`).
    Slow {
        /// Slow connections held at once.
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        /// Seconds to hold them.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Seconds between two bytes of a head.
        #[arg(long, default_value_t = 3.0)]
        byte_every_secs: f64,
        /// The server's header timeout: closes later than it by over 1 s are counted.
        #[arg(long, default_value_t = 10.0)]
        header_timeout_secs: f64,
        /// Connects in flight at most.
        #[arg(long, default_value_t = 256)]
        connect_concurrency: usize,
        /// Connect each slot once, not again after the server closes it.
        #[arg(long)]
        once: bool,
        /// The user's requests a second on its kept-alive connection.
        #[arg(long, default_value_t = 20.0)]
        probe_rate: f64,
        /// The user's requests a second on a new connection each.
        #[arg(long, default_value_t = 2.0)]
        fresh_rate: f64,
        /// Seconds of the user's requests before the slow connections.
        #[arg(long, default_value_t = 5.0)]
        baseline_secs: f64,
        /// The local address the user connects from (on loopback, 127.0.0.2 is another
        /// client address to the server).
        #[arg(long, default_value = "127.0.0.2")]
        probe_from: IpAddr,
    },
    /// Registrations at once while an existing user logs in. The server must allow
    /// that user's repeated logins (`--login-attempts-per-minute` and
    /// `--login-attempts-per-minute-per-ip`) and this many connections from one address.
    Signup {
        /// Registrations sent at once.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// The existing user's logins before the registrations.
        #[arg(long, default_value_t = 20)]
        baseline_logins: usize,
        /// Milliseconds between a login's answer and the next login.
        #[arg(long, default_value_t = 20)]
        login_pause_ms: u64,
        /// The local address the existing user connects from.
        #[arg(long, default_value = "127.0.0.2")]
        login_from: IpAddr,
    },
    /// One account sending, opening conversations and typing at full speed, and
    /// another user's pings meanwhile. The server must allow `--strangers` + 3
    /// sign-ups from one address.
    Flood {
        /// Seconds to flood.
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        /// What to flood with, comma-separated, each on its own socket.
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "send,open,typing"
        )]
        kinds: Vec<flood::Kind>,
        /// Users to open conversations with, in turn.
        #[arg(long, default_value_t = 200)]
        strangers: usize,
        /// Sends unanswered at most (the server reads up to 256 ahead per socket).
        #[arg(long, default_value_t = 256)]
        send_window: usize,
        /// Opens unanswered at most.
        #[arg(long, default_value_t = 8)]
        open_window: usize,
        /// Typing notices between two fences (a `ping` whose `pong` closes the batch).
        #[arg(long, default_value_t = 64)]
        typing_batch: usize,
        /// The other user's pings a second.
        #[arg(long, default_value_t = 50.0)]
        ping_rate: f64,
        /// Seconds of pings before the flood.
        #[arg(long, default_value_t = 5.0)]
        baseline_secs: f64,
        /// Body size of the sends, in bytes.
        #[arg(long, default_value_t = 32)]
        body_bytes: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Every connection is a file: take all the open files the hard limit allows.
    let open_files = rlimit::increase_nofile_limit(u64::MAX)
        .context("raising the open-file limit to the hard limit")?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        runtime.worker_threads(threads.max(1));
    }
    runtime.enable_all().build()?.block_on(run(cli, open_files))
}

async fn run(cli: Cli, open_files: u64) -> anyhow::Result<()> {
    // Usernames must not collide with an earlier run's on the same server.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let run_id = format!("{:x}", nanos ^ u64::from(std::process::id()));
    // Every scenario ends on its own; this is the backstop.
    let mut limit = Duration::from_secs(600);
    match cli.scenario {
        Scenario::Send {
            pairs,
            messages,
            window,
            body_bytes,
            rate,
            duration,
            sender_url,
            recipient_url,
        } => {
            let options = send::Options {
                pairs,
                messages,
                window,
                body_bytes,
                rate,
                duration,
                sender_urls: sender_url,
                recipient_urls: recipient_url,
            };
            limit += options.expected_duration().unwrap_or_default();
            let report = bounded(limit, send::run(&cli.url, &run_id, &options)).await?;
            output(cli.json, &report, send::Report::print)
        }
        Scenario::Changes { count } => {
            let report = bounded(
                limit,
                changes::run(&cli.url, &run_id, &changes::Options { count }),
            )
            .await?;
            output(cli.json, &report, changes::Report::print)
        }
        Scenario::Failover {
            other_url,
            pid_file,
            restart,
            kills,
            clients,
            rate,
            settle,
            timeout,
            acked_out,
        } => {
            let options = failover::Options {
                other_url,
                pid_file,
                restart,
                kills,
                clients,
                rate,
                settle,
                timeout,
                acked_out,
            };
            limit += options.expected_duration();
            let report = bounded(limit, failover::run(&cli.url, &run_id, &options)).await?;
            output(cli.json, &report, failover::Report::print)
        }
        Scenario::Upload {
            megabytes,
            runs,
            pid,
        } => {
            let report = bounded(
                limit,
                upload::run(&cli.url, &run_id, megabytes, runs.max(1), pid),
            )
            .await?;
            output(cli.json, &report, upload::Report::print)
        }
        Scenario::Idle {
            sockets,
            users,
            pid,
            hold,
        } => {
            let hold = Duration::try_from_secs_f64(hold).context("--hold: seconds")?;
            limit += hold;
            let report = bounded(
                limit,
                idle::run(&cli.url, &run_id, sockets, users, pid, hold),
            )
            .await?;
            output(cli.json, &report, idle::Report::print)
        }
        Scenario::Slow {
            connections,
            seconds,
            byte_every_secs,
            header_timeout_secs,
            connect_concurrency,
            once,
            probe_rate,
            fresh_rate,
            baseline_secs,
            probe_from,
        } => {
            let options = slow::Options {
                connections,
                seconds,
                byte_every_secs,
                header_timeout_secs,
                connect_concurrency,
                once,
                probe_rate,
                fresh_rate,
                baseline_secs,
                probe_from: Some(probe_from),
            };
            limit += options.expected_duration();
            let report = bounded(limit, slow::run(&cli.url, &run_id, &options, open_files)).await?;
            output(cli.json, &report, slow::Report::print)
        }
        Scenario::Signup {
            count,
            baseline_logins,
            login_pause_ms,
            login_from,
        } => {
            let options = signup::Options {
                count,
                baseline_logins,
                login_pause: Duration::from_millis(login_pause_ms),
                login_from: Some(login_from),
            };
            limit += options.expected_duration();
            let report = bounded(limit, signup::run(&cli.url, &run_id, &options)).await?;
            output(cli.json, &report, signup::Report::print)
        }
        Scenario::Flood {
            seconds,
            kinds,
            strangers,
            send_window,
            open_window,
            typing_batch,
            ping_rate,
            baseline_secs,
            body_bytes,
        } => {
            let options = flood::Options {
                seconds,
                kinds,
                strangers,
                send_window,
                open_window,
                typing_batch,
                ping_rate,
                baseline_secs,
                body_bytes,
            };
            limit += options.expected_duration();
            let report = bounded(limit, flood::run(&cli.url, &run_id, &options)).await?;
            output(cli.json, &report, flood::Report::print)
        }
    }
}

async fn bounded<T>(
    limit: Duration,
    scenario: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::time::timeout(limit, scenario)
        .await
        .with_context(|| format!("the scenario did not finish within {}s", limit.as_secs()))?
}

fn output<R: Serialize>(json: bool, report: &R, print: fn(&R)) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        print(report);
    }
    Ok(())
}

//! `gadka-load`: drives a running gadka server as many clients would, and reports
//! what it measured. Every loop is bounded in count and time, and it only talks to
//! the server it is pointed at (loopback, in this repository's use).
//!
//! - `send`: pairs of users, each with a socket; every sender sends its messages over
//!   the socket with a window of messages in flight. Reports the median and p99 of
//!   send → `sent` (the commit acknowledged) and send → `message` at the recipient
//!   (delivered after commit), and the throughput.
//! - `idle`: opens idle sockets and reports how much the server's resident memory
//!   grew per socket (Linux, `--pid` of the server).

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use reqwest::cookie::{CookieStore, Jar};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

#[derive(Parser)]
#[command(
    name = "gadka-load",
    about = "Load generator for a running gadka server"
)]
struct Cli {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
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
        /// Messages each sender has in flight at most.
        #[arg(long, default_value_t = 8)]
        window: usize,
        /// Body size in bytes.
        #[arg(long, default_value_t = 100)]
        body_bytes: usize,
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
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let run = format!(
        "{:x}",
        Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id())
    );
    // Every scenario must end on its own; this is the backstop.
    tokio::time::timeout(Duration::from_secs(600), async {
        match cli.scenario {
            Scenario::Send {
                pairs,
                messages,
                window,
                body_bytes,
            } => send(&cli.url, &run, pairs, messages, window.max(1), body_bytes).await,
            Scenario::Idle {
                sockets,
                users,
                pid,
            } => idle(&cli.url, &run, sockets, users.max(1), pid).await,
        }
    })
    .await
    .context("the scenario did not finish within 10 minutes")?
}

/// A registered user: its HTTP client (with the session cookie) and id.
struct User {
    http: reqwest::Client,
    jar: Arc<Jar>,
    base: String,
    id: i64,
}

impl User {
    async fn register(base: &str, name: &str) -> anyhow::Result<Self> {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .build()?;
        let response = http
            .post(format!("{base}/api/register"))
            .json(&json!({"username": name, "password": "load-test-password"}))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("register {name}: {}", response.text().await?);
        }
        let body: Value = response.json().await?;
        Ok(Self {
            http,
            jar,
            base: base.to_owned(),
            id: body["user"]["id"].as_i64().context("user id")?,
        })
    }

    async fn open(&self, peer: &User) -> anyhow::Result<i64> {
        let body: Value = self
            .http
            .post(format!("{}/api/conversations", self.base))
            .json(&json!({"user_id": peer.id}))
            .send()
            .await?
            .json()
            .await?;
        body["conversation"]["id"]
            .as_i64()
            .context("conversation id")
    }

    async fn socket(
        &self,
    ) -> anyhow::Result<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    > {
        let ws_url = format!("{}/ws", self.base.replacen("http", "ws", 1));
        let mut request = ws_url.clone().into_client_request()?;
        let cookie = self
            .jar
            .cookies(&self.base.parse()?)
            .context("a session cookie")?;
        request.headers_mut().insert("cookie", cookie);
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
        // The first frame is the hello.
        match ws.next().await {
            Some(Ok(Message::Text(text))) if text.contains("\"hello\"") => Ok(ws),
            other => bail!("expected hello, got {other:?}"),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<22} n={:<7} median={:>8.2?} p99={:>8.2?} max={:>8.2?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or_default(),
    );
}

async fn send(
    url: &str,
    run: &str,
    pairs: usize,
    messages: usize,
    window: usize,
    body_bytes: usize,
) -> anyhow::Result<()> {
    println!("setting up {pairs} pairs…");
    let mut conversations = Vec::new();
    for p in 0..pairs {
        let sender = User::register(url, &format!("s{run}{p}")).await?;
        let recipient = User::register(url, &format!("r{run}{p}")).await?;
        let id = sender.open(&recipient).await?;
        conversations.push((sender, recipient, id));
    }
    let body = "x".repeat(body_bytes);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (sender, recipient, id) in conversations {
        let body = body.clone();
        let mut out = sender.socket().await?;
        let mut inbox = recipient.socket().await?;
        tasks.push(tokio::spawn(async move {
            let mut sent_at: HashMap<String, Instant> = HashMap::new();
            let mut acked = Vec::with_capacity(messages);
            let mut delivered = Vec::with_capacity(messages);
            let mut next = 0;
            while acked.len() < messages || delivered.len() < messages {
                while next < messages && next - acked.len() < window {
                    let txn = format!("t{next}");
                    let frame =
                        json!({"type": "send", "conversation_id": id, "body": body, "txn_id": txn});
                    sent_at.insert(txn, Instant::now());
                    out.send(Message::text(frame.to_string())).await?;
                    next += 1;
                }
                tokio::select! {
                    Some(frame) = out.next() => {
                        if let Message::Text(text) = frame? {
                            let v: Value = serde_json::from_str(&text)?;
                            if v["type"] == "sent" {
                                let txn = v["txn_id"].as_str().unwrap_or_default();
                                if let Some(at) = sent_at.get(txn) {
                                    acked.push(at.elapsed());
                                }
                            } else if v["type"] == "error" {
                                bail!("server error: {v}");
                            }
                        }
                    }
                    Some(frame) = inbox.next() => {
                        if let Message::Text(text) = frame? {
                            let v: Value = serde_json::from_str(&text)?;
                            if v["type"] == "message" {
                                let txn = v["message"]["txn_id"].as_str().unwrap_or_default();
                                if let Some(at) = sent_at.get(txn) {
                                    delivered.push(at.elapsed());
                                }
                            }
                        }
                    }
                }
            }
            Ok::<_, anyhow::Error>((acked, delivered))
        }));
    }
    let (mut acked, mut delivered) = (Vec::new(), Vec::new());
    for task in tasks {
        let (a, d) = task.await??;
        acked.extend(a);
        delivered.extend(d);
    }
    let elapsed = started.elapsed();
    let total = acked.len();
    println!(
        "{total} messages from {pairs} senders (window {window}, {body_bytes} B bodies) in {elapsed:.2?}: {:.0} messages/s",
        total as f64 / elapsed.as_secs_f64()
    );
    report("send → sent", acked);
    report("send → delivered", delivered);
    Ok(())
}

/// Resident memory of a process, in KiB (Linux).
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS in /proc status")
}

async fn idle(url: &str, run: &str, sockets: usize, users: usize, pid: u32) -> anyhow::Result<()> {
    let mut accounts = Vec::new();
    for u in 0..users {
        accounts.push(User::register(url, &format!("i{run}{u}")).await?);
    }
    // Warm up: one socket per user, so allocator pools exist before measuring.
    let mut open = Vec::with_capacity(sockets + users);
    for user in &accounts {
        open.push(user.socket().await?);
    }
    let before = rss_kib(pid)?;
    for i in 0..sockets {
        open.push(accounts[i % users].socket().await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid)?;
    let per_socket = (after.saturating_sub(before)) as f64 * 1024.0 / sockets as f64;
    println!(
        "{sockets} idle sockets: server RSS {before} KiB → {after} KiB, {:.1} KiB per socket",
        per_socket / 1024.0
    );
    for mut ws in open {
        let _ = ws.close(None).await;
    }
    Ok(())
}

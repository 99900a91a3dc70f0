//! The `idle` scenario: how much resident memory the server spends per open, idle
//! socket. Reads the server's `VmRSS` from `/proc` (Linux), so it needs the server's
//! process id and must run on the same machine.

use std::time::Duration;

use anyhow::bail;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::client::{Socket, User};

/// What an `idle` run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Always `"idle"`.
    pub scenario: &'static str,
    /// Sockets opened and measured (besides one warm-up socket per user).
    pub sockets: usize,
    /// Users the sockets belong to.
    pub users: usize,
    /// The server's resident memory before the measured sockets, in KiB.
    pub rss_before_kib: u64,
    /// The same with them open.
    pub rss_after_kib: u64,
    /// The growth divided by the sockets.
    pub kib_per_socket: f64,
    /// Seconds the sockets were held open, idle, before the check.
    pub hold_secs: f64,
    /// Measured sockets that answered a ping after the hold (all of them, or the run
    /// fails).
    pub alive: usize,
}

impl Report {
    /// Prints the report for a person.
    pub fn print(&self) {
        println!(
            "{} idle sockets: server RSS {} KiB → {} KiB, {:.1} KiB per socket; {} alive after {:.1} s",
            self.sockets,
            self.rss_before_kib,
            self.rss_after_kib,
            self.kib_per_socket,
            self.alive,
            self.hold_secs
        );
    }
}

/// Opens `sockets` sockets for `users` users on the server at `url` (process `pid`),
/// measures the server's memory growth, holds them for `hold`, then checks that every
/// one still answers.
pub async fn run(
    url: &str,
    run_id: &str,
    sockets: usize,
    users: usize,
    pid: u32,
    hold: Duration,
) -> anyhow::Result<Report> {
    let users = users.max(1);
    eprintln!("registering {users} users…");
    let mut accounts = Vec::with_capacity(users);
    for u in 0..users {
        accounts.push(User::register(url, &format!("i{run_id}-{u}")).await?);
    }
    // Warm up: one socket per user, so allocator pools exist before measuring.
    let mut open = Vec::with_capacity(sockets + users);
    for user in &accounts {
        open.push(user.socket().await?);
    }
    let before = rss_kib(pid)?;
    eprintln!("opening {sockets} sockets…");
    for i in 0..sockets {
        open.push(accounts[i % users].socket().await?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid)?;
    tokio::time::sleep(hold).await;
    let mut measured = open.split_off(users);
    let alive = futures_util::future::join_all(measured.iter_mut().map(answers_ping))
        .await
        .into_iter()
        .filter(|alive| *alive)
        .count();
    for mut ws in open.into_iter().chain(measured) {
        let _ = ws.close(None).await;
    }
    if alive < sockets {
        bail!(
            "{} of {sockets} sockets did not answer after the hold",
            sockets - alive
        );
    }
    Ok(Report {
        scenario: "idle",
        sockets,
        users,
        rss_before_kib: before,
        rss_after_kib: after,
        kib_per_socket: if sockets == 0 {
            0.0
        } else {
            after.saturating_sub(before) as f64 / sockets as f64
        },
        hold_secs: hold.as_secs_f64(),
        alive,
    })
}

/// Whether the server answers a ping on this socket within 10 s.
async fn answers_ping(ws: &mut Socket) -> bool {
    if ws.send(Message::Ping(Bytes::new())).await.is_err() {
        return false;
    }
    let pong = async {
        while let Some(Ok(message)) = ws.next().await {
            if matches!(message, Message::Pong(_)) {
                return true;
            }
        }
        false
    };
    tokio::time::timeout(Duration::from_secs(10), pong)
        .await
        .unwrap_or(false)
}

/// Resident memory of a process, in KiB (Linux).
pub(crate) fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    use anyhow::Context;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS in /proc status")
}

//! The `upload` scenario: one large file uploaded again and again, the throughput of
//! each upload (from the first byte sent to the 201, which gadka answers once the file
//! is synced under its name), and the server's resident memory while it takes them in,
//! which must stay flat whatever the file's size: an upload is streamed to disk, never
//! held.
//!
//! The body is made as it is sent, 256 KiB at a time, from a different seed for each
//! run, so the tool holds no file either and no two uploads are the same bytes.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::{client::User, idle::rss_kib};

const CHUNK: usize = 256 * 1024;

/// What an `upload` run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Always `"upload"`.
    pub scenario: &'static str,
    pub megabytes: u64,
    /// MB/s (10^6 bytes) of each upload, in order.
    pub mb_per_sec: Vec<f64>,
    /// The median of `mb_per_sec`.
    pub median_mb_per_sec: f64,
    /// The server's resident memory before the first upload, and the most it reached
    /// during any, in MiB.
    pub rss_before_mib: f64,
    pub rss_peak_mib: f64,
}

impl Report {
    pub fn print(&self) {
        println!(
            "upload of {} MB, {} runs: {} MB/s (median {:.0} MB/s)",
            self.megabytes,
            self.mb_per_sec.len(),
            self.mb_per_sec
                .iter()
                .map(|v| format!("{v:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.median_mb_per_sec
        );
        println!(
            "server resident memory: {:.1} MiB before, {:.1} MiB at most while uploading",
            self.rss_before_mib, self.rss_peak_mib
        );
    }
}

pub async fn run(
    url: &str,
    run_id: &str,
    megabytes: u64,
    runs: usize,
    pid: u32,
) -> anyhow::Result<Report> {
    let user = User::register(url, &format!("up{run_id}")).await?;
    let http = user.new_http(false)?;
    let before = rss_kib(pid)?;
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Ok(rss) = rss_kib(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let bytes = megabytes * 1_000_000;
    let mut rates = Vec::with_capacity(runs);
    for run in 0..runs {
        let body = reqwest::Body::wrap_stream(generated(bytes, run as u64 + 1));
        let started = Instant::now();
        let response = http
            .post(format!("{url}/api/media"))
            .query(&[("filename", "load.bin")])
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, bytes)
            .body(body)
            .send()
            .await
            .context("the upload")?;
        let status = response.status();
        let answer = response.text().await.unwrap_or_default();
        if status != reqwest::StatusCode::CREATED {
            bail!("the upload was refused: {status} {answer}");
        }
        rates.push(megabytes as f64 / started.elapsed().as_secs_f64());
    }
    done.store(true, Ordering::Relaxed);
    sampler.await.ok();
    let mut sorted = rates.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(Report {
        scenario: "upload",
        megabytes,
        median_mb_per_sec: sorted[sorted.len() / 2],
        mb_per_sec: rates,
        rss_before_mib: before as f64 / 1024.0,
        rss_peak_mib: peak.load(Ordering::Relaxed) as f64 / 1024.0,
    })
}

/// `bytes` of xorshift noise from `seed`, a chunk at a time.
fn generated(
    bytes: u64,
    seed: u64,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut left = bytes;
    futures_util::stream::iter(std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let n = left.min(CHUNK as u64) as usize;
        left -= n as u64;
        let mut chunk = Vec::with_capacity(n);
        while chunk.len() < n {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.extend_from_slice(&state.to_le_bytes());
        }
        chunk.truncate(n);
        Some(Ok(chunk))
    }))
}

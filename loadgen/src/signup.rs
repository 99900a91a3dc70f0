//! The `signup` scenario: many registrations at once, while a user who already has an
//! account logs in again and again.
//!
//! Each registration costs the server an argon2 hash, unless it is refused first: by
//! the sign-up limit per address (429 `rate_limited`, cheap) or by the password
//! hasher's bounded queue (429 `busy`). Logins verify a hash in their own lane, which
//! the hasher serves first; their latency while the registrations come is the figure.
//!
//! The existing user registers and logs in from `--login-from` (by default
//! `127.0.0.2`, another client address on loopback), so that neither its sign-up nor
//! its logins count against the address the registrations come from. Its logins go
//! one after the other, `--login-pause-ms` apart, from the moment the registrations
//! are sent until the last of them is answered; a baseline of logins comes first.

use std::{collections::BTreeMap, net::IpAddr, sync::Arc, time::Duration};

use anyhow::{Context, bail};
use reqwest::cookie::Jar;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::{
    sync::{oneshot, watch},
    time::Instant,
};

use crate::{
    client::{PASSWORD, User, http_client},
    probe::{self, Pace, REQUEST_TIMEOUT, Until},
    stats::{Latency, Summary},
};

/// How long the registrations may take in all before the run fails.
const REGISTRATIONS_TIMEOUT: Duration = Duration::from_secs(300);

/// The `signup` scenario's parameters.
#[derive(Debug, Clone)]
pub struct Options {
    /// Registrations sent at once.
    pub count: usize,
    /// Logins before the registrations, for a baseline.
    pub baseline_logins: usize,
    /// Pause between one login's answer and the next login.
    pub login_pause: Duration,
    /// Where the existing user connects from.
    pub login_from: Option<IpAddr>,
}

impl Options {
    /// How long the run takes at most.
    pub fn expected_duration(&self) -> Duration {
        REGISTRATIONS_TIMEOUT
            + (REQUEST_TIMEOUT + self.login_pause)
                * u32::try_from(self.baseline_logins).unwrap_or(u32::MAX)
    }
}

/// What a `signup` run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Always `"signup"`.
    pub scenario: &'static str,
    /// Registrations sent at once.
    pub count: usize,
    /// Their answers: the status, with the error's code when there is one
    /// (`"201"`, `"429 rate_limited"`, `"429 busy"`), or the transport failure.
    pub registrations: BTreeMap<String, u64>,
    /// From the first registration sent to the last answered, in seconds.
    pub registrations_elapsed_s: f64,
    /// Each registration's time to its answer, whatever the answer.
    pub registration_latency: Summary,
    /// …of those answered 201.
    pub created_latency: Summary,
    /// The existing user's logins before the registrations.
    pub login_before: probe::Report,
    /// …and while they were answered, with every login's latency
    /// (`login.samples_us`): a burst lasts a second or so, too few logins for a
    /// percentile of one run, so the script pools them across runs.
    pub login: probe::Report,
}

impl Report {
    /// Prints the report for a person.
    pub fn print(&self) {
        println!(
            "{} registrations at once, answered in {:.2} s: {:?}",
            self.count, self.registrations_elapsed_s, self.registrations
        );
        println!("{:<24} {}", "registration", self.registration_latency);
        println!("{:<24} {}", "…answered 201", self.created_latency);
        println!("{:<24} {}", "login, before", self.login_before.line());
        println!("{:<24} {}", "login, meanwhile", self.login.line());
    }
}

#[derive(Deserialize)]
struct ErrorReply {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
}

/// Runs the scenario against the server at `url`; `run_id` keeps usernames unique.
pub async fn run(url: &str, run_id: &str, options: &Options) -> anyhow::Result<Report> {
    if options.count == 0 {
        bail!("--count must be at least 1");
    }
    let owner_name = format!("o{run_id}");
    let owner = User::register_from(url, &owner_name, options.login_from)
        .await
        .context("registering the existing user (is the sign-up limit spent?)")?;
    let login_url = format!("{url}/api/login");
    // The logins run on a thread of their own, with a client that has no connection
    // yet: the baseline, then (once told) logins until the registrations are answered.
    let client = owner.new_http(false)?;
    let (stop_tx, stop) = watch::channel(false);
    let (baseline_done, baseline) = oneshot::channel();
    let pace = Pace::Pause(options.login_pause);
    let most = options.baseline_logins as u64;
    eprintln!("{most} logins before the registrations…");
    let logging_in = probe::on_own_thread("gadka-load-login", move || async move {
        let login = || {
            client
                .post(&login_url)
                .json(&json!({"username": owner_name, "password": PASSWORD}))
        };
        let far = Instant::now() + REGISTRATIONS_TIMEOUT;
        let before = probe::run(
            login,
            pace,
            Until {
                time: far,
                stop: stop.clone(),
                most,
            },
            false,
        )
        .await;
        // The registrations start once the baseline is done.
        let _ = baseline_done.send(());
        let during = probe::run(
            login,
            pace,
            Until {
                time: far + REGISTRATIONS_TIMEOUT,
                stop,
                most: u64::MAX,
            },
            true,
        )
        .await;
        anyhow::Ok((before, during))
    })?;
    baseline.await.context("the logins' thread ended")?;

    eprintln!("{} registrations at once…", options.count);
    // Their own client: one connection each, none of them the owner's.
    let client = http_client(Arc::new(Jar::default()), None, false)?;
    let register_url = format!("{url}/api/register");
    let start = Instant::now();
    let mut registrations = tokio::task::JoinSet::new();
    for i in 0..options.count {
        let request = client
            .post(&register_url)
            .json(&json!({"username": format!("n{run_id}-{i}"), "password": PASSWORD}))
            .timeout(REGISTRATIONS_TIMEOUT);
        registrations.spawn(async move {
            let sent = Instant::now();
            let answer = answer(request).await;
            (answer, sent.elapsed())
        });
    }
    let answers = async {
        let mut counts = BTreeMap::new();
        let (mut all, mut created) = (Latency::new(), Latency::new());
        while let Some(joined) = registrations.join_next().await {
            let ((answer, created_now), took) = joined.context("a registration's task")?;
            let nanos = took.as_nanos() as u64;
            all.record_nanos(nanos);
            if created_now {
                created.record_nanos(nanos);
            }
            *counts.entry(answer).or_insert(0) += 1;
        }
        let elapsed = start.elapsed();
        let _ = stop_tx.send(true);
        anyhow::Ok((counts, all, created, elapsed))
    };
    let (counts, all, created, elapsed) = answers.await?;
    let (login_before, login) = logging_in.await.context("the logins' thread ended")??;
    Ok(Report {
        scenario: "signup",
        count: options.count,
        registrations: counts,
        registrations_elapsed_s: elapsed.as_secs_f64(),
        registration_latency: all.summary(),
        created_latency: created.summary(),
        login_before,
        login,
    })
}

/// A registration's answer, named by its status and error code (`"429 busy"`), and
/// whether it made an account.
async fn answer(request: reqwest::RequestBuilder) -> (String, bool) {
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return (transport(&e), false),
    };
    let status = response.status();
    let text = match response.text().await {
        Ok(text) => text,
        Err(e) => return (transport(&e), false),
    };
    if status.is_success() {
        return (status.as_u16().to_string(), true);
    }
    let code = serde_json::from_str::<ErrorReply>(&text)
        .map(|reply| reply.error.code)
        .unwrap_or_else(|_| String::from("?"));
    (format!("{} {code}", status.as_u16()), false)
}

fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect failed"
    } else {
        "transport error"
    }
    .to_owned()
}

//! Runs the `gadka-load` binary against the real gadka server, started in-process by
//! gadka's own test support (a fresh SQLite database in a temporary directory, a free
//! port), on a tiny workload. It checks that every message is accounted for and
//! that the JSON report is whole and consistent; it never asserts timing figures, which
//! depend on the machine.

use std::{process::Command, time::Duration};

use gadka_test_support::{spawn_app, spawn_with};
use serde_json::Value;

/// Runs `gadka-load --url URL ARGS…` (off the runtime, which serves the server) and
/// returns its standard output, failing the test if it failed.
async fn gadka_load(url: &str, args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gadka-load"));
    command.arg("--url").arg(url).args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the blocking task")
        .expect("gadka-load runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "gadka-load {args:?} failed: {}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The report as JSON: exactly one object on standard output.
fn report(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The percentiles of a latency series are all there, in order, and count `n` samples.
fn assert_percentiles(report: &Value, series: &str, n: u64) {
    let s = &report[series];
    assert_eq!(s["count"], n, "{series}: {s}");
    let figure = |key: &str| {
        s[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{series}.{key} in {s}"))
    };
    let (p50, p90, p99, p999, max) = (
        figure("p50_us"),
        figure("p90_us"),
        figure("p99_us"),
        figure("p999_us"),
        figure("max_us"),
    );
    assert!(
        p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= max,
        "{series}: {s}"
    );
    assert!(s["mean_us"].is_number(), "{series}: {s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_delivers_every_message() {
    let server = spawn_app().await;
    let stdout = gadka_load(
        &server.url(""),
        &[
            "send",
            "--pairs",
            "2",
            "--messages",
            "20",
            "--window",
            "4",
            "--json",
        ],
    )
    .await;
    let r = report(&stdout);
    assert_eq!(r["scenario"], "send", "{r}");
    assert_eq!(r["mode"], "closed", "{r}");
    assert_eq!(r["pairs"], 2);
    assert_eq!(r["window"], 4);
    assert_eq!(r["messages_per_sender"], 20);
    for count in ["sent", "acked", "delivered"] {
        assert_eq!(r[count], 40, "{count}: {r}");
    }
    assert_eq!(r["unexpected_frames"], 0, "{r}");
    assert!(r["messages_per_s"].as_f64().is_some_and(|m| m > 0.0), "{r}");
    assert!(r["elapsed_s"].as_f64().is_some_and(|s| s > 0.0), "{r}");
    assert_percentiles(&r, "send_to_sent", 40);
    assert_percentiles(&r, "send_to_delivered", 40);
    assert!(r["schedule_lag"].is_null(), "{r}");
    assert!(r["rate_target"].is_null(), "{r}");

    // The default output is for people, and says the same.
    let text = gadka_load(
        &server.url(""),
        &["send", "--pairs", "1", "--messages", "3"],
    )
    .await;
    assert!(text.contains("3 messages from 1 senders"), "{text}");
    assert!(text.contains("p99.9="), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ends_of_a_pair_go_where_they_are_told() {
    // One server under two names stands for two nodes: the recipients register and
    // connect through the second one.
    let server = spawn_app().await;
    let url = server.url("");
    let other = url.replace("127.0.0.1", "localhost");
    let stdout = gadka_load(
        &url,
        &[
            "send",
            "--pairs",
            "3",
            "--messages",
            "10",
            "--sender-url",
            &format!("{url},{url}"),
            "--recipient-url",
            &other,
            "--json",
        ],
    )
    .await;
    let r = report(&stdout);
    for count in ["sent", "acked", "delivered"] {
        assert_eq!(r[count], 30, "{count}: {r}");
    }
    assert_eq!(r["sender_urls"], serde_json::json!([url, url]), "{r}");
    assert_eq!(r["recipient_urls"], serde_json::json!([other]), "{r}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_sends_on_schedule() {
    let server = spawn_app().await;
    // 100 messages/s across 2 senders for 0.2 s: 10 messages each.
    let stdout = gadka_load(
        &server.url(""),
        &[
            "--json",
            "send",
            "--pairs",
            "2",
            "--rate",
            "100",
            "--duration",
            "0.2",
        ],
    )
    .await;
    let r = report(&stdout);
    assert_eq!(r["mode"], "open", "{r}");
    assert_eq!(r["rate_target"], 100.0, "{r}");
    assert_eq!(r["messages_per_sender"], 10, "{r}");
    assert!(r["window"].is_null(), "{r}");
    for count in ["sent", "acked", "delivered"] {
        assert_eq!(r[count], 20, "{count}: {r}");
    }
    assert_eq!(r["unexpected_frames"], 0, "{r}");
    assert_percentiles(&r, "send_to_sent", 20);
    assert_percentiles(&r, "send_to_delivered", 20);
    assert_percentiles(&r, "schedule_lag", 20);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_are_measured_and_still_answer_after_the_hold() {
    let server = spawn_app().await;
    // The server runs in this process, so its memory is this process's.
    let pid = std::process::id().to_string();
    let stdout = gadka_load(
        &server.url(""),
        &[
            "--json",
            "idle",
            "--sockets",
            "20",
            "--users",
            "2",
            "--pid",
            &pid,
            "--hold",
            "0.2",
        ],
    )
    .await;
    let r = report(&stdout);
    assert_eq!(r["scenario"], "idle", "{r}");
    assert_eq!(r["sockets"], 20, "{r}");
    assert_eq!(r["alive"], 20, "{r}");
    assert!(
        r["rss_after_kib"].as_u64().is_some_and(|kib| kib > 0),
        "{r}"
    );
    server.stop().await;
}

#[tokio::test]
async fn refuses_a_nonsensical_rate() {
    let output = Command::new(env!("CARGO_BIN_EXE_gadka-load"))
        .args(["--url", "http://127.0.0.1:9", "send", "--rate", "0"])
        .output()
        .expect("gadka-load runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--rate"), "{stderr}");
}

/// A count in a report.
fn count(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {report}"))
}

/// The sum of a map of counts in a report.
fn total(report: &Value, key: &str) -> u64 {
    report[key]
        .as_object()
        .unwrap_or_else(|| panic!("{key} in {report}"))
        .values()
        .map(|v| v.as_u64().unwrap_or_else(|| panic!("{key} in {report}")))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_connections_are_all_accounted_for() {
    // A 1 s header timeout, so that the server closes some within the run.
    let server = spawn_with(|s| {
        s.limits.header_timeout = Duration::from_secs(1);
    })
    .await;
    let stdout = gadka_load(
        &server.url(""),
        &[
            "--json",
            "slow",
            "--connections",
            "10",
            "--seconds",
            "2.5",
            "--byte-every-secs",
            "0.2",
            "--header-timeout-secs",
            "1",
            "--baseline-secs",
            "0.3",
            "--probe-rate",
            "10",
            "--fresh-rate",
            "5",
        ],
    )
    .await;
    let r = report(&stdout);
    assert_eq!(r["scenario"], "slow", "{r}");
    assert_eq!(r["connections"], 10, "{r}");
    let accepted = count(&r, "accepted");
    assert_eq!(
        accepted,
        count(&r, "closed") + count(&r, "reset") + count(&r, "open_at_end"),
        "{r}"
    );
    assert_eq!(
        count(&r, "attempts"),
        accepted + count(&r, "refused_503") + total(&r, "connect_failed"),
        "{r}"
    );
    // Every slot connected at least once, and the server ended some.
    assert!(accepted >= 10, "{r}");
    assert_eq!(
        r["time_to_close"]["count"].as_u64(),
        Some(count(&r, "closed") + count(&r, "reset")),
        "{r}"
    );
    assert!(count(&r, "closed") + count(&r, "reset") > 0, "{r}");
    for probe in ["probe_before", "probe", "fresh_before", "fresh"] {
        let p = &r[probe];
        let errors: u64 = p["errors"]
            .as_object()
            .map(|e| e.values().filter_map(Value::as_u64).sum())
            .unwrap_or(u64::MAX);
        assert_eq!(
            p["requests"].as_u64(),
            Some(count(p, "ok") + errors),
            "{probe}: {r}"
        );
        assert_eq!(
            p["latency"]["count"].as_u64(),
            Some(count(p, "ok")),
            "{probe}: {r}"
        );
    }
    assert!(count(&r["probe"], "ok") > 0, "{r}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_counts_every_registration_and_login() {
    let server = spawn_with(|s| {
        s.limits.login_attempts_per_minute = 1_000;
        s.limits.login_attempts_per_minute_per_ip = 1_000;
    })
    .await;
    let stdout = gadka_load(
        &server.url(""),
        &["--json", "signup", "--count", "6", "--baseline-logins", "2"],
    )
    .await;
    let r = report(&stdout);
    assert_eq!(r["scenario"], "signup", "{r}");
    assert_eq!(total(&r, "registrations"), 6, "{r}");
    // The hasher's queue may refuse some on a small machine; nothing else may.
    for (answer, _) in r["registrations"].as_object().into_iter().flatten() {
        assert!(answer == "201" || answer == "429 busy", "{answer}: {r}");
    }
    assert_eq!(r["registration_latency"]["count"], 6, "{r}");
    assert_eq!(r["login_before"]["requests"], 2, "{r}");
    assert_eq!(r["login_before"]["ok"], 2, "{r}");
    assert_eq!(
        r["login"]["requests"], r["login"]["ok"],
        "every login succeeds: {r}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_accounts_for_every_command_and_ping() {
    // Allowances smaller than the socket's queue: a burst of allowed sends is echoed
    // to the flooder's other sockets at once, and 300 (the default) can overflow a
    // queue of 256 and close one of them.
    let server = spawn_with(|s| {
        s.limits.sends_per_minute = 50;
        s.limits.conversations_per_hour = 2;
    })
    .await;
    let stdout = gadka_load(
        &server.url(""),
        &[
            "--json",
            "flood",
            "--seconds",
            "1",
            "--strangers",
            "3",
            "--send-window",
            "8",
            "--typing-batch",
            "8",
            "--ping-rate",
            "20",
            "--baseline-secs",
            "0.2",
        ],
    )
    .await;
    let r = report(&stdout);
    assert_eq!(r["scenario"], "flood", "{r}");
    for kind in ["sends", "opens", "typing"] {
        let k = &r[kind];
        assert!(count(k, "sent") > 0, "{kind}: {r}");
        assert_eq!(
            count(k, "sent"),
            count(k, "taken") + total(k, "refused") + count(k, "unanswered"),
            "{kind}: {r}"
        );
        assert_eq!(count(k, "unanswered"), 0, "{kind}: {r}");
        assert!(k["closed"].is_null(), "{kind}: {r}");
    }
    // Each kind has its allowance, and a flood runs past it.
    for kind in ["sends", "opens", "typing"] {
        let refused = total(&r[kind], "refused");
        assert!(refused > 0, "{kind}: {r}");
        assert_eq!(r[kind]["refused"]["rate_limited"], refused, "{kind}: {r}");
    }
    // Two new conversations an hour, one of them the peer's: one stranger's is
    // created, and opening it again is free.
    assert_eq!(r["opens"]["created"], 1, "{r}");
    for phase in ["ping_before", "ping"] {
        assert_eq!(r[phase]["answered"], r[phase]["sent"], "{phase}: {r}");
        assert!(count(&r[phase], "sent") > 0, "{phase}: {r}");
    }
    server.stop().await;
}

//! `/metrics` as an operator scrapes it, and what it shows about the server's cost:
//! a `hello` takes the same number of queries with one conversation as with many.
//!
//! Its own test binary, with one test: the metrics recorder is global to a process,
//! and no other test's traffic may move the counters read here.

use gadka_test_support::{TestApp, spawn_app};
use reqwest::StatusCode;

/// The value of a metric line: `name value` or `name{labels} value` whose labels
/// contain every one of `labels`.
fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            let (metric, rest) = key.split_once('{').unwrap_or((key, ""));
            (metric == name && labels.iter().all(|l| rest.contains(l)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

async fn scrape(app: &TestApp) -> String {
    let response = reqwest::get(app.metrics_url()).await.expect("GET /metrics");
    assert_eq!(response.status(), StatusCode::OK);
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(kind.starts_with("text/plain"), "{kind}");
    response.text().await.expect("a body")
}

#[tokio::test]
async fn metrics_move_with_the_traffic_and_a_hello_costs_the_same_queries_however_many_conversations()
 {
    let app = spawn_app().await;
    let (alice, bob, id) = app.alice_and_bob().await;

    // Not on the main listener: routes, rates and queue depths are the operator's.
    let public = reqwest::get(app.url("/metrics"))
        .await
        .expect("GET /metrics on the main listener")
        .text()
        .await
        .expect("a body");
    assert!(!public.contains("gadka_"), "{public}");
    assert_ne!(app.metrics_addr, Some(app.addr));

    let before = scrape(&app).await;
    alice.send(id, "one").await;
    alice.send(id, "two").await;
    let after = scrape(&app).await;
    let committed = |t: &str| metric(t, "gadka_messages_committed_total", &[]);
    assert_eq!(committed(&after) - committed(&before), 2.0);
    let sends = |t: &str| {
        metric(
            t,
            "gadka_http_requests_total",
            &[
                "route=\"/api/conversations/{id}/messages\"",
                "method=\"POST\"",
                "status=\"201\"",
            ],
        )
    };
    assert_eq!(sends(&after) - sends(&before), 2.0);
    assert!(metric(&after, "gadka_writer_batch_size_count", &[]) >= 2.0);
    assert!(metric(&after, "gadka_writer_commit_seconds_count", &[]) >= 2.0);
    assert!(after.contains("gadka_writer_queue_depth"));
    // The default durability (`full`) on SQLite: each batch answered after a WAL sync.
    assert!(metric(&after, "gadka_writer_sync_seconds_count", &[]) >= 1.0);
    assert!(metric(&after, "gadka_writer_batches_per_sync_sum", &[]) >= 2.0);

    // The web client's page and assets are counted under their own routes, not lost
    // among the unmatched.
    let page = |t: &str| {
        metric(
            t,
            "gadka_http_requests_total",
            &["route=\"/{client route}\"", "status=\"200\""],
        )
    };
    let unmatched = |t: &str| metric(t, "gadka_http_requests_total", &["route=\"unmatched\""]);
    let before = scrape(&app).await;
    let html = reqwest::get(app.url(&format!("/c/{id}")))
        .await
        .expect("GET the page");
    assert_eq!(html.status(), StatusCode::OK);
    let after = scrape(&app).await;
    assert_eq!(page(&after) - page(&before), 1.0);
    assert_eq!(unmatched(&after) - unmatched(&before), 0.0);

    // A hello with one conversation...
    let queries = |t: &str| metric(t, "gadka_db_queries_total", &[]);
    let before = scrape(&app).await;
    let (_first, hello) = app.socket(&bob).await;
    let one = queries(&scrape(&app).await) - queries(&before);
    assert_eq!(hello["conversations"].as_array().map(Vec::len), Some(1));
    assert_eq!(metric(&scrape(&app).await, "gadka_sockets_open", &[]), 1.0);

    // ...and with five, each with messages and unread counts.
    for name in ["cid", "dee", "eve", "fay"] {
        let other = app.register(name).await;
        let conversation = other.open(&bob).await;
        other.send(conversation, "hej").await;
    }
    let before = scrape(&app).await;
    let (_second, hello) = app.socket(&bob).await;
    let five = queries(&scrape(&app).await) - queries(&before);
    assert_eq!(hello["conversations"].as_array().map(Vec::len), Some(5));
    assert_eq!(hello["unread"]["total"], 6);
    assert!(one > 0.0);
    assert_eq!(
        one, five,
        "a hello's queries do not grow with its conversations"
    );
    assert_eq!(metric(&scrape(&app).await, "gadka_sockets_open", &[]), 2.0);
}

//! Not a check but a measure (ignored by default; run it with
//! `cargo test --release --test bridge -- --ignored --nocapture latency`): the time
//! from a gadka send to the Matrix user's `/sync` showing it, beside Synapse's own
//! time from one Matrix user to another, in the same run. BENCHMARKS.md has figures.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::{matrix::MatrixUser, messages::dm, synapse};

/// Sends per path.
const ROUNDS: usize = 50;

#[tokio::test]
#[ignore = "a measure, not a check: run it on purpose, in release"]
async fn latency_of_a_gadka_send_to_matrix_beside_matrix_to_matrix() {
    let synapse = synapse::shared().await;
    let slot = synapse.slot().await;
    let d = dm(&slot, "alice-latency").await;
    let carol = MatrixUser::register(synapse, &format!("carol-latency{}", slot.index)).await;
    let room = carol.start_dm(&d.alice.user_id).await;
    d.alice.join(&room).await;

    let mut since = sync(&d.alice, None).await["next_batch"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut bridged = Vec::new();
    let mut direct = Vec::new();
    for round in 0..ROUNDS {
        let body = format!("gadka {round}");
        let started = Instant::now();
        d.bob.send(d.conversation, &body).await;
        since = wait_for(&d.alice, since, &body).await;
        bridged.push(started.elapsed());

        let body = format!("matrix {round}");
        let started = Instant::now();
        carol.say(&room, &body).await;
        since = wait_for(&d.alice, since, &body).await;
        direct.push(started.elapsed());
    }
    println!(
        "send → Matrix /sync, {ROUNDS} each: gadka → Matrix {}; Matrix → Matrix (Synapse alone) {}",
        summary(&mut bridged),
        summary(&mut direct)
    );
}

async fn sync(user: &MatrixUser, since: Option<&str>) -> Value {
    let path = match since {
        Some(since) => format!("/_matrix/client/v3/sync?timeout=10000&since={since}"),
        None => "/_matrix/client/v3/sync?timeout=0".to_owned(),
    };
    let answer = user.call(Method::GET, &path, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    answer.body
}

/// Long-polls `/sync` until a message with `body` arrives; the next `since`.
async fn wait_for(user: &MatrixUser, mut since: String, body: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let page = sync(user, Some(&since)).await;
        since = page["next_batch"].as_str().unwrap().to_owned();
        let rooms = page["rooms"]["join"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let seen = rooms.values().any(|room| {
            room["timeline"]["events"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["content"]["body"] == body)
        });
        if seen {
            return since;
        }
    }
    panic!("{body:?} never reached /sync");
}

fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    format!(
        "p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.9).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    )
}

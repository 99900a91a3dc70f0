//! The server killed with SIGKILL in the middle of a load: every message whose `sent`
//! reached its sender is in the database exactly once after the restart, with both
//! durability settings (`normal` promises to survive exactly this: a crash of the
//! process).

use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use gadka_test_support::{bound_address, eventually};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

const SENDERS: usize = 3;
/// Sends each sender keeps in flight: enough to fill batches.
const WINDOW: usize = 16;
/// Acknowledged messages, in all, before the kill.
const ACKED_BEFORE_KILL: usize = 300;

/// The server process; killed when dropped, so a failing test leaves none behind.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(data_dir: &std::path::Path, durability: &str) -> (Server, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_gadka"))
        .args(["serve", "--listen", "127.0.0.1:0", "--log", "info"])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--durability", durability])
        .env_remove("GADKA_CONFIG")
        .env("NO_COLOR", "1")
        // The load signs up its senders from one address and sends faster than a person.
        .env("GADKA_REGISTRATIONS_PER_HOUR_PER_IP", "1000000")
        .env("GADKA_SENDS_PER_MINUTE", "1000000000")
        .stdout(Stdio::piped())
        .spawn()
        .expect("gadka starts");
    let mut server = Server(child);
    let address = bound_address(&mut server.0);
    (server, address)
}

async fn register(http: &reqwest::Client, address: &str, name: &str) -> (i64, String) {
    let response = http
        .post(format!("http://{address}/api/register"))
        .json(&json!({"username": name, "password": "correct horse battery"}))
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), 201);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let body: Value = response.json().await.expect("JSON");
    (body["user"]["id"].as_i64().expect("an id"), cookie)
}

/// Sends into its own conversation with `WINDOW` sends in flight until the server
/// dies; records every `txn_id` whose `sent` arrived.
async fn pump(
    address: String,
    cookie: String,
    to: i64,
    name: String,
    acked: Arc<Mutex<Vec<String>>>,
) {
    let mut request = format!("ws://{address}/ws")
        .into_client_request()
        .expect("a request");
    request
        .headers_mut()
        .insert("cookie", HeaderValue::from_str(&cookie).expect("a header"));
    let Ok((socket, _)) = tokio_tungstenite::connect_async(request).await else {
        return;
    };
    let (mut tx, mut rx) = socket.split();
    let mut next = 0usize;
    let mut in_flight = 0usize;
    loop {
        while in_flight < WINDOW {
            let frame = json!({"type": "send", "to_user": to, "body": format!("m{next}"), "txn_id": format!("{name}-{next}")});
            if tx.send(Message::text(frame.to_string())).await.is_err() {
                return;
            }
            next += 1;
            in_flight += 1;
        }
        let Some(Ok(Message::Text(text))) = rx.next().await else {
            return;
        };
        let Ok(frame) = serde_json::from_str::<Value>(&text) else {
            return;
        };
        if frame["type"] == "sent" {
            in_flight -= 1;
            let txn = frame["txn_id"]
                .as_str()
                .expect("sent echoes txn_id")
                .to_owned();
            acked.lock().expect("not poisoned").push(txn);
        }
    }
}

async fn crash_keeps_every_acknowledged_message(durability: &str) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (mut child, address) = start(dir.path(), durability);
    let http = reqwest::Client::new();
    let (recipient, _) = register(&http, &address, "bob").await;
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut pumps = Vec::new();
    for i in 0..SENDERS {
        let name = format!("sender{i}");
        let (_, cookie) = register(&http, &address, &name).await;
        pumps.push(tokio::spawn(pump(
            address.clone(),
            cookie,
            recipient,
            name,
            acked.clone(),
        )));
    }
    let what = format!("the load to reach {ACKED_BEFORE_KILL} acknowledged messages");
    eventually(&what, Duration::from_secs(60), async || {
        let acknowledged = acked.lock().expect("not poisoned").len();
        if acknowledged >= ACKED_BEFORE_KILL {
            Ok(())
        } else {
            Err(acknowledged)
        }
    })
    .await;
    child.0.kill().expect("SIGKILL");
    child.0.wait().expect("the server died");
    for pump in pumps {
        pump.await.expect("the pump ends with the server");
    }
    let acked = acked.lock().expect("not poisoned").clone();

    // Restart on the same files: recovery happens here, as after a real crash.
    let (child, _) = start(dir.path(), durability);
    let url = format!("sqlite://{}?mode=ro", dir.path().join("gadka.db").display());
    let db = sea_orm::Database::connect(url)
        .await
        .expect("the SQLite file opens");
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT txn_id, COUNT(*) FROM message GROUP BY txn_id",
        ))
        .await
        .expect("the query runs");
    let stored: HashMap<String, i64> = rows
        .iter()
        .map(|row| {
            (
                row.try_get_by_index::<String>(0).expect("a txn_id"),
                row.try_get_by_index::<i64>(1).expect("a count"),
            )
        })
        .collect();
    let seq_gaps = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM conversation c WHERE c.last_seq != \
             (SELECT COUNT(*) FROM message m WHERE m.conversation_id = c.id)",
        ))
        .await
        .expect("the query runs")
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .expect("a count");
    db.close().await.ok();
    drop(child);

    assert!(acked.len() >= ACKED_BEFORE_KILL);
    let lost: Vec<&String> = acked.iter().filter(|t| !stored.contains_key(*t)).collect();
    assert!(
        lost.is_empty(),
        "{durability}: acknowledged but lost: {lost:?}"
    );
    let doubled: Vec<(&String, &i64)> = stored.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        doubled.is_empty(),
        "{durability}: stored twice: {doubled:?}"
    );
    assert_eq!(
        seq_gaps, 0,
        "{durability}: every conversation's seq runs 1..=last_seq"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_load_loses_no_acknowledged_message_with_full_durability() {
    crash_keeps_every_acknowledged_message("full").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_load_loses_no_acknowledged_message_with_normal_durability() {
    crash_keeps_every_acknowledged_message("normal").await;
}

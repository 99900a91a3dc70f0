//! The server killed with SIGKILL at full load, again and again on the same files:
//! every message whose `sent` reached its sender is in the database exactly once after
//! each restart, no `txn_id` is stored twice and every conversation's `seq`s run without
//! a gap, with both durability settings (`normal` promises to survive exactly this: a
//! crash of the process).
//!
//! The load is 64 sends in flight over four sockets, as fast as the server answers;
//! each round prints the rate it reached (BENCHMARKS.md, "kill -9 at full load"), which
//! nothing asserts. `GADKA_CRASH_ROUNDS` and `GADKA_CRASH_SEED` lengthen or repeat a run.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::{FutureExt, SinkExt, StreamExt};
use gadka_test_support::{bound_address, eventually};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

const SENDERS: usize = 4;
/// Sends each sender keeps in flight: 64 in all.
const WINDOW: usize = 16;
/// Rounds per durability setting: 50 in all.
const ROUNDS: usize = 25;
/// The most acknowledgements a round waits for before the kill (at 10,000 a second,
/// under a second of load).
const MOST_ACKED_BEFORE_KILL: usize = 8_000;

/// One test at a time: each has the machine to itself, so its load is as high as the
/// machine allows.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The server process; killed when dropped, so a failing test leaves none behind.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(data_dir: &Path, durability: &str) -> (Server, String) {
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

/// The `txn_id` of a `sent` frame. The server writes `type` and `txn_id` first
/// (`ws::frames::Reply::Sent`), so the usual frame is read without parsing the message
/// that follows; any other shape is parsed in full.
fn sent_txn(frame: &str) -> Result<Option<String>, String> {
    if let Some(rest) = frame.strip_prefix(r#"{"type":"sent","txn_id":""#)
        && let Some(end) = rest.find('"')
    {
        return Ok(Some(rest[..end].to_owned()));
    }
    let value: Value = serde_json::from_str(frame).map_err(|e| format!("{e}: {frame}"))?;
    match value["type"].as_str() {
        Some("sent") => Ok(Some(
            value["txn_id"]
                .as_str()
                .ok_or_else(|| format!("sent without a txn_id: {frame}"))?
                .to_owned(),
        )),
        Some("error") => Err(format!("a send was refused: {frame}")),
        _ => Ok(None),
    }
}

/// Sends into its own conversation with `WINDOW` sends in flight until the server
/// dies; the `txn_id`s whose `sent` arrived. Frames are written with `format!`, fed
/// without a flush each, and every answer already there is read before the window is
/// filled again with one flush, so that the client costs the machine little of what
/// the server could use.
async fn pump(
    address: String,
    cookie: String,
    to: i64,
    prefix: String,
    acks: Arc<AtomicUsize>,
    first_ack: Arc<OnceLock<Instant>>,
) -> Vec<String> {
    let mut acked = Vec::new();
    let mut request = format!("ws://{address}/ws")
        .into_client_request()
        .expect("a request");
    request
        .headers_mut()
        .insert("cookie", HeaderValue::from_str(&cookie).expect("a header"));
    let Ok((socket, _)) = tokio_tungstenite::connect_async(request).await else {
        return acked;
    };
    let (mut tx, mut rx) = socket.split();
    let mut next = 0usize;
    let mut in_flight = 0usize;
    loop {
        while in_flight < WINDOW {
            let frame = format!(
                r#"{{"type":"send","to_user":{to},"body":"m{next}","txn_id":"{prefix}-{next}"}}"#
            );
            if tx.feed(Message::text(frame)).await.is_err() {
                return acked;
            }
            next += 1;
            in_flight += 1;
        }
        if tx.flush().await.is_err() {
            return acked;
        }
        let Some(Ok(first)) = rx.next().await else {
            return acked;
        };
        let mut frame = Some(first);
        while let Some(message) = frame {
            if let Message::Text(text) = message {
                match sent_txn(&text) {
                    Ok(Some(txn)) => {
                        in_flight -= 1;
                        acked.push(txn);
                        acks.fetch_add(1, Ordering::Relaxed);
                        first_ack.get_or_init(Instant::now);
                    }
                    Ok(None) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            frame = match rx.next().now_or_never() {
                Some(Some(Ok(message))) => Some(message),
                Some(Some(Err(_)) | None) => return acked,
                None => None,
            };
        }
    }
}

/// What the database holds after a restart: each `txn_id`'s count, and how many
/// conversations have a gap in their `seq`s.
fn stored(db: &Path) -> (HashMap<String, i64>, i64) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("the SQLite file opens");
    conn.busy_timeout(Duration::from_secs(30))
        .expect("a busy timeout");
    let mut statement = conn
        .prepare("SELECT txn_id, COUNT(*) FROM message WHERE txn_id IS NOT NULL GROUP BY txn_id")
        .expect("the query");
    let counts = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("the query runs")
        .map(|row| row.expect("a row"))
        .collect();
    let seq_gaps = conn
        .query_row(
            "SELECT COUNT(*) FROM conversation c WHERE c.last_seq != \
             (SELECT COUNT(*) FROM message m WHERE m.conversation_id = c.id)",
            [],
            |row| row.get(0),
        )
        .expect("the query runs");
    (counts, seq_gaps)
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a valid value")),
        Err(_) => default,
    }
}

async fn crash_keeps_every_acknowledged_message(durability: &str) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let rounds: usize = env_or("GADKA_CRASH_ROUNDS", ROUNDS);
    let seed: u64 = env_or("GADKA_CRASH_SEED", rand::rng().random());
    println!("kill -9, {durability}: {rounds} rounds, GADKA_CRASH_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("gadka.db");
    let http = reqwest::Client::new();

    let (mut server, mut address) = start(dir.path(), durability);
    let (recipient, _) = register(&http, &address, "bob").await;
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        senders.push(register(&http, &address, &format!("sender{i}")).await.1);
    }
    let mut acked: HashSet<String> = HashSet::new();
    let mut rates = Vec::new();
    let (mut loaded, mut loaded_for) = (0, Duration::ZERO);
    for round in 0..rounds {
        let target = rng.random_range(1..=MOST_ACKED_BEFORE_KILL);
        let acks = Arc::new(AtomicUsize::new(0));
        let first_ack = Arc::new(OnceLock::new());
        let pumps: Vec<_> = senders
            .iter()
            .enumerate()
            .map(|(i, cookie)| {
                tokio::spawn(pump(
                    address.clone(),
                    cookie.clone(),
                    recipient,
                    format!("s{i}-r{round}"),
                    acks.clone(),
                    first_ack.clone(),
                ))
            })
            .collect();
        let what = format!("round {round}: the load to reach {target} acknowledged messages");
        eventually(&what, Duration::from_secs(120), async || {
            match acks.load(Ordering::Relaxed) {
                n if n >= target => Ok(()),
                n => Err(n),
            }
        })
        .await;
        server.0.kill().expect("SIGKILL");
        // The rate runs from the first acknowledgement, when every socket is open and
        // sending, to the kill.
        let (acked_at_kill, ran) = (
            acks.load(Ordering::Relaxed),
            first_ack.get().expect("acknowledged").elapsed(),
        );
        server.0.wait().expect("the server died");
        let mut this_round = 0;
        for pump in pumps {
            let txns = pump.await.expect("the pump ends with the server");
            this_round += txns.len();
            for txn in txns {
                assert!(acked.insert(txn), "a txn_id acknowledged twice");
            }
        }
        let rate = (acked_at_kill - 1) as f64 / ran.as_secs_f64();
        rates.push(rate);
        loaded += acked_at_kill - 1;
        loaded_for += ran;
        println!(
            "round {round}, {durability}: killed after {this_round} acknowledged messages, \
             {:.0} ms after the first, {rate:.0} msgs/s",
            ran.as_secs_f64() * 1000.0
        );

        // Restart on the same files: recovery happens here, as after a real crash.
        (server, address) = start(dir.path(), durability);
        let (stored, seq_gaps) = stored(&db);
        let lost: Vec<&String> = acked.iter().filter(|t| !stored.contains_key(*t)).collect();
        assert!(
            lost.is_empty(),
            "round {round}, {durability}: acknowledged but lost: {lost:?}"
        );
        let doubled: Vec<(&String, &i64)> = stored.iter().filter(|(_, n)| **n != 1).collect();
        assert!(
            doubled.is_empty(),
            "round {round}, {durability}: stored twice: {doubled:?}"
        );
        assert_eq!(
            seq_gaps, 0,
            "round {round}, {durability}: every conversation's seq runs 1..=last_seq"
        );
    }
    drop(server);
    rates.sort_by(f64::total_cmp);
    println!(
        "kill -9, {durability}: {rounds} rounds, {} acknowledged messages all stored once; \
         {:.0} msgs/s over all rounds' loads; per round: min {:.0}, median {:.0}, max {:.0}",
        acked.len(),
        loaded as f64 / loaded_for.as_secs_f64(),
        rates[0],
        rates[rates.len() / 2],
        rates[rates.len() - 1],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_full_load_loses_no_acknowledged_message_with_full_durability() {
    crash_keeps_every_acknowledged_message("full").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_full_load_loses_no_acknowledged_message_with_normal_durability() {
    crash_keeps_every_acknowledged_message("normal").await;
}

/// The uploads arriving under `media/tmp`: in a scratch directory per running node,
/// beside its lock.
fn scratch_files(tmp: &Path) -> Vec<std::path::PathBuf> {
    let Ok(nodes) = std::fs::read_dir(tmp) else {
        return Vec::new();
    };
    nodes
        .flatten()
        .flat_map(|node| std::fs::read_dir(node.path()).into_iter().flatten())
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.file_name() != Some(".held".as_ref()))
        .collect()
}

/// Files under their final names in the media store (the scratch space left out).
fn media_files(data_dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(dirs) = std::fs::read_dir(data_dir.join("media")) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for dir in dirs.flatten() {
        if dir.file_name() == "tmp" {
            continue;
        }
        if let Ok(entries) = std::fs::read_dir(dir.path()) {
            files.extend(entries.flatten().map(|e| e.path()));
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_upload_leaves_no_half_file() {
    use sha2::Digest;
    use tokio::io::AsyncWriteExt;

    let _alone = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let (mut server, address) = start(dir.path(), "full");
    let http = reqwest::Client::new();
    let (_, cookie) = register(&http, &address, "uploader").await;
    let whole: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let response = http
        .post(format!("http://{address}/api/media?filename=whole.bin"))
        .header("cookie", &cookie)
        .body(whole.clone())
        .send()
        .await
        .expect("an upload");
    assert_eq!(response.status(), 201);
    let media: Value = response.json().await.expect("JSON");

    // Half of an 8 MiB upload, then the kill while the server holds it.
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connects");
    let head = format!(
        "POST /api/media?filename=half.bin HTTP/1.1\r\nHost: {address}\r\nCookie: {cookie}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        8 << 20
    );
    stream.write_all(head.as_bytes()).await.expect("the head");
    stream
        .write_all(&vec![0xab; 4 << 20])
        .await
        .expect("half the body");
    let scratch = dir.path().join("media/tmp");
    eventually(
        "the server to hold the half upload",
        Duration::from_secs(60),
        async || {
            let held: u64 = scratch_files(&scratch)
                .iter()
                .filter_map(|f| f.metadata().ok())
                .map(|m| m.len())
                .sum();
            if held > 0 {
                Ok(())
            } else {
                Err("nothing yet".to_owned())
            }
        },
    )
    .await;
    server.0.kill().expect("SIGKILL");
    server.0.wait().expect("the server is gone");
    drop(stream);

    let expected = format!("{:x}", sha2::Sha256::digest(&whole));
    let names = |files: Vec<std::path::PathBuf>| -> Vec<String> {
        files
            .iter()
            .filter_map(|f| f.file_name()?.to_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        names(media_files(dir.path())),
        [expected],
        "only the finished upload has a name in the store"
    );

    let (_server, address) = start(dir.path(), "full");
    assert_eq!(
        scratch_files(&scratch),
        Vec::<std::path::PathBuf>::new(),
        "the half upload's scratch file is removed at start"
    );
    let file = http
        .get(format!(
            "http://{address}/api/media/{}",
            media["media"]["id"].as_str().unwrap()
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("a download");
    assert_eq!(file.status(), 200);
    assert_eq!(
        file.bytes().await.expect("the file"),
        whole,
        "whole after the crash"
    );
}

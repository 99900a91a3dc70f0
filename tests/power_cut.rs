//! The power cut under gadka at random moments, on a filesystem that loses whatever
//! was not synced (`gadka_test_support::lazyfs`): after each cut and restart, every
//! message whose `sent` arrived, every read marker whose `unread` answer arrived and
//! every outbox row of an acknowledged rename (the bridge configured, its homeserver
//! unreachable, so the rows stay) is in the database exactly once, and the sessions
//! signed before the cut still work. The first rounds cut the first start itself:
//! before `session.key` exists, just before it is renamed into place, and just after
//! the first users signed up.
//!
//! With `durability: full` nothing acknowledged may be lost. With
//! `GADKA_POWER_CUT_DURABILITY=normal` the test measures what `normal` loses and
//! reports it instead (BENCHMARKS.md, "Power cuts"). `GADKA_POWER_CUT_ROUNDS` and
//! `GADKA_POWER_CUT_SEED` repeat a run or lengthen it.

use std::{
    collections::{HashMap, HashSet},
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use gadka_test_support::{
    eventually,
    lazyfs::{self, LazyFs},
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};

const SENDERS: usize = 3;
/// Sends each sender keeps in flight.
const WINDOW: usize = 8;
/// Reads the reader keeps in flight.
const READS_IN_FLIGHT: usize = 4;
/// The longest the load runs on after its first acknowledgement before the cut.
const MOST_LOAD_MS: u64 = 300;

/// The server process; killed when dropped, so a failing test leaves none behind.
struct Server {
    child: Child,
    address: Option<oneshot::Receiver<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(data_dir: &Path, config: &Path, durability: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gadka"))
            .args(["serve", "--listen", "127.0.0.1:0", "--log", "info"])
            .arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--durability", durability])
            // The reader's socket gets every message; it must never be too slow.
            .args(["--ws-queue-frames", "1000000"])
            .env_remove("GADKA_CONFIG")
            .env("NO_COLOR", "1")
            // The load signs up from one address and sends faster than a person.
            .env("GADKA_REGISTRATIONS_PER_HOUR_PER_IP", "1000000")
            .env("GADKA_SENDS_PER_MINUTE", "1000000000")
            .env("GADKA_CONVERSATIONS_PER_HOUR", "1000000000")
            .stdout(Stdio::piped())
            .spawn()
            .expect("gadka starts");
        // The log is read on its own thread to the end, so that the server never
        // writes into a full pipe, and whether or not it gets as far as listening.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = oneshot::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening")
                    && let Some(address) = line.split("address=").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(address.trim().to_owned());
                }
            }
        });
        Self {
            child,
            address: Some(rx),
        }
    }

    /// Where it listens, once it does.
    async fn address(&mut self) -> String {
        let rx = self.address.take().expect("asked once");
        rx.await
            .expect("the server exited without saying where it listens")
    }

    /// The power cut's half in the process: it stops at once, wherever it was.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the server died");
    }

    /// A clean stop: SIGTERM, and the exit.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let status = self.child.wait().expect("the server exits");
        assert!(status.success(), "a clean exit on SIGTERM: {status}");
    }
}

#[derive(Clone)]
struct User {
    id: i64,
    cookie: String,
}

/// What the server acknowledged, so what must be there.
#[derive(Default)]
struct Acknowledged {
    /// `txn_id`s whose `sent` arrived.
    messages: HashSet<String>,
    /// The reader's markers, per conversation, as its `unread` answers confirmed them.
    markers: HashMap<i64, i64>,
    /// Display names a `PATCH /api/me` answered 200 for: one outbox row each.
    renames: HashSet<String>,
    session_key: Option<Vec<u8>>,
    reader: Option<User>,
    senders: Vec<User>,
}

/// What one check found missing, doubled or out of shape.
#[derive(Default, Debug)]
struct Found {
    lost_messages: Vec<String>,
    doubled_messages: Vec<(String, i64)>,
    /// (conversation, acknowledged, stored)
    lost_markers: Vec<(i64, i64, i64)>,
    lost_renames: Vec<String>,
    doubled_renames: Vec<(String, usize)>,
    seq_gaps: i64,
}

impl Found {
    fn lost(&self) -> usize {
        self.lost_messages.len() + self.lost_markers.len() + self.lost_renames.len()
    }

    fn damaged(&self) -> bool {
        !self.doubled_messages.is_empty() || !self.doubled_renames.is_empty() || self.seq_gaps != 0
    }
}

/// Reads the database gadka runs on, read-only, beside it.
fn check(db: &Path, acked: &Acknowledged) -> Found {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("the database opens");
    conn.busy_timeout(Duration::from_secs(30))
        .expect("a busy timeout");
    let mut found = Found::default();

    let mut stored: HashMap<String, i64> = HashMap::new();
    let mut statement = conn
        .prepare("SELECT txn_id, COUNT(*) FROM message WHERE txn_id IS NOT NULL GROUP BY txn_id")
        .expect("the query");
    let rows = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .expect("the query runs");
    for row in rows {
        let (txn, count) = row.expect("a row");
        stored.insert(txn, count);
    }
    found.lost_messages = acked
        .messages
        .iter()
        .filter(|t| !stored.contains_key(*t))
        .cloned()
        .collect();
    found.doubled_messages = stored.into_iter().filter(|(_, n)| *n != 1).collect();

    if let Some(reader) = &acked.reader {
        let mut statement = conn
            .prepare("SELECT conversation_id, last_read_seq FROM membership WHERE user_id = ?1")
            .expect("the query");
        let markers: HashMap<i64, i64> = statement
            .query_map([reader.id], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect("the query runs")
            .map(|row| row.expect("a row"))
            .collect();
        for (conversation, acknowledged) in &acked.markers {
            let stored = markers.get(conversation).copied().unwrap_or(0);
            if stored < *acknowledged {
                found
                    .lost_markers
                    .push((*conversation, *acknowledged, stored));
            }
        }
    }

    let mut names: HashMap<String, usize> = HashMap::new();
    let mut statement = conn
        .prepare("SELECT payload FROM outbox WHERE topic = 'matrix'")
        .expect("the query");
    let payloads = statement
        .query_map([], |row| row.get::<_, String>(0))
        .expect("the query runs");
    for payload in payloads {
        let payload: Value =
            serde_json::from_str(&payload.expect("a row")).expect("an outbox row is JSON");
        if payload["kind"] == "profile" {
            let name = payload["display_name"].as_str().expect("a name").to_owned();
            *names.entry(name).or_default() += 1;
        }
    }
    found.lost_renames = acked
        .renames
        .iter()
        .filter(|n| !names.contains_key(*n))
        .cloned()
        .collect();
    found.doubled_renames = names.into_iter().filter(|(_, n)| *n != 1).collect();

    found.seq_gaps = conn
        .query_row(
            "SELECT COUNT(*) FROM conversation c WHERE c.last_seq != \
             (SELECT COUNT(*) FROM message m WHERE m.conversation_id = c.id)",
            [],
            |row| row.get(0),
        )
        .expect("the query runs");
    found
}

async fn register(http: &reqwest::Client, address: &str, name: &str) -> User {
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
    User {
        id: body["user"]["id"].as_i64().expect("an id"),
        cookie,
    }
}

async fn connect(
    address: &str,
    user: &User,
) -> Option<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
> {
    let mut request = format!("ws://{address}/ws")
        .into_client_request()
        .expect("a request");
    request.headers_mut().insert(
        "cookie",
        HeaderValue::from_str(&user.cookie).expect("a header"),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .ok()
        .map(|(socket, _)| socket)
}

/// Sends to the reader with `WINDOW` sends in flight until the server dies; records
/// every `txn_id` whose `sent` arrived.
async fn pump(
    address: String,
    sender: User,
    to: i64,
    prefix: String,
    acked: Arc<Mutex<Vec<String>>>,
) {
    let Some(socket) = connect(&address, &sender).await else {
        return;
    };
    let (mut tx, mut rx) = socket.split();
    let mut next = 0usize;
    let mut in_flight = 0usize;
    loop {
        while in_flight < WINDOW {
            let frame = json!({"type": "send", "to_user": to, "body": format!("m{next}"), "txn_id": format!("{prefix}-{next}")});
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
            let txn = frame["txn_id"].as_str().expect("sent echoes txn_id");
            acked.lock().expect("not poisoned").push(txn.to_owned());
        }
    }
}

/// Reads every message that arrives, up to the newest, with `READS_IN_FLIGHT` reads
/// in flight; records each marker whose `unread` answer arrived.
async fn read_along(address: String, reader: User, acked: Arc<Mutex<Vec<(i64, i64)>>>) {
    let Some(socket) = connect(&address, &reader).await else {
        return;
    };
    let (mut tx, mut rx) = socket.split();
    let mut newest: HashMap<i64, i64> = HashMap::new();
    let mut asked: HashMap<i64, i64> = HashMap::new();
    let mut pending: HashMap<u64, (i64, i64)> = HashMap::new();
    let mut next_req = 0u64;
    loop {
        for (conversation, seq) in &newest {
            if pending.len() >= READS_IN_FLIGHT {
                break;
            }
            if asked.get(conversation).is_some_and(|a| a >= seq) {
                continue;
            }
            next_req += 1;
            let frame = json!({"type": "read", "conversation_id": conversation, "up_to_seq": seq, "req": next_req});
            if tx.send(Message::text(frame.to_string())).await.is_err() {
                return;
            }
            asked.insert(*conversation, *seq);
            pending.insert(next_req, (*conversation, *seq));
        }
        let Some(Ok(Message::Text(text))) = rx.next().await else {
            return;
        };
        let Ok(frame) = serde_json::from_str::<Value>(&text) else {
            return;
        };
        match frame["type"].as_str() {
            Some("message") => {
                let message = &frame["message"];
                let conversation = message["conversation_id"].as_i64().expect("an id");
                let seq = message["seq"].as_i64().expect("a seq");
                let newest = newest.entry(conversation).or_default();
                *newest = (*newest).max(seq);
            }
            Some("unread") => {
                if let Some(marker) = frame["req"].as_u64().and_then(|r| pending.remove(&r)) {
                    acked.lock().expect("not poisoned").push(marker);
                }
            }
            _ => {}
        }
    }
}

/// Renames `user` again and again; records every name the server answered 200 for.
async fn rename(address: String, user: User, prefix: String, acked: Arc<Mutex<Vec<String>>>) {
    let http = reqwest::Client::new();
    for n in 0.. {
        let name = format!("{prefix} {n}");
        let Ok(response) = http
            .patch(format!("http://{address}/api/me"))
            .header("cookie", &user.cookie)
            .json(&json!({"display_name": name}))
            .send()
            .await
        else {
            return;
        };
        if response.status() != 200 {
            return;
        }
        acked.lock().expect("not poisoned").push(name);
    }
}

/// What a round does before its cut.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Round {
    /// The first start, cut as `session.key`'s temporary file is created.
    BeforeTheKey,
    /// The first start again, cut just before the key is renamed into place.
    BeforeTheRename,
    /// Users sign up and open their conversations; cut just after.
    SignUp,
    /// A start on what the last cut left, cut at a random moment of it.
    DuringTheStart,
    /// Load, cut at a random moment; first a clean restart, if `true`, so the WAL is
    /// made anew.
    Load(bool),
}

fn round(n: usize) -> Round {
    match n {
        0 => Round::BeforeTheKey,
        1 => Round::BeforeTheRename,
        2 => Round::SignUp,
        n if n % 6 == 3 => Round::DuringTheStart,
        n => Round::Load(n % 6 == 5),
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a valid value")),
        Err(_) => default,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_cut_loses_nothing_acknowledged() {
    let durability: String = env_or("GADKA_POWER_CUT_DURABILITY", "full".to_owned());
    assert!(
        ["full", "normal"].contains(&durability.as_str()),
        "GADKA_POWER_CUT_DURABILITY is full or normal"
    );
    let full = durability == "full";
    let rounds: usize = env_or("GADKA_POWER_CUT_ROUNDS", if full { 50 } else { 20 });
    assert!(
        rounds >= 4,
        "at least the three first-start rounds and one of load"
    );
    let seed: u64 = env_or("GADKA_POWER_CUT_SEED", rand::rng().random());
    println!("power cuts: {rounds} rounds, durability {durability}, GADKA_POWER_CUT_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    if let Some(missing) = lazyfs::missing() {
        panic!("the power-cut test mounts a FUSE filesystem, and {missing}");
    }

    let scratch = tempfile::tempdir().expect("a temp dir");
    let mountpoint = scratch.path().join("disk");
    std::fs::create_dir(&mountpoint).expect("the mount point");
    // The bridge, so that renames leave outbox rows; its homeserver never answers, so
    // the rows stay in the database.
    let config = scratch.path().join("gadka.yaml");
    std::fs::write(
        &config,
        "homeserver:\n  address: http://127.0.0.1:9\n  domain: example.org\n\
         appservice:\n  address: http://127.0.0.1:9\n  hostname: 127.0.0.1\n  port: 0\n  \
         as_token: power-cut-as-token\n  hs_token: power-cut-hs-token\n",
    )
    .expect("the config");
    let mut disk = LazyFs::mount(&mountpoint).expect("the lazy filesystem mounts");
    // A directory gadka makes itself, so the cut can take that away too.
    let data_dir = mountpoint.join("data");
    let db = data_dir.join("gadka.db");
    let key_file = data_dir.join("session.key");

    let began = Instant::now();
    let http = reqwest::Client::new();
    let mut acked = Acknowledged::default();
    let mut checked = (0usize, 0usize, 0usize);
    let mut lost = (0usize, 0usize, 0usize);
    let mut cuts = 0usize;

    // Round `rounds` is the last restart, checked and not cut.
    for n in 0..=rounds {
        let kind = round(n);
        match kind {
            Round::BeforeTheKey => disk.cut_when_named("session.key.tmp"),
            Round::BeforeTheRename => disk.cut_when_named("session.key"),
            _ => {}
        }
        let mut server = Server::start(&data_dir, &config, &durability);
        if kind == Round::DuringTheStart {
            let wait = rng.random_range(0..=150);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            server.kill();
            disk.cut_power().expect("the power comes back");
            cuts += 1;
            println!("round {n}: cut {wait} ms into the start");
            continue;
        }
        let mut address = server.address().await;

        // The restart found everything the cuts had to keep.
        let found = check(&db, &acked);
        assert!(!found.damaged(), "round {n}, {durability}: {found:?}");
        checked.0 += acked.messages.len();
        checked.1 += acked.markers.len();
        checked.2 += acked.renames.len();
        if full {
            assert_eq!(
                found.lost(),
                0,
                "round {n}, full: lost what was acknowledged: {found:?}"
            );
        } else if found.lost() > 0 {
            println!(
                "round {n}: lost {} messages, {} read markers, {} renames",
                found.lost_messages.len(),
                found.lost_markers.len(),
                found.lost_renames.len()
            );
            lost.0 += found.lost_messages.len();
            lost.1 += found.lost_markers.len();
            lost.2 += found.lost_renames.len();
            // Counted once: later rounds look for what was acknowledged since.
            for txn in &found.lost_messages {
                acked.messages.remove(txn);
            }
            for (conversation, _, stored) in &found.lost_markers {
                acked.markers.insert(*conversation, *stored);
            }
            for name in &found.lost_renames {
                acked.renames.remove(name);
            }
        }
        if let Some(key) = &acked.session_key {
            let now = std::fs::read(&key_file).expect("session.key survives");
            assert!(&now == key, "round {n}: session.key changed");
        }
        for user in acked.reader.iter().chain(&acked.senders) {
            let response = http
                .get(format!("http://{address}/api/me"))
                .header("cookie", &user.cookie)
                .send()
                .await
                .expect("GET /api/me");
            assert_eq!(
                response.status(),
                200,
                "round {n}: a session survives the cut"
            );
        }
        if n == rounds {
            server.stop();
            break;
        }

        match kind {
            Round::BeforeTheKey | Round::BeforeTheRename => {
                assert!(
                    disk.cut_happened(),
                    "round {n}: the cut was armed and happened"
                );
                println!("round {n}: cut during the first start ({kind:?})");
            }
            Round::SignUp => {
                acked.session_key = Some(std::fs::read(&key_file).expect("session.key"));
                let reader = register(&http, &address, "reader").await;
                for i in 0..SENDERS {
                    let sender = register(&http, &address, &format!("sender{i}")).await;
                    let response = http
                        .post(format!("http://{address}/api/conversations"))
                        .header("cookie", &sender.cookie)
                        .json(&json!({"user_id": reader.id}))
                        .send()
                        .await
                        .expect("open");
                    assert_eq!(response.status(), 201);
                    acked.senders.push(sender);
                }
                acked.reader = Some(reader);
                if !full {
                    // `normal` keeps no sign-up through a cut: start its rounds from
                    // a clean stop, so they measure the load alone.
                    server.stop();
                    server = Server::start(&data_dir, &config, &durability);
                    server.address().await;
                }
                println!("round {n}: cut just after the sign-ups");
            }
            Round::DuringTheStart => unreachable!(),
            Round::Load(restart) => {
                if restart {
                    server.stop();
                    server = Server::start(&data_dir, &config, &durability);
                    address = server.address().await;
                }
                let reader = acked.reader.clone().expect("signed up");
                let messages = Arc::new(Mutex::new(Vec::new()));
                let markers = Arc::new(Mutex::new(Vec::new()));
                let renames = Arc::new(Mutex::new(Vec::new()));
                let mut load = vec![tokio::spawn(read_along(
                    address.clone(),
                    reader.clone(),
                    markers.clone(),
                ))];
                for (i, sender) in acked.senders.iter().enumerate() {
                    load.push(tokio::spawn(pump(
                        address.clone(),
                        sender.clone(),
                        reader.id,
                        format!("s{i}-r{n}"),
                        messages.clone(),
                    )));
                }
                load.push(tokio::spawn(rename(
                    address.clone(),
                    acked.senders[0].clone(),
                    format!("R{n}"),
                    renames.clone(),
                )));
                eventually(
                    "the load's first acknowledgement",
                    Duration::from_secs(60),
                    async || {
                        if messages.lock().expect("not poisoned").is_empty() {
                            Err("none yet")
                        } else {
                            Ok(())
                        }
                    },
                )
                .await;
                let started = Instant::now();
                let wait = rng.random_range(0..=MOST_LOAD_MS);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                server.kill();
                let ran = started.elapsed();
                for task in load {
                    task.await.expect("the load ends with the server");
                }
                let messages = std::mem::take(&mut *messages.lock().expect("not poisoned"));
                let markers = std::mem::take(&mut *markers.lock().expect("not poisoned"));
                let renames = std::mem::take(&mut *renames.lock().expect("not poisoned"));
                println!(
                    "round {n}: cut {wait} ms after the first acknowledgement{}: {} messages \
                     ({:.0}/s), {} read markers, {} renames acknowledged",
                    if restart {
                        ", after a clean restart"
                    } else {
                        ""
                    },
                    messages.len(),
                    messages.len() as f64 / ran.as_secs_f64().max(0.001),
                    markers.len(),
                    renames.len(),
                );
                acked.messages.extend(messages);
                for (conversation, seq) in markers {
                    let marker = acked.markers.entry(conversation).or_default();
                    *marker = (*marker).max(seq);
                }
                acked.renames.extend(renames);
                disk.cut_power().expect("the power comes back");
                cuts += 1;
                continue;
            }
        }
        server.kill();
        disk.cut_power().expect("the power comes back");
        cuts += 1;
    }
    let syncs = disk.syncs();
    drop(disk);
    let took = began.elapsed();
    println!(
        "power cuts, {durability}: {cuts} cuts in {} rounds in {:.0} s; checked after the \
         restarts: {} acknowledged messages, {} read markers, {} outbox rows (counting each \
         every time it was checked); at the end {} messages, {} markers, {} outbox rows \
         acknowledged; lost {} messages, {} markers, {} outbox rows; {} file and {} \
         directory syncs",
        rounds,
        took.as_secs_f64(),
        checked.0,
        checked.1,
        checked.2,
        acked.messages.len() + lost.0,
        acked.markers.len(),
        acked.renames.len() + lost.2,
        lost.0,
        lost.1,
        lost.2,
        syncs.files,
        syncs.dirs,
    );
}

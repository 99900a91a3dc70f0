//! A node that stalls, dies or is slow inside its batch, with real processes and
//! signals: what the database itself guarantees when every node writes (docs/
//! architecture.md, "Positions and several writers").
//!
//! - A node stopped (SIGSTOP) inside a batch is cut off by PostgreSQL
//!   (`idle_in_transaction_session_timeout`), the other nodes' batches go on, and when
//!   it wakes its batch is refused, never committed from its stale transaction; the
//!   send, retried with its `txn_id`, is stored once.
//! - `kill -9` of a writing node under load: every acknowledged send is stored once,
//!   each conversation's `seq`s are gapless, and the sockets on the other nodes see
//!   every message once; the dead node's clients resend through another node with
//!   the same `txn_id`s and resume there.
//! - A batch that waited for a stalled one commits after it, at higher positions, and
//!   no reader (a live socket, a socket opened meanwhile, `resume` from any cursor)
//!   sees it first, misses either, or sees one twice.
//!
//! A test build's writer sleeps `GADKA_TEST_WRITER_STALL_MS` right after taking its
//! turn (holding `stream_head`'s lock), which is how a node is caught inside a batch.
//! That a batch holds the lock, or waits for it, is read from PostgreSQL's
//! `pg_stat_activity` (each process node names its connections), not guessed from a
//! sleep.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use gadka_test_support::{Client, PATIENCE, eventually};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement};
use serde_json::Value;
use tokio::{task::JoinHandle, time::Instant};

use crate::{Cluster, device::Device, wait_for_nodes};

/// A test build's writer sleeps this many milliseconds inside every batch.
const STALL: &str = "GADKA_TEST_WRITER_STALL_MS";

/// A session of the node named `name` inside a batch, between two statements, holding
/// `stream_head`'s lock: where a stalled writer sits (its last statement took the
/// turn).
fn holding_the_lock(name: &str) -> String {
    format!(
        "application_name = '{name}' AND state = 'idle in transaction' \
         AND query LIKE '%stream_head%'"
    )
}

/// A session whose batch waits for another's lock on `stream_head`.
const WAITING_FOR_THE_LOCK: &str =
    "state = 'active' AND wait_event_type = 'Lock' AND query LIKE '%stream_head%'";

/// The test's database, read as an operator reads it with psql.
struct Database(DatabaseConnection);

/// A row of `message`.
#[derive(Debug, Clone)]
struct Stored {
    id: i64,
    conversation_id: i64,
    seq: i64,
    sender_id: i64,
    txn_id: Option<String>,
}

impl Database {
    async fn connect(url: &str) -> Self {
        Self(
            sea_orm::Database::connect(url)
                .await
                .expect("the test database"),
        )
    }

    async fn rows(&self, sql: &str, values: Vec<sea_orm::Value>) -> Vec<QueryResult> {
        self.0
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Every message stored, by conversation and `seq`.
    async fn messages(&self) -> Vec<Stored> {
        let sql = "SELECT id, conversation_id, seq, sender_id, txn_id FROM message \
                   ORDER BY conversation_id, seq";
        self.rows(sql, vec![])
            .await
            .iter()
            .map(|row| Stored {
                id: row.try_get("", "id").expect("id"),
                conversation_id: row.try_get("", "conversation_id").expect("conversation"),
                seq: row.try_get("", "seq").expect("seq"),
                sender_id: row.try_get("", "sender_id").expect("sender"),
                txn_id: row.try_get("", "txn_id").expect("txn_id"),
            })
            .collect()
    }

    /// How many messages `sender` has stored under `txn_id`.
    async fn count_txn(&self, sender: i64, txn_id: &str) -> i64 {
        let rows = self
            .rows(
                "SELECT count(*) AS n FROM message WHERE sender_id = $1 AND txn_id = $2",
                vec![sender.into(), txn_id.into()],
            )
            .await;
        rows[0].try_get("", "n").expect("a count")
    }

    /// The other sessions on this database that match `condition`: their pids.
    async fn sessions(&self, condition: &str) -> Vec<i32> {
        let sql = format!(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND {condition}"
        );
        self.rows(&sql, vec![])
            .await
            .iter()
            .map(|row| row.try_get("", "pid").expect("a pid"))
            .collect()
    }

    /// What the session `pid` is doing (`state`), if it is still there.
    async fn state(&self, pid: i32) -> Option<String> {
        let rows = self
            .rows(
                "SELECT coalesce(state, '') AS state FROM pg_stat_activity WHERE pid = $1",
                vec![pid.into()],
            )
            .await;
        rows.first()
            .map(|row| row.try_get("", "state").expect("a state"))
    }

    /// Waits until PostgreSQL has ended the session `pid` (A's, after its stall or
    /// its death), rolling back what it held.
    async fn wait_until_gone(&self, pid: i32) {
        eventually(
            "PostgreSQL to end A's session",
            PATIENCE,
            async || match self.state(pid).await {
                None => Ok(()),
                Some(state) => Err(state),
            },
        )
        .await;
    }

    /// Waits until some session matches `condition`, while none of `pending` (the
    /// requests whose batches must still be open for it to be seen) has been
    /// answered; the sessions' pids.
    async fn wait_for(
        &self,
        what: &str,
        condition: &str,
        pending: &[&JoinHandle<(StatusCode, Value)>],
    ) -> Vec<i32> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let found = self.sessions(condition).await;
            if !found.is_empty() {
                return found;
            }
            assert!(
                pending.iter().all(|request| !request.is_finished()),
                "{what}: a request was answered before its batch was seen doing so \
                 (this machine was slower than the writer's stall)"
            );
            assert!(Instant::now() < deadline, "waited {PATIENCE:?} for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Sends a message with `txn_id` as `client` through the node at `node`; the answer,
/// or the transport's error (a node that is gone).
async fn try_send(
    client: &Client,
    node: SocketAddr,
    conversation: i64,
    txn_id: &str,
) -> Result<(StatusCode, Value), reqwest::Error> {
    let response = client
        .http
        .post(format!(
            "http://{node}/api/conversations/{conversation}/messages"
        ))
        .json(&serde_json::json!({"body": format!("message {txn_id}"), "txn_id": txn_id}))
        .send()
        .await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&bytes).into_owned()));
    Ok((status, body))
}

/// [`try_send`], which must be acknowledged; the message.
async fn send_ok(client: &Client, node: SocketAddr, conversation: i64, txn_id: &str) -> Value {
    let (status, body) = try_send(client, node, conversation, txn_id)
        .await
        .unwrap_or_else(|e| panic!("{txn_id} through {node}: {e}"));
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{txn_id} through {node}: {body}"
    );
    body["message"].clone()
}

/// [`try_send`] in a task of its own, not awaited: a request in flight.
fn send_in_flight(
    client: Client,
    node: SocketAddr,
    conversation: i64,
    txn_id: &'static str,
) -> JoinHandle<(StatusCode, Value)> {
    tokio::spawn(async move {
        try_send(&client, node, conversation, txn_id)
            .await
            .unwrap_or_else(|e| panic!("{txn_id} through {node}: {e}"))
    })
}

/// The answer of a request in flight.
async fn answer(request: JoinHandle<(StatusCode, Value)>, what: &str) -> (StatusCode, Value) {
    tokio::time::timeout(PATIENCE, request)
        .await
        .unwrap_or_else(|_| panic!("waited {PATIENCE:?} for the answer to {what}"))
        .expect("the request's task")
}

fn ids(messages: &[Value]) -> Vec<i64> {
    messages
        .iter()
        .map(|m| m["id"].as_i64().expect("a message id"))
        .collect()
}

fn id(message: &Value) -> i64 {
    message["id"].as_i64().expect("a message id")
}

/// Every message of `want` handed exactly once, and nothing else. A socket that
/// resumes is handed what came live between its `hello` and its `resume` before the
/// replay, so only its order of ids is not checked here.
fn assert_once_each(seen: &[i64], want: &[i64], what: &str) {
    let mut sorted = seen.to_vec();
    sorted.sort_unstable();
    let mut want = want.to_vec();
    want.sort_unstable();
    assert_eq!(sorted, want, "{what}: every message once; handed {seen:?}");
}

/// What a node said about trouble: its warnings and errors.
fn trouble(line: &str) -> bool {
    line.contains("WARN") || line.contains("ERROR")
}

/// Node A is stopped (SIGSTOP) while its batch holds `stream_head`'s lock. Bob's send
/// through B waits for that lock until PostgreSQL cuts A off, then is acknowledged;
/// A, woken long after, refuses alice's send instead of committing it from its stale
/// transaction, and alice's retry with the same `txn_id` is stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_inside_its_batch_never_commits_it() {
    let started = Instant::now();
    let cluster = Cluster::start(1).await;
    let b = cluster.node(0);
    let a = cluster.process_node_with("node-a", &[(STALL, "2000")]);
    cluster.wait_for_nodes(0, 2).await;
    wait_for_nodes(&a.url("/healthz"), 2).await;
    let db = Database::connect(&cluster.database_url).await;

    // Everything but alice's send goes through B, whose batches do not stall.
    let alice = b.register("alice").await;
    let bob = b.register("bob").await;
    let conversation = bob.open(&alice).await;
    let before = send_ok(&bob, b.addr, conversation, "before").await;
    let mut bob_b = Device::open(b, &bob).await;
    let mut alice_a = Device::open_at(a.addr(), &alice).await;
    alice_a.until_online(bob.id(), true).await;

    // Alice's send through A: A's batch takes its turn and holds it.
    let stale = send_in_flight(
        alice.at_address(a.addr()),
        a.addr(),
        conversation,
        "stale-1",
    );
    let holder = db
        .wait_for(
            "A's batch to hold the lock",
            &holding_the_lock("node-a"),
            &[&stale],
        )
        .await[0];
    a.pause();
    // Stopped inside it: its session sits in the open transaction (a batch that had
    // reached its commit would not).
    eventually(
        "A's stopped batch to sit in its transaction",
        PATIENCE,
        async || match db.state(holder).await {
            Some(state) if state == "idle in transaction" => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;

    // Bob's send through B waits for A's lock…
    let fresh = send_in_flight(bob.at(b), b.addr, conversation, "fresh-1");
    db.wait_for(
        "B's batch to wait for A's lock",
        WAITING_FOR_THE_LOCK,
        &[&fresh],
    )
    .await;
    // …and goes through once PostgreSQL has ended A's session.
    let (status, body) = answer(fresh, "bob's send through B").await;
    assert_eq!(status, StatusCode::CREATED, "bob's send through B: {body}");
    let fresh = body["message"].clone();
    db.wait_until_gone(holder).await;
    assert!(!stale.is_finished(), "A answered while it was stopped");
    assert_eq!(db.count_txn(alice.id(), "stale-1").await, 0);

    // A stays stopped a while longer, then wakes inside the batch it lost.
    tokio::time::sleep(Duration::from_secs(1)).await;
    a.wake();
    let (status, body) = answer(stale, "alice's send through A").await;
    assert_ne!(
        status,
        StatusCode::CREATED,
        "A acknowledged a send of the batch PostgreSQL cut off: {body}"
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")),
        "A refuses the send of its lost batch as one to try again: {body}"
    );
    assert_eq!(
        db.count_txn(alice.id(), "stale-1").await,
        0,
        "nothing of A's lost batch is stored"
    );
    let stored = bob.history(conversation, "?limit=100").await;
    assert_eq!(
        (ids(&stored), gadka_test_support::seqs(&stored)),
        (vec![id(&before), id(&fresh)], vec![1, 2]),
        "the conversation holds bob's messages only, gapless: {stored:?}"
    );

    // Alice's client sends again with the same txn_id: through A, stored once; through
    // B, the same message.
    let resent = send_ok(&alice, a.addr(), conversation, "stale-1").await;
    assert_eq!(resent["seq"], 3, "{resent}");
    let again = send_ok(&alice, b.addr, conversation, "stale-1").await;
    assert_eq!(
        (&again["id"], &again["seq"]),
        (&resent["id"], &resent["seq"]),
        "a send retried with its txn_id is the first one: {again}"
    );
    assert_eq!(db.count_txn(alice.id(), "stale-1").await, 1);
    let stored = bob.history(conversation, "?limit=100").await;
    assert_eq!(
        gadka_test_support::seqs(&stored),
        [1, 2, 3],
        "gapless: {stored:?}"
    );

    // Bob's socket on B: bob's message and alice's, each once, nothing of A's lost
    // batch, and nothing more before a last message.
    let marker = send_ok(&bob, b.addr, conversation, "marker").await;
    let frames = bob_b.up_to_message(&marker["id"]).await;
    let delivered: Vec<&Value> = frames.iter().map(|f| &f["message"]["id"]).collect();
    assert_eq!(
        delivered,
        [&fresh["id"], &resent["id"]],
        "bob's socket on B: {frames:?}"
    );
    // Alice's socket on A, stopped meanwhile: the same, B's message included.
    let frames = alice_a.up_to_message(&marker["id"]).await;
    let delivered: Vec<&Value> = frames.iter().map(|f| &f["message"]["id"]).collect();
    assert_eq!(
        delivered,
        [&fresh["id"], &resent["id"]],
        "alice's socket on A: {frames:?}"
    );
    eprintln!(
        "presence of bob (who stayed connected to B) on alice's socket on A: {:?}",
        alice_a.presence
    );

    eprintln!("node A's warnings and errors: {:#?}", a.log_lines(trouble));
    eprintln!("fencing test took {:?}", started.elapsed());
    drop((bob_b, alice_a, a));
    cluster.finish().await;
}

/// Two senders per user; each user on A sends through A, each user on B through B.
const LOOPS_PER_USER: usize = 2;
/// Pairs of users, a conversation each, one user on A and one on B.
const PAIRS: usize = 4;
/// Sends acknowledged in all before A is killed.
const KILL_AFTER: usize = 60;
/// Sends each loop has acknowledged through B after the kill before they stop.
const AFTER_KILL: usize = 5;

/// A send acknowledged to a client.
#[derive(Debug)]
struct Acked {
    sender_id: i64,
    txn_id: String,
    id: i64,
    /// First tried through A, which died before answering.
    resent: bool,
}

/// What the load's clients share.
#[derive(Default)]
struct Load {
    acked: AtomicUsize,
    stop: AtomicBool,
    killed_at: Mutex<Option<Instant>>,
}

impl Load {
    fn killed_at(&self) -> Option<Instant> {
        *self.killed_at.lock().expect("the kill's time")
    }
}

/// One client's loop: sends with unique txn_ids through `node` until told to stop. A
/// node that does not answer is gone: the client goes to `fallback` and sends again
/// what was not acknowledged, with the same txn_id. A refusal to try again (503, 429)
/// is sent again too, as the web client's outbox does, and noted; any other answer
/// fails the test.
struct Sender {
    name: String,
    client: Client,
    conversation: i64,
    node: SocketAddr,
    fallback: SocketAddr,
    after_kill: Arc<AtomicUsize>,
}

/// What a loop saw: its acknowledged sends, the refusals and failures it met, and
/// how long after the kill its first resend through B was acknowledged.
struct Outcome {
    acked: Vec<Acked>,
    refusals: Vec<String>,
    failover: Option<Duration>,
}

impl Sender {
    async fn run(self, load: Arc<Load>) -> Outcome {
        let mut node = self.node;
        let mut outcome = Outcome {
            acked: Vec::new(),
            refusals: Vec::new(),
            failover: None,
        };
        let mut i = 0;
        while !load.stop.load(Ordering::SeqCst) {
            let txn_id = format!("{}-{i}", self.name);
            i += 1;
            let mut resent = false;
            loop {
                match try_send(&self.client, node, self.conversation, &txn_id).await {
                    Ok((StatusCode::CREATED, body)) => {
                        outcome.acked.push(Acked {
                            sender_id: self.client.id(),
                            txn_id,
                            id: id(&body["message"]),
                            resent,
                        });
                        load.acked.fetch_add(1, Ordering::SeqCst);
                        if let Some(killed_at) = load.killed_at() {
                            self.after_kill.fetch_add(1, Ordering::SeqCst);
                            if resent && outcome.failover.is_none() {
                                outcome.failover = Some(killed_at.elapsed());
                            }
                        }
                        break;
                    }
                    Ok((status, body))
                        if [
                            StatusCode::SERVICE_UNAVAILABLE,
                            StatusCode::TOO_MANY_REQUESTS,
                        ]
                        .contains(&status) =>
                    {
                        outcome
                            .refusals
                            .push(format!("{txn_id} through {node}: {status} {body}"));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Ok((status, body)) => panic!("{txn_id} through {node}: {status} {body}"),
                    Err(e) if node != self.fallback => {
                        outcome
                            .refusals
                            .push(format!("{txn_id} through {node}: {e}"));
                        node = self.fallback;
                        resent = true;
                    }
                    Err(e) => panic!("{txn_id}: the node at {node} does not answer: {e}"),
                }
            }
        }
        outcome
    }
}

/// Four conversations between a user on A and a user on B, both sending without
/// pause. A is killed with SIGKILL mid-load, while its batch holds the lock (its
/// batches stall 100 ms here, so that one is caught); PostgreSQL ends its session,
/// B's batches go on, A's clients send again through B what A never acknowledged,
/// with the same txn_ids, and go on through B, and its sockets' clients reconnect to
/// B and resume. Every acknowledged send is stored once, the `seq`s are gapless, and
/// every socket saw every message once (a live stream in commit order). A, restarted,
/// joins the cluster again and takes a send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_a_writing_node_under_load_loses_and_repeats_nothing() {
    let started = Instant::now();
    // C, in this process, signs the users up and holds sockets; A and B are processes.
    let cluster = Cluster::start(1).await;
    let c = cluster.node(0);
    // A's batches hold the lock a little longer than they need, so that it is killed
    // inside one.
    let mut a = cluster.process_node_with("node-a", &[(STALL, "100")]);
    let b = cluster.process_node_with("node-b", &[]);
    cluster.wait_for_nodes(0, 3).await;
    for node in [&a, &b] {
        wait_for_nodes(&node.url("/healthz"), 3).await;
    }
    let db = Database::connect(&cluster.database_url).await;

    struct Pair {
        on_a: Client,
        on_b: Client,
        conversation: i64,
        /// The user on B's socket on B, and the user on A's on C: on nodes that live.
        watchers: Vec<Device>,
        /// The user on A's socket on A, which dies with it.
        doomed: Device,
    }
    let mut pairs = Vec::new();
    for p in 0..PAIRS {
        let on_a = c.register(&format!("alice{p}")).await;
        let on_b = c.register(&format!("bob{p}")).await;
        let conversation = on_a.open(&on_b).await;
        let watchers = vec![
            Device::open_at(b.addr(), &on_b).await.resync(),
            Device::open(c, &on_a).await.resync(),
        ];
        let doomed = Device::open_at(a.addr(), &on_a).await;
        pairs.push(Pair {
            on_a,
            on_b,
            conversation,
            watchers,
            doomed,
        });
    }

    let load = Arc::new(Load::default());
    let mut loops = Vec::new();
    let mut counters = Vec::new();
    for (p, pair) in pairs.iter().enumerate() {
        for (user, node, name) in [(&pair.on_a, a.addr(), "a"), (&pair.on_b, b.addr(), "b")] {
            for l in 0..LOOPS_PER_USER {
                let after_kill = Arc::new(AtomicUsize::new(0));
                counters.push(after_kill.clone());
                let sender = Sender {
                    name: format!("{name}{p}.{l}"),
                    client: user.at_address(node),
                    conversation: pair.conversation,
                    node,
                    fallback: b.addr(),
                    after_kill,
                };
                loops.push(tokio::spawn(sender.run(load.clone())));
            }
        }
    }

    eventually("the load to get going", PATIENCE, async || {
        let acked = load.acked.load(Ordering::SeqCst);
        if acked >= KILL_AFTER {
            Ok(())
        } else {
            Err(acked)
        }
    })
    .await;
    // Killed inside a batch, holding the lock.
    let holder = db
        .wait_for(
            "A's batch to hold the lock",
            &holding_the_lock("node-a"),
            &[],
        )
        .await[0];
    let acked_before = load.acked.load(Ordering::SeqCst);
    let killed_at = Instant::now();
    *load.killed_at.lock().expect("the kill's time") = Some(killed_at);
    a.kill();
    // PostgreSQL ends its session, rolling the batch back; nobody waits for it.
    db.wait_until_gone(holder).await;
    let session_ended = killed_at.elapsed();
    // The dead node's sockets: their clients reconnect to B and resume from their
    // cursors, while the load goes on.
    let mut moved = Vec::new();
    for pair in pairs.iter_mut() {
        pair.doomed.until_gone().await;
        let mut again = Device::open_at(b.addr(), &pair.on_a).await.resync();
        again.resume(pair.doomed.position, "after-kill").await;
        moved.push(again);
    }
    eventually(
        "every client to be acknowledged through B after the kill",
        PATIENCE,
        async || {
            let counts: Vec<usize> = counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
            if counts.iter().all(|n| *n >= AFTER_KILL) {
                Ok(())
            } else {
                Err(format!("{counts:?}"))
            }
        },
    )
    .await;
    load.stop.store(true, Ordering::SeqCst);
    let mut acked = Vec::new();
    let mut refusals = Vec::new();
    let mut failovers = Vec::new();
    for l in loops {
        let outcome = l.await.expect("a sender's loop");
        acked.extend(outcome.acked);
        refusals.extend(outcome.refusals);
        failovers.extend(outcome.failover);
    }

    // A, restarted on the same database and NATS, joins again and takes sends.
    let restarted = cluster.process_node_with("node-a-again", &[]);
    let health = wait_for_nodes(&restarted.url("/healthz"), 3).await;
    eprintln!("A restarted: {health}");
    wait_for_nodes(&b.url("/healthz"), 3).await;
    cluster.wait_for_nodes(0, 3).await;
    let pair = &pairs[0];
    let message = send_ok(
        &pair.on_a,
        restarted.addr(),
        pair.conversation,
        "a0-restarted",
    )
    .await;
    acked.push(Acked {
        sender_id: pair.on_a.id(),
        txn_id: "a0-restarted".into(),
        id: id(&message),
        resent: false,
    });
    // A last message in each conversation, through B: what every socket reads up to.
    let mut markers = Vec::new();
    for (p, pair) in pairs.iter().enumerate() {
        let txn_id = format!("marker-{p}");
        let marker = send_ok(&pair.on_b, b.addr(), pair.conversation, &txn_id).await;
        acked.push(Acked {
            sender_id: pair.on_b.id(),
            txn_id,
            id: id(&marker),
            resent: false,
        });
        markers.push(marker);
    }

    // The database: every acknowledged send once, as acknowledged, and nothing else.
    let stored = db.messages().await;
    let mut by_txn: BTreeMap<(i64, String), Vec<i64>> = BTreeMap::new();
    for row in &stored {
        let txn_id = row.txn_id.clone().expect("every send had a txn_id");
        by_txn
            .entry((row.sender_id, txn_id))
            .or_default()
            .push(row.id);
    }
    for send in &acked {
        assert_eq!(
            by_txn.get(&(send.sender_id, send.txn_id.clone())),
            Some(&vec![send.id]),
            "an acknowledged send is stored once, as acknowledged: {send:?}"
        );
    }
    assert_eq!(
        stored.len(),
        acked.len(),
        "nothing stored that was not acknowledged"
    );
    let mut conversations: BTreeMap<i64, Vec<&Stored>> = BTreeMap::new();
    for row in &stored {
        conversations
            .entry(row.conversation_id)
            .or_default()
            .push(row);
    }
    for (conversation, rows) in &conversations {
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        assert_eq!(
            seqs,
            (1..=rows.len() as i64).collect::<Vec<_>>(),
            "conversation {conversation}: seqs without a gap"
        );
    }

    // Every socket, the ones on B and C connected throughout and the ones moved from
    // A to B: every message of its conversation once; a socket that never had to
    // resume, in commit order.
    let mut resyncs = 0;
    for (pair, (moved, marker)) in pairs.iter_mut().zip(moved.iter_mut().zip(&markers)) {
        let want: Vec<i64> = conversations[&pair.conversation]
            .iter()
            .map(|r| r.id)
            .collect();
        for device in pair.watchers.iter_mut() {
            let before = device.up_to_message(&marker["id"]).await;
            assert!(
                before
                    .iter()
                    .all(|f| f["type"] == "message" || f["type"] == "unread"),
                "nothing but messages (and a resume's unread): {before:?}"
            );
            let seen = ids(&device.delivered);
            assert_once_each(&seen, &want, "a socket connected throughout");
            if device.resyncs == 0 {
                assert_eq!(seen, want, "a live stream keeps the order of commits");
            }
            resyncs += device.resyncs;
        }
        moved.up_to_message(&marker["id"]).await;
        let mut seen = ids(&pair.doomed.delivered);
        assert!(seen.is_sorted(), "a live stream keeps the order of commits");
        seen.extend(ids(&moved.delivered));
        assert_once_each(&seen, &want, "a socket on A, then on B from its cursor");
        resyncs += moved.resyncs;
    }

    let resent = acked.iter().filter(|s| s.resent).count();
    eprintln!(
        "kill -9 under load: A's session ended {session_ended:?} after the kill; \
         {} sends acknowledged ({acked_before} before the kill), \
         {resent} of them sent again through B after A died; first resend acknowledged \
         {failovers:?} after the kill; sockets resumed after a 1012 {resyncs} times; \
         refusals and failures the clients met: {refusals:#?}",
        acked.len()
    );
    eprintln!("node B's warnings and errors: {:#?}", b.log_lines(trouble));
    eprintln!("kill -9 test took {:?}", started.elapsed());
    drop(pairs);
    drop(moved);
    drop((a, b, restarted));
    cluster.finish().await;
}

/// Alice sends through A, whose batch stalls 1.5 s holding the lock; meanwhile bob
/// sends through B, whose batch waits for the lock and so commits after A's, at
/// higher positions. Every socket (on A, B and C, one opened during the stall) is
/// handed alice's message, then bob's, once; a socket that leaves before either,
/// after alice's, or after bob's and resumes from its cursor on another node gets
/// exactly what it had not seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_commits_behind_a_stalled_one_is_never_seen_before_it() {
    let started = Instant::now();
    let cluster = Cluster::start(2).await;
    let (b, c) = (cluster.node(0), cluster.node(1));
    let a = cluster.process_node_with("node-a", &[(STALL, "1500")]);
    for i in 0..2 {
        cluster.wait_for_nodes(i, 3).await;
    }
    wait_for_nodes(&a.url("/healthz"), 3).await;
    let db = Database::connect(&cluster.database_url).await;

    let alice = b.register("alice").await;
    let bob = b.register("bob").await;
    let conversation = bob.open(&alice).await;
    send_ok(&bob, b.addr, conversation, "before").await;

    let mut watchers = vec![
        ("bob's socket on B", Device::open(b, &bob).await),
        ("alice's socket on C", Device::open(c, &alice).await),
        (
            "alice's socket on A",
            Device::open_at(a.addr(), &alice).await,
        ),
    ];
    let leaves_before = Device::open(c, &bob).await;
    let mut leaves_after_first = Device::open(b, &alice).await;

    // Alice's send through A: its batch takes the turn and holds it.
    let first = send_in_flight(alice.at_address(a.addr()), a.addr(), conversation, "first");
    db.wait_for(
        "A's batch to hold the lock",
        &holding_the_lock("node-a"),
        &[&first],
    )
    .await;
    // Bob's send through B: its batch waits for A's.
    let second = send_in_flight(bob.at(b), b.addr, conversation, "second");
    db.wait_for(
        "B's batch to wait for A's lock",
        WAITING_FOR_THE_LOCK,
        &[&first, &second],
    )
    .await;
    // Meanwhile a socket opens on C (its hello read while A's batch holds the lock),
    // and another leaves before either message is committed.
    let opened_during = Device::open(c, &bob).await;
    let stalled = !first.is_finished();
    let before_cursor = leaves_before.position;
    leaves_before.close().await;

    let (status, body) = answer(first, "alice's send through A").await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "alice's send through A: {body}"
    );
    let first = body["message"].clone();
    let (status, body) = answer(second, "bob's send through B").await;
    assert_eq!(status, StatusCode::CREATED, "bob's send through B: {body}");
    let second = body["message"].clone();
    assert!(
        id(&first) < id(&second),
        "the batch that waited commits after, at a higher position: {first} {second}"
    );
    assert_eq!(
        second["seq"].as_i64(),
        first["seq"].as_i64().map(|s| s + 1),
        "{first} {second}"
    );
    let both = vec![id(&first), id(&second)];

    // Every socket: alice's message, then bob's, each once.
    watchers.push(("bob's socket opened during the stall", opened_during));
    for (name, device) in watchers.iter_mut() {
        device
            .until("both messages", |d| {
                d.delivered.iter().any(|m| m["id"] == second["id"])
            })
            .await;
        assert_eq!(ids(&device.delivered), both, "{name}");
    }

    // One leaves right after alice's message; it resumes on C from its cursor.
    leaves_after_first
        .until("alice's message", |d| !d.delivered.is_empty())
        .await;
    assert_eq!(ids(&leaves_after_first.delivered), [id(&first)]);
    let cursor = leaves_after_first.position;
    leaves_after_first.close().await;
    let mut back_after_first = Device::open(c, &alice).await;
    let replay = back_after_first.resume(cursor, "after-first").await;
    assert_eq!(
        ids(&back_after_first.delivered),
        [id(&second)],
        "resumed after alice's message: bob's, once: {replay:?}"
    );

    // One leaves right after bob's message (alice's socket on C, which saw both); it
    // resumes on A from its cursor and gets nothing again.
    let (_, after_second) = watchers.remove(1);
    let cursor = after_second.position;
    assert_eq!(cursor, id(&second), "its cursor is bob's message");
    after_second.close().await;
    let mut back_after_second = Device::open_at(a.addr(), &alice).await;
    let replay = back_after_second.resume(cursor, "after-second").await;
    assert_eq!(replay, Vec::<Value>::new(), "nothing twice");

    // The one that left before either: both, in order, once.
    let mut back_before = Device::open_at(a.addr(), &bob).await;
    let replay = back_before.resume(before_cursor, "before").await;
    assert_eq!(
        ids(&back_before.delivered),
        both,
        "resumed from before either: both, in order: {replay:?}"
    );

    // Nothing more is on its way anywhere: a last message, and nothing before it.
    let marker = send_ok(&bob, c.addr, conversation, "marker").await;
    let mut devices: Vec<(&str, &mut Device)> = watchers
        .iter_mut()
        .map(|(name, device)| (*name, device))
        .collect();
    devices.push((
        "alice back on C after alice's message",
        &mut back_after_first,
    ));
    devices.push((
        "alice back on A after bob's message",
        &mut back_after_second,
    ));
    devices.push(("bob back on A from before either", &mut back_before));
    for (name, device) in devices {
        let extra = device.up_to_message(&marker["id"]).await;
        assert_eq!(
            extra,
            Vec::<Value>::new(),
            "{name}: nothing more, nothing twice"
        );
    }

    if !stalled {
        eprintln!("note: A's batch had committed before the socket opened during the stall");
    }
    eprintln!("node A's warnings and errors: {:#?}", a.log_lines(trouble));
    eprintln!("late-commit test took {:?}", started.elapsed());
    drop((
        watchers,
        back_after_first,
        back_after_second,
        back_before,
        a,
    ));
    cluster.finish().await;
}

//! Cluster mode: several gadka nodes on one PostgreSQL database, NATS between them,
//! driven by real WebSocket clients connected to different nodes (issue 24).
//!
//! Each test starts its own `nats-server` (tests/support/src/nats.rs), its own
//! database and its nodes: in this process ([`Cluster`]), or as a process of its own
//! where a test must kill one with SIGKILL ([`ProcessNode`]). What crosses nodes
//! arrives on its own time, so the tests wait for what a user would see
//! ([`eventually`], a device reading until a frame comes) and never for a guessed
//! while; to show that nothing more came, a device reads up to a message sent after
//! the change ([`device::Device::up_to_message`]).

mod database;
mod delivery;
mod device;
mod failover;
mod order;
mod outage;
mod presence;

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
};

use gadka_test_support::{
    NatsServer, PATIENCE, TestApp, create_postgres_database, drop_postgres_database, eventually,
    spawn_with,
};
use serde_json::Value;
use tempfile::TempDir;

/// The session secret every node shares, so that a cookie made on one works on all.
const SECRET: &str = "gadka cluster tests: one secret for every node";

/// Nodes on one fresh database and one `nats-server`.
pub struct Cluster {
    pub nats: NatsServer,
    /// `None` once stopped.
    nodes: Vec<Option<TestApp>>,
    pub database_url: String,
    database: String,
}

impl Cluster {
    /// `count` nodes, started one after the other (the first applies the migrations),
    /// once each counts all of them in `/healthz`.
    pub async fn start(count: usize) -> Self {
        let nats = NatsServer::start().await;
        let (database_url, database) = create_postgres_database().await;
        let mut nodes = Vec::new();
        for _ in 0..count {
            nodes.push(Some(node(&database_url, &nats.url()).await));
        }
        let cluster = Self {
            nats,
            nodes,
            database_url,
            database,
        };
        for i in 0..count {
            cluster.wait_for_nodes(i, count).await;
        }
        cluster
    }

    /// Node `i`, which must be running.
    pub fn node(&self, i: usize) -> &TestApp {
        self.nodes[i]
            .as_ref()
            .unwrap_or_else(|| panic!("node {i} was stopped"))
    }

    /// Stops node `i` as an operator does (SIGTERM: its sockets are closed with 1001).
    pub async fn stop(&mut self, i: usize) {
        let node = self.nodes[i].take().expect("a running node");
        node.stop().await;
    }

    /// `/healthz` of node `i`, whatever its status.
    pub async fn health(&self, i: usize) -> Value {
        health(&self.node(i).url("/healthz")).await
    }

    /// Waits until node `i` counts `count` live nodes, itself included, and is
    /// connected to NATS; its `cluster` block.
    pub async fn wait_for_nodes(&self, i: usize, count: usize) -> Value {
        wait_for_nodes(&self.node(i).url("/healthz"), count).await
    }

    /// A node in a process of its own on the same database and NATS, for a test that
    /// kills one.
    pub fn process_node(&self) -> ProcessNode {
        ProcessNode::start(&self.database_url, &self.nats.url(), &[])
    }

    /// [`Cluster::process_node`] with more environment variables (such as a test
    /// build's `GADKA_TEST_WRITER_STALL_MS`), its connections to PostgreSQL named
    /// `name` (`application_name`, as `pg_stat_activity` shows them).
    pub fn process_node_with(&self, name: &str, env: &[(&str, &str)]) -> ProcessNode {
        let join = if self.database_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let database_url = format!("{}{join}application_name={name}", self.database_url);
        ProcessNode::start(&database_url, &self.nats.url(), env)
    }

    /// Stops the nodes still running and drops the database.
    pub async fn finish(mut self) {
        for node in self.nodes.iter_mut() {
            if let Some(node) = node.take() {
                node.stop().await;
            }
        }
        drop_postgres_database(&self.database).await;
    }
}

/// One in-process node of the cluster.
async fn node(database_url: &str, nats_url: &str) -> TestApp {
    spawn_with(|s| {
        s.database_url = database_url.to_owned();
        s.nats_url = Some(nats_url.to_owned());
        s.session_secret = Some(SECRET.as_bytes().to_vec());
    })
    .await
}

/// `/healthz` at `url`, whatever its status.
async fn health(url: &str) -> Value {
    reqwest::get(url)
        .await
        .expect("the node answers /healthz")
        .json()
        .await
        .expect("/healthz is JSON")
}

/// Waits until the node at `url` (its `/healthz`) counts `count` live nodes and is
/// connected to NATS; its `cluster` block.
async fn wait_for_nodes(url: &str, count: usize) -> Value {
    let what = format!("{url} to count {count} nodes, connected to NATS");
    eventually(&what, PATIENCE, async || {
        let health = health(url).await;
        let cluster = &health["cluster"];
        if cluster["nats"] == "connected" && cluster["nodes"] == count {
            Ok(cluster.clone())
        } else {
            Err(health)
        }
    })
    .await
}

/// gadka as an operator runs it, in a process of its own, as one node of the cluster;
/// killed (SIGKILL) when dropped.
pub struct ProcessNode {
    child: Child,
    pub address: String,
    /// Every line of its log so far.
    log: Arc<Mutex<Vec<String>>>,
    _data_dir: TempDir,
}

impl ProcessNode {
    fn start(database_url: &str, nats_url: &str, env: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().expect("a temporary directory");
        let mut command = Command::new(env!("CARGO_BIN_EXE_gadka"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--log", "info"])
            .arg("--data-dir")
            .arg(data_dir.path())
            .env_remove("GADKA_CONFIG")
            .env("NO_COLOR", "1")
            .env("GADKA_DATABASE_URL", database_url)
            .env("GADKA_NATS_URL", nats_url)
            .env("GADKA_SESSION_SECRET", SECRET)
            .env("GADKA_METRICS_LISTEN", "off")
            // The limits the in-process nodes run with (tests/support/src/app.rs): the
            // tests send faster than a person, all from 127.0.0.1.
            .env("GADKA_REGISTRATIONS_PER_HOUR_PER_IP", "1000000")
            .env("GADKA_SENDS_PER_MINUTE", "1000000000")
            .env("GADKA_CONVERSATIONS_PER_HOUR", "1000000000")
            .env("GADKA_MAX_CONNECTIONS_PER_IP", "100000")
            .envs(env.iter().copied())
            .stdout(Stdio::piped());
        let mut child = command.spawn().expect("gadka starts");
        let (address, log) = read_log(&mut child);
        Self {
            child,
            address,
            log,
            _data_dir: data_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Where it listens, for a device or a client.
    pub fn addr(&self) -> SocketAddr {
        self.address.parse().expect("the node's address")
    }

    /// The lines of its log so far that `keep` keeps.
    pub fn log_lines(&self, keep: impl Fn(&str) -> bool) -> Vec<String> {
        let log = self.log.lock().expect("the log");
        log.iter().filter(|l| keep(l)).cloned().collect()
    }

    /// SIGKILL, and waits until the process is gone: a node that dies.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGSTOP: the node stalls wherever it is, its connections left open.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT: a paused node goes on where it stopped.
    pub fn wake(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {}", self.child.id());
    }
}

impl Drop for ProcessNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads a node's log (its piped standard output) until it says where it listens;
/// that address, and every line it writes, kept on a thread of its own so that the
/// node never meets a closed pipe.
fn read_log(child: &mut Child) -> (String, Arc<Mutex<Vec<String>>>) {
    let stdout = child.stdout.take().expect("piped stdout");
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.expect("a log line");
        log.lock().expect("the log").push(line.clone());
        if line.contains("listening")
            && let Some(address) = line.split("address=").nth(1)
        {
            let kept = log.clone();
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    kept.lock().expect("the log").push(line);
                }
            });
            return (address.trim().to_owned(), log);
        }
    }
    panic!(
        "the server exited without saying where it listens: {:?}",
        log.lock().expect("the log")
    );
}

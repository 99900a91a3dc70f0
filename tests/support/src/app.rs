//! The real server (the same `Application` that `main` runs) on a free port with its
//! own data directory, stopped when the test is done with it.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use gadka::{config::Settings, startup::Application};
use reqwest::{StatusCode, cookie::Jar};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};

use crate::client::Client;

/// A running server and its data directory; stopped when dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    /// `/metrics` on its own address; `None` when served on `addr` or not at all.
    pub metrics_addr: Option<SocketAddr>,
    pub data_dir: Arc<TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// A fresh server with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

/// A fresh server; `configure` may change the settings first.
pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
    spawn_in(dir, configure).await
}

/// A server on an existing data directory (a restart).
pub async fn spawn_in(dir: Arc<TempDir>, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = Settings::with_data_dir(dir.path());
    settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    // Tests and benches sign many people up from one address, and send and open
    // conversations faster than a person; the tests of those limits set their own.
    settings.limits.registrations_per_hour_per_ip = 1_000_000;
    settings.limits.sends_per_minute = 1_000_000_000;
    settings.limits.conversations_per_hour = 1_000_000_000;
    // …and each client holds its own kept-alive connections, all from 127.0.0.1 (the web
    // bench keeps 300 people connected at once).
    settings.limits.max_connections_per_ip = 100_000;
    // Servers run side by side: each serves /metrics on a loopback port of its own.
    settings.metrics = gadka::config::MetricsAt::Address(SocketAddr::from(([127, 0, 0, 1], 0)));
    configure(&mut settings);
    let app = Application::build(settings)
        .await
        .expect("the server starts");
    let addr = app.local_addr();
    let metrics_addr = app.metrics_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        metrics_addr,
        data_dir: dir,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    /// `/metrics`, on the address the server serves it at.
    pub fn metrics_url(&self) -> String {
        match self.metrics_addr {
            Some(addr) => format!("http://{addr}/metrics"),
            None => self.url("/metrics"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A client with its own cookie jar, not logged in.
    pub fn client(&self) -> Client {
        Client::new(self.url(""), Arc::new(Jar::default()))
    }

    /// Registers `username` (with [`password`]) and returns its client.
    pub async fn register(&self, username: &str) -> Client {
        self.authenticated("/api/register", credentials(username), StatusCode::CREATED)
            .await
    }

    /// [`TestApp::register`] with a display name.
    pub async fn register_named(&self, username: &str, display_name: &str) -> Client {
        let mut form = credentials(username);
        form["display_name"] = json!(display_name);
        self.authenticated("/api/register", form, StatusCode::CREATED)
            .await
    }

    /// Registers alice and bob and opens their conversation: the usual start.
    pub async fn alice_and_bob(&self) -> (Client, Client, i64) {
        let alice = self.register("alice").await;
        let bob = self.register("bob").await;
        let id = alice.open(&bob).await;
        (alice, bob, id)
    }

    /// A new client logged in as `username` (registered by [`TestApp::register`]).
    pub async fn login(&self, username: &str) -> Client {
        self.authenticated("/api/login", credentials(username), StatusCode::OK)
            .await
    }

    async fn authenticated(&self, path: &str, form: Value, expected: StatusCode) -> Client {
        let mut client = self.client();
        let (status, body) = client.post(path, form.clone()).await;
        assert_eq!(status, expected, "{path} {}: {body}", form["username"]);
        client.user = body["user"].clone();
        client
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.path().join("gadka.db")
    }

    /// Reads one integer straight from the SQLite file, on a connection of its own:
    /// what the database holds, not what the server says.
    pub async fn db_integer(&self, sql: &str) -> i64 {
        use sea_orm::{ConnectionTrait, Statement};
        let url = format!("sqlite://{}?mode=ro", self.db_path().display());
        let db = sea_orm::Database::connect(url)
            .await
            .expect("the SQLite file opens");
        let row = db
            .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .expect("the query runs")
            .expect("a row");
        let value = row.try_get_by_index::<i64>(0).expect("an integer");
        db.close().await.ok();
        value
    }

    /// Stops the server gracefully and waits until it has.
    pub async fn stop(mut self) -> Arc<TempDir> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server ran and stopped cleanly");
        }
        self.data_dir.clone()
    }
}

/// The password the tests give `username`.
pub fn password(username: &str) -> String {
    format!("password-{username}")
}

fn credentials(username: &str) -> Value {
    json!({"username": username, "password": password(username)})
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

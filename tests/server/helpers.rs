//! Starts the real server (the same `Application` that `main` runs) on a free port
//! with its own SQLite file, and drives it over HTTP as a client would.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use gadka::{config::Settings, startup::Application};
use reqwest::{
    StatusCode,
    cookie::{CookieStore, Jar},
    header::HeaderMap,
};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};

/// A running server and its data directory.
pub struct TestApp {
    pub addr: SocketAddr,
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
    settings.listen = "127.0.0.1:0".parse().unwrap();
    configure(&mut settings);
    let app = Application::build(settings)
        .await
        .expect("the server starts");
    let addr = app.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        data_dir: dir,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A client with its own cookie jar, not logged in.
    pub fn client(&self) -> Client {
        let jar = Arc::new(Jar::default());
        Client {
            http: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .build()
                .unwrap(),
            jar,
            base: format!("http://{}", self.addr),
            user: Value::Null,
        }
    }

    /// Registers `username` (password `password-<username>`) and returns its client.
    pub async fn register(&self, username: &str) -> Client {
        self.authenticated("/api/register", username, StatusCode::CREATED)
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
        self.authenticated("/api/login", username, StatusCode::OK)
            .await
    }

    async fn authenticated(&self, path: &str, username: &str, expected: StatusCode) -> Client {
        let mut client = self.client();
        let password = format!("password-{username}");
        let (status, body) = client
            .post(path, json!({"username": username, "password": password}))
            .await;
        assert_eq!(status, expected, "{path} {username}: {body}");
        client.user = body["user"].clone();
        client
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.path().join("gadka.db")
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

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One user's HTTP client.
pub struct Client {
    pub http: reqwest::Client,
    jar: Arc<Jar>,
    base: String,
    /// The user this client registered as (`Null` when not logged in).
    pub user: Value,
}

impl Client {
    /// The `Cookie` header this client sends (its session), if it has one.
    pub fn cookie(&self) -> Option<String> {
        let url = self.base.parse().unwrap();
        self.jar
            .cookies(&url)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    pub fn id(&self) -> i64 {
        self.user["id"].as_i64().expect("a registered client")
    }

    /// The same user with the same session on `app`, a server restarted at another
    /// address (a cookie is not bound to a port).
    pub fn on(self, app: &TestApp) -> Self {
        Self {
            base: format!("http://{}", app.addr),
            ..self
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        read(response).await.into_parts()
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.post_full(path, body).await.into_parts()
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .patch(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        read(response).await.into_parts()
    }

    pub async fn post_full(&self, path: &str, body: Value) -> Reply {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    /// Opens the conversation with `peer` and returns its id.
    pub async fn open(&self, peer: &Client) -> i64 {
        let (status, body) = self
            .post("/api/conversations", json!({"user_id": peer.id()}))
            .await;
        assert!(status.is_success(), "open: {status} {body}");
        body["conversation"]["id"].as_i64().unwrap()
    }

    /// Sends `body` to a conversation and returns the message.
    pub async fn send(&self, conversation: i64, body: &str) -> Value {
        let (status, reply) = self
            .post(
                &format!("/api/conversations/{conversation}/messages"),
                json!({"body": body, "txn_id": uuid::Uuid::new_v4().to_string()}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "send: {reply}");
        reply["message"].clone()
    }

    pub async fn unread(&self) -> Value {
        let (status, body) = self.get("/api/unread").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub async fn history(&self, conversation: i64, query: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!(
                "/api/conversations/{conversation}/messages{query}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["messages"].as_array().unwrap().clone()
    }
}

/// A response read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn into_parts(self) -> (StatusCode, Value) {
        (self.status, self.body)
    }
}

pub async fn read(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("a JSON body, got {:?}", String::from_utf8_lossy(&bytes)))
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// Asserts gadka's error shape, with `status` and `code`.
#[track_caller]
pub fn assert_error(status: StatusCode, body: &Value, want_status: StatusCode, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "an error message for people: {body}"
    );
}

/// The `seq`s of messages, in order.
pub fn seqs(messages: &[Value]) -> Vec<i64> {
    messages
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

/// The PostgreSQL server the tests use; CI starts it on loopback with trust auth.
fn postgres_admin_url() -> String {
    std::env::var("GADKA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A fresh PostgreSQL database for one test; dropped by [`drop_postgres_database`].
pub async fn create_postgres_database() -> (String, String) {
    use sea_orm::ConnectionTrait;
    let admin_url = postgres_admin_url();
    let admin = sea_orm::Database::connect(format!("{admin_url}/postgres"))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin_url} ({e}). Start it \
                 (`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) \
                 or point GADKA_TEST_POSTGRES_URL at one."
            )
        });
    let name = format!("gadka_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("CREATE DATABASE");
    (format!("{admin_url}/{name}"), name)
}

pub async fn drop_postgres_database(name: &str) {
    use sea_orm::ConnectionTrait;
    let admin = sea_orm::Database::connect(format!("{}/postgres", postgres_admin_url()))
        .await
        .expect("PostgreSQL still reachable");
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .expect("DROP DATABASE");
}

impl TestApp {
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
}

//! gadka with its bridge, started in the test (the same `Application` `main` runs) on
//! a slot of the shared Synapse, and its users as clients of its HTTP API.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use futures_util::{SinkExt, StreamExt};
use gadka::{
    config::{Overrides, Settings},
    startup::Application,
};
use reqwest::{
    Method, StatusCode,
    cookie::{CookieStore, Jar},
    header::{COOKIE, ORIGIN},
};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest},
};

use crate::synapse::Slot;

/// A running gadka; stopped when dropped.
pub struct Gadka {
    pub addr: SocketAddr,
    data_dir: Option<TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Gadka {
    /// gadka bridged through `slot`; `configure` may change the settings first.
    pub async fn start(slot: &Slot, configure: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Self::start_in(slot, dir, configure).await
    }

    /// [`Gadka::start`] on an existing data directory (a restart).
    pub async fn start_in(
        slot: &Slot,
        dir: TempDir,
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        let loaded =
            Settings::load(Some(&slot.config), &Overrides::default()).expect("the slot's config");
        let mut settings = Settings::with_data_dir(dir.path());
        settings.listen = "127.0.0.1:0".parse().unwrap();
        settings.bridge = loaded.bridge;
        configure(&mut settings);
        let app = Application::build(settings).await.expect("gadka starts");
        let addr = app.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            data_dir: Some(dir),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops gadka gracefully, waits until it has, and hands back its data.
    pub async fn stop(mut self) -> TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("gadka's task")
                .expect("gadka ran and stopped cleanly");
        }
        self.data_dir.take().expect("held until stopped")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `/healthz` once the bridge's status is `status`; panics after 20 s.
    pub async fn bridge_health(&self, status: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..200 {
            let response = reqwest::get(self.url("/healthz"))
                .await
                .expect("gadka answers");
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "local chat stays healthy"
            );
            last = response.json().await.unwrap();
            if last["bridge"]["status"] == status {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the bridge never became {status}: {last}");
    }

    /// Registers `username` with a display name.
    pub async fn register(&self, username: &str, display_name: &str) -> GadkaUser {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .build()
            .unwrap();
        let response = http
            .post(self.url("/api/register"))
            .json(&json!({
                "username": username,
                "password": format!("password-{username}"),
                "display_name": display_name,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        GadkaUser {
            http,
            jar,
            base: format!("http://{}", self.addr),
            user: body["user"].clone(),
        }
    }
}

impl Drop for Gadka {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A gadka user, logged in over HTTP.
pub struct GadkaUser {
    pub http: reqwest::Client,
    jar: Arc<Jar>,
    pub base: String,
    pub user: Value,
}

/// A gadka user's socket (`/ws`), past its `hello`.
pub struct Socket(WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>);

impl Socket {
    pub async fn send(&mut self, frame: Value) {
        self.0
            .send(Message::text(frame.to_string()))
            .await
            .expect("the socket takes a frame");
    }

    /// The next frame of type `kind`, skipping others; panics after 10 s.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let message = tokio::time::timeout_at(deadline, self.0.next())
                .await
                .unwrap_or_else(|_| panic!("no {kind} frame within 10 s"))
                .expect("the socket is open")
                .expect("a readable frame");
            if let Message::Text(text) = message {
                let frame: Value = serde_json::from_str(&text).expect("a JSON frame");
                if frame["type"] == kind {
                    return frame;
                }
            }
        }
    }
}

impl GadkaUser {
    pub fn id(&self) -> i64 {
        self.user["id"].as_i64().unwrap()
    }

    /// The same user, with the same session, on gadka restarted at another address.
    pub fn on(self, gadka: &Gadka) -> Self {
        Self {
            base: format!("http://{}", gadka.addr),
            ..self
        }
    }

    /// Opens `/ws` with this user's session, from gadka's own origin.
    pub async fn socket(&self) -> Socket {
        let mut request = format!("{}/ws", self.base.replacen("http", "ws", 1))
            .into_client_request()
            .unwrap();
        let cookie = self
            .jar
            .cookies(&self.base.parse().unwrap())
            .expect("a session cookie");
        request.headers_mut().insert(COOKIE, cookie);
        request
            .headers_mut()
            .insert(ORIGIN, self.base.parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("the socket opens");
        let mut socket = Socket(ws);
        socket.next_of("hello").await;
        socket
    }

    /// A `GET` of gadka's API.
    pub async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    /// My conversations, once there are `count` of them; panics after 10 s.
    pub async fn wait_for_conversations(&self, count: usize) -> Vec<Value> {
        let mut last = Value::Null;
        for _ in 0..100 {
            last = self.get("/api/conversations").await;
            if let Some(list) = last["conversations"].as_array()
                && list.len() >= count
            {
                return list.clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{} has no {count} conversations: {last}",
            self.user["username"]
        );
    }

    /// The bodies of a conversation's messages, oldest first, once there are
    /// `count`; panics after 10 s.
    pub async fn wait_for_messages(&self, conversation: i64, count: usize) -> Vec<Value> {
        let mut last = Vec::new();
        for _ in 0..100 {
            let page = self
                .get(&format!(
                    "/api/conversations/{conversation}/messages?limit=100"
                ))
                .await;
            last = page["messages"].as_array().cloned().unwrap_or_default();
            if last.len() >= count {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("conversation {conversation} has not {count} messages: {last:?}");
    }

    /// A JSON `PATCH` to gadka's API.
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.json(Method::PATCH, path, body).await
    }

    /// A JSON `POST` to gadka's API.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.json(Method::POST, path, body).await
    }

    async fn json(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }
}

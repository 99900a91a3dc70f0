//! gadka with its bridge, started in the test (the same `Application` `main` runs) on
//! a slot of the shared Synapse, and its users as clients of its HTTP API. Both stand
//! on the server tests' helpers, with what the bridge's tests need on top.

use std::{sync::Arc, time::Duration};

use futures_util::{SinkExt, StreamExt};
use gadka::config::{Overrides, Settings};
use reqwest::{
    StatusCode,
    header::{COOKIE, ORIGIN},
};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest},
};

use gadka_test_support::{Client, TestApp, spawn_in};

use crate::synapse::Slot;

/// A running gadka; stopped when dropped.
pub struct Gadka {
    app: TestApp,
}

impl Gadka {
    /// gadka bridged through `slot`; `configure` may change the settings first.
    pub async fn start(slot: &Slot, configure: impl FnOnce(&mut Settings)) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
        Self::start_in(slot, dir, configure).await
    }

    /// [`Gadka::start`] on an existing data directory (a restart).
    pub async fn start_in(
        slot: &Slot,
        dir: Arc<TempDir>,
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        let loaded =
            Settings::load(Some(&slot.config), &Overrides::default()).expect("the slot's config");
        let app = spawn_in(dir, |settings| {
            settings.bridge = loaded.bridge;
            configure(settings);
        })
        .await;
        Self { app }
    }

    /// Stops gadka gracefully, waits until it has, and hands back its data.
    pub async fn stop(self) -> Arc<TempDir> {
        self.app.stop().await
    }

    pub fn url(&self, path: &str) -> String {
        self.app.url(path)
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
        let mut client = self.app.client();
        let (status, body) = client
            .post(
                "/api/register",
                json!({
                    "username": username,
                    "password": format!("password-{username}"),
                    "display_name": display_name,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        client.user = body["user"].clone();
        GadkaUser {
            client,
            base: format!("http://{}", self.app.addr),
        }
    }
}

/// A gadka user, logged in over HTTP.
pub struct GadkaUser {
    client: Client,
    /// The server this user talks to now.
    base: String,
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
        self.client.id()
    }

    /// The same user, with the same session, on gadka restarted at another address.
    pub fn on(self, gadka: &Gadka) -> Self {
        Self {
            client: self.client.on(&gadka.app),
            base: format!("http://{}", gadka.app.addr),
        }
    }

    /// Opens `/ws` with this user's session, from gadka's own origin.
    pub async fn socket(&self) -> Socket {
        let mut request = format!("{}/ws", self.base.replacen("http", "ws", 1))
            .into_client_request()
            .unwrap();
        let cookie = self.client.cookie().expect("a session cookie");
        request
            .headers_mut()
            .insert(COOKIE, cookie.parse().unwrap());
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

    /// A `GET` of gadka's API that must succeed.
    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.client.get(path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
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
            self.client.user["username"]
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

    /// Sends `body` to a conversation over the API and returns the message.
    pub async fn send(&self, conversation: i64, body: &str) -> Value {
        self.client.send(conversation, body).await
    }

    /// A JSON `PATCH` to gadka's API.
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.client.patch(path, body).await
    }

    /// A JSON `POST` to gadka's API.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.client.post(path, body).await
    }
}

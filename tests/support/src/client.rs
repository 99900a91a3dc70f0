//! One user's HTTP client, with its own cookie jar: the session a browser would keep.
//! Calls answer `(status, body)` so that a test can assert either; the helpers that
//! must succeed (open, send, the waits) assert it themselves.

use std::{net::SocketAddr, sync::Arc};

use reqwest::{
    Method, StatusCode,
    cookie::{CookieStore, Jar},
    header::HeaderMap,
};
use serde_json::{Value, json};

use crate::{
    app::TestApp,
    wait::{PATIENCE, eventually},
};

/// One user's HTTP client.
pub struct Client {
    pub http: reqwest::Client,
    jar: Arc<Jar>,
    base: String,
    /// The user this client registered as (`Null` when not logged in).
    pub user: Value,
}

impl Client {
    /// A client of the server at `base` (`http://host:port`), keeping cookies in `jar`.
    pub(crate) fn new(base: String, jar: Arc<Jar>) -> Self {
        Self {
            http: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .build()
                .expect("a reqwest client"),
            jar,
            base,
            user: Value::Null,
        }
    }

    /// The `Cookie` header this client sends (its session), if it has one.
    pub fn cookie(&self) -> Option<String> {
        let url = self.base.parse().expect("the server's URL");
        self.jar
            .cookies(&url)
            .map(|v| v.to_str().expect("an ASCII cookie").to_owned())
    }

    pub fn id(&self) -> i64 {
        self.user["id"].as_i64().expect("a registered client")
    }

    /// The same user with the same session on `app`, a server restarted at another
    /// address (a cookie is not bound to a port).
    pub fn on(self, app: &TestApp) -> Self {
        Self {
            base: app.url(""),
            ..self
        }
    }

    /// The same user with the same session (the same cookie jar) on `app`, another
    /// node of a cluster, while this client goes on calling its own.
    pub fn at(&self, app: &TestApp) -> Self {
        self.at_address(app.addr)
    }

    /// [`Client::at`] the server at `addr` (a node in a process of its own).
    pub fn at_address(&self, addr: SocketAddr) -> Self {
        Self {
            http: self.http.clone(),
            jar: self.jar.clone(),
            base: format!("http://{addr}"),
            user: self.user.clone(),
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await.into_parts()
    }

    /// A `GET` that must answer 200; its body.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.post_full(path, body).await.into_parts()
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body))
            .await
            .into_parts()
    }

    /// A `PUT` without a body.
    pub async fn put(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::PUT, path, None).await.into_parts()
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await.into_parts()
    }

    /// A `POST`, answered with its headers too.
    pub async fn post_full(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Uploads `bytes` as the file `name` (`POST /api/media`, the raw file as the body).
    pub async fn upload(&self, name: &str, content_type: &str, bytes: Vec<u8>) -> Reply {
        let response = self
            .http
            .post(format!("{}/api/media", self.base))
            .query(&[("filename", name)])
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes)
            .send()
            .await
            .expect("the server answers");
        read(response).await
    }

    /// A `GET` with `headers`, its response as it came (a file is no JSON).
    pub async fn fetch(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.get(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("the server answers")
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("the server answers")).await
    }

    /// Opens the conversation with `peer` and returns its id.
    pub async fn open(&self, peer: &Client) -> i64 {
        let (status, body) = self
            .post("/api/conversations", json!({"user_id": peer.id()}))
            .await;
        assert!(status.is_success(), "open: {status} {body}");
        body["conversation"]["id"]
            .as_i64()
            .expect("a conversation id")
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
        self.get_ok("/api/unread").await
    }

    pub async fn history(&self, conversation: i64, query: &str) -> Vec<Value> {
        let body = self
            .get_ok(&format!(
                "/api/conversations/{conversation}/messages{query}"
            ))
            .await;
        body["messages"].as_array().expect("a page").clone()
    }

    /// My conversations, once there are `count` of them (another server, such as the
    /// bridge, may be opening them).
    pub async fn wait_for_conversations(&self, count: usize) -> Vec<Value> {
        let what = format!("{} to have {count} conversations", self.user["username"]);
        eventually(&what, PATIENCE, async || {
            let body = self.get_ok("/api/conversations").await;
            match body["conversations"].as_array() {
                Some(list) if list.len() >= count => Ok(list.clone()),
                _ => Err(body),
            }
        })
        .await
    }

    /// A conversation's messages, oldest first, once there are `count`.
    pub async fn wait_for_messages(&self, conversation: i64, count: usize) -> Vec<Value> {
        let what = format!("conversation {conversation} to have {count} messages");
        eventually(&what, PATIENCE, async || {
            let messages = self.history(conversation, "?limit=100").await;
            if messages.len() >= count {
                Ok(messages)
            } else {
                Err(Value::from(messages))
            }
        })
        .await
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
    let bytes = response.bytes().await.expect("the whole body");
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
        .map(|m| m["seq"].as_i64().expect("a seq"))
        .collect()
}

//! A user of the benchmark's own, talking to the server as any client does: the JSON
//! API with a session cookie, and `/ws` with the same cookie. Errors are returned
//! (with what the server said), never unwrapped: the server may be one the bench did
//! not start.

use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use reqwest::cookie::{CookieStore, Jar};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest},
};

/// How long the bench waits for one answer from the server before it gives up.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// A logged-in user.
pub struct Account {
    pub username: String,
    pub id: i64,
    http: reqwest::Client,
    jar: Arc<Jar>,
    base: String,
}

impl Account {
    /// Registers `username` on the server at `base` (`http://host:port`).
    pub async fn register(
        base: &str,
        username: &str,
        display_name: &str,
        password: &str,
    ) -> anyhow::Result<Self> {
        let form =
            json!({"username": username, "display_name": display_name, "password": password});
        Self::enter(base, "/api/register", form).await
    }

    /// Logs `username` in on the server at `base`.
    pub async fn login(base: &str, username: &str, password: &str) -> anyhow::Result<Self> {
        let form = json!({"username": username, "password": password});
        Self::enter(base, "/api/login", form).await
    }

    async fn enter(base: &str, path: &str, form: Value) -> anyhow::Result<Self> {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .build()?;
        let mut account = Self {
            username: form["username"].as_str().unwrap_or_default().to_owned(),
            id: 0,
            http,
            jar,
            base: base.to_owned(),
        };
        let body = account.post(path, form).await?;
        account.id = body["user"]["id"]
            .as_i64()
            .with_context(|| format!("{path} answered without a user id: {body}"))?;
        Ok(account)
    }

    /// The session cookie, as `(name, value)` pairs, to hand to a browser.
    pub fn cookies(&self) -> anyhow::Result<Vec<(String, String)>> {
        let header = self
            .jar
            .cookies(&self.base.parse()?)
            .context("no session cookie")?;
        let header = header.to_str()?;
        Ok(header
            .split("; ")
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect())
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let request = self.http.get(format!("{}{path}", self.base));
        answer(request, path).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let request = self.http.post(format!("{}{path}", self.base)).json(&body);
        answer(request, path).await
    }

    /// Opens (or finds) the conversation with `peer`; its id.
    pub async fn open(&self, peer: i64) -> anyhow::Result<i64> {
        let body = self
            .post("/api/conversations", json!({"user_id": peer}))
            .await?;
        body["conversation"]["id"]
            .as_i64()
            .with_context(|| format!("no conversation id in {body}"))
    }

    /// Sends a message over HTTP; its `seq`.
    pub async fn send(&self, conversation: i64, body: String) -> anyhow::Result<i64> {
        let txn_id = uuid::Uuid::new_v4().to_string();
        let path = format!("/api/conversations/{conversation}/messages");
        let reply = self
            .post(&path, json!({"body": body, "txn_id": txn_id}))
            .await?;
        reply["message"]["seq"]
            .as_i64()
            .with_context(|| format!("no seq in {reply}"))
    }

    /// The `seq` of the newest message of a conversation.
    pub async fn newest_seq(&self, conversation: i64) -> anyhow::Result<i64> {
        let path = format!("/api/conversations/{conversation}/messages?limit=1");
        let body = self.get(&path).await?;
        body["messages"][0]["seq"]
            .as_i64()
            .with_context(|| format!("no newest message in {body}"))
    }

    /// A socket of this user's, once its `hello` has come.
    pub async fn socket(&self) -> anyhow::Result<Socket> {
        let url = format!("{}/ws", self.base.replacen("http", "ws", 1));
        let mut request = url.as_str().into_client_request()?;
        let cookie = self
            .jar
            .cookies(&self.base.parse()?)
            .context("no session cookie")?;
        request.headers_mut().insert("cookie", cookie);
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .with_context(|| format!("opening {url}"))?;
        let mut socket = Socket { ws, next_req: 0 };
        let hello = socket.next().await?;
        if hello["type"] != "hello" {
            bail!("the socket began with {hello}, not hello");
        }
        Ok(socket)
    }
}

async fn answer(request: reqwest::RequestBuilder, path: &str) -> anyhow::Result<Value> {
    let response = request
        .send()
        .await
        .with_context(|| format!("{path}: no answer"))?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("{path}: {status} {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("{path}: not JSON: {text}"))
}

/// A user's `/ws`. Frames the bench does not wait for (typing, receipts, the other
/// side's messages) are read past and dropped.
pub struct Socket {
    ws: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
    next_req: u64,
}

impl Socket {
    /// Sends `frame` with a fresh `req`; the `req`.
    pub async fn send(&mut self, mut frame: Value) -> anyhow::Result<u64> {
        self.next_req += 1;
        frame["req"] = json!(self.next_req);
        self.ws.send(Message::text(frame.to_string())).await?;
        Ok(self.next_req)
    }

    async fn next(&mut self) -> anyhow::Result<Value> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .context("the socket stayed silent")?
                .ok_or_else(|| anyhow!("the server closed the socket"))??;
            match message {
                Message::Text(text) => return Ok(serde_json::from_str(&text)?),
                Message::Close(close) => bail!("the server closed the socket: {close:?}"),
                _ => continue,
            }
        }
    }

    /// The answer to request `req`, reading past everything else.
    pub async fn answer(&mut self, req: u64) -> anyhow::Result<Value> {
        loop {
            let frame = self.next().await?;
            if frame["req"] == json!(req) {
                if frame["type"] == "error" {
                    bail!("the server refused request {req}: {frame}");
                }
                return Ok(frame);
            }
        }
    }

    /// Sends messages to a conversation all at once (the socket pipelines them) and
    /// waits until each is stored; their `seq`s, in order.
    pub async fn send_all(
        &mut self,
        conversation: i64,
        bodies: &[String],
    ) -> anyhow::Result<Vec<i64>> {
        let mut reqs = Vec::with_capacity(bodies.len());
        for body in bodies {
            let frame = json!({
                "type": "send",
                "conversation_id": conversation,
                "body": body,
                "txn_id": uuid::Uuid::new_v4().to_string(),
            });
            reqs.push(self.send(frame).await?);
        }
        let mut seqs = Vec::with_capacity(reqs.len());
        for req in reqs {
            let sent = self.answer(req).await?;
            let seq = sent["message"]["seq"]
                .as_i64()
                .with_context(|| format!("no seq in {sent}"))?;
            seqs.push(seq);
        }
        Ok(seqs)
    }

    /// Moves my read marker of `conversation` up to `seq`, and waits until the server
    /// has handled it (a `ping` sent after it is answered after it).
    pub async fn read(&mut self, conversation: i64, seq: i64) -> anyhow::Result<()> {
        let read = json!({"type": "read", "conversation_id": conversation, "up_to_seq": seq});
        self.send(read).await?;
        let ping = self.send(json!({"type": "ping"})).await?;
        self.answer(ping).await.map(drop)
    }
}

//! Accounts and sockets: the setup every scenario does before its clock starts.
//!
//! Setup goes through the ordinary API (register, open a conversation, upgrade `/ws`
//! with the session cookie), the part of the protocol that gadka and the relay share,
//! so that one command drives both.

use std::{net::IpAddr, sync::Arc};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use reqwest::cookie::{CookieStore, Jar};
use serde::Deserialize;
use serde_json::json;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, protocol::WebSocketConfig},
};

use crate::frames::{self, Frame};

/// How many bytes a socket reads at a time. tungstenite zero-fills this much of its
/// read buffer before every read, so its default of 128 KiB made `memset` a fifth of the
/// tool's CPU time; 16 KiB still holds dozens of frames.
const READ_BUFFER: usize = 16 * 1024;

fn config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_BUFFER)
}

/// A client WebSocket.
pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// The password of every account the tool makes.
pub const PASSWORD: &str = "load-test-password";

/// A registered user: its HTTP client (holding the session cookie) and id.
pub struct User {
    http: reqwest::Client,
    jar: Arc<Jar>,
    base: String,
    /// The local address its HTTP connections come from, if one was chosen.
    local: Option<IpAddr>,
    /// The user's id on the server.
    pub id: i64,
}

/// An HTTP client that keeps its cookies in `jar` and connects from `local` (on
/// loopback, `127.0.0.2` is another client address to the server, with its own limits).
/// With `fresh`, every request opens its own connection and closes it after.
pub fn http_client(
    jar: Arc<Jar>,
    local: Option<IpAddr>,
    fresh: bool,
) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .cookie_provider(jar)
        .local_address(local);
    if fresh {
        builder = builder.pool_max_idle_per_host(0);
    }
    builder.build().context("an HTTP client")
}

#[derive(Deserialize)]
struct UserReply {
    user: Id,
}

#[derive(Deserialize)]
struct ConversationReply {
    conversation: Id,
}

#[derive(Deserialize)]
struct Id {
    id: i64,
}

impl User {
    /// Registers `name` on the server at `base` (e.g. `http://127.0.0.1:8080`).
    pub async fn register(base: &str, name: &str) -> anyhow::Result<Self> {
        Self::register_from(base, name, None).await
    }

    /// Registers `name`, connecting from the local address `local`; the user's later
    /// requests come from there too.
    pub async fn register_from(
        base: &str,
        name: &str,
        local: Option<IpAddr>,
    ) -> anyhow::Result<Self> {
        let jar = Arc::new(Jar::default());
        let http = http_client(jar.clone(), local, false)?;
        let response = http
            .post(format!("{base}/api/register"))
            .json(&json!({"username": name, "password": PASSWORD}))
            .send()
            .await
            .with_context(|| format!("register {name} at {base}"))?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("register {name}: {status} {}", frames::excerpt(&text));
        }
        let reply: UserReply = serde_json::from_str(&text)
            .with_context(|| format!("register {name}: {}", frames::excerpt(&text)))?;
        Ok(Self {
            http,
            jar,
            base: base.to_owned(),
            local,
            id: reply.user.id,
        })
    }

    /// Another client with the same session, from the same local address, with its
    /// own connections: kept alive (a user connected before), or with `fresh`, a new
    /// one per request (a user arriving now).
    pub fn new_http(&self, fresh: bool) -> anyhow::Result<reqwest::Client> {
        http_client(self.jar.clone(), self.local, fresh)
    }

    /// Opens (or finds) the conversation with `peer` and returns its id.
    pub async fn open(&self, peer: &User) -> anyhow::Result<i64> {
        let response = self
            .http
            .post(format!("{}/api/conversations", self.base))
            .json(&json!({"user_id": peer.id}))
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("open a conversation: {status} {}", frames::excerpt(&text));
        }
        let reply: ConversationReply = serde_json::from_str(&text)
            .with_context(|| format!("open a conversation: {}", frames::excerpt(&text)))?;
        Ok(reply.conversation.id)
    }

    /// Opens a socket as this user and reads its `hello`. Nagle's algorithm is off: the
    /// tool batches its own writes, and delayed acknowledgements would add latency.
    /// The read buffer is [`READ_BUFFER`].
    pub async fn socket(&self) -> anyhow::Result<Socket> {
        self.socket_at(&self.base).await
    }

    /// Opens a socket as this user on the server at `base`, with the session of the
    /// server the user registered on: another node of the same cluster, whose nodes
    /// share the session secret. Otherwise as [`User::socket`].
    pub async fn socket_at(&self, base: &str) -> anyhow::Result<Socket> {
        let ws_url = format!("{}/ws", base.replacen("http", "ws", 1));
        let mut request = ws_url.into_client_request()?;
        let cookie = self
            .jar
            .cookies(&self.base.parse()?)
            .context("a session cookie")?;
        request.headers_mut().insert("cookie", cookie);
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(config()), true)
                .await
                .context("open a socket")?;
        match ws.next().await {
            Some(Ok(Message::Text(text))) if frames::classify(&text)? == Frame::Hello => Ok(ws),
            other => bail!("expected hello, got {other:?}"),
        }
    }
}

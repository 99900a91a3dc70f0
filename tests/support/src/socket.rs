//! A WebSocket client for the tests, as a browser or app would use `/ws`.
//!
//! Frames on one socket keep their order, which is what [`Socket::drain`] stands on:
//! a `ping` with a fresh `req` is answered after everything the server had queued for
//! the socket, so reading up to its `pong` shows all that arrived, and nothing more
//! can be hiding behind a sleep that was too short.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use reqwest::header::{COOKIE, ORIGIN};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message, client::IntoClientRequest, http::Response, protocol::CloseFrame},
};

use crate::{app::TestApp, client::Client, wait::PATIENCE};

pub struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pings: u64,
}

/// What the server said when it refused an upgrade.
pub struct Refusal {
    pub status: u16,
    pub body: Value,
}

impl TestApp {
    /// Opens `/ws` as `client` from the server's own origin; returns the socket and its `hello`.
    pub async fn socket(&self, client: &Client) -> (Socket, Value) {
        Socket::open(self.addr, client).await
    }

    /// Opens `/ws` with the given cookie and origin, or says why the server refused.
    pub async fn try_socket(
        &self,
        cookie: Option<&str>,
        origin: Option<&str>,
    ) -> Result<Socket, Refusal> {
        Socket::connect(self.addr, cookie, origin).await
    }
}

impl Socket {
    /// Opens `/ws` of the server at `addr` (one node of several, perhaps in a process
    /// of its own) as `client`, from that server's own origin; the socket and its `hello`.
    pub async fn open(addr: SocketAddr, client: &Client) -> (Socket, Value) {
        let origin = format!("http://{addr}");
        let mut socket = Self::connect(addr, client.cookie().as_deref(), Some(&origin))
            .await
            .unwrap_or_else(|r| panic!("upgrade refused: {} {}", r.status, r.body));
        let hello = socket.expect("hello").await;
        (socket, hello)
    }

    /// Opens `/ws` of the server at `addr` with the given cookie and origin, or says
    /// why the server refused.
    pub async fn connect(
        addr: SocketAddr,
        cookie: Option<&str>,
        origin: Option<&str>,
    ) -> Result<Socket, Refusal> {
        let mut request = format!("ws://{addr}/ws")
            .into_client_request()
            .expect("a WebSocket request");
        if let Some(cookie) = cookie {
            request
                .headers_mut()
                .insert(COOKIE, cookie.parse().expect("a header value"));
        }
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert(ORIGIN, origin.parse().expect("a header value"));
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Socket { ws, pings: 0 }),
            Err(tungstenite::Error::Http(response)) => Err(refusal(*response)),
            Err(e) => panic!("connecting the socket: {e}"),
        }
    }
}

fn refusal(response: Response<Option<Vec<u8>>>) -> Refusal {
    let body = response
        .body()
        .as_ref()
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(Value::Null);
    Refusal {
        status: response.status().as_u16(),
        body,
    }
}

impl Socket {
    pub async fn send(&mut self, frame: Value) {
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .expect("the socket takes a frame");
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.ws
            .send(message)
            .await
            .expect("the socket takes a frame");
    }

    /// The next frame, whatever it is; fails the test after a while without one.
    pub async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame within the patience of the test")
                .expect("the socket is still open")
                .expect("a readable frame");
            match message {
                Message::Text(text) => return serde_json::from_str(&text).expect("a JSON frame"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next frame of type `kind`, passing over frames of other types.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        let found = async {
            loop {
                let frame = self.next().await;
                if frame["type"] == kind {
                    return frame;
                }
            }
        };
        tokio::time::timeout(PATIENCE, found)
            .await
            .unwrap_or_else(|_| panic!("no {kind} frame within {PATIENCE:?}"))
    }

    /// The next frame, which must be of type `kind`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let frame = self.next().await;
        assert_eq!(frame["type"], kind, "expected a {kind} frame, got {frame}");
        frame
    }

    /// Every frame up to the answer of a `ping` with a `req` of its own: whatever the
    /// server had queued for this socket before the ping arrived. This is how a test
    /// knows that nothing (else) was sent, without sleeping (see the module doc).
    pub async fn drain(&mut self) -> Vec<Value> {
        self.pings += 1;
        let req = format!("barrier-{}", self.pings);
        self.send(json!({"type": "ping", "req": req})).await;
        let mut frames = Vec::new();
        loop {
            let frame = self.next().await;
            if frame["type"] == "pong" && frame["req"] == req {
                return frames;
            }
            frames.push(frame);
        }
    }

    /// Asserts that nothing was sent to this socket (up to a ping barrier).
    pub async fn assert_quiet(&mut self) {
        let frames = self.drain().await;
        assert!(frames.is_empty(), "expected no frames, got {frames:?}");
    }

    /// Reads until the server closes the socket; the close frame, if one arrived.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        loop {
            match tokio::time::timeout(PATIENCE, self.ws.next()).await {
                Err(_) => panic!("the server did not close the socket"),
                Ok(None) => return None,
                Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(Message::Close(frame)))) => return frame,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The next raw message, or `None` once the connection is gone.
    pub async fn try_next(&mut self) -> Option<Message> {
        match tokio::time::timeout(PATIENCE, self.ws.next()).await {
            Err(_) => panic!("no frame and no close within the patience of the test"),
            Ok(Some(Ok(message))) => Some(message),
            Ok(_) => None,
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        // Wait for the server's side of the close handshake.
        while let Ok(Some(Ok(_))) = tokio::time::timeout(PATIENCE, self.ws.next()).await {}
    }
}

//! The write side of one open socket and what it acts as: which user, on which
//! session, through which hub connection, having shown which messages.
//!
//! As mini-redis's `Connection` moves frames and knows no command, this file knows
//! neither the commands (`commands.rs`) nor the loop that drives the socket
//! (`socket.rs`); both write through it. Writes are fed to the socket without a
//! flush and leave at the next flush, which the loop does once it has written
//! everything that is ready, so one system call carries many frames under load.
//! Every write is bounded by a timeout: a client that stops reading is gone.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, stream::SplitSink};
use serde_json::value::RawValue;

use super::frames::Reply;
use crate::{
    chat::{Chat, SeenMessages, Session},
    hub::{CloseReason, ConnectionId},
};

/// Frames written without a flush before the socket flushes anyway.
const MAX_UNFLUSHED: usize = 64;

/// How long one write may take before the client is considered gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the last writes, up to and including the close frame, may take. Longer
/// than a write: a socket kicked for reading too slowly has megabytes before its close
/// frame, and a client that reads them late should still learn why it was closed
/// (1008: reconnect and resume). The connection caps bound what this holds.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) type Sink = SplitSink<WebSocket, WsMessage>;

/// Why the loop stopped writing: the socket is gone or must be closed.
pub(super) struct Gone;

/// The state of one open socket; `commands.rs` acts for its user and writes through it.
pub(super) struct Connection<'a> {
    pub(super) chat: &'a Chat,
    pub(super) session: &'a Session,
    pub(super) id: ConnectionId,
    sink: Sink,
    /// What this socket has shown, so a replay and live deliveries show each once.
    pub(super) seen: SeenMessages,
    /// Frames fed to the sink since its last flush.
    unflushed: usize,
}

impl<'a> Connection<'a> {
    pub(super) fn new(
        chat: &'a Chat,
        session: &'a Session,
        id: ConnectionId,
        sink: Sink,
        seen: SeenMessages,
    ) -> Self {
        Self {
            chat,
            session,
            id,
            sink,
            seen,
            unflushed: 0,
        }
    }
}

impl Connection<'_> {
    pub(super) async fn write(&mut self, text: String) -> Result<(), Gone> {
        self.write_shared(text.into()).await
    }

    /// Queues a frame on the socket; it leaves at the next flush (or sooner, when many
    /// are waiting).
    pub(super) async fn write_shared(&mut self, text: Utf8Bytes) -> Result<(), Gone> {
        self.io(|sink| sink.feed(WsMessage::Text(text))).await?;
        self.unflushed += 1;
        if self.unflushed >= MAX_UNFLUSHED {
            self.flush().await?;
        }
        Ok(())
    }

    /// Whether frames wait for a flush: the loop writes what else is ready meanwhile.
    pub(super) fn has_unflushed(&self) -> bool {
        self.unflushed > 0
    }

    pub(super) async fn flush(&mut self) -> Result<(), Gone> {
        if self.unflushed > 0 {
            self.io(|sink| sink.flush()).await?;
            self.unflushed = 0;
        }
        Ok(())
    }

    /// One write operation on the socket, bounded by the write timeout.
    async fn io<'s, F>(&'s mut self, op: impl FnOnce(&'s mut Sink) -> F) -> Result<(), Gone>
    where
        F: Future<Output = Result<(), axum::Error>> + 's,
    {
        match tokio::time::timeout(WRITE_TIMEOUT, op(&mut self.sink)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "socket write failed");
                Err(Gone)
            }
            Err(_) => {
                tracing::info!("socket write timed out");
                Err(Gone)
            }
        }
    }

    /// A WebSocket ping (the client's browser answers it with a pong on its own), with
    /// whatever is queued.
    pub(super) async fn ping(&mut self) -> Result<(), Gone> {
        self.io(|sink| sink.send(WsMessage::Ping(Default::default())))
            .await?;
        self.unflushed = 0;
        Ok(())
    }

    /// Flushes what is queued and sends the close frame; the loop ends either way.
    pub(super) async fn close(&mut self, reason: CloseReason) -> Gone {
        tracing::info!(code = reason.code, reason = reason.reason, "closing socket");
        let frame = close_frame(reason);
        let last = async {
            self.sink.feed(frame).await?;
            self.sink.flush().await
        };
        if tokio::time::timeout(CLOSE_TIMEOUT, last).await.is_err() {
            tracing::info!("the close frame could not be written in time");
        }
        Gone
    }

    /// Sends the close frame without [`Self::close`]'s log: for a failed read, which
    /// the loop has logged already.
    pub(super) async fn close_quietly(&mut self, reason: CloseReason) {
        let _ = close(&mut self.sink, reason).await;
    }

    /// An `error` frame: a bad frame or a refused command, answered; the socket stays.
    pub(super) async fn error(
        &mut self,
        req: Option<&RawValue>,
        code: &str,
        message: &str,
        retry_after_secs: Option<u64>,
    ) -> Result<(), Gone> {
        self.write(
            Reply::Error {
                req,
                code,
                message,
                retry_after_secs,
            }
            .to_json(),
        )
        .await
    }
}

/// Sends a close frame on a socket, also one that never became a [`Connection`].
pub(super) async fn close(sink: &mut Sink, reason: CloseReason) -> Result<(), Gone> {
    match tokio::time::timeout(CLOSE_TIMEOUT, sink.send(close_frame(reason))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(Gone),
    }
}

fn close_frame(reason: CloseReason) -> WsMessage {
    WsMessage::Close(Some(CloseFrame {
        code: reason.code,
        reason: Utf8Bytes::from_static(reason.reason),
    }))
}

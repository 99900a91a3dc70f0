//! One socket's life: `hello`, then commands in and events out, until the client
//! leaves or the server closes it (too slow, logged out, shutting down).
//!
//! One task owns the socket. It waits on three things at once: a kick from the hub,
//! the next delivery from its bounded queue, and the next frame from the client. A
//! command is handled to the end before the next thing is looked at, so a command
//! whose answer was sent has been committed, even when the server is shutting down.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt, stream::SplitSink};
use serde_json::Value;
use tracing::Instrument;

use super::frames::{self, Command, Reply};
use crate::{
    chat::{Chat, ChatError, SendTo, Session, events::Event},
    hub::{CloseReason, ConnectionId},
};

/// How long one write may take before the client is considered gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Messages per page when replaying after a reconnect.
const REPLAY_PAGE: i64 = 200;

type Sink = SplitSink<WebSocket, WsMessage>;

/// Why the loop stopped writing: the socket is gone or must be closed.
struct Gone;

pub async fn serve(socket: WebSocket, chat: Chat, session: Session) {
    let span = tracing::info_span!("ws", user.id = session.user_id);
    run(socket, chat, session).instrument(span).await;
}

async fn run(socket: WebSocket, chat: Chat, session: Session) {
    let (mut sink, mut stream) = socket.split();
    let (hello, mut registration) = match chat.connect(&session).await {
        Ok(connected) => connected,
        Err(e) => {
            let reason = CloseReason {
                code: 1011,
                reason: "cannot start the session",
            };
            if !matches!(e, ChatError::Unauthenticated) {
                tracing::error!(error = ?e, "socket setup failed");
            }
            let _ = close(&mut sink, reason).await;
            return;
        }
    };
    tracing::info!("connected");
    let mut conn = Connection {
        chat: &chat,
        session: &session,
        id: registration.id,
        sink,
        cursor: hello.last_message_id,
    };
    let kick = registration.kick.clone();
    if conn
        .write(Reply::Hello { hello: &hello }.to_json())
        .await
        .is_ok()
    {
        loop {
            tokio::select! {
                biased;
                reason = kick.kicked() => {
                    tracing::info!(code = reason.code, reason = reason.reason, "closing socket");
                    let _ = close(&mut conn.sink, reason).await;
                    break;
                }
                Some(delivery) = registration.deliveries.recv() => {
                    // Already sent by the snapshot or a replay: deliveries come in id order.
                    if delivery.message_id.is_some_and(|id| id <= conn.cursor) {
                        continue;
                    }
                    if let Some(id) = delivery.message_id {
                        conn.cursor = id;
                    }
                    if conn.write_shared(delivery.text).await.is_err() {
                        break;
                    }
                }
                incoming = stream.next() => {
                    let keep_going = match incoming {
                        Some(Ok(WsMessage::Text(text))) => conn.command(&text).await.is_ok(),
                        Some(Ok(WsMessage::Binary(_))) => conn
                            .error(None, "bad_frame", "frames are JSON text, not binary")
                            .await
                            .is_ok(),
                        Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => true,
                        Some(Ok(WsMessage::Close(_))) | None => false,
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "socket read failed");
                            if is_too_large(&e) {
                                let reason = CloseReason { code: 1009, reason: "frame too large" };
                                let _ = close(&mut conn.sink, reason).await;
                            }
                            false
                        }
                    };
                    if !keep_going {
                        break;
                    }
                }
            }
        }
    }
    chat.disconnect(registration).await;
    tracing::info!("disconnected");
}

/// Whether a read failed because the client's frame was over the size limit.
fn is_too_large(error: &axum::Error) -> bool {
    use std::error::Error;
    error
        .source()
        .and_then(|e| e.downcast_ref::<tungstenite::Error>())
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

async fn close(sink: &mut Sink, reason: CloseReason) -> Result<(), Gone> {
    let frame = WsMessage::Close(Some(CloseFrame {
        code: reason.code,
        reason: Utf8Bytes::from_static(reason.reason),
    }));
    match tokio::time::timeout(WRITE_TIMEOUT, sink.send(frame)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(Gone),
    }
}

/// The state of one open socket.
struct Connection<'a> {
    chat: &'a Chat,
    session: &'a Session,
    id: ConnectionId,
    sink: Sink,
    /// The newest message id this socket has been sent.
    cursor: i64,
}

impl Connection<'_> {
    async fn write(&mut self, text: String) -> Result<(), Gone> {
        self.write_shared(text.into()).await
    }

    async fn write_shared(&mut self, text: Utf8Bytes) -> Result<(), Gone> {
        match tokio::time::timeout(WRITE_TIMEOUT, self.sink.send(WsMessage::Text(text))).await {
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

    async fn error(&mut self, req: Option<&Value>, code: &str, message: &str) -> Result<(), Gone> {
        self.write(Reply::Error { req, code, message }.to_json())
            .await
    }

    /// Handles one text frame. A bad frame or a refused command is answered with an
    /// `error` frame and changes nothing; only a dead socket ends the loop.
    async fn command(&mut self, text: &str) -> Result<(), Gone> {
        let (req, command) = match frames::parse(text) {
            Ok(parsed) => parsed,
            Err(bad) => return self.error(bad.req.as_ref(), bad.code, &bad.message).await,
        };
        let req = req.as_ref();
        match self.execute(req, command).await {
            Ok(()) => Ok(()),
            Err(Failure::Gone) => Err(Gone),
            Err(Failure::Chat(e)) => {
                if let ChatError::Internal(cause) = &e {
                    tracing::error!(error = ?cause, "command failed");
                }
                self.error(req, e.code(), &e.to_string()).await
            }
        }
    }

    async fn execute(&mut self, req: Option<&Value>, command: Command) -> Result<(), Failure> {
        let (chat, me) = (self.chat, self.session);
        match command {
            Command::Send {
                to_user,
                conversation_id,
                body,
                txn_id,
            } => {
                let to = match (conversation_id, to_user) {
                    (Some(id), None) => SendTo::Conversation(id),
                    (None, Some(user)) => SendTo::User(user),
                    _ => {
                        return Err(ChatError::Invalid {
                            field: "conversation_id",
                            reason: "give either conversation_id or to_user".into(),
                        }
                        .into());
                    }
                };
                let (message, _new) = chat
                    .send(me, to, &body, txn_id.as_deref(), Some(self.id))
                    .await?;
                let reply = Reply::Sent {
                    req,
                    txn_id: txn_id.as_deref(),
                    message: &message,
                };
                self.write(reply.to_json()).await?;
            }
            Command::Read {
                conversation_id,
                up_to_seq,
            } => {
                let marker = chat
                    .read(me, conversation_id, up_to_seq, Some(self.id))
                    .await?;
                if marker.moved {
                    let reply = Reply::Unread {
                        req,
                        unread: &marker.unread,
                    };
                    self.write(reply.to_json()).await?;
                }
            }
            Command::Open { user_id } => {
                let (conversation, created) = chat.open_conversation(me, user_id).await?;
                let reply = Reply::Conversation {
                    req,
                    conversation: &conversation,
                    created,
                };
                self.write(reply.to_json()).await?;
            }
            Command::History {
                conversation_id,
                before_seq,
                limit,
            } => {
                let messages = chat.history(me, conversation_id, before_seq, limit).await?;
                let reply = Reply::History {
                    req,
                    conversation_id,
                    messages: &messages,
                };
                self.write(reply.to_json()).await?;
            }
            Command::Typing {
                conversation_id,
                typing,
            } => chat.typing(me, conversation_id, typing).await?,
            Command::Resume { since } => self.resume(req, since).await?,
            Command::Ping => self.write(Reply::Pong { req }.to_json()).await?,
        }
        Ok(())
    }

    /// Replays every message since `since` in id order, then the current read
    /// markers, then the unread summary (which carries the `req`).
    async fn resume(&mut self, req: Option<&Value>, since: i64) -> Result<(), Failure> {
        let (chat, me) = (self.chat, self.session);
        let mut after = since;
        loop {
            let page = chat.missed_messages(me, after, Some(REPLAY_PAGE)).await?;
            let Some(last) = page.last() else { break };
            after = last.id;
            for message in page {
                let id = message.id;
                self.write_shared(Event::Message { message }.delivery().text)
                    .await?;
                self.cursor = self.cursor.max(id);
            }
        }
        for receipt in chat.markers(me).await? {
            self.write_shared(receipt.delivery().text).await?;
        }
        let unread = chat.unread(me).await?;
        self.write(
            Reply::Unread {
                req,
                unread: &unread,
            }
            .to_json(),
        )
        .await?;
        Ok(())
    }
}

/// Why a command did not complete.
enum Failure {
    /// Refused by the rules: answered with an `error` frame.
    Chat(ChatError),
    /// The socket is gone.
    Gone,
}

impl From<ChatError> for Failure {
    fn from(e: ChatError) -> Self {
        Self::Chat(e)
    }
}

impl From<Gone> for Failure {
    fn from(_: Gone) -> Self {
        Self::Gone
    }
}

//! One socket's life: `hello`, then commands in and events out, until the client
//! leaves or the server closes it (too slow, logged out, shutting down).
//!
//! One task owns the socket. It waits on three things at once: a kick from the hub,
//! the next delivery from its bounded queue, and the next frame from the client. A
//! command is handled to the end before the next thing is looked at, so a command
//! whose answer was sent has been committed, even when the server is shutting down.

use std::{
    collections::{HashSet, VecDeque},
    time::Duration,
};

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt, stream::SplitSink};
use serde_json::Value;
use tracing::Instrument;

use super::frames::{self, Command, Reply};
use crate::{
    chat::{Chat, ChatError, SendTo, Session, events::Event, views::Hello},
    hub::{CloseReason, ConnectionId, Delivery},
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

// The database calls behind `connect`, `disconnect` and each command are big futures.
// Boxed, they take heap only while they run; inline, every idle socket's task would
// carry the largest of them for its whole life (measured: 16.0 KiB per idle socket
// inline, 10.7 KiB boxed).
async fn run(socket: WebSocket, chat: Chat, session: Session) {
    let (mut sink, mut stream) = socket.split();
    let (hello, mut registration) = match Box::pin(chat.connect(&session)).await {
        Ok(connected) => connected,
        Err(e) => {
            if let ChatError::Internal(cause) = &e {
                tracing::error!(error = ?cause, "socket setup failed");
            }
            let reason = CloseReason {
                code: 1011,
                reason: "cannot start the session",
            };
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
        sent: SentMessages::after_hello(&hello),
    };
    let kick = registration.kick.clone();
    let expiry = tokio::time::sleep(until(session.expires_at));
    tokio::pin!(expiry);
    let mut open = conn
        .write(Reply::Hello { hello: &hello }.to_json())
        .await
        .is_ok();
    // The snapshot is big and only needed until it is sent.
    drop(hello);
    while open {
        open = tokio::select! {
            biased;
            reason = kick.kicked() => conn.close(reason).await,
            () = &mut expiry => conn.close(CloseReason::SESSION_EXPIRED).await,
            Some(delivery) = registration.deliveries.recv() => conn.deliver(delivery).await.is_ok(),
            incoming = stream.next() => conn.receive(incoming).await.is_ok(),
        };
    }
    Box::pin(chat.disconnect(registration)).await;
    tracing::info!("disconnected");
}

/// How long from now until a Unix time (in seconds); zero if it has passed.
fn until(unix_secs: i64) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(u64::try_from(unix_secs).unwrap_or(0)).saturating_sub(now)
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
    sent: SentMessages,
}

/// Which messages this socket has been sent, so that the snapshot, live delivery
/// and replays never show one twice.
///
/// Live deliveries are messages committed after the socket registered, in id
/// order. They can overlap the `hello` snapshot (committed while it was being
/// taken) and a replay (committed while it ran); a replay can overlap what was
/// delivered live before it.
struct SentMessages {
    in_hello: HashSet<i64>,
    /// The newest id a replay has sent: live messages up to it came in the replay.
    replayed_up_to: i64,
    /// The latest live ids, so that a replay skips them.
    recent_live: VecDeque<i64>,
}

/// How many live ids a socket remembers for replays. A replay right after a
/// reconnect (its purpose) overlaps only the first few live messages.
const RECENT_LIVE: usize = 1024;

impl SentMessages {
    fn after_hello(hello: &Hello) -> Self {
        Self {
            in_hello: hello
                .conversations
                .iter()
                .flat_map(|c| c.messages.iter().map(|m| m.id))
                .collect(),
            replayed_up_to: 0,
            recent_live: VecDeque::new(),
        }
    }

    fn has_before_live(&self, id: i64) -> bool {
        id <= self.replayed_up_to || self.in_hello.contains(&id)
    }

    fn live(&mut self, id: i64) {
        if self.recent_live.len() == RECENT_LIVE {
            self.recent_live.pop_front();
        }
        self.recent_live.push_back(id);
    }

    fn has_before_replay(&self, id: i64) -> bool {
        self.recent_live.contains(&id)
    }

    fn replayed(&mut self, id: i64) {
        self.replayed_up_to = self.replayed_up_to.max(id);
    }
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

    /// Sends the close frame; the loop ends either way.
    async fn close(&mut self, reason: CloseReason) -> bool {
        tracing::info!(code = reason.code, reason = reason.reason, "closing socket");
        let _ = close(&mut self.sink, reason).await;
        false
    }

    /// Forwards an event from the hub, unless this socket already has that message.
    async fn deliver(&mut self, delivery: Delivery) -> Result<(), Gone> {
        if let Some(id) = delivery.message_id {
            if self.sent.has_before_live(id) {
                return Ok(());
            }
            self.sent.live(id);
        }
        self.write_shared(delivery.text).await
    }

    /// Handles what the client sent; `Err` when the socket is done.
    async fn receive(
        &mut self,
        incoming: Option<Result<WsMessage, axum::Error>>,
    ) -> Result<(), Gone> {
        match incoming {
            Some(Ok(WsMessage::Text(text))) => self.command(&text).await,
            Some(Ok(WsMessage::Binary(_))) => {
                self.error(None, "bad_frame", "frames are JSON text, not binary")
                    .await
            }
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => Ok(()),
            Some(Ok(WsMessage::Close(_))) | None => Err(Gone),
            Some(Err(e)) => {
                tracing::debug!(error = %e, "socket read failed");
                if is_too_large(&e) {
                    let reason = CloseReason {
                        code: 1009,
                        reason: "frame too large",
                    };
                    let _ = close(&mut self.sink, reason).await;
                }
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
        match Box::pin(self.execute(req, command)).await {
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
                if !self.sent.has_before_replay(id) {
                    self.write_shared(Event::Message { message }.delivery().text)
                        .await?;
                }
                self.sent.replayed(id);
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

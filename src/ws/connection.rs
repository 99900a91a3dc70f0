//! One socket's life: `hello`, then commands in and events out, until the client
//! leaves or the server closes it (too slow, logged out, shutting down).
//!
//! One task owns the socket. It waits on four things at once: a kick from the hub,
//! the next delivery from its bounded queue, the answer to its oldest send, and the
//! next frame from the client.
//!
//! Sends are pipelined: a `send` is handed to the message engine and the socket reads
//! on, so a client with many sends in flight fills the engine's batches. Their `sent`
//! answers leave in the order the sends came in. Other commands are handled to the
//! end before the next frame is read. Writes are fed without flushing while more is
//! ready and flushed once: one system call carries many frames under load.

use std::{collections::VecDeque, future::poll_fn, pin::Pin, sync::Arc, time::Duration};

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket};
use futures_util::{FutureExt, SinkExt, StreamExt, stream::SplitSink};
use serde_json::value::RawValue;
use tracing::Instrument;

use super::frames::{self, Command, Reply};
use crate::{
    chat::{Chat, ChatError, PendingSend, SeenMessages, SendOutcome, SendTo, Session},
    hub::{CloseReason, ConnectionId, Delivery},
};

/// Sends a socket may have in flight before it stops reading until one is answered.
const MAX_PENDING_SENDS: usize = 256;

/// Frames written without a flush before the socket flushes anyway.
const MAX_UNFLUSHED: usize = 64;

/// How long one write may take before the client is considered gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

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
        seen: SeenMessages::after_hello(hello.last_message_id),
        unflushed: 0,
    };
    let mut pending: VecDeque<InFlight> = VecDeque::new();
    let kick = registration.kick.clone();
    let expiry = tokio::time::sleep(until(session.expires_at));
    tokio::pin!(expiry);
    let mut open = conn
        .write(Reply::Hello { hello: &hello }.to_json())
        .await
        .is_ok()
        && conn.flush().await.is_ok();
    // The snapshot is big and only needed until it is sent.
    drop(hello);
    while open {
        let step = tokio::select! {
            biased;
            reason = kick.kicked() => Err(conn.close(reason).await),
            () = &mut expiry => Err(conn.close(CloseReason::SESSION_EXPIRED).await),
            // Boxed, each handler's future takes heap only while it runs; inline, every
            // idle socket's task would carry the largest of them for its whole life.
            Some(delivery) = registration.deliveries.recv() => Box::pin(conn.deliver(delivery)).await,
            answer = oldest_answer(&mut pending), if !pending.is_empty() => {
                Box::pin(conn.answered(answer)).await
            }
            incoming = stream.next(), if pending.len() < MAX_PENDING_SENDS => {
                Box::pin(conn.receive(incoming, &mut pending)).await
            }
        };
        open = match step {
            Ok(()) => Box::pin(conn.write_ready(&mut registration.deliveries, &mut pending))
                .await
                .is_ok(),
            Err(Gone) => false,
        };
    }
    Box::pin(chat.disconnect(registration)).await;
    tracing::info!("disconnected");
}

/// A send handed to the engine, waiting for its commit.
struct InFlight {
    req: Option<Box<RawValue>>,
    txn_id: Option<String>,
    answer: PendingSend,
}

/// The answer to the oldest send in flight (the engine answers in queue order).
async fn oldest_answer(
    pending: &mut VecDeque<InFlight>,
) -> (InFlight, Result<SendOutcome, ChatError>) {
    let result = poll_fn(|cx| match pending.front_mut() {
        Some(front) => Pin::new(&mut front.answer).poll(cx),
        None => std::task::Poll::Pending,
    })
    .await;
    let done = pending
        .pop_front()
        .expect("polled only while a send is in flight");
    (done, result)
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
    seen: SeenMessages,
    /// Frames fed to the sink since its last flush.
    unflushed: usize,
}

impl Connection<'_> {
    async fn write(&mut self, text: String) -> Result<(), Gone> {
        self.write_shared(text.into()).await
    }

    /// Queues a frame on the socket; it leaves at the next flush (or sooner, when many
    /// are waiting).
    async fn write_shared(&mut self, text: Utf8Bytes) -> Result<(), Gone> {
        self.io(|sink| sink.feed(WsMessage::Text(text))).await?;
        self.unflushed += 1;
        if self.unflushed >= MAX_UNFLUSHED {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Gone> {
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

    /// Writes the deliveries and the answers that are already there, then flushes
    /// once: the engine commits and answers in batches, so several are usually ready
    /// at once, and one `send` syscall carries them all.
    async fn write_ready(
        &mut self,
        deliveries: &mut tokio::sync::mpsc::Receiver<Arc<Delivery>>,
        pending: &mut VecDeque<InFlight>,
    ) -> Result<(), Gone> {
        while self.unflushed > 0 {
            if let Ok(delivery) = deliveries.try_recv() {
                self.deliver(delivery).await?;
                continue;
            }
            // Polled without this task's waker; the loop's `select!` polls the oldest
            // answer again, with it, before the task sleeps.
            let Some(outcome) = pending
                .front_mut()
                .and_then(|front| (&mut front.answer).now_or_never())
            else {
                break;
            };
            let Some(send) = pending.pop_front() else {
                break;
            };
            Box::pin(self.answered((send, outcome))).await?;
        }
        self.flush().await
    }

    /// Sends the close frame; the loop ends either way.
    async fn close(&mut self, reason: CloseReason) -> Gone {
        tracing::info!(code = reason.code, reason = reason.reason, "closing socket");
        let _ = self.flush().await;
        let _ = close(&mut self.sink, reason).await;
        Gone
    }

    /// Forwards an event from the hub, unless this socket already showed that message.
    async fn deliver(&mut self, delivery: Arc<Delivery>) -> Result<(), Gone> {
        if let Some(id) = delivery.message_id
            && !self.seen.show_live(id)
        {
            return Ok(());
        }
        self.write_shared(delivery.text.clone()).await
    }

    /// Answers a send once the engine has committed it (or refused it).
    async fn answered(
        &mut self,
        (send, outcome): (InFlight, Result<SendOutcome, ChatError>),
    ) -> Result<(), Gone> {
        let req = send.req.as_deref();
        let result = match outcome {
            Ok(outcome) => Box::pin(self.chat.sent(self.session, outcome)).await,
            Err(e) => Err(e),
        };
        match result {
            Ok((message, _new)) => {
                let reply = Reply::Sent {
                    req,
                    txn_id: send.txn_id.as_deref(),
                    message: &message,
                };
                self.write(reply.to_json()).await
            }
            Err(e) => self.refused(req, &e).await,
        }
    }

    /// Handles what the client sent; `Err` when the socket is done.
    async fn receive(
        &mut self,
        incoming: Option<Result<WsMessage, axum::Error>>,
        pending: &mut VecDeque<InFlight>,
    ) -> Result<(), Gone> {
        match incoming {
            Some(Ok(WsMessage::Text(text))) => self.command(&text, pending).await,
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

    async fn error(
        &mut self,
        req: Option<&RawValue>,
        code: &str,
        message: &str,
    ) -> Result<(), Gone> {
        self.write(Reply::Error { req, code, message }.to_json())
            .await
    }

    async fn refused(&mut self, req: Option<&RawValue>, e: &ChatError) -> Result<(), Gone> {
        if let ChatError::Internal(cause) = e {
            tracing::error!(error = ?cause, "command failed");
        }
        self.error(req, e.code(), &e.to_string()).await
    }

    /// Handles one text frame. A bad frame or a refused command is answered with an
    /// `error` frame and changes nothing; only a dead socket ends the loop.
    async fn command(&mut self, text: &str, pending: &mut VecDeque<InFlight>) -> Result<(), Gone> {
        let (req, command) = match frames::parse(text) {
            Ok(parsed) => parsed,
            Err(bad) => return self.error(bad.req.as_deref(), bad.code, &bad.message).await,
        };
        if let Command::Send(send) = command {
            let queued = match SendTo::parse(send.conversation_id, send.to_user) {
                Ok(to) => {
                    Box::pin(self.chat.queue_send(
                        self.session,
                        to,
                        &send.body,
                        send.txn_id.as_deref(),
                        Some(self.id),
                    ))
                    .await
                }
                Err(e) => Err(e),
            };
            return match queued {
                Ok(answer) => {
                    pending.push_back(InFlight {
                        req,
                        txn_id: send.txn_id,
                        answer,
                    });
                    Ok(())
                }
                Err(e) => self.refused(req.as_deref(), &e).await,
            };
        }
        let req = req.as_deref();
        match Box::pin(self.execute(req, command)).await {
            Ok(()) => Ok(()),
            Err(Failure::Gone) => Err(Gone),
            Err(Failure::Chat(e)) => self.refused(req, &e).await,
        }
    }

    async fn execute(&mut self, req: Option<&RawValue>, command: Command) -> Result<(), Failure> {
        let (chat, me) = (self.chat, self.session);
        match command {
            Command::Send(_) => unreachable!("sends are pipelined by `command`"),
            Command::Read(read) => {
                let marker = chat
                    .read(me, read.conversation_id, read.up_to_seq, Some(self.id))
                    .await?;
                if marker.moved {
                    let reply = Reply::Unread {
                        req,
                        unread: &marker.unread,
                    };
                    self.write(reply.to_json()).await?;
                }
            }
            Command::Open(open) => {
                let (conversation, created) = chat.open_conversation(me, open.user_id).await?;
                let reply = Reply::Conversation {
                    req,
                    conversation: &conversation,
                    created,
                };
                self.write(reply.to_json()).await?;
            }
            Command::History(history) => {
                let messages = chat
                    .history(
                        me,
                        history.conversation_id,
                        history.before_seq,
                        history.limit,
                    )
                    .await?;
                let reply = Reply::History {
                    req,
                    conversation_id: history.conversation_id,
                    messages: &messages,
                };
                self.write(reply.to_json()).await?;
            }
            Command::Typing(typing) => {
                chat.typing(me, typing.conversation_id, typing.typing)
                    .await?
            }
            Command::Resume(resume) => self.resume(req, resume.since).await?,
            Command::Ping => self.write(Reply::Pong { req }.to_json()).await?,
        }
        Ok(())
    }

    /// Writes the replay `chat` makes, then the unread summary (which carries the
    /// `req`).
    async fn resume(&mut self, req: Option<&RawValue>, since: i64) -> Result<(), Failure> {
        let (chat, me) = (self.chat, self.session);
        let mut replay = chat.replay(me, since);
        while let Some(events) = replay.next(&mut self.seen).await? {
            for event in events {
                self.write_shared(event.delivery().text).await?;
            }
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

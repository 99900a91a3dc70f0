//! One socket's life: `hello`, then commands in and events out, until the client
//! leaves or the server closes it (too slow, logged out, shutting down). This is
//! mini-redis's `Handler`: it drives a [`Connection`] and hands what the client says
//! to the commands, so `connection.rs` ← `commands.rs` ← this file, and nothing
//! imports back.
//!
//! One task owns the socket. It waits on five things at once: a kick from the hub,
//! the session's expiry, the next delivery from its bounded queue, the answer to its
//! oldest send, and the next frame from the client. What a command does is not
//! decided here: a text frame goes to `commands.rs`, which answers through the
//! connection's writes; this file owns only the socket's order and its pace.
//!
//! Sends are pipelined: a `send` is handed to the message engine and the socket reads
//! on, so a client with many sends in flight fills the engine's batches. Their `sent`
//! answers leave in the order the sends came in. Other commands are handled to the
//! end before the next frame is read. After each wake-up, the deliveries and answers
//! that are already there are written too, and the connection is flushed once.

use std::{collections::VecDeque, future::poll_fn, pin::Pin, sync::Arc, time::Duration};

use tokio::time::{Instant, Sleep};

use axum::extract::ws::{Message as WsMessage, WebSocket};
use futures_util::{FutureExt, StreamExt};
use tracing::Instrument;

use super::{
    commands::{self, InFlight},
    connection::{self, Connection, Gone},
    frames::Reply,
};
use crate::{
    chat::{Chat, ChatError, SeenMessages, SendOutcome, Session},
    hub::{CloseReason, Delivery},
};

/// Sends a socket may have in flight before it stops reading until one is answered.
const MAX_PENDING_SENDS: usize = 256;

pub async fn serve(socket: WebSocket, chat: Chat, session: Session) {
    let span = tracing::info_span!("ws", user.id = session.user_id.get());
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
            let reason = match e {
                // The session ended (its user deactivated) since the upgrade checked it.
                ChatError::Unauthenticated => CloseReason::LOGGED_OUT,
                _ => CloseReason {
                    code: 1011,
                    reason: "cannot start the session",
                },
            };
            let _ = connection::close(&mut sink, reason).await;
            return;
        }
    };
    tracing::info!("connected");
    let mut conn = Connection::new(
        &chat,
        &session,
        registration.id,
        sink,
        SeenMessages::after_hello(hello.position),
    );
    let mut pending: VecDeque<InFlight> = VecDeque::new();
    let ping_every = chat.limits().ws_ping;
    // When the client was last heard from: read on every frame, as cheap as a clock
    // read, while the timer below is only moved when it fires.
    let mut heard = Instant::now();
    let silence = tokio::time::sleep(ping_every);
    tokio::pin!(silence);
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
            () = &mut silence => Box::pin(silent(&mut conn, silence.as_mut(), heard, ping_every)).await,
            // Boxed, each handler's future takes heap only while it runs; inline, every
            // idle socket's task would carry the largest of them for its whole life.
            Some(delivery) = registration.deliveries.recv() => Box::pin(deliver(&mut conn, delivery)).await,
            answer = oldest_answer(&mut pending), if !pending.is_empty() => {
                Box::pin(commands::answered(&mut conn, answer)).await
            }
            incoming = stream.next(), if pending.len() < MAX_PENDING_SENDS => {
                heard = Instant::now();
                Box::pin(receive(&mut conn, incoming, &mut pending)).await
            }
        };
        open = match step {
            Ok(()) => Box::pin(write_ready(
                &mut conn,
                &mut registration.deliveries,
                &mut pending,
            ))
            .await
            .is_ok(),
            Err(Gone) => false,
        };
    }
    Box::pin(chat.disconnect(registration)).await;
    tracing::info!("disconnected");
}

/// The silence timer fired: a client quiet for one interval is pinged, and one quiet
/// for two (no pong either) is closed; one heard from since is given its interval
/// again.
async fn silent(
    conn: &mut Connection<'_>,
    timer: Pin<&mut Sleep>,
    heard: Instant,
    every: Duration,
) -> Result<(), Gone> {
    let quiet = heard.elapsed();
    if quiet >= every * 2 {
        return Err(conn.close(CloseReason::NO_PONG).await);
    }
    if quiet >= every {
        timer.reset(heard + every * 2);
        return conn.ping().await;
    }
    timer.reset(heard + every);
    Ok(())
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

/// Writes the deliveries and the answers that are already there, then flushes
/// once: the engine commits and answers in batches, so several are usually ready
/// at once, and one `send` syscall carries them all.
async fn write_ready(
    conn: &mut Connection<'_>,
    deliveries: &mut tokio::sync::mpsc::Receiver<Arc<Delivery>>,
    pending: &mut VecDeque<InFlight>,
) -> Result<(), Gone> {
    while conn.has_unflushed() {
        if let Ok(delivery) = deliveries.try_recv() {
            deliver(conn, delivery).await?;
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
        Box::pin(commands::answered(conn, (send, outcome))).await?;
    }
    conn.flush().await
}

/// Forwards an event from the hub, unless this socket already showed that change.
async fn deliver(conn: &mut Connection<'_>, delivery: Arc<Delivery>) -> Result<(), Gone> {
    if let Some(position) = delivery.position
        && !conn.seen.show_live(position)
    {
        return Ok(());
    }
    conn.write_shared(delivery.text.clone()).await
}

/// Handles what the client sent; `Err` when the socket is done.
async fn receive(
    conn: &mut Connection<'_>,
    incoming: Option<Result<WsMessage, axum::Error>>,
    pending: &mut VecDeque<InFlight>,
) -> Result<(), Gone> {
    match incoming {
        Some(Ok(WsMessage::Text(text))) => commands::handle(conn, &text, pending).await,
        Some(Ok(WsMessage::Binary(_))) => {
            conn.error(None, "bad_frame", "frames are JSON text, not binary", None)
                .await
        }
        Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => Ok(()),
        Some(Ok(WsMessage::Close(_))) | None => Err(Gone),
        Some(Err(e)) => {
            tracing::debug!(error = %e, "socket read failed");
            if let Some(reason) = close_reason(&e) {
                conn.close_quietly(reason).await;
            }
            Err(Gone)
        }
    }
}

/// How long from now until a Unix time (in seconds); zero if it has passed.
fn until(unix_secs: i64) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(u64::try_from(unix_secs).unwrap_or(0)).saturating_sub(now)
}

/// The close frame a failed read earns: the client's frame was over the size limit,
/// or text that is not UTF-8. Anything else is a broken link, with no one to tell.
fn close_reason(error: &axum::Error) -> Option<CloseReason> {
    use std::error::Error;
    match error.source()?.downcast_ref::<tungstenite::Error>()? {
        tungstenite::Error::Capacity(_) => Some(CloseReason::TOO_LARGE),
        tungstenite::Error::Utf8(_) => Some(CloseReason::NOT_UTF8),
        _ => None,
    }
}

//! What each client command does: the dispatch from a parsed frame to `chat::Chat`
//! and the reply frame that answers it.
//!
//! As in mini-redis, where `connection.rs` only moves frames and each command in
//! `cmd/` applies itself and writes its answer, the connection knows no command and
//! the socket loop (`socket.rs`) runs none itself: it hands each text frame to
//! [`handle`] and each committed send to [`answered`], and these write their frames
//! through the connection, which batches them until the loop flushes. A `send` is
//! only queued here: its [`InFlight`] goes back to the loop, which keeps up to 256 in
//! flight and answers them in order; every other command runs to its end before the
//! loop reads the next frame.
//!
//! A refused command is answered with an `error` frame carrying its `req`; only a
//! dead socket ([`Gone`]) ends the loop.

use std::collections::VecDeque;

use serde_json::value::RawValue;

use super::{
    connection::{Connection, Gone},
    frames::{self, Command, Reply},
};
use crate::{
    chat::{ChatError, Outgoing, PendingSend, SendOutcome, SendTo},
    ids::Position,
};

/// A send handed to the engine, waiting for its commit.
pub(super) struct InFlight {
    req: Option<Box<RawValue>>,
    txn_id: Option<String>,
    /// Polled by the loop, which answers the oldest send first.
    pub(super) answer: PendingSend,
}

/// Handles one text frame. A bad frame or a refused command is answered with an
/// `error` frame and changes nothing; only a dead socket ends the loop.
pub(super) async fn handle(
    conn: &mut Connection<'_>,
    text: &str,
    pending: &mut VecDeque<InFlight>,
) -> Result<(), Gone> {
    let (req, command) = match frames::parse(text) {
        Ok(parsed) => parsed,
        Err(bad) => {
            return conn
                .error(bad.req.as_deref(), bad.code, &bad.message, None)
                .await;
        }
    };
    if let Command::Send(send) = command {
        let queued = match SendTo::parse(send.conversation_id, send.to_user) {
            Ok(to) => {
                Box::pin(conn.chat.queue_send(
                    conn.session,
                    to,
                    Outgoing {
                        body: send.body.as_deref().unwrap_or_default(),
                        txn_id: send.txn_id.as_deref(),
                        reply_to: send.reply_to,
                        media_id: send.media_id.as_deref(),
                    },
                    Some(conn.id),
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
            Err(e) => refused(conn, req.as_deref(), &e).await,
        };
    }
    let req = req.as_deref();
    match Box::pin(execute(conn, req, command)).await {
        Ok(()) => Ok(()),
        Err(Failure::Gone) => Err(Gone),
        Err(Failure::Chat(e)) => refused(conn, req, &e).await,
    }
}

/// Every command but `send`, run to its end: the call of `chat` and its reply frame.
async fn execute(
    conn: &mut Connection<'_>,
    req: Option<&RawValue>,
    command: Command,
) -> Result<(), Failure> {
    let (chat, me) = (conn.chat, conn.session);
    match command {
        Command::Send(_) => unreachable!("sends are pipelined by `handle`"),
        Command::Read(read) => {
            let marker = chat
                .read(me, read.conversation_id, read.up_to_seq, Some(conn.id))
                .await?;
            if marker.moved {
                let reply = Reply::Unread {
                    req,
                    unread: &marker.unread,
                };
                conn.write(reply.to_json()).await?;
            }
        }
        Command::Open(open) => {
            let (conversation, created) = chat.open_conversation(me, open.user_id).await?;
            let reply = Reply::Conversation {
                req,
                conversation: &conversation,
                created,
            };
            conn.write(reply.to_json()).await?;
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
            conn.write(reply.to_json()).await?;
        }
        Command::Typing(typing) => {
            chat.typing(me, typing.conversation_id, typing.typing)
                .await?
        }
        Command::Resume(resume) => replay(conn, req, resume.since).await?,
        Command::Edit(edit) => {
            let message = chat
                .edit_message(me, edit.conversation_id, edit.seq, &edit.body)
                .await?;
            let reply = Reply::Edited {
                req,
                message: &message,
            };
            conn.write(reply.to_json()).await?;
        }
        Command::Delete(delete) => {
            chat.delete_message(me, delete.conversation_id, delete.seq)
                .await?;
            let reply = Reply::Deleted {
                req,
                conversation_id: delete.conversation_id,
                seq: delete.seq,
            };
            conn.write(reply.to_json()).await?;
        }
        Command::React(react) => {
            chat.react(me, react.conversation_id, react.seq, &react.key, react.on)
                .await?;
            let reply = Reply::Reacted {
                req,
                conversation_id: react.conversation_id,
                seq: react.seq,
                key: &react.key,
                on: react.on,
            };
            conn.write(reply.to_json()).await?;
        }
        Command::Ping => conn.write(Reply::Pong { req }.to_json()).await?,
    }
    Ok(())
}

/// Writes the replay `chat` makes, then the unread summary (which carries the
/// `req`).
async fn replay(
    conn: &mut Connection<'_>,
    req: Option<&RawValue>,
    since: Position,
) -> Result<(), Failure> {
    let (chat, me) = (conn.chat, conn.session);
    let mut replay = chat.replay(me, since);
    while let Some(events) = replay.next(&mut conn.seen).await? {
        for event in events {
            conn.write_shared(event.delivery().text).await?;
        }
    }
    let unread = chat.unread(me).await?;
    conn.write(
        Reply::Unread {
            req,
            unread: &unread,
        }
        .to_json(),
    )
    .await?;
    Ok(())
}

/// Answers a send once the engine has committed it (or refused it).
pub(super) async fn answered(
    conn: &mut Connection<'_>,
    (send, outcome): (InFlight, Result<SendOutcome, ChatError>),
) -> Result<(), Gone> {
    let req = send.req.as_deref();
    let result = match outcome {
        Ok(outcome) => Box::pin(conn.chat.sent(conn.session, outcome)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((message, _new)) => {
            let reply = Reply::Sent {
                req,
                txn_id: send.txn_id.as_deref(),
                message: &message,
            };
            conn.write(reply.to_json()).await
        }
        Err(e) => refused(conn, req, &e).await,
    }
}

/// A refused command's `error` frame; an internal cause is logged here, never shown.
async fn refused(
    conn: &mut Connection<'_>,
    req: Option<&RawValue>,
    e: &ChatError,
) -> Result<(), Gone> {
    if let ChatError::Internal(cause) = e {
        tracing::error!(error = ?cause, "command failed");
    }
    conn.error(req, e.code(), &e.to_string(), e.retry_after_secs())
        .await
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

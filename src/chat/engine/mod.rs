//! The message engine: one writer task per node that owns every change others must
//! hear about (a message, a read marker, a new conversation).
//!
//! Transports hand it owned commands over a bounded queue. It takes whatever is
//! queued, up to `limits.writer_batch`, and commits it in one transaction (group
//! commit: one fsync carries the whole batch). Only after that commit does it emit the
//! [`Committed`] events, in commit order, and answer each command. Emitting and
//! answering is a second stage, the publisher, on the async runtime: the writer's
//! thread hands it each committed batch and goes on with the next one.
//!
//! - Everything a command can be refused for (a conversation the sender is not in, a
//!   missing user) is checked before the transaction, so a bad command fails alone and
//!   never its batch.
//! - `seq` is assigned here, from one `UPDATE … RETURNING` per conversation per batch.
//! - So is every change's position (`store::BatchWriter::positions`): a message's id,
//!   and the position of each edit, delete, reaction, marker and name in
//!   `change_log`. One writer commits one batch at a time, so positions commit in
//!   order and a reader that has seen a position has seen every lower one. Events go
//!   out sorted by position. On PostgreSQL, where several nodes' writers share the
//!   database, each batch first takes its turn (`BatchWriter::turn`), so their
//!   batches too commit one after another.
//! - `txn_id` idempotency is exact within a batch (the first command wins, the later
//!   ones get its message) and across batches: the insert skips a stored `txn_id`
//!   instead of failing (which on PostgreSQL would abort the whole transaction), and
//!   then the batch runs again without that send, so `seq`s stay gapless, and the send
//!   is answered with the original. Retries are rare, so the usual batch reads nothing
//!   to find them.
//! - With SQLite and `durability: full`, a batch's fsync runs on a third thread (see
//!   `store::WalSync`), so the writer goes on with the next batch while the disk
//!   syncs; answers and events still wait for it.
//! - No lock is held across an `.await` of the database: the writer is the only one
//!   that writes these rows, so it needs none. It runs on its own thread and talks to
//!   the database synchronously through a [`BatchWriter`] (on SQLite, its own
//!   connection with cached statements), so a batch costs one thread hop each way,
//!   not one per statement.
//!
//! Members of a conversation never change, so the writer caches them (and the
//! conversation of each pair) and checks most commands without reading anything.
//!
//! One batch, file by file:
//!
//! ```text
//!  Engine (this file): commands over a bounded queue
//!    │
//!    ▼  writer.rs: one thread, takes up to `writer_batch` queued commands
//!  BEGIN ─▶ cache.rs: load conversations unknown to the MemberCache, then the missing peers
//!        ─▶ plan.rs: resolve and check each command (refused ones are answered at once)
//!        ─▶ transact.rs: new conversations, positions and seqs, insert, edits,
//!                        deletes, reactions (drafts.rs), markers, names, the change
//!                        log, the hooks' rows ─▶ COMMIT (a stored txn_id: roll back,
//!                        run again)
//!        ─▶ answer.rs: each command's answer (stored originals read in one query)
//!    │
//!    ▼  stages.rs: the WAL sync (SQLite, `durability: full`), then the publisher:
//!       committed.rs events to the subscribers and the broadcast, then the answers
//! ```

mod answer;
mod cache;
pub mod committed;
mod drafts;
mod plan;
mod stages;
#[cfg(test)]
mod tests;
mod transact;
mod writer;

use std::sync::{Arc, OnceLock};

use tokio::sync::{broadcast, mpsc, oneshot};

use super::{ChatError, views::Posted};
use crate::{
    hub::ConnectionId,
    ids::{ConversationId, Seq, UserId},
    store::{Attachment, MessageKind, MessageRow, Store, StoreError, UserRow},
};

/// What a delete came to.
#[derive(Debug, Clone)]
pub struct DeleteOutcome {
    /// The other member of the conversation.
    pub peer_id: UserId,
    /// Whether the peer had not read it: their unread count dropped by one.
    pub was_unread: bool,
    /// The upload the message carried: to be removed unless another message carries it.
    pub released_media: Option<String>,
}

/// Where an edit's answer goes: the message as it is now.
type EditReply = oneshot::Sender<Result<Arc<Posted>, ChatError>>;

/// Where a delete's answer goes.
type DeleteReply = oneshot::Sender<Result<DeleteOutcome, ChatError>>;

/// Where a reaction's answer goes: whether it changed anything.
type ReactReply = oneshot::Sender<Result<bool, ChatError>>;
use committed::{BatchOrder, Committed, Subscriber, TxnHook};
use writer::Writer;

/// How many batches a slow broadcast subscriber may fall behind before it lags.
const BROADCAST_BATCHES: usize = 1024;

/// Where a message goes: an existing conversation, or the direct conversation with a
/// user (opened on the way if it does not exist yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendTo {
    Conversation(ConversationId),
    User(UserId),
}

impl SendTo {
    /// The target of a send that names either a conversation or a user, never both.
    pub fn parse(conversation_id: Option<i64>, to_user: Option<i64>) -> Result<Self, ChatError> {
        match (conversation_id, to_user) {
            (Some(id), None) => Ok(Self::Conversation(ConversationId::new(id))),
            (None, Some(user)) => Ok(Self::User(UserId::new(user))),
            _ => Err(ChatError::invalid(
                "conversation_id",
                "give either conversation_id or to_user",
            )),
        }
    }
}

/// What a send came to.
#[derive(Debug, Clone)]
pub enum SendOutcome {
    /// Committed now; delivered to the recipient and the sender's other sockets.
    New(Arc<Posted>),
    /// Sent twice in one batch: the first send's message, committed now.
    Repeat(Arc<Posted>),
    /// The sender already stored this `txn_id`: the first message, unchanged.
    Duplicate(Box<MessageRow>),
}

/// What a read came to.
#[derive(Debug, Clone, Copy)]
pub struct ReadOutcome {
    /// The new marker, when it moved.
    pub moved_to: Option<Seq>,
    pub peer_id: UserId,
}

/// Where a send's answer goes.
type SendReply = oneshot::Sender<Result<SendOutcome, ChatError>>;

/// Where a read's answer goes.
type ReadReply = oneshot::Sender<Result<ReadOutcome, ChatError>>;

/// Where an open's answer goes: the conversation, and whether this opened it.
type OpenReply = oneshot::Sender<Result<(ConversationId, bool), ChatError>>;

/// A command for the writer. Everything is owned: it crosses a channel.
pub(crate) enum Command {
    Send {
        sender_id: UserId,
        to: SendTo,
        body: String,
        txn_id: Option<String>,
        /// A person's message, or the bridge's notice in the sender's name.
        kind: MessageKind,
        /// An earlier message of the conversation (checked before it is queued).
        reply_to: Option<Seq>,
        /// The file it carries (checked before it is queued).
        attachment: Option<Attachment>,
        origin: Option<ConnectionId>,
        reply: SendReply,
    },
    /// A new body, already checked (`MessageBody`), for the sender's own message.
    Edit {
        user_id: UserId,
        conversation_id: ConversationId,
        seq: Seq,
        body: String,
        reply: EditReply,
    },
    Delete {
        user_id: UserId,
        conversation_id: ConversationId,
        seq: Seq,
        reply: DeleteReply,
    },
    /// A reaction key (already checked: `ReactionKey`) added or taken back.
    React {
        user_id: UserId,
        conversation_id: ConversationId,
        seq: Seq,
        key: String,
        on: bool,
        reply: ReactReply,
    },
    Read {
        user_id: UserId,
        conversation_id: ConversationId,
        up_to_seq: Option<Seq>,
        origin: Option<ConnectionId>,
        reply: ReadReply,
    },
    Open {
        user_id: UserId,
        peer_id: UserId,
        reply: OpenReply,
    },
    /// A new display name, already checked (`DisplayName`).
    Profile {
        user_id: UserId,
        display_name: String,
        reply: ProfileReply,
    },
    /// Commands committed in one batch together with `key`, which is stored with
    /// them: a group whose key is stored was applied, all of it (a Matrix
    /// transaction, whose id is the key). Each command is answered as on its own;
    /// `reply` once the batch is committed.
    Group {
        key: String,
        commands: Vec<Command>,
        reply: GroupReply,
    },
    /// A group's key, last in the batch that carries the group (see [`unpack`]).
    GroupKey { key: String, reply: GroupReply },
}

/// Where a group's answer goes.
type GroupReply = oneshot::Sender<Result<(), ChatError>>;

/// Where a profile change's answer goes: the user as stored now.
type ProfileReply = oneshot::Sender<Result<UserRow, ChatError>>;

/// The handle every transport holds; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    queue: mpsc::Sender<Command>,
    events: broadcast::Sender<Arc<[Committed]>>,
    /// The cluster's order, once this node joined one (see [`BatchOrder`]).
    order: Arc<OnceLock<Arc<dyn BatchOrder>>>,
}

/// How the engine is put together.
pub struct EngineConfig {
    /// The most commands one transaction commits.
    pub batch: usize,
    /// Commands that may wait for the writer before senders wait.
    pub queue: usize,
    pub subscribers: Vec<Arc<dyn Subscriber>>,
    pub hooks: Vec<Arc<dyn TxnHook>>,
}

/// Resolves once the writer has stopped; an error means it panicked.
pub type WriterStopped = oneshot::Receiver<()>;

impl Engine {
    /// Starts the writer on its own thread. It stops once every handle is dropped and
    /// its queue is drained; the returned receiver resolves then. Call it inside the
    /// runtime: the publisher runs there, and so do PostgreSQL's statements.
    pub fn start(store: &Store, config: EngineConfig) -> Result<(Self, WriterStopped), StoreError> {
        let (engine, writer) = Self::new(store, config)?;
        let (stopped, on_stop) = oneshot::channel();
        std::thread::Builder::new()
            .name("gadka-writer".into())
            .spawn(move || {
                writer.run();
                let _ = stopped.send(());
            })
            .map_err(|_| StoreError::Inconsistent("cannot start the message writer's thread"))?;
        Ok((engine, on_stop))
    }

    fn new(store: &Store, config: EngineConfig) -> Result<(Self, Writer), StoreError> {
        let (queue, commands) = mpsc::channel(config.queue.max(1));
        let (events, _) = broadcast::channel(BROADCAST_BATCHES);
        let (published, batches) = mpsc::unbounded_channel();
        let order = Arc::new(OnceLock::new());
        tokio::spawn(stages::publish(
            batches,
            config.subscribers,
            events.clone(),
            order.clone(),
        ));
        let mut db = store.batch_writer()?;
        let (published, sync_stage) = match db.take_wal_sync()? {
            Some(wal) => {
                let (committed, to_sync) = mpsc::unbounded_channel();
                let stage = std::thread::Builder::new()
                    .name("gadka-sync".into())
                    .spawn(move || stages::sync_stage(wal, to_sync, published))
                    .map_err(|_| StoreError::Inconsistent("cannot start the WAL's sync thread"))?;
                (committed, Some(stage))
            }
            None => (published, None),
        };
        let writer = Writer::new(
            db,
            commands,
            config.batch,
            config.hooks,
            published,
            sync_stage,
        );
        Ok((
            Self {
                queue,
                events,
                order,
            },
            writer,
        ))
    }

    /// Joins this node's batches to the cluster's order; before any command is
    /// queued (a batch committed before it would go out unordered).
    pub fn join_order(&self, order: Arc<dyn BatchOrder>) {
        if self.order.set(order).is_err() {
            tracing::error!("the engine joined a cluster's order twice");
        }
    }

    /// Every later commit's events, in commit order, one slice per batch.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<[Committed]>> {
        self.events.subscribe()
    }

    /// Queues the command `make` builds around its reply channel; waits only while
    /// the queue is full. The receiver resolves once the batch is committed.
    pub(crate) async fn submit<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, ChatError>>) -> Command,
    ) -> Result<oneshot::Receiver<Result<T, ChatError>>, ChatError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(make(reply))
            .await
            .map_err(|_| ChatError::Internal(anyhow::anyhow!("the message writer has stopped")))?;
        Ok(answer)
    }

    /// [`Engine::submit`], then waits for the answer.
    pub(crate) async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, ChatError>>) -> Command,
    ) -> Result<T, ChatError> {
        answered(self.submit(make).await?.await)
    }
}

/// The writer's answer, or why there is none.
pub(crate) fn answered<T>(
    answer: Result<Result<T, ChatError>, oneshot::error::RecvError>,
) -> Result<T, ChatError> {
    answer.unwrap_or_else(|_| {
        Err(ChatError::Internal(anyhow::anyhow!(
            "the message writer dropped a command"
        )))
    })
}

fn lost(what: &'static str) -> ChatError {
    ChatError::Internal(anyhow::anyhow!(what))
}

/// The error every command of a failed batch gets; logged once.
fn batch_failed(e: &StoreError) -> ChatError {
    if e.is_unreachable() {
        tracing::warn!(error = %e, "a batch failed: the database does not answer");
        return ChatError::Unavailable;
    }
    tracing::error!(error = %e, "a batch failed");
    ChatError::Internal(anyhow::anyhow!("the batch failed: {e}"))
}

/// A copy of an internal error for one more command (`ChatError` is not `Clone`).
fn again(error: &ChatError) -> ChatError {
    match error {
        ChatError::Unavailable => ChatError::Unavailable,
        _ => ChatError::Internal(anyhow::anyhow!("{error}")),
    }
}

impl Command {
    fn fail(self, error: &ChatError) {
        match self {
            Self::Send { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::Read { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::Open { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::Profile { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::Edit { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::Delete { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::React { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::GroupKey { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::Group {
                commands, reply, ..
            } => {
                for command in commands {
                    command.fail(error);
                }
                drop(reply.send(Err(again(error))));
            }
        }
    }
}

/// Adds a command to a batch; a group's commands go in together, followed by its
/// key, so a group is never split between two batches (a batch may run over its
/// size by one group).
fn unpack(command: Command, batch: &mut Vec<Command>) {
    match command {
        Command::Group {
            key,
            commands,
            reply,
        } => {
            batch.extend(commands);
            batch.push(Command::GroupKey { key, reply });
        }
        other => batch.push(other),
    }
}

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

use std::{
    collections::{HashMap, hash_map::Entry},
    sync::Arc,
    time::Instant,
};

use tokio::sync::{broadcast, mpsc, oneshot};

use super::{
    ChatError, SendTo,
    committed::{Committed, Subscriber, TxnHook},
    now_ms,
    views::{Message, Posted},
};
use crate::{
    hub::ConnectionId,
    store::{
        BatchWriter, MessageRow, NewMessage, OutboxEntry, Store, StoreError, UserRow, WalSync,
    },
};

/// How many batches a slow broadcast subscriber may fall behind before it lags.
const BROADCAST_BATCHES: usize = 1024;

/// Cached conversations above this are forgotten all at once (they are re-read on need).
const CACHE_ENTRIES: usize = 200_000;

/// What a send came to.
#[derive(Debug, Clone)]
pub enum SendOutcome {
    /// Committed now; delivered to the recipient and the sender's other sockets.
    New(Arc<Posted>),
    /// Sent twice in one batch: the first send's message, committed now.
    Repeat(Arc<Posted>),
    /// The sender already stored this `txn_id`: the first message, unchanged.
    Duplicate(MessageRow),
}

/// What a read came to.
#[derive(Debug, Clone, Copy)]
pub struct ReadOutcome {
    /// The new marker, when it moved.
    pub moved_to: Option<i64>,
    pub peer_id: i64,
}

/// Where a send's answer goes.
type SendReply = oneshot::Sender<Result<SendOutcome, ChatError>>;

/// A command for the writer. Everything is owned: it crosses a channel.
pub(crate) enum Command {
    Send {
        sender_id: i64,
        to: SendTo,
        body: String,
        txn_id: Option<String>,
        origin: Option<ConnectionId>,
        reply: SendReply,
    },
    Read {
        user_id: i64,
        conversation_id: i64,
        up_to_seq: Option<i64>,
        origin: Option<ConnectionId>,
        reply: oneshot::Sender<Result<ReadOutcome, ChatError>>,
    },
    Open {
        user_id: i64,
        peer_id: i64,
        reply: oneshot::Sender<Result<(i64, bool), ChatError>>,
    },
    /// A new display name, already checked (`DisplayName`).
    Profile {
        user_id: i64,
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
        tokio::spawn(publish(batches, config.subscribers, events.clone()));
        let mut db = store.batch_writer()?;
        let (published, sync_stage) = match db.take_wal_sync()? {
            Some(wal) => {
                let (committed, to_sync) = mpsc::unbounded_channel();
                let stage = std::thread::Builder::new()
                    .name("gadka-sync".into())
                    .spawn(move || sync_stage(wal, to_sync, published))
                    .map_err(|_| StoreError::Inconsistent("cannot start the WAL's sync thread"))?;
                (committed, Some(stage))
            }
            None => (published, None),
        };
        let writer = Writer {
            db,
            sync_stage,
            commands,
            batch: config.batch.max(1),
            hooks: config.hooks,
            published,
            members: HashMap::new(),
            pairs: HashMap::new(),
        };
        Ok((Self { queue, events }, writer))
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

struct Writer {
    db: Box<dyn BatchWriter>,
    commands: mpsc::Receiver<Command>,
    batch: usize,
    hooks: Vec<Arc<dyn TxnHook>>,
    /// Committed batches, to the publisher (through the sync stage, when there is
    /// one). Unbounded, yet bounded in practice: each entry answers commands that
    /// senders are still waiting for, and every sender has a bounded number of those
    /// in flight.
    published: mpsc::UnboundedSender<Outgoing>,
    /// The thread that makes committed batches durable before they go out, where a
    /// commit is not durable by itself (see `store::WalSync`).
    sync_stage: Option<std::thread::JoinHandle<()>>,
    /// conversation → (low, high) member ids.
    members: HashMap<i64, (i64, i64)>,
    /// (low, high) → conversation.
    pairs: HashMap<(i64, i64), i64>,
}

/// Where a command's conversation comes from, once resolved.
#[derive(Debug, Clone, Copy)]
enum Target {
    Existing(i64),
    /// The pair has no conversation yet: this batch creates it.
    New((i64, i64)),
}

/// A command checked and ready for the transaction.
enum Planned {
    Send {
        target: Target,
        sender_id: i64,
        recipient_id: i64,
        body: String,
        txn_id: Option<String>,
        origin: Option<ConnectionId>,
        reply: SendReply,
    },
    /// Same sender and `txn_id` as an earlier send of this batch (its index).
    SameAs { first: usize, reply: SendReply },
    Read {
        conversation_id: i64,
        user_id: i64,
        peer_id: i64,
        up_to_seq: Option<i64>,
        origin: Option<ConnectionId>,
        reply: oneshot::Sender<Result<ReadOutcome, ChatError>>,
    },
    Open {
        target: Target,
        reply: oneshot::Sender<Result<(i64, bool), ChatError>>,
    },
    Profile {
        user_id: i64,
        display_name: String,
        reply: ProfileReply,
    },
    /// A group's key, stored with the batch.
    GroupKey { key: String, reply: GroupReply },
}

/// What the transaction did for one planned command.
enum Done {
    Sent(Arc<Posted>),
    /// The sender's `txn_id` was stored before: the send is answered with the original.
    StoredBefore,
    Read(Option<i64>),
    Opened,
    /// The user as stored now; `None` when there is no such user.
    Profile(Option<UserRow>),
    /// A group's key is stored.
    Grouped,
    Nothing,
}

impl Writer {
    fn run(mut self) {
        let mut commands = Vec::with_capacity(self.batch);
        while let Some(first) = self.commands.blocking_recv() {
            unpack(first, &mut commands);
            while commands.len() < self.batch {
                match self.commands.try_recv() {
                    Ok(command) => unpack(command, &mut commands),
                    Err(_) => break,
                }
            }
            metrics::gauge!("gadka_writer_queue_depth").set(self.commands.len() as f64);
            metrics::histogram!("gadka_writer_batch_size").record(commands.len() as f64);
            let started = Instant::now();
            self.run_batch(std::mem::take(&mut commands));
            metrics::histogram!("gadka_writer_commit_seconds")
                .record(started.elapsed().as_secs_f64());
        }
        // The last batches are answered once the sync stage has synced them.
        let Writer {
            published,
            sync_stage,
            ..
        } = self;
        drop(published);
        if let Some(stage) = sync_stage
            && stage.join().is_err()
        {
            tracing::error!("the WAL's sync thread panicked");
        }
        tracing::debug!("message writer stopped");
    }

    /// One transaction: the reads the plan needs, the plan, the writes, the commit;
    /// then the events and the answers.
    fn run_batch(&mut self, commands: Vec<Command>) {
        let reads = self.db.begin().and_then(|()| {
            self.load_conversations(&commands)?;
            self.missing_peers(&commands)
        });
        let missing_peers = match reads {
            Ok(found) => found,
            Err(e) => {
                self.db.rollback();
                let error = batch_failed(&e);
                for command in commands {
                    command.fail(&error);
                }
                return;
            }
        };
        let planned = self.plan(commands, &missing_peers);
        let now = now_ms();
        let mut created = HashMap::new();
        // Sends whose `txn_id` turned out to be stored already: the batch is run again
        // without them, so that `seq`s stay gapless, and they are answered with the
        // original. Each round takes out at least one, so this ends.
        let mut stored_before = Vec::new();
        let outcome = loop {
            match self.transact(&planned, now, &mut created, &stored_before) {
                Ok(Attempt::Conflicted(more)) => {
                    self.db.rollback();
                    created.clear();
                    stored_before.extend(more);
                    if let Err(e) = self.db.begin() {
                        break Err(e);
                    }
                }
                Ok(Attempt::Committed(done, events)) => break Ok((done, events)),
                Err(e) => break Err(e),
            }
        };
        match outcome {
            Ok((done, events)) => {
                for (pair, id) in &created {
                    self.remember(*id, *pair);
                }
                let answers = self.answers(planned, done, &created);
                // The publisher outlives the writer (it stops when this sender is
                // dropped), so this only fails while the runtime shuts down.
                let _ = self.published.send(Outgoing { events, answers });
            }
            Err(e) => {
                self.db.rollback();
                let error = batch_failed(&e);
                for p in planned {
                    p.fail(&error);
                }
            }
        }
    }

    /// Reads the members of conversations and the conversations of pairs that the
    /// cache does not know yet: at most two queries.
    fn load_conversations(&mut self, commands: &[Command]) -> Result<(), StoreError> {
        let mut ids = Vec::new();
        let mut pairs = Vec::new();
        for command in commands {
            match command {
                Command::Send {
                    to: SendTo::Conversation(id),
                    ..
                }
                | Command::Read {
                    conversation_id: id,
                    ..
                } => {
                    if !self.members.contains_key(id) {
                        ids.push(*id);
                    }
                }
                Command::Send {
                    sender_id,
                    to: SendTo::User(peer),
                    ..
                } => pairs.extend(pair(*sender_id, *peer)),
                Command::Open {
                    user_id, peer_id, ..
                } => pairs.extend(pair(*user_id, *peer_id)),
                Command::Profile { .. } | Command::Group { .. } | Command::GroupKey { .. } => {}
            }
        }
        pairs.retain(|p| !self.pairs.contains_key(p));
        pairs.sort_unstable();
        pairs.dedup();
        if self.members.len() + ids.len() + pairs.len() > CACHE_ENTRIES {
            self.members.clear();
            self.pairs.clear();
        }
        if !ids.is_empty() {
            ids.sort_unstable();
            ids.dedup();
            for (id, low, high) in self.db.conversation_members(&ids)? {
                self.remember(id, (low, high));
            }
        }
        if !pairs.is_empty() {
            for (id, low, high) in self.db.conversations_of_pairs(&pairs)? {
                self.remember(id, (low, high));
            }
        }
        Ok(())
    }

    /// The peers of pairs without a conversation that do not exist (one query).
    fn missing_peers(&mut self, commands: &[Command]) -> Result<Vec<i64>, StoreError> {
        let mut peers: Vec<i64> = commands
            .iter()
            .filter_map(|command| match command {
                Command::Send {
                    sender_id,
                    to: SendTo::User(peer),
                    ..
                } => Some((*sender_id, *peer)),
                Command::Open {
                    user_id, peer_id, ..
                } => Some((*user_id, *peer_id)),
                _ => None,
            })
            .filter(|(me, peer)| pair(*me, *peer).is_some_and(|p| !self.pairs.contains_key(&p)))
            .map(|(_, peer)| peer)
            .collect();
        if peers.is_empty() {
            return Ok(Vec::new());
        }
        peers.sort_unstable();
        peers.dedup();
        let existing = self.db.existing_users(&peers)?;
        peers.retain(|p| !existing.contains(p));
        Ok(peers)
    }

    fn remember(&mut self, id: i64, members: (i64, i64)) {
        self.members.insert(id, members);
        self.pairs.insert(members, id);
    }

    /// Resolves each command's conversation and refuses what the rules refuse; the
    /// refused are answered at once.
    fn plan(&self, commands: Vec<Command>, missing_peers: &[i64]) -> Vec<Planned> {
        let mut planned = Vec::with_capacity(commands.len());
        let mut first_of_txn: HashMap<(i64, String), usize> = HashMap::new();
        for command in commands {
            match command {
                Command::Send {
                    sender_id,
                    to,
                    body,
                    txn_id,
                    origin,
                    reply,
                } => {
                    let resolved = match to {
                        SendTo::Conversation(id) => self.member_of(id, sender_id),
                        SendTo::User(peer) => self.pair_target(sender_id, peer, missing_peers),
                    };
                    let (target, recipient_id) = match resolved {
                        Ok(found) => found,
                        Err(e) => {
                            let _ = reply.send(Err(e));
                            continue;
                        }
                    };
                    if let Some(txn) = &txn_id {
                        match first_of_txn.entry((sender_id, txn.clone())) {
                            Entry::Occupied(first) => {
                                planned.push(Planned::SameAs {
                                    first: *first.get(),
                                    reply,
                                });
                                continue;
                            }
                            Entry::Vacant(slot) => {
                                slot.insert(planned.len());
                            }
                        }
                    }
                    planned.push(Planned::Send {
                        target,
                        sender_id,
                        recipient_id,
                        body,
                        txn_id,
                        origin,
                        reply,
                    });
                }
                Command::Read {
                    user_id,
                    conversation_id,
                    up_to_seq,
                    origin,
                    reply,
                } => match self.member_of(conversation_id, user_id) {
                    Ok((_, peer_id)) => planned.push(Planned::Read {
                        conversation_id,
                        user_id,
                        peer_id,
                        up_to_seq,
                        origin,
                        reply,
                    }),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                },
                Command::Open {
                    user_id,
                    peer_id,
                    reply,
                } => match self.pair_target(user_id, peer_id, missing_peers) {
                    Ok((target, _)) => planned.push(Planned::Open { target, reply }),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                },
                Command::Profile {
                    user_id,
                    display_name,
                    reply,
                } => planned.push(Planned::Profile {
                    user_id,
                    display_name,
                    reply,
                }),
                Command::GroupKey { key, reply } => planned.push(Planned::GroupKey { key, reply }),
                // Opened by `unpack` before any batch; one that was not is refused.
                Command::Group { reply, .. } => {
                    let _ = reply.send(Err(lost("a group reached the writer unopened")));
                }
            }
        }
        planned
    }

    /// The conversation and the other member, if `user_id` is a member. One the user is
    /// not in is "not found", exactly like one that does not exist.
    fn member_of(&self, conversation_id: i64, user_id: i64) -> Result<(Target, i64), ChatError> {
        match self.members.get(&conversation_id) {
            Some(&(low, high)) if low == user_id => Ok((Target::Existing(conversation_id), high)),
            Some(&(low, high)) if high == user_id => Ok((Target::Existing(conversation_id), low)),
            _ => Err(ChatError::NotFound("conversation")),
        }
    }

    /// The direct conversation of `me` and `peer`, existing or to create.
    fn pair_target(
        &self,
        me: i64,
        peer: i64,
        missing_peers: &[i64],
    ) -> Result<(Target, i64), ChatError> {
        let Some(key) = pair(me, peer) else {
            return Err(ChatError::invalid(
                "user_id",
                "a conversation needs another user",
            ));
        };
        if let Some(id) = self.pairs.get(&key) {
            return Ok((Target::Existing(*id), peer));
        }
        if missing_peers.contains(&peer) {
            return Err(ChatError::NotFound("user"));
        }
        Ok((Target::New(key), peer))
    }

    /// Runs the batch's writes and commits them, leaving out the sends at the indices
    /// `stored_before`. When the insert finds more sends whose `txn_id` is stored
    /// already, it commits nothing and names them.
    fn transact(
        &mut self,
        planned: &[Planned],
        now: i64,
        created: &mut HashMap<(i64, i64), i64>,
        stored_before: &[usize],
    ) -> Result<Attempt, StoreError> {
        let db = &mut *self.db;
        let mut events = Vec::new();
        let mut new_pairs: Vec<(i64, i64)> = planned
            .iter()
            .filter_map(|p| match p {
                Planned::Send {
                    target: Target::New(pair),
                    ..
                }
                | Planned::Open {
                    target: Target::New(pair),
                    ..
                } => Some(*pair),
                _ => None,
            })
            .collect();
        new_pairs.sort_unstable();
        new_pairs.dedup();
        for (low, high) in new_pairs {
            let (id, is_new) = db.create_conversation(low, high, now)?;
            created.insert((low, high), id);
            if is_new {
                events.push(Committed::Conversation {
                    conversation_id: id,
                    members: [low, high],
                });
            }
        }
        let conversation_of = |target: &Target| match target {
            Target::Existing(id) => *id,
            Target::New(pair) => created.get(pair).copied().unwrap_or_default(),
        };
        let rows = assign_seqs(db, planned, stored_before, &conversation_of, now)?;
        let keys: Vec<(i64, i64)> = rows.iter().map(|r| (r.conversation_id, r.seq)).collect();
        let stored = db.insert_messages(rows)?;
        let mut stored = stored.into_iter().peekable();
        let mut rows = keys.into_iter();
        let mut done = Vec::with_capacity(planned.len());
        let mut conflicted = Vec::new();
        for (i, p) in planned.iter().enumerate() {
            done.push(match p {
                Planned::Send { .. } if stored_before.contains(&i) => Done::StoredBefore,
                Planned::Send {
                    recipient_id,
                    origin,
                    ..
                } => {
                    let Some(key) = rows.next() else {
                        return Err(StoreError::Inconsistent("a send lost its row"));
                    };
                    match stored.next_if(|s| (s.conversation_id, s.seq) == key) {
                        Some(stored) => {
                            let message = Arc::new(Posted::new(Message::from_row(stored, 0)));
                            events.push(Committed::Message {
                                message: message.clone(),
                                recipient_id: *recipient_id,
                                origin: *origin,
                            });
                            Done::Sent(message)
                        }
                        None => {
                            conflicted.push(i);
                            Done::StoredBefore
                        }
                    }
                }
                Planned::Read {
                    conversation_id,
                    user_id,
                    peer_id,
                    up_to_seq,
                    origin,
                    ..
                } => {
                    let moved = db.advance_marker(
                        *conversation_id,
                        *user_id,
                        up_to_seq.unwrap_or(i64::MAX),
                    )?;
                    if let Some(up_to_seq) = moved {
                        events.push(Committed::Marker {
                            conversation_id: *conversation_id,
                            user_id: *user_id,
                            peer_id: *peer_id,
                            up_to_seq,
                            origin: *origin,
                        });
                    }
                    Done::Read(moved)
                }
                Planned::Open { .. } => Done::Opened,
                Planned::Profile {
                    user_id,
                    display_name,
                    ..
                } => {
                    let user = db.set_display_name(*user_id, display_name)?;
                    if let Some(user) = &user {
                        events.push(Committed::Profile {
                            user_id: user.id,
                            display_name: user.display_name.clone(),
                        });
                    }
                    Done::Profile(user)
                }
                Planned::GroupKey { key, .. } => {
                    db.record_group_key(key, now)?;
                    Done::Grouped
                }
                Planned::SameAs { .. } => Done::Nothing,
            });
        }
        if !conflicted.is_empty() {
            return Ok(Attempt::Conflicted(conflicted));
        }
        if !self.hooks.is_empty() {
            let mut outbox: Vec<OutboxEntry> = Vec::new();
            for event in &events {
                for hook in &self.hooks {
                    hook.rows(event, &mut outbox);
                }
            }
            db.insert_outbox(&outbox, now)?;
        }
        db.commit()?;
        let messages = events
            .iter()
            .filter(|e| matches!(e, Committed::Message { .. }))
            .count();
        metrics::counter!("gadka_messages_committed_total").increment(messages as u64);
        Ok(Attempt::Committed(done, events))
    }

    /// The answer to every command of a committed batch.
    fn answers(
        &mut self,
        planned: Vec<Planned>,
        done: Vec<Done>,
        created: &HashMap<(i64, i64), i64>,
    ) -> Vec<Answer> {
        let mut originals = self.originals(&planned, &done);
        // What each command came to, for a later send of the same `txn_id` (`SameAs`).
        let mut outcomes: Vec<Option<SendOutcome>> = Vec::with_capacity(planned.len());
        let mut answers = Vec::with_capacity(planned.len());
        for (p, d) in planned.into_iter().zip(done) {
            let mut this = None;
            let answer = match (p, d) {
                (Planned::Send { reply, .. }, Done::Sent(message)) => {
                    this = Some(SendOutcome::New(message.clone()));
                    Some(Answer::Send(reply, Ok(SendOutcome::New(message))))
                }
                (
                    Planned::Send {
                        reply,
                        sender_id,
                        txn_id: Some(txn),
                        ..
                    },
                    Done::StoredBefore,
                ) => {
                    let outcome = originals
                        .as_mut()
                        .map_err(|e| ChatError::Internal(anyhow::anyhow!("{e}")))
                        .and_then(|found| {
                            found
                                .remove(&(sender_id, txn))
                                .map(SendOutcome::Duplicate)
                                .ok_or_else(|| lost("a message lost its txn_id conflict"))
                        });
                    this = outcome.as_ref().ok().cloned();
                    Some(Answer::Send(reply, outcome))
                }
                (Planned::SameAs { first, reply }, _) => {
                    let outcome = match outcomes.get(first).cloned().flatten() {
                        Some(SendOutcome::New(message) | SendOutcome::Repeat(message)) => {
                            Ok(SendOutcome::Repeat(message))
                        }
                        Some(SendOutcome::Duplicate(row)) => Ok(SendOutcome::Duplicate(row)),
                        None => Err(lost("the first send of this txn_id failed")),
                    };
                    Some(Answer::Send(reply, outcome))
                }
                (Planned::Read { reply, peer_id, .. }, Done::Read(moved_to)) => {
                    Some(Answer::Read(reply, Ok(ReadOutcome { moved_to, peer_id })))
                }
                (Planned::Open { target, reply }, Done::Opened) => {
                    let outcome = match target {
                        Target::Existing(id) => Ok((id, false)),
                        Target::New(pair) => created
                            .get(&pair)
                            .map(|id| (*id, true))
                            .ok_or_else(|| lost("a new conversation has no id")),
                    };
                    Some(Answer::Open(reply, outcome))
                }
                (Planned::Profile { reply, .. }, Done::Profile(user)) => Some(Answer::Profile(
                    reply,
                    user.ok_or(ChatError::NotFound("user")),
                )),
                (Planned::GroupKey { reply, .. }, Done::Grouped) => {
                    Some(Answer::Group(reply, Ok(())))
                }
                (other, _) => {
                    other.fail(&lost("a command and its result do not match"));
                    None
                }
            };
            answers.extend(answer);
            outcomes.push(this);
        }
        answers
    }

    /// The stored originals of the sends whose `txn_id` was stored before this batch
    /// (one query; none at all in the usual batch, which has no retried send).
    fn originals(
        &mut self,
        planned: &[Planned],
        done: &[Done],
    ) -> Result<HashMap<(i64, String), MessageRow>, StoreError> {
        let keys: Vec<(i64, &str)> = planned
            .iter()
            .zip(done)
            .filter_map(|(p, d)| match (p, d) {
                (
                    Planned::Send {
                        sender_id,
                        txn_id: Some(txn),
                        ..
                    },
                    Done::StoredBefore,
                ) => Some((*sender_id, txn.as_str())),
                _ => None,
            })
            .collect();
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(self
            .db
            .messages_by_txn(&keys)?
            .into_iter()
            .filter_map(|row| Some(((row.sender_id, row.txn_id.clone()?), row)))
            .collect())
    }
}

/// A committed batch on its way out.
struct Outgoing {
    events: Vec<Committed>,
    answers: Vec<Answer>,
}

/// One command's answer, with where it goes.
enum Answer {
    Send(SendReply, Result<SendOutcome, ChatError>),
    Read(
        oneshot::Sender<Result<ReadOutcome, ChatError>>,
        Result<ReadOutcome, ChatError>,
    ),
    Open(
        oneshot::Sender<Result<(i64, bool), ChatError>>,
        Result<(i64, bool), ChatError>,
    ),
    Profile(ProfileReply, Result<UserRow, ChatError>),
    Group(GroupReply, Result<(), ChatError>),
}

impl Answer {
    fn give(self) {
        // A dropped receiver is a client that went away: nothing to tell.
        match self {
            Self::Send(reply, outcome) => drop(reply.send(outcome)),
            Self::Read(reply, outcome) => drop(reply.send(outcome)),
            Self::Open(reply, outcome) => drop(reply.send(outcome)),
            Self::Profile(reply, outcome) => drop(reply.send(outcome)),
            Self::Group(reply, outcome) => drop(reply.send(outcome)),
        }
    }
}

/// The second stage: hands each committed batch to the subscribers, then answers its
/// commands, batch after batch in commit order. It runs on the async runtime, where
/// waking the tasks that wait for answers is cheap, while the writer's thread goes on
/// with the next batch.
async fn publish(
    mut batches: mpsc::UnboundedReceiver<Outgoing>,
    subscribers: Vec<Arc<dyn Subscriber>>,
    stream: broadcast::Sender<Arc<[Committed]>>,
) {
    while let Some(Outgoing { events, answers }) = batches.recv().await {
        if !events.is_empty() {
            for subscriber in &subscribers {
                subscriber.committed(&events);
            }
            if stream.receiver_count() > 0 {
                let _ = stream.send(events.into());
            }
        }
        for answer in answers {
            answer.give();
        }
    }
}

/// How one run of a batch's transaction ended.
enum Attempt {
    Committed(Vec<Done>, Vec<Committed>),
    /// Nothing committed: the sends at these indices have `txn_id`s stored before.
    Conflicted(Vec<usize>),
}

/// The stage between the writer and the publisher where a commit is not durable by
/// itself: one WAL sync for every batch committed since the last, then the batches go
/// on to the publisher, in commit order.
fn sync_stage(
    mut wal: WalSync,
    mut committed: mpsc::UnboundedReceiver<Outgoing>,
    publisher: mpsc::UnboundedSender<Outgoing>,
) {
    let mut synced = Vec::new();
    while let Some(first) = committed.blocking_recv() {
        synced.push(first);
        while let Ok(more) = committed.try_recv() {
            synced.push(more);
        }
        let started = Instant::now();
        if let Err(e) = wal.sync() {
            // After a failed fsync the kernel may have dropped the dirty pages it could
            // not write, and a second fsync can report success without them (what
            // PostgreSQL learnt in 2018). Nothing unsynced may be acknowledged, so the
            // process stops; a restart recovers from what the disk holds.
            tracing::error!(error = %e, "syncing the write-ahead log failed; stopping");
            std::process::abort();
        }
        metrics::histogram!("gadka_writer_sync_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("gadka_writer_batches_per_sync").record(synced.len() as f64);
        for batch in synced.drain(..) {
            // The publisher outlives this stage, as it outlives the writer.
            let _ = publisher.send(batch);
        }
    }
}

/// Reserves `seq`s for the batch's sends (but those `stored_before`), per conversation
/// in id order (so writers on several nodes lock rows in the same order and cannot
/// deadlock), and returns the rows to insert in command order (so message ids follow
/// the queue).
fn assign_seqs(
    db: &mut dyn BatchWriter,
    planned: &[Planned],
    stored_before: &[usize],
    conversation_of: &impl Fn(&Target) -> i64,
    now: i64,
) -> Result<Vec<NewMessage>, StoreError> {
    let sends = || {
        planned
            .iter()
            .enumerate()
            .filter(|(i, _)| !stored_before.contains(i))
            .map(|(_, p)| p)
    };
    let mut counts: Vec<(i64, i64)> = Vec::new();
    for p in sends() {
        if let Planned::Send { target, .. } = p {
            let id = conversation_of(target);
            match counts.iter_mut().find(|(c, _)| *c == id) {
                Some((_, n)) => *n += 1,
                None => counts.push((id, 1)),
            }
        }
    }
    counts.sort_unstable();
    let mut next_seq: HashMap<i64, i64> = counts.iter().copied().collect();
    for (id, last) in db.reserve_seqs(&counts, now)? {
        if let Some(next) = next_seq.get_mut(&id) {
            *next = last - *next + 1;
        }
    }
    let mut rows = Vec::new();
    for p in sends() {
        if let Planned::Send {
            target,
            sender_id,
            body,
            txn_id,
            ..
        } = p
        {
            let conversation_id = conversation_of(target);
            let seq = next_seq.entry(conversation_id).or_default();
            rows.push(NewMessage {
                conversation_id,
                seq: *seq,
                sender_id: *sender_id,
                body: body.clone(),
                txn_id: txn_id.clone(),
                created_at: now,
            });
            *seq += 1;
        }
    }
    Ok(rows)
}

/// The ordered pair of two different users.
fn pair(a: i64, b: i64) -> Option<(i64, i64)> {
    (a != b).then_some((Ord::min(a, b), Ord::max(a, b)))
}

fn lost(what: &'static str) -> ChatError {
    ChatError::Internal(anyhow::anyhow!(what))
}

/// The error every command of a failed batch gets; logged once.
fn batch_failed(e: &StoreError) -> ChatError {
    tracing::error!(error = %e, "a batch failed");
    ChatError::Internal(anyhow::anyhow!("the batch failed: {e}"))
}

/// A copy of an internal error for one more command (`ChatError` is not `Clone`).
fn again(error: &ChatError) -> ChatError {
    ChatError::Internal(anyhow::anyhow!("{error}"))
}

impl Command {
    fn fail(self, error: &ChatError) {
        match self {
            Self::Send { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::Read { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::Open { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::Profile { reply, .. } => drop(reply.send(Err(again(error)))),
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

impl Planned {
    fn fail(self, error: &ChatError) {
        match self {
            Self::Send { reply, .. } | Self::SameAs { reply, .. } => {
                drop(reply.send(Err(again(error))))
            }
            Self::Read { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::Open { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::Profile { reply, .. } => drop(reply.send(Err(again(error)))),
            Self::GroupKey { reply, .. } => drop(reply.send(Err(again(error)))),
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

#[cfg(test)]
mod tests {
    //! The writer on a real SQLite file, driven one batch at a time: a test hands it
    //! the commands of a batch, then reads the answers.

    use super::*;
    use crate::{config::Durability, store::NewUser};

    struct Setup {
        _dir: tempfile::TempDir,
        store: Store,
        writer: Writer,
        events: broadcast::Receiver<Arc<[Committed]>>,
    }

    type Answer<T> = oneshot::Receiver<Result<T, ChatError>>;

    async fn setup(users: &[&str]) -> (Setup, Vec<i64>) {
        setup_with(users, Vec::new()).await
    }

    async fn setup_with(users: &[&str], hooks: Vec<Arc<dyn TxnHook>>) -> (Setup, Vec<i64>) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(&url, Durability::Full)
            .await
            .expect("a database");
        let mut ids = Vec::new();
        for name in users {
            let user = store
                .create_user(NewUser {
                    username: name,
                    display_name: name,
                    password_hash: "",
                    created_at: 0,
                })
                .await
                .expect("insert")
                .expect("a new user");
            ids.push(user.id);
        }
        let (engine, writer) = Engine::new(
            &store,
            EngineConfig {
                batch: 64,
                queue: 64,
                subscribers: Vec::new(),
                hooks,
            },
        )
        .expect("a writer");
        let events = engine.subscribe();
        (
            Setup {
                _dir: dir,
                store,
                writer,
                events,
            },
            ids,
        )
    }

    impl Setup {
        fn send(
            sender_id: i64,
            to: SendTo,
            txn_id: Option<&str>,
        ) -> (Command, Answer<SendOutcome>) {
            let (reply, answer) = oneshot::channel();
            let command = Command::Send {
                sender_id,
                to,
                body: "hej".into(),
                txn_id: txn_id.map(str::to_owned),
                origin: None,
                reply,
            };
            (command, answer)
        }

        /// Commits `commands` in one batch.
        fn batch(&mut self, commands: impl IntoIterator<Item = Command>) {
            self.writer.run_batch(commands.into_iter().collect());
        }

        async fn open(&mut self, user_id: i64, peer_id: i64) -> i64 {
            let (reply, answer) = oneshot::channel();
            self.batch([Command::Open {
                user_id,
                peer_id,
                reply,
            }]);
            answered(answer.await).expect("opened").0
        }
    }

    fn new_message(outcome: Result<SendOutcome, ChatError>) -> Arc<Posted> {
        match outcome {
            Ok(SendOutcome::New(message)) => message,
            other => panic!("expected a new message, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_txn_id_retried_inside_one_batch_is_stored_once() {
        let (mut s, ids) = setup(&["ann", "bob"]).await;
        let (ann, bob) = (ids[0], ids[1]);
        let (c1, first) = Setup::send(ann, SendTo::User(bob), Some("t-1"));
        let (c2, again) = Setup::send(ann, SendTo::User(bob), Some("t-1"));
        let (c3, other) = Setup::send(ann, SendTo::User(bob), Some("t-2"));
        s.batch([c1, c2, c3]);

        let first = new_message(first.await.expect("answered"));
        match again.await.expect("answered") {
            Ok(SendOutcome::Repeat(message)) => assert_eq!(message, first),
            other => panic!("expected the first message again, got {other:?}"),
        }
        let other = new_message(other.await.expect("answered"));
        assert_eq!((first.seq, other.seq), (1, 2));

        // And across batches: the stored original, unchanged.
        let (c4, later) = Setup::send(ann, SendTo::User(bob), Some("t-1"));
        s.batch([c4]);
        match later.await.expect("answered") {
            Ok(SendOutcome::Duplicate(row)) => assert_eq!(row.id, first.id),
            other => panic!("expected the stored message, got {other:?}"),
        }
        let stored = s
            .store
            .messages_before(first.conversation_id, None, 10)
            .await
            .expect("read");
        assert_eq!(stored.len(), 2, "{stored:?}");
    }

    /// The insert itself finds a retried `txn_id` (there is no look-up before it): the
    /// batch runs again without that send, so the sends around it keep gapless `seq`s.
    #[tokio::test]
    async fn a_retry_among_new_sends_leaves_no_gap_in_seq() {
        let (mut s, ids) = setup(&["ann", "bob"]).await;
        let (ann, bob) = (ids[0], ids[1]);
        let (c1, first) = Setup::send(ann, SendTo::User(bob), Some("t-1"));
        s.batch([c1]);
        let first = new_message(first.await.expect("answered"));

        let (c2, before) = Setup::send(bob, SendTo::User(ann), Some("b-1"));
        let (c3, retried) = Setup::send(ann, SendTo::User(bob), Some("t-1"));
        let (c4, retried_again) = Setup::send(ann, SendTo::User(bob), Some("t-1"));
        let (c5, after) = Setup::send(ann, SendTo::User(bob), Some("t-2"));
        s.batch([c2, c3, c4, c5]);

        for answer in [retried, retried_again] {
            match answer.await.expect("answered") {
                Ok(SendOutcome::Duplicate(row)) => {
                    assert_eq!((row.id, row.seq), (first.id, first.seq))
                }
                other => panic!("expected the stored original, got {other:?}"),
            }
        }
        let before = new_message(before.await.expect("answered"));
        let after = new_message(after.await.expect("answered"));
        assert_eq!((first.seq, before.seq, after.seq), (1, 2, 3));
        let stored = s
            .store
            .messages_before(first.conversation_id, None, 10)
            .await
            .expect("read");
        let mut seqs: Vec<i64> = stored.iter().map(|m| m.seq).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, [1, 2, 3], "{stored:?}");
    }

    #[tokio::test]
    async fn one_bad_command_fails_alone_and_never_its_batch() {
        let (mut s, ids) = setup(&["ann", "bob", "cid"]).await;
        let (ann, bob, cid) = (ids[0], ids[1], ids[2]);
        let ann_bob = s.open(ann, bob).await;
        let _ = s.events.recv().await;

        let (c1, good) = Setup::send(ann, SendTo::Conversation(ann_bob), None);
        // cid is not in ann and bob's conversation; 999 is no one; nor is one's self.
        let (c2, intruder) = Setup::send(cid, SendTo::Conversation(ann_bob), None);
        let (c3, nobody) = Setup::send(ann, SendTo::User(999), None);
        let (c4, alone) = Setup::send(ann, SendTo::User(ann), None);
        let (c5, also_good) = Setup::send(bob, SendTo::Conversation(ann_bob), None);
        s.batch([c1, c2, c3, c4, c5]);

        assert_eq!(new_message(good.await.expect("answered")).seq, 1);
        assert!(matches!(
            intruder.await.expect("answered"),
            Err(ChatError::NotFound("conversation"))
        ));
        assert!(matches!(
            nobody.await.expect("answered"),
            Err(ChatError::NotFound("user"))
        ));
        assert!(matches!(
            alone.await.expect("answered"),
            Err(ChatError::Invalid { .. })
        ));
        assert_eq!(new_message(also_good.await.expect("answered")).seq, 2);

        // One batch, one slice of events, in commit order, with nothing of the refused.
        let events = s.events.recv().await.expect("the batch's events");
        let ids: Vec<i64> = events
            .iter()
            .filter_map(|e| match e {
                Committed::Message { message, .. } => Some(message.seq),
                _ => None,
            })
            .collect();
        assert_eq!(ids, [1, 2]);
    }

    #[tokio::test]
    async fn sends_to_a_new_pair_in_one_batch_create_one_conversation() {
        let (mut s, ids) = setup(&["ann", "bob"]).await;
        let (ann, bob) = (ids[0], ids[1]);
        let (c1, a) = Setup::send(ann, SendTo::User(bob), None);
        let (c2, b) = Setup::send(bob, SendTo::User(ann), None);
        s.batch([c1, c2]);
        let a = new_message(a.await.expect("answered"));
        let b = new_message(b.await.expect("answered"));
        assert_eq!(a.conversation_id, b.conversation_id);
        assert_eq!((a.seq, b.seq), (1, 2));
        let events = s.events.recv().await.expect("the batch's events");
        assert!(matches!(
            events.first(),
            Some(Committed::Conversation { members, .. }) if *members == [ann, bob]
        ));
        assert_eq!(events.len(), 3);
    }

    /// Outboxes every message, as the bridge will.
    struct EveryMessage;

    impl TxnHook for EveryMessage {
        fn rows(&self, event: &Committed, rows: &mut Vec<OutboxEntry>) {
            if let Committed::Message { message, .. } = event {
                rows.push(OutboxEntry {
                    topic: "test",
                    payload: message.id.to_string(),
                });
            }
        }
    }

    #[tokio::test]
    async fn a_hook_s_rows_commit_with_the_batch() {
        let (mut s, ids) = setup_with(&["ann", "bob", "cid"], vec![Arc::new(EveryMessage)]).await;
        let (ann, bob, cid) = (ids[0], ids[1], ids[2]);
        let ann_bob = s.open(ann, bob).await;
        let (commands, answers): (Vec<_>, Vec<_>) = [
            Setup::send(ann, SendTo::Conversation(ann_bob), None),
            Setup::send(cid, SendTo::Conversation(ann_bob), None),
            Setup::send(bob, SendTo::Conversation(ann_bob), None),
        ]
        .into_iter()
        .unzip();
        s.batch(commands);
        let mut committed = Vec::new();
        for answer in answers {
            if let Ok(SendOutcome::New(message)) = answer.await.expect("answered") {
                committed.push(message.id.to_string());
            }
        }
        let outbox: Vec<String> = s
            .store
            .outbox_after("test", 0, 100)
            .await
            .expect("read")
            .into_iter()
            .map(|row| row.payload)
            .collect();
        assert_eq!(committed.len(), 2);
        assert_eq!(
            outbox, committed,
            "one row per committed message, none for the refused"
        );
    }

    #[tokio::test]
    async fn the_wal_starts_over_under_a_steady_load() {
        let (mut s, ids) = setup(&["ann", "bob"]).await;
        let (ann, bob) = (ids[0], ids[1]);
        let ann_bob = s.open(ann, bob).await;
        let body = "x".repeat(1000);
        // 100 MB of messages, more than what the WAL may hold before it starts over.
        for _ in 0..1_000 {
            let commands = (0..100).map(|_| {
                let (reply, _) = oneshot::channel();
                Command::Send {
                    sender_id: ann,
                    to: SendTo::Conversation(ann_bob),
                    body: body.clone(),
                    txn_id: None,
                    origin: None,
                    reply,
                }
            });
            s.batch(commands);
        }
        // At most the frames after which the writer checkpoints itself, and one batch's.
        let page = i64::from(crate::store::SQLITE_PAGE_SIZE);
        let most = (crate::store::WAL_RESTART_BYTES / page + 200) * (page + 24);
        let wal = std::fs::metadata(s._dir.path().join("t.db-wal")).expect("a WAL file");
        assert!(
            wal.len() < most as u64,
            "the WAL grew to {} bytes, over {most}",
            wal.len()
        );
    }

    #[tokio::test]
    async fn a_profile_change_is_an_event_in_commit_order() {
        let (mut s, ids) = setup(&["ann", "bob"]).await;
        let (ann, bob) = (ids[0], ids[1]);
        let (c1, sent) = Setup::send(ann, SendTo::User(bob), None);
        let (reply, renamed) = oneshot::channel();
        let c2 = Command::Profile {
            user_id: ann,
            display_name: "Ann B.".into(),
            reply,
        };
        let (reply, nobody) = oneshot::channel();
        let c3 = Command::Profile {
            user_id: 999,
            display_name: "Ghost".into(),
            reply,
        };
        s.batch([c1, c2, c3]);
        new_message(sent.await.expect("answered"));
        let user = answered(renamed.await).expect("renamed");
        assert_eq!(user.display_name, "Ann B.");
        assert!(matches!(
            answered(nobody.await),
            Err(ChatError::NotFound("user"))
        ));
        let events = s.events.recv().await.expect("the batch's events");
        let kinds: Vec<&str> = events
            .iter()
            .map(|e| match e {
                Committed::Conversation { .. } => "conversation",
                Committed::Message { .. } => "message",
                Committed::Profile { .. } => "profile",
                Committed::Marker { .. } => "marker",
            })
            .collect();
        assert_eq!(kinds, ["conversation", "message", "profile"]);
    }

    #[tokio::test]
    async fn a_group_commits_whole_in_one_batch_with_its_key() {
        let (mut s, ids) = setup(&["ann", "bob"]).await;
        let (ann, bob) = (ids[0], ids[1]);
        let ann_bob = s.open(ann, bob).await;
        let _ = s.events.recv().await;
        // A batch of one command still takes the whole group, and its key.
        s.writer.batch = 1;
        let (c1, first) = Setup::send(ann, SendTo::Conversation(ann_bob), Some("e1"));
        let (c2, second) = Setup::send(bob, SendTo::Conversation(ann_bob), Some("e2"));
        let (c3, refused) = Setup::send(ann, SendTo::Conversation(999), Some("e3"));
        let (reply, grouped) = oneshot::channel();
        let mut commands = Vec::new();
        unpack(
            Command::Group {
                key: "k1".into(),
                commands: vec![c1, c2, c3],
                reply,
            },
            &mut commands,
        );
        assert_eq!(commands.len(), 4, "three commands and the key");
        assert!(!s.store.group_key_recorded("k1").await.expect("read"));
        s.batch(commands);

        answered(grouped.await).expect("the group committed");
        assert_eq!(new_message(first.await.expect("answered")).seq, 1);
        assert_eq!(new_message(second.await.expect("answered")).seq, 2);
        assert!(matches!(
            refused.await.expect("answered"),
            Err(ChatError::NotFound("conversation"))
        ));
        assert!(s.store.group_key_recorded("k1").await.expect("read"));
        let events = s.events.recv().await.expect("the batch's events");
        assert_eq!(events.len(), 2, "both messages in one commit");
        let forgotten = s.store.forget_group_keys_before(i64::MAX).await;
        assert_eq!(forgotten.expect("deleted"), 1);
        assert!(!s.store.group_key_recorded("k1").await.expect("read"));
    }
}

//! The message engine's transaction: everything one batch of commands reads and
//! changes, committed at once with one fsync.
//!
//! The engine (`chat::engine`) decides what a batch does; a [`BatchWriter`] only runs
//! the statements, on the engine's own thread, synchronously. Each database has its own:
//!
//! - SQLite (`sqlite.rs`): a dedicated `rusqlite` connection with cached single-row
//!   statements. A statement costs a few microseconds there, so a batch is one thread
//!   hop for the whole batch instead of a hop to sqlx's worker for every statement.
//! - PostgreSQL (`postgres.rs`): SeaORM on the pool, with set-based statements (one
//!   per kind of change per batch), because each statement is a network round trip.
//!
//! Between [`BatchWriter::begin`] and [`BatchWriter::commit`] everything is one
//! transaction: either all of it is committed, or none of it.

mod checkpoint;
mod postgres;
mod sqlite;
mod wal;

use std::path::Path;

use sea_orm::DbBackend;

#[cfg(test)]
pub(crate) use self::checkpoint::RESTART_BYTES as WAL_RESTART_BYTES;
pub use self::wal::WalSync;
use super::{Attachment, ChangeKind, MessageKind, MessageRow, Store, StoreError, UserRow};
use crate::ids::{ConversationId, MessageId, Pair, Position, Seq, UserId};

/// A message to insert, with the id (its position) and `seq` the engine assigned.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub seq: Seq,
    pub sender_id: UserId,
    pub body: String,
    pub txn_id: Option<String>,
    pub created_at: i64,
    pub kind: MessageKind,
    pub reply_to: Option<Seq>,
    pub attachment: Option<Attachment>,
}

/// A row of `change_log` to insert.
#[derive(Debug, Clone)]
pub struct NewChange {
    pub pos: Position,
    pub conversation_id: Option<ConversationId>,
    pub seq: Option<Seq>,
    pub kind: ChangeKind,
    pub user_id: UserId,
    pub key: Option<String>,
    pub created_at: i64,
}

/// A row a subscriber commits with the batch (see `entity::outbox`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub topic: &'static str,
    pub payload: String,
}

/// The statements of the engine's batches, on its own connection. Every call blocks
/// the calling thread, which must not be one of the async runtime's.
pub trait BatchWriter: Send {
    /// Starts the batch's transaction. On SQLite it is `BEGIN IMMEDIATE`: the write
    /// lock is taken at once, so the batch's reads and writes see one state.
    fn begin(&mut self) -> Result<(), StoreError>;

    /// The members of those conversations that exist.
    fn conversation_members(
        &mut self,
        ids: &[ConversationId],
    ) -> Result<Vec<(ConversationId, Pair)>, StoreError>;

    /// The conversations of those pairs that have one.
    fn conversations_of_pairs(
        &mut self,
        pairs: &[Pair],
    ) -> Result<Vec<(ConversationId, Pair)>, StoreError>;

    /// Those of `ids` that are users.
    fn existing_users(&mut self, ids: &[UserId]) -> Result<Vec<UserId>, StoreError>;

    /// Those of `ids` that live on Matrix (`user.matrix_id` is set, from the user's
    /// creation on, which commits before any batch can name them).
    fn matrix_users_among(&mut self, ids: &[UserId]) -> Result<Vec<UserId>, StoreError>;

    /// The messages already stored under these `(sender, txn_id)` keys. Also usable
    /// outside a batch.
    fn messages_by_txn(&mut self, keys: &[(UserId, &str)]) -> Result<Vec<MessageRow>, StoreError>;

    /// `n` new positions, increasing, each after every position committed before: the
    /// ids of the batch's messages and the positions of its changes. A position taken
    /// by a batch that then rolls back is never used: a gap, which readers skip over.
    fn positions(&mut self, n: usize) -> Result<Vec<Position>, StoreError>;

    /// The message at `seq` of a conversation, and the read marker of the member who
    /// did not send it.
    fn message_at(
        &mut self,
        conversation_id: ConversationId,
        seq: Seq,
    ) -> Result<Option<(MessageRow, Seq)>, StoreError>;

    /// Writes a message's body, `edited_at`, `deleted_at` and reactions as `row` has
    /// them (found by its id).
    fn update_message(&mut self, row: &MessageRow) -> Result<(), StoreError>;

    /// Logs changes at their positions.
    fn insert_changes(&mut self, changes: &[NewChange]) -> Result<(), StoreError>;

    /// Creates the direct conversation of a pair with both memberships; when it
    /// already exists (another node won the race), returns the existing one. `true`
    /// when this call created it.
    fn create_conversation(
        &mut self,
        pair: Pair,
        now: i64,
    ) -> Result<(ConversationId, bool), StoreError>;

    /// Reserves sequence numbers in several conversations and records their activity:
    /// `counts` is `(conversation, how many)`, in id order (so writers on several nodes
    /// lock rows in one order and cannot deadlock). Returns each conversation's new
    /// `last_seq` (its reserved numbers end there).
    fn reserve_seqs(
        &mut self,
        counts: &[(ConversationId, i64)],
        now: i64,
    ) -> Result<Vec<(ConversationId, Seq)>, StoreError>;

    /// Inserts messages in the given order (so their ids follow it). A row whose
    /// `(sender_id, txn_id)` is already stored is skipped, not an error: an error would
    /// abort the whole transaction on PostgreSQL. Returns the rows stored, in order; a
    /// skipped one is missing, and its caller reads the original.
    fn insert_messages(&mut self, rows: Vec<NewMessage>) -> Result<Vec<MessageRow>, StoreError>;

    /// Moves a member's read marker forward to `up_to_seq`, clamped to the newest
    /// message of the conversation; never backwards. `Some(new marker)` when it moved.
    fn advance_marker(
        &mut self,
        conversation_id: ConversationId,
        user_id: UserId,
        up_to_seq: Seq,
    ) -> Result<Option<Seq>, StoreError>;

    /// Sets a user's display name, and the search terms it gives them; the user as
    /// stored now, `None` when there is none.
    fn set_display_name(
        &mut self,
        user_id: UserId,
        display_name: &str,
    ) -> Result<Option<UserRow>, StoreError>;

    /// Stores subscribers' rows with the batch.
    fn insert_outbox(&mut self, entries: &[OutboxEntry], now: i64) -> Result<(), StoreError>;

    /// Stores the key of a group of commands with the batch that applies it; a key
    /// stored already is left as it is.
    fn record_group_key(&mut self, key: &str, now: i64) -> Result<(), StoreError>;

    /// The open batch's number in the order of every node's batches (`stream_head`):
    /// one more than the batch committed just before it, by any node. `None` where
    /// one process is the only writer (SQLite).
    fn turn(&self) -> Option<i64> {
        None
    }

    /// Commits everything since [`BatchWriter::begin`].
    fn commit(&mut self) -> Result<(), StoreError>;

    /// Undoes everything since [`BatchWriter::begin`], if a transaction is open.
    fn rollback(&mut self);

    /// Moves the fsync out of [`BatchWriter::commit`], where that is how durability is
    /// kept (SQLite with `durability: full`): from now on a commit is durable only once
    /// the returned [`WalSync`] has synced after it. `None` where a commit is as
    /// durable as it should be by itself.
    fn take_wal_sync(&mut self) -> Result<Option<WalSync>, StoreError> {
        Ok(None)
    }
}

impl Store {
    /// The engine's connection for batches. For PostgreSQL it runs SeaORM's futures on
    /// the runtime it is created in, so call it from inside that runtime.
    pub fn batch_writer(&self) -> Result<Box<dyn BatchWriter>, StoreError> {
        match self.db.get_database_backend() {
            DbBackend::Sqlite => {
                let path = self.sqlite_file.as_deref().ok_or(StoreError::Inconsistent(
                    "the message writer needs an SQLite file, not an in-memory database",
                ))?;
                Ok(Box::new(sqlite::SqliteBatches::open(
                    Path::new(path),
                    self.durability,
                    self.queries.clone(),
                )?))
            }
            _ => Ok(Box::new(postgres::PostgresBatches::new(
                self.clone(),
                tokio::runtime::Handle::try_current()
                    .map_err(|_| StoreError::Inconsistent("the batch writer needs a runtime"))?,
            ))),
        }
    }
}

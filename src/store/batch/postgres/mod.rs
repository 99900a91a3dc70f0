//! Batches on PostgreSQL: SeaORM on the pool, one set-based statement per kind of
//! change per batch (every statement is a network round trip), run to completion on
//! the runtime from the engine's thread.

use sea_orm::TransactionTrait;
use tokio::runtime::Handle;

mod txn;

use self::txn::Txn;
use super::{BatchWriter, NewChange, NewMessage, OutboxEntry};
use crate::{
    ids::{ConversationId, Pair, Position, Seq, UserId},
    store::{MessageRow, Store, StoreError, UserRow},
};

/// The engine's PostgreSQL side: the pool, and the batch's transaction while one is open.
pub(super) struct PostgresBatches {
    store: Store,
    runtime: Handle,
    txn: Option<Txn>,
    /// The open batch's number in the order of every node's batches.
    turn: Option<i64>,
}

impl PostgresBatches {
    pub(super) fn new(store: Store, runtime: Handle) -> Self {
        Self {
            store,
            runtime,
            txn: None,
            turn: None,
        }
    }

    fn txn(&self) -> Result<&Txn, StoreError> {
        self.txn.as_ref().ok_or(StoreError::Inconsistent(
            "a batch statement outside a batch",
        ))
    }
}

impl BatchWriter for PostgresBatches {
    fn begin(&mut self) -> Result<(), StoreError> {
        let txn = Txn {
            txn: self.runtime.block_on(self.store.db.begin())?,
        };
        self.turn = Some(self.runtime.block_on(txn.take_turn())?);
        self.txn = Some(txn);
        #[cfg(debug_assertions)]
        stall_for_tests();
        Ok(())
    }

    fn conversation_members(
        &mut self,
        ids: &[ConversationId],
    ) -> Result<Vec<(ConversationId, Pair)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.runtime.block_on(self.store.conversation_members(ids))
    }

    fn conversations_of_pairs(
        &mut self,
        pairs: &[Pair],
    ) -> Result<Vec<(ConversationId, Pair)>, StoreError> {
        self.runtime
            .block_on(self.store.conversations_of_pairs(pairs))
    }

    fn existing_users(&mut self, ids: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.runtime.block_on(self.store.existing_users(ids))
    }

    fn matrix_users_among(&mut self, ids: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.runtime.block_on(self.store.matrix_users_among(ids))
    }

    fn messages_by_txn(&mut self, keys: &[(UserId, &str)]) -> Result<Vec<MessageRow>, StoreError> {
        self.runtime.block_on(self.store.messages_by_txn(keys))
    }

    fn positions(&mut self, n: usize) -> Result<Vec<Position>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let txn = self.txn()?;
        Ok(self.runtime.block_on(txn.positions(n))?)
    }

    fn message_at(
        &mut self,
        conversation_id: ConversationId,
        seq: Seq,
    ) -> Result<Option<(MessageRow, Seq)>, StoreError> {
        let txn = self.txn()?;
        Ok(self
            .runtime
            .block_on(txn.message_at(conversation_id, seq))?)
    }

    fn update_message(&mut self, row: &MessageRow) -> Result<(), StoreError> {
        let txn = self.txn()?;
        Ok(self.runtime.block_on(txn.update_message(row))?)
    }

    fn insert_changes(&mut self, changes: &[NewChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let txn = self.txn()?;
        Ok(self.runtime.block_on(txn.insert_changes(changes))?)
    }

    fn create_conversation(
        &mut self,
        pair: Pair,
        now: i64,
    ) -> Result<(ConversationId, bool), StoreError> {
        let txn = self.txn()?;
        Ok(self.runtime.block_on(txn.create_conversation(pair, now))?)
    }

    fn reserve_seqs(
        &mut self,
        counts: &[(ConversationId, i64)],
        now: i64,
    ) -> Result<Vec<(ConversationId, Seq)>, StoreError> {
        let txn = self.txn()?;
        Ok(self.runtime.block_on(txn.reserve_seqs(counts, now))?)
    }

    fn insert_messages(&mut self, rows: Vec<NewMessage>) -> Result<Vec<MessageRow>, StoreError> {
        let txn = self.txn()?;
        Ok(self.runtime.block_on(txn.insert_messages(&rows))?)
    }

    fn advance_marker(
        &mut self,
        conversation_id: ConversationId,
        user_id: UserId,
        up_to_seq: Seq,
    ) -> Result<Option<Seq>, StoreError> {
        let txn = self.txn()?;
        Ok(self
            .runtime
            .block_on(txn.advance_marker(conversation_id, user_id, up_to_seq))?)
    }

    fn set_display_name(
        &mut self,
        user_id: UserId,
        display_name: &str,
    ) -> Result<Option<UserRow>, StoreError> {
        let txn = self.txn()?;
        Ok(self
            .runtime
            .block_on(txn.set_display_name(user_id, display_name))?)
    }

    fn insert_outbox(&mut self, entries: &[OutboxEntry], now: i64) -> Result<(), StoreError> {
        let txn = self.txn()?;
        Ok(self.runtime.block_on(txn.insert_outbox(entries, now))?)
    }

    fn record_group_key(&mut self, key: &str, now: i64) -> Result<(), StoreError> {
        let txn = self.txn()?;
        Ok(self.runtime.block_on(txn.record_group_key(key, now))?)
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        let txn = self
            .txn
            .take()
            .ok_or(StoreError::Inconsistent("a commit outside a batch"))?;
        Ok(self.runtime.block_on(txn.txn.commit())?)
    }

    fn turn(&self) -> Option<i64> {
        self.turn
    }

    fn rollback(&mut self) {
        if let Some(txn) = self.txn.take()
            && let Err(e) = self.runtime.block_on(txn.txn.rollback())
        {
            tracing::error!(error = %e, "rolling back a failed batch failed");
        }
    }
}

/// Test builds only: a writer that holds its turn for `GADKA_TEST_WRITER_STALL_MS`
/// after taking it, so that the cluster tests can stop a node inside a batch and
/// show that another node's batch waits, then goes on once the stalled one is cut
/// off. Release builds have no such knob.
#[cfg(debug_assertions)]
fn stall_for_tests() {
    static STALL: std::sync::OnceLock<Option<std::time::Duration>> = std::sync::OnceLock::new();
    let stall = STALL.get_or_init(|| {
        std::env::var("GADKA_TEST_WRITER_STALL_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map(std::time::Duration::from_millis)
    });
    if let Some(stall) = stall {
        std::thread::sleep(*stall);
    }
}

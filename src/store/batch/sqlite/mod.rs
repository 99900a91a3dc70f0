//! Batches on SQLite: one `rusqlite` connection owned by the engine's thread, with
//! cached prepared single-row statements. SQLite runs in-process, so a statement is a
//! function call of a few microseconds; what used to cost most was handing each one
//! to sqlx's worker thread and back.

use std::{
    collections::HashMap,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use rusqlite::{Connection, OptionalExtension, params};

mod sql;

use self::sql::*;
use super::{BatchWriter, NewChange, NewMessage, OutboxEntry, WalSync, checkpoint::Checkpointer};
use crate::{
    config::Durability,
    ids::Position,
    ids::{ConversationId, Pair, Seq, UserId},
    store::{MessageRow, StoreError, UserRow, encode_attachment, encode_reactions},
};

/// The engine's SQLite connection.
pub(super) struct SqliteBatches {
    conn: Connection,
    path: std::path::PathBuf,
    durability: Durability,
    /// The store's statement counter (`gadka_db_queries_total` counts these too).
    queries: Arc<AtomicU64>,
    insert_chunk: String,
    insert_one: String,
    checkpoints: Checkpointer,
    /// The last position handed out: read once, then counted here (this connection is
    /// the only writer); forgotten on a rollback, which may have taken some.
    last_position: Option<i64>,
    /// Whether the batch being written erased a message's text.
    erased: bool,
}

impl SqliteBatches {
    /// Opens the database file the pool already migrated, with the same settings as
    /// the pool's connections.
    pub(super) fn open(
        path: &Path,
        durability: Durability,
        queries: Arc<AtomicU64>,
    ) -> Result<Self, StoreError> {
        let conn = connect(path, durability)?;
        let checkpoints = Checkpointer::start(&conn, path, |path| connect(path, durability))?;
        Ok(Self {
            checkpoints,
            conn,
            path: path.to_owned(),
            durability,
            queries,
            insert_chunk: insert_messages_sql(MESSAGES_PER_INSERT),
            insert_one: insert_messages_sql(1),
            last_position: None,
            erased: false,
        })
    }

    fn counted(&self, statements: usize) {
        self.queries.fetch_add(statements as u64, Ordering::Relaxed);
        metrics::counter!("gadka_db_queries_total").increment(statements as u64);
    }
}

impl BatchWriter for SqliteBatches {
    fn begin(&mut self) -> Result<(), StoreError> {
        self.checkpoints.beginning(&self.conn)?;
        self.counted(1);
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    fn conversation_members(
        &mut self,
        ids: &[ConversationId],
    ) -> Result<Vec<(ConversationId, Pair)>, StoreError> {
        self.counted(ids.len());
        let mut statement = self.conn.prepare_cached(MEMBERS)?;
        let mut found = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some((low, high)) = statement
                .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?
            {
                found.push((id, stored_pair(low, high)?));
            }
        }
        Ok(found)
    }

    fn conversations_of_pairs(
        &mut self,
        pairs: &[Pair],
    ) -> Result<Vec<(ConversationId, Pair)>, StoreError> {
        self.counted(pairs.len());
        let mut statement = self.conn.prepare_cached(OF_PAIR)?;
        let mut found = Vec::with_capacity(pairs.len());
        for &pair in pairs {
            if let Some(id) = statement
                .query_row([pair.low(), pair.high()], |row| row.get(0))
                .optional()?
            {
                found.push((id, pair));
            }
        }
        Ok(found)
    }

    fn existing_users(&mut self, ids: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        self.counted(ids.len());
        let mut statement = self.conn.prepare_cached(USER_EXISTS)?;
        let mut found = Vec::with_capacity(ids.len());
        for &id in ids {
            if statement.exists([id])? {
                found.push(id);
            }
        }
        Ok(found)
    }

    fn matrix_users_among(&mut self, ids: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        self.counted(ids.len());
        let mut statement = self.conn.prepare_cached(MATRIX_USER)?;
        let mut found = Vec::new();
        for &id in ids {
            if statement.exists([id])? {
                found.push(id);
            }
        }
        Ok(found)
    }

    fn messages_by_txn(&mut self, keys: &[(UserId, &str)]) -> Result<Vec<MessageRow>, StoreError> {
        self.counted(keys.len());
        let mut statement = self.conn.prepare_cached(BY_TXN)?;
        let mut found = Vec::new();
        for (sender_id, txn_id) in keys {
            let row = statement
                .query_row(params![sender_id, txn_id], message_row)
                .optional()?;
            found.extend(row);
        }
        Ok(found)
    }

    fn positions(&mut self, n: usize) -> Result<Vec<Position>, StoreError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let last = match self.last_position {
            Some(last) => last,
            None => {
                self.counted(1);
                self.conn
                    .prepare_cached(LAST_POSITION)?
                    .query_row([], |row| row.get(0))?
            }
        };
        let taken = i64::try_from(n).map_err(|_| StoreError::Inconsistent("too many positions"))?;
        self.last_position = Some(last + taken);
        Ok((1..=taken).map(|i| Position::new(last + i)).collect())
    }

    fn message_at(
        &mut self,
        conversation_id: ConversationId,
        seq: Seq,
    ) -> Result<Option<(MessageRow, Seq)>, StoreError> {
        self.counted(1);
        Ok(self
            .conn
            .prepare_cached(AT_SEQ)?
            .query_row(params![conversation_id, seq], |row| {
                Ok((
                    message_row(row)?,
                    row.get::<_, Option<Seq>>(13)?.unwrap_or_default(),
                ))
            })
            .optional()?)
    }

    fn update_message(&mut self, row: &MessageRow) -> Result<(), StoreError> {
        self.counted(1);
        if row.deleted_at.is_some() {
            self.erased = true;
        }
        self.conn.prepare_cached(UPDATE_MESSAGE)?.execute(params![
            row.body,
            row.edited_at,
            row.deleted_at,
            encode_reactions(&row.reactions),
            row.attachment.as_ref().map(|a| a.id.as_str()),
            encode_attachment(row.attachment.as_ref()),
            row.id
        ])?;
        Ok(())
    }

    fn insert_changes(&mut self, changes: &[NewChange]) -> Result<(), StoreError> {
        self.counted(changes.len());
        let mut statement = self.conn.prepare_cached(NEW_CHANGE)?;
        for c in changes {
            statement.execute(params![
                c.pos,
                c.conversation_id,
                c.seq,
                c.kind.stored(),
                c.user_id,
                c.key,
                c.created_at
            ])?;
        }
        Ok(())
    }

    fn create_conversation(
        &mut self,
        pair: Pair,
        now: i64,
    ) -> Result<(ConversationId, bool), StoreError> {
        self.counted(1);
        let created: Option<ConversationId> = self
            .conn
            .prepare_cached(NEW_CONVERSATION)?
            .query_row(params![pair.low(), pair.high(), now], |row| row.get(0))
            .optional()?;
        if let Some(id) = created {
            self.counted(2);
            let mut membership = self.conn.prepare_cached(NEW_MEMBERSHIP)?;
            for member in pair.members() {
                membership.execute(params![id, member])?;
            }
            return Ok((id, true));
        }
        let existing = self.conversations_of_pairs(&[pair])?;
        let (id, _) = existing.first().ok_or(StoreError::Inconsistent(
            "a conversation vanished after its conflict",
        ))?;
        Ok((*id, false))
    }

    fn reserve_seqs(
        &mut self,
        counts: &[(ConversationId, i64)],
        now: i64,
    ) -> Result<Vec<(ConversationId, Seq)>, StoreError> {
        self.counted(counts.len());
        let mut statement = self.conn.prepare_cached(RESERVE)?;
        let mut reserved = Vec::with_capacity(counts.len());
        for &(id, n) in counts {
            let last = statement
                .query_row(params![n, now, id], |row| row.get(0))
                .optional()?
                .ok_or(StoreError::Inconsistent(
                    "a conversation of the batch is missing",
                ))?;
            reserved.push((id, last));
        }
        Ok(reserved)
    }

    fn insert_messages(&mut self, rows: Vec<NewMessage>) -> Result<Vec<MessageRow>, StoreError> {
        let chunks = rows.len() / MESSAGES_PER_INSERT;
        self.counted(chunks + rows.len() % MESSAGES_PER_INSERT);
        // RETURNING order is not guaranteed (SQLite says so): rows are matched by
        // (conversation, seq).
        let mut ids = HashMap::with_capacity(rows.len());
        for chunk in rows.chunks(MESSAGES_PER_INSERT) {
            if chunk.len() == MESSAGES_PER_INSERT {
                let mut statement = self.conn.prepare_cached(&self.insert_chunk)?;
                insert_rows(&mut statement, chunk, &mut ids)?;
            } else {
                let mut statement = self.conn.prepare_cached(&self.insert_one)?;
                for row in chunk.chunks(1) {
                    insert_rows(&mut statement, row, &mut ids)?;
                }
            }
        }
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let id = *ids.get(&(row.conversation_id, row.seq))?;
                Some(MessageRow {
                    id,
                    conversation_id: row.conversation_id,
                    seq: row.seq,
                    sender_id: row.sender_id,
                    body: row.body,
                    created_at: row.created_at,
                    txn_id: row.txn_id,
                    kind: row.kind,
                    reply_to: row.reply_to,
                    edited_at: None,
                    deleted_at: None,
                    reactions: Vec::new(),
                    attachment: row.attachment,
                })
            })
            .collect())
    }

    fn advance_marker(
        &mut self,
        conversation_id: ConversationId,
        user_id: UserId,
        up_to_seq: Seq,
    ) -> Result<Option<Seq>, StoreError> {
        self.counted(1);
        Ok(self
            .conn
            .prepare_cached(ADVANCE_MARKER)?
            .query_row(params![up_to_seq, conversation_id, user_id], |row| {
                row.get(0)
            })
            .optional()?)
    }

    fn set_display_name(
        &mut self,
        user_id: UserId,
        display_name: &str,
    ) -> Result<Option<UserRow>, StoreError> {
        self.counted(1);
        let Some(user) = self
            .conn
            .prepare_cached(SET_DISPLAY_NAME)?
            .query_row(params![display_name, user_id], |row| {
                Ok(UserRow {
                    id: row.get(0)?,
                    username: row.get(1)?,
                    display_name: row.get(2)?,
                    password_hash: row.get(3)?,
                    created_at: row.get(4)?,
                    matrix_id: row.get(5)?,
                    deactivated_at: row.get(6)?,
                })
            })
            .optional()?
        else {
            return Ok(None);
        };
        // The search finds the new name and no longer the old one from this commit on;
        // a deactivated user (renamed by a request that began before) stays unfound.
        let terms = match user.deactivated_at {
            None => gadka_text::search::terms(&user.username, &user.display_name),
            Some(_) => Vec::new(),
        };
        self.counted(1 + terms.len());
        self.conn
            .prepare_cached(DELETE_TERMS)?
            .execute(params![user_id])?;
        let mut insert = self.conn.prepare_cached(NEW_TERM)?;
        for term in terms {
            insert.execute(params![term.rank.number(), term.text, user_id])?;
        }
        Ok(Some(user))
    }

    fn insert_outbox(&mut self, entries: &[OutboxEntry], now: i64) -> Result<(), StoreError> {
        self.counted(entries.len());
        let mut statement = self.conn.prepare_cached(NEW_OUTBOX)?;
        for entry in entries {
            statement.execute(params![entry.topic, entry.payload, now])?;
        }
        Ok(())
    }

    fn record_group_key(&mut self, key: &str, now: i64) -> Result<(), StoreError> {
        self.counted(1);
        self.conn
            .prepare_cached(NEW_GROUP_KEY)?
            .execute(params![key, now])?;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.counted(1);
        self.conn.execute_batch("COMMIT")?;
        self.checkpoints.committed();
        if std::mem::take(&mut self.erased) {
            self.checkpoints.erase_soon();
        }
        Ok(())
    }

    fn rollback(&mut self) {
        self.last_position = None;
        self.erased = false;
        if !self.conn.is_autocommit()
            && let Err(e) = self.conn.execute_batch("ROLLBACK")
        {
            tracing::error!(error = %e, "rolling back a failed batch failed");
        }
    }

    fn take_wal_sync(&mut self) -> Result<Option<WalSync>, StoreError> {
        if self.durability != Durability::Full {
            return Ok(None);
        }
        // NORMAL still syncs around checkpoints and when the WAL starts over; only the
        // sync at each commit moves to the syncer.
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Some(WalSync::new(&self.path)))
    }
}

#[cfg(test)]
mod tests {
    /// The flags in `.cargo/config.toml` reach the SQLite that is built: without them
    /// every allocation and page fetch of the writer takes a process-wide mutex.
    #[test]
    fn sqlite_is_built_without_its_global_mutexes() {
        let conn = rusqlite::Connection::open_in_memory().expect("an SQLite connection");
        let mut statement = conn.prepare("PRAGMA compile_options").expect("the pragma");
        let options: Vec<String> = statement
            .query_map([], |row| row.get(0))
            .expect("the options")
            .collect::<Result<_, _>>()
            .expect("each option");
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "SQLite counts its allocations (built without LIBSQLITE3_FLAGS from .cargo/config.toml?): {options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "SQLite shares one page cache under a mutex: {options:?}"
        );
    }
}

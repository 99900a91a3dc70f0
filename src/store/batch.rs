//! The message engine's transaction: everything one batch of commands changes,
//! committed at once with one fsync.
//!
//! The engine (`chat::engine`) decides what a batch does; this module only runs the
//! statements, a constant number per batch and per conversation it touches, never one
//! per message. Everything here runs inside one transaction: either all of it is
//! committed, or none of it.

use entity::{conversation, membership, message, outbox};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
    sea_query::{CaseStatement, Expr, ExprTrait, OnConflict, Query},
};

use super::{MessageRow, Store};

/// A message to insert, with the `seq` the engine assigned.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub conversation_id: i64,
    pub seq: i64,
    pub sender_id: i64,
    pub body: String,
    pub txn_id: Option<String>,
    pub created_at: i64,
}

/// A row a subscriber commits with the batch (see `entity::outbox`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub topic: &'static str,
    pub payload: String,
}

/// An open batch transaction. Dropped without [`Batch::commit`], it rolls back.
pub struct Batch {
    txn: DatabaseTransaction,
}

impl Store {
    /// Starts the batch's transaction. On SQLite it is `BEGIN IMMEDIATE`: the write lock
    /// is taken at once, so no other writer can commit between the batch's reads and
    /// its writes (which would fail the batch with `SQLITE_BUSY`).
    pub async fn begin_batch(&self) -> Result<Batch, DbErr> {
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                isolation_level: None,
                access_mode: None,
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            })
            .await?;
        Ok(Batch { txn })
    }
}

impl Batch {
    fn backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    /// Creates the direct conversation of a pair with both memberships; when it
    /// already exists (another node won the race), returns the existing one. `true`
    /// when this call created it.
    pub async fn create_conversation(
        &self,
        low: i64,
        high: i64,
        now: i64,
    ) -> Result<(i64, bool), DbErr> {
        let insert = Query::insert()
            .into_table(conversation::Entity)
            .columns([
                conversation::Column::UserLow,
                conversation::Column::UserHigh,
                conversation::Column::LastSeq,
                conversation::Column::CreatedAt,
                conversation::Column::LastActivityAt,
            ])
            .values([low.into(), high.into(), 0i64.into(), now.into(), now.into()])
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .on_conflict(
                OnConflict::columns([
                    conversation::Column::UserLow,
                    conversation::Column::UserHigh,
                ])
                .do_nothing()
                .to_owned(),
            )
            .returning_col(conversation::Column::Id)
            .to_owned();
        if let Some(row) = self.txn.query_one(&insert).await? {
            let id: i64 = row.try_get("", "id")?;
            let memberships = Query::insert()
                .into_table(membership::Entity)
                .columns([
                    membership::Column::ConversationId,
                    membership::Column::UserId,
                    membership::Column::LastReadSeq,
                ])
                .values([id.into(), low.into(), 0i64.into()])
                .and_then(|q| q.values([id.into(), high.into(), 0i64.into()]))
                .map_err(|e| DbErr::Custom(e.to_string()))?
                .to_owned();
            self.txn.execute(&memberships).await?;
            return Ok((id, true));
        }
        let existing = Query::select()
            .column(conversation::Column::Id)
            .from(conversation::Entity)
            .and_where(Expr::col(conversation::Column::UserLow).eq(low))
            .and_where(Expr::col(conversation::Column::UserHigh).eq(high))
            .to_owned();
        let row = self
            .txn
            .query_one(&existing)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("conversation after conflict".into()))?;
        Ok((row.try_get("", "id")?, false))
    }

    /// Reserves sequence numbers in several conversations at once and records their
    /// activity: `counts` is `(conversation, how many)`. Returns each conversation's new
    /// `last_seq` (its reserved numbers end there). One statement, whatever the number
    /// of conversations; on PostgreSQL its row locks serialise writers of one
    /// conversation across nodes.
    pub async fn reserve_seqs(
        &self,
        counts: &[(i64, i64)],
        now: i64,
    ) -> Result<Vec<(i64, i64)>, DbErr> {
        if counts.is_empty() {
            return Ok(Vec::new());
        }
        let by_id = counts
            .iter()
            .fold(CaseStatement::new(), |case, (id, n)| {
                case.case(Expr::col(conversation::Column::Id).eq(*id), *n)
            })
            .finally(0i64);
        let update = Query::update()
            .table(conversation::Entity)
            .value(
                conversation::Column::LastSeq,
                Expr::col(conversation::Column::LastSeq).add(Into::<Expr>::into(by_id)),
            )
            .value(conversation::Column::LastActivityAt, now)
            .and_where(Expr::col(conversation::Column::Id).is_in(counts.iter().map(|(id, _)| *id)))
            .returning(
                Query::returning()
                    .columns([conversation::Column::Id, conversation::Column::LastSeq]),
            )
            .to_owned();
        let rows = self.txn.query_all(&update).await?;
        let reserved = rows
            .iter()
            .map(|row| Ok((row.try_get("", "id")?, row.try_get("", "last_seq")?)))
            .collect::<Result<Vec<(i64, i64)>, DbErr>>()?;
        if reserved.len() != counts.len() {
            return Err(DbErr::RecordNotFound("a conversation of the batch".into()));
        }
        Ok(reserved)
    }

    /// Inserts messages in one statement, in the given order (so their ids follow it).
    /// A row whose `(sender_id, txn_id)` is already stored is skipped, not an error:
    /// an error would abort the whole transaction on PostgreSQL. Returns the rows
    /// stored; a skipped one is missing, and its caller reads the original.
    pub async fn insert_messages(&self, rows: &[NewMessage]) -> Result<Vec<MessageRow>, DbErr> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut insert = Query::insert();
        insert.into_table(message::Entity).columns([
            message::Column::ConversationId,
            message::Column::Seq,
            message::Column::SenderId,
            message::Column::Body,
            message::Column::CreatedAt,
            message::Column::TxnId,
        ]);
        for row in rows {
            insert
                .values([
                    row.conversation_id.into(),
                    row.seq.into(),
                    row.sender_id.into(),
                    row.body.clone().into(),
                    row.created_at.into(),
                    row.txn_id.clone().into(),
                ])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        insert
            .on_conflict(
                OnConflict::columns([message::Column::SenderId, message::Column::TxnId])
                    .do_nothing()
                    .to_owned(),
            )
            .returning(Query::returning().columns([
                message::Column::Id,
                message::Column::ConversationId,
                message::Column::Seq,
            ]));
        let stored = self.txn.query_all(&insert).await?;
        // RETURNING order is not guaranteed (SQLite says so): match rows by (conversation, seq).
        let mut by_key = std::collections::HashMap::with_capacity(stored.len());
        for row in stored {
            let key: (i64, i64) = (row.try_get("", "conversation_id")?, row.try_get("", "seq")?);
            by_key.insert(key, row.try_get::<i64>("", "id")?);
        }
        Ok(rows
            .iter()
            .filter_map(|row| {
                let id = *by_key.get(&(row.conversation_id, row.seq))?;
                Some(MessageRow {
                    id,
                    conversation_id: row.conversation_id,
                    seq: row.seq,
                    sender_id: row.sender_id,
                    body: row.body.clone(),
                    created_at: row.created_at,
                    txn_id: row.txn_id.clone(),
                })
            })
            .collect())
    }

    /// Moves a member's read marker forward to `up_to_seq`, clamped to the newest
    /// message of the conversation; never backwards. `Some(new marker)` when it moved.
    pub async fn advance_marker(
        &self,
        conversation_id: i64,
        user_id: i64,
        up_to_seq: i64,
    ) -> Result<Option<i64>, DbErr> {
        let (least, p) = match self.backend() {
            DbBackend::Postgres => ("LEAST", ["$1", "$2", "$3"]),
            _ => ("MIN", ["?1", "?2", "?3"]),
        };
        let [up_to, conversation, user] = p;
        let target = format!(
            "{least}({up_to}, (SELECT last_seq FROM conversation WHERE id = {conversation}))"
        );
        let sql = format!(
            "UPDATE membership SET last_read_seq = {target} \
             WHERE conversation_id = {conversation} AND user_id = {user} AND last_read_seq < {target} \
             RETURNING last_read_seq"
        );
        let statement = Statement::from_sql_and_values(
            self.backend(),
            sql,
            [up_to_seq.into(), conversation_id.into(), user_id.into()],
        );
        match self.txn.query_one_raw(statement).await? {
            Some(row) => Ok(Some(row.try_get("", "last_read_seq")?)),
            None => Ok(None),
        }
    }

    /// Stores subscribers' rows with the batch.
    pub async fn insert_outbox(&self, entries: &[OutboxEntry], now: i64) -> Result<(), DbErr> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut insert = Query::insert();
        insert.into_table(outbox::Entity).columns([
            outbox::Column::Topic,
            outbox::Column::Payload,
            outbox::Column::CreatedAt,
        ]);
        for entry in entries {
            insert
                .values([entry.topic.into(), entry.payload.clone().into(), now.into()])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        self.txn.execute(&insert).await?;
        Ok(())
    }

    /// Commits everything the batch did.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

//! Batches on PostgreSQL: SeaORM on the pool, one set-based statement per kind of
//! change per batch (every statement is a network round trip), run to completion on
//! the runtime from the engine's thread.

use entity::{change_log, conversation, group_key, membership, message, outbox, user};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter,
    QuerySelect, Statement, TransactionTrait,
    sea_query::{CaseStatement, Expr, ExprTrait, OnConflict, Query},
};
use tokio::runtime::Handle;

use super::{BatchWriter, NewChange, NewMessage, OutboxEntry};
use crate::{
    ids::{ConversationId, Pair, Position, Seq, UserId},
    store::{MessageRow, Store, StoreError, UserRow, encode_reactions, users},
};

/// The engine's PostgreSQL side: the pool, and the batch's transaction while one is open.
pub(super) struct PostgresBatches {
    store: Store,
    runtime: Handle,
    txn: Option<Txn>,
}

impl PostgresBatches {
    pub(super) fn new(store: Store, runtime: Handle) -> Self {
        Self {
            store,
            runtime,
            txn: None,
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
        let txn = self.runtime.block_on(self.store.db.begin())?;
        self.txn = Some(Txn { txn });
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

    fn rollback(&mut self) {
        if let Some(txn) = self.txn.take()
            && let Err(e) = self.runtime.block_on(txn.txn.rollback())
        {
            tracing::error!(error = %e, "rolling back a failed batch failed");
        }
    }
}

/// An open batch transaction. Dropped without a commit, it rolls back.
struct Txn {
    txn: DatabaseTransaction,
}

impl Txn {
    /// Positions come from the sequence of `message.id`, so that a message's id is its
    /// position and every writer that may later share the database draws from one
    /// counter.
    async fn positions(&self, n: usize) -> Result<Vec<Position>, DbErr> {
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT nextval(pg_get_serial_sequence('message', 'id')) AS pos \
             FROM generate_series(1, $1)",
            [i64::try_from(n).unwrap_or(i64::MAX).into()],
        );
        let rows = self.txn.query_all_raw(statement).await?;
        let mut positions = rows
            .iter()
            .map(|row| row.try_get::<Position>("", "pos"))
            .collect::<Result<Vec<_>, _>>()?;
        positions.sort_unstable();
        Ok(positions)
    }

    async fn message_at(
        &self,
        conversation_id: ConversationId,
        seq: Seq,
    ) -> Result<Option<(MessageRow, Seq)>, DbErr> {
        let Some(found) = message::Entity::find()
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(message::Column::Seq.eq(seq))
            .one(&self.txn)
            .await?
        else {
            return Ok(None);
        };
        let marker: Option<i64> = membership::Entity::find()
            .select_only()
            .column(membership::Column::LastReadSeq)
            .filter(membership::Column::ConversationId.eq(conversation_id))
            .filter(membership::Column::UserId.ne(found.sender_id))
            .into_tuple()
            .one(&self.txn)
            .await?;
        Ok(Some((
            MessageRow::from(found),
            Seq::new(marker.unwrap_or_default()),
        )))
    }

    async fn update_message(&self, row: &MessageRow) -> Result<(), DbErr> {
        message::Entity::update_many()
            .col_expr(message::Column::Body, Expr::value(row.body.clone()))
            .col_expr(message::Column::EditedAt, Expr::value(row.edited_at))
            .col_expr(message::Column::DeletedAt, Expr::value(row.deleted_at))
            .col_expr(
                message::Column::Reactions,
                Expr::value(encode_reactions(&row.reactions)),
            )
            .filter(message::Column::Id.eq(row.id))
            .exec(&self.txn)
            .await?;
        Ok(())
    }

    async fn insert_changes(&self, changes: &[NewChange]) -> Result<(), DbErr> {
        let mut insert = Query::insert();
        insert.into_table(change_log::Entity).columns([
            change_log::Column::Pos,
            change_log::Column::ConversationId,
            change_log::Column::Seq,
            change_log::Column::Kind,
            change_log::Column::UserId,
            change_log::Column::Key,
            change_log::Column::CreatedAt,
        ]);
        for c in changes {
            insert
                .values([
                    c.pos.into(),
                    c.conversation_id.map(|id| id.get()).into(),
                    c.seq.map(|seq| seq.get()).into(),
                    c.kind.stored().into(),
                    c.user_id.into(),
                    c.key.clone().into(),
                    c.created_at.into(),
                ])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        self.txn.execute(&insert).await?;
        Ok(())
    }

    async fn create_conversation(
        &self,
        pair: Pair,
        now: i64,
    ) -> Result<(ConversationId, bool), DbErr> {
        let (low, high) = (pair.low(), pair.high());
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
            let id: ConversationId = row.try_get("", "id")?;
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

    async fn reserve_seqs(
        &self,
        counts: &[(ConversationId, i64)],
        now: i64,
    ) -> Result<Vec<(ConversationId, Seq)>, DbErr> {
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
            .collect::<Result<Vec<(ConversationId, Seq)>, DbErr>>()?;
        if reserved.len() != counts.len() {
            return Err(DbErr::RecordNotFound("a conversation of the batch".into()));
        }
        Ok(reserved)
    }

    async fn insert_messages(&self, rows: &[NewMessage]) -> Result<Vec<MessageRow>, DbErr> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut insert = Query::insert();
        insert.into_table(message::Entity).columns([
            message::Column::Id,
            message::Column::ConversationId,
            message::Column::Seq,
            message::Column::SenderId,
            message::Column::Body,
            message::Column::CreatedAt,
            message::Column::TxnId,
            message::Column::Kind,
            message::Column::ReplyTo,
        ]);
        for row in rows {
            insert
                .values([
                    row.id.into(),
                    row.conversation_id.into(),
                    row.seq.into(),
                    row.sender_id.into(),
                    row.body.clone().into(),
                    row.created_at.into(),
                    row.txn_id.clone().into(),
                    row.kind.stored().into(),
                    row.reply_to.map(|seq| seq.get()).into(),
                ])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        insert
            .on_conflict(
                OnConflict::columns([message::Column::SenderId, message::Column::TxnId])
                    .do_nothing()
                    .to_owned(),
            )
            .returning(Query::returning().columns([message::Column::Id]));
        let stored = self.txn.query_all(&insert).await?;
        let mut ids = std::collections::HashSet::with_capacity(stored.len());
        for row in stored {
            ids.insert(row.try_get::<i64>("", "id")?);
        }
        Ok(rows
            .iter()
            .filter_map(|row| {
                ids.contains(&row.id.get()).then_some(())?;
                Some(MessageRow {
                    id: row.id,
                    conversation_id: row.conversation_id,
                    seq: row.seq,
                    sender_id: row.sender_id,
                    body: row.body.clone(),
                    created_at: row.created_at,
                    txn_id: row.txn_id.clone(),
                    kind: row.kind,
                    reply_to: row.reply_to,
                    edited_at: None,
                    deleted_at: None,
                    reactions: Vec::new(),
                })
            })
            .collect())
    }

    async fn advance_marker(
        &self,
        conversation_id: ConversationId,
        user_id: UserId,
        up_to_seq: Seq,
    ) -> Result<Option<Seq>, DbErr> {
        const ADVANCE_MARKER: &str = "UPDATE membership \
             SET last_read_seq = LEAST($1, (SELECT last_seq FROM conversation WHERE id = $2)) \
             WHERE conversation_id = $2 AND user_id = $3 \
               AND last_read_seq < LEAST($1, (SELECT last_seq FROM conversation WHERE id = $2)) \
             RETURNING last_read_seq";
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            ADVANCE_MARKER,
            [up_to_seq.into(), conversation_id.into(), user_id.into()],
        );
        match self.txn.query_one_raw(statement).await? {
            Some(row) => Ok(Some(row.try_get("", "last_read_seq")?)),
            None => Ok(None),
        }
    }

    async fn set_display_name(
        &self,
        user_id: UserId,
        display_name: &str,
    ) -> Result<Option<UserRow>, DbErr> {
        let updated = user::Entity::update_many()
            .col_expr(user::Column::DisplayName, Expr::value(display_name))
            .filter(user::Column::Id.eq(user_id))
            .exec_with_returning(&self.txn)
            .await?;
        let Some(user) = updated.into_iter().next() else {
            return Ok(None);
        };
        let user = UserRow::from(user);
        users::replace_terms(&self.txn, &user).await?;
        Ok(Some(user))
    }

    async fn insert_outbox(&self, entries: &[OutboxEntry], now: i64) -> Result<(), DbErr> {
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

    async fn record_group_key(&self, key: &str, now: i64) -> Result<(), DbErr> {
        let insert = Query::insert()
            .into_table(group_key::Entity)
            .columns([group_key::Column::Key, group_key::Column::CreatedAt])
            .values([key.into(), now.into()])
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .on_conflict(
                OnConflict::column(group_key::Column::Key)
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        self.txn.execute(&insert).await?;
        Ok(())
    }
}

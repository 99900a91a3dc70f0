//! The PostgreSQL batch's statements, set-based (one per kind of change per batch),
//! on the batch's open transaction.

use entity::{change_log, conversation, group_key, membership, message, outbox, user};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter,
    QuerySelect, Statement,
    sea_query::{CaseStatement, Expr, ExprTrait, OnConflict, Query},
};

use crate::store::batch::{NewChange, NewMessage, OutboxEntry};
use crate::{
    ids::{ConversationId, Pair, Position, Seq, UserId},
    store::{MessageRow, UserRow, encode_attachment, encode_reactions, users},
};

/// An open batch transaction. Dropped without a commit, it rolls back.
pub(super) struct Txn {
    pub(super) txn: DatabaseTransaction,
}

/// How long a batch's transaction may sit between two statements before PostgreSQL
/// ends its session. The batch holds `stream_head`'s lock, which every node's next
/// batch waits for; a writer that stalls there (a paused process, a partition) is cut
/// off, its transaction rolled back, and it can never commit it when it wakes: the
/// database fences it. The writer sends its statements back to back, so only a stall
/// comes near this.
pub(super) const STALLED_BATCH: &str = "5s";

impl Txn {
    /// Takes this batch's turn: increments `stream_head`, whose row lock is held until
    /// the batch commits or rolls back, so batches of every node commit one after
    /// another and positions drawn after this commit in order. Returns the batch's
    /// number. The stall timeout is set for this transaction in the same statement.
    pub(super) async fn take_turn(&self) -> Result<i64, DbErr> {
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "WITH stall AS (SELECT set_config('idle_in_transaction_session_timeout', $1, true)) \
             UPDATE stream_head SET batch = batch + 1 FROM stall WHERE id = 1 RETURNING batch",
            [STALLED_BATCH.into()],
        );
        let row = self
            .txn
            .query_one_raw(statement)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("stream_head".to_owned()))?;
        row.try_get::<i64>("", "batch")
    }

    /// Positions come from the sequence of `message.id`, so that a message's id is its
    /// position and every writer that may later share the database draws from one
    /// counter.
    pub(super) async fn positions(&self, n: usize) -> Result<Vec<Position>, DbErr> {
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

    pub(super) async fn message_at(
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

    pub(super) async fn update_message(&self, row: &MessageRow) -> Result<(), DbErr> {
        message::Entity::update_many()
            .col_expr(message::Column::Body, Expr::value(row.body.clone()))
            .col_expr(message::Column::EditedAt, Expr::value(row.edited_at))
            .col_expr(message::Column::DeletedAt, Expr::value(row.deleted_at))
            .col_expr(
                message::Column::Reactions,
                Expr::value(encode_reactions(&row.reactions)),
            )
            .col_expr(
                message::Column::MediaId,
                Expr::value(row.attachment.as_ref().map(|a| a.id.clone())),
            )
            .col_expr(
                message::Column::Attachment,
                Expr::value(encode_attachment(row.attachment.as_ref())),
            )
            .filter(message::Column::Id.eq(row.id))
            .exec(&self.txn)
            .await?;
        Ok(())
    }

    pub(super) async fn insert_changes(&self, changes: &[NewChange]) -> Result<(), DbErr> {
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

    pub(super) async fn create_conversation(
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

    pub(super) async fn reserve_seqs(
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

    pub(super) async fn insert_messages(
        &self,
        rows: &[NewMessage],
    ) -> Result<Vec<MessageRow>, DbErr> {
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
            message::Column::MediaId,
            message::Column::Attachment,
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
                    row.attachment.as_ref().map(|a| a.id.clone()).into(),
                    encode_attachment(row.attachment.as_ref()).into(),
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
                    attachment: row.attachment.clone(),
                })
            })
            .collect())
    }

    pub(super) async fn advance_marker(
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

    pub(super) async fn set_display_name(
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

    pub(super) async fn insert_outbox(
        &self,
        entries: &[OutboxEntry],
        now: i64,
    ) -> Result<(), DbErr> {
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

    pub(super) async fn record_group_key(&self, key: &str, now: i64) -> Result<(), DbErr> {
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

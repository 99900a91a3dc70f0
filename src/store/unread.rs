//! Unread counts: how many of the peers' messages lie past a reader's marker (a
//! deleted one does not count), per
//! conversation (the list) and per sender (the unread summary). Markers are moved only
//! by the message engine's batch (`batch/`).
//!
//! Both are one grouped query over `message` joined with the reader's memberships, so
//! the count costs the same for one conversation or fifty; they take any connection,
//! so `hello` and the list count inside their read snapshot.

use std::collections::HashMap;

use entity::{membership, message};
use sea_orm::{
    Condition, ConnectionTrait, DbBackend, Statement, Value,
    sea_query::{Expr, ExprTrait, Order, Query},
};

use super::{Store, StoreError};
use crate::ids::{ConversationId, UserId};

impl Store {
    /// Per sender, how many of their messages `reader` has not read, the sender with
    /// the newest unread message first: `(sender_id, count)`.
    pub async fn unread_by_sender(&self, reader: UserId) -> Result<Vec<(UserId, i64)>, StoreError> {
        by_sender(&self.db, reader).await
    }
}

/// Per conversation, how many messages of the peer are past `reader`'s marker.
pub(super) async fn by_conversation(
    db: &impl ConnectionTrait,
    reader: UserId,
    conversation_ids: &[ConversationId],
) -> Result<HashMap<ConversationId, u64>, StoreError> {
    if conversation_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let m = |c: message::Column| Expr::col((message::Entity, c));
    let query = Query::select()
        .expr_as(m(message::Column::ConversationId), "conversation_id")
        .expr_as(m(message::Column::Id).count(), "unread")
        .from(message::Entity)
        .inner_join(
            membership::Entity,
            Condition::all()
                .add(
                    Expr::col((membership::Entity, membership::Column::ConversationId))
                        .equals((message::Entity, message::Column::ConversationId)),
                )
                .add(Expr::col((membership::Entity, membership::Column::UserId)).eq(reader)),
        )
        .and_where(m(message::Column::ConversationId).is_in(conversation_ids.iter().copied()))
        .and_where(m(message::Column::SenderId).ne(reader))
        .and_where(m(message::Column::DeletedAt).is_null())
        .and_where(m(message::Column::Seq).gt(Expr::col((
            membership::Entity,
            membership::Column::LastReadSeq,
        ))))
        .group_by_col((message::Entity, message::Column::ConversationId))
        .to_owned();
    let rows = db.query_all(&query).await?;
    rows.iter()
        .map(|row| {
            let count: i64 = row.try_get("", "unread")?;
            Ok((
                row.try_get("", "conversation_id")?,
                u64::try_from(count).unwrap_or(0),
            ))
        })
        .collect()
}

/// Per sender, how many of their messages are past `reader`'s markers, the sender
/// with the newest unread message first.
///
/// Each conversation's unread messages are the range past the marker in the
/// `(conversation, seq)` index. SQLite reads them so from the plain join. PostgreSQL's
/// planner cannot know that markers sit near the end, guesses a third of every
/// conversation, and hash-joins a scan of the whole `message` table (400 ms at 1.2
/// million messages); a `LATERAL` aggregate per membership makes it read the ranges
/// (4 ms), whatever it guesses.
pub(super) async fn by_sender(
    db: &impl ConnectionTrait,
    reader: UserId,
) -> Result<Vec<(UserId, i64)>, StoreError> {
    if db.get_database_backend() == DbBackend::Postgres {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT u.sender_id, SUM(u.unread)::bigint AS unread \
                 FROM membership mb CROSS JOIN LATERAL ( \
                     SELECT sender_id, COUNT(*) AS unread, MAX(id) AS newest FROM message \
                     WHERE conversation_id = mb.conversation_id AND seq > mb.last_read_seq \
                       AND sender_id <> $1 AND deleted_at IS NULL \
                     GROUP BY sender_id) u \
                 WHERE mb.user_id = $1 \
                 GROUP BY u.sender_id ORDER BY MAX(u.newest) DESC",
                [Value::from(reader.get())],
            ))
            .await?;
        return rows
            .iter()
            .map(|row| Ok((row.try_get("", "sender_id")?, row.try_get("", "unread")?)))
            .collect();
    }
    let m = |c: message::Column| Expr::col((message::Entity, c));
    let query = Query::select()
        .expr_as(m(message::Column::SenderId), "sender_id")
        .expr_as(m(message::Column::Id).count(), "unread")
        .from(message::Entity)
        .inner_join(
            membership::Entity,
            Expr::col((membership::Entity, membership::Column::ConversationId))
                .equals((message::Entity, message::Column::ConversationId)),
        )
        .and_where(Expr::col((membership::Entity, membership::Column::UserId)).eq(reader))
        .and_where(m(message::Column::SenderId).ne(reader))
        .and_where(m(message::Column::DeletedAt).is_null())
        .and_where(m(message::Column::Seq).gt(Expr::col((
            membership::Entity,
            membership::Column::LastReadSeq,
        ))))
        .group_by_col((message::Entity, message::Column::SenderId))
        .order_by_expr(m(message::Column::Id).max(), Order::Desc)
        .to_owned();
    let rows = db.query_all(&query).await?;
    rows.iter()
        .map(|row| Ok((row.try_get("", "sender_id")?, row.try_get("", "unread")?)))
        .collect()
}

//! Messages: pages of one conversation, what a socket missed, a list's newest
//! messages, and the ones a sender already stored under a `txn_id`. Messages are
//! written only by the message engine's batch (`batch/`).
//!
//! Each read is one query whatever it covers; the ones a list or `hello` needs take
//! any connection, so they can run inside that read's snapshot.

use entity::message;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, Value, sea_query::Order,
};

use super::{ConversationOfUser, MessageKind, MessageRow, Store, StoreError};
use crate::ids::{ConversationId, MessageId, Seq, UserId};

impl Store {
    /// The bytes of every message body `sender` has stored: what their storage quota
    /// counts. Read once per user and process (`chat::allowance` adds to it after),
    /// through the `(sender_id, txn_id)` index.
    pub async fn stored_bytes_of(&self, sender: UserId) -> Result<u64, StoreError> {
        let backend = self.db.get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => {
                "SELECT COALESCE(SUM(octet_length(body)), 0)::bigint AS bytes FROM message WHERE sender_id = $1"
            }
            _ => {
                "SELECT COALESCE(SUM(length(CAST(body AS BLOB))), 0) AS bytes FROM message WHERE sender_id = ?"
            }
        };
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [sender.get().into()],
            ))
            .await?;
        let bytes: i64 = match row {
            Some(row) => row.try_get("", "bytes")?,
            None => 0,
        };
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    /// The messages already stored under these `(sender, txn_id)` keys, in one query:
    /// `(sender_id, txn_id) IN (VALUES …)`, one index probe per key, and a statement
    /// the planner reads in one pass however many keys there are.
    pub async fn messages_by_txn(
        &self,
        keys: &[(UserId, &str)],
    ) -> Result<Vec<MessageRow>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let backend = self.db.get_database_backend();
        let mut sql = String::from(
            "SELECT id, conversation_id, seq, sender_id, body, created_at, txn_id, kind FROM message \
             WHERE (sender_id, txn_id) IN (VALUES ",
        );
        let mut values: Vec<Value> = Vec::with_capacity(keys.len() * 2);
        for (i, (sender, txn_id)) in keys.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let (a, b) = (2 * i + 1, 2 * i + 2);
            match backend {
                DbBackend::Postgres => sql.push_str(&format!("(${a}::bigint, ${b}::text)")),
                _ => sql.push_str(&format!("(?{a}, ?{b})")),
            }
            values.push((*sender).into());
            values.push((*txn_id).into());
        }
        sql.push(')');
        let statement = Statement::from_sql_and_values(backend, sql, values);
        Ok(message::Entity::find()
            .from_raw_sql(statement)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Whether a notice ([`MessageKind::Notice`]) comes after `seq` in a conversation;
    /// through the `(conversation, seq)` index, over the messages after `seq` alone.
    pub async fn notice_after(
        &self,
        conversation_id: ConversationId,
        seq: Seq,
    ) -> Result<bool, StoreError> {
        let found = message::Entity::find()
            .select_only()
            .column(message::Column::Id)
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(message::Column::Seq.gt(seq))
            .filter(message::Column::Kind.eq(MessageKind::Notice.stored()))
            .limit(1)
            .into_tuple::<i64>()
            .one(&self.db)
            .await?;
        Ok(found.is_some())
    }

    /// Up to `limit` messages with `seq < before` (or the newest), oldest first.
    pub async fn messages_before(
        &self,
        conversation_id: ConversationId,
        before: Option<Seq>,
        limit: u64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let mut query =
            message::Entity::find().filter(message::Column::ConversationId.eq(conversation_id));
        if let Some(before) = before {
            query = query.filter(message::Column::Seq.lt(before));
        }
        let mut page: Vec<MessageRow> = query
            .order_by(message::Column::Seq, Order::Desc)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        page.reverse();
        Ok(page)
    }
}

/// The newest `n` messages of each conversation, in one query: `seq` has no gaps, so
/// they are the ones past `last_seq - n`, found through the `(conversation, seq)` index.
pub(super) async fn newest(
    db: &impl ConnectionTrait,
    conversations: &[ConversationOfUser],
    n: u64,
) -> Result<Vec<MessageRow>, StoreError> {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let wanted: Vec<_> = conversations
        .iter()
        .filter(|c| n > 0 && c.conversation.last_seq > Seq::new(0))
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let any = wanted.iter().fold(Condition::any(), |any, c| {
        any.add(
            Condition::all()
                .add(message::Column::ConversationId.eq(c.conversation.id))
                .add(message::Column::Seq.gt(c.conversation.last_seq.get().saturating_sub(n))),
        )
    });
    Ok(message::Entity::find()
        .filter(any)
        .order_by(message::Column::ConversationId, Order::Asc)
        .order_by(message::Column::Seq, Order::Asc)
        .all(db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// The newest message id in `user_id`'s conversations (0: none): one probe of the
/// `(conversation, seq)` index per conversation, at its `last_seq`. Within a
/// conversation a higher `seq` always has a higher id (both are taken in the batch's
/// turn), so that message is the conversation's newest id. `MAX(id)` over the
/// memberships instead made PostgreSQL scan the whole `message` table on every `hello`.
pub(super) async fn last_id_for(
    db: &impl ConnectionTrait,
    user_id: UserId,
) -> Result<MessageId, StoreError> {
    let backend = db.get_database_backend();
    let placeholder = if backend == DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let sql = format!(
        "SELECT MAX(m.id) AS id FROM membership mb \
         JOIN conversation c ON c.id = mb.conversation_id \
         JOIN message m ON m.conversation_id = c.id AND m.seq = c.last_seq \
         WHERE mb.user_id = {placeholder}"
    );
    let newest: Option<i64> = match db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [Value::from(user_id.get())],
        ))
        .await?
    {
        Some(row) => row.try_get("", "id")?,
        None => None,
    };
    Ok(newest.map(MessageId::new).unwrap_or_default())
}

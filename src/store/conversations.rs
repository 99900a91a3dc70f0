//! Conversations, memberships and read markers: the reads. Writes go through the
//! message engine's batch (`batch.rs`).
//!
//! Every read here is a constant number of queries, however many conversations or
//! messages it covers: a conversation list of fifty costs what a list of one does.

use std::collections::HashMap;

use entity::{conversation, membership, message, user};
use sea_orm::{
    AccessMode, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IsolationLevel, QueryFilter,
    QueryOrder, QuerySelect, TransactionOptions, TransactionTrait,
    sea_query::{Alias, Expr, ExprTrait, Order, Query},
};

use super::{ConversationOfUser, ConversationRow, MessageRow, Store, StoreError, UserRow};

/// Everything a conversation list shows, read in one consistent snapshot.
#[derive(Debug, Default)]
pub struct ConversationList {
    /// Newest activity first.
    pub conversations: Vec<ConversationOfUser>,
    /// The newest messages of those conversations, oldest first within each.
    pub messages: Vec<MessageRow>,
    /// Messages from the peer past my marker, per conversation (absent: none).
    pub unread: HashMap<i64, u64>,
    /// The peers of those conversations.
    pub peers: Vec<UserRow>,
}

/// What a socket starts from (F2, F3a), read in one consistent snapshot: every
/// message with an id up to `last_message_id` is reflected in it, and none above.
#[derive(Debug, Default)]
pub struct HelloRows {
    pub me: Option<UserRow>,
    pub list: ConversationList,
    /// `(sender, count)`, the sender with the newest unread message first.
    pub unread_by_sender: Vec<(i64, i64)>,
    pub unread_senders: Vec<UserRow>,
    pub peers: Vec<i64>,
    pub last_message_id: i64,
}

impl Store {
    /// The direct conversation of a pair, if it exists.
    pub async fn direct_conversation(
        &self,
        a: i64,
        b: i64,
    ) -> Result<Option<ConversationRow>, StoreError> {
        let (low, high) = (Ord::min(a, b), Ord::max(a, b));
        Ok(conversation::Entity::find()
            .filter(conversation::Column::UserLow.eq(low))
            .filter(conversation::Column::UserHigh.eq(high))
            .one(&self.db)
            .await?
            .map(Into::into))
    }

    /// The members `(id, low, high)` of those conversations that exist.
    pub async fn conversation_members(
        &self,
        ids: impl IntoIterator<Item = i64>,
    ) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        self.members_where(conversation::Column::Id.is_in(ids).into())
            .await
    }

    /// The conversations `(id, low, high)` of those pairs (each `low < high`) that have one.
    pub async fn conversations_of_pairs(
        &self,
        pairs: &[(i64, i64)],
    ) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let any = pairs.iter().fold(Condition::any(), |any, (low, high)| {
            any.add(
                Condition::all()
                    .add(conversation::Column::UserLow.eq(*low))
                    .add(conversation::Column::UserHigh.eq(*high)),
            )
        });
        self.members_where(any).await
    }

    async fn members_where(&self, filter: Condition) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        conversation::Entity::find()
            .select_only()
            .columns([
                conversation::Column::Id,
                conversation::Column::UserLow,
                conversation::Column::UserHigh,
            ])
            .filter(filter)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(StoreError::from)
    }

    /// One of `user_id`'s conversations with both markers; `None` when it does not
    /// exist or the user is not a member.
    pub async fn conversation_of_user(
        &self,
        user_id: i64,
        conversation_id: i64,
    ) -> Result<Option<ConversationOfUser>, StoreError> {
        let rows = conversations_of_user(&self.db, user_id, Some(conversation_id), 1).await?;
        Ok(rows.into_iter().next())
    }

    /// My latest conversations (newest activity first), each with its newest
    /// `messages` messages, unread counts and peers: four queries.
    pub async fn conversation_list(
        &self,
        user_id: i64,
        limit: u64,
        messages: u64,
    ) -> Result<ConversationList, StoreError> {
        let txn = self.read_snapshot().await?;
        let list = conversation_list(&txn, user_id, limit, messages).await?;
        txn.commit().await?;
        Ok(list)
    }

    /// These conversations of mine, each with its newest `messages` messages, unread
    /// counts and peers.
    pub async fn conversation_list_of(
        &self,
        user_id: i64,
        conversations: &[ConversationOfUser],
        messages: u64,
    ) -> Result<ConversationList, StoreError> {
        complete_list(&self.db, user_id, conversations.to_vec(), messages).await
    }

    /// The `hello` snapshot: a constant number of queries in one read transaction.
    pub async fn hello(
        &self,
        user_id: i64,
        limit: u64,
        messages: u64,
    ) -> Result<HelloRows, StoreError> {
        let txn = self.read_snapshot().await?;
        let last_message_id = last_message_id_for(&txn, user_id).await?;
        let me = user::Entity::find_by_id(user_id).one(&txn).await?;
        let list = conversation_list(&txn, user_id, limit, messages).await?;
        let unread_by_sender = unread_by_sender(&txn, user_id).await?;
        let unread_senders = users(&txn, unread_by_sender.iter().map(|(id, _)| *id)).await?;
        let peers = peers_of(&txn, user_id).await?;
        txn.commit().await?;
        Ok(HelloRows {
            me: me.map(Into::into),
            list,
            unread_by_sender,
            unread_senders,
            peers,
            last_message_id,
        })
    }

    /// A read-only transaction that sees one state of the database throughout: a
    /// deferred transaction on SQLite (WAL fixes its snapshot at the first read),
    /// `REPEATABLE READ` on PostgreSQL.
    async fn read_snapshot(&self) -> Result<sea_orm::DatabaseTransaction, StoreError> {
        let postgres = self.db.get_database_backend() == sea_orm::DbBackend::Postgres;
        self.db
            .begin_with_options(TransactionOptions {
                isolation_level: postgres.then_some(IsolationLevel::RepeatableRead),
                access_mode: postgres.then_some(AccessMode::ReadOnly),
                sqlite_transaction_mode: None,
            })
            .await
            .map_err(StoreError::from)
    }

    /// Up to `limit` messages with `seq < before` (or the newest), oldest first.
    pub async fn messages_before(
        &self,
        conversation_id: i64,
        before: Option<i64>,
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

    /// Per sender, how many of their messages `reader` has not read, the sender with
    /// the newest unread message first: `(sender_id, count)`.
    pub async fn unread_by_sender(&self, reader: i64) -> Result<Vec<(i64, i64)>, StoreError> {
        unread_by_sender(&self.db, reader).await
    }

    /// Everyone who shares a conversation with `user_id`.
    pub async fn peers_of(&self, user_id: i64) -> Result<Vec<i64>, StoreError> {
        peers_of(&self.db, user_id).await
    }

    /// Every `(conversation, member, marker)` of every conversation of `user_id`.
    pub async fn markers_of_user(&self, user_id: i64) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        membership::Entity::find()
            .select_only()
            .columns([
                membership::Column::ConversationId,
                membership::Column::UserId,
                membership::Column::LastReadSeq,
            ])
            .filter(
                membership::Column::ConversationId.in_subquery(conversations_of_user_ids(user_id)),
            )
            .order_by(membership::Column::ConversationId, Order::Asc)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(StoreError::from)
    }

    /// Messages of `user_id`'s conversations with an id above `since`, by id.
    pub async fn messages_since(
        &self,
        user_id: i64,
        since: i64,
        limit: u64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        Ok(message::Entity::find()
            .filter(message::Column::ConversationId.in_subquery(conversations_of_user_ids(user_id)))
            .filter(message::Column::Id.gt(since))
            .order_by(message::Column::Id, Order::Asc)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

async fn conversation_list(
    db: &impl ConnectionTrait,
    user_id: i64,
    limit: u64,
    messages: u64,
) -> Result<ConversationList, StoreError> {
    let conversations = conversations_of_user(db, user_id, None, limit).await?;
    complete_list(db, user_id, conversations, messages).await
}

/// Adds the newest messages, unread counts and peers to a list of conversations.
async fn complete_list(
    db: &impl ConnectionTrait,
    user_id: i64,
    conversations: Vec<ConversationOfUser>,
    messages: u64,
) -> Result<ConversationList, StoreError> {
    let ids: Vec<i64> = conversations.iter().map(|c| c.conversation.id).collect();
    let newest = newest_messages(db, &conversations, messages).await?;
    let unread = unread_counts(db, user_id, &ids).await?;
    let peers = users(db, conversations.iter().map(|c| c.peer_id)).await?;
    Ok(ConversationList {
        conversations,
        messages: newest,
        unread,
        peers,
    })
}

/// `user_id`'s conversations (or the one given) joined with both memberships, newest
/// activity first.
async fn conversations_of_user(
    db: &impl ConnectionTrait,
    user_id: i64,
    only: Option<i64>,
    limit: u64,
) -> Result<Vec<ConversationOfUser>, StoreError> {
    let (me, peer) = (Alias::new("me"), Alias::new("peer"));
    let c = |col: conversation::Column| Expr::col((conversation::Entity, col));
    let mut query = Query::select();
    query
        .columns([
            (conversation::Entity, conversation::Column::Id),
            (conversation::Entity, conversation::Column::UserLow),
            (conversation::Entity, conversation::Column::UserHigh),
            (conversation::Entity, conversation::Column::LastSeq),
            (conversation::Entity, conversation::Column::CreatedAt),
            (conversation::Entity, conversation::Column::LastActivityAt),
        ])
        .expr_as(
            Expr::col((me.clone(), membership::Column::LastReadSeq)),
            "my_last_read_seq",
        )
        .expr_as(
            Expr::col((peer.clone(), membership::Column::UserId)),
            "peer_id",
        )
        .expr_as(
            Expr::col((peer.clone(), membership::Column::LastReadSeq)),
            "peer_last_read_seq",
        )
        .from(conversation::Entity)
        .join_as(
            sea_orm::JoinType::InnerJoin,
            membership::Entity,
            me.clone(),
            Condition::all()
                .add(
                    Expr::col((me.clone(), membership::Column::ConversationId))
                        .equals((conversation::Entity, conversation::Column::Id)),
                )
                .add(Expr::col((me.clone(), membership::Column::UserId)).eq(user_id)),
        )
        .join_as(
            sea_orm::JoinType::InnerJoin,
            membership::Entity,
            peer.clone(),
            Condition::all()
                .add(
                    Expr::col((peer.clone(), membership::Column::ConversationId))
                        .equals((conversation::Entity, conversation::Column::Id)),
                )
                .add(Expr::col((peer.clone(), membership::Column::UserId)).ne(user_id)),
        )
        .order_by_expr(c(conversation::Column::LastActivityAt), Order::Desc)
        .order_by_expr(c(conversation::Column::Id), Order::Desc)
        .limit(limit);
    if let Some(id) = only {
        query.and_where(c(conversation::Column::Id).eq(id));
    }
    let rows = db.query_all(&query).await?;
    rows.iter()
        .map(|row| {
            Ok(ConversationOfUser {
                conversation: ConversationRow {
                    id: row.try_get("", "id")?,
                    user_low: row.try_get("", "user_low")?,
                    user_high: row.try_get("", "user_high")?,
                    last_seq: row.try_get("", "last_seq")?,
                    created_at: row.try_get("", "created_at")?,
                    last_activity_at: row.try_get("", "last_activity_at")?,
                },
                my_last_read_seq: row.try_get("", "my_last_read_seq")?,
                peer_id: row.try_get("", "peer_id")?,
                peer_last_read_seq: row.try_get("", "peer_last_read_seq")?,
            })
        })
        .collect()
}

/// The newest `n` messages of each conversation, in one query: `seq` has no gaps, so
/// they are the ones past `last_seq - n`, found through the `(conversation, seq)` index.
async fn newest_messages(
    db: &impl ConnectionTrait,
    conversations: &[ConversationOfUser],
    n: u64,
) -> Result<Vec<MessageRow>, StoreError> {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let wanted: Vec<_> = conversations
        .iter()
        .filter(|c| n > 0 && c.conversation.last_seq > 0)
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let any = wanted.iter().fold(Condition::any(), |any, c| {
        any.add(
            Condition::all()
                .add(message::Column::ConversationId.eq(c.conversation.id))
                .add(message::Column::Seq.gt(c.conversation.last_seq.saturating_sub(n))),
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

/// Per conversation, how many messages of the peer are past `reader`'s marker.
async fn unread_counts(
    db: &impl ConnectionTrait,
    reader: i64,
    conversation_ids: &[i64],
) -> Result<HashMap<i64, u64>, StoreError> {
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

async fn unread_by_sender(
    db: &impl ConnectionTrait,
    reader: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
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

pub(super) async fn users(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> Result<Vec<UserRow>, StoreError> {
    let ids: Vec<i64> = ids.into_iter().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

async fn peers_of(db: &impl ConnectionTrait, user_id: i64) -> Result<Vec<i64>, StoreError> {
    membership::Entity::find()
        .select_only()
        .column(membership::Column::UserId)
        .distinct()
        .filter(membership::Column::ConversationId.in_subquery(conversations_of_user_ids(user_id)))
        .filter(membership::Column::UserId.ne(user_id))
        .into_tuple()
        .all(db)
        .await
        .map_err(StoreError::from)
}

/// The newest message id in `user_id`'s conversations (0: none).
async fn last_message_id_for(db: &impl ConnectionTrait, user_id: i64) -> Result<i64, StoreError> {
    let newest: Option<Option<i64>> = message::Entity::find()
        .select_only()
        .expr(Expr::col(message::Column::Id).max())
        .filter(message::Column::ConversationId.in_subquery(conversations_of_user_ids(user_id)))
        .into_tuple()
        .one(db)
        .await?;
    Ok(newest.flatten().unwrap_or(0))
}

/// The ids of the conversations `user_id` is a member of, as a subquery.
fn conversations_of_user_ids(user_id: i64) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(membership::Column::ConversationId)
        .from(membership::Entity)
        .and_where(Expr::col(membership::Column::UserId).eq(user_id))
        .to_owned()
}

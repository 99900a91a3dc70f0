//! Conversations: which exist between whom, one user's list of them, and the `hello`
//! snapshot a socket starts from. Writes go through the message engine's batch
//! (`batch/`).
//!
//! A list is built from the other reads of `store/`: the conversations in one query
//! here, then their newest messages (`messages.rs`), unread counts (`unread.rs`) and
//! peers (`users.rs`) in one query each, so a list of fifty costs what a list of one
//! does. Those reads take any connection, so `hello` and the list can run them all in
//! one read snapshot and show one state of the database.

use std::collections::HashMap;

use entity::{conversation, membership};
use sea_orm::{
    AccessMode, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IsolationLevel, QueryFilter,
    QuerySelect, TransactionOptions, TransactionTrait,
    sea_query::{Alias, Expr, ExprTrait, Order, Query},
};

use super::{
    ConversationOfUser, ConversationRow, MessageRow, Store, StoreError, UserRow, memberships,
    messages, unread, users,
};
use crate::ids::{ConversationId, MessageId, Pair, UserId};

/// Everything a conversation list shows, read in one consistent snapshot.
#[derive(Debug, Default)]
pub struct ConversationList {
    /// Newest activity first.
    pub conversations: Vec<ConversationOfUser>,
    /// The newest messages of those conversations, oldest first within each.
    pub messages: Vec<MessageRow>,
    /// Messages from the peer past my marker, per conversation (absent: none).
    pub unread: HashMap<ConversationId, u64>,
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
    pub unread_by_sender: Vec<(UserId, i64)>,
    pub unread_senders: Vec<UserRow>,
    pub peers: Vec<UserId>,
    pub last_message_id: MessageId,
}

impl Store {
    /// The direct conversation of a pair, if it exists.
    pub async fn direct_conversation(
        &self,
        pair: Pair,
    ) -> Result<Option<ConversationRow>, StoreError> {
        Ok(conversation::Entity::find()
            .filter(conversation::Column::UserLow.eq(pair.low()))
            .filter(conversation::Column::UserHigh.eq(pair.high()))
            .one(&self.db)
            .await?
            .map(Into::into))
    }

    /// The members of those conversations that exist.
    pub async fn conversation_members(
        &self,
        ids: &[ConversationId],
    ) -> Result<Vec<(ConversationId, Pair)>, StoreError> {
        self.members_where(conversation::Column::Id.is_in(ids.iter().copied()).into())
            .await
    }

    /// The conversations of those pairs that have one.
    pub async fn conversations_of_pairs(
        &self,
        pairs: &[Pair],
    ) -> Result<Vec<(ConversationId, Pair)>, StoreError> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let any = pairs.iter().fold(Condition::any(), |any, pair| {
            any.add(
                Condition::all()
                    .add(conversation::Column::UserLow.eq(pair.low()))
                    .add(conversation::Column::UserHigh.eq(pair.high())),
            )
        });
        self.members_where(any).await
    }

    async fn members_where(
        &self,
        filter: Condition,
    ) -> Result<Vec<(ConversationId, Pair)>, StoreError> {
        let rows: Vec<(ConversationId, UserId, UserId)> = conversation::Entity::find()
            .select_only()
            .columns([
                conversation::Column::Id,
                conversation::Column::UserLow,
                conversation::Column::UserHigh,
            ])
            .filter(filter)
            .into_tuple()
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|(id, low, high)| {
                let pair = Pair::new(low, high).ok_or(StoreError::Inconsistent(
                    "a conversation has one member twice",
                ))?;
                Ok((id, pair))
            })
            .collect()
    }

    /// One of `user_id`'s conversations with both markers; `None` when it does not
    /// exist or the user is not a member.
    pub async fn conversation_of_user(
        &self,
        user_id: UserId,
        conversation_id: ConversationId,
    ) -> Result<Option<ConversationOfUser>, StoreError> {
        let rows = conversations_of_user(&self.db, user_id, Some(conversation_id), 1).await?;
        Ok(rows.into_iter().next())
    }

    /// My latest conversations (newest activity first), each with its newest
    /// `messages` messages, unread counts and peers: four queries.
    pub async fn conversation_list(
        &self,
        user_id: UserId,
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
        user_id: UserId,
        conversations: &[ConversationOfUser],
        messages: u64,
    ) -> Result<ConversationList, StoreError> {
        complete_list(&self.db, user_id, conversations.to_vec(), messages).await
    }

    /// The `hello` snapshot: a constant number of queries in one read transaction.
    pub async fn hello(
        &self,
        user_id: UserId,
        limit: u64,
        messages: u64,
    ) -> Result<HelloRows, StoreError> {
        let txn = self.read_snapshot().await?;
        let last_message_id = messages::last_id_for(&txn, user_id).await?;
        let me = users::by_id(&txn, user_id).await?;
        let list = conversation_list(&txn, user_id, limit, messages).await?;
        let unread_by_sender = unread::by_sender(&txn, user_id).await?;
        let unread_senders =
            users::by_ids(&txn, unread_by_sender.iter().map(|(id, _)| *id)).await?;
        let peers = memberships::peers_of(&txn, user_id).await?;
        txn.commit().await?;
        Ok(HelloRows {
            me,
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
}

async fn conversation_list(
    db: &impl ConnectionTrait,
    user_id: UserId,
    limit: u64,
    messages: u64,
) -> Result<ConversationList, StoreError> {
    let conversations = conversations_of_user(db, user_id, None, limit).await?;
    complete_list(db, user_id, conversations, messages).await
}

/// Adds the newest messages, unread counts and peers to a list of conversations.
async fn complete_list(
    db: &impl ConnectionTrait,
    user_id: UserId,
    conversations: Vec<ConversationOfUser>,
    messages: u64,
) -> Result<ConversationList, StoreError> {
    let ids: Vec<ConversationId> = conversations.iter().map(|c| c.conversation.id).collect();
    let newest = messages::newest(db, &conversations, messages).await?;
    let unread = unread::by_conversation(db, user_id, &ids).await?;
    let peers = users::by_ids(db, conversations.iter().map(|c| c.peer_id)).await?;
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
    user_id: UserId,
    only: Option<ConversationId>,
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

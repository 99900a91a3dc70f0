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
use crate::ids::{ConversationId, MessageId, Pair, Position, UserId};

/// A conversation's place in the list's order: newest activity first, then the larger
/// id (conversations active in the same millisecond still have one order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListKey {
    pub last_activity_at: i64,
    pub id: ConversationId,
}

/// Everything a conversation list shows, read in one consistent snapshot.
#[derive(Debug, Default)]
pub struct ConversationList {
    /// Newest activity first.
    pub conversations: Vec<ConversationOfUser>,
    /// The key of the last conversation, when more follow it; `None` at the end.
    pub next: Option<ListKey>,
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
    /// Every change up to it is reflected in the snapshot.
    pub position: Position,
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
        let rows = conversations_of_user(&self.db, user_id, Which::One(conversation_id)).await?;
        Ok(rows.into_iter().next())
    }

    /// One of `user_id`'s conversations with its newest `messages` messages, its
    /// unread count and its peer, in one snapshot; an empty list when it does not
    /// exist or the user is not a member.
    pub async fn conversation_with_messages(
        &self,
        user_id: UserId,
        conversation_id: ConversationId,
        messages: u64,
    ) -> Result<ConversationList, StoreError> {
        let txn = self.read_snapshot().await?;
        let conversations =
            conversations_of_user(&txn, user_id, Which::One(conversation_id)).await?;
        let list = complete_list(&txn, user_id, conversations, None, messages).await?;
        txn.commit().await?;
        Ok(list)
    }

    /// A page of my conversations (newest activity first): the first `limit`, or the
    /// `limit` that follow `after`; each with its newest `messages` messages, unread
    /// counts and peers: four queries.
    ///
    /// `after` is a key, not an offset: a page costs the same however deep it is,
    /// and activity between two pages shifts nothing. A conversation that moves to
    /// the front is not served again, and none that stayed put is skipped or served
    /// twice (with an offset, each move would push one conversation back into the
    /// next page a second time).
    pub async fn conversation_list(
        &self,
        user_id: UserId,
        after: Option<ListKey>,
        limit: u64,
        messages: u64,
    ) -> Result<ConversationList, StoreError> {
        let txn = self.read_snapshot().await?;
        let list = conversation_list(&txn, user_id, after, limit, messages).await?;
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
        complete_list(&self.db, user_id, conversations.to_vec(), None, messages).await
    }

    /// The `hello` snapshot: a constant number of queries in one read transaction.
    pub async fn hello(
        &self,
        user_id: UserId,
        limit: u64,
        messages: u64,
    ) -> Result<HelloRows, StoreError> {
        let txn = self.read_snapshot().await?;
        let position = Store::last_position(&txn).await?;
        let last_message_id = messages::last_id_for(&txn, user_id).await?;
        let me = users::by_id(&txn, user_id).await?;
        let list = conversation_list(&txn, user_id, None, limit, messages).await?;
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
            position,
        })
    }

    /// A read-only transaction that sees one state of the database throughout: a
    /// deferred transaction on SQLite (WAL fixes its snapshot at the first read),
    /// `REPEATABLE READ` on PostgreSQL.
    pub(super) async fn read_snapshot(&self) -> Result<sea_orm::DatabaseTransaction, StoreError> {
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
    after: Option<ListKey>,
    limit: u64,
    messages: u64,
) -> Result<ConversationList, StoreError> {
    // One more than the page tells whether anything follows it.
    let mut conversations = conversations_of_user(
        db,
        user_id,
        Which::Page {
            after,
            limit: limit.saturating_add(1),
        },
    )
    .await?;
    let more = conversations.len() as u64 > limit;
    conversations.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = if more {
        conversations.last().map(ConversationOfUser::list_key)
    } else {
        None
    };
    complete_list(db, user_id, conversations, next, messages).await
}

/// Adds the newest messages, unread counts and peers to a list of conversations.
async fn complete_list(
    db: &impl ConnectionTrait,
    user_id: UserId,
    conversations: Vec<ConversationOfUser>,
    next: Option<ListKey>,
    messages: u64,
) -> Result<ConversationList, StoreError> {
    let ids: Vec<ConversationId> = conversations.iter().map(|c| c.conversation.id).collect();
    let newest = messages::newest(db, &conversations, messages).await?;
    let unread = unread::by_conversation(db, user_id, &ids).await?;
    let peers = users::by_ids(db, conversations.iter().map(|c| c.peer_id)).await?;
    Ok(ConversationList {
        conversations,
        next,
        messages: newest,
        unread,
        peers,
    })
}

/// Which of a user's conversations a read takes.
enum Which {
    One(ConversationId),
    /// Up to `limit` in the list's order, from the start or after a key.
    Page {
        after: Option<ListKey>,
        limit: u64,
    },
}

/// `user_id`'s conversations (those `which` names) joined with both memberships,
/// newest activity first.
async fn conversations_of_user(
    db: &impl ConnectionTrait,
    user_id: UserId,
    which: Which,
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
        .order_by_expr(c(conversation::Column::Id), Order::Desc);
    match which {
        Which::One(id) => {
            query.and_where(c(conversation::Column::Id).eq(id));
        }
        Which::Page { after, limit } => {
            // Strictly after the key in the order above.
            if let Some(key) = after {
                query.cond_where(
                    Condition::any()
                        .add(c(conversation::Column::LastActivityAt).lt(key.last_activity_at))
                        .add(
                            Condition::all()
                                .add(
                                    c(conversation::Column::LastActivityAt)
                                        .eq(key.last_activity_at),
                                )
                                .add(c(conversation::Column::Id).lt(key.id)),
                        ),
                );
            }
            query.limit(limit);
        }
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

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveValue::Set, EntityTrait};

    use super::*;
    use crate::{config::Durability, store::NewUser};

    /// Conversations of `me` with these last activities, each with a new peer; their
    /// keys.
    async fn conversations_at(store: &Store, me: UserId, activities: &[i64]) -> Vec<ListKey> {
        let mut keys = Vec::new();
        for (n, &at) in activities.iter().enumerate() {
            let peer = store
                .create_user(NewUser {
                    username: &format!("peer{n}"),
                    display_name: "peer",
                    password_hash: "",
                    created_at: 0,
                })
                .await
                .expect("insert")
                .expect("a new user")
                .id;
            let pair = Pair::new(me, peer).expect("two users");
            let id = conversation::Entity::insert(conversation::ActiveModel {
                user_low: Set(pair.low().get()),
                user_high: Set(pair.high().get()),
                last_seq: Set(0),
                created_at: Set(at),
                last_activity_at: Set(at),
                ..Default::default()
            })
            .exec(&store.db)
            .await
            .expect("insert")
            .last_insert_id;
            for user in [me, peer] {
                membership::Entity::insert(membership::ActiveModel {
                    conversation_id: Set(id),
                    user_id: Set(user.get()),
                    last_read_seq: Set(0),
                })
                .exec(&store.db)
                .await
                .expect("insert");
            }
            keys.push(ListKey {
                last_activity_at: at,
                id: ConversationId::new(id),
            });
        }
        keys
    }

    /// Conversations active in the same millisecond are ordered by id alone, and a
    /// page that ends inside such a tie goes on with the rest of it.
    #[tokio::test]
    async fn pages_follow_the_order_through_ties() {
        let (_dir, store) = Store::temporary(Durability::Normal).await;
        let me = store
            .create_user(NewUser {
                username: "me",
                display_name: "me",
                password_hash: "",
                created_at: 0,
            })
            .await
            .expect("insert")
            .expect("a new user")
            .id;
        let mut keys =
            conversations_at(&store, me, &[1000, 1000, 2000, 1000, 500, 1000, 1000]).await;
        keys.sort_by_key(|key| std::cmp::Reverse((key.last_activity_at, key.id)));

        let (mut served, mut sizes, mut after) = (Vec::new(), Vec::new(), None);
        loop {
            let page = store
                .conversation_list(me, after, 2, 0)
                .await
                .expect("a page");
            sizes.push(page.conversations.len());
            served.extend(page.conversations.iter().map(ConversationOfUser::list_key));
            match page.next {
                Some(next) => {
                    assert_eq!(Some(next), served.last().copied());
                    after = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(sizes, [2, 2, 2, 1]);
        assert_eq!(served, keys);
    }
}

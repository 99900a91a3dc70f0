//! Conversations, memberships and read markers.

use entity::{conversation, membership, message};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, ExprTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
    sea_query::{Expr, Order, Query},
};

use super::{Store, is_unique_violation};

impl Store {
    /// The direct conversation of a pair, if it exists.
    pub async fn direct_conversation(
        &self,
        a: i64,
        b: i64,
    ) -> Result<Option<conversation::Model>, DbErr> {
        let (low, high) = (Ord::min(a, b), Ord::max(a, b));
        conversation::Entity::find()
            .filter(conversation::Column::UserLow.eq(low))
            .filter(conversation::Column::UserHigh.eq(high))
            .one(&self.db)
            .await
    }

    /// Opens the direct conversation of a pair, creating it (with both memberships)
    /// if needed. `true` when this call created it. Two concurrent calls for the same
    /// pair create one conversation: the loser of the unique-index race reads the
    /// winner's row.
    pub async fn open_direct_conversation(
        &self,
        a: i64,
        b: i64,
        now: i64,
    ) -> Result<(conversation::Model, bool), DbErr> {
        if let Some(existing) = self.direct_conversation(a, b).await? {
            return Ok((existing, false));
        }
        let txn = self.db.begin().await?;
        let created = conversation::ActiveModel {
            user_low: Set(Ord::min(a, b)),
            user_high: Set(Ord::max(a, b)),
            last_seq: Set(0),
            created_at: Set(now),
            last_activity_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await;
        let conversation = match created {
            Ok(c) => c,
            Err(e) if is_unique_violation(&e) => {
                txn.rollback().await?;
                let existing = self
                    .direct_conversation(a, b)
                    .await?
                    .ok_or_else(|| DbErr::RecordNotFound("conversation after conflict".into()))?;
                return Ok((existing, false));
            }
            Err(e) => return Err(e),
        };
        membership::Entity::insert_many([a, b].map(|user_id| membership::ActiveModel {
            conversation_id: Set(conversation.id),
            user_id: Set(user_id),
            last_read_seq: Set(0),
        }))
        .exec(&txn)
        .await?;
        txn.commit().await?;
        Ok((conversation, true))
    }

    pub async fn conversation(&self, id: i64) -> Result<Option<conversation::Model>, DbErr> {
        conversation::Entity::find_by_id(id).one(&self.db).await
    }

    /// Both memberships (with read markers) of a conversation.
    pub async fn memberships(&self, conversation_id: i64) -> Result<Vec<membership::Model>, DbErr> {
        membership::Entity::find()
            .filter(membership::Column::ConversationId.eq(conversation_id))
            .all(&self.db)
            .await
    }

    /// A user's conversations, newest activity first.
    pub async fn conversations_of(
        &self,
        user_id: i64,
        limit: u64,
    ) -> Result<Vec<conversation::Model>, DbErr> {
        conversation::Entity::find()
            .filter(conversation::Column::Id.in_subquery(Self::conversations_of_user(user_id)))
            .order_by(conversation::Column::LastActivityAt, Order::Desc)
            .order_by(conversation::Column::Id, Order::Desc)
            .limit(limit)
            .all(&self.db)
            .await
    }

    /// Up to `limit` messages with `seq < before` (or the newest), oldest first.
    pub async fn messages_before(
        &self,
        conversation_id: i64,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<message::Model>, DbErr> {
        let mut query =
            message::Entity::find().filter(message::Column::ConversationId.eq(conversation_id));
        if let Some(before) = before {
            query = query.filter(message::Column::Seq.lt(before));
        }
        let mut page = query
            .order_by(message::Column::Seq, Order::Desc)
            .limit(limit)
            .all(&self.db)
            .await?;
        page.reverse();
        Ok(page)
    }

    /// Moves a member's read marker forward to `up_to_seq`; `false` when it was
    /// already there or past it (the marker never moves back). One row, whatever the
    /// number of messages it covers.
    pub async fn advance_read_marker(
        &self,
        conversation_id: i64,
        user_id: i64,
        up_to_seq: i64,
    ) -> Result<bool, DbErr> {
        let result = membership::Entity::update_many()
            .col_expr(membership::Column::LastReadSeq, Expr::value(up_to_seq))
            .filter(membership::Column::ConversationId.eq(conversation_id))
            .filter(membership::Column::UserId.eq(user_id))
            .filter(membership::Column::LastReadSeq.lt(up_to_seq))
            .exec(&self.db)
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// How many messages of others past `after_seq` a conversation holds for `reader`.
    pub async fn unread_count(
        &self,
        conversation_id: i64,
        reader: i64,
        after_seq: i64,
    ) -> Result<u64, DbErr> {
        use sea_orm::PaginatorTrait;
        message::Entity::find()
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(message::Column::SenderId.ne(reader))
            .filter(message::Column::Seq.gt(after_seq))
            .count(&self.db)
            .await
    }

    /// Per sender, how many of their messages `reader` has not read, the sender with
    /// the newest unread message first: `(sender_id, count)`.
    pub async fn unread_by_sender(&self, reader: i64) -> Result<Vec<(i64, i64)>, DbErr> {
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
        let rows = self.db.query_all(&query).await?;
        rows.iter()
            .map(|row| Ok((row.try_get("", "sender_id")?, row.try_get("", "unread")?)))
            .collect()
    }

    /// The ids of the conversations `user_id` is a member of, as a subquery.
    fn conversations_of_user(user_id: i64) -> sea_orm::sea_query::SelectStatement {
        Query::select()
            .column(membership::Column::ConversationId)
            .from(membership::Entity)
            .and_where(Expr::col(membership::Column::UserId).eq(user_id))
            .to_owned()
    }

    /// Everyone who shares a conversation with `user_id`.
    pub async fn peers_of(&self, user_id: i64) -> Result<Vec<i64>, DbErr> {
        membership::Entity::find()
            .select_only()
            .column(membership::Column::UserId)
            .distinct()
            .filter(
                membership::Column::ConversationId
                    .in_subquery(Self::conversations_of_user(user_id)),
            )
            .filter(membership::Column::UserId.ne(user_id))
            .into_tuple()
            .all(&self.db)
            .await
    }

    /// Every membership (with its read marker) of every conversation of `user_id`.
    pub async fn memberships_of_user(&self, user_id: i64) -> Result<Vec<membership::Model>, DbErr> {
        membership::Entity::find()
            .filter(
                membership::Column::ConversationId
                    .in_subquery(Self::conversations_of_user(user_id)),
            )
            .order_by(membership::Column::ConversationId, Order::Asc)
            .all(&self.db)
            .await
    }

    /// Messages of `user_id`'s conversations with an id above `since`, by id.
    pub async fn messages_since(
        &self,
        user_id: i64,
        since: i64,
        limit: u64,
    ) -> Result<Vec<message::Model>, DbErr> {
        message::Entity::find()
            .filter(
                message::Column::ConversationId.in_subquery(Self::conversations_of_user(user_id)),
            )
            .filter(message::Column::Id.gt(since))
            .order_by(message::Column::Id, Order::Asc)
            .limit(limit)
            .all(&self.db)
            .await
    }

    /// The newest message id in `user_id`'s conversations (0: none).
    pub async fn last_message_id_for(&self, user_id: i64) -> Result<i64, DbErr> {
        let newest: Option<Option<i64>> = message::Entity::find()
            .select_only()
            .expr(Expr::col(message::Column::Id).max())
            .filter(
                message::Column::ConversationId.in_subquery(Self::conversations_of_user(user_id)),
            )
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(newest.flatten().unwrap_or(0))
    }
}

//! Memberships: who shares a conversation with whom, and where each member's read
//! marker stands. Rows are added and markers moved only by the message engine's batch
//! (`batch/`).

use entity::membership;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Order, Query, SelectStatement},
};

use super::{Store, StoreError};
use crate::ids::{ConversationId, Seq, UserId};

impl Store {
    /// Everyone who shares a conversation with `user_id`.
    pub async fn peers_of(&self, user_id: UserId) -> Result<Vec<UserId>, StoreError> {
        peers_of(&self.db, user_id).await
    }

    /// Every `(conversation, member, marker)` of every conversation of `user_id`.
    pub async fn markers_of_user(
        &self,
        user_id: UserId,
    ) -> Result<Vec<(ConversationId, UserId, Seq)>, StoreError> {
        membership::Entity::find()
            .select_only()
            .columns([
                membership::Column::ConversationId,
                membership::Column::UserId,
                membership::Column::LastReadSeq,
            ])
            .filter(membership::Column::ConversationId.in_subquery(conversation_ids_of(user_id)))
            .order_by(membership::Column::ConversationId, Order::Asc)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(StoreError::from)
    }
}

pub(super) async fn peers_of(
    db: &impl ConnectionTrait,
    user_id: UserId,
) -> Result<Vec<UserId>, StoreError> {
    membership::Entity::find()
        .select_only()
        .column(membership::Column::UserId)
        .distinct()
        .filter(membership::Column::ConversationId.in_subquery(conversation_ids_of(user_id)))
        .filter(membership::Column::UserId.ne(user_id))
        .into_tuple()
        .all(db)
        .await
        .map_err(StoreError::from)
}

/// The ids of the conversations `user_id` is a member of, as a subquery.
pub(super) fn conversation_ids_of(user_id: UserId) -> SelectStatement {
    Query::select()
        .column(membership::Column::ConversationId)
        .from(membership::Entity)
        .and_where(Expr::col(membership::Column::UserId).eq(user_id))
        .to_owned()
}

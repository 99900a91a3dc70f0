//! The outbox: rows subscribers committed with a batch (see `batch.rs`), read back by
//! the consumer of their topic; and the keys of the command groups batches applied.

use entity::{group_key, outbox};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, Func},
};

use super::{Store, StoreError};

/// A stored outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub payload: String,
    pub created_at: i64,
}

impl Store {
    /// Up to `limit` rows of `topic` after `after`, oldest first.
    pub async fn outbox_after(
        &self,
        topic: &str,
        after: i64,
        limit: u64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        Ok(outbox::Entity::find()
            .filter(outbox::Column::Topic.eq(topic))
            .filter(outbox::Column::Id.gt(after))
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| OutboxRow {
                id: row.id,
                payload: row.payload,
                created_at: row.created_at,
            })
            .collect())
    }
}

impl Store {
    /// Forgets a row its consumer has carried out.
    pub async fn delete_outbox_row(&self, id: i64) -> Result<(), StoreError> {
        outbox::Entity::delete_by_id(id).exec(&self.db).await?;
        Ok(())
    }

    /// How many rows of `topic` wait, and when the oldest was committed.
    pub async fn outbox_stats(&self, topic: &str) -> Result<(i64, Option<i64>), StoreError> {
        let stats: Option<(i64, Option<i64>)> = outbox::Entity::find()
            .select_only()
            .column_as(
                Expr::from(Func::count(Expr::col(outbox::Column::Id))),
                "depth",
            )
            .column_as(
                Expr::from(Func::min(Expr::col(outbox::Column::CreatedAt))),
                "oldest",
            )
            .filter(outbox::Column::Topic.eq(topic))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(stats.unwrap_or((0, None)))
    }
}

impl Store {
    /// Forgets the keys of groups committed before `before` (Unix ms); how many.
    pub async fn forget_group_keys_before(&self, before: i64) -> Result<u64, StoreError> {
        Ok(group_key::Entity::delete_many()
            .filter(group_key::Column::CreatedAt.lt(before))
            .exec(&self.db)
            .await?
            .rows_affected)
    }

    /// Whether a command group with this key was committed (see `Command::Group`).
    pub async fn group_key_recorded(&self, key: &str) -> Result<bool, StoreError> {
        Ok(group_key::Entity::find_by_id(key)
            .one(&self.db)
            .await?
            .is_some())
    }
}

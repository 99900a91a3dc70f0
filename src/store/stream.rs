//! `stream_head`: the number of the last engine batch committed by any node (see
//! `batch::BatchWriter::turn`). Written only by the batches themselves.

use entity::stream_head;
use sea_orm::EntityTrait;

use super::{Store, StoreError};

impl Store {
    /// The number of the last batch committed, by any node: a node joining a cluster
    /// starts its order after it, since everything up to it is in the database that
    /// every `hello` and `resume` reads.
    pub async fn stream_head(&self) -> Result<i64, StoreError> {
        let head = stream_head::Entity::find_by_id(1)
            .one(&self.db)
            .await?
            .ok_or(StoreError::Inconsistent("stream_head has no row"))?;
        Ok(head.batch)
    }
}

//! Messages: finding the ones a sender already stored under a `txn_id`. Messages are
//! written only by the message engine's batch (`batch.rs`).

use entity::message;
use sea_orm::{ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter};

use super::{MessageRow, Store};

impl Store {
    /// The messages already stored under these `(sender, txn_id)` keys, in one query.
    pub async fn messages_by_txn(&self, keys: &[(i64, &str)]) -> Result<Vec<MessageRow>, DbErr> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let any = keys.iter().fold(Condition::any(), |any, (sender, txn_id)| {
            any.add(
                Condition::all()
                    .add(message::Column::SenderId.eq(*sender))
                    .add(message::Column::TxnId.eq(*txn_id)),
            )
        });
        Ok(message::Entity::find()
            .filter(any)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

//! `outbox`: work a subscriber of the message engine committed together with a batch.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    /// Increasing: a consumer drains its topic in this order.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Who consumes the row, e.g. `matrix`.
    pub topic: String,
    /// What to do, as the consumer encoded it (JSON).
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    pub created_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}

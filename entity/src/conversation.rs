//! `conversation`: a direct conversation between two users.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversation")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The smaller member id. With `user_high` it is unique: one conversation per pair.
    pub user_low: i64,
    pub user_high: i64,
    /// `seq` of the newest message, 0 when empty; bumped in the same transaction that
    /// inserts a message, which is what serialises sequence numbers.
    pub last_seq: i64,
    pub created_at: i64,
    /// Creation or newest message, whichever is later: the order of the conversation list.
    pub last_activity_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}

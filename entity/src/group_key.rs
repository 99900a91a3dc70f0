//! `group_key`: the keys of the command groups the message engine committed, each in
//! the transaction that applied its group, so a group sent again (a replayed Matrix
//! transaction, whose id is its key) is known to be applied.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "group_key")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    pub created_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}

//! `stream_head`: one row, the number of the last batch the message engines committed.
//!
//! Every engine batch on PostgreSQL begins by incrementing it, which takes the row's
//! lock until the batch commits: batches of all nodes commit one after another, so
//! positions commit in order, and each batch's number tells the other nodes which
//! batch came just before it (see `docs/architecture.md`, "Several nodes").

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stream_head")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub batch: i64,
}

impl ActiveModelBehavior for ActiveModel {}

//! `matrix_event`: the Matrix event the bridge sent for a gadka message (the bridge's).

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "matrix_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: String,
    pub conversation_id: i64,
    /// The message's `seq` in its conversation.
    pub seq: i64,
}

impl ActiveModelBehavior for ActiveModel {}

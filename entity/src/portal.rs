//! `portal`: the Matrix room that carries a conversation (the bridge's).

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portal")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub conversation_id: i64,
    #[sea_orm(unique)]
    pub room_id: String,
    pub created_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}

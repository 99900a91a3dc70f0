//! `membership`: a user's place in a conversation, with their read marker.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "membership")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub conversation_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    /// Every message with `seq <= last_read_seq` is read by this member.
    pub last_read_seq: i64,
}

impl ActiveModelBehavior for ActiveModel {}

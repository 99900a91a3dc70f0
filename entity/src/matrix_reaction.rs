//! `matrix_reaction`: the Matrix event of a reaction the bridge carried, either way
//! (the bridge's), so that the redaction of that event takes the reaction back.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "matrix_reaction")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_id: String,
    pub conversation_id: i64,
    /// The `seq` of the message reacted to.
    pub seq: i64,
    /// Who reacted.
    pub user_id: i64,
    pub key: String,
}

impl ActiveModelBehavior for ActiveModel {}

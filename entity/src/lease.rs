//! `lease`: work one node of a cluster does for all (the bridge's outbox), held by one
//! node until `expires_at` (milliseconds on the database's clock). `token` grows
//! with each new holder.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lease")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub holder: String,
    pub token: i64,
    pub expires_at: i64,
}

impl ActiveModelBehavior for ActiveModel {}

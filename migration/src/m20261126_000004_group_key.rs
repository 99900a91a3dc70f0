//! The keys of command groups the message engine applied (the Matrix bridge's
//! transaction ids), stored in the same transaction as the group's effects.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(GroupKey::Table)
                    .col(string(GroupKey::Key).primary_key())
                    .col(big_integer(GroupKey::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(GroupKey::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum GroupKey {
    Table,
    Key,
    CreatedAt,
}

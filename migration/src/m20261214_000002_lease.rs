//! `lease`: work that one node of a cluster does for all, by name (the bridge's
//! outbox), held by one node until it expires. Times come from the database's clock,
//! so nodes whose clocks differ agree on when a lease has run out.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Lease::Table)
                    .col(string(Lease::Name).primary_key())
                    .col(string(Lease::Holder))
                    .col(big_integer(Lease::Token))
                    .col(big_integer(Lease::ExpiresAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Lease::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Lease {
    Table,
    Name,
    Holder,
    Token,
    ExpiresAt,
}

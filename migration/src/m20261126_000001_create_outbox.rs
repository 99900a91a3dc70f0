//! The outbox: rows that subscribers of the message engine (the Matrix bridge, later a
//! NATS link) add to the very transaction that commits a batch, so what they must
//! send later is stored with the change or not at all.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_pk_auto(Outbox::Id))
                    .col(string(Outbox::Topic))
                    .col(text(Outbox::Payload))
                    .col(big_integer(Outbox::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // A consumer drains its own topic in id order.
        manager
            .create_index(
                Index::create()
                    .name("outbox_topic_id")
                    .table(Outbox::Table)
                    .col(Outbox::Topic)
                    .col(Outbox::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Outbox::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Topic,
    Payload,
    CreatedAt,
}

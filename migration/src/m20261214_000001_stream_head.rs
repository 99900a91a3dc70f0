//! `stream_head`: the count of the engine's committed batches, one row. On PostgreSQL,
//! where several nodes write, each batch increments it first: the row lock orders the
//! batches of every node, so positions commit in the order they are handed out, and
//! the batch number chains each batch to the one before it for the nodes that hear of
//! it over NATS. SQLite has one writer and never reads it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StreamHead::Table)
                    .col(integer(StreamHead::Id).primary_key())
                    .col(big_integer(StreamHead::Batch))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(StreamHead::Table)
                    .columns([StreamHead::Id, StreamHead::Batch])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StreamHead::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum StreamHead {
    Table,
    Id,
    Batch,
}

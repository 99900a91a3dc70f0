//! The Matrix events the bridge sent for gadka messages, so that a Matrix user's
//! read receipt on one of them moves their read marker here.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MatrixEvent::Table)
                    .col(string(MatrixEvent::EventId).primary_key())
                    .col(big_integer(MatrixEvent::ConversationId))
                    .col(big_integer(MatrixEvent::Seq))
                    .foreign_key(
                        ForeignKey::create()
                            .from(MatrixEvent::Table, MatrixEvent::ConversationId)
                            .to(Conversation::Table, Conversation::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MatrixEvent::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Conversation {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum MatrixEvent {
    Table,
    EventId,
    ConversationId,
    Seq,
}

//! `message.kind`: what a message is. 0 is what a person wrote; 1 is a notice the
//! Matrix bridge wrote into the conversation (a room it could not make, a message it
//! could not deliver), which clients show as the bridge's words, not the sender's.
//!
//! A small integer, not text: nearly every row is 0, which SQLite stores in the
//! record header alone, so the hot table grows by one byte a row. The constant
//! default adds the column without rewriting the table on either backend.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Message::Table)
                    .add_column(small_integer(Message::Kind).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Message::Table)
                    .drop_column(Message::Kind)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Message {
    Table,
    Kind,
}

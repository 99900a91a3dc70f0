//! The Matrix bridge's schema: users who live on Matrix, and portal rooms.
//!
//! A Matrix user is a `user` row with its Matrix ID in `matrix_id` and no password, so
//! it is shown like anyone else and cannot log in here. A portal ties a conversation
//! to the Matrix room that carries it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(User::Table)
                    .add_column(string_null(User::MatrixId))
                    .to_owned(),
            )
            .await?;
        // NULLs (local users) do not collide on SQLite nor on PostgreSQL.
        manager
            .create_index(
                Index::create()
                    .name("user_matrix_id")
                    .table(User::Table)
                    .col(User::MatrixId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Portal::Table)
                    .col(big_integer(Portal::ConversationId).primary_key())
                    .col(string_uniq(Portal::RoomId))
                    .col(big_integer(Portal::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Portal::Table, Portal::ConversationId)
                            .to(Conversation::Table, Conversation::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Portal::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("user_matrix_id")
                    .table(User::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(User::Table)
                    .drop_column(User::MatrixId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum User {
    Table,
    MatrixId,
}

#[derive(DeriveIden)]
enum Conversation {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Portal {
    Table,
    ConversationId,
    RoomId,
    CreatedAt,
}

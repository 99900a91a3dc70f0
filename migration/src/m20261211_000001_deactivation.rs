//! What an operator needs to stop an account (`gadka admin user deactivate`):
//!
//! - `user.deactivated_at` (Unix ms, `NULL` for an active account), set and cleared by
//!   the admin commands, read at login and by every session check;
//! - an index on `session.user_id`: deactivating or resetting a password revokes all
//!   of a user's sessions, and `admin user show` counts them, without a table scan;
//! - an index on `session.revoked_at`: a running server polls it every second for
//!   sessions revoked from another process (the admin commands, another node) and
//!   closes their sockets. The poll reads only the newest entries of the index.

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
                    .add_column(big_integer_null(User::DeactivatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("session_user_idx")
                    .table(Session::Table)
                    .col(Session::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("session_revoked_at_idx")
                    .table(Session::Table)
                    .col(Session::RevokedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["session_revoked_at_idx", "session_user_idx"] {
            manager
                .drop_index(Index::drop().name(name).table(Session::Table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(User::Table)
                    .drop_column(User::DeactivatedAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum User {
    Table,
    DeactivatedAt,
}

#[derive(DeriveIden)]
enum Session {
    Table,
    UserId,
    RevokedAt,
}

//! The first schema: users, sessions, direct conversations, memberships with read
//! markers, and messages.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(User::Table)
                    .col(big_pk_auto(User::Id))
                    .col(string_uniq(User::Username))
                    .col(string(User::DisplayName))
                    .col(string_null(User::PasswordHash))
                    .col(big_integer(User::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Session::Table)
                    .col(string(Session::Id).primary_key())
                    .col(big_integer(Session::UserId))
                    .col(big_integer(Session::CreatedAt))
                    .col(big_integer(Session::ExpiresAt))
                    .col(big_integer_null(Session::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Session::Table, Session::UserId)
                            .to(User::Table, User::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Conversation::Table)
                    .col(big_pk_auto(Conversation::Id))
                    .col(big_integer(Conversation::UserLow))
                    .col(big_integer(Conversation::UserHigh))
                    .col(big_integer(Conversation::LastSeq).default(0))
                    .col(big_integer(Conversation::CreatedAt))
                    .col(big_integer(Conversation::LastActivityAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Conversation::Table, Conversation::UserLow)
                            .to(User::Table, User::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Conversation::Table, Conversation::UserHigh)
                            .to(User::Table, User::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // The pair is unique: "Send message" on a profile always opens the same conversation.
        manager
            .create_index(
                Index::create()
                    .name("conversation_pair_key")
                    .table(Conversation::Table)
                    .col(Conversation::UserLow)
                    .col(Conversation::UserHigh)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Membership::Table)
                    .col(big_integer(Membership::ConversationId))
                    .col(big_integer(Membership::UserId))
                    .col(big_integer(Membership::LastReadSeq).default(0))
                    .primary_key(
                        Index::create()
                            .col(Membership::ConversationId)
                            .col(Membership::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Membership::Table, Membership::ConversationId)
                            .to(Conversation::Table, Conversation::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Membership::Table, Membership::UserId)
                            .to(User::Table, User::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // "My conversations" starts from the member's side.
        manager
            .create_index(
                Index::create()
                    .name("membership_user_idx")
                    .table(Membership::Table)
                    .col(Membership::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Message::Table)
                    .col(big_pk_auto(Message::Id))
                    .col(big_integer(Message::ConversationId))
                    .col(big_integer(Message::Seq))
                    .col(big_integer(Message::SenderId))
                    .col(text(Message::Body))
                    .col(big_integer(Message::CreatedAt))
                    .col(string_null(Message::TxnId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Message::Table, Message::ConversationId)
                            .to(Conversation::Table, Conversation::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Message::Table, Message::SenderId)
                            .to(User::Table, User::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // History pages and unread counts walk a conversation by seq.
        manager
            .create_index(
                Index::create()
                    .name("message_conversation_seq_key")
                    .table(Message::Table)
                    .col(Message::ConversationId)
                    .col(Message::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A retried send (same sender, same txn_id) is stored once. NULL txn_ids never collide.
        manager
            .create_index(
                Index::create()
                    .name("message_sender_txn_key")
                    .table(Message::Table)
                    .col(Message::SenderId)
                    .col(Message::TxnId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Message::Table.into_iden(),
            Membership::Table.into_iden(),
            Conversation::Table.into_iden(),
            Session::Table.into_iden(),
            User::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
    Username,
    DisplayName,
    PasswordHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Session {
    Table,
    Id,
    UserId,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Conversation {
    Table,
    Id,
    UserLow,
    UserHigh,
    LastSeq,
    CreatedAt,
    LastActivityAt,
}

#[derive(DeriveIden)]
enum Membership {
    Table,
    ConversationId,
    UserId,
    LastReadSeq,
}

#[derive(DeriveIden)]
enum Message {
    Table,
    Id,
    ConversationId,
    Seq,
    SenderId,
    Body,
    CreatedAt,
    TxnId,
}

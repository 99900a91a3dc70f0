//! Rich messages: replies, edits, deletes and reactions, and the log of changes that
//! gives every committed change a position.
//!
//! - `message.reply_to`: the `seq` of the message this one answers, in the same
//!   conversation (`NULL`: none).
//! - `message.edited_at`, `message.deleted_at`: Unix ms of the last edit and of the
//!   delete. A deleted message keeps its row (its `seq` keeps its place) with an empty
//!   body; no earlier version is kept anywhere, so a delete leaves nothing to find.
//! - `message.reactions`: the reactions as the API shows them, JSON, `NULL` for none.
//!   Read with the message, so a page of history costs no second query; in a
//!   conversation of two the list is at most 20 keys of at most two users.
//! - `change_log`: one row per committed change that is not a new message (an edit, a
//!   delete, a reaction added or removed, a read marker moved, a display name set), at
//!   its position. Positions and message ids are one sequence, so a message's id is
//!   its position and `resume {since}` replays messages and changes in one order. The
//!   row holds no text but a reaction's key: the current body is read from `message`
//!   when the change is replayed.
//!
//! - `matrix_reaction`: the Matrix event of each reaction the bridge carried, either
//!   way, so that the redaction of one takes the reaction back; and an index on
//!   `matrix_event (conversation_id, seq)`, so that an edit, delete, reply or reaction
//!   on a gadka message finds the Matrix event that carried it.
//!
//! Every new column is nullable without a default: SQLite adds it without rewriting
//! the table, and a `NULL` costs nothing in the record of a plain message.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [Message::ReplyTo, Message::EditedAt, Message::DeletedAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Message::Table)
                        .add_column(big_integer_null(column))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Message::Table)
                    .add_column(text_null(Message::Reactions))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChangeLog::Table)
                    .col(big_integer(ChangeLog::Pos).primary_key())
                    .col(big_integer_null(ChangeLog::ConversationId))
                    .col(big_integer_null(ChangeLog::Seq))
                    .col(small_integer(ChangeLog::Kind))
                    .col(big_integer(ChangeLog::UserId))
                    .col(string_null(ChangeLog::Key))
                    .col(big_integer(ChangeLog::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // `resume` reads the changes of a user's conversations after a position; a
        // display name's change has no conversation and is found by its user.
        manager
            .create_index(
                Index::create()
                    .name("change_log_conversation_pos_idx")
                    .table(ChangeLog::Table)
                    .col(ChangeLog::ConversationId)
                    .col(ChangeLog::Pos)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("change_log_user_pos_idx")
                    .table(ChangeLog::Table)
                    .col(ChangeLog::UserId)
                    .col(ChangeLog::Pos)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MatrixReaction::Table)
                    .col(string(MatrixReaction::EventId).primary_key())
                    .col(big_integer(MatrixReaction::ConversationId))
                    .col(big_integer(MatrixReaction::Seq))
                    .col(big_integer(MatrixReaction::UserId))
                    .col(string(MatrixReaction::Key))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("matrix_reaction_of_idx")
                    .table(MatrixReaction::Table)
                    .col(MatrixReaction::ConversationId)
                    .col(MatrixReaction::Seq)
                    .col(MatrixReaction::UserId)
                    .col(MatrixReaction::Key)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("matrix_event_message_idx")
                    .table(MatrixEvent::Table)
                    .col(MatrixEvent::ConversationId)
                    .col(MatrixEvent::Seq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("matrix_event_message_idx")
                    .table(MatrixEvent::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(MatrixReaction::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ChangeLog::Table).to_owned())
            .await?;
        for column in [
            Message::Reactions,
            Message::DeletedAt,
            Message::EditedAt,
            Message::ReplyTo,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Message::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Message {
    Table,
    ReplyTo,
    EditedAt,
    DeletedAt,
    Reactions,
}

#[derive(DeriveIden)]
enum ChangeLog {
    Table,
    Pos,
    ConversationId,
    Seq,
    Kind,
    UserId,
    Key,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MatrixReaction {
    Table,
    EventId,
    ConversationId,
    Seq,
    UserId,
    Key,
}

#[derive(DeriveIden)]
enum MatrixEvent {
    Table,
    ConversationId,
    Seq,
}

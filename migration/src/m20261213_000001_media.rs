//! Attachments: the uploads (`media`) and the one a message may carry.
//!
//! - `media`: one row per upload. The file itself lives beside the database, in the
//!   media store, named by its SHA-256 (`sha256`), so two uploads of the same bytes
//!   are two rows and one file. `id` is random (22 characters of base64url): an id
//!   says nothing about how many files there are, and guessing one finds nothing.
//!   `width`/`height` and the `thumb_*` columns are set for images only.
//! - `message.media_id`: the upload a message carries (`NULL`: none), indexed so that
//!   "who may fetch this file" and "does any message still refer to it" are one probe.
//! - `message.attachment`: what the message shows of it (the API's `attachment`,
//!   JSON), read with the message as `reactions` is, so a page of history costs no
//!   second query. An upload never changes after it is made, so the copy cannot go
//!   stale; a delete empties both columns with the body.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Media::Table)
                    .col(string(Media::Id).primary_key())
                    .col(big_integer(Media::OwnerId))
                    .col(string(Media::Sha256))
                    .col(string(Media::Name))
                    .col(string(Media::ContentType))
                    .col(big_integer(Media::Size))
                    .col(integer_null(Media::Width))
                    .col(integer_null(Media::Height))
                    .col(string_null(Media::ThumbSha256))
                    .col(string_null(Media::ThumbContentType))
                    .col(big_integer_null(Media::ThumbSize))
                    .col(integer_null(Media::ThumbWidth))
                    .col(integer_null(Media::ThumbHeight))
                    .col(big_integer(Media::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Media::Table, Media::OwnerId)
                            .to(User::Table, User::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // The quota sums a user's uploads; the clean-up asks whether a file is still
        // named by another upload.
        for (name, column) in [
            ("media_owner_idx", Media::OwnerId),
            ("media_sha256_idx", Media::Sha256),
            ("media_thumb_sha256_idx", Media::ThumbSha256),
            ("media_created_at_idx", Media::CreatedAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Media::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [Message::MediaId, Message::Attachment] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Message::Table)
                        .add_column(text_null(column))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("message_media_id_idx")
                    .table(Message::Table)
                    .col(Message::MediaId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("message_media_id_idx")
                    .table(Message::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Message::Attachment, Message::MediaId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Message::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Media::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Media {
    Table,
    Id,
    OwnerId,
    Sha256,
    Name,
    ContentType,
    Size,
    Width,
    Height,
    ThumbSha256,
    ThumbContentType,
    ThumbSize,
    ThumbWidth,
    ThumbHeight,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Message {
    Table,
    MediaId,
    Attachment,
}

#[derive(DeriveIden)]
enum User {
    Table,
    Id,
}

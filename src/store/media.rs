//! Uploads (`media`): made when a file has arrived whole, read to serve it, and removed
//! by the clean-up once no message refers to them. The files themselves are the media
//! store's (`crate::media`); this is only what the database knows of them.

use entity::{media, membership, message};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
    sea_query::{Expr, ExprTrait, Query},
};

use super::{Store, StoreError};
use crate::ids::UserId;

/// One upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaRow {
    pub id: String,
    pub owner_id: UserId,
    pub sha256: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub thumbnail: Option<ThumbnailRow>,
    pub created_at: i64,
}

/// An image's thumbnail: its own file in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThumbnailRow {
    pub sha256: String,
    pub content_type: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
}

impl From<media::Model> for MediaRow {
    fn from(m: media::Model) -> Self {
        let pixels = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok());
        let thumbnail = match (m.thumb_sha256, m.thumb_content_type) {
            (Some(sha256), Some(content_type)) => Some(ThumbnailRow {
                sha256,
                content_type,
                size: m
                    .thumb_size
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(0),
                width: pixels(m.thumb_width).unwrap_or(0),
                height: pixels(m.thumb_height).unwrap_or(0),
            }),
            _ => None,
        };
        Self {
            id: m.id,
            owner_id: UserId::new(m.owner_id),
            sha256: m.sha256,
            name: m.name,
            content_type: m.content_type,
            size: u64::try_from(m.size).unwrap_or(0),
            width: pixels(m.width),
            height: pixels(m.height),
            thumbnail,
            created_at: m.created_at,
        }
    }
}

/// What removing an unreferenced upload freed: the files no other upload names.
#[derive(Debug, Default)]
pub struct Released {
    pub files: Vec<String>,
}

impl Store {
    pub async fn insert_media(&self, row: &MediaRow) -> Result<(), StoreError> {
        let int = |v: Option<u32>| v.map(|v| i32::try_from(v).unwrap_or(i32::MAX));
        let big = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let thumb = row.thumbnail.as_ref();
        media::Entity::insert(media::ActiveModel {
            id: Set(row.id.clone()),
            owner_id: Set(row.owner_id.get()),
            sha256: Set(row.sha256.clone()),
            name: Set(row.name.clone()),
            content_type: Set(row.content_type.clone()),
            size: Set(big(row.size)),
            width: Set(int(row.width)),
            height: Set(int(row.height)),
            thumb_sha256: Set(thumb.map(|t| t.sha256.clone())),
            thumb_content_type: Set(thumb.map(|t| t.content_type.clone())),
            thumb_size: Set(thumb.map(|t| big(t.size))),
            thumb_width: Set(int(thumb.map(|t| t.width))),
            thumb_height: Set(int(thumb.map(|t| t.height))),
            created_at: Set(row.created_at),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    pub async fn media(&self, id: &str) -> Result<Option<MediaRow>, StoreError> {
        Ok(media::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(MediaRow::from))
    }

    /// Whether a message that carries upload `id` is in a conversation of `user`.
    pub async fn media_shared_with(&self, id: &str, user: UserId) -> Result<bool, StoreError> {
        let found: Option<i64> = message::Entity::find()
            .select_only()
            .column(message::Column::Id)
            .filter(message::Column::MediaId.eq(id))
            .filter(
                message::Column::ConversationId.in_subquery(
                    Query::select()
                        .column(membership::Column::ConversationId)
                        .from(membership::Entity)
                        .and_where(Expr::col(membership::Column::UserId).eq(user))
                        .to_owned(),
                ),
            )
            .limit(1)
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(found.is_some())
    }

    /// The bytes of every upload of `owner`: their part of the storage quota.
    pub async fn uploaded_bytes_of(&self, owner: UserId) -> Result<u64, StoreError> {
        let sum: Option<Option<i64>> = media::Entity::find()
            .select_only()
            .expr(Expr::col(media::Column::Size).sum().cast_as("bigint"))
            .filter(media::Column::OwnerId.eq(owner))
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(sum.flatten().map_or(0, |s| u64::try_from(s).unwrap_or(0)))
    }

    /// Uploads made before `created_before` (Unix ms) that no message refers to.
    pub async fn unreferenced_media(
        &self,
        created_before: i64,
        limit: u64,
    ) -> Result<Vec<String>, StoreError> {
        Ok(media::Entity::find()
            .select_only()
            .column(media::Column::Id)
            .filter(media::Column::CreatedAt.lt(created_before))
            .filter(Expr::exists(referring(media::Column::Id)).not())
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// Removes upload `id` if no message refers to it, in one transaction, and says
    /// which of its files (the file, the thumbnail) no other upload names: those the
    /// caller removes from the store. A message that refers to it commits either
    /// before (then it stays) or after; the send checks that the upload exists.
    pub async fn release_media(&self, id: &str) -> Result<Released, StoreError> {
        let txn = self.db.begin().await?;
        let removed = media::Entity::delete_many()
            .filter(media::Column::Id.eq(id))
            .filter(Expr::exists(referring(media::Column::Id)).not())
            .exec_with_returning(&txn)
            .await?;
        let mut released = Released::default();
        for row in removed {
            for sha in [Some(row.sha256), row.thumb_sha256].into_iter().flatten() {
                if !names_file(&txn, &sha).await? {
                    released.files.push(sha);
                }
            }
        }
        txn.commit().await?;
        Ok(released)
    }
}

/// Messages that carry the upload of the outer query's `column`.
fn referring(column: media::Column) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .expr(Expr::val(1))
        .from(message::Entity)
        .and_where(
            Expr::col((message::Entity, message::Column::MediaId)).equals((media::Entity, column)),
        )
        .to_owned()
}

/// Whether any upload still has `sha256` as its file or its thumbnail.
async fn names_file(db: &impl ConnectionTrait, sha256: &str) -> Result<bool, StoreError> {
    let found: Option<String> = media::Entity::find()
        .select_only()
        .column(media::Column::Id)
        .filter(
            media::Column::Sha256
                .eq(sha256)
                .or(media::Column::ThumbSha256.eq(sha256)),
        )
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    Ok(found.is_some())
}
